#!/usr/bin/env bash
# rootless.sh: the systemd driver for an unprivileged user, in the systemd VM. A user of its
# own (kiln-rl, made here and removed at exit) gets its systemd user instance (user@UID.service,
# with dbus-user-session's bus at /run/user/UID/bus); the runtime under test ($RUNTIME: kiln or
# runc), run as that user with --systemd-cgroup, must start the container's scope in that
# instance: the unit is seen by `systemctl --user`, its limits in the scope's cgroup files
# below user@UID.service, and after delete no unit and no cgroup is left.
#   RUNTIME=/path/to/runtime bash rootless.sh
set -uo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh" # (start_user, as_user)
RUNTIME=${RUNTIME:?RUNTIME must name the runtime under test}
pass=0 fail=0
ok() { echo "PASS - $1"; pass=$((pass + 1)); }
bad() { echo "FAIL - $1${2:+: $2}"; fail=$((fail + 1)); }
USER_NAME=kiln-rl
T=$(mktemp -d /tmp/kiln-rootless.XXXXXX)
chmod 0755 "$T"

cleanup() {
  if [[ -n ${USER_UID:-} ]]; then
    as_user "$RUNTIME" --root "$T/state" delete -f c1 >/dev/null 2>&1
    systemctl stop "user@$USER_UID.service" >/dev/null 2>&1
  fi
  userdel -r "$USER_NAME" >/dev/null 2>&1
  rm -rf "$T"
}
trap cleanup EXIT

# the user's systemd instance, as a login (or lingering) would start it
if start_user "$USER_NAME" 200000; then
  UID_RL=$USER_UID GID_RL=$USER_GID
  ok "user@$UID_RL.service runs, its bus is $RUNDIR/bus"
else
  bad "user $USER_NAME with a running user@.service and bus" \
    "$(systemctl status --no-pager "user@${USER_UID:-?}.service" 2>&1 | tail -5)"
  echo "$pass passed, $fail failed"; exit 1
fi
# kiln check (kiln's own) as the user: systemd answers on the user's bus
if [[ $(basename "$RUNTIME") != runc ]]; then
  out=$(as_user "$RUNTIME" check 2>&1)
  if grep -Eq "^OK +systemd +running, reachable on the user bus" <<<"$out"; then
    ok "kiln check as $USER_NAME: systemd reachable on the user bus"
  else bad "kiln check as $USER_NAME: systemd reachable on the user bus" "$out"; fi
fi
UCG=$USER_CG
echo "     # controllers delegated to the user instance: $(cat "$UCG/cgroup.controllers")"

# A busybox bundle the user owns, in a user namespace mapping only its own uid.
B=$T/bundle
mkdir -p "$B/rootfs/bin" "$B/rootfs/proc" "$B/rootfs/dev" "$B/rootfs/sys"
cp /bin/busybox "$B/rootfs/bin/busybox"
for a in sh sleep cat; do ln -s busybox "$B/rootfs/bin/$a"; done
cat >"$B/config.json" <<JSON
{
  "ociVersion": "1.0.2",
  "process": {"user": {"uid": 0, "gid": 0}, "args": ["sleep", "300"], "env": ["PATH=/bin"], "cwd": "/"},
  "root": {"path": "rootfs", "readonly": true},
  "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
  "linux": {
    "cgroupsPath": "user.slice:kiln-rl:c1",
    "uidMappings": [{"containerID": 0, "hostID": $UID_RL, "size": 1}],
    "gidMappings": [{"containerID": 0, "hostID": $GID_RL, "size": 1}],
    "resources": {"memory": {"limit": 67108864}, "pids": {"limit": 32}},
    "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}, {"type": "user"}]
  }
}
JSON
chown -R "$UID_RL:$GID_RL" "$T"

UNIT=kiln-rl-c1.scope
SCOPE=$UCG/user.slice/$UNIT
if as_user "$RUNTIME" --root "$T/state" --systemd-cgroup run -d --bundle "$B" c1 </dev/null >"$T/out" 2>&1; then
  ok "run -d as $USER_NAME with --systemd-cgroup"
else bad "run -d as $USER_NAME with --systemd-cgroup" "$(cat "$T/out")"; fi
state=$(as_user systemctl --user show -p ActiveState --value "$UNIT" 2>&1)
[[ $state == active ]] && ok "systemctl --user: $UNIT is active" || bad "systemctl --user: $UNIT is active" "$state"
pid=$(as_user "$RUNTIME" --root "$T/state" state c1 2>/dev/null | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
cg=$(cat "/proc/$pid/cgroup" 2>/dev/null)
[[ $cg == "0::${SCOPE#/sys/fs/cgroup}" ]] && ok "the init ($pid) is in the user instance's scope" \
  || bad "the init ($pid) is in the user instance's scope" "its cgroup: $cg, expected 0::${SCOPE#/sys/fs/cgroup}"
for f in memory.max:67108864 pids.max:32; do
  got=$(cat "$SCOPE/${f%%:*}" 2>&1)
  [[ $got == "${f#*:}" ]] && ok "$SCOPE/${f%%:*} is ${f#*:}" || bad "$SCOPE/${f%%:*} is ${f#*:}" "got $got"
done
got=$(as_user systemctl --user show -p MemoryMax -p TasksMax "$UNIT" | tr '\n' ' ')
[[ $got == "MemoryMax=67108864 TasksMax=32 " ]] && ok "systemctl --user show $UNIT: $got" \
  || bad "systemctl --user show $UNIT: MemoryMax=67108864 TasksMax=32" "got $got"
# exec from outside the user's instance (this test runs in a system service): the user cannot
# move the process into the scope (the cgroups' common ancestor is root's), so it runs where
# the caller is, with a warning (runc: the same).
if as_user "$RUNTIME" --root "$T/state" exec c1 cat /proc/self/cgroup >"$T/out" 2>&1; then
  ok "exec as $USER_NAME from a system service"; else bad "exec as $USER_NAME from a system service" "$(cat "$T/out")"; fi
# exec from within the user's instance (as podman runs it): the process joins the scope.
if as_user systemd-run --user --scope --quiet -- "$RUNTIME" --root "$T/state" exec -d \
  --pid-file "$T/exec.pid" c1 sleep 77 >"$T/out" 2>&1; then
  epid=$(cat "$T/exec.pid")
  ecg=$(cat "/proc/$epid/cgroup" 2>&1)
  [[ $ecg == "0::${SCOPE#/sys/fs/cgroup}" ]] && ok "exec -d from the user's instance: the process ($epid) is in the scope" \
    || bad "exec -d from the user's instance: the process ($epid) is in the scope" "its cgroup: $ecg"
else bad "exec -d from the user's instance (systemd-run --user --scope)" "$(cat "$T/out")"; fi
if as_user "$RUNTIME" --root "$T/state" delete -f c1 >"$T/out" 2>&1; then ok "delete -f as $USER_NAME"
else bad "delete -f as $USER_NAME" "$(cat "$T/out")"; fi
sleep 0.5
loaded=$(as_user systemctl --user show -p LoadState --value "$UNIT" 2>&1)
if [[ $loaded == not-found && ! -e $SCOPE ]]; then ok "after delete: no $UNIT, no cgroup"
else bad "after delete: no $UNIT, no cgroup" "LoadState=$loaded, $(ls -d "$SCOPE" 2>&1)"; fi

echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
