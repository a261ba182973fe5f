//! Files below `/proc` that kiln writes (or reads to decide something), opened
//! so that nothing mounted or linked in the container can redirect them
//! (CVE-2025-52881: a bind mount over `/proc/sys/...` or `/proc/self/attr/...`
//! made runc write its data into another file, e.g. the host's
//! `/proc/sys/kernel/core_pattern`).
//!
//! A [`ProcRoot`] is, in order of preference:
//!
//! 1. a private procfs instance (`fsopen`/`fsconfig`/`fsmount`): a detached
//!    mount that was never attached anywhere, so nothing can be mounted over
//!    any of its files;
//! 2. a non-recursive detached clone of `/proc` (`open_tree`): the clone has
//!    none of `/proc`'s submounts;
//! 3. `/proc` itself (a process without `CAP_SYS_ADMIN`).
//!
//! Whichever it is, its root must be the root directory of a procfs
//! (`fstatfs` == `PROC_SUPER_MAGIC`, inode 1). Files are opened with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS)` from
//! that root — no `..` out of it, no mount point crossed (an overmount makes
//! the open fail with `EXDEV`), no magic link followed — and every opened fd
//! is checked with `fstatfs` again before it is used.
//!
//! The handle is opened, used and closed within one step: the init never holds
//! it while a container process could reach the init's fds.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::statfs::{fstatfs, PROC_SUPER_MAGIC};

use crate::rootfs::sys as rsys;

/// Inode number of the root directory of every procfs instance.
const PROC_ROOT_INO: u64 = 1;

/// Lookups below a [`ProcRoot`]: stay beneath it, cross no mount, follow no magic link.
const RESOLVE_SAFE: u64 =
    libc::RESOLVE_BENEATH | libc::RESOLVE_NO_XDEV | libc::RESOLVE_NO_MAGICLINKS;

/// Why a file below `/proc` was not used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcfsError {
    /// The file (or the root it was opened from) is not on a procfs.
    #[error("{path} is not on procfs (filesystem type {fs_type:#x}): refusing to use it")]
    NotProcfs {
        /// The path, as `/proc/...`.
        path: PathBuf,
        /// The `f_type` that `fstatfs` reported.
        fs_type: i64,
    },
    /// The root handle is a procfs, but not its root directory.
    #[error("{path} is not the root of a procfs (inode {ino}): refusing to use it")]
    NotProcRoot {
        /// The path that was opened as the root.
        path: PathBuf,
        /// Its inode number.
        ino: u64,
    },
    /// Reaching the file crosses a mount point (something is mounted over it
    /// or over a directory on the way) or leaves the procfs (`EXDEV`).
    #[error("{path}: reaching it crosses a mount point or leaves the procfs (is something mounted over it?): refusing to use it")]
    Overmounted {
        /// The path, as `/proc/...`.
        path: PathBuf,
    },
    /// The file reopened through `/proc/thread-self/fd/N` is not the file of fd N.
    #[error("{path} does not lead to the file it must reopen ({expected}): refusing to use it")]
    Redirected {
        /// The path that was opened.
        path: PathBuf,
        /// What it had to be.
        expected: String,
    },
    /// A system call failed.
    #[error("{call} {path}: {errno}")]
    Sys {
        /// The operation (openat2, write, fstatfs…).
        call: &'static str,
        /// The path, as `/proc/...`.
        path: PathBuf,
        /// The kernel's error.
        #[source]
        errno: Errno,
    },
}

/// How a [`ProcRoot`] was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A fresh procfs instance, never attached anywhere.
    Private,
    /// A detached, non-recursive clone of the `/proc` mount.
    Clone,
    /// `/proc` as mounted.
    Mounted,
}

/// A verified handle on the root directory of a procfs.
#[derive(Debug)]
pub(crate) struct ProcRoot {
    fd: OwnedFd,
    kind: Kind,
}

/// `/proc/<rel>`, for messages.
fn shown(rel: &str) -> PathBuf {
    Path::new("/proc").join(rel)
}

fn sys_err(call: &'static str, rel: &str) -> impl FnOnce(Errno) -> ProcfsError {
    let path = shown(rel);
    move |errno| ProcfsError::Sys { call, path, errno }
}

/// Checks that `fd` is on a procfs.
fn check_procfs(fd: BorrowedFd<'_>, rel: &str) -> Result<(), ProcfsError> {
    let st = fstatfs(fd).map_err(sys_err("fstatfs", rel))?;
    if st.filesystem_type() != PROC_SUPER_MAGIC {
        return Err(ProcfsError::NotProcfs {
            path: shown(rel),
            fs_type: st.filesystem_type().0 as i64,
        });
    }
    Ok(())
}

/// A fresh procfs mount, or a detached clone of `/proc`, or `/proc`.
fn open_any() -> (Result<OwnedFd, Errno>, Kind) {
    let attrs = libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV | libc::MOUNT_ATTR_NOEXEC;
    if let Ok(fd) = rsys::fsmount_new("proc", attrs) {
        return (Ok(fd), Kind::Private);
    }
    if let Ok(fd) = rsys::open_tree(None, Path::new("/proc"), libc::OPEN_TREE_CLONE) {
        return (Ok(fd), Kind::Clone);
    }
    (open_dir(Path::new("/proc")), Kind::Mounted)
}

