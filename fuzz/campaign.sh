#!/usr/bin/env bash
# The long fuzzing campaign: every target for MINUTES (default 10) in turn,
# carrying on past a crash, then one line per target (executions, exec/s,
# libFuzzer's cov and ft, ok/CRASHED) and `N targets fuzzed, M crashed`.
#
#   fuzz/campaign.sh [MINUTES] [TARGET...]
#
# Each target's grown corpus is kept in fuzz/target/campaign-corpus/<target>
# (not tracked: copy interesting inputs into fuzz/corpus/<target> by hand);
# crash files go to fuzz/artifacts/<target>/. With the default, 11 targets
# take about two hours. Exits 1 if any target crashed.
set -euo pipefail
minutes=${1:-10}
shift $(($# > 0 ? 1 : 0))
[[ $minutes =~ ^[1-9][0-9]*$ ]] || { echo "campaign: MINUTES must be a positive number, got '$minutes'" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
start=$(date +%s)
rc=0
"$here/run.sh" --keep-going --keep-corpus "$here/target/campaign-corpus" \
  $((minutes * 60)) "$@" || rc=$?
echo "campaign: $minutes min per target, $(( ($(date +%s) - start) / 60 )) min in all"
exit "$rc"
