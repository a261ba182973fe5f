#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016 # single-quoted $(...) runs in the container
# docker.sh: dockerd (Debian docker.io 20.10) drives the runtime under test ($KILN_BIN),
# registered with --add-runtime kiln=$KILN_BIN, unmodified.
#
# The test starts its own containerd (temp config: root, state, sockets and plugin dirs in a
# temp dir) and its own dockerd on it (temp data-root, exec-root, pidfile, socket, config
# file; no bridge, no iptables; vfs; cgroupfs below a unique cgroup parent), and stops both.
# The image is a busybox rootfs tarball made with `docker import`.
# Prints PASS/FAIL per check and `N passed, M failed`; exit 77 means "docker unavailable".
ENGINE=docker
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
ensure_packages /usr/sbin/dockerd:docker.io /usr/bin/docker:docker.io containerd:containerd \
  busybox:busybox-static
enter_private_world "$@"
# Defaults that the configuration below replaces (checked all the same).
WATCH_PATHS=(/var/lib/docker /var/lib/containerd /opt/containerd /etc/docker/key.json)
setup_scratch

IMG=kiln-busybox:latest
# Debian's client (/usr/local/bin may hold another one), configured in $T.
export DOCKER_HOST=unix://$T/docker.sock DOCKER_CONFIG=$T/client
D() { guard /usr/bin/docker "$@"; }
# R ARGS... — `docker run` with the runtime under test.
R() { D run --runtime kiln "$@"; }

engine_cleanup() {
  local ids
  mapfile -t ids < <(D ps --all --quiet)
  ((${#ids[@]} == 0)) || D rm --force "${ids[@]}"
}

# start_containerd — containerd with every path in $T (dockerd would otherwise write its
# managed containerd's state below /run/docker and /var/lib/docker).
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
  poll "containerd's socket" test -S "$T/containerd/containerd.sock"
}

start_dockerd() {
  # dockerd's trust key would go to /etc/docker/key.json.
  printf '{"deprecated-key-path": "%s"}\n' "$T/key.json" >"$T/daemon.json"
  start_daemon "$T/dockerd.log" dockerd \
    --config-file "$T/daemon.json" \
    --containerd "$T/containerd/containerd.sock" \
    --data-root "$T/data" --exec-root "$T/exec" --pidfile "$T/docker.pid" \
    -H "unix://$T/docker.sock" \
    --bridge none --iptables=false --ip-masq=false --ip-forward=false \
    --storage-driver vfs \
    --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent "/$CG_PARENT" \
    --default-ulimit nofile=1024:1024 \
    --add-runtime "kiln=$RUNTIME"
  poll "dockerd to answer" D version
}

# container_pid NAME — the host PID of NAME's init.
container_pid() { D inspect --format '{{.State.Pid}}' "$1"; }

check_run_echo() {
  local out
  out=$(R --rm "$IMG" echo hi)
  want_eq "output" hi "$out"
}

logs_say_started() { D logs "$1" | grep -qx started; }

check_detached_exec_stop() {
  local out pid
  R -d --name e2e-detached "$IMG" \
    sh -c 'trap "exit 7" TERM; echo started; while :; do sleep 0.1; done' >/dev/null
  want_eq "runtime" kiln "$(D inspect --format '{{.HostConfig.Runtime}}' e2e-detached)"
  pid=$(container_pid e2e-detached)
  want_match "init pid" '^[1-9][0-9]*$' "$pid"
  # dockerd 20.10 gives every runc-like runtime --root <exec-root>/runtime-runc/moby.
  want_runtime_state "$T/exec/runtime-runc/moby" "$(D inspect --format '{{.Id}}' e2e-detached)" running
  out=$(D exec e2e-detached sh -c 'echo "in exec: $(cat /proc/1/cmdline | tr "\0" " ")"')
  want_match "exec output" '^in exec: sh -c trap' "$out"
  poll "'started' in the logs" logs_say_started e2e-detached
  out=$(D stop --time 60 e2e-detached)
  want_eq "stop output" e2e-detached "$out"
  out=$(D inspect --format '{{.State.Status}} {{.State.ExitCode}}' e2e-detached)
  want_eq "status after stop (SIGTERM trap exits 7)" "exited 7" "$out"
  if kill -0 "$pid" 2>/dev/null; then
    echo "init $pid still alive after stop"
    return 1
  fi
  D rm e2e-detached >/dev/null
}

check_memory_limit() {
  local out pid file
  R -d --name e2e-memory --memory 64m "$IMG" sleep 1000 >/dev/null
  out=$(D exec e2e-memory cat /sys/fs/cgroup/memory/memory.limit_in_bytes)
  want_eq "memory.limit_in_bytes inside" 67108864 "$out"
  pid=$(container_pid e2e-memory)
  file=$(host_cgroup_file "$pid" memory memory.limit_in_bytes)
  want_match "host cgroup of the container" "^/sys/fs/cgroup/memory/$CG_PARENT/" "$file"
  want_eq "$file on the host" 67108864 "$(cat "$file")"
  D rm --force e2e-memory >/dev/null
}

check_exit_code() {
  want_status "run sh -c 'exit 3'" 3 R --rm "$IMG" sh -c 'exit 3'
}

start_containerd || exit 2
start_dockerd || {
  tail -n 20 "$T/dockerd.log"
  exit 2
}
make_busybox_tar "$T/busybox.tar" || exit 2
if ! out=$(D import "$T/busybox.tar" "$IMG" 2>&1); then
  echo "docker import failed: $out"
  exit 2
fi

check run-rm-echo check_run_echo
check run-d/exec/stop check_detached_exec_stop
check memory-limit check_memory_limit
check exit-code-3 check_exit_code
finish
