//! Freezing and thawing: v1 `freezer.state`, v2 `cgroup.freeze` / `cgroup.events`.

use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::{fsutil, CgroupError};

/// How long a freeze may take before it is abandoned (and the cgroup thawed again).
const FREEZE_TIMEOUT: Duration = Duration::from_secs(10);

/// Freezer state of a cgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FreezerState {
    /// Running normally.
    Thawed,
    /// A freeze was requested and is still in progress.
    Freezing,
    /// Every task is frozen.
    Frozen,
}

/// Which freezer implementation, and the container's directory in its hierarchy.
#[derive(Clone, Debug)]
pub(crate) enum Freezer {
    V1(PathBuf),
    V2(PathBuf),
}

impl Freezer {
    /// The same kind of freezer for another cgroup directory of the hierarchy.
    pub(crate) fn at(&self, dir: &Path) -> Self {
        match self {
            Self::V1(_) => Self::V1(dir.to_path_buf()),
            Self::V2(_) => Self::V2(dir.to_path_buf()),
        }
    }

    /// The cgroup directory (which may not exist).
    pub(crate) fn path(&self) -> &Path {
        let (Self::V1(d) | Self::V2(d)) = self;
        d
    }

    fn dir(&self) -> Result<&Path, CgroupError> {
        let (Self::V1(d) | Self::V2(d)) = self;
        if d.is_dir() {
            Ok(d)
        } else {
            Err(CgroupError::NotFound { path: d.clone() })
        }
    }

    /// Freezes and waits until the kernel reports the cgroup frozen.
    pub(crate) fn freeze(&self) -> Result<(), CgroupError> {
        let dir = self.dir()?;
        match self {
            Self::V1(_) => freeze_v1(dir),
            Self::V2(_) => freeze_v2(dir),
        }
    }

    /// Thaws.
    pub(crate) fn thaw(&self) -> Result<(), CgroupError> {
        let dir = self.dir()?;
        match self {
            Self::V1(_) => fsutil::write(&dir.join("freezer.state"), "THAWED"),
            Self::V2(_) => fsutil::write(&dir.join("cgroup.freeze"), "0"),
        }
    }

    /// Thaws the cgroup and every cgroup below it (a v1 sub-cgroup frozen on its own stays
    /// frozen when only its parent is thawed).
    pub(crate) fn thaw_tree(&self) -> Result<(), CgroupError> {
        self.thaw()?;
        for sub in fsutil::subdirs(self.dir()?)? {
            self.at(&sub).thaw_tree()?;
        }
        Ok(())
    }

    /// Reads the current state.
    pub(crate) fn state(&self) -> Result<FreezerState, CgroupError> {
        let dir = self.dir()?;
        // A cgroup removed meanwhile (systemd removes a scope once its last process died) is
        // NotFound, like one that was never there.
        let read = |path: &Path| {
            fsutil::read_opt(path)?.ok_or_else(|| CgroupError::NotFound {
                path: dir.to_path_buf(),
            })
        };
        match self {
            Self::V1(_) => {
                let path = dir.join("freezer.state");
                parse_v1_state(&path, &read(&path)?)
            }
            Self::V2(_) => {
                let wanted = read(&dir.join("cgroup.freeze"))?;
                if wanted.trim() == "0" {
                    return Ok(FreezerState::Thawed);
                }
                let events = dir.join("cgroup.events");
                Ok(if is_frozen_v2(&events, &read(&events)?)? {
                    FreezerState::Frozen
                } else {
                    FreezerState::Freezing
                })
            }
        }
    }
}

pub(crate) fn parse_v1_state(path: &Path, text: &str) -> Result<FreezerState, CgroupError> {
    match text.trim() {
        "THAWED" => Ok(FreezerState::Thawed),
        "FREEZING" => Ok(FreezerState::Freezing),
        "FROZEN" => Ok(FreezerState::Frozen),
        other => Err(CgroupError::Parse {
            path: path.to_path_buf(),
            reason: format!("unknown freezer state {other:?}"),
        }),
    }
}

/// True when `cgroup.events` says `frozen 1`.
pub(crate) fn is_frozen_v2(path: &Path, text: &str) -> Result<bool, CgroupError> {
    Ok(fsutil::parse_flat_keyed(path, text)?.get("frozen") == Some(&1))
}

/// v1 has no change notification: poll `freezer.state` with an exponential backoff
/// (50 µs doubling up to 10 ms), re-requesting FROZEN each round, which makes the kernel
/// retry tasks it could not freeze yet.
fn freeze_v1(dir: &Path) -> Result<(), CgroupError> {
    let path = dir.join("freezer.state");
    let start = Instant::now();
    let mut delay = Duration::from_micros(50);
    loop {
        fsutil::write(&path, "FROZEN")?;
        if parse_v1_state(&path, &fsutil::read(&path)?)? == FreezerState::Frozen {
            return Ok(());
        }
        if start.elapsed() > FREEZE_TIMEOUT {
            fsutil::write(&path, "THAWED")?;
            return Err(CgroupError::FreezeTimeout {
                path,
                waited: start.elapsed(),
            });
        }
        sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(10));
    }
}

/// v2: request the freeze, then sleep in poll(2) on `cgroup.events` (kernfs signals
/// POLLPRI when it changes) until it reports `frozen 1`.
fn freeze_v2(dir: &Path) -> Result<(), CgroupError> {
    fsutil::write(&dir.join("cgroup.freeze"), "1")?;
    let path = dir.join("cgroup.events");
    let file = File::open(&path).map_err(|source| CgroupError::Read {
        path: path.clone(),
        source,
    })?;
    let start = Instant::now();
    let mut buf = vec![0u8; 4096];
    loop {
        // Reading from offset 0 re-arms the notification for the next poll.
        let n = file
            .read_at(&mut buf, 0)
            .map_err(|source| CgroupError::Read {
                path: path.clone(),
                source,
            })?;
        if is_frozen_v2(&path, &String::from_utf8_lossy(&buf[..n]))? {
            return Ok(());
        }
        let remaining = FREEZE_TIMEOUT.saturating_sub(start.elapsed());
        if remaining.is_zero() {
            fsutil::write(&dir.join("cgroup.freeze"), "0")?;
            return Err(CgroupError::FreezeTimeout {
                path,
                waited: start.elapsed(),
            });
        }
        let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLPRI)];
        let timeout = PollTimeout::try_from(remaining.min(Duration::from_secs(1)))
            .unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                return Err(CgroupError::Syscall {
                    syscall: "poll",
                    target: path,
                    source: e.into(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_states() {
        let p = Path::new("f");
        assert_eq!(parse_v1_state(p, "FROZEN\n").unwrap(), FreezerState::Frozen);
        assert_eq!(parse_v1_state(p, "THAWED\n").unwrap(), FreezerState::Thawed);
        assert_eq!(
            parse_v1_state(p, "FREEZING\n").unwrap(),
            FreezerState::Freezing
        );
        assert!(parse_v1_state(p, "MELTED").is_err());
        assert!(is_frozen_v2(p, "populated 1\nfrozen 1\n").unwrap());
        assert!(!is_frozen_v2(p, "populated 1\nfrozen 0\n").unwrap());
    }
}
