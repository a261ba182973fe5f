# shellcheck shell=bash
# common.sh: shared by podman.sh, docker.sh and containerd.sh (sourced, not run).
#
# The sourcing script sets ENGINE, then calls, in order:
#   ensure_packages CMD:PKG...   install what is missing (exit 77 = skip when impossible)
#   enter_private_world "$@"     re-exec in a private mount namespace with a fresh /run
#   setup_scratch                $T (temp dir), $CG_PARENT (unique cgroup parent), the EXIT trap
# then runs `check NAME CMD...` for each check and ends with `finish`.
#
# Everything an engine makes lives in $T, in /run of the private mount namespace, or in
# cgroups below $CG_PARENT; the EXIT trap (always) stops the daemons started with
# start_daemon, kills leftover processes whose command line names $T, kills the processes
# of and removes every cgroup below $CG_PARENT, detaches mounts below $T, removes the
# system paths listed in WATCH_PATHS that did not exist before, and removes $T.

set -uo pipefail

E2E_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/asserts.sh
source "$E2E_HERE/../lib/asserts.sh"
# shellcheck source=../lib/oci.sh
source "$E2E_HERE/../lib/oci.sh"
WORKSPACE=$(cd "$E2E_HERE/../.." && pwd)
: "${ENGINE:?set ENGINE before sourcing common.sh}"

# The runtime under test: $KILN_BIN, else this workspace's debug kiln (built for an explicit
# target triple, as .cargo/config.toml asks, or for the host).
if [[ -n ${KILN_BIN:-} ]]; then
  RUNTIME=$KILN_BIN
else
  for RUNTIME in "${CARGO_TARGET_DIR:-$WORKSPACE/target}"/{*/,}debug/kiln; do
    [[ -x $RUNTIME ]] && break
  done
fi
if [[ ! -x $RUNTIME ]]; then
  echo "runtime binary $RUNTIME not found: build it (cargo build -p kiln) or set KILN_BIN" >&2
  exit 2
fi
RUNTIME=$(realpath "$RUNTIME")

# Guard (seconds) against a hung engine command; nothing is timed.
HANG_GUARD=${HANG_GUARD:-120}
PASSED=0
FAILED=0
DAEMON_PIDS=()
# System paths (no package's) this engine may create despite its configuration: set by the
# engine script before setup_scratch; those absent then are removed again at exit.
WATCH_PATHS=()

log() { printf '%s\n' "$*" >&2; }

