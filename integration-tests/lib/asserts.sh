# shellcheck shell=bash
# asserts.sh: the summary line, the assertions and the poll shared by the engine tests (engines/) and the
# systemd VM's scripts (systemd-vm/): sourced, not run. The sourcing script keeps the counters
# PASSED and FAILED (its own `check` prints each result in its format).

# finish — the summary line; the exit status says whether every check passed.
finish() {
  echo "$PASSED passed, $FAILED failed"
  ((FAILED == 0))
}

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

# poll_for SECONDS WHAT CMD... — retries CMD (quietly) every 0.1 s until it succeeds or SECONDS
# pass; on giving up says so and runs CMD once more with its output shown.
poll_for() {
  local secs=$1 what=$2 i
  shift 2
  for ((i = 0; i < secs * 10; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "gave up after ${secs}s waiting for $what"
  "$@"
  return 1
}
