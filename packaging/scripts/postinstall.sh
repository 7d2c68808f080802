#!/bin/sh
# After the package is installed: the service account, the configuration
# directory readable by it (root:groupwriteback, 0750), and the state
# directory writable by it alone (groupwriteback, 0700), which the unit's
# StateDirectory= would make only at the first start: doctor and enable,
# run as the account before that, need it.
#
# DPKG_ROOT is set when dpkg installs into another root without chroot
# (--force-script-chrootless, as the packaged-install test does): every
# path is under it, and the account is made in its passwd.
set -e
root=${DPKG_ROOT:-}
if command -v systemd-sysusers >/dev/null 2>&1; then
  if [ -n "$root" ]; then
    systemd-sysusers --root="$root" "$root/usr/lib/sysusers.d/groupwriteback.conf"
  else
    systemd-sysusers /usr/lib/sysusers.d/groupwriteback.conf
  fi
elif ! grep -q '^groupwriteback:' "$root/etc/passwd" 2>/dev/null; then
  if [ -n "$root" ]; then
    useradd --root "$root" --system --home-dir /var/lib/groupwriteback --no-create-home --shell /usr/sbin/nologin groupwriteback
  else
    useradd --system --home-dir /var/lib/groupwriteback --no-create-home --shell /usr/sbin/nologin groupwriteback
  fi
fi
# The account's ids, read from the root's own passwd and group.
uid=$(awk -F: '$1 == "groupwriteback" { print $3 }' "$root/etc/passwd")
gid=$(awk -F: '$1 == "groupwriteback" { print $3 }' "$root/etc/group")
chown "0:$gid" "$root/etc/groupwriteback" "$root/etc/groupwriteback/config.yaml"
chmod 0750 "$root/etc/groupwriteback"
chmod 0640 "$root/etc/groupwriteback/config.yaml"
install -d -m 0700 -o "$uid" -g "$gid" "$root/var/lib/groupwriteback"
if [ -z "$root" ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
echo "groupwriteback: edit /etc/groupwriteback/config.yaml, run 'runuser -u groupwriteback -- groupwriteback doctor', then 'systemctl enable --now groupwriteback'"
