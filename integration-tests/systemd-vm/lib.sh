# shellcheck shell=bash
# lib.sh: sourced by driver.sh and engines.sh inside the systemd VM (not run on its own).
# Check bookkeeping (`check`, `finish`), assertions that print what was wrong, a poll with a
# deadline, systemd and cgroup read-backs, a busybox root filesystem and a one-layer OCI image
# archive made from the VM's busybox-static (the VM has no network).

PASSED=0
FAILED=0
# Guard (seconds) against a hung runtime or engine command.
HANG=${HANG:-60}

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

# finish — the summary line; the exit status says whether every check passed.
finish() {
  echo "$PASSED passed, $FAILED failed"
  ((FAILED == 0))
}

# --- assertions (print what was wrong and return 1) ---

# want_eq WHAT EXPECTED ACTUAL
want_eq() {
  [[ $2 == "$3" ]] && return 0
  printf '%s: expected [%s], got [%s]\n' "$1" "$2" "$3"
  return 1
}

# want_match WHAT EXTENDED-REGEX ACTUAL
want_match() {
  [[ $3 =~ $2 ]] && return 0
  printf '%s: expected a match for /%s/, got:\n%s\n' "$1" "$2" "$3"
  return 1
}

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
  local secs=$1 i
  shift
  for ((i = 0; i < secs * 10; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "gave up after ${secs}s waiting for: $*"
  "$@"
  return 1
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

# --- state JSON (runc's contract: `state ID` prints {"status": ..., "pid": ...}) ---

# json_str JSON KEY / json_num JSON KEY — the first top-level-looking value of KEY.
json_str() { grep -o "\"$2\": *\"[^\"]*\"" <<<"$1" | head -n 1 | sed 's/.*: *"\(.*\)"/\1/'; }
json_num() { grep -o "\"$2\": *[0-9-]*" <<<"$1" | head -n 1 | sed 's/.*: *//'; }

# --- images ---

# make_busybox_rootfs DIR — busybox-static with every applet linked in /bin, /etc/passwd,
# /etc/group and the usual mount points.
make_busybox_rootfs() {
  local rootfs=$1 bb a
  bb=$(command -v busybox) || {
    log "busybox not found"
    return 1
  }
  mkdir -p "$rootfs"/{bin,sbin,proc,sys,dev,tmp,etc,root,run,var,usr/bin}
  cp "$bb" "$rootfs/bin/busybox"
  for a in $("$rootfs/bin/busybox" --list); do
    [[ -e $rootfs/bin/$a ]] || ln -s busybox "$rootfs/bin/$a"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
  chmod 1777 "$rootfs/tmp"
}

# oci_blob DIR FILE — moves FILE into the OCI layout DIR as a blob; prints `sha256:<hex> <size>`.
oci_blob() {
  local hex size
  hex=$(sha256sum "$2" | cut -d' ' -f1)
  size=$(stat -c %s "$2")
  mv "$2" "$1/blobs/sha256/$hex"
  echo "sha256:$hex $size"
}

# make_oci_archive ROOTFS_DIR NAME OUT — a one-layer OCI image archive OUT of ROOTFS_DIR,
# named NAME (a full reference, e.g. docker.io/library/kiln-busybox:latest) for both
# `ctr images import` (io.containerd.image.name) and `podman load` (ref.name).
make_oci_archive() {
  local dir layer layer_size config config_size manifest manifest_size
  dir=$(mktemp -d /tmp/kiln-oci.XXXXXX) || return 1
  mkdir -p "$dir/blobs/sha256"
  tar --numeric-owner -C "$1" -cf "$dir/layer.tar" . || return 1
  read -r layer layer_size < <(oci_blob "$dir" "$dir/layer.tar")
  printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
    "$layer" >"$dir/config.json"
  read -r config config_size < <(oci_blob "$dir" "$dir/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
    "$config" "$config_size" "$layer" "$layer_size" >"$dir/manifest.json"
  read -r manifest manifest_size < <(oci_blob "$dir" "$dir/manifest.json")
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$manifest" "$manifest_size" "$2" "$2" >"$dir/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
  tar -C "$dir" -cf "$3" oci-layout index.json blobs
  local rc=$?
  rm -rf "$dir"
  return "$rc"
}
