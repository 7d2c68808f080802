#!/bin/sh
# Before the package is removed: stop the service (its state and audit
# trail in /var/lib/groupwriteback stay).
set -e
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl disable --now groupwriteback.service || true
fi
