#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016 # single-quoted $(...) runs in the container
# podman.sh: podman 4.3 drives the runtime under test ($KILN_BIN) unmodified.
#
# podman runs with its own root, runroot, tmpdir and config files in a temp dir, the vfs
# storage driver, the cgroupfs manager, file events, no network, and containers below a
# unique cgroup parent. The image is a busybox rootfs tarball made with `podman import`.
# Prints PASS/FAIL per check and `N passed, M failed`; exit 77 means "podman unavailable".
ENGINE=podman
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
ensure_packages podman:podman conmon:conmon script:bsdutils busybox:busybox-static
enter_private_world "$@"
# podman keeps its image blob-info cache there, whatever its root.
WATCH_PATHS=(/var/lib/containers)
setup_scratch

IMG=localhost/kiln-busybox:latest
# $T/podman: podman with every state path in $T and the runtime under test.
write_podman_config "$T"
P() { guard "$T/podman" "$@"; }
# R ARGS... — `podman run` without network, below our cgroup parent.
R() { P run --network none --cgroup-parent "/$CG_PARENT" "$@"; }

engine_cleanup() { P rm --all --force --time 0; }

# container_pid NAME — the host PID of NAME's init.
container_pid() { P inspect --format '{{.State.Pid}}' "$1"; }

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
  # podman passes no --root: the runtime's default state root holds the container.
  want_runtime_state "" "$(P inspect --format '{{.Id}}' e2e-detached)" running
  out=$(P exec e2e-detached sh -c 'echo "in exec: $(cat /proc/1/cmdline | tr "\0" " ")"')
  want_match "exec output" '^in exec: sh -c trap' "$out"
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

check_terminal() {
  local out
  out=$(guard script -qec "$T/podman run --network none --cgroup-parent /$CG_PARENT --rm -t $IMG \
    sh -c 'tty; [ -t 0 ] && [ -t 1 ] && echo stdio-is-a-tty'" /dev/null) || {
    echo "$out" # podman's errors went to the terminal too
    return 1
  }
  out=${out//$'\r'/}
  want_match "tty output" $'^/dev/pts/[0-9]+\nstdio-is-a-tty$' "$out"
}

check_memory_limit() {
  local out pid file
  R -d --name e2e-memory --memory 64m "$IMG" sleep 1000 >/dev/null
  out=$(P exec e2e-memory cat /sys/fs/cgroup/memory/memory.limit_in_bytes)
  want_eq "memory.limit_in_bytes inside" 67108864 "$out"
  pid=$(container_pid e2e-memory)
  file=$(host_cgroup_file "$pid" memory memory.limit_in_bytes)
  want_match "host cgroup of the container" "^/sys/fs/cgroup/memory/$CG_PARENT/" "$file"
  want_eq "$file on the host" 67108864 "$(cat "$file")"
  P rm --force --time 0 e2e-memory >/dev/null
}

check_pids_limit() {
  local out
  out=$(R --rm --pids-limit 42 "$IMG" cat /sys/fs/cgroup/pids/pids.max)
  want_eq "pids.max" 42 "$out"
}

check_cap_drop_all() {
  local out
  out=$(R --rm --cap-drop ALL "$IMG" grep -E '^Cap(Eff|Prm|Bnd):' /proc/self/status)
  want_eq "capabilities" $'CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000000' "$out"
}

check_read_only() {
  local out
  out=$(R --rm --read-only "$IMG" sh -c 'touch /probe 2>&1; touch /tmp/probe && echo tmp-writable')
  want_match "writes" 'Read-only file system' "$out"
  want_match "writes" 'tmp-writable' "$out"
}

check_user() {
  local out
  out=$(R --rm --user 1000:1000 "$IMG" sh -c 'id -u; id -g; grep -E "^(Uid|Gid):" /proc/self/status')
  want_eq "ids" $'1000\n1000\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000' "$out"
}

check_pause_unpause() {
  local out pid state
  R -d --name e2e-pause "$IMG" sleep 1000 >/dev/null
  pid=$(container_pid e2e-pause)
  state=$(host_cgroup_file "$pid" freezer freezer.state)
  P pause e2e-pause >/dev/null
  want_eq "status" paused "$(P inspect --format '{{.State.Status}}' e2e-pause)"
  want_eq "$state" FROZEN "$(cat "$state")"
  P unpause e2e-pause >/dev/null
  want_eq "status" running "$(P inspect --format '{{.State.Status}}' e2e-pause)"
  want_eq "$state" THAWED "$(cat "$state")"
  out=$(P exec e2e-pause echo alive)
  want_eq "exec after unpause" alive "$out"
  P rm --force --time 0 e2e-pause >/dev/null
}

check_top() {
  local out
  R -d --name e2e-top "$IMG" sleep 1000 >/dev/null
  out=$(P top e2e-top pid args)
  want_match "top" $'\n[[:space:]]*1[[:space:]]+sleep 1000' "$out"
  P rm --force --time 0 e2e-top >/dev/null
}

check_exit_code() {
  want_status "run sh -c 'exit 3'" 3 R --rm "$IMG" sh -c 'exit 3'
}

check_oom_kill() {
  local out
  # dd's 256 MiB buffer, filled from /dev/zero, cannot fit in 64 MiB (no swap on the limit).
  want_status "run over --memory" 137 R --rm --memory 64m --memory-swap 64m "$IMG" \
    dd if=/dev/zero of=/dev/null bs=256M count=1
  # The same from a shell: dd is SIGKILLed and the cgroup counts an OOM kill.
  out=$(R --rm --memory 64m --memory-swap 64m "$IMG" sh -c \
    'dd if=/dev/zero of=/dev/null bs=256M count=1 2>/dev/null; echo "dd: $?"; cat /sys/fs/cgroup/memory/memory.oom_control')
  want_match "dd status and memory.oom_control" $'^dd: 137\n(.*\n)*oom_kill [1-9]' "$out"
}

make_busybox_tar "$T/busybox.tar" || exit 2
if ! out=$(P import "$T/busybox.tar" "$IMG" 2>&1); then
  echo "podman import failed: $out"
  exit 2
fi

check run-rm-echo check_run_echo
check run-d/exec/logs/stop/rm check_detached_exec_logs_stop_rm
check run-t-terminal check_terminal
check memory-limit check_memory_limit
check pids-limit check_pids_limit
check cap-drop-all check_cap_drop_all
check read-only check_read_only
check user-1000 check_user
check pause-unpause check_pause_unpause
check top check_top
check exit-code-3 check_exit_code
check oom-kill-137 check_oom_kill
finish
