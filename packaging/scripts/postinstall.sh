#!/bin/sh
# After the package is installed: the service account, and the
# configuration directory readable by it (root:groupwriteback, 0750).
set -e
if command -v systemd-sysusers >/dev/null 2>&1; then
  systemd-sysusers /usr/lib/sysusers.d/groupwriteback.conf
elif ! getent passwd groupwriteback >/dev/null; then
  useradd --system --home-dir /var/lib/groupwriteback --no-create-home --shell /usr/sbin/nologin groupwriteback
fi
chown root:groupwriteback /etc/groupwriteback /etc/groupwriteback/config.yaml
chmod 0750 /etc/groupwriteback
chmod 0640 /etc/groupwriteback/config.yaml
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
echo "groupwriteback: edit /etc/groupwriteback/config.yaml, run 'sudo -u groupwriteback groupwriteback doctor', then 'systemctl enable --now groupwriteback'"
