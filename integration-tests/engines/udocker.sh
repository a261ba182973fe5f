#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016 # single-quoted $(...) runs in the container
# udocker.sh: udocker (PyPI) in its R1 execution mode, run by an unprivileged account, drives
# the runtime under test ($KILN_BIN) unmodified.
#
# udocker's R modes run containers with a runc-like binary: UDOCKER_USE_RUNC_EXECUTABLE names
# it; udocker writes each run's config with `<runtime> spec --rootless` (the account's own
# uid and gid mapped to 0, no other ids) and starts `<runtime> --root <container dir> run`.
# Offline: UDOCKER_TARBALL set empty skips the download of udocker's tools tarball (its R
# modes need none of them). The script makes the account kiln-e2e-ud (no subordinate ids:
# R1 maps only the account's own ids) and removes it again at exit. udocker is installed
# into a venv in the temp dir; its repository (UDOCKER_DIR) is in the account's directory.
# The image is a busybox rootfs tarball loaded with `udocker import`.
# Prints PASS/FAIL per check and `N passed, M failed`; exit 77 means "udocker unavailable".
ENGINE=udocker
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
ensure_packages /usr/bin/python3:python3 setpriv:util-linux script:bsdutils busybox:busybox-static
PYTHON=/usr/bin/python3
# The venv module's ensurepip (Debian's python3-venv, for the running python3 version).
ensure_packages "$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')/ensurepip/__init__.py:python3-venv"
enter_private_world "$@"
setup_scratch
make_test_user kiln-e2e-ud || exit 2

# The version whose behaviour the checks describe (see check_exit_code).
UDOCKER_VERSION=1.3.17
if ! out=$("$PYTHON" -m venv "$T/venv" 2>&1 &&
  "$T/venv/bin/pip" install --quiet "udocker==$UDOCKER_VERSION" 2>&1); then
  echo "SKIP: cannot install udocker $UDOCKER_VERSION from PyPI: $(tail -n 1 <<<"$out")"
  exit 77
fi
UD_ENV=(env UDOCKER_DIR="$TEST_DIR/udocker" UDOCKER_TARBALL= PYTHONDONTWRITEBYTECODE=1
  UDOCKER_USE_RUNC_EXECUTABLE="$RUNTIME")
UD=("${AS_USER[@]}" "${UD_ENV[@]}" "$T/venv/bin/udocker" --quiet)
U() { guard "${UD[@]}" "$@"; }
# UT CMD — udocker command line CMD (one string) as the account, in a terminal (`script`).
UT() { guard "${AS_USER[@]}" script -qec "$(printf '%q ' "${UD_ENV[@]}" "$T/venv/bin/udocker" --quiet) $1" /dev/null; }

IMG=kiln-busybox:latest
CNAME=e2e

# udocker_run ARGS... — `udocker run $CNAME ARGS...` without a terminal; prints the
# container's output (without the CRs of the pty udocker gives the runtime). udocker 1.3.17's
# exit status says nothing here: it then ends with sys.exit(<Popen object>), exit status 1,
# after printing `<Popen: returncode: N args: [...]>` on stderr, and N is `None` when the
# runtime outlived the container's last output (udocker stops polling the runtime when the
# pty reports EIO). Exit statuses are checked in a terminal (check_exit_code).
udocker_run() {
  local out
  out=$(U run "$CNAME" "$@" 2>/dev/null)
  printf '%s\n' "${out//$'\r'/}"
}

check_run_echo() {
  want_eq "output" hi "$(udocker_run echo hi)"
}

# In a terminal (`script`), udocker sets process.terminal and returns the runtime's status.
check_exit_code() {
  local out rc=0
  out=$(UT "run $CNAME sh -c 'tty; exit 3'") || rc=$?
  # Without the terminal's CRs and the `^@` it echoes (before or after the output: `script`
  # forwards its stdin's end to the terminal, with both runc and kiln).
  out=$(tr -d '\r\0' <<<"$out" | sed 's/\^@//g' | grep -v '^$')
  want_match "output in a terminal" '^/dev/pts/[0-9]+$' "$out"
  want_eq "exit status in a terminal" 3 "$rc"
  want_status "udocker run true, in a terminal" 0 UT "run $CNAME true"
}

check_uid_mapping() {
  local out
  out=$(udocker_run sh -c 'id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map')
  out=$(tr -s ' ' <<<"$out" | sed 's/^ //')
  want_eq "ids and maps" $'0\n0\n'"0 $TEST_UID 1"$'\n'"0 $TEST_GID 1" "$out"
}

# runtime_container_id — the container id udocker gave the runtime: the last argument of its
# `<runtime> --root $CDIR run --bundle $CDIR ID` process.
runtime_container_id() {
  local pid args
  for pid in $(pids_naming "$CDIR"); do
    mapfile -d '' -t args <"/proc/$pid/cmdline" 2>/dev/null || continue
    if [[ ${args[1]:-} == --root && ${args[2]:-} == "$CDIR" && ${args[3]:-} == run ]]; then
      echo "${args[-1]}"
      return 0
    fi
  done
  return 1
}

check_running_container() {
  local id pid state
  rm -f "$CDIR/ROOT/tmp/stop"
  start_daemon "$T/udocker-running.log" "${UD[@]}" run "$CNAME" \
    sh -c 'while [ ! -e /tmp/stop ]; do sleep 0.1; done; echo stopped'
  poll "the runtime's run process" runtime_container_id
  id=$(runtime_container_id)
  # udocker gives the runtime --root <the udocker container's directory>.
  poll "container $id running" want_runtime_state "$CDIR" "$id" running
  state=$(guard "$RUNTIME" --root "$CDIR" state "$id")
  [[ $state =~ \"pid\":\ ?([0-9]+) ]] && pid=${BASH_REMATCH[1]}
  want_match "init pid" '^[1-9][0-9]*$' "${pid:-}"
  want_eq "host uid of the init (container root is the account)" "$TEST_UID" \
    "$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")"
  # The rootfs is a plain directory of the account: stop the loop from the host.
  touch "$CDIR/ROOT/tmp/stop"
  poll "udocker run to return" sh -c "! kill -0 ${DAEMON_PIDS[-1]} 2>/dev/null"
  want_match "output" $'^stopped\r?\n' "$(<"$T/udocker-running.log")"
  if kill -0 "$pid" 2>/dev/null; then
    echo "init $pid still alive"
    return 1
  fi
  # `run` deleted the container.
  poll "container $id deleted" sh -c "! $(printf '%q ' "$RUNTIME") --root $(printf '%q' "$CDIR") state $id"
}

make_busybox_tar "$T/busybox.tar" || exit 2
if ! out=$(U import "$T/busybox.tar" "$IMG" 2>&1) ||
  ! CID=$(U create --name="$CNAME" "$IMG" 2>&1) ||
  ! out=$(U setup --execmode=R1 "$CNAME" 2>&1); then
  echo "udocker import/create/setup failed: ${CID:-} $out"
  exit 2
fi
CDIR=$TEST_DIR/udocker/containers/$CID
if [[ ! -d $CDIR/ROOT || $(<"$CDIR/execmode") != R1 ]]; then
  echo "udocker container $CID: no $CDIR/ROOT or execution mode not R1"
  exit 2
fi

check run-echo check_run_echo
check exit-code-3 check_exit_code
check uid-0-is-the-account check_uid_mapping
check running-container check_running_container
finish
