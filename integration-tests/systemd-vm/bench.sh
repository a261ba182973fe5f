#!/usr/bin/env bash
# bench.sh: what the systemd driver costs, in the systemd VM. For each runtime (kiln, runc)
# and driver (cgroupfs, systemd), interleaved round by round: `create` and `delete` of a
# busybox container (`sleep`), timed separately, plus a whole create-start-kill-delete.
# Prints medians per runtime/driver and the systemd/cgroupfs and runc/kiln ratios.
# Usage (in the VM): KILN_BIN=/path/kiln bash bench.sh [ROUNDS]
# The CPU is emulated (TCG): compare ratios from one run, never absolute times.
set -uo pipefail
K=${KILN_BIN:?KILN_BIN must name the kiln binary}
R=${RUNC_BIN:-/usr/sbin/runc}
ROUNDS=${1:-20}
T=$(mktemp -d /tmp/kiln-bench.XXXXXX)
trap 'for r in "$K" "$R"; do for id in $("$r" --root "$T/root-$(basename "$r")" list -q 2>/dev/null); do "$r" --root "$T/root-$(basename "$r")" delete -f "$id"; done; done; rm -rf "$T"' EXIT
B=$T/bundle
mkdir -p "$B/rootfs/bin" "$B/rootfs/proc"
cp /bin/busybox "$B/rootfs/bin/busybox"
ln -s busybox "$B/rootfs/bin/sleep"

config() { # config CGROUPS_PATH
  cat >"$B/config.json" <<JSON
{
  "ociVersion": "1.0.2",
  "process": {"user": {"uid": 0, "gid": 0}, "args": ["sleep", "100"], "env": ["PATH=/bin"], "cwd": "/"},
  "root": {"path": "rootfs", "readonly": true},
  "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
  "linux": {
    "cgroupsPath": "$1",
    "resources": {"memory": {"limit": 67108864}, "pids": {"limit": 32}, "cpu": {"shares": 512}},
    "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}]
  }
}
JSON
}

now() { date +%s%N; }
declare -A samples
# one RUNTIME DRIVER ID: appends create, delete and lifecycle ms to samples.
one() {
  local rt=$1 driver=$2 id=$3 flags=() root t0 t1 t2 t3
  root=$T/root-$(basename "$rt")
  if [[ $driver == systemd ]]; then flags=(--systemd-cgroup); config "system.slice:bench:$id"
  else config "/bench/$id"; fi
  t0=$(now)
  "$rt" --root "$root" "${flags[@]}" create --bundle "$B" "$id" </dev/null >/dev/null 2>&1 || { echo "create failed: $rt $driver" >&2; return 1; }
  t1=$(now)
  "$rt" --root "$root" start "$id" && "$rt" --root "$root" kill "$id" KILL
  for _ in $(seq 100); do "$rt" --root "$root" state "$id" 2>/dev/null | grep -q '"stopped"' && break; sleep 0.01; done
  t2=$(now)
  "$rt" --root "$root" "${flags[@]}" delete "$id" >/dev/null 2>&1 || { echo "delete failed: $rt $driver" >&2; return 1; }
  t3=$(now)
  local key="$(basename "$rt") $driver"
  samples["$key create"]+="$(( (t1 - t0) / 1000 )) "
  samples["$key delete"]+="$(( (t3 - t2) / 1000 )) "
  samples["$key lifecycle"]+="$(( (t3 - t0) / 1000 )) "
}

median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2) / 1000}'; }

for i in $(seq "$ROUNDS"); do
  for rt in "$K" "$R"; do for d in cgroupfs systemd; do one "$rt" "$d" "b$i-$d" || exit 1; done; done
done
printf '%-22s %10s %10s %10s\n' "median ms ($ROUNDS rounds)" create delete lifecycle
declare -A med
for rt in "$K" "$R"; do for d in cgroupfs systemd; do
  key="$(basename "$rt") $d"
  for op in create delete lifecycle; do med["$key $op"]=$(echo "${samples["$key $op"]}" | median); done
  printf '%-22s %10s %10s %10s\n' "$key" "${med["$key create"]}" "${med["$key delete"]}" "${med["$key lifecycle"]}"
done; done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
for op in create delete lifecycle; do
  k=$(basename "$K") r=$(basename "$R")
  echo "$op: systemd/cgroupfs kiln $(ratio "${med["$k systemd $op"]}" "${med["$k cgroupfs $op"]}")," \
    "runc $(ratio "${med["$r systemd $op"]}" "${med["$r cgroupfs $op"]}");" \
    "runc/kiln with systemd $(ratio "${med["$r systemd $op"]}" "${med["$k systemd $op"]}")"
done
