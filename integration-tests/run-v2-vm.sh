#!/usr/bin/env bash
# Runs kiln end to end on a pure cgroup v2 host: the `lifecycle`, `cgroup_v2` and `events`
# integration tests, the delegated-subtree rootless test, with the kiln binary, and the library's
# embedding test (a tokio program), inside the VM of ../shared/tools/v2vm.
# Usage: integration-tests/run-v2-vm.sh [extra test-harness args]
set -euo pipefail
top=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
v2vm="$top/../shared/tools/v2vm"
[[ -x $v2vm ]] || { echo "run-v2-vm: $v2vm not found" >&2; exit 1; }
cd "$top"
cargo build -p kiln
kiln=$(cargo build -p kiln --message-format=json 2>/dev/null \
  | grep '"reason":"compiler-artifact"' | grep '"executable":"[^"]*/kiln"' \
  | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
[[ -x $kiln ]] || { echo "run-v2-vm: kiln binary not found" >&2; exit 1; }
# Each test binary, with a name filter: the rootless tests that need an account, /etc/subuid
# and newuidmap cannot run in the VM (no useradd there); the delegated-v2 one can.
declare -A filters=([lifecycle]="" [cgroup_v2]="" [events]="" [rootless]="rootless_v2")
bins=() runs=()
for t in lifecycle cgroup_v2 events rootless; do
  b=$(cargo test -p kiln-integration-tests --test "$t" --no-run --message-format=json 2>/dev/null \
    | grep '"reason":"compiler-artifact"' | grep "\"name\":\"$t\"" \
    | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
  [[ -x $b ]] || { echo "run-v2-vm: test binary $t not found" >&2; exit 1; }
  bins+=("$b")
  runs+=("echo '== $b'; '$b' --test-threads=1 ${filters[$t]} \"\$@\"")
done
# The library embedded in a tokio program (libcontainer/tests/embed.rs, its own harness).
embed=$(cargo test -p kiln-libcontainer --test embed --no-run --message-format=json 2>/dev/null \
  | grep '"reason":"compiler-artifact"' | grep '"name":"embed"' \
  | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
[[ -x $embed ]] || { echo "run-v2-vm: test binary embed not found" >&2; exit 1; }
bins+=("$embed")
runs+=("echo '== $embed'; '$embed'")
script="set -e; $(printf '%s; ' "${runs[@]}")"
copies=(--copy "$kiln")
for b in "${bins[@]}"; do copies+=(--copy "$b"); done
echo "run-v2-vm: kiln $kiln with ${#bins[@]} test binaries in the v2 VM" >&2
exec "$v2vm" --timeout 1200 "${copies[@]}" -- \
  env KILN_BIN="$kiln" KILN_REQUIRE_V2=1 RUST_BACKTRACE=1 sh -c "$script" sh "$@"
