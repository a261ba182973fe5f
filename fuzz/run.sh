#!/usr/bin/env bash
# Fuzzes kiln's parsers of outside input: builds every target in
# fuzz/fuzz_targets once (release, debug assertions on, so an arithmetic
# overflow is a crash too), then runs each for SECONDS (default 30) on a
# scratch copy of its seed corpus fuzz/corpus/<target> (the repository is
# not modified). Stops at the first crash, naming the crash file and the
# command that reproduces it, unless --keep-going.
#
#   fuzz/run.sh [--keep-going] [--keep-corpus DIR] [SECONDS] [TARGET...]
#
# --keep-corpus DIR keeps each target's grown corpus in DIR/<target>.
# Crash files go to fuzz/artifacts/<target>/ (not tracked by git).
# Ends with one line per target (executions, exec/s, libFuzzer's cov and
# ft, result), then `N targets fuzzed, M crashed`; exits 1 if any crashed.
set -euo pipefail

keep_going=0
keep_corpus=
while (($#)); do
  case $1 in
    --keep-going) keep_going=1; shift ;;
    --keep-corpus) keep_corpus=$2; shift 2 ;;
    -h|--help) sed -n '2,16s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) break ;;
  esac
done
seconds=${1:-30}
shift $(($# > 0 ? 1 : 0))
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: SECONDS must be a positive number, got '$seconds'" >&2; exit 2; }

fuzz_dir=$(cd "$(dirname "$0")" && pwd)
cd "$fuzz_dir/.."

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: 'cargo +nightly' is not available; cargo-fuzz needs a nightly toolchain" >&2
  echo "fuzz: install one with: rustup toolchain install nightly" >&2
  exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: cargo-fuzz is missing; installing it (cargo install --locked cargo-fuzz)"
  cargo install --locked cargo-fuzz
fi

if (($#)); then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
# One target named: build just it; otherwise all of them, in one cargo run.
build_only=()
if ((${#targets[@]} == 1)); then
  build_only=("${targets[0]}")
fi
echo "fuzz: building ${build_only[*]:-all targets}"
cargo +nightly fuzz build -O --debug-assertions "${build_only[@]}"
bin_dir=$fuzz_dir/target/$triple/release

scratch=$(mktemp -d "${TMPDIR:-/tmp}/kiln-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# /dev/shm if it is a writable directory, else $1.
shm_or() {
  if [[ -d /dev/shm && -w /dev/shm ]]; then echo /dev/shm; else echo "$1"; fi
}

summary=()
fuzzed=0
crashed=0
for t in "${targets[@]}"; do
  work=$scratch/$t
  mkdir -p "$work/corpus" "$fuzz_dir/artifacts/$t"
  if [[ -d $fuzz_dir/corpus/$t ]]; then
    cp -r "$fuzz_dir/corpus/$t/." "$work/corpus/"
  fi
  echo "fuzz: $t for ${seconds}s"
  # Targets that need files (cgroup_stats) make them under TMPDIR: in memory
  # if /dev/shm is there (five times the executions of a disk).
  files=$(mktemp -d "$(shm_or "$work")/kiln-fuzz-files.XXXXXX")
  rc=0
  (cd "$work" && TMPDIR=$files "$bin_dir/$t" corpus -max_total_time="$seconds" \
    -timeout=10 -print_final_stats=1 -artifact_prefix="$fuzz_dir/artifacts/$t/" \
    >"$work/log" 2>&1) || rc=$?
  rm -rf "$files"
  fuzzed=$((fuzzed + 1))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -1)
  last=$(grep -E '^#[0-9]+.*cov: ' "$work/log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  if [[ -n $keep_corpus ]]; then
    mkdir -p "$keep_corpus/$t"
    cp -r "$work/corpus/." "$keep_corpus/$t/"
  fi
  result=ok
  if ((rc != 0)); then
    crashed=$((crashed + 1))
    result=CRASHED
    crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$work/log" | tail -1)
    echo "fuzz: $t failed (libFuzzer exit status $rc):" >&2
    { grep -m1 -A8 -E 'panicked at|==[0-9]+==ERROR|ERROR: libFuzzer' "$work/log" || tail -20 "$work/log"
      grep '^SUMMARY' "$work/log" || true; } | cut -c1-2000 >&2
    echo "fuzz: crash file: ${crash:-none written}" >&2
    echo "fuzz: reproduce: cargo +nightly fuzz run -O --debug-assertions $t ${crash:-}" >&2
  fi
  summary+=("$(printf '%-18s %12s %8s %7s %7s  %s' "$t" "${runs:--}" "${speed:--}" "${cov:--}" "${ft:--}" "$result")")
  if ((rc != 0 && !keep_going)); then
    break
  fi
done

printf '%-18s %12s %8s %7s %7s  %s\n' target executions exec/s cov ft result
printf '%s\n' "${summary[@]}"
echo "$fuzzed targets fuzzed, $crashed crashed"
((crashed == 0))
