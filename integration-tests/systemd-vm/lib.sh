# shellcheck shell=bash
# lib.sh: sourced by driver.sh and engines.sh inside the systemd VM (not run on its own).
# Check bookkeeping (`check`, `finish`), assertions that print what was wrong, a poll with a
# deadline, systemd and cgroup read-backs, a busybox root filesystem and a one-layer OCI image
# archive made from the VM's busybox-static (the VM has no network).

# shellcheck source=../lib/asserts.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/asserts.sh"
# shellcheck source=../lib/oci.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/oci.sh"
PASSED=0
FAILED=0
# Guard (seconds) against a hung runtime or engine command.
HANG=${HANG:-60}
CG=/sys/fs/cgroup

log() { printf '%s\n' "$*" >&2; }

# check NAME CMD... — runs CMD (a shell function or command, in a subshell) and prints
# `PASS - NAME` or `FAIL - NAME` followed by everything CMD printed, indented.
# (Its own variables have a prefix: an `eval` body sees the caller's locals.)
check() {
  local _c_name=$1 _c_out _c_rc
  shift
  _c_out=$("$@" 2>&1)
  _c_rc=$?
  if ((_c_rc == 0)); then
    echo "PASS - $_c_name"
    PASSED=$((PASSED + 1))
  else
    echo "FAIL - $_c_name (exit $_c_rc)"
    [[ -n $_c_out ]] && printf '%s\n' "$_c_out" | sed 's/^/    /'
    FAILED=$((FAILED + 1))
  fi
}

# logged LOG CMD... — runs CMD with stdin /dev/null and its output on the file LOG (a
# container started by CMD inherits it: not a pipe that a $(...) would wait on); on failure
# prints LOG. Returns CMD's status.
logged() {
  local _l_log=$1 _l_rc
  shift
  "$@" </dev/null >"$_l_log" 2>&1
  _l_rc=$?
  ((_l_rc == 0)) || cat "$_l_log"
  return "$_l_rc"
}

# note TEXT — an informational line (not a check): what the runtime did, for the report.
note() { echo "     # $*"; }

# want_ne WHAT UNWANTED ACTUAL
want_ne() {
  [[ $2 != "$3" ]] && return 0
  printf '%s: did not expect [%s]\n' "$1" "$2"
  return 1
}

# want_file FILE EXPECTED — FILE exists and its content (trailing newline dropped) is EXPECTED.
want_file() {
  local got
  got=$(cat "$1" 2>&1) || {
    printf '%s: cannot read: %s\n' "$1" "$got"
    return 1
  }
  want_eq "$1" "$2" "$got"
}

# want_absent PATH — PATH does not exist.
want_absent() {
  [[ ! -e $1 ]] && return 0
  echo "$1 still exists"
  [[ -f $1/cgroup.procs ]] && echo "its cgroup.procs: $(xargs <"$1/cgroup.procs")"
  return 1
}

# want_line FILE LINE — FILE has the exact line LINE.
want_line() {
  grep -qxF -- "$2" "$1" 2>/dev/null && return 0
  printf '%s: no line [%s]; it has: %s\n' "$1" "$2" "$(xargs <"$1" 2>&1)"
  return 1
}

# --- waiting ---

# poll SECONDS CMD... — retries CMD (quietly) every 0.1 s until it succeeds or SECONDS pass;
# on giving up, runs CMD once more with its output shown.
poll() {
  local secs=$1
  shift
  poll_for "$secs" "$*" "$@"
}

# --- systemd ---

# prop UNIT NAME — `systemctl show -p NAME --value UNIT`.
prop() { systemctl show -p "$2" --value "$1" 2>&1; }

# want_props UNIT NAME=VALUE... — each property of UNIT as `systemctl show` prints it.
want_props() {
  local unit=$1 kv got bad=0
  shift
  for kv in "$@"; do
    got=$(prop "$unit" "${kv%%=*}")
    want_eq "systemctl show $unit -p ${kv%%=*}" "${kv#*=}" "$got" || bad=1
  done
  return "$bad"
}

# unit_gone UNIT — systemd no longer knows UNIT (LoadState=not-found: stopped and collected).
unit_gone() { [[ $(prop "$1" LoadState) == not-found ]]; }

# want_unit_gone UNIT CGROUP_DIR — UNIT is collected (within 10 s) and its cgroup removed.
want_unit_gone() {
  poll 10 unit_gone "$1" >/dev/null || {
    echo "$1: LoadState=$(prop "$1" LoadState) ActiveState=$(prop "$1" ActiveState) SubState=$(prop "$1" SubState)"
    return 1
  }
  poll 5 test ! -e "$2" >/dev/null || want_absent "$2"
}

