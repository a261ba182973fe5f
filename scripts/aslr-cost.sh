#!/usr/bin/env bash
# What ASLR for kiln's own code would cost: builds kiln as a static-pie with packed relative
# relocations (DT_RELR) beside the normal non-PIE build and measures both side by side
# (paired exec times of `kiln --version`, page faults and CPU from perf stat).
# usage: scripts/aslr-cost.sh [N=3000]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-3000}
cargo build --release -p kiln
RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=pie -C link-arg=-Wl,-z,pack-relative-relocs" \
  cargo build --release -p kiln --target-dir target/aslr
pie=target/aslr/x86_64-unknown-linux-gnu/release/kiln
fixed=target/x86_64-unknown-linux-gnu/release/kiln
file "$pie" "$fixed" | sed 's/, BuildID.*//'
readelf -d "$pie" | grep -E 'RELRSZ|RELASZ' || true
for b in "$pie" "$fixed"; do
  echo "$b:"
  perf stat -r 300 -e page-faults,task-clock "$b" --version 2>&1 >/dev/null | grep -E 'page-faults|task-clock|elapsed' || true
done
./scripts/exec-cost.py "$pie" "$fixed" "$n"
