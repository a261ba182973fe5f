#!/usr/bin/env bash
# Compares a run of runc's integration suite (results.txt of ../shared/conformance/run-runc-suite)
# with the expected results kept here (expected.txt).
#
#   check.sh EXPECTED RESULTS
#
# expected.txt: one test per line, "STATUS<TAB>file<TAB>test name[<TAB># reason]", STATUS ok,
# fail, skip or flaky (either way). Every fail/skip/flaky line carries a reason:
# "# host: …" (this machine lacks it), "# helper: …" (one of runc's Go test helpers, not
# built), "# runc-newer: …" (a feature of a newer runc), "# flaky: …", "# suite: …" (the suite
# itself skips it in this mode, e.g. `requires root` in a rootless run) or "# kiln: …" (kiln
# lacks it: what and why it is left). Lines starting with # are comments.
#
# Exit 1 when a test expected to pass did not (a regression), or when a test is missing from the
# run (its file timed out or the suite changed). Newly passing tests and tests not listed are
# printed so that expected.txt gets updated, but do not fail.
#
# One failure is the harness's, not the runtime's: the suite runs each file under script(1),
# which puts a NUL byte into the terminal's input once; the first test of a file that runs a
# container in the foreground on that terminal may echo it (`^@`) ahead of the output it checks
# (runc is hit the same way). A failed test whose output (OUTDIR/<file>.tap beside RESULTS)
# shows that byte is reported as HARNESS and not counted.
set -euo pipefail
expected=${1:?usage: check.sh EXPECTED RESULTS}
results=${2:?usage: check.sh EXPECTED RESULTS}
[[ -s $results ]] || { echo "runc-suite: $results is empty: the suite did not run" >&2; exit 1; }
tapdir=$(dirname "$results")
failed=$(mktemp)
trap 'rm -f "$failed"' EXIT
gawk -F '\t' -v failed="$failed" '
  { sub(/\r$/, "") }  # the suite runs under script(1): CRLF line ends
  FNR == NR {
    if ($0 ~ /^#/ || $0 ~ /^[[:space:]]*$/) next
    key = $2 "\t" $3
    want[key] = $1
    if ($1 != "ok" && $4 !~ /^# (host|helper|runc-newer|kiln|flaky|suite): /) {
      printf "runc-suite: expected.txt line %d has no reason: %s\n", FNR, $0; bad++
    }
    next
  }
  {
    key = $2 "\t" $3; got = $1; seen[key] = 1; n[got]++
    if (!(key in want)) { printf "NEW (not in expected.txt): %s\t%s\n", got, key; next }
    w = want[key]
    if (w == "flaky" || w == got) next
    if (w == "ok") print key > failed
    else if (got == "ok") printf "NOW PASSES (update expected.txt): %s\n", key
    else printf "CHANGED (%s -> %s): %s\n", w, got, key
  }
  END {
    for (k in want) if (!(k in seen)) {
      if (want[k] == "ok") { printf "MISSING (expected ok): %s\n", k; bad++ }
      else printf "missing (expected %s): %s\n", want[k], k
    }
    printf "%d ok, %d not ok, %d skipped\n", n["ok"], n["fail"], n["skip"] > "/dev/stderr"
    exit bad > 0
  }' "$expected" "$results" 2>"$failed.counts" && bad=0 || bad=1
counts=$(cat "$failed.counts"); rm -f "$failed.counts"
regressions=0
while IFS=$'\t' read -r file name; do
  [[ -n $file ]] || continue
  # The test's block in its TAP file: from its "not ok" line to the next test line.
  # A rootless run's file is "<features>/<file>", its TAP rootless-<file>.tap (all feature sets).
  tap=$tapdir/$file.tap
  [[ $file == */* ]] && tap=$tapdir/rootless-${file#*/}.tap
  block=$(gawk -v name="$name" '
    { sub(/\r$/, "") }
    /^(not )?ok [0-9]+ / { n = $0; inside = sub(/^not ok [0-9]+ /, "", n) && n == name }
    inside' "$tap" 2>/dev/null || true)
  if grep -qF '^@' <<<"$block"; then
    printf 'HARNESS (a NUL from script(1) in the terminal, not counted): fail\t%s\t%s\n' "$file" "$name"
  else
    printf 'REGRESSION (expected ok): fail\t%s\t%s\n' "$file" "$name"
    regressions=$((regressions + 1))
  fi
done <"$failed"
echo "runc-suite: $counts; $((regressions + bad)) regressions against expected.txt"
((regressions + bad == 0))
