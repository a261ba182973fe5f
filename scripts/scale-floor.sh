#!/usr/bin/env bash
# Lifecycle cost of a runtime with 0, 100, 500, 1000 idle containers present, next to the
# kernel floor measured at the same moment (issue #13: "flat cost to 1000 idle containers").
# At each level, ROUNDS interleaved rounds of: `unshare --fork --pid --mount --uts --ipc --net
# /bin/true` and `RT create + start + wait + delete` of a busybox `true` container (the
# idle ones are `sleep` containers of the same runtime). Prints medians per level and
# lifecycle minus floor; removes everything it made. As root.
#   scripts/scale-floor.sh [RUNTIME_BINARY] [LEVELS] [ROUNDS]
set -euo pipefail
RT=${1:-target/x86_64-unknown-linux-gnu/release/kiln}
LEVELS=${2:-0,100,500,1000}
ROUNDS=${3:-60}
RT=$(readlink -f "$RT")
work=$(mktemp -d /tmp/kiln-scale.XXXXXX)
root="$work/state"
idle=0
cleanup() {
    for id in $("$RT" --root "$root" list -q 2>/dev/null); do
        "$RT" --root "$root" delete -f "$id" >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/rootfs/bin" "$work/rootfs/proc" "$work/rootfs/dev" "$work/rootfs/sys" "$root"
cp "$(command -v busybox)" "$work/rootfs/bin/busybox"
for a in sh sleep true; do ln -s busybox "$work/rootfs/bin/$a"; done
mk_bundle() { # dir args-json
    mkdir -p "$1"
    ln -sfn "$work/rootfs" "$1/rootfs"
    (cd "$1" && "$RT" spec && python3 - "$2" <<'PY'
import json, sys
c = json.load(open("config.json"))
c["process"]["terminal"] = False
c["process"]["args"] = json.loads(sys.argv[1])
c["root"]["readonly"] = True
c["linux"]["resources"] = {"memory": {"limit": 67108864}, "cpu": {"shares": 512}, "pids": {"limit": 128}}
json.dump(c, open("config.json", "w"))
PY
    )
}
mk_bundle "$work/idle" '["sleep", "100000"]'
mk_bundle "$work/life" '["true"]'
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
printf '%-6s %12s %14s %14s\n' idle "floor(ms)" "lifecycle(ms)" "life-floor(ms)"
for level in ${LEVELS//,/ }; do
    while [ "$idle" -lt "$level" ]; do
        idle=$((idle + 1))
        "$RT" --root "$root" run -d --bundle "$work/idle" "idle-$idle" </dev/null >/dev/null 2>&1
    done
    : >"$work/floor.ms"; : >"$work/life.ms"
    for r in $(seq "$ROUNDS"); do
        t0=${EPOCHREALTIME/./}; unshare --fork --pid --mount --uts --ipc --net /bin/true; t1=${EPOCHREALTIME/./}
        echo $((t1 - t0)) >>"$work/floor.ms"
        id="life-$r"
        t0=${EPOCHREALTIME/./}
        "$RT" --root "$root" create --pid-file "$work/pid" --bundle "$work/life" "$id" </dev/null >/dev/null 2>&1
        "$RT" --root "$root" start "$id"
        t1=${EPOCHREALTIME/./}
        pid=$(cat "$work/pid")
        while [ -e "/proc/$pid" ] && ! grep -q ') Z' "/proc/$pid/stat" 2>/dev/null; do :; done
        t2=${EPOCHREALTIME/./}
        "$RT" --root "$root" delete "$id"
        t3=${EPOCHREALTIME/./}
        # create + start + delete (the wait for the exit is not counted)
        echo $(((t1 - t0) + (t3 - t2))) >>"$work/life.ms"
    done
    running=$("$RT" --root "$root" list -q | grep -c '^idle-' || true)
    [ "$running" -eq "$level" ] || { echo "only $running of $level idle containers run" >&2; exit 1; }
    f=$(median <"$work/floor.ms"); l=$(median <"$work/life.ms")
    printf '%-6s %12.3f %14.3f %14.3f\n' "$level" "$(echo "$f/1000" | bc -l)" "$(echo "$l/1000" | bc -l)" "$(echo "($l-$f)/1000" | bc -l)"
done
