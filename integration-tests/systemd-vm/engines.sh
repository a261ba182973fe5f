#!/bin/bash
# shellcheck source-path=SCRIPTDIR disable=SC2016 # single-quoted $... runs in the container
# engines.sh: podman (--cgroup-manager=systemd) and containerd (`ctr run --runc-systemd-cgroup`,
# what `SystemdCgroup = true` does) drive the runtime under test ($RUNTIME, a path; default
# Debian's runc) under systemd as PID 1, in the --engines VM of run.sh (test-systemd.sh runs
# it). The image: a one-layer OCI archive of the VM's busybox-static, made here (the VM has no
# network), `podman load`ed and `ctr images import`ed.
# Each engine: a container that prints, exec into a running one (its process in the
# container's scope), a 64 MiB memory limit read back from the scope (memory.max and
# `systemctl show`), rm/delete removing the scope. Prints `PASS - NAME` / `FAIL - NAME` and
# `N passed, M failed`; exits 1 if a check failed. Containers, images and the ctr namespace
# are removed at exit (EXIT trap).
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

RUNTIME=${RUNTIME:-/usr/sbin/runc}
T=$(mktemp -d /tmp/kiln-engines.XXXXXX)
IMG=docker.io/library/kiln-busybox:latest
NS=kiln-sd # containerd namespace; the v2 shim keeps runc state in /run/containerd/runc/$NS
export CONTAINERD_SNAPSHOTTER=native

# P ARGS... — podman with its state in $T, the systemd cgroup manager and the runtime under test.
P() {
  timeout -k 5 "$HANG" podman --root "$T/podman/root" --runroot "$T/podman/runroot" \
    --tmpdir "$T/podman/tmp" --storage-driver vfs --events-backend none \
    --cgroup-manager systemd --runtime "$RUNTIME" "$@"
}
# C ARGS... — ctr on the running containerd service, in our namespace.
C() { timeout -k 5 "$HANG" ctr --namespace "$NS" "$@"; }
# CR ID ARGS... — `ctr run` with the runtime under test as the v2 shim's runc, its systemd
# cgroup driver, and the scope kiln-ctr-ID.scope in system.slice.
CR() {
  local id=$1
  shift
  C run --runtime io.containerd.runc.v2 --runc-binary "$RUNTIME" --runc-systemd-cgroup \
    --cgroup "system.slice:kiln-ctr:$id" "$@"
}

