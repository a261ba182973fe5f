#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016 # single-quoted $(...) runs in the container
# containerd.sh: containerd 1.6 (`ctr`, runtime io.containerd.runc.v2 with
# options.BinaryName = $KILN_BIN via --runc-binary) drives the runtime under test unmodified.
#
# containerd runs with a temp config (root, state, gRPC/ttrpc sockets, plugin and opt dirs in
# a temp dir), the native snapshotter, and a unique namespace, so containers' cgroups are
# /<namespace>/<id>. The image is an OCI archive written here (busybox rootfs layer) and
# loaded with `ctr images import`.
# Prints PASS/FAIL per check and `N passed, M failed`; exit 77 means "containerd unavailable".
ENGINE=containerd
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
ensure_packages containerd:containerd ctr:containerd containerd-shim-runc-v2:containerd \
  busybox:busybox-static sha256sum:coreutils
enter_private_world "$@"
# Defaults that the configuration below replaces (checked all the same).
WATCH_PATHS=(/var/lib/containerd /opt/containerd)
setup_scratch

IMG=docker.io/library/kiln-busybox:latest
NS=$CG_PARENT
export CONTAINERD_SNAPSHOTTER=native
C() { guard ctr --address "$T/containerd/containerd.sock" --namespace "$NS" "$@"; }
# R ARGS... — `ctr run` with the runtime under test as the runc binary of the v2 shim.
R() { C run --runtime io.containerd.runc.v2 --runc-binary "$RUNTIME" "$@"; }

engine_cleanup() {
  local id
  for id in $(C task list --quiet); do C task kill --signal KILL "$id"; done
  for id in $(C task list --quiet); do poll "task $id to stop" task_stopped "$id" && C task delete "$id"; done
  for id in $(C container list --quiet); do C container delete "$id"; done
}

start_containerd() {
  mkdir -p "$T/containerd"
  cat >"$T/containerd/config.toml" <<EOF
version = 2
root = "$T/containerd/root"
state = "$T/containerd/state"
plugin_dir = "$T/containerd/plugins"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$T/containerd/containerd.sock"
[ttrpc]
  address = "$T/containerd/containerd.sock.ttrpc"
[debug]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$T/containerd/opt"
EOF
  start_daemon "$T/containerd.log" containerd --config "$T/containerd/config.toml"
  poll "containerd to answer" C version
}

# delete_task ID — deletes stopped task ID; prints its exit status (from ctr's warning).
delete_task() {
  local out
  out=$(C task delete "$1" 2>&1) || {
    echo "ctr task delete $1: $out"
    return 1
  }
  if [[ $out =~ "exit with non-zero exit code "([0-9]+) ]]; then
    echo "${BASH_REMATCH[1]}"
  else
    echo 0
  fi
}

task_stopped() { C task list | grep -qE "^$1[[:space:]]+[0-9]+[[:space:]]+STOPPED"; }

# host_pid ID — the host PID of task ID's init.
host_pid() { C task list | awk -v id="$1" '$1 == id { print $2 }'; }

check_run_echo() {
  local out
  out=$(R --rm "$IMG" e2e-echo echo hi)
  want_eq "output" hi "$out"
}

check_detached_exec_kill() {
  local out pid
  R -d "$IMG" e2e-detached sh -c 'trap "exit 7" TERM; while :; do sleep 0.1; done' >/dev/null
  pid=$(host_pid e2e-detached)
  want_match "init pid" '^[1-9][0-9]*$' "$pid"
  want_match "cgroup" "^[0-9]+:memory:/$NS/e2e-detached\$" "$(grep ':memory:' "/proc/$pid/cgroup")"
  # The v2 shim's default runc root is /run/containerd/runc/<namespace>.
  want_runtime_state "/run/containerd/runc/$NS" e2e-detached running
  out=$(C task exec --exec-id e2e-exec e2e-detached sh -c 'echo "in exec: $(cat /proc/1/cmdline | tr "\0" " ")"')
  want_match "exec output" '^in exec: sh -c trap' "$out"
  want_status "exec exit code" 5 C task exec --exec-id e2e-exec5 e2e-detached sh -c 'exit 5'
  C task kill --signal TERM e2e-detached
  poll "the task to stop" task_stopped e2e-detached
  if kill -0 "$pid" 2>/dev/null; then
    echo "init $pid still alive after kill"
    return 1
  fi
  want_eq "exit status (the TERM trap exits 7)" 7 "$(delete_task e2e-detached)"
  C container delete e2e-detached
}

check_pause_resume() {
  local pid state
  R -d "$IMG" e2e-pause sleep 1000 >/dev/null
  pid=$(host_pid e2e-pause)
  state=$(host_cgroup_file "$pid" freezer freezer.state)
  C task pause e2e-pause
  want_match "task list" 'PAUSED' "$(C task list | grep '^e2e-pause ')"
  want_eq "$state" FROZEN "$(cat "$state")"
  C task resume e2e-pause
  want_match "task list" 'RUNNING' "$(C task list | grep '^e2e-pause ')"
  want_eq "$state" THAWED "$(cat "$state")"
  C task kill --signal KILL e2e-pause
  poll "the task to stop" task_stopped e2e-pause
  want_eq "exit status" 137 "$(delete_task e2e-pause)"
  C container delete e2e-pause
}

check_exit_code() {
  want_status "run sh -c 'exit 3'" 3 R --rm "$IMG" e2e-exit sh -c 'exit 3'
}

start_containerd || {
  tail -n 20 "$T/containerd.log"
  exit 2
}
make_busybox_tar "$T/busybox.tar" || exit 2
make_oci_archive "$T/busybox.tar" "$IMG" "$T/busybox-oci.tar" || exit 2
if ! out=$(C images import "$T/busybox-oci.tar" 2>&1); then
  echo "ctr images import failed: $out"
  exit 2
fi

check run-rm-echo check_run_echo
check run-d/exec/kill check_detached_exec_kill
check pause-resume check_pause_resume
check exit-code-3 check_exit_code
finish
