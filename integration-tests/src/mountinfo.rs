//! The host's mounts (parsed with the project's one mountinfo parser,
//! `kiln_cgroups::mountinfo`) and clean-up of host mounts.

use std::path::{Path, PathBuf};

use crate::error::{io_err, Error, Result};

pub use kiln_cgroups::mountinfo::{parse, MountInfo};

/// The mounts of this (the test) process.
pub fn host_mounts() -> Result<Vec<MountInfo>> {
    let path = kiln_cgroups::mountinfo::SELF;
    kiln_cgroups::mountinfo::read(Path::new(path)).map_err(io_err("read", path))
}

/// Host mount points at or below `dir`, deepest first.
pub fn host_mounts_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = host_mounts()?
        .into_iter()
        .map(|m| m.mount_point)
        .filter(|p| p.starts_with(dir))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    Ok(found)
}

/// Lazily unmounts `path` (`umount2(MNT_DETACH)`).
pub fn detach(path: &Path) -> Result<()> {
    nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH).map_err(|source| Error::Sys {
        call: "umount2",
        context: path.display().to_string(),
        source,
    })
}

/// A tmpfs this test mounted on the host; unmounted on drop.
#[derive(Debug)]
pub struct HostTmpfs {
    path: PathBuf,
}

impl HostTmpfs {
    /// Mounts a small tmpfs at `path` (which must exist and belong to the test).
    pub fn mount(path: &Path) -> Result<HostTmpfs> {
        HostTmpfs::mount_with(path, "size=1m")
    }

    /// [`HostTmpfs::mount`] with the given tmpfs `options` (e.g. `size=256k,nr_inodes=64`).
    pub fn mount_with(path: &Path, options: &str) -> Result<HostTmpfs> {
        use nix::mount::{mount, MsFlags};
        mount(
            Some("tmpfs"),
            path,
            Some("tmpfs"),
            MsFlags::empty(),
            Some(options),
        )
        .map_err(|source| Error::Sys {
            call: "mount tmpfs",
            context: path.display().to_string(),
            source,
        })?;
        Ok(HostTmpfs {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for HostTmpfs {
    fn drop(&mut self) {
        if let Err(err) = detach(&self.path) {
            eprintln!("warning: {err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_has_a_root_mount() {
        assert!(host_mounts()
            .expect("mountinfo")
            .iter()
            .any(|m| m.mount_point == Path::new("/")));
    }
}
