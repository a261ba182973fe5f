#!/usr/bin/env bash
# lib-tests.sh: kiln-cgroups' systemd tests (cgroups/tests/systemd.rs, #[ignore]d elsewhere: the
# D-Bus client and the Manager driving a scope through its life) under systemd in the VM, with
# the harness's result as `N passed, M failed`. CGROUPS_TEST names the test binary.
set -uo pipefail
bin=${CGROUPS_TEST:?CGROUPS_TEST must name the kiln-cgroups systemd test binary}
out=$(mktemp)
"$bin" --ignored --test-threads=1 2>&1 | tee "$out"
line=$(grep -E '^test result: ' "$out" | tail -n 1)
rm -f "$out"
passed=$(sed -n 's/.* \([0-9]*\) passed;.*/\1/p' <<<"$line")
failed=$(sed -n 's/.* \([0-9]*\) failed;.*/\1/p' <<<"$line")
[[ -n $passed && -n $failed ]] || { echo "lib-tests: no test result from $bin"; echo "0 passed, 1 failed"; exit 1; }
echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
