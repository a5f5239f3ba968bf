#!/usr/bin/env bash
# sshd on loopback addresses for cluster.local.yaml: Ray's on-prem `local` provider reaches its nodes over SSH, so
# a real `ray up` on one machine needs sshd on the head and worker addresses (127.0.0.10, 127.0.0.2, 127.0.0.3)
# with a throwaway key. Idempotent; run as root (it installs Debian's openssh-server and rsync when missing).
#
#   scripts/loopback_sshd.sh          # install if needed, create the key, start sshd; prints "sshd ready"
set -euo pipefail

ADDRESSES=${GROUPSWEEP_LOOPBACK_ADDRESSES:-"127.0.0.10 127.0.0.2 127.0.0.3"}
KEY=${GROUPSWEEP_LOOPBACK_KEY:-$HOME/.ssh/groupsweep_loopback}
CONFIG=/etc/ssh/sshd_groupsweep_config

if [ "$(id -u)" != 0 ]; then
  echo "loopback_sshd: needs root (it installs and starts sshd); cluster tests will be skipped" >&2
  exit 1
fi
if ! command -v /usr/sbin/sshd >/dev/null || ! command -v rsync >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends openssh-server openssh-client rsync >/dev/null
fi

mkdir -p "$(dirname "$KEY")" /run/sshd && chmod 700 "$(dirname "$KEY")"
[ -f "$KEY" ] || ssh-keygen -q -t ed25519 -N "" -C groupsweep-loopback -f "$KEY"
touch "$HOME/.ssh/authorized_keys" && chmod 600 "$HOME/.ssh/authorized_keys"
grep -qF "$(cat "$KEY.pub")" "$HOME/.ssh/authorized_keys" || cat "$KEY.pub" >> "$HOME/.ssh/authorized_keys"
[ -f /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -A

{
  for address in $ADDRESSES; do echo "ListenAddress $address:22"; done
  echo "PermitRootLogin prohibit-password"   # key only
  echo "PasswordAuthentication no"
  echo "KbdInteractiveAuthentication no"
  echo "UsePAM no"
  echo "PidFile /run/sshd_groupsweep.pid"
  echo "MaxStartups 100"                    # ray up opens many connections at once
  echo "MaxSessions 100"
  echo "Subsystem sftp internal-sftp"
} > "$CONFIG"

if ! { [ -f /run/sshd_groupsweep.pid ] && kill -0 "$(cat /run/sshd_groupsweep.pid)" 2>/dev/null; }; then
  /usr/sbin/sshd -f "$CONFIG"
fi
for address in $ADDRESSES; do
  ssh -i "$KEY" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
      -o ConnectTimeout=5 "root@$address" true
done
echo "sshd ready on $ADDRESSES (key $KEY)"
