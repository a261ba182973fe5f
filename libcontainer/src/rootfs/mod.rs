//! The container's root filesystem: mounts, `pivot_root`, device nodes, and
//! the final hardening (masked and read-only paths, read-only root).
//!
//! The container init calls the four steps in this order, in its own mount
//! namespace, single-threaded and root in its (possibly user) namespace:
//!
//! 1. [`mount_all`] — before `pivot_root`, with the host's `/proc` mounted at
//!    `/proc` (mounts are made through `/proc/self/fd/N` paths). Makes `/`
//!    recursively slave (or `linux.rootfsPropagation`), bind-mounts the rootfs
//!    onto itself and performs every `mounts[]` entry in order. Creates
//!    `process.cwd`. In a user namespace it also clones the host device nodes
//!    that [`create_devices`] will bind in later.
//! 2. [`pivot_root`] — ends with the working directory at the new `/`.
//! 3. [`create_devices`] — default devices, `linux.devices`, `/dev` symlinks.
//!    Sets umask 0 while working and restores the caller's umask.
//! 4. [`finalize`] — `linux.readonlyPaths`, `linux.maskedPaths`, deferred
//!    read-only remounts (tmpfs and `/dev` mounts are made read-only only now so
//!    that mount points and devices could be created in them), `root.readonly`
//!    and `linux.rootfsPropagation`.
//!
//! Every path inside the container is resolved with
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` relative to the rootfs, so
//! symlinks in the image can never redirect a mount or a new file to the host.

mod cgroup;
mod copyup;
mod devices;
mod error;
pub(crate) mod filekind;
mod finalize;
mod idmap;
mod inroot;
mod mountinfo;
mod mounts;
pub(crate) mod options;
mod pivot;
mod procdest;
mod sources;
pub(crate) mod sys;
mod tmpfs;

#[cfg(test)]
mod tests;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

pub use error::RootfsError;
pub use sources::{bind_sources, clone_bind_source, BindSource, ClonedSources};

/// Everything the rootfs steps need to know about the container.
#[derive(Debug, Clone, Copy)]
pub struct RootfsOptions<'a> {
    /// The container's configuration.
    pub spec: &'a oci_spec::runtime::Spec,
    /// Absolute, canonicalized host path of `root.path`.
    pub rootfs: &'a Path,
    /// The bundle directory; relative bind-mount sources are relative to it.
    pub bundle: &'a Path,
    /// The init is in a user namespace other than the initial one (a new one, or
    /// the runtime's own): device nodes are bind-mounted from the host instead of
    /// created with `mknod`, bind mounts keep their locked flags, and
    /// `sysfs`/`mqueue` fall back to bind mounts when the kernel refuses a fresh
    /// instance.
    pub in_user_ns: bool,
    /// The init is in a new cgroup namespace: `cgroup` mounts mount the
    /// hierarchies afresh instead of bind-mounting the host's directories.
    pub new_cgroup_ns: bool,
    /// `--no-pivot`: `MS_MOVE` the rootfs onto `/` and `chroot` instead of `pivot_root`.
    pub no_pivot: bool,
    /// Bind sources `create` cloned for the init (in a user namespace).
    pub sources: Option<&'a ClonedSources>,
}

/// State carried from [`mount_all`] through the later steps.
#[derive(Debug)]
pub struct PreparedRootfs {
    /// `O_PATH` fd of the rootfs (the root of its bind mount onto itself).
    root: OwnedFd,
    /// Mounts to make read-only in [`finalize`]: (config entry, fd of the mount's root).
    deferred_ro: Vec<(String, OwnedFd)>,
    /// In a user namespace: detached clones of the host device nodes, by container path.
    host_devices: Vec<(PathBuf, OwnedFd)>,
    /// False when the config bind-mounts `/dev`: then no devices are created.
    setup_dev: bool,
    /// A `devpts` is mounted at `/dev/pts`: `/dev/ptmx` becomes a symlink to `pts/ptmx`.
    has_devpts: bool,
}

/// Step "mounts": prepares the rootfs and performs every `mounts[]` entry.
///
/// Must run in the container's new mount namespace, before `pivot_root`,
/// while the host's procfs is mounted at `/proc`.
pub fn mount_all(o: &RootfsOptions<'_>) -> Result<PreparedRootfs, RootfsError> {
    mounts::mount_all(o)
}

/// Step "pivot_root": makes the rootfs the process's `/` and detaches the old
/// root (or, with [`RootfsOptions::no_pivot`], moves it onto `/` and
/// `chroot`s). Ends with the working directory at the new `/`.
pub fn pivot_root(o: &RootfsOptions<'_>, p: &mut PreparedRootfs) -> Result<(), RootfsError> {
    pivot::pivot_root(o, p)
}

/// Step "devices": creates the default devices, `linux.devices` and the
/// `/dev` symlinks (nothing if the config bind-mounts `/dev`). Runs after
/// [`pivot_root`]; paths are resolved from the new `/`.
pub fn create_devices(o: &RootfsOptions<'_>, p: &mut PreparedRootfs) -> Result<(), RootfsError> {
    devices::create_devices(o, p)
}

/// Final step: read-only and masked paths, deferred read-only remounts,
/// `root.readonly` and `linux.rootfsPropagation`. Runs after [`create_devices`].
pub fn finalize(o: &RootfsOptions<'_>, p: PreparedRootfs) -> Result<(), RootfsError> {
    finalize::finalize(o, p)
}
