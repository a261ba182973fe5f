#!/usr/bin/env bash
# build-image.sh: builds (once) the root filesystem image of the systemd VM: Debian bookworm
# minbase + systemd as PID 1, dbus, udev, runc and busybox-static, with the host kernel's
# modules (container-relevant subset), packed into an ext4 image by `mkfs.ext4 -d` (no loop
# mounts). The image is cached under $KILN_VM_CACHE (default /var/cache/kiln-systemd-vm),
# keyed by a hash of this script, the host kernel version and the extra packages, so later runs
# only boot. Next to it, initrd.img: a tiny initramfs for the host kernel. Prints the image's
# path on stdout.
#
# usage: build-image.sh [--engines] [--force]
#   --engines  also install podman and containerd (for the engine tests; larger image)
#   --force    rebuild even when the cached image exists
# Needs root, mmdebstrap, e2fsprogs, a Debian kernel in /boot (each installed when missing),
# and the Debian archive (deb.debian.org) reachable.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${KILN_VM_CACHE:-/var/cache/kiln-systemd-vm}
extra=() force=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --engines) extra+=(podman containerd catatonit uidmap fuse-overlayfs); shift ;;
    --force) force=1; shift ;;
    *) echo "build-image: unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
[[ $(id -u) == 0 ]] || { echo "build-image: needs root (mmdebstrap in root mode)" >&2; exit 2; }
missing=()
for t in mmdebstrap:mmdebstrap mkfs.ext4:e2fsprogs depmod:kmod busybox:busybox-static cpio:cpio; do
  command -v "${t%%:*}" >/dev/null || missing+=("${t#*:}")
done
# the kernel the VM boots (its modules go into the image): Debian's, as v2vm installs it
ls /boot/vmlinuz-* >/dev/null 2>&1 || missing+=(linux-image-amd64)
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "build-image: installing ${missing[*]}" >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
kernel=$(printf '%s\n' /boot/vmlinuz-* | sort -V | tail -n 1)
kver=${kernel#/boot/vmlinuz-}
[[ -d /lib/modules/$kver ]] || { echo "build-image: /lib/modules/$kver missing" >&2; exit 2; }

packages=(systemd systemd-sysv dbus dbus-user-session udev kmod runc busybox-static "${extra[@]}")
key=$( { cat "$0" "$here/vm-runner.sh" | sha256sum | cut -d" " -f1; echo "$kver"; echo "${packages[*]}"; } | sha256sum | cut -c1-16)
dir=$cache/$key
image=$dir/rootfs.img
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9  # one build at a time; a run waiting here then finds the image built
if [[ -f $image && -f $dir/initrd.img && $force == 0 ]]; then echo "$image"; exit 0; fi

work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
start=$(date +%s)
echo "build-image: mmdebstrap bookworm (${packages[*]}) ..." >&2
mmdebstrap --mode=root --variant=minbase --quiet \
  --aptopt='APT::Install-Recommends "false"' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --include="$(IFS=,; echo "${packages[*]}")" \
  bookworm "$root" \
  "deb http://deb.debian.org/debian bookworm main" \
  "deb http://deb.debian.org/debian bookworm-updates main" \
  "deb http://deb.debian.org/debian-security bookworm-security main" >&2
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*_Packages

# The host kernel's modules the VM may load after the initrd: filesystems (overlay), netfilter,
# bridges and veth for container networking, virtio. Not all 400 MB of them.
mdst=$root/lib/modules/$kver
msrc=/lib/modules/$kver
mkdir -p "$mdst/kernel/drivers/net"
cp -a "$msrc"/modules.builtin* "$msrc"/modules.order "$mdst/"
for d in fs net lib crypto arch drivers/virtio drivers/block drivers/char; do
  mkdir -p "$mdst/kernel/$(dirname "$d")"; cp -a "$msrc/kernel/$d" "$mdst/kernel/$d"
done
for m in veth virtio_net net_failover dummy macvlan tun vxlan; do
  cp -a "$msrc"/kernel/drivers/net/$m.ko* "$mdst/kernel/drivers/net/" 2>/dev/null || true
done
cp -a "$msrc"/kernel/drivers/net/ipvlan "$mdst/kernel/drivers/net/" 2>/dev/null || true
depmod -b "$root" "$kver"

# The VM's configuration: serial console login as root without a password (for debugging),
# the payload disk (label kiln-payload, made by run.sh) at /kiln, and the unit running the test.
install -m 0644 /dev/stdin "$root/etc/hostname" <<<"kiln-systemd-vm"
printf '127.0.0.1 localhost\n127.0.1.1 kiln-systemd-vm\n' > "$root/etc/hosts"
chroot "$root" passwd -dq root
cat > "$root/etc/fstab" <<'FSTAB'
LABEL=kiln-root    /      ext4  rw,noatime                                   0 0
LABEL=kiln-payload /kiln  ext4  ro,noatime,nofail,x-systemd.device-timeout=90s 0 0
FSTAB
mkdir -p "$root/kiln"
printf 'blacklist kvm\nblacklist kvm_intel\nblacklist kvm_amd\n' > "$root/etc/modprobe.d/kiln-vm.conf"
# units that only slow an emulated boot down or have nothing to do in a throwaway VM
for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service \
         fstrim.timer systemd-timesyncd.service dpkg-db-backup.timer getty@tty1.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$u"
done
install -m 0755 "$here/vm-runner.sh" "$root/usr/local/sbin/kiln-vm-runner"
cat > "$root/etc/systemd/system/kiln-test.service" <<'UNIT'
[Unit]
Description=kiln VM test command (from the payload disk)
# Wants, not Requires: without the payload disk the runner still starts, says so and powers off
Wants=kiln.mount
After=kiln.mount dbus.service

[Service]
Type=exec
ExecStart=/usr/local/sbin/kiln-vm-runner
StandardInput=null
StandardOutput=tty
StandardError=inherit
TTYPath=/dev/ttyS1
TTYReset=no
TTYVHangup=no

[Install]
WantedBy=multi-user.target
UNIT
chroot "$root" systemctl enable kiln-test.service >/dev/null 2>&1
chroot "$root" systemctl set-default multi-user.target >/dev/null 2>&1

# A tiny initramfs: busybox, the modules that reach an ext4 root on virtio-blk, and an init
# that loads them, mounts /dev/vda and hands over to systemd. The host's own initrd (31 MB with
# MODULES=most) also boots, but unpacking and probing it costs seconds under emulation.
make_initrd() { # make_initrd OUTPUT
  local ir=$work/initrd m
  mkdir -p "$ir"/{bin,dev,proc,sys,newroot,modules}
  cp "$(command -v busybox)" "$ir/bin/busybox"
  ln -s busybox "$ir/bin/sh"
  modprobe -a --show-depends -S "$kver" virtio_pci virtio_blk ext4 | awk '$1 == "insmod" && !seen[$2]++ {print $2}' \
    > "$work/modlist"
  [[ -s $work/modlist ]] || { echo "build-image: no module list for $kver" >&2; return 1; }
  while IFS= read -r m; do
    case $m in
      *.ko) cp "$m" "$ir/modules/" ;;
      *.ko.xz) xz -dc "$m" > "$ir/modules/$(basename "${m%.xz}")" ;;
      *.ko.zst) zstd -qdc "$m" > "$ir/modules/$(basename "${m%.zst}")" ;;
      *) echo "build-image: unexpected module file $m" >&2; return 1 ;;
    esac
    basename "${m%.xz}" | sed 's/\.zst$//' >> "$ir/modules/order"
  done < "$work/modlist"
  cat > "$ir/init" <<'INIT'
