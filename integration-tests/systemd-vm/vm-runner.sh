#!/bin/bash
# kiln-vm-runner: run by kiln-test.service inside the systemd VM (installed by build-image.sh).
# Copies the payload disk's files/ tree onto the (copy-on-write, throwaway) root, runs its cmd
# script from its cwd, writes markers around its output on the unit's tty (the host's second
# serial port), then powers the VM off. The command runs inside kiln-test.service's cgroup,
# under systemd, like a host service.
p=/kiln
echo "@@kiln-vm-start $(cut -d' ' -f1 /proc/uptime)"
if [[ ! -f $p/cmd ]]; then
  echo "kiln-vm-runner: no payload at $p (the kiln-payload disk did not mount)"
  rc=125
else
  [[ -d $p/files ]] && cp -a "$p/files/." /
  cwd=$(cat "$p/cwd" 2>/dev/null || echo /root)
  export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
  if mkdir -p "$cwd" && cd "$cwd"; then
    bash "$p/cmd" </dev/null 2>&1
    rc=$?
  else
    echo "kiln-vm-runner: cannot enter $cwd"
    rc=125
  fi
fi
echo "@@kiln-vm-exit $rc"
sync
systemctl poweroff --force --force
