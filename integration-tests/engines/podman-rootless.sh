#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016 # single-quoted $(...) runs in the container
# podman-rootless.sh: rootless podman 4.3, run by an unprivileged account, drives the runtime
# under test ($KILN_BIN) unmodified.
#
# The script makes the account kiln-e2e-rl with the subordinate id range 2100000:65536 in
# /etc/subuid and /etc/subgid (podman maps container uid 0 to the account and 1..65536 to the
# range, through newuidmap/newgidmap) and removes both again at exit. podman runs as that
# account with a clean environment (HOME, XDG_RUNTIME_DIR and TMPDIR in the account's own
# 0700 directory below the temp dir), its own root, runroot, tmpdir and config files there,
# vfs, the cgroupfs manager (no cgroup delegation: containers get no cgroup), file events and
# no network. The image is a busybox rootfs tarball made with `podman import`.
# Prints PASS/FAIL per check and `N passed, M failed`; exit 77 means "podman unavailable".
ENGINE=podman-rootless
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
ensure_packages podman:podman conmon:conmon newuidmap:uidmap newgidmap:uidmap \
  setpriv:util-linux busybox:busybox-static
enter_private_world "$@"
setup_scratch
SUBID_START=2100000
make_test_user kiln-e2e-rl "$SUBID_START" 65536 || exit 2

IMG=localhost/kiln-busybox:latest
# $U/podman: podman with every state path in $U or (runroot, tmpdir) in $TEST_XDG, both the
# account's, and the runtime under test.
U=$TEST_DIR/podman
mkdir -p "$U" && write_podman_config "$U" "$TEST_XDG" && chown -R "$TEST_UID:$TEST_GID" "$U" ||
  exit 2
P() { guard "${AS_USER[@]}" "$U/podman" "$@"; }
# R ARGS... — `podman run` without network.
R() { P run --network none "$@"; }
# The runtime's state root: podman gives it no --root, so it is the default for an
# unprivileged caller, $XDG_RUNTIME_DIR/<runc or kiln>.
if [[ ${RUNTIME##*/} == runc ]]; then RUNTIME_ROOT=$TEST_XDG/runc; else RUNTIME_ROOT=$TEST_XDG/kiln; fi

# Also stops podman's pause process, which holds its user namespace (pid in its tmpdir).
engine_cleanup() {
  local pause
  P rm --all --force --time 0
  pause=$(cat "$TEST_XDG/podman-tmp/pause.pid" 2>/dev/null) && kill -KILL "$pause"
}

# container_pid NAME — the host PID of NAME's init.
container_pid() { P inspect --format '{{.State.Pid}}' "$1"; }

# host_uid PID — the real uid of PID on the host.
host_uid() { awk '/^Uid:/ { print $2 }' "/proc/$1/status"; }

check_run_echo() {
  local out
  out=$(R --rm "$IMG" echo hi)
  want_eq "output" hi "$out"
}

logs_say_started() { P logs "$1" | grep -qx started; }

check_detached_exec_logs_stop_rm() {
  local out pid
  R -d --name e2e-detached "$IMG" \
    sh -c 'trap "exit 7" TERM; echo started; while :; do sleep 0.1; done' >/dev/null
  pid=$(container_pid e2e-detached)
  want_match "init pid" '^[1-9][0-9]*$' "$pid"
  want_eq "host uid of the init (container root is the account)" "$TEST_UID" "$(host_uid "$pid")"
  want_runtime_state "$RUNTIME_ROOT" "$(P inspect --format '{{.Id}}' e2e-detached)" running
  out=$(P exec e2e-detached sh -c 'echo "in exec: $(id -u) $(cat /proc/1/cmdline | tr "\0" " ")"')
  want_match "exec output" '^in exec: 0 sh -c trap' "$out"
  want_status "exec sh -c 'exit 5'" 5 P exec e2e-detached sh -c 'exit 5'
  poll "'started' in the logs" logs_say_started e2e-detached
  out=$(P stop --time 60 e2e-detached)
  want_eq "stop output" e2e-detached "$out"
  out=$(P inspect --format '{{.State.Status}} {{.State.ExitCode}}' e2e-detached)
  want_eq "status after stop (SIGTERM trap exits 7)" "exited 7" "$out"
  if kill -0 "$pid" 2>/dev/null; then
    echo "init $pid still alive after stop"
    return 1
  fi
  P rm e2e-detached >/dev/null
  out=$(P ps --all --quiet --filter name=e2e-detached)
  want_eq "ps after rm" "" "$out"
}

check_user() {
  local out pid
  R -d --name e2e-user --user 1000:1000 "$IMG" sleep 1000 >/dev/null
  out=$(P exec e2e-user sh -c 'id -u; id -g; grep -E "^(Uid|Gid):" /proc/self/status')
  want_eq "ids" $'1000\n1000\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000' "$out"
  # podman maps container uid 1 to the first subordinate id: 1000 is SUBID_START + 999.
  pid=$(container_pid e2e-user)
  want_eq "host uid of the init" $((SUBID_START + 999)) "$(host_uid "$pid")"
  P rm --force --time 0 e2e-user >/dev/null
}

# podman 4.3 drops the resource limits of a rootless container on cgroup v1 itself, with a
# warning, before the runtime sees them: the container runs without the limit.
check_memory_limit_dropped() {
  local out
  out=$(R --rm --memory 64m "$IMG" cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>&1)
  want_match "podman's warning" \
    $'^Resource limits are not supported and ignored on cgroups V1 rootless systems\n[0-9]+$' "$out"
  if [[ ${out##*$'\n'} == 67108864 ]]; then
    echo "a 64 MiB memory limit was set after all"
    return 1
  fi
}

check_exit_code() {
  want_status "run sh -c 'exit 3'" 3 R --rm "$IMG" sh -c 'exit 3'
}

make_busybox_tar "$T/busybox.tar" || exit 2
if ! out=$(P import "$T/busybox.tar" "$IMG" 2>&1); then
  echo "podman import failed: $out"
  exit 2
fi

check run-rm-echo check_run_echo
check run-d/exec/logs/stop/rm check_detached_exec_logs_stop_rm
check user-1000 check_user
check memory-limit-dropped check_memory_limit_dropped
check exit-code-3 check_exit_code
finish
