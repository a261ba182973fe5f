//! The state root: one directory per container, locked and written atomically.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::state::{State, Status, OCI_VERSION};

/// File name of a container's persisted record inside its directory.
pub(crate) const STATE_FILE: &str = "state.json";
/// File name of the fifo `start` opens to release the init process.
pub(crate) const EXEC_FIFO: &str = "exec.fifo";

/// Rejects ids that could escape the state root or confuse engines.
pub fn validate_id(id: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidId {
            id: id.to_string(),
            reason,
        })
    };
    if id.is_empty() {
        return bad("must not be empty");
    }
    if id == "." || id == ".." || id.contains("..") {
        return bad("must not contain \"..\"");
    }
    if id.len() > 1024 {
        return bad("is longer than 1024 bytes");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'))
    {
        return bad("may only contain letters, digits, '_', '+', '-' and '.'");
    }
    Ok(())
}

/// The directory holding all containers' state (`--root`, default `/run/kiln`).
#[derive(Debug, Clone)]
pub struct StateRoot {
    path: PathBuf,
}

impl StateRoot {
    /// Uses `path` as the state root, creating it (mode 0700) if needed.
    pub fn new(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&path)
            .map_err(|e| Error::io("create state root", &path, e))?;
        Ok(StateRoot { path })
    }

    /// Uses `path` without creating it (for read-only commands).
    pub fn existing(path: impl Into<PathBuf>) -> Self {
        StateRoot { path: path.into() }
    }

    /// The state root's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory of container `id` (not checked for existence).
    pub fn container_dir(&self, id: &str) -> Result<PathBuf> {
        validate_id(id)?;
        Ok(self.path.join(id))
    }

    /// Ids of all containers under this root, sorted.
    pub fn ids(&self) -> Result<Vec<String>> {
        let entries = match fs::read_dir(&self.path) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("read state root", &self.path, e)),
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|id| validate_id(id).is_ok())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Where the compiled seccomp filters are cached.
    pub fn seccomp_cache(&self) -> PathBuf {
        self.path.join("seccomp-cache")
    }
}

/// An exclusive `flock` on a container directory, released on drop.
#[derive(Debug)]
pub(crate) struct DirLock {
    _lock: Flock<File>,
}

impl DirLock {
    /// Blocks until the directory is exclusively ours.
    pub(crate) fn acquire(dir: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(dir)
            .map_err(|e| Error::io("open container dir", dir, e))?;
        let lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| Error::sys(format!("flock {}", dir.display()), e))?;
        Ok(DirLock { _lock: lock })
    }
}

/// Writes `data` to `path` atomically: a temp file in the same directory, then rename.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .custom_flags(libc::O_CLOEXEC)
            .open(&tmp)?;
        f.write_all(data)?;
        fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io("write", path, e)
    })
}

/// What kiln persists about a container between commands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    pub id: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// Host pid of the container init.
    pub pid: i32,
    /// Its start time (field 22 of /proc/pid/stat), to detect pid reuse.
    pub pid_start: u64,
    pub created: String,
    pub owner: String,
    /// `linux.cgroupsPath` as given (None: kiln's default).
    pub cgroups_path: Option<String>,
    pub systemd_cgroup: bool,
    /// Cgroup directories `create` made (so `delete` removes exactly those).
    #[serde(default)]
    pub cgroup_created: Vec<PathBuf>,
    /// Hierarchies (mount points) left out of the cgroup: a rootless container's cgroup is
    /// only where its user may write (all of them when it has no cgroup).
    #[serde(default)]
    pub cgroup_withheld: Vec<PathBuf>,
    /// Where systemd's user instance placed the container's scope (relative to each
    /// hierarchy's root), when that is not where its `slice:prefix:name` says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_placed: Option<PathBuf>,
    /// The full config the container was created from.
    pub spec: Spec,
}

impl Record {
    pub(crate) fn load(dir: &Path, id: &str) -> Result<Self> {
        let path = dir.join(STATE_FILE);
        let data = fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound(id.to_string()),
            _ => Error::io("read", &path, e),
        })?;
        Self::parse(&data, id, &path)
    }

    /// Parses the bytes of `path`, container `id`'s `state.json`.
    pub(crate) fn parse(data: &[u8], id: &str, path: &Path) -> Result<Self> {
        crate::json::from_slice(data).map_err(|e| Error::State {
            id: id.to_string(),
            reason: format!("{}: {e}", path.display()),
        })
    }

    /// The runc-compatible state document of this container in `status`.
    pub(crate) fn state(&self, status: Status) -> State {
        State {
            oci_version: OCI_VERSION.to_string(),
            id: self.id.clone(),
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status,
            bundle: self.bundle.clone(),
            rootfs: self.rootfs.clone(),
            created: self.created.clone(),
            annotations: self.spec.annotations().clone().unwrap_or_default(),
            owner: self.owner.clone(),
        }
    }

    pub(crate) fn save(&self, dir: &Path) -> Result<()> {
        write_atomic(&dir.join(STATE_FILE), &self.to_bytes()?, 0o600)
    }

    /// The bytes [`Record::save`] writes.
    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::State {
            id: self.id.clone(),
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["a", "abc-123_x.y", "A+b"] {
            validate_id(ok).unwrap();
        }
        for bad in ["", "a/b", "..", "a..b", "/x", "a b", "."] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn atomic_write_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic(&p, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
