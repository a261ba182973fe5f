#!/usr/bin/env bash
# Builds kiln-cgroups' v2 test binary and runs its `v2_*` tests (marked #[ignore] because the
# development host is hybrid) as root in the pure cgroup v2 VM provided by ../shared/tools/v2vm.
# Usage: cgroups/tests/run-v2-vm.sh [extra test-harness args, e.g. a test name filter]
set -euo pipefail
top=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
v2vm="$top/../shared/tools/v2vm"
[[ -x $v2vm ]] || { echo "run-v2-vm: $v2vm not found" >&2; exit 1; }
cd "$top"

# The executable of the `v2` integration test target, from cargo's JSON build messages.
testbin=$(cargo test -p kiln-cgroups --test v2 --no-run --message-format=json 2>/dev/null \
  | grep '"reason":"compiler-artifact"' \
  | grep '"name":"v2"' \
  | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
[[ -n $testbin && -x $testbin ]] || { echo "run-v2-vm: could not build/find the v2 test binary" >&2; exit 1; }
echo "run-v2-vm: running $testbin in the v2 VM" >&2

# KILN_REQUIRE_V2 makes the tests fail (rather than skip) if the VM is not pure v2.
exec "$v2vm" --timeout 1200 --copy "$testbin" -- \
  env KILN_REQUIRE_V2=1 RUST_BACKTRACE=1 "$testbin" --ignored v2_ --test-threads=1 "$@"
