#!/usr/bin/env bash
# test-systemd.sh: `make test-systemd`. Boots the systemd VM once (run.sh --engines) and runs
# in it smoke.sh (systemd itself, Debian's runc), driver.sh (the runtime under test with
# --systemd-cgroup) and engines.sh (podman and containerd driving it). The output ends with
# one line `N passed, M failed` summing the three scripts' summaries; a script (or the VM)
# that ends without its summary counts as one failure.
#
# With kiln as the runtime under test, also faults.sh (create killed at each step; kiln's fail
# points) and, given --cgroups-test, kiln-cgroups' own systemd tests (lib-tests.sh); with any
# runtime, rootless.sh (an unprivileged user's systemd instance) and, with the engines,
# podman-rootless.sh (rootless podman with its default systemd cgroup manager).
#
# usage: test-systemd.sh [--runtime runc|kiln|PATH] [--no-engines] [--cgroups-test BIN] [KILN]
#   KILN        the kiln binary (copied into the VM; smoke.sh runs its --version)
#   --runtime   the runtime under test: `kiln` (KILN; the default when KILN is given), `runc`
#               (Debian's /usr/sbin/runc in the VM; the default otherwise), or a PATH (copied in)
#   --no-engines  smoke.sh and driver.sh only, in the plain image (boots faster)
# Environment passed on to the scripts: DEFAULT_PREFIX, DUP_CGROUP (driver.sh), DRIVER_TESTS,
# ENGINE_TESTS, HANG.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
runtime='' kiln='' engines=1 cgroups_test=''
while [[ $# -gt 0 ]]; do
  case $1 in
    --runtime) runtime=${2:-}; shift 2 ;;
    --no-engines) engines=0; shift ;;
    --cgroups-test) cgroups_test=${2:-}; shift 2 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    -*) echo "test-systemd: unknown option $1"; echo "0 passed, 1 failed"; exit 1 ;;
    *) kiln=$1; shift ;;
  esac
done
fail() { echo "test-systemd: $*"; echo "0 passed, 1 failed"; exit 1; }

args=(--copy "$here" --copy "$(cd "$here/../lib" && pwd)") envs=()
if [[ -n $kiln ]]; then
  [[ -x $kiln ]] || fail "$kiln is not an executable"
  kiln=$(realpath "$kiln")
  args+=(--copy "$kiln") envs+=(KILN_BIN="$kiln")
fi
case ${runtime:-$([[ -n $kiln ]] && echo kiln || echo runc)} in
  runc) rt=/usr/sbin/runc ;;
  kiln) [[ -n $kiln ]] || fail "--runtime kiln needs the kiln binary as argument"; rt=$kiln ;;
  *)
    [[ -x $runtime ]] || fail "--runtime $runtime: not runc, kiln or an executable"
    rt=$(realpath "$runtime")
    [[ $rt == "$kiln" ]] || args+=(--copy "$rt")
    ;;
esac
envs+=(RUNTIME="$rt")
for v in DEFAULT_PREFIX DUP_CGROUP SWAP_AFTER_UPDATE DRIVER_TESTS ENGINE_TESTS HANG; do
  [[ -n ${!v:-} ]] && envs+=("$v=${!v}")
done
scripts=(smoke driver rootless)
if ((engines)); then scripts+=(engines podman-rootless); args+=(--engines); fi
if [[ $rt == "$kiln" ]]; then scripts+=(faults); fi
if [[ -n $cgroups_test ]]; then
  [[ -x $cgroups_test ]] || fail "--cgroups-test $cgroups_test is not an executable"
  cgroups_test=$(realpath "$cgroups_test")
  args+=(--copy "$cgroups_test") envs+=(CGROUPS_TEST="$cgroups_test") scripts+=(lib-tests)
fi

out=$(mktemp /tmp/kiln-test-systemd.XXXXXX)
trap 'rm -f "$out"' EXIT
echo "test-systemd: runtime under test $rt; ${scripts[*]} in one VM boot${kiln:+; kiln $kiln}"
start=$SECONDS
# (in the VM: each script in turn, a header before each; the exit status is the VM's)
# shellcheck disable=SC2016 # (the bash -c script expands in the VM)
"$here/run.sh" --timeout 540 "${args[@]}" -- env "${envs[@]}" bash -c \
  'for s in "${@:2}"; do echo "=== $s.sh"; bash "$1/$s.sh"; done' _ "$here" "${scripts[@]}" |
  tee "$out"
rc=${PIPESTATUS[0]}
echo "test-systemd: the VM run took $((SECONDS - start)) s (run.sh exit $rc)"

passed=0 failed=0 seen=0
while read -r p _ f _; do
  passed=$((passed + p)) failed=$((failed + f)) seen=$((seen + 1))
done < <(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out")
if ((seen < ${#scripts[@]})); then
  echo "test-systemd: $((${#scripts[@]} - seen)) of ${#scripts[@]} scripts ended without a summary"
  failed=$((failed + ${#scripts[@]} - seen))
fi
echo "$passed passed, $failed failed"
((failed == 0))
