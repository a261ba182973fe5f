#!/bin/bash
# shellcheck source-path=SCRIPTDIR disable=SC2016 # single-quoted $... runs in the container
# driver.sh: the runtime under test ($RUNTIME, a path; default Debian's runc) alone with
# --systemd-cgroup, under systemd as PID 1 in the VM of run.sh (test-systemd.sh runs it).
# Containers are busybox bundles made here from the VM's busybox-static; every cgroupsPath is
# `slice:prefix:name` and every limit is read back twice: as the transient unit's property
# (`systemctl show`) and from the scope's cgroup files.
# Prints `PASS - NAME` / `FAIL - NAME` per check (`#` lines note what the runtime did) and
# `N passed, M failed`; exits 1 if a check failed. Every container and unit made here is
# removed at exit, also when a check failed (EXIT trap).
#   RUNTIME=/path/to/kiln bash driver.sh
#   DEFAULT_PREFIX  the unit prefix of a container without cgroupsPath (runc: `runc`, else `kiln`)
#   DUP_CGROUP      refuse|warn: what a second container with a running one's cgroupsPath
#                   does (see test_duplicate_unit; runc 1.1.5: warn, else refuse)
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

RUNTIME=${RUNTIME:-/usr/sbin/runc}
# SWAP_AFTER_UPDATE: memory.swap.max after `update --memory 96M` of a container with memory
# 64 MiB and memory+swap 128 MiB. runc 1.1.5 leaves the file (64 MiB of swap: memory+swap is
# now 160 MiB); kiln keeps the configured memory+swap limit (OCI's `swap`), so 32 MiB.
if [[ $(basename "$RUNTIME") == runc ]]; then
  DEFAULT_PREFIX=${DEFAULT_PREFIX:-runc} DUP_CGROUP=${DUP_CGROUP:-warn}
  SWAP_AFTER_UPDATE=${SWAP_AFTER_UPDATE:-67108864}
else
  DEFAULT_PREFIX=${DEFAULT_PREFIX:-kiln} DUP_CGROUP=${DUP_CGROUP:-refuse}
  SWAP_AFTER_UPDATE=${SWAP_AFTER_UPDATE:-33554432}
fi
T=$(mktemp -d /tmp/kiln-driver.XXXXXX)
STATE=$T/state # the runtime's --root
ROOTFS=$T/rootfs
IDS=()           # containers made (for the clean-up)
UNITS=()         # units that may exist (for the clean-up)
SLICES=(nonexistent-x.slice nonexistent.slice)

# R ARGS... — the runtime under test with --systemd-cgroup and our state root, hang-guarded.
R() { timeout -k 5 "$HANG" "$RUNTIME" --root "$STATE" --systemd-cgroup "$@"; }

