# shellcheck shell=bash
# oci.sh: a busybox root filesystem and a one-layer OCI image archive of one, for engines to load without a registry (the engine
# tests in engines/ and in the systemd VM, which has no network): sourced, not run.

# oci_blob DIR FILE — moves FILE into the OCI layout DIR as a blob; prints `sha256:<hex> <size>`.
oci_blob() {
  local hex size
  hex=$(sha256sum "$2" | cut -d' ' -f1)
  size=$(stat -c %s "$2")
  mv "$2" "$1/blobs/sha256/$hex"
  echo "sha256:$hex $size"
}

# make_oci_archive ROOTFS_TAR NAME OUT — a one-layer OCI image archive OUT of the root
# filesystem ROOTFS_TAR, named NAME (a full reference, e.g.
# docker.io/library/kiln-busybox:latest) for both `ctr images import` (io.containerd.image.name)
# and `podman load` (org.opencontainers.image.ref.name).
make_oci_archive() {
  local dir layer layer_size config config_size manifest manifest_size rc
  dir=$(mktemp -d /tmp/kiln-oci.XXXXXX) || return 1
  mkdir -p "$dir/blobs/sha256"
  cp "$1" "$dir/layer.tar" || return 1
  read -r layer layer_size < <(oci_blob "$dir" "$dir/layer.tar")
  printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
    "$layer" >"$dir/config.json"
  read -r config config_size < <(oci_blob "$dir" "$dir/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
    "$config" "$config_size" "$layer" "$layer_size" >"$dir/manifest.json"
  read -r manifest manifest_size < <(oci_blob "$dir" "$dir/manifest.json")
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$manifest" "$manifest_size" "$2" "$2" >"$dir/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
  tar -C "$dir" -cf "$3" oci-layout index.json blobs
  rc=$?
  rm -rf "$dir"
  return "$rc"
}

# make_busybox_rootfs DIR — busybox-static with every applet linked in /bin, /etc/passwd,
# /etc/group and the usual mount points.
make_busybox_rootfs() {
  local rootfs=$1 bb a
  bb=$(command -v busybox) || {
    echo "busybox not found" >&2
    return 1
  }
  mkdir -p "$rootfs"/{bin,sbin,proc,sys,dev,tmp,etc,root,run,var,usr/bin}
  cp "$bb" "$rootfs/bin/busybox"
  for a in $("$rootfs/bin/busybox" --list); do
    [[ -e $rootfs/bin/$a ]] || ln -s busybox "$rootfs/bin/$a"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
  chmod 1777 "$rootfs/tmp"
}
