#!/bin/bash
# shellcheck disable=SC2016  # the bash -c scripts are single-quoted on purpose
# smoke.sh: run inside the systemd VM (run.sh) by `make test-systemd`. Checks that systemd is
# PID 1 on a pure cgroup v2 hierarchy, answers on D-Bus, makes transient scopes with their
# cgroups, and that Debian's runc can run a busybox container with --systemd-cgroup there.
# Ends with the line `N passed, N failed`; exits 1 if any check failed.
set -u
# (for write_config; its check/finish are replaced by this script's own below)
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
pass=0 fail=0
ok() { echo "ok   - $1"; pass=$((pass + 1)); }
bad() { echo "FAIL - $1${2:+: $2}"; fail=$((fail + 1)); }
check() { # check NAME COMMAND...: passes when COMMAND exits 0
  local name=$1; shift
  local out
  if out=$("$@" 2>&1); then ok "$name"; else bad "$name" "$(echo "$out" | tail -n 5)"; fi
}

check "systemd is PID 1" grep -qx systemd /proc/1/comm

state=$(timeout 60 systemctl is-system-running --wait 2>&1)
case $state in
  running) ok "systemctl is-system-running --wait: running" ;;
  degraded) ok "systemctl is-system-running --wait: degraded (failed units: $(systemctl list-units --failed --plain --no-legend | awk '{print $1}' | xargs))" ;;
  *) bad "systemctl is-system-running --wait" "$state" ;;
esac

check "/sys/fs/cgroup is cgroup2" test "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs
check "no cgroup v1 hierarchy mounted" bash -c '! grep -q "^[^ ]* [^ ]* cgroup " /proc/mounts'
check "no v1 controller in /proc/cgroups hierarchy column" bash -c '! awk "NR>1 && \$2 != 0" /proc/cgroups | grep -q .'
check "root controllers include cpu io memory pids" bash -c \
  'for c in cpu io memory pids; do grep -qw $c /sys/fs/cgroup/cgroup.controllers || exit 1; done'
check "this command runs in system.slice/kiln-test.service" grep -qx '0::/system.slice/kiln-test.service' /proc/self/cgroup

unit=$(busctl call org.freedesktop.systemd1 /org/freedesktop/systemd1 \
  org.freedesktop.systemd1.Manager GetUnit s dbus.service 2>&1)
if [[ $unit == 'o "/org/freedesktop/systemd1/unit/dbus_2eservice"' ]]; then
  ok "busctl GetUnit dbus.service: $unit"
else
  bad "busctl GetUnit dbus.service" "$unit"
fi
version=$(systemctl show -p Version --value 2>&1)
if [[ $version =~ ^[0-9]+ ]]; then ok "systemctl show -p Version: $version"; else bad "systemctl show -p Version" "$version"; fi

# A transient scope: its cgroup exists while it runs, under system.slice, and is gone after.
scope=/sys/fs/cgroup/system.slice/kiln-smoke.scope
systemd-run --scope --unit kiln-smoke.scope sleep 1 >/tmp/scope.out 2>&1 &
spid=$!
seen=no
for _ in $(seq 50); do
  [[ -d $scope ]] && { seen=yes; procs=$(xargs < "$scope/cgroup.procs" 2>/dev/null); break; }
  sleep 0.1
done
wait "$spid"; src=$?
if [[ $seen == yes && $src == 0 ]]; then ok "systemd-run --scope: $scope existed (procs: $procs)"; else
  bad "systemd-run --scope --unit kiln-smoke.scope sleep 1" "exit $src, cgroup seen: $seen; $(cat /tmp/scope.out)"; fi
sleep 0.5
check "kiln-smoke.scope and its cgroup are gone after it ended" bash -c \
  "! systemctl is-active -q kiln-smoke.scope && ! test -d $scope"

