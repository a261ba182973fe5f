#!/usr/bin/env bash
# Runs kiln-cgroups' systemd tests (cgroups/tests/systemd.rs, #[ignore]d elsewhere) under systemd
# as PID 1 in the VM of run.sh. Extra arguments go to the test harness (e.g. a name filter);
# `--path` builds the test binary and prints its path instead.
set -euo pipefail
top=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$top"
bin=$(cargo test -p kiln-cgroups --test systemd --no-run --message-format=json 2>/dev/null \
  | grep '"reason":"compiler-artifact"' | grep '"name":"systemd"' \
  | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
[[ -x $bin ]] || { echo "run-cgroups-tests: test binary not found" >&2; exit 1; }
# --path: only build it and print its path (make test-systemd gives it to test-systemd.sh)
[[ ${1:-} == --path ]] && { echo "$bin"; exit 0; }
exec "$top/integration-tests/systemd-vm/run.sh" --copy "$bin" -- "$bin" --ignored --test-threads=1 "$@"