# have CMD — CMD is a command, or (an absolute path) an existing file.
have() {
  if [[ $1 == /* ]]; then [[ -e $1 ]]; else command -v "$1" >/dev/null 2>&1; fi
}

# ensure_packages CMD:PKG... — installs (Debian) each PKG whose CMD is not a command (or, an
# absolute path, not a file). Exits 77 (the caller's "skip") with the reason when
# installation is impossible.
ensure_packages() {
  local pair missing=()
  for pair in "$@"; do
    have "${pair%%:*}" || missing+=("${pair#*:}")
  done
  ((${#missing[@]})) || return 0
  if ! command -v apt-get >/dev/null; then
    echo "SKIP: ${missing[*]} missing and no apt-get"
    exit 77
  fi
  log "installing ${missing[*]}"
  # Keep package scripts from starting system-wide daemons (docker, containerd).
  local policy=/usr/sbin/policy-rc.d made_policy=
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
  fi
  local apt=(apt-get -o DPkg::Lock::Timeout=600 -y -q --no-install-recommends)
  local out rc
  out=$(DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${missing[@]}" 2>&1)
  rc=$?
  if ((rc != 0)); then
    apt-get -o DPkg::Lock::Timeout=600 -q update >/dev/null 2>&1
    out=$(DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${missing[@]}" 2>&1)
    rc=$?
  fi
  [[ -n $made_policy ]] && rm -f "$policy"
  if ((rc != 0)); then
    echo "SKIP: cannot install ${missing[*]}: $(grep -E "^E:" <<<"$out" | tail -n 1)"
    exit 77
  fi
  for pair in "$@"; do
    if ! have "${pair%%:*}"; then
      echo "SKIP: ${pair#*:} installed but ${pair%%:*} is missing"
      exit 77
    fi
  done
}

# enter_private_world "$@" — re-executes the calling script in a private mount namespace
# (no mount made by an engine or a container reaches the host) and mounts a fresh tmpfs on
# /run there (engines keep sockets and runtime state below /run: /run/runc, /run/containerd/s).
enter_private_world() {
  if [[ -z ${KILN_E2E_PRIVATE:-} ]]; then
    export KILN_E2E_PRIVATE=1
    exec unshare --mount --propagation private -- bash "$0" "$@"
  fi
  mount -t tmpfs -o mode=0755,size=64m "kiln-e2e-$ENGINE" /run || {
    echo "cannot mount a private /run" >&2
    exit 2
  }
}

# setup_scratch — $T, $CG_PARENT, $WATCH_ABSENT and the clean-up trap.
setup_scratch() {
  T=$(mktemp -d "/tmp/kiln-e2e-$ENGINE.XXXXXX") || exit 2
  chmod 755 "$T"
  CG_PARENT="kiln-e2e-$ENGINE-${T##*.}"
  WATCH_ABSENT=()
  local d
  for d in "${WATCH_PATHS[@]}"; do [[ -e $d ]] || WATCH_ABSENT+=("$d"); done
  mkdir -p "$T/tmp"
  export TMPDIR=$T/tmp
  # Engines' helpers write into their working directory (conmon: an `oom` file).
  cd "$T" || exit 2
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  log "runtime under test: $RUNTIME; scratch: $T; cgroup parent: /$CG_PARENT"
}

# check NAME CMD... — runs CMD (usually a shell function, under `set -e`) and prints
# `PASS NAME` or `FAIL NAME: <everything CMD printed>`. With KILN_E2E_ONLY=REGEX set, only
# the checks whose names match run.
check() {
  local name=$1 out rc
  shift
  if [[ -n ${KILN_E2E_ONLY:-} && ! $name =~ $KILN_E2E_ONLY ]]; then
    return 0
  fi
  out=$(
    set -e
    "$@" 2>&1
  )
  rc=$?
  if ((rc == 0)); then
    echo "PASS $name"
    PASSED=$((PASSED + 1))
  else
    echo "FAIL $name: (exit $rc)"
    printf '%s\n' "$out" | sed 's/^/    /'
    FAILED=$((FAILED + 1))
  fi
}

# want_status WHAT EXPECTED CMD... — runs CMD, prints its output, wants exit status EXPECTED.
want_status() {
  local what=$1 want=$2 rc=0 out
  shift 2
  out=$("$@" 2>&1) || rc=$?
  [[ $rc == "$want" ]] && return 0
  printf '%s: expected exit status %s, got %s; output:\n%s\n' "$what" "$want" "$rc" "$out"
  return 1
}

# poll WHAT CMD... — retries CMD (quietly) until it succeeds, for at most HANG_GUARD seconds.
poll() { poll_for "$HANG_GUARD" "$@"; }

# guard CMD... — CMD under the hang guard.
guard() {
  timeout -k 10 "$HANG_GUARD" "$@"
}

# host_cgroup_file PID CONTROLLER FILE — the host path of FILE in PID's v1 CONTROLLER cgroup.
host_cgroup_file() {
  local line path
  line=$(grep -E "^[0-9]+:([^:]*,)?$2(,[^:]*)?:" "/proc/$1/cgroup") || {
    echo "no $2 cgroup for pid $1: $(cat "/proc/$1/cgroup")"
    return 1
  }
  path=${line#*:*:}
  echo "/sys/fs/cgroup/$2$path/$3"
}

# want_runtime_state ROOT ID STATUS — the runtime under test itself (`state`, with --root ROOT
# unless ROOT is empty) reports container ID with STATUS: the engine really used it.
want_runtime_state() {
  local out
  out=$(guard "$RUNTIME" ${1:+--root "$1"} state "$2" 2>&1) || {
    echo "$RUNTIME ${1:+--root $1} state $2 failed: $out"
    return 1
  }
  want_match "$RUNTIME state $2" "\"status\": ?\"$3\"" "$out"
}

# --- images ---

# make_busybox_tar OUT — a root filesystem tarball of make_busybox_rootfs (lib/oci.sh).
make_busybox_tar() {
  make_busybox_rootfs "$T/busybox-rootfs" && tar --numeric-owner -C "$T/busybox-rootfs" -cf "$1" .
}

# --- podman ---

# write_podman_config DIR [RUNDIR] — containers.conf, storage.conf and an empty
# registries.conf in DIR, every podman path (root, CNI dir, events, volumes) below DIR but
# runroot and tmpdir, which are below RUNDIR (default DIR; rootless podman wants a runroot of
# at most 50 characters), and DIR/podman: podman with these files and paths, vfs, cgroupfs,
# file events and the runtime under test. The wrapper exports the CONTAINERS_* variables
# itself, so it also works from a clean environment.
write_podman_config() {
  local dir=$1 run=${2:-$1}
  # podman's default nofile (1048576) and nproc limits exceed this host's hard limits
  # (20000, no CAP_SYS_RESOURCE): keep the defaults below them.
  cat >"$dir/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
netns = "none"
log_driver = "k8s-file"
[network]
network_config_dir = "$dir/cni"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$dir/events.log"
lock_type = "file"
tmp_dir = "$run/podman-tmp"
volume_path = "$dir/volumes"
static_dir = "$dir/root/libpod"
EOF
  cat >"$dir/storage.conf" <<EOF
[storage]
driver = "vfs"
runroot = "$run/runroot"
graphroot = "$dir/root"
EOF
  : >"$dir/registries.conf"
  cat >"$dir/podman" <<WRAPPER
#!/bin/sh
export CONTAINERS_CONF="$dir/containers.conf" CONTAINERS_STORAGE_CONF="$dir/storage.conf"
export CONTAINERS_REGISTRIES_CONF="$dir/registries.conf"
exec podman --root "$dir/root" --runroot "$run/runroot" --tmpdir "$run/podman-tmp" \\
  --storage-driver vfs --cgroup-manager cgroupfs --events-backend file \\
  --runtime "$RUNTIME" "\$@"
WRAPPER
  chmod 755 "$dir/podman"
}

# --- an unprivileged account (rootless engines) ---

TEST_USER=
TEST_UID=
TEST_SUBID_START=
TEST_SUBID_COUNT=

# make_test_user NAME [SUBID_START SUBID_COUNT] — creates the account NAME (a system account:
# no home, no login shell; one left by a killed run is reused) and, if given, its subordinate
# id range SUBID_START:SUBID_COUNT in /etc/subuid and /etc/subgid (only NAME's own lines are
# added or removed there). Sets TEST_UID, TEST_GID, TEST_DIR ($T/NAME, the account's own
# 0700 directory with home/ and tmp/), TEST_XDG (/run/user/UID on the private /run, 0700,
# the account's: its XDG_RUNTIME_DIR) and AS_USER, the command prefix that runs a command as
# NAME with a clean environment in TEST_DIR/home. The EXIT trap kills the processes of the
# account and of its range and removes account, lines and TEST_XDG.
make_test_user() {
  local f
  TEST_USER=$1 TEST_SUBID_START=${2:-} TEST_SUBID_COUNT=${3:-}
  if ! id -u "$TEST_USER" >/dev/null 2>&1; then
    useradd --system --no-create-home --user-group --shell /usr/sbin/nologin "$TEST_USER" ||
      return 1
  fi
  for f in /etc/subuid /etc/subgid; do
    remove_subid_lines "$f"
    if [[ -n $TEST_SUBID_START ]]; then
      [[ -s $f && -n $(tail -c 1 "$f") ]] && echo >>"$f" # complete a last line
      echo "$TEST_USER:$TEST_SUBID_START:$TEST_SUBID_COUNT" >>"$f" || return 1
    fi
  done
  TEST_UID=$(id -u "$TEST_USER") && TEST_GID=$(id -g "$TEST_USER") || return 1
  TEST_DIR=$T/$TEST_USER TEST_XDG=/run/user/$TEST_UID
  mkdir -p "$TEST_DIR"/{home,tmp} "$TEST_XDG" && chmod 700 "$TEST_DIR"/{,home,tmp} "$TEST_XDG" &&
    chown -R "$TEST_UID:$TEST_GID" "$TEST_DIR" "$TEST_XDG" || return 1
  # shellcheck disable=SC2034 # for the sourcing script
  AS_USER=(env -i -C "$TEST_DIR/home"
    PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin
    HOME="$TEST_DIR/home" USER="$TEST_USER" LOGNAME="$TEST_USER"
    XDG_RUNTIME_DIR="$TEST_XDG" TMPDIR="$TEST_DIR/tmp"
    setpriv --reuid="$TEST_UID" --regid="$TEST_GID" --init-groups --)
  log "test account: $TEST_USER (uid $TEST_UID, gid $TEST_GID${TEST_SUBID_START:+, subordinate ids $TEST_SUBID_START:$TEST_SUBID_COUNT})"
}

# remove_subid_lines FILE — removes the test account's lines from FILE (/etc/subuid, /etc/subgid).
remove_subid_lines() {
  [[ -f $1 ]] && grep -q "^$TEST_USER:" "$1" || return 0
  sed -i "/^$TEST_USER:/d" "$1"
}

# test_user_pids — live processes whose real or effective uid is the test account's or in its
# subordinate range (all started by this run: the account and the range are its own).
# Zombies are left out: nothing can kill them, and orphans stay zombies where PID 1 does not
# reap (conmon double-forks; udocker may exit without waiting for the runtime).
test_user_pids() {
  local end=$((${TEST_SUBID_START:-0} + ${TEST_SUBID_COUNT:-0}))
  ps -e -o pid=,ruid=,euid=,stat= | awk -v me="$$" -v u="$TEST_UID" \
    -v s="${TEST_SUBID_START:-0}" -v e="$end" '
    function ours(x) { return x == u || (x >= s && x < e) }
    $1 != me && $4 !~ /^Z/ && (ours($2) || ours($3)) { print $1 }'
}

# remove_test_user — kills the processes of the test account and of its range, deletes the
# account (and its group) and its /etc/subuid and /etc/subgid lines.
remove_test_user() {
  local i f pid pids
  [[ -n $TEST_USER ]] || return 0
  for ((i = 0; i < 50 && ${#TEST_UID}; i++)); do
    mapfile -t pids < <(test_user_pids)
    ((${#pids[@]})) || break
    if ((i == 0)); then
      for pid in "${pids[@]}"; do
        log "cleanup: killing a process of $TEST_USER: $(ps -o pid=,ppid=,stat=,args= -p "$pid" | cut -c1-200)"
      done
    fi
    kill -KILL "${pids[@]}" 2>/dev/null
    sleep 0.1
  done
  for f in /etc/subuid /etc/subgid; do remove_subid_lines "$f"; done
  [[ -n ${TEST_XDG:-} ]] && rm -rf "$TEST_XDG"
  if id -u "$TEST_USER" >/dev/null 2>&1; then
    userdel "$TEST_USER" || log "cleanup: userdel $TEST_USER failed"
  fi
  if getent group "$TEST_USER" >/dev/null; then
    groupdel "$TEST_USER" || log "cleanup: groupdel $TEST_USER failed"
  fi
  TEST_USER=
}

# --- processes and clean-up ---

# start_daemon LOG CMD... — starts CMD in the background (output to LOG) and records its PID
# (stopped at exit). Not in a subshell: the PID is ${DAEMON_PIDS[-1]}.
start_daemon() {
  local logfile=$1
  shift
  "$@" >"$logfile" 2>&1 &
  DAEMON_PIDS+=($!)
}

# stop_pid PID — SIGTERM, then SIGKILL if it has not exited after HANG_GUARD seconds.
stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < HANG_GUARD * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}

# pids_naming DIR — processes (not this shell) whose command line contains DIR.
pids_naming() {
  local f pid
  for f in /proc/[0-9]*/cmdline; do
    pid=${f#/proc/}
    pid=${pid%/cmdline}
    [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
    tr '\0' ' ' 2>/dev/null <"$f" | grep -qF -- "$1" && echo "$pid"
  done
}

# our_cgroups — every cgroup directory below $CG_PARENT in every hierarchy, deepest first.
our_cgroups() {
  local h
  for h in /sys/fs/cgroup/*/; do
    [[ -d $h$CG_PARENT ]] && find "$h$CG_PARENT" -depth -type d
  done
}

# clean_cgroups — kills the processes in and removes every cgroup below $CG_PARENT.
clean_cgroups() {
  local dir pid i
  # Thaw frozen containers (each cgroup's own state) so that SIGKILL takes effect.
  dir=/sys/fs/cgroup/freezer/$CG_PARENT
  [[ -d $dir ]] && find "$dir" -name freezer.state -exec sh -c 'echo THAWED > "$1"' _ {} \; 2>/dev/null
  for dir in $(our_cgroups); do
    while read -r pid; do
      log "cleanup: killing pid $pid left in $dir"
      kill -KILL "$pid" 2>/dev/null
    done < <(cat "$dir/cgroup.procs" 2>/dev/null)
  done
  for dir in $(our_cgroups); do
    # A hierarchy that is only a directory on the /sys/fs/cgroup tmpfs (no controller mounted
    # there): conmon still made our directory and wrote a plain `tasks` file into it.
    [[ $(stat -f -c %T "$dir") == tmpfs ]] && find "$dir" -maxdepth 1 -type f -delete
    for ((i = 0; i < 100; i++)); do
      rmdir "$dir" 2>/dev/null && break
      [[ -d $dir ]] || break
      sleep 0.1
    done
    [[ -d $dir ]] && log "cleanup: could not remove cgroup $dir"
  done
  return 0
}

# our_mounts — mount points below $T in this namespace, deepest first.
our_mounts() {
  awk -v t="$T/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

# engine_cleanup — defined by the engine script: engine-level removal of its containers.
engine_cleanup() { :; }

cleanup() {
  local rc=$? pid m d i
  trap - EXIT
  cd / || true
  engine_cleanup >/dev/null 2>&1
  for ((i = ${#DAEMON_PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${DAEMON_PIDS[i]}"; done
  for pid in $(pids_naming "$T"); do
    log "cleanup: killing leftover pid $pid: $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | cut -c1-200)"
    kill -KILL "$pid" 2>/dev/null
  done
  clean_cgroups
  for m in $(our_mounts); do umount -l "$m" 2>/dev/null; done
  remove_test_user
  if [[ -n $(our_mounts) ]]; then
    log "cleanup: mounts remain below $T, not removing it: $(our_mounts | tr '\n' ' ')"
  else
    rm -rf "$T"
  fi
  for d in "${WATCH_ABSENT[@]}"; do
    if [[ -e $d ]]; then
      log "cleanup: removing $d (created by the engine)"
      rm -rf "$d"
    fi
  done
  exit "$rc"
}