# shellcheck disable=SC2317 # (the EXIT trap)
cleanup() {
  local rc=$? id u
  trap - EXIT
  log "engines.sh: cleaning up (${SECONDS}s)"
  if command -v podman >/dev/null; then
    HANG=30 P rm --all --force --time 0 >/dev/null 2>&1
    HANG=30 P rmi --all --force >/dev/null 2>&1
  fi
  if command -v ctr >/dev/null; then
    for id in $(HANG=15 C task list --quiet 2>/dev/null); do
      HANG=15 C task kill --signal KILL "$id" >/dev/null 2>&1
      sleep 0.5
      HANG=15 C task delete --force "$id" >/dev/null 2>&1
    done
    for id in $(HANG=15 C container list --quiet 2>/dev/null); do HANG=15 C container delete "$id" >/dev/null 2>&1; done
    HANG=15 C images rm "$IMG" >/dev/null 2>&1
    HANG=15 ctr namespaces remove "$NS" >/dev/null 2>&1
  fi
  for u in $(systemctl list-units --all --plain --no-legend 'kiln-ctr-*' 'libpod-*' 2>/dev/null | awk '{print $1}'); do
    systemctl kill -s KILL "$u" >/dev/null 2>&1
    timeout 20 systemctl stop "$u" >/dev/null 2>&1
    systemctl reset-failed "$u" >/dev/null 2>&1
  done
  rm -rf "$T"
  log "engines.sh: cleaned up (${SECONDS}s in all)"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# want_runtime_state ROOT ID STATUS — the runtime under test itself (`state`, with --root ROOT
# unless ROOT is empty) reports container ID with STATUS: the engine really used it.
want_runtime_state() {
  local out
  out=$(timeout -k 5 "$HANG" "$RUNTIME" ${1:+--root "$1"} state "$2" 2>&1) || {
    echo "$RUNTIME ${1:+--root $1} state $2 failed: $out"
    return 1
  }
  want_eq "$RUNTIME state $2: status" "$3" "$(json_str "$out" status)"
}

# want_scope PID CGROUP UNIT — PID's cgroup is CGROUP (/proc/PID/cgroup and CGROUP's
# cgroup.procs), and UNIT (its scope) is active.
want_scope() {
  [[ $1 =~ ^[1-9][0-9]*$ ]] || {
    echo "no pid: [$1]"
    return 1
  }
  want_file "/proc/$1/cgroup" "0::$2" && want_line "$CG$2/cgroup.procs" "$1" && want_unit_active "$3"
}

# --- podman ---------------------------------------------------------------------------------------
test_podman() {
  local out rc id pid unit cgroup
  out=$(P load -i "$T/busybox-oci.tar" 2>&1)
  check "podman load of the busybox OCI archive" want_match "podman load" "Loaded image.*kiln-busybox" "$out"
  out=$(P run --rm --network none "$IMG" sh -c 'echo hello from podman; cat /proc/self/cgroup' 2>&1)
  rc=$?
  check "podman run --rm: the output comes back" \
    eval 'want_eq "exit status" 0 "$rc" && want_match "output" "^hello from podman" "$out"'

  P run -d --network none --name sd-pod --memory 64m "$IMG" sleep 1000 </dev/null >"$T/pod.log" 2>&1
  out=$(cat "$T/pod.log")
  check "podman run -d --memory 64m" want_match "podman run -d" '^[0-9a-f]{64}$' "$out"
  id=$out
  pid=$(P inspect --format '{{.State.Pid}}' sd-pod 2>&1)
  unit=libpod-$id.scope cgroup=/machine.slice/libpod-$id.scope
  note "podman container init's cgroup: $(cat "/proc/$pid/cgroup" 2>&1)"
  check "podman: the container's init ($pid) is in $cgroup, its unit active" want_scope "$pid" "$cgroup" "$unit"
  check "podman: the runtime under test runs it (state: running)" want_runtime_state "" "$id" running
  check "podman: systemctl show MemoryMax=67108864, Delegate=yes" want_props "$unit" MemoryMax=67108864 Delegate=yes
  check "podman: $cgroup/memory.max 67108864" want_file "$CG$cgroup/memory.max" 67108864
  out=$(P exec sd-pod sh -c 'echo in exec; exit 3' 2>&1)
  rc=$?
  check "podman exec: output and exit status 3 come back" \
    eval 'want_eq "exit status" 3 "$rc" && want_match "output" "^in exec" "$out"'
  check "podman exec -d sleep 999" logged "$T/pexec.log" P exec -d sd-pod sleep 999
  check "podman exec: the exec'd process is in $cgroup" poll 10 want_proc_in "$cgroup" "sleep 999"
  check "podman rm -f" eval 'P rm --force --time 0 sd-pod >/dev/null'
  check "podman rm -f: $unit and its cgroup are gone" want_unit_gone "$unit" "$CG$cgroup"
}

# --- containerd ----------------------------------------------------------------------------------
task_stopped() { C task list | grep -qE "^$1[[:space:]]+[0-9]+[[:space:]]+STOPPED"; }
task_pid() { C task list | awk -v id="$1" '$1 == id { print $2 }'; }

test_containerd() {
  local out rc pid unit cgroup
  if ! systemctl is-active -q containerd; then
    systemctl start containerd
  fi
  check "containerd is active" want_unit_active containerd.service
  out=$(C images import "$T/busybox-oci.tar" 2>&1)
  check "ctr images import of the busybox OCI archive" want_match "ctr images import" "kiln-busybox" "$out"

  unit=kiln-ctr-ctr-echo.scope
  out=$(CR ctr-echo --rm "$IMG" ctr-echo sh -c 'echo hello from ctr' 2>&1)
  rc=$?
  check "ctr run --rm: the output comes back" \
    eval 'want_eq "exit status" 0 "$rc" && want_match "output" "^hello from ctr" "$out"'
  check "ctr run --rm: $unit and its cgroup are gone after" want_unit_gone "$unit" "$CG/system.slice/$unit"

  unit=kiln-ctr-ctr-mem.scope cgroup=/system.slice/kiln-ctr-ctr-mem.scope
  check "ctr run -d --memory-limit 67108864 --cgroup system.slice:kiln-ctr:ctr-mem" \
    logged "$T/ctr-mem.log" CR ctr-mem -d --memory-limit 67108864 "$IMG" ctr-mem sleep 1000
  pid=$(task_pid ctr-mem)
  note "ctr task init's cgroup: $(cat "/proc/$pid/cgroup" 2>&1)"
  check "ctr: the task's init ($pid) is in $cgroup, its unit active" want_scope "$pid" "$cgroup" "$unit"
  check "ctr: the runtime under test runs it (state: running)" \
    want_runtime_state "/run/containerd/runc/$NS" ctr-mem running
  check "ctr: systemctl show MemoryMax=67108864, Delegate=yes" want_props "$unit" MemoryMax=67108864 Delegate=yes
  check "ctr: $cgroup/memory.max 67108864" want_file "$CG$cgroup/memory.max" 67108864
  out=$(C task exec --exec-id e1 ctr-mem sh -c 'echo in exec; exit 3' 2>&1)
  rc=$?
  check "ctr task exec: output and exit status 3 come back" \
    eval 'want_eq "exit status" 3 "$rc" && want_match "output" "^in exec" "$out"'
  C task exec --exec-id e2 ctr-mem sleep 999 </dev/null >"$T/exec-e2.log" 2>&1 &
  check "ctr task exec: the exec'd process is in $cgroup" poll 10 want_proc_in "$cgroup" "sleep 999"
  check "ctr task kill -s KILL" C task kill --signal KILL ctr-mem
  check "ctr: the task stops" poll 10 task_stopped ctr-mem
  wait
  check "ctr task delete, container delete" eval 'C task delete ctr-mem >/dev/null && C container delete ctr-mem'
  check "ctr delete: $unit and its cgroup are gone" want_unit_gone "$unit" "$CG$cgroup"
}

# -------------------------------------------------------------------------------------------------
state=$(timeout 60 systemctl is-system-running --wait 2>&1)
[[ $state == running || $state == degraded ]] || log "engines.sh: systemctl is-system-running: $state"
echo "runtime under test: $RUNTIME ($("$RUNTIME" --version 2>&1 | head -n 1))"
if ! make_busybox_rootfs "$T/rootfs" || ! busybox_oci_archive "$T/rootfs" "$IMG" "$T/busybox-oci.tar"; then
  echo "FAIL - busybox OCI archive"
  echo "0 passed, 1 failed"
  exit 1
fi
for e in ${ENGINE_TESTS:-podman containerd}; do
  if command -v "${e/containerd/ctr}" >/dev/null; then
    echo "# $e $("${e/containerd/ctr}" --version 2>&1 | head -n 1)"
    "test_$e"
  else
    check "$e installed (run.sh --engines)" false
  fi
done
finish