# want_unit_active UNIT
want_unit_active() {
  local s
  s=$(systemctl is-active "$1" 2>&1)
  want_eq "systemctl is-active $1" active "$s"
}

# want_proc_in CGROUP CMDLINE — a process with command line CMDLINE (spaces for NULs) is in CGROUP.
want_proc_in() {
  local pid cmd seen=''
  while read -r pid; do
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)
    [[ ${cmd% } == "$2" ]] && return 0
    seen+="$pid: ${cmd% }; "
  done <"$CG$1/cgroup.procs"
  echo "no [$2] in $CG$1/cgroup.procs ($seen)"
  return 1
}

# --- an unprivileged user with its systemd instance ---

# start_user NAME SUBID_START — makes user NAME (home /home/NAME) with 65536 subordinate uids
# and gids from SUBID_START, and starts its systemd user instance as a login (or lingering)
# would, with dbus-user-session's bus at /run/user/UID/bus. Sets USER_UID, USER_GID, RUNDIR
# and USER_CG (the instance's cgroup directory). The caller removes the user (userdel -r).
start_user() {
  useradd -m -s /bin/bash "$1" || return 1
  USER_UID=$(id -u "$1") USER_GID=$(id -g "$1")
  RUNDIR=/run/user/$USER_UID
  USER_CG=$CG/user.slice/user-$USER_UID.slice/user@$USER_UID.service
  grep -q "^$1:" /etc/subuid 2>/dev/null || usermod --add-subuids "$2-$(($2 + 65535))" "$1" || return 1
  grep -q "^$1:" /etc/subgid 2>/dev/null || usermod --add-subgids "$2-$(($2 + 65535))" "$1" || return 1
  systemctl start "user@$USER_UID.service" && [[ -S $RUNDIR/bus ]]
}

# as_user CMD... — CMD as the user of start_user, in its home, with its session's environment.
as_user() {
  (cd "/home/$(id -un "$USER_UID")" && setpriv --reuid="$USER_UID" --regid="$USER_GID" --init-groups \
    env HOME="$PWD" USER="$(id -un "$USER_UID")" XDG_RUNTIME_DIR="$RUNDIR" \
    DBUS_SESSION_BUS_ADDRESS="unix:path=$RUNDIR/bus" "$@")
}

# --- state JSON (runc's contract: `state ID` prints {"status": ..., "pid": ...}) ---

# json_str JSON KEY / json_num JSON KEY — the first top-level-looking value of KEY.
json_str() { grep -o "\"$2\": *\"[^\"]*\"" <<<"$1" | head -n 1 | sed 's/.*: *"\(.*\)"/\1/'; }
json_num() { grep -o "\"$2\": *[0-9-]*" <<<"$1" | head -n 1 | sed 's/.*: *//'; }

# --- bundles ---

# write_config FILE ROOTFS ARGS_JSON CGROUPS_PATH|- [RESOURCES_JSON] [ANNOTATIONS_JSON]
# [MOUNTS_JSON] — a busybox container's config.json: ARGS_JSON the inside of process.args, `-`
# no cgroupsPath, the resources and annotations the inside of their objects, MOUNTS_JSON mounts
# after the usual ones (`, {...}`); read-only root, CAP_KILL only, its own
# pid/ipc/uts/mount/cgroup/network namespaces.
write_config() {
  local cgp=''
  [[ $4 != - ]] && cgp="\"cgroupsPath\": \"$4\","
  cat >"$1" <<JSON
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false, "user": {"uid": 0, "gid": 0}, "args": [$3],
    "env": ["PATH=/bin"], "cwd": "/", "noNewPrivileges": true,
    "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]}
  },
  "root": {"path": "$2", "readonly": true},
  "hostname": "kiln-t",
  "annotations": {${6:-}},
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}
    ${7:-}
  ],
  "linux": {
    $cgp
    "resources": {${5:-}},
    "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}, {"type": "network"}],
    "maskedPaths": ["/proc/kcore", "/sys/firmware"],
    "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"]
  }
}
JSON
}

# --- images ---

# busybox_oci_archive ROOTFS_DIR NAME OUT — the OCI image archive OUT of ROOTFS_DIR (lib/oci.sh).
busybox_oci_archive() {
  tar --numeric-owner -C "$1" -cf "$3.layer" . && make_oci_archive "$3.layer" "$2" "$3"
  local rc=$?
  rm -f "$3.layer"
  return "$rc"
}