#!/bin/sh
export PATH=/bin
busybox mount -t proc proc /proc
busybox mount -t devtmpfs dev /dev
for m in $(busybox cat /modules/order); do busybox insmod "/modules/$m" 2>/dev/null; done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do busybox sleep 0.05; i=$((i + 1)); done
if ! busybox mount -t ext4 -o rw,noatime /dev/vda /newroot; then
  echo "kiln-vm initrd: cannot mount /dev/vda"; busybox sleep 2; busybox poweroff -f
fi
busybox umount /proc
busybox mount --move /dev /newroot/dev
exec busybox switch_root /newroot /sbin/init
INIT
  chmod +x "$ir/init"
  (cd "$ir" && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$1"
}
mkdir -p "$dir"
make_initrd "$dir/initrd.img.tmp"

# ext4 image: contents + a third, and at least 512 MB free for containers and test files
used=$(du -sm "$root" | cut -f1)
size=$(( used + used / 3 + 512 ))
rm -f "$image.tmp"
mkfs.ext4 -q -L kiln-root -E root_owner=0:0 -d "$root" "$image.tmp" "${size}M" >/dev/null
mv "$dir/initrd.img.tmp" "$dir/initrd.img"
mv "$image.tmp" "$image"
echo "${packages[*]}" > "$dir/packages"
# earlier builds of the same variant (this script or the kernel changed since) are stale
for old in "$cache"/*/packages; do
  [[ $old == "$dir/packages" ]] && continue
  [[ $(cat "$old") == "${packages[*]}" ]] && rm -rf "$(dirname "$old")"
done
echo "build-image: $image (${size} MB, ${used} MB used) in $(( $(date +%s) - start )) s" >&2
echo "$image"