/// `open(path, O_PATH | O_DIRECTORY)`.
fn open_dir(path: &Path) -> Result<OwnedFd, Errno> {
    let flags =
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC;
    let fd = nix::fcntl::open(path, flags, nix::sys::stat::Mode::empty())?;
    // SAFETY: open just returned this new fd; nothing else owns it.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
}

impl ProcRoot {
    /// The safest procfs root this process can get (see the module docs).
    pub(crate) fn open() -> Result<Self, ProcfsError> {
        let (fd, kind) = open_any();
        let fd = fd.map_err(sys_err("open", ""))?;
        let root = Self::verified(fd, kind, "")?;
        log::debug!("procfs handle for writes below /proc: {:?}", root.kind());
        Ok(root)
    }

    /// The procfs mounted at `path` (tests use it to check what an overmount does).
    #[cfg(test)]
    pub(crate) fn at(path: &Path) -> Result<Self, ProcfsError> {
        let fd = open_dir(path).map_err(sys_err("open", ""))?;
        Self::verified(fd, Kind::Mounted, "")
    }

    fn verified(fd: OwnedFd, kind: Kind, rel: &str) -> Result<Self, ProcfsError> {
        check_procfs(fd.as_fd(), rel)?;
        let st = nix::sys::stat::fstat(fd.as_raw_fd()).map_err(sys_err("fstat", rel))?;
        if st.st_ino != PROC_ROOT_INO {
            return Err(ProcfsError::NotProcRoot {
                path: shown(rel),
                ino: st.st_ino,
            });
        }
        Ok(ProcRoot { fd, kind })
    }

    /// How this handle was obtained.
    pub(crate) fn kind(&self) -> Kind {
        self.kind
    }

    /// Opens `rel` (e.g. `sys/kernel/domainname`, `thread-self/attr/exec`)
    /// below the root with `flags`; refuses a file reached through a mount
    /// point or not on procfs.
    pub(crate) fn open_file(&self, rel: &str, flags: libc::c_int) -> Result<File, ProcfsError> {
        let fd = rsys::openat2(self.fd.as_fd(), Path::new(rel), flags, 0, RESOLVE_SAFE).map_err(
            |errno| match errno {
                Errno::EXDEV => ProcfsError::Overmounted { path: shown(rel) },
                errno => sys_err("openat2", rel)(errno),
            },
        )?;
        check_procfs(fd.as_fd(), rel)?;
        Ok(File::from(fd))
    }

    /// Writes `data` to `rel` in one `write` (procfs files take one write).
    pub(crate) fn write(&self, rel: &str, data: &[u8]) -> Result<(), ProcfsError> {
        let mut file = self.open_file(rel, libc::O_WRONLY)?;
        file.write_all(data)
            .map_err(|e| sys_err("write", rel)(errno_of(&e)))
    }

    /// Reads `rel`.
    pub(crate) fn read_to_string(&self, rel: &str) -> Result<String, ProcfsError> {
        let mut text = String::new();
        self.open_file(rel, libc::O_RDONLY)?
            .read_to_string(&mut text)
            .map_err(|e| sys_err("read", rel)(errno_of(&e)))?;
        Ok(text)
    }
}

/// The errno of an `io::Error` (EIO if it has none).
fn errno_of(e: &std::io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
}

/// The error for a failed write that `field` of the config asked for: a
/// failed syscall (a missing file, a value the kernel refuses) is reported
/// against the field; a refusal (overmount, not procfs) as itself.
pub(crate) fn field_error(field: impl Into<String>, e: ProcfsError) -> crate::Error {
    match e {
        ProcfsError::Sys { .. } => crate::Error::config(field, e.to_string()),
        refusal => crate::Error::Procfs(refusal),
    }
}

/// Writes `data` to `/proc/<rel>` through a fresh [`ProcRoot`].
pub(crate) fn write(rel: &str, data: &[u8]) -> Result<(), ProcfsError> {
    ProcRoot::open()?.write(rel, data)
}

/// Reopens the `O_PATH` fd `fd` with `flags` through `/proc/thread-self/fd/N`
/// (which may block, e.g. for a fifo without a reader) and checks that what
/// was opened is the very file `fd` holds (same device and inode) before
/// anything uses it: a path redirected by a mount can at most make this fail.
pub(crate) fn reopen(fd: BorrowedFd<'_>, flags: nix::fcntl::OFlag) -> Result<File, ProcfsError> {
    let rel = format!("thread-self/fd/{}", fd.as_raw_fd());
    let path = shown(&rel);
    let opened = loop {
        match nix::fcntl::open(
            &path,
            flags | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        ) {
            Err(Errno::EINTR) => continue,
            other => break other,
        }
    }
    .map_err(sys_err("open", &rel))?;
    // SAFETY: open just returned this new fd; nothing else owns it.
    let opened: OwnedFd = unsafe { std::os::fd::FromRawFd::from_raw_fd(opened) };
    let want = nix::sys::stat::fstat(fd.as_raw_fd()).map_err(sys_err("fstat", &rel))?;
    let got = nix::sys::stat::fstat(opened.as_raw_fd()).map_err(sys_err("fstat", &rel))?;
    if (want.st_dev, want.st_ino) != (got.st_dev, got.st_ino) {
        return Err(ProcfsError::Redirected {
            path,
            expected: format!("device {:#x} inode {}", want.st_dev, want.st_ino),
        });
    }
    Ok(File::from(opened))
}

#[cfg(test)]
#[path = "proc_root_tests.rs"]
mod tests;
