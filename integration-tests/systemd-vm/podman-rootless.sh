#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# podman-rootless.sh: rootless podman driving the runtime under test ($RUNTIME) with the
# systemd cgroup manager (podman's default for an unprivileged user on a systemd host), in the
# --engines VM of run.sh. An unprivileged user of its own (kiln-pr, with subordinate ids; made
# here and removed at exit) runs podman; podman runs the runtime as uid 0 of the user's user
# namespace, so the runtime must see that it is not real root and take the user's own systemd
# instance (session bus) for the container's scope, as runc does (its DetectUID).
# Checks: the container prints; a 64 MiB memory limit is read back from the scope in the user's
# instance (`systemctl --user show` and memory.max below user@UID.service); exec (output, exit
# status, the exec'd process in the scope); rm removes unit and cgroup. Prints `PASS - NAME` /
# `FAIL - NAME` and `N passed, M failed`; exits 1 if a check failed.
#   RUNTIME=/path/to/runtime bash podman-rootless.sh
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

RUNTIME=${RUNTIME:-/usr/sbin/runc}
USER_NAME=kiln-pr
IMG=docker.io/library/kiln-busybox:latest
T=$(mktemp -d /tmp/kiln-podman-rl.XXXXXX)
chmod 0755 "$T"

# P ARGS... — podman as the user, its storage in the user's home, the systemd cgroup manager.
P() {
  as_user timeout -k 5 "$HANG" podman --root "$HOME_PR/store" --runroot "$RUNDIR/podman-run" \
    --tmpdir "$RUNDIR/podman-tmp" --storage-driver vfs --events-backend none \
    --cgroup-manager systemd --runtime "$RUNTIME" "$@"
}
# uprop UNIT NAME — `systemctl --user show -p NAME --value UNIT` in the user's instance.
uprop() { as_user systemctl --user show -p "$2" --value "$1" 2>&1; }
user_unit_gone() { [[ $(uprop "$1" LoadState) == not-found ]]; }

# shellcheck disable=SC2317 # (the EXIT trap)
cleanup() {
  local rc=$?
  trap - EXIT
  if [[ -n ${UID_PR:-} ]]; then
    HANG=30 P rm --all --force --time 0 >/dev/null 2>&1
    HANG=30 P rmi --all --force >/dev/null 2>&1
    timeout 30 systemctl stop "user@$UID_PR.service" >/dev/null 2>&1
  fi
  userdel -r "$USER_NAME" >/dev/null 2>&1
  rm -rf "$T"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "runtime under test: $RUNTIME ($("$RUNTIME" --version 2>&1 | head -n 1))"
if ! start_user "$USER_NAME" 300000; then
  echo "FAIL - $USER_NAME with a running systemd user instance"
  echo "0 passed, 1 failed"
  exit 1
fi
UID_PR=$USER_UID HOME_PR=/home/$USER_NAME
echo "     # controllers delegated to user@$UID_PR.service: $(cat "$USER_CG/cgroup.controllers")"
if ! make_busybox_rootfs "$T/rootfs" || ! busybox_oci_archive "$T/rootfs" "$IMG" "$T/busybox-oci.tar"; then
  echo "FAIL - busybox OCI archive"
  echo "0 passed, 1 failed"
  exit 1
fi
chmod 0644 "$T/busybox-oci.tar"

out=$(P load -i "$T/busybox-oci.tar" 2>&1)
check "rootless podman load of the busybox OCI archive" want_match "podman load" "Loaded image.*kiln-busybox" "$out"
out=$(P info --format '{{.Host.OCIRuntime.Path}} {{.Host.CgroupManager}} {{.Host.Security.Rootless}}' 2>&1)
check "rootless podman: runtime $RUNTIME, cgroup manager systemd, rootless" \
  want_eq "podman info" "$RUNTIME systemd true" "$out"
out=$(P run --rm --network none "$IMG" sh -c 'echo hello from rootless podman; cat /proc/self/uid_map' 2>&1)
rc=$?
check "rootless podman run --rm: the output comes back" \
  eval 'want_eq "exit status" 0 "$rc" && want_match "output" "^hello from rootless podman" "$out"'
note "rootless podman run --rm: $(echo "$out" | tr '\n' ' ')"

P run -d --network none --name rl --memory 64m "$IMG" sleep 1000 </dev/null >"$T/run.log" 2>&1
id=$(cat "$T/run.log")
check "rootless podman run -d --memory 64m" want_match "podman run -d" '^[0-9a-f]{64}$' "$id"
[[ $id =~ ^[0-9a-f]{64}$ ]] || id=not-started
pid=$(P inspect --format '{{.State.Pid}}' rl 2>&1)
unit=libpod-$id.scope
cgroup=${USER_CG#"$CG"}/user.slice/$unit
note "the container's init ($pid): $(cat "/proc/$pid/cgroup" 2>&1)"
check "rootless podman: the init is in the user instance's $unit" \
  eval 'want_file "/proc/$pid/cgroup" "0::$cgroup" && want_line "$CG$cgroup/cgroup.procs" "$pid"'
check "systemctl --user: $unit active, MemoryMax=67108864" \
  eval 'want_eq ActiveState active "$(uprop "$unit" ActiveState)" && want_eq MemoryMax 67108864 "$(uprop "$unit" MemoryMax)"'
check "rootless podman: $cgroup/memory.max 67108864" want_file "$CG$cgroup/memory.max" 67108864
out=$(P exec rl sh -c 'echo in exec; exit 3' 2>&1)
rc=$?
check "rootless podman exec: output and exit status 3 come back" \
  eval 'want_eq "exit status" 3 "$rc" && want_match "output" "^in exec" "$out"'
check "rootless podman exec -d sleep 999" logged "$T/exec.log" P exec -d rl sleep 999
check "rootless podman exec: the exec'd process is in $unit" poll 10 want_proc_in "$cgroup" "sleep 999"
check "rootless podman rm -f" eval 'P rm --force --time 0 rl >/dev/null'
check "rootless podman rm -f: $unit and its cgroup are gone" \
  eval 'poll 10 user_unit_gone "$unit" >/dev/null && poll 5 test ! -e "$CG$cgroup"'
finish
