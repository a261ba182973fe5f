#!/usr/bin/env bash
# Build-free demo: make a busybox bundle with `kiln spec` and run a container in it.
# usage: scripts/demo.sh [KILN_BINARY]
set -euo pipefail
kiln=$(realpath "${1:-target/x86_64-unknown-linux-gnu/release/kiln}")
[[ $EUID -eq 0 ]] || { echo "demo: kiln needs root (run as root)" >&2; exit 1; }
if ! command -v busybox >/dev/null || ! command -v jq >/dev/null; then
  "$(dirname "$0")/install-deps.sh"
fi
work=$(mktemp -d /tmp/kiln-demo.XXXXXX)
root=$work/state
trap '"$kiln" --root "$root" delete -f demo >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

mkdir -p "$work/bundle/rootfs"/{bin,proc,sys,dev,tmp,etc}
cp "$(command -v busybox)" "$work/bundle/rootfs/bin/busybox"
for applet in $("$work/bundle/rootfs/bin/busybox" --list); do
  [[ -e $work/bundle/rootfs/bin/$applet ]] || ln -s busybox "$work/bundle/rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$work/bundle/rootfs/etc/passwd"

cd "$work/bundle"
"$kiln" spec
jq '.process.terminal = false
    | .process.args = ["/bin/sh", "-c", "echo \"hello from $(hostname): pid $$, uid $(id -u)\"; grep Cap /proc/self/status; ls /"]
    | .linux.cgroupsPath = "/kiln-demo/demo"' config.json > config.tmp && mv config.tmp config.json

echo "+ kiln run demo"
"$kiln" --root "$root" run demo
echo "+ exit status $?"
