#!/usr/bin/env bash
# run.sh: boot systemd as PID 1 on a pure cgroup v2 hierarchy in a qemu VM (the cached image of
# build-image.sh, built on first use) and run COMMAND there as the systemd service
# kiln-test.service; print its output and exit with its exit status (125 if the VM failed).
#
# usage: run.sh [--mem 2G] [--cpus 2] [--timeout 600] [--copy PATH]... [--engines] -- COMMAND [ARGS...]
#   --copy PATH  put PATH (a file or directory) into the VM at the same absolute path
#                (static binaries such as kiln's need nothing else; no ldd copying here)
#   --engines    use the image with podman and containerd (build-image.sh --engines)
# COMMAND runs as root from the directory run.sh was called from (created in the VM), with
# stdin from /dev/null. The base image is never written: each run boots a qcow2 overlay of it,
# and the copied files come on a second, small ext4 disk made with `mkfs.ext4 -d`.
# KILN_VM_INITRD=/boot/initrd.img-... boots with another initramfs (the host's also works).
# KILN_VM_CONSOLE=1 shows the VM's console (kernel and systemd) on stderr after the run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mem=2G cpus=2 limit=600 copies=() build_opts=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --mem) mem=$2; shift 2 ;;
    --cpus) cpus=$2; shift 2 ;;
    --timeout) limit=$2; shift 2 ;;
    --copy) copies+=("$(realpath "$2")"); shift 2 ;;
    --engines) build_opts+=(--engines); shift ;;
    --) shift; break ;;
    *) echo "run.sh: unknown option $1 (see the header of $0)" >&2; exit 125 ;;
  esac
done
[[ $# -gt 0 ]] || { echo "run.sh: no command given" >&2; exit 125; }
# qemu on first use, as ../shared/tools/v2vm installs it (this host's qemu-utils comes from
# bookworm-backports, and qemu-system-x86 must match it)
if ! command -v qemu-system-x86_64 >/dev/null && [[ $(id -u) == 0 ]]; then
  echo "run.sh: installing qemu-system-x86 (bookworm-backports)" >&2
  if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "deb http://deb.debian.org/debian bookworm-backports main" \
      >/etc/apt/sources.list.d/kiln-bookworm-backports.list
  fi
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -t bookworm-backports qemu-system-x86 qemu-utils >/dev/null
fi
for t in qemu-system-x86_64 qemu-img mkfs.ext4; do
  command -v "$t" >/dev/null || { echo "run.sh: $t not found" >&2; exit 125; }
done
kernel=$(printf '%s\n' /boot/vmlinuz-* | sort -V | tail -n 1)
image=$("$here/build-image.sh" "${build_opts[@]}") || { echo "run.sh: image build failed" >&2; exit 125; }
initrd=${KILN_VM_INITRD:-$(dirname "$image")/initrd.img}

work=$(mktemp -d /tmp/kiln-systemd-vm.XXXXXX)
qpid='' spid=''
# shellcheck disable=SC2317  # (called by the EXIT trap)
cleanup() { # qemu (through its `timeout`), then the output streamer: both started here
  if [[ -n $qpid ]] && kill -0 "$qpid" 2>/dev/null; then kill "$qpid" 2>/dev/null || true; wait "$qpid" 2>/dev/null || true; fi
  if [[ -n $spid ]] && kill -0 "$spid" 2>/dev/null; then kill "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# the payload disk: files/ (copied onto / in the VM), cmd, cwd
pl=$work/payload
mkdir -p "$pl/files"
for c in "${copies[@]}"; do
  mkdir -p "$pl/files$(dirname "$c")"
  cp -a "$c" "$pl/files$(dirname "$c")/"
done
printf '%q ' "$@" > "$pl/cmd"
echo >> "$pl/cmd"
echo "$PWD" > "$pl/cwd"
psize=$(( $(du -sm "$pl" | cut -f1) * 5 / 4 + 16 ))
mkfs.ext4 -q -L kiln-payload -E root_owner=0:0 -d "$pl" "$work/payload.img" "${psize}M" >/dev/null
rm -rf "$pl"
qemu-img create -q -f qcow2 -F raw -b "$image" "$work/root.qcow2"

# ttyS0: kernel and systemd console (to a file); ttyS1: the test unit's output (to stdout)
cmdline="root=/dev/vda rw console=ttyS0 quiet loglevel=3 panic=-1 noresume fsck.mode=skip"
cmdline+=" systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all systemd.show_status=0"
cmdline+=" systemd.journald.forward_to_console=0 net.ifnames=0"
t0=$(awk '{print $1}' /proc/uptime)
timeout -k 10 "$limit" qemu-system-x86_64 -accel tcg -cpu max -smp "$cpus" -m "$mem" \
  -display none -no-reboot -monitor none -nic none \
  -kernel "$kernel" -initrd "$initrd" -append "$cmdline" \
  -drive "file=$work/root.qcow2,format=qcow2,if=virtio,cache=unsafe" \
  -drive "file=$work/payload.img,format=raw,if=virtio,cache=unsafe" \
  -serial "file:$work/console" -serial "file:$work/out" </dev/null >"$work/qemu.log" 2>&1 &
qpid=$!
# stream the unit's output between the markers while the VM runs (in the background, so that
# the `wait` below, and with it a signal to this script, ends the run at once)
now() { awk '{print $1}' /proc/uptime; }
stream() {
  local on=0 line
  while IFS= read -r line; do
    line=${line%$'\r'}
    case $line in
      *@@kiln-vm-start*)
        on=1
        echo "run.sh: the command started $(awk -v a="$(now)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s after qemu was launched (${line##* } s after the kernel)" >&2 ;;
      *@@kiln-vm-exit*) on=0 ;;
      *) [[ $on == 1 ]] && printf '%s\n' "$line" ;;
    esac
  done
  return 0
}
tail -s 0.2 -n +1 -F "$work/out" --pid="$qpid" 2>/dev/null | stream &
spid=$!
wait "$qpid" || true
qpid=
wait "$spid" || true
spid=
rc=$(tr -d '\r' < "$work/out" | sed -n 's/.*@@kiln-vm-exit \([0-9]*\).*/\1/p' | tail -n 1)
[[ ${KILN_VM_CONSOLE:-0} == 1 ]] && tr -d '\r' < "$work/console" >&2
[[ ${KILN_VM_VERBOSE:-0} == 1 ]] && echo "run.sh: the VM ran $(awk -v a="$(now)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s in all" >&2
if [[ ! $rc =~ ^[0-9]+$ ]]; then
  echo "run.sh: the VM did not finish the command (timeout ${limit}s or boot failure); last console lines:" >&2
  tr -d '\r' < "$work/console" | tail -n 30 >&2
  cat "$work/qemu.log" >&2
  exit 125
fi
exit "$rc"
