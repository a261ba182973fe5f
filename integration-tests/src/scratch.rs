//! Per-test scratch directories under /tmp, removed safely on drop.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{io_err, Result};
use crate::mountinfo::{detach, host_mounts_under};

/// A fresh directory `/tmp/kit-<tag>-XXXXXX` (mode 0755); removed with its content on drop.
///
/// Before removing, any host mount found below it (a runtime leaking mounts into the host's
/// namespace) is detached, so the removal never descends into another filesystem.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// Creates the directory.
    pub fn new(tag: &str) -> Result<ScratchDir> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("kit-{tag}-"))
            .tempdir_in("/tmp")
            .map_err(io_err("create temporary directory in", "/tmp"))?;
        let path = dir.keep();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .map_err(io_err("chmod", &path))?;
        Ok(ScratchDir { path })
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `path/name`.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let mounts = match host_mounts_under(&self.path) {
            Ok(mounts) => mounts,
            Err(err) => {
                eprintln!("warning: not removing {}: {err}", self.path.display());
                return;
            }
        };
        for mount in &mounts {
            eprintln!(
                "warning: detaching host mount {} left below a test directory",
                mount.display()
            );
            if let Err(err) = detach(mount) {
                eprintln!("warning: {err}");
            }
        }
        if !mounts.is_empty() && host_mounts_under(&self.path).map_or(true, |m| !m.is_empty()) {
            eprintln!(
                "warning: not removing {}: mounts remain below it",
                self.path.display()
            );
            return;
        }
        if let Err(err) = std::fs::remove_dir_all(&self.path) {
            eprintln!("warning: removing {}: {err}", self.path.display());
        }
    }
}
