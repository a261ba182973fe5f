# shellcheck shell=bash
# asserts.sh: the summary line and the assertions shared by the engine tests (engines/) and the
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
