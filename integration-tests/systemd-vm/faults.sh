#!/usr/bin/env bash
# faults.sh: crash safety of the systemd driver (kiln only: the fail points are kiln's; a debug
# build SIGKILLs itself at the step named by KILN_FAILPOINT). For each step of `create`, a
# `kiln --systemd-cgroup create` killed there, then `kiln delete -f`: no unit, no scope cgroup,
# no container process and no state directory may be left. Also: a bus that cannot be reached
# and a bad annotation fail with a clear error and leave nothing.
# Runs in the systemd VM: KILN_BIN=/path/to/kiln bash faults.sh
set -uo pipefail
K=${KILN_BIN:?KILN_BIN must name the kiln binary (a debug build)}
pass=0 fail=0
ok() { echo "ok   - $1"; pass=$((pass + 1)); }
bad() { echo "FAIL - $1${2:+: $2}"; fail=$((fail + 1)); }

T=$(mktemp -d /tmp/kiln-faults.XXXXXX)
ROOT=$T/state
cleanup() {
  local id
  for id in $("$K" --root "$ROOT" list -q 2>/dev/null); do "$K" --root "$ROOT" delete -f "$id" >/dev/null 2>&1; done
  for u in $(systemctl list-units --all --plain --no-legend 'kiln-f-*' | awk '{print $1}'); do
    systemctl stop "$u" >/dev/null 2>&1; systemctl reset-failed "$u" >/dev/null 2>&1
  done
  rm -rf "$T"
}
trap cleanup EXIT

B=$T/bundle
mkdir -p "$B/rootfs/bin" "$B/rootfs/proc" "$B/rootfs/dev" "$B/rootfs/sys"
cp /bin/busybox "$B/rootfs/bin/busybox"
ln -s busybox "$B/rootfs/bin/sleep"
MARK=4242   # the container's `sleep 4242` is how a leftover process is found

config_with() { # config_with CGROUPS_PATH [ANNOTATIONS_JSON]
  local ann=${2:-'{}'}
  cat >"$B/config.json" <<JSON
{
  "ociVersion": "1.0.2",
  "annotations": $ann,
  "process": {"user": {"uid": 0, "gid": 0}, "args": ["sleep", "$MARK"], "env": ["PATH=/bin"], "cwd": "/"},
  "root": {"path": "rootfs", "readonly": true},
  "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
  "linux": {
    "cgroupsPath": "$1",
    "resources": {"memory": {"limit": 67108864}, "pids": {"limit": 32}},
    "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}]
  }
}
JSON
}

# The pids of processes running `sleep $MARK` (no pgrep in the image).
marked_pids() {
  local f
  for f in /proc/[0-9]*/cmdline; do
    [[ $(tr '\0' ' ' <"$f" 2>/dev/null) == "sleep $MARK " ]] && echo -n "${f//[^0-9]/} "
  done
}

