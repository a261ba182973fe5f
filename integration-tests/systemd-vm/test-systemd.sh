#!/usr/bin/env bash
# test-systemd.sh: `make test-systemd`. Boots the systemd VM (run.sh) and runs smoke.sh in it,
# with the kiln binary given as $1 (optional) copied in. The output ends with the line
# `N passed, N failed`, also when the VM itself failed (then counted as one failure).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
args=(--copy "$here/smoke.sh")
envs=()
if [[ -n ${1:-} ]]; then
  kiln=$(realpath "$1")
  [[ -x $kiln ]] || { echo "test-systemd: $1 is not an executable"; echo "0 passed, 1 failed"; exit 1; }
  args+=(--copy "$kiln"); envs+=(KILN_BIN="$kiln")
fi
out=$(mktemp /tmp/kiln-test-systemd.XXXXXX)
trap 'rm -f "$out"' EXIT
"$here/run.sh" "${args[@]}" -- env "${envs[@]}" bash "$here/smoke.sh" | tee "$out"
rc=${PIPESTATUS[0]}
if ! tail -n 1 "$out" | grep -qE '^[0-9]+ passed, [0-9]+ failed$'; then
  echo "test-systemd: the VM run ended without a summary (run.sh exit $rc)"
  echo "0 passed, 1 failed"
  exit 1
fi
exit "$rc"