# shellcheck disable=SC2317 # (the EXIT trap)
cleanup() {
  local rc=$? id u d pid self
  trap - EXIT
  log "driver.sh: cleaning up (${SECONDS}s)"
  for id in "${IDS[@]}"; do
    HANG=15 R kill --all "$id" KILL >/dev/null 2>&1
    HANG=15 R delete -f "$id" >/dev/null 2>&1
  done
  log "driver.sh: containers deleted (${SECONDS}s)"
  for u in "${UNITS[@]}" "${SLICES[@]}"; do
    systemctl kill -s KILL "$u" >/dev/null 2>&1
    timeout 20 systemctl stop "$u" >/dev/null 2>&1
    systemctl reset-failed "$u" >/dev/null 2>&1
  done
  log "driver.sh: units stopped (${SECONDS}s)"
  # cgroups a runtime made without systemd (a cgroupsPath taken as a path): their processes
  # killed, the directories removed, deepest first
  # (not this script's own: kiln-test.service)
  self=$CG$(sed -n 's/^0:://p' /proc/self/cgroup)
  for d in $(find "$CG" -maxdepth 3 -type d \( -name '*kiln-t-*' -o -name '*:kiln-t:*' -o -name 'bad-no-colons' \) 2>/dev/null | sort -r); do
    [[ $self == "$d" || $self == "$d"/* ]] && continue
    while read -r pid; do kill -KILL "$pid" 2>/dev/null; done <"$d/cgroup.procs"
    rmdir "$d" 2>/dev/null
  done
  rm -rf "$T"
  log "driver.sh: cleaned up ($SECONDS s in all)"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# bundle ID ARGS_JSON CGROUPS_PATH [RESOURCES_JSON] [ANNOTATIONS_JSON] [MOUNTS_JSON] — the bundle $T/b-ID
# (config.json; rootfs: the shared $ROOTFS, read-only); no cgroupsPath when CGROUPS_PATH is
# `-`. Records ID for the clean-up (so: not in a subshell).
bundle() {
  local b=$T/b-$1
  IDS+=("$1")
  mkdir -p "$b"
  write_config "$b/config.json" "$ROOTFS" "$2" "$3" "${4:-}" "${5:-}" "${6:-}"
}

# start_detached ID — `run -d` of the bundle $T/b-ID, output on $T/ID.log (see `logged`).
start_detached() { logged "$T/$1.log" R run -d --bundle "$T/b-$1" "$1"; }

# oneline FILE — FILE's first 500 characters on one line.
oneline() { head -c 500 "$1" | tr '\n' ' '; }
status_of() { json_str "$(R state "$1" 2>&1)" status; }
pid_of() { json_num "$(R state "$1" 2>&1)" pid; }
listed() { R list -q 2>/dev/null | grep -qx "$1"; }
not_listed() { ! listed "$1"; }
stopped() { [[ $(status_of "$1") == stopped ]]; }
running() { [[ $(status_of "$1") == running ]]; }
# want_no_container ID — `list` does not show ID and `state ID` fails.
want_no_container() {
  local out
  not_listed "$1" || {
    echo "$1 is still listed: $(R list 2>&1)"
    return 1
  }
  if out=$(R state "$1" 2>&1); then
    echo "state $1 still answers: $out"
    return 1
  fi
}
# want_in_scope PID UNIT — PID is in UNIT's cgroup (system.slice) by cgroup.procs and /proc/PID/cgroup.
want_in_scope() {
  [[ $1 =~ ^[1-9][0-9]*$ ]] || {
    echo "no pid: [$1]"
    return 1
  }
  want_line "$CG/system.slice/$2/cgroup.procs" "$1" &&
    want_file "/proc/$1/cgroup" "0::/system.slice/$2"
}
# scopes — the transient scopes systemd knows, sorted.
scopes() { systemctl list-units --all --type=scope --plain --no-legend 2>/dev/null | awk '{print $1}' | sort; }

# --- 1. run in the foreground ---------------------------------------------------------------
test_foreground() {
  local u=kiln-t-fg.scope rc pid_seen=''
  UNITS+=("$u")
  bundle fg '"sh", "-c", "echo hello from busybox; sleep 3; exit 7"' system.slice:kiln-t:fg
  R run --bundle "$T/b-fg" fg </dev/null >"$T/fg.out" 2>&1 &
  local rpid=$!
  poll 15 running fg >/dev/null && pid_seen=$(pid_of fg)
  check "run (fg): $u active while the container runs" want_unit_active "$u"
  check "run (fg): the container's init is in $u" want_in_scope "$pid_seen" "$u"
  wait "$rpid"
  rc=$?
  check "run (fg): exit status 7 comes back" want_eq "exit status" 7 "$rc"
  check "run (fg): output comes back" want_match "output" 'hello from busybox' "$(cat "$T/fg.out")"
  check "run (fg): $u and its cgroup are gone after the run" want_unit_gone "$u" "$CG/system.slice/$u"
  check "run (fg): no container fg left" want_no_container fg
}

# --- 2. create + start with resources and annotations -----------------------------------------
# (the VM's root disk, for a read bandwidth limit)
VDA=$((16#$(stat -c %t /dev/vda))):$((16#$(stat -c %T /dev/vda)))
C1_RES='"memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728},
  "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
  "blockIO": {"throttleReadBpsDevice": [{"major": '"${VDA%:*}"', "minor": '"${VDA#*:}"', "rate": 1048576}],
    "throttleWriteBpsDevice": [{"major": '"${VDA%:*}"', "minor": '"${VDA#*:}"', "rate": 2097152}],
    "throttleReadIOPSDevice": [{"major": '"${VDA%:*}"', "minor": '"${VDA#*:}"', "rate": 300}],
    "throttleWriteIOPSDevice": [{"major": '"${VDA%:*}"', "minor": '"${VDA#*:}"', "rate": 400}]},
  "pids": {"limit": 32},
  "devices": [{"allow": true, "type": "c", "major": 1, "minor": 9, "access": "r"}]'
# the VM's root disk bound in: its node is there, the device rules deny opening it
C1_MOUNTS=', {"destination": "/dev/vda", "type": "bind", "source": "/dev/vda", "options": ["bind"]}'
C1_ANN='"org.systemd.property.TimeoutStopUSec": "uint64 123456789",
  "org.systemd.property.CollectMode": "'"'inactive-or-failed'"'"'
U1=kiln-t-c1.scope
CG1=$CG/system.slice/$U1

test_create_start() {
  local out
  UNITS+=("$U1")
  bundle c1 '"sleep", "100000"' system.slice:kiln-t:c1 "$C1_RES" "$C1_ANN" "$C1_MOUNTS"
  check "create c1" logged "$T/c1.log" R create --bundle "$T/b-c1" c1
  check "c1 after create: state created" want_eq "status" created "$(status_of c1)"
  check "c1 after create: $U1 active, init $(pid_of c1) in it" \
    eval 'want_unit_active $U1 && want_in_scope "$(pid_of c1)" $U1'
  check "start c1" R start c1
  check "c1 after start: state running" want_eq "status" running "$(status_of c1)"
  C1_PID=$(pid_of c1)
  check "c1: init $C1_PID in $CG1/cgroup.procs, /proc/$C1_PID/cgroup 0::/system.slice/$U1" \
    want_in_scope "$C1_PID" "$U1"
  out=$(systemctl show "$U1" -p MemoryMax -p MemoryLow -p MemorySwapMax -p CPUWeight -p TasksMax \
    -p AllowedCPUs -p CPUQuotaPerSecUSec -p CPUQuotaPeriodUSec -p Delegate -p Slice 2>&1)
  note "systemctl show $U1: $(echo "$out" | tr "\n" " ")"
  check "c1: systemctl show memory" want_props "$U1" MemoryMax=67108864 MemoryLow=33554432 MemorySwapMax=67108864
  check "c1: systemctl show CPUWeight=20 (shares 512)" want_props "$U1" CPUWeight=20
  check "c1: systemctl show CPUQuotaPerSecUSec=500ms CPUQuotaPeriodUSec=100ms AllowedCPUs=0" \
    want_props "$U1" CPUQuotaPerSecUSec=500ms CPUQuotaPeriodUSec=100ms AllowedCPUs=0
  check "c1: systemctl show TasksMax=32" want_props "$U1" TasksMax=32
  check "c1: systemctl show Delegate=yes Slice=system.slice Transient=yes ControlGroup=/system.slice/$U1" \
    want_props "$U1" Delegate=yes Slice=system.slice Transient=yes ControlGroup=/system.slice/$U1
  check "c1: memory.max 67108864" want_file "$CG1/memory.max" 67108864
  check "c1: memory.low 33554432" want_file "$CG1/memory.low" 33554432
  check "c1: memory.swap.max 67108864 (swap - memory)" want_file "$CG1/memory.swap.max" 67108864
  check "c1: cpu.weight 20" want_file "$CG1/cpu.weight" 20
  check "c1: cpu.max 50000 100000" want_file "$CG1/cpu.max" "50000 100000"
  check "c1: cpuset.cpus 0" want_file "$CG1/cpuset.cpus" 0
  check "c1: pids.max 32" want_file "$CG1/pids.max" 32
  check "c1: cpuset.mems 0 (systemctl show AllowedMemoryNodes=0)" \
    eval 'want_file $CG1/cpuset.mems 0 && want_props $U1 AllowedMemoryNodes=0'
  check "c1: io.max $VDA rbps=1048576 wbps=2097152 riops=300 wiops=400" \
    want_match "io.max" "^$VDA rbps=1048576 wbps=2097152 riops=300 wiops=400$" "$(cat "$CG1/io.max" 2>&1)"
  # (runc 1.1.5 leaves IO limits to the cgroup files; kiln gives them to systemd too)
  note "c1: systemctl show IOReadBandwidthMax: $(prop "$U1" IOReadBandwidthMax)"
  if [[ $(basename "$RUNTIME") != runc ]]; then
    check "c1: systemctl show IO{Read,Write}{Bandwidth,IOPS}Max on /dev/block/$VDA" \
      want_props "$U1" "IOReadBandwidthMax=/dev/block/$VDA 1048576" \
      "IOWriteBandwidthMax=/dev/block/$VDA 2097152" "IOReadIOPSMax=/dev/block/$VDA 300" \
      "IOWriteIOPSMax=/dev/block/$VDA 400"
  fi
  note "c1: systemctl show Description: $(prop "$U1" Description)"
  if [[ $(basename "$RUNTIME") != runc ]]; then
    check "c1: systemctl show Description=kiln container $U1" want_props "$U1" "Description=kiln container $U1"
  fi
  check "c1: systemctl show DefaultDependencies=no and the accounting switches" \
    want_props "$U1" DefaultDependencies=no MemoryAccounting=yes CPUAccounting=yes IOAccounting=yes TasksAccounting=yes
  note "c1: systemctl show DeviceAllow: $(prop "$U1" DeviceAllow | paste -sd,)"
  check "c1: systemctl show DevicePolicy=strict, DeviceAllow has /dev/null and /dev/urandom" \
    eval 'want_props $U1 DevicePolicy=strict &&
      want_match DeviceAllow "/dev/char/1:3 rwm" "$(prop $U1 DeviceAllow)" &&
      want_match DeviceAllow "/dev/char/1:9 rw?m?" "$(prop $U1 DeviceAllow)"'
  check "c1: annotation org.systemd.property.TimeoutStopUSec (uint64 123456789)" \
    want_props "$U1" 'TimeoutStopUSec=2min 3.456789s'
  check "c1: annotation org.systemd.property.CollectMode ('inactive-or-failed')" \
    want_props "$U1" CollectMode=inactive-or-failed
}

# --- 3. exec ------------------------------------------------------------------------------------
test_exec() {
  local out rc epid
  out=$(R exec c1 sh -c 'echo exec-ok; cat /proc/self/cgroup; wc -l < /sys/fs/cgroup/cgroup.procs; exit 3' 2>&1)
  rc=$?
  check "exec c1 (fg): exit status 3 and output come back" \
    eval 'want_eq "exit status" 3 "$rc" && want_match "output" "^exec-ok" "$out"'
  note "exec c1 in the container: $(echo "$out" | tr "\n" " ")"
  check "exec c1 (fg): the exec'd process sees the container's cgroup (namespace root 0::/)" \
    want_match "output" $'\n0::/\n' "$out"
  R exec -d --pid-file "$T/exec.pid" c1 sleep 100000 </dev/null >"$T/exec.log" 2>&1
  rc=$?
  epid=$(cat "$T/exec.pid" 2>/dev/null)
  check "exec -d --pid-file c1 sleep" eval 'want_eq "exit status" 0 "$rc" && want_match "pid file" "^[1-9][0-9]*$" "$epid"'
  check "exec -d: the exec'd process ($epid) is in $U1" want_in_scope "$epid" "$U1"
  EXEC_PID=$epid
}

# --- 4. devices ----------------------------------------------------------------------------------
test_devices() {
  local out
  out=$(R exec c1 sh -c 'head -c 4 /dev/urandom | wc -c; head -c 512 /dev/vda | wc -c' 2>&1)
  note "exec c1 reading /dev/urandom and /dev/vda: $(echo "$out" | tr '\n' ' ')"
  check "devices: an allowed device (/dev/urandom) reads in the container" want_match "output" "^4"$'\n' "$out"
  check "devices: a device the rules do not allow (/dev/vda, bound in) is denied" \
    want_match "output" '/dev/vda: Operation not permitted' "$out"
}

# --- 5. update ----------------------------------------------------------------------------------
test_update() {
  check "update --memory 96M --pids-limit 40 --cpu-share 1024 c1" \
    R update --memory 96M --pids-limit 40 --cpu-share 1024 c1
  note "after update: $(systemctl show "$U1" -p MemoryMax -p MemorySwapMax -p MemoryLow -p CPUWeight -p TasksMax -p CPUQuotaPerSecUSec -p AllowedCPUs | tr "\n" " "); memory.swap.max $(cat "$CG1/memory.swap.max")"
  check "update: systemctl show MemoryMax=100663296 TasksMax=40 CPUWeight=39" \
    want_props "$U1" MemoryMax=100663296 TasksMax=40 CPUWeight=39
  check "update: memory.max 100663296" want_file "$CG1/memory.max" 100663296
  check "update: pids.max 40" want_file "$CG1/pids.max" 40
  check "update: cpu.weight 39 (shares 1024)" want_file "$CG1/cpu.weight" 39
  # (runc: a flag not given is 0, "leave as is"; no --memory-swap: the swap file is left;
  # kiln: the memory+swap limit stays, the swap file follows the new memory limit)
  check "update: untouched limits stay (memory.low, cpu.max, cpuset.cpus; swap $SWAP_AFTER_UPDATE; the properties too)" \
    eval 'want_file $CG1/memory.low 33554432 && want_file $CG1/memory.swap.max $SWAP_AFTER_UPDATE &&
      want_file $CG1/cpu.max "50000 100000" && want_file $CG1/cpuset.cpus 0 &&
      want_props $U1 MemoryLow=33554432 MemorySwapMax=$SWAP_AFTER_UPDATE CPUQuotaPerSecUSec=500ms AllowedCPUs=0'
}

# update of the cpuset and the IO weight (through systemd: AllowedCPUs, IOWeight)
test_update_cpuset_io() {
  check "update --cpuset-cpus 0-1 --blkio-weight 500 c1" R update --cpuset-cpus 0-1 --blkio-weight 500 c1
  note "after update: $(systemctl show "$U1" -p AllowedCPUs -p IOWeight | tr "\n" " "); io.weight: $(xargs <"$CG1/io.weight" 2>&1)"
  check "update: systemctl show AllowedCPUs=0-1, cpuset.cpus 0-1" \
    eval 'want_props $U1 AllowedCPUs=0-1 && want_file $CG1/cpuset.cpus 0-1'
  check "update: io.weight default 4950 (blkio weight 500)" \
    want_match io.weight "^default 4950$" "$(head -n 1 "$CG1/io.weight" 2>&1)"
  # (runc 1.1.5 writes only the file; kiln gives the weight to systemd too)
  if [[ $(basename "$RUNTIME") != runc ]]; then
    check "update: systemctl show IOWeight=4950" want_props "$U1" IOWeight=4950
  fi
  check "update: the memory limit of the previous update stays" want_file "$CG1/memory.max" 100663296
}

# --- 6. pause / resume --------------------------------------------------------------------------
frozen_is() { grep -qx "frozen $1" "$CG1/cgroup.events"; }
test_pause_resume() {
  check "pause c1" R pause c1
  check "pause: state paused" want_eq "status" paused "$(status_of c1)"
  check "pause: cgroup.freeze 1, cgroup.events frozen 1" \
    eval 'want_file $CG1/cgroup.freeze 1 && poll 5 frozen_is 1'
  note "while paused: systemctl show $U1 -p FreezerState: $(prop "$U1" FreezerState)"
  check "resume c1" R resume c1
  check "resume: state running" want_eq "status" running "$(status_of c1)"
  check "resume: cgroup.freeze 0, cgroup.events frozen 0" \
    eval 'want_file $CG1/cgroup.freeze 0 && poll 5 frozen_is 0'
}

# --- 7. kill --all, delete ----------------------------------------------------------------------
test_kill_all_delete() {
  check "kill --all c1 KILL" R kill --all c1 KILL
  check "kill --all: c1 stopped" poll 10 stopped c1
  check "kill --all: the exec'd process ($EXEC_PID) is gone too" poll 5 test ! -e "/proc/$EXEC_PID"
  check "delete c1" R delete c1
  check "delete c1: $U1 and its cgroup are gone" want_unit_gone "$U1" "$CG1"
  check "delete c1: no container c1 left" want_no_container c1
}

# --- 8. delete -f of a running container -----------------------------------------------------
test_delete_force() {
  local u=kiln-t-c2.scope pid
  UNITS+=("$u")
  bundle c2 '"sleep", "100000"' system.slice:kiln-t:c2 '"memory": {"limit": 33554432}'
  check "run -d c2" start_detached c2
  pid=$(pid_of c2)
  check "c2: $u active, init in it, memory.max 33554432" \
    eval 'want_unit_active $u && want_in_scope "$pid" $u && want_file $CG/system.slice/$u/memory.max 33554432'
  check "delete -f c2 (running)" R delete -f c2
  check "delete -f c2: $u and its cgroup are gone" want_unit_gone "$u" "$CG/system.slice/$u"
  check "delete -f c2: its init ($pid) is gone" poll 5 test ! -e "/proc/$pid"
  check "delete -f c2: no container c2 left" want_no_container c2
}

# --- 9. errors and slices --------------------------------------------------------------------------
test_bad_path() {
  local rc before after
  # shellcheck disable=SC2034 # (before, after: read by the eval'd check below)
  before=$(scopes)
  bundle e1 '"sleep", "100000"' bad-no-colons
  start_detached e1 >/dev/null
  rc=$?
  note "cgroupsPath bad-no-colons: exit $rc: $(oneline "$T/e1.log")"
  check "cgroupsPath bad-no-colons: run -d fails" want_ne "exit status" 0 "$rc"
  check "cgroupsPath bad-no-colons: no container e1 left" want_no_container e1
  # shellcheck disable=SC2034
  after=$(scopes)
  check "cgroupsPath bad-no-colons: no new scope unit, no cgroup named after it" \
    eval 'want_eq "scopes" "$before" "$after" && want_absent $CG/bad-no-colons && want_absent $CG/system.slice/bad-no-colons'
}

test_missing_slice() {
  local u=kiln-t-e2.scope rc pid dir=$CG/nonexistent.slice/nonexistent-x.slice/kiln-t-e2.scope
  UNITS+=("$u")
  note "before: nonexistent-x.slice LoadState=$(prop nonexistent-x.slice LoadState)"
  bundle e2 '"sleep", "100000"' nonexistent-x.slice:kiln-t:e2
  start_detached e2 >/dev/null
  rc=$?
  note "cgroupsPath nonexistent-x.slice:kiln-t:e2: exit $rc $(oneline "$T/e2.log")," \
    "$u Slice=$(prop "$u" Slice), nonexistent-x.slice: $(prop nonexistent-x.slice ActiveState)," \
    "init's cgroup: $(cat "/proc/$(pid_of e2)/cgroup" 2>&1)"
  check "a missing slice (nonexistent-x.slice) is made by systemd: run -d succeeds" want_eq "exit status" 0 "$rc"
  pid=$(pid_of e2)
  check "... $u active in Slice=nonexistent-x.slice, which is active" \
    eval 'want_unit_active $u && want_props $u Slice=nonexistent-x.slice && want_unit_active nonexistent-x.slice'
  check "... the init is in $dir" \
    eval 'want_line $dir/cgroup.procs "$pid" && want_file /proc/$pid/cgroup 0::/nonexistent.slice/nonexistent-x.slice/$u'
  check "delete -f e2: $u and its cgroup are gone" eval 'R delete -f e2 && want_unit_gone $u $dir'
  note "after delete: nonexistent-x.slice ActiveState=$(prop nonexistent-x.slice ActiveState)"
}

test_empty_slice() {
  local u=kiln-t-e3.scope rc
  UNITS+=("$u")
  bundle e3 '"sleep", "100000"' :kiln-t:e3
  start_detached e3 >/dev/null
  rc=$?
  note "cgroupsPath :kiln-t:e3: exit $rc $(oneline "$T/e3.log"), $u Slice=$(prop "$u" Slice)"
  check "an empty slice (:kiln-t:e3) means system.slice: $u active there, init in it" \
    eval 'want_eq "exit status" 0 "$rc" && want_unit_active $u && want_props $u Slice=system.slice && want_in_scope "$(pid_of e3)" $u'
  check "delete -f e3: $u and its cgroup are gone" eval 'R delete -f e3 && want_unit_gone $u $CG/system.slice/$u'
}

# bad_annotation ID KEY VALUE — a container with annotation KEY=VALUE fails to start and
# leaves nothing behind.
bad_annotation() {
  local id=$1 u=kiln-t-$1.scope rc
  UNITS+=("$u")
  bundle "$id" '"sleep", "100000"' "system.slice:kiln-t:$id" '' "\"$2\": \"$3\""
  start_detached "$id" >/dev/null
  rc=$?
  note "annotation $2=$3: exit $rc: $(oneline "$T/$id.log")"
  check "annotation $2=$3: run -d fails" want_ne "exit status" 0 "$rc"
  check "annotation $2=$3: no container, no unit, no cgroup left" \
    eval 'want_no_container $id && want_unit_gone $u $CG/system.slice/$u'
}

test_bad_annotations() {
  bad_annotation ea1 org.systemd.property.Bad_Name 'uint64 1'
  bad_annotation ea2 org.systemd.property.NoSuchProperty 'uint64 1'
  bad_annotation ea3 org.systemd.property.CollectMode 'not a gvariant'
}

# --- 10. no cgroupsPath -----------------------------------------------------------------------------
test_default_path() {
  local id=kiln-t-def u pid
  u=$DEFAULT_PREFIX-$id.scope
  UNITS+=("$u")
  bundle "$id" '"sleep", "100000"' - '' '"org.systemd.property.TimeoutStopSec": "uint64 5"'
  check "no cgroupsPath: run -d $id" start_detached "$id"
  pid=$(pid_of "$id")
  note "no cgroupsPath: init's cgroup: $(cat "/proc/$pid/cgroup" 2>&1)"
  check "no cgroupsPath: unit $u (system.slice:$DEFAULT_PREFIX:$id) active, init in it" \
    eval 'want_unit_active $u && want_in_scope "$pid" $u && want_props $u Slice=system.slice Delegate=yes'
  note "annotation org.systemd.property.TimeoutStopSec=uint64 5: TimeoutStopUSec=$(prop "$u" TimeoutStopUSec)"
  check "annotation ...TimeoutStopSec (uint64 5) is TimeoutStopUSec=5s (seconds to microseconds)" \
    want_props "$u" TimeoutStopUSec=5s
  check "delete -f $id: $u and its cgroup are gone" eval 'R delete -f $id && want_unit_gone $u $CG/system.slice/$u'
}

# --- 11. the same cgroupsPath for a second container while the first runs -------------------------
# DUP_CGROUP=refuse: the second fails (runc 1.2: "container's cgroup is not empty"), nothing of
# it is left, the first is untouched. DUP_CGROUP=warn (runc 1.1.5): the second starts with only
# a warning ("container's cgroup is not empty: 1 process(es) found", "DEPRECATED: running
# container in a non-empty cgroup won't be supported in runc 1.2"): systemd's UnitExists is
# ignored, its init stays in the caller's cgroup, and deleting it stops the first one's unit.
test_duplicate_unit() {
  local u=kiln-t-d1.scope rc pid1 pid2
  UNITS+=("$u")
  bundle d1 '"sleep", "100000"' system.slice:kiln-t:d1
  bundle d2 '"sleep", "100000"' system.slice:kiln-t:d1
  check "run -d d1" start_detached d1
  pid1=$(pid_of d1)
  start_detached d2 >/dev/null
  rc=$?
  pid2=$(pid_of d2)
  note "run -d d2 (d1's cgroupsPath, d1 running): exit $rc: $(oneline "$T/d2.log")"
  [[ -n $pid2 ]] && note "d2's init $pid2: $(cat "/proc/$pid2/cgroup" 2>&1)"
  if [[ $DUP_CGROUP == warn ]]; then
    check "d2 with d1's cgroupsPath: starts with a warning (DUP_CGROUP=warn)" \
      eval 'want_eq "exit status" 0 "$rc" && want_match "warning" "cgroup is not empty" "$(cat $T/d2.log)"'
  else
    check "d2 with d1's cgroupsPath: run -d fails" want_ne "exit status" 0 "$rc"
    check "d2 with d1's cgroupsPath: no container d2 left" want_no_container d2
  fi
  sleep 0.5
  check "d1 is untouched: running, $u active, only its init in it" \
    eval 'want_eq "d1 status" running "$(status_of d1)" && want_unit_active $u && want_file $CG/system.slice/$u/cgroup.procs "$pid1"'
  if [[ $DUP_CGROUP == warn ]]; then
    R delete -f d2 >/dev/null 2>&1
    note "after delete -f d2: d1 $(status_of d1), $u $(prop "$u" ActiveState), d1's init alive: $(test -e "/proc/$pid1" && echo yes || echo no)"
  fi
  check "delete -f d1: $u and its cgroup are gone" eval 'R delete -f d1 >/dev/null && want_unit_gone $u $CG/system.slice/$u'
}

# -----------------------------------------------------------------------------------------------
state=$(timeout 60 systemctl is-system-running --wait 2>&1)
[[ $state == running || $state == degraded ]] || log "driver.sh: systemctl is-system-running: $state"
echo "runtime under test: $RUNTIME ($("$RUNTIME" --version 2>&1 | head -n 1)); default unit prefix: $DEFAULT_PREFIX"
make_busybox_rootfs "$ROOTFS" || {
  echo "FAIL - busybox root filesystem"
  echo "0 passed, 1 failed"
  exit 1
}

# `kiln check` (kiln's own) finds systemd running and answering on the system bus: the branch
# a host without systemd cannot show.
test_check() {
  [[ $(basename "$RUNTIME") == runc ]] && return 0
  check "kiln check: systemd running and reachable on the system bus, cgroup v2" eval '
    out=$("$RUNTIME" check 2>&1); rc=$?
    printf "%s\n" "$out"
    ((rc == 0)) &&
      grep -Eq "^OK +systemd +running, reachable on the system bus" <<<"$out" &&
      grep -Eq "^OK +cgroup layout +v2" <<<"$out"'
}

# DRIVER_TESTS="foreground default_path ...": only these (exec..kill_all_delete need create_start)
for t in ${DRIVER_TESTS:-foreground create_start exec devices update update_cpuset_io pause_resume kill_all_delete \
  delete_force bad_path missing_slice empty_slice bad_annotations default_path duplicate_unit check}; do
  "test_$t"
done
finish