# nothing_left ID UNIT: the unit, its cgroup, the container's processes and state are gone.
nothing_left() {
  local id=$1 unit=$2 why=()
  systemctl status "$unit" >/dev/null 2>&1; [[ $? == 4 ]] || why+=("unit $unit still loaded: $(systemctl show -p ActiveState,SubState "$unit" | tr '\n' ' ')")
  [[ -e /sys/fs/cgroup/system.slice/$unit ]] && why+=("cgroup of $unit still there")
  local p=$(marked_pids); [[ -n $p ]] && why+=("a container process lives: $p")
  [[ -e $ROOT/$id ]] && why+=("state directory $ROOT/$id left")
  [[ ${#why[@]} == 0 ]] || { echo "${why[*]}"; return 1; }
}

# The check itself: it sees a running container (else the checks below could not fail).
config_with "system.slice:kiln-f:live"
if "$K" --root "$ROOT" --systemd-cgroup run -d --bundle "$B" live </dev/null >/dev/null 2>"$T/err"; then
  if nothing_left live kiln-f-live.scope >/dev/null; then bad "nothing_left sees a running container"
  else ok "nothing_left sees a running container (unit, cgroup, process, state)"; fi
  "$K" --root "$ROOT" delete -f live
else bad "run -d of a container to check the check" "$(cat "$T/err")"; fi

STEPS=(recovery-record cloned id-maps unit go mounts-done hooks-done ready unit-recorded state-saved handover handed-over)
n=0
# (the loop's stderr is bash's "Killed" report of each killed create)
for step in "${STEPS[@]}"; do
  n=$((n + 1)); id=f$n; unit=kiln-f-$id.scope
  config_with "system.slice:kiln-f:$id"
  KILN_FAILPOINT=create:$step "$K" --root "$ROOT" --systemd-cgroup create --bundle "$B" "$id" \
    </dev/null >/dev/null 2>"$T/err"; rc=$?
  if [[ $rc != 137 ]]; then bad "create killed at create:$step" "exit $rc: $(cat "$T/err")"; continue; fi
  "$K" --root "$ROOT" delete -f "$id" >"$T/del" 2>&1 || true
  sleep 0.3
  if why=$(nothing_left "$id" "$unit"); then ok "create killed at create:$step, then delete -f: nothing left"
  else bad "create killed at create:$step, then delete -f: nothing left" "$why; delete said: $(cat "$T/del")"; fi
done 2>/dev/null

# A create given a running container's cgroupsPath, killed before its unit would start: its
# delete -f must not stop the other's unit nor kill its processes.
config_with "system.slice:kiln-f:shared"
if "$K" --root "$ROOT" --systemd-cgroup run -d --bundle "$B" owner </dev/null >/dev/null 2>"$T/err"; then
  for step in cloned id-maps; do
    KILN_FAILPOINT=create:$step "$K" --root "$ROOT" --systemd-cgroup create --bundle "$B" "intruder-$step" \
      </dev/null >/dev/null 2>&1
    "$K" --root "$ROOT" delete -f "intruder-$step" >"$T/del" 2>&1
    if systemctl is-active -q kiln-f-shared.scope && "$K" --root "$ROOT" state owner | grep -q '"running"'; then
      ok "delete -f of a killed create (create:$step) with a running container's cgroupsPath leaves that container alone"
    else bad "delete -f of a killed create (create:$step) with a running container's cgroupsPath leaves that container alone" \
      "$(systemctl show -p ActiveState kiln-f-shared.scope) $(cat "$T/del")"; fi
  done 2>/dev/null
  "$K" --root "$ROOT" delete -f owner
else bad "run -d owner" "$(cat "$T/err")"; fi

# The bus is not reachable: a clear error naming the socket, nothing left.
config_with "system.slice:kiln-f:nobus"
if DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent/bus "$K" --root "$ROOT" --systemd-cgroup run -d \
  --bundle "$B" nobus </dev/null >/dev/null 2>"$T/err"; then
  bad "run without a reachable bus fails" "it succeeded"
elif grep -q "/nonexistent/bus" "$T/err" && why=$(nothing_left nobus kiln-f-nobus.scope); then
  ok "run without a reachable bus fails naming the socket, nothing left"
else bad "run without a reachable bus fails naming the socket, nothing left" "$(cat "$T/err"); ${why:-}"; fi

# A bad org.systemd.property annotation: the error names it, nothing is made.
config_with "system.slice:kiln-f:ann" '{"org.systemd.property.TimeoutStopSec": "'"'"'ten'"'"'"}'
if "$K" --root "$ROOT" --systemd-cgroup run -d --bundle "$B" ann </dev/null >/dev/null 2>"$T/err"; then
  bad "a bad annotation is refused" "it succeeded"
elif grep -q "org.systemd.property.TimeoutStopSec" "$T/err" && why=$(nothing_left ann kiln-f-ann.scope); then
  ok "a bad annotation is refused naming it, nothing left"
else bad "a bad annotation is refused naming it, nothing left" "$(cat "$T/err"); ${why:-}"; fi

echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