# Debian's runc with --systemd-cgroup, a busybox bundle.
runc_smoke() {
  local b=/tmp/bundle
  rm -rf "$b"; mkdir -p "$b/rootfs/bin" "$b/rootfs/proc" "$b/rootfs/dev" "$b/rootfs/sys" "$b/rootfs/tmp"
  cp /bin/busybox "$b/rootfs/bin/busybox"
  for a in sh sleep cat echo; do ln -s busybox "$b/rootfs/bin/$a"; done
  ok "runc installed: $(runc --version | head -n 1)"
  # foreground: output and exit status come back
  bundle_config "$b" '"sh", "-c", "echo hello from busybox; cat /proc/self/cgroup; exit 7"' "system.slice:kiln-smoke:runc-fg"
  local out rc
  out=$(runc --systemd-cgroup run --bundle "$b" kiln-smoke-fg 2>&1); rc=$?
  if [[ $rc == 7 && $out == *"hello from busybox"* ]]; then ok "runc --systemd-cgroup run (fg): exit 7 and output came back"
  else bad "runc --systemd-cgroup run (fg)" "exit $rc: $out"; fi
  runc delete -f kiln-smoke-fg >/dev/null 2>&1
  check "runc-fg's scope is gone after delete" bash -c '! systemctl is-active -q kiln-smoke-runc-fg.scope'
  # detached: the scope in system.slice with the limits as unit properties and cgroup files
  bundle_config "$b" '"sleep", "60"' "system.slice:kiln-smoke:runc"
  # (the container inherits stdout: not a pipe that a $(...) would wait on for 60 s)
  if runc --systemd-cgroup run -d --bundle "$b" kiln-smoke </dev/null >/tmp/runc-d.out 2>&1; then
    ok "runc --systemd-cgroup run -d"; else bad "runc --systemd-cgroup run -d" "$(cat /tmp/runc-d.out)"; fi
  if systemctl is-active -q kiln-smoke-runc.scope; then ok "unit kiln-smoke-runc.scope is active"; else
    bad "unit kiln-smoke-runc.scope is active" "$(runc state kiln-smoke 2>&1 | tr -d '\n'; \
      systemctl status --no-pager kiln-smoke-runc.scope 2>&1; journalctl -b --no-pager -n 15 2>&1)"; fi
  local u=kiln-smoke-runc.scope cg=/sys/fs/cgroup/system.slice/kiln-smoke-runc.scope
  check "systemctl show $u: MemoryMax=67108864" bash -c "systemctl show -p MemoryMax $u | grep -qx MemoryMax=67108864"
  check "systemctl show $u: TasksMax=32" bash -c "systemctl show -p TasksMax $u | grep -qx TasksMax=32"
  check "$cg/memory.max is 67108864" grep -qx 67108864 "$cg/memory.max"
  check "$cg/pids.max is 32" grep -qx 32 "$cg/pids.max"
  local pid; pid=$(runc state kiln-smoke 2>/dev/null | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
  check "the container's init ($pid) is in $cg" grep -qx "$pid" "$cg/cgroup.procs"
  runc kill kiln-smoke KILL >/dev/null 2>&1
  for _ in $(seq 50); do runc state kiln-smoke 2>/dev/null | grep -q '"stopped"' && break; sleep 0.1; done
  check "runc delete" runc delete kiln-smoke
  sleep 0.5
  check "the scope and its cgroup are gone after delete" bash -c "! systemctl is-active -q $u && ! test -d $cg"
}

bundle_config() { # bundle_config BUNDLE ARGS_JSON CGROUPS_PATH (lib.sh's write_config)
  write_config "$1/config.json" rootfs "$2" "$3" \
    '"memory": {"limit": 67108864}, "pids": {"limit": 32}, "cpu": {"shares": 512}'
}

if command -v runc >/dev/null; then runc_smoke; else bad "runc installed in the image"; fi

# kiln itself (when the caller copied it in): the static binary runs under systemd here.
# The systemd cgroup driver's tests (issue #12) go on from this point.
if [[ -n ${KILN_BIN:-} ]]; then
  check "kiln runs in the VM: $KILN_BIN --version" "$KILN_BIN" --version
fi

echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
