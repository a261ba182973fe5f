#!/usr/bin/env bash
# Soak (issue #9, outside CI): WORKERS workers each create a container, exec into it twice,
# start it, kill and delete it, for SECONDS; the host's fds, memory, cgroups, mounts and
# processes are sampled before and after, and any failure is counted.
# usage: integration-tests/soak.sh [KILN_BINARY] [SECONDS=600] [WORKERS=2]
set -euo pipefail
kiln=$(realpath "${1:-target/x86_64-unknown-linux-gnu/release/kiln}")
seconds=${2:-600}
workers=${3:-2}
[[ $EUID -eq 0 ]] || { echo "soak: needs root" >&2; exit 1; }
work=$(mktemp -d /tmp/kiln-soak.XXXXXX)
root=$work/state
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for d in "$root"/*/; do
    [[ -d $d ]] && "$kiln" --root "$root" delete -f "$(basename "$d")" >/dev/null 2>&1 || true
  done
  for c in /sys/fs/cgroup/*/kiln-soak /sys/fs/cgroup/unified/kiln-soak; do
    [[ -d $c ]] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/bundle/rootfs"/{bin,proc,sys,dev,tmp,etc}
cp "$(command -v busybox)" "$work/bundle/rootfs/bin/busybox"
for applet in sh sleep true cat; do ln -s busybox "$work/bundle/rootfs/bin/$applet"; done
(cd "$work/bundle" && "$kiln" spec && jq '.process.terminal = false
  | .process.args = ["sleep", "1000"]
  | .linux.resources = {"memory": {"limit": 67108864}, "pids": {"limit": 100}}' \
  config.json > config.tmp && mv config.tmp config.json)

# One line of host figures. Exact, and kiln's: cgroups under kiln-soak, mounts in the host's
# mount namespace, processes whose root is not the host's (container processes), zombies,
# kiln processes. System-wide, so other work on the machine moves them too: fds in use,
# MemAvailable and Slab (KiB), all processes.
sample() {
  local fds mem slab cg mounts procs contained zombies kilns p root
  fds=$(awk '{print $1 - $2}' /proc/sys/fs/file-nr)
  mem=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
  slab=$(awk '/^Slab:/ {print $2}' /proc/meminfo)
  cg=$(find /sys/fs/cgroup/*/kiln-soak /sys/fs/cgroup/unified/kiln-soak -mindepth 1 -type d 2>/dev/null | wc -l)
  mounts=$(wc -l </proc/self/mountinfo)
  procs=0 contained=0 zombies=0 kilns=0
  for p in /proc/[0-9]*; do
    procs=$((procs + 1))
    root=$(readlink "$p/root" 2>/dev/null) && [[ $root != / ]] && contained=$((contained + 1))
    grep -q '^State:.*Z' "$p/status" 2>/dev/null && zombies=$((zombies + 1))
    [[ $(cat "$p/comm" 2>/dev/null) == kiln* ]] && kilns=$((kilns + 1))
  done
  echo "cgroups=$cg mounts=$mounts container_processes=$contained zombies=$zombies kiln_processes=$kilns | fds=$fds mem_available_kib=$mem slab_kib=$slab processes=$procs"
}

worker() {
  local w=$1 n=0 fail=0 end=$((SECONDS + seconds)) id cfg
  cfg=$work/bundle-$w
  mkdir -p "$cfg"
  ln -s "$work/bundle/rootfs" "$cfg/rootfs"
  while ((SECONDS < end)); do
    id=soak-$w-$n
    jq --arg p "/kiln-soak/$id" '.linux.cgroupsPath = $p' "$work/bundle/config.json" >"$cfg/config.json"
    if ! { "$kiln" --root "$root" create --bundle "$cfg" "$id" &&
      "$kiln" --root "$root" exec "$id" true &&
      "$kiln" --root "$root" start "$id" &&
      "$kiln" --root "$root" exec "$id" sh -c 'cat /proc/self/status >/dev/null' &&
      "$kiln" --root "$root" kill "$id" KILL &&
      "$kiln" --root "$root" delete -f "$id"; } >>"$work/worker-$w.log" 2>&1; then
      fail=$((fail + 1))
      "$kiln" --root "$root" delete -f "$id" >/dev/null 2>&1 || true
    fi
    n=$((n + 1))
  done
  echo "$n $fail" >"$work/worker-$w.result"
}

before=$(sample)
start=$SECONDS
for ((w = 0; w < workers; w++)); do
  worker "$w" &
  pids+=("$!")
done
wait "${pids[@]}"
pids=()
sleep 3 # let the kernel finish freeing what the last containers held
after=$(sample)
total=0 failed=0
for ((w = 0; w < workers; w++)); do
  read -r n f <"$work/worker-$w.result"
  total=$((total + n)) failed=$((failed + f))
done
echo "soak: $workers workers, $((SECONDS - start)) s, $total lifecycles (create, exec, start, exec, kill, delete), $failed failed"
echo "before: $before"
echo "after:  $after"
left=$(ls "$root" 2>/dev/null | grep -vc '^seccomp-cache$' || true)
echo "state directories left: $left"
if ((failed > 0)); then for f in "$work"/worker-*.log; do tail -n 20 "$f"; done; exit 1; fi
