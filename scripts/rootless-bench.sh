#!/usr/bin/env bash
# rootless-bench.sh: rootless lifecycle latency of runtimes side by side, as an unprivileged
# user (the root benchmark is ../shared/bench/lifecycle; this is its rootless counterpart).
#
#   scripts/rootless-bench.sh [--runs N] NAME=BINARY [NAME=BINARY ...]
#   e.g. scripts/rootless-bench.sh kiln=target/x86_64-unknown-linux-gnu/release/kiln runc=/usr/sbin/runc
#
# Makes the system account kiln-bench-rl (removed at exit), a busybox bundle with runc's
# `spec --rootless` changes (own uid/gid mapped to 0, no network namespace, /sys bound, no
# resources, so no cgroup), and times with hyperfine, interleaved, as that user:
#   run   `R run ID` of /bin/true (create, start, wait, delete)
#   c-s-d `R create ID && R start ID && R delete -f ID`
#   exec  `R exec ID /bin/true` into a running sleep container
# Prints medians and each runtime's ratio to the first. Run as root; nothing else heavy meanwhile.
set -euo pipefail
runs=40
[[ ${1:-} == --runs ]] && { runs=$2; shift 2; }
[[ $# -gt 0 ]] || { sed -n '2,14p' "$0"; exit 2; }
command -v hyperfine >/dev/null || { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null; }
user=kiln-bench-rl
names=() bins=()
for p in "$@"; do names+=("${p%%=*}"); bins+=("$(realpath "${p#*=}")"); done
work=$(mktemp -d /tmp/rootless-bench.XXXXXX)
made_user=
as_user() { setpriv --reuid="$user" --regid="$user" --clear-groups env -u XDG_RUNTIME_DIR HOME="$work" "$@"; }
cleanup() {
  for i in "${!bins[@]}"; do
    for id in $(ls "$work/state-$i" 2>/dev/null); do as_user "${bins[$i]}" --root "$work/state-$i" delete -f "$id" >/dev/null 2>&1 || true; done
  done
  rm -rf "$work"
  [[ -n $made_user ]] && userdel "$user"
  return 0
}
trap cleanup EXIT
if ! id "$user" >/dev/null 2>&1; then
  useradd --system --no-create-home --user-group --shell /usr/sbin/nologin "$user"
  made_user=1
fi
uid=$(id -u "$user") gid=$(id -g "$user")
here=$(cd "$(dirname "$0")" && pwd)
"$here/../../shared/tools/mkbundle" "$work/bundle" /bin/true
jq --argjson u "$uid" --argjson g "$gid" '
  del(.linux.resources) | del(.linux.cgroupsPath)
  | .linux.namespaces |= (map(select(.type != "network" and .type != "user")) + [{"type": "user"}])
  | .linux.uidMappings = [{"containerID": 0, "hostID": $u, "size": 1}]
  | .linux.gidMappings = [{"containerID": 0, "hostID": $g, "size": 1}]
  | .mounts |= map(if .destination == "/sys" then {"destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]} else . end)
  | .mounts |= map(if .options then .options |= map(select(startswith("gid=") | not)) else . end)' \
  "$work/bundle/config.json" >"$work/c" && mv "$work/c" "$work/bundle/config.json"
cp -a "$work/bundle" "$work/sleeper"
jq '.process.args = ["/bin/sleep", "1000"]' "$work/bundle/config.json" >"$work/sleeper/config.json"
chown -R "$uid:$gid" "$work"
run_pairs=() csd_pairs=() exec_pairs=()
for i in "${!bins[@]}"; do
  b=${bins[$i]} s=$work/state-$i
  run_pairs+=(-n "${names[$i]}" "$b --root $s run rb-run-$i")
  csd_pairs+=(-n "${names[$i]}" "sh -c '$b --root $s create rb-csd-$i && $b --root $s start rb-csd-$i && $b --root $s delete -f rb-csd-$i'")
  (cd "$work/sleeper" && as_user "$b" --root "$s" run -d "rb-sleep-$i" >/dev/null 2>&1 </dev/null) || echo "${names[$i]}: could not start the exec target" >&2
  exec_pairs+=(-n "${names[$i]}" "$b --root $s exec rb-sleep-$i /bin/true")
done
cd "$work/bundle"
for scen in run c-s-d exec; do
  case $scen in run) pairs=("${run_pairs[@]}") ;; c-s-d) pairs=("${csd_pairs[@]}") ;; exec) pairs=("${exec_pairs[@]}") ;; esac
  as_user hyperfine -N -w 3 -r "$runs" -i --export-json "$work/$scen.json" "${pairs[@]}" >/dev/null 2>&1 || true
  printf '%-6s' "$scen"
  jq -r '.results as $r | [$r[] | .median * 1000] as $m | [range(0; $m | length)]
         | map("\($r[.].command): \($m[.] * 100 | round / 100) ms (\($m[.] / $m[0] * 100 | round / 100)x)" + (if ([$r[.].exit_codes[] | select(. != 0)] | length) > 0 then " !" else "" end))
         | join("   ")' "$work/$scen.json"
done
echo "medians; (Nx) = this runtime / ${names[0]}; ! = some runs exited non-zero"
