//! A host directory a container must never reach.

use std::path::{Path, PathBuf};

use crate::error::{io_err, Result};
use crate::mountinfo::host_mounts_under;
use crate::scratch::ScratchDir;

/// A scratch directory holding one file, `marker`, that reads [`Canary::CONTENT`]; a test
/// points symlinks or mounts of a container at it and then asserts it is untouched.
#[derive(Debug)]
pub struct Canary {
    dir: ScratchDir,
}

impl Canary {
    /// What `marker` holds.
    pub const CONTENT: &'static str = "untouched\n";

    /// Creates the directory and its marker.
    pub fn new(tag: &str) -> Result<Canary> {
        let dir = ScratchDir::new(tag)?;
        let marker = dir.join("marker");
        std::fs::write(&marker, Canary::CONTENT).map_err(io_err("write", marker))?;
        Ok(Canary { dir })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The marker file.
    pub fn marker(&self) -> PathBuf {
        self.dir.join("marker")
    }

    /// Asserts that the directory holds only the marker, with its content, and that no host
    /// mount is at or below it.
    #[track_caller]
    pub fn assert_untouched(&self) {
        let mounted = host_mounts_under(self.path()).expect("mountinfo");
        assert!(mounted.is_empty(), "mounted on the host: {mounted:?}");
        let mut names: Vec<String> = std::fs::read_dir(self.path())
            .expect("read canary dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["marker"], "{} changed", self.path().display());
        let content = std::fs::read_to_string(self.marker()).unwrap_or_default();
        assert_eq!(
            content,
            Canary::CONTENT,
            "{} was written",
            self.marker().display()
        );
    }
}
