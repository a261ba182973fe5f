//! Bind-mount sources opened with the runtime's privileges.
//!
//! In a user namespace the init resolves paths as the container's root, which
//! is an unprivileged user on the host: a bind source under a directory that
//! user cannot search (e.g. `/root/data` with `/root` at 0700) fails with
//! EACCES, where runc and crun succeed. So `create` clones those sources
//! itself: a helper process with the host's credentials joins the init's new
//! mount namespace (the source mounts there are the init's copies, with the
//! flags the kernel locked for the user namespace) and makes a detached clone
//! of each (`open_tree(OPEN_TREE_CLONE)`), which it passes to the init. The
//! init then attaches them as it would its own clones.

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use std::path::PathBuf;

use oci_spec::runtime::Spec;

use super::error::{Context, RootfsError};
use super::mounts::{clone_tree, Entry};

/// One bind source to clone for the init.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindSource {
    /// `mounts[i] (destination)`, for errors.
    pub ctx: String,
    /// Index of the entry in `mounts`.
    pub index: usize,
    /// Host path (relative sources joined to the bundle).
    pub path: PathBuf,
    /// `rbind`: clone the whole tree.
    pub recursive: bool,
}

/// The bind mounts of `spec` whose source the init will need cloned for it.
pub fn bind_sources(
    spec: &Spec,
    bundle: &std::path::Path,
    rootfs: &std::path::Path,
) -> Vec<BindSource> {
    let mounts = spec.mounts().as_deref().unwrap_or(&[]);
    mounts
        .iter()
        .enumerate()
        .map(|(i, m)| Entry::new(i, m, rootfs))
        .filter(|e| e.is_bind() && !e.is_remount())
        .filter_map(|e| {
            let source = e.mount.source().as_deref()?;
            (!source.as_os_str().is_empty()).then(|| BindSource {
                ctx: e.ctx.clone(),
                index: e.index,
                path: bundle.join(source),
                recursive: e.opts.bind == Some(true),
            })
        })
        .collect()
}

/// Clones one bind source (in the helper, in the init's mount namespace).
pub fn clone_bind_source(s: &BindSource) -> Result<OwnedFd, RootfsError> {
    clone_tree(&s.path, s.recursive).ctx(|| &s.ctx)
}

/// Detached clones of bind sources received from `create`, by mount index.
#[derive(Debug, Default)]
pub struct ClonedSources(Vec<(usize, OwnedFd)>);

impl ClonedSources {
    /// Adds the clone of `mounts[index]`.
    pub fn push(&mut self, index: usize, tree: OwnedFd) {
        self.0.push((index, tree));
    }

    /// A new fd of the clone of `mounts[index]`, if `create` made one.
    pub(super) fn get(&self, index: usize) -> Option<Result<OwnedFd, Errno>> {
        let (_, fd) = self.0.iter().find(|(i, _)| *i == index)?;
        Some(
            fd.as_fd()
                .try_clone_to_owned()
                .map_err(|err| Errno::from_raw(err.raw_os_error().unwrap_or(libc::EBADF))),
        )
    }
}
