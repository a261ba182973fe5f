//! Path resolution and creation confined to the container's root.
//!
//! Every path the config names inside the container is resolved with
//! `openat2(root, path, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`: absolute
//! symlinks and `..` are interpreted relative to the rootfs, so an image can
//! never redirect a mount or a created file to the host. Missing components
//! are created with `mkdirat` on a directory fd obtained the same way; a
//! dangling symlink is followed (inside the root) and its target created,
//! like `mkdir -p` would inside a chroot.

use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::sys::stat::Mode;

use super::error::{SysError, SysResult};
use super::sys;

/// The most symlinks followed while creating one path (the kernel's own limit).
const MAX_SYMLINKS: u32 = 40;

const RESOLVE_SCOPED: u64 = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;

/// A directory that acts as `/` for every lookup made through it.
#[derive(Debug)]
pub(crate) struct InRoot {
    fd: OwnedFd,
}

impl InRoot {
    /// Opens `path` (a host path, or `/` after pivot_root) as the root of lookups.
    pub(crate) fn open(path: &Path) -> SysResult<Self> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| SysError::new("open", path, errno_of(&e)))?;
        Ok(Self { fd: file.into() })
    }

    /// The root directory's fd.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Gives up the root directory's fd.
    pub(crate) fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// Opens `path` (relative to the root; `..` and symlinks stay inside it) as an `O_PATH` fd.
    pub(crate) fn open_path(&self, path: &Path) -> SysResult<OwnedFd> {
        self.open_with(path, libc::O_PATH)
    }

    /// Opens `path` inside the root with the given `open(2)` flags.
    pub(crate) fn open_with(&self, path: &Path, flags: libc::c_int) -> SysResult<OwnedFd> {
        let rel = relative(path);
        sys::openat2(self.fd(), &rel, flags, 0, RESOLVE_SCOPED)
            .map_err(|e| SysError::new("openat2", shown(path), e))
    }

    fn open_dir(&self, path: &Path) -> SysResult<OwnedFd> {
        self.open_with(path, libc::O_PATH | libc::O_DIRECTORY)
    }

    /// Makes sure the directory `path` exists inside the root (creating missing
    /// components with `mode`) and returns an `O_PATH` fd of it.
    pub(crate) fn mkdir_all(&self, path: &Path, mode: Mode) -> SysResult<OwnedFd> {
        self.mkdir_all_at_depth(path, mode, 0)
    }

    fn mkdir_all_at_depth(&self, path: &Path, mode: Mode, depth: u32) -> SysResult<OwnedFd> {
        if depth > MAX_SYMLINKS {
            return Err(SysError::new("mkdir", shown(path), Errno::ELOOP));
        }
        match self.open_dir(path) {
            Err(e) if e.errno == Errno::ENOENT => {}
            other => return other,
        }
        let mut cur = PathBuf::new();
        let mut dir = self.open_dir(Path::new("."))?;
        for name in names(path) {
            let next = cur.join(name);
            match self.open_dir(&next) {
                Ok(fd) => {
                    dir = fd;
                    cur = next;
                    continue;
                }
                Err(e) if e.errno != Errno::ENOENT => return Err(e),
                Err(_) => {}
            }
            match nix::sys::stat::mkdirat(Some(dir.as_raw_fd()), name, mode) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(SysError::new("mkdirat", shown(&next), e)),
            }
            dir = match self.open_dir(&next) {
                Err(e) if e.errno == Errno::ENOENT => {
                    // `name` exists but does not resolve: a dangling symlink.
                    // Create what it points to, interpreted inside the root.
                    let target = self.link_target(&dir, &cur, name)?;
                    self.mkdir_all_at_depth(&target, mode, depth + 1)?
                }
                other => other?,
            };
            cur = next;
        }
        Ok(dir)
    }

    /// Makes sure a non-directory `path` exists inside the root (an empty file
    /// with `mode` is created if it is missing; missing parents are created) and
    /// returns an `O_PATH` fd of it.
    pub(crate) fn ensure_file(&self, path: &Path, mode: Mode) -> SysResult<OwnedFd> {
        self.ensure_file_at_depth(path, mode, 0)
    }

    fn ensure_file_at_depth(&self, path: &Path, mode: Mode, depth: u32) -> SysResult<OwnedFd> {
        if depth > MAX_SYMLINKS {
            return Err(SysError::new("create", shown(path), Errno::ELOOP));
        }
        match self.open_path(path) {
            Err(e) if e.errno == Errno::ENOENT => {}
            other => return other,
        }
        let (parent, name) = self.mkdir_parent(path)?;
        let flags = libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW;
        match sys::openat2(
            parent.as_fd(),
            Path::new(name),
            flags,
            mode.bits(),
            libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_BENEATH,
        ) {
            Ok(_) => {}
            Err(Errno::EEXIST | Errno::ELOOP) => {
                // A dangling symlink: create its target inside the root instead.
                let dir = path.parent().unwrap_or(Path::new(""));
                if let Ok(target) = self.link_target(&parent, dir, name) {
                    return self.ensure_file_at_depth(&target, mode, depth + 1);
                }
            }
            Err(e) => return Err(SysError::new("create", shown(path), e)),
        }
        self.open_path(path)
    }

    /// Creates the parent directory of `path` and returns it with `path`'s last component.
    pub(crate) fn mkdir_parent<'p>(&self, path: &'p Path) -> SysResult<(OwnedFd, &'p OsStr)> {
        let name = path
            .file_name()
            .ok_or_else(|| SysError::new("create", shown(path), Errno::EISDIR))?;
        let parent = path.parent().unwrap_or(Path::new(""));
        Ok((
            self.mkdir_all(parent, Mode::from_bits_truncate(0o755))?,
            name,
        ))
    }

    /// Reads the symlink `name` in `dir` (whose path inside the root is
    /// `dir_path`) and returns its target as a path inside the root.
    fn link_target(&self, dir: &OwnedFd, dir_path: &Path, name: &OsStr) -> SysResult<PathBuf> {
        let target = nix::fcntl::readlinkat(Some(dir.as_raw_fd()), name)
            .map_err(|e| SysError::new("readlinkat", shown(&dir_path.join(name)), e))?;
        let target = Path::new(&target);
        Ok(if target.is_absolute() {
            target.to_path_buf()
        } else {
            dir_path.join(target)
        })
    }
}

/// The components of `path` that name something (`..` included, `.` and `/` skipped).
fn names(path: &Path) -> impl Iterator<Item = &OsStr> {
    path.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n),
        Component::ParentDir => Some(OsStr::new("..")),
        Component::CurDir | Component::RootDir | Component::Prefix(_) => None,
    })
}

/// `path` made relative (for `openat2`); the root itself becomes `.`.
fn relative(path: &Path) -> PathBuf {
    let rel: PathBuf = names(path).collect();
    if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    }
}

/// `path` as the container sees it (absolute), for error messages.
pub(crate) fn shown(path: &Path) -> PathBuf {
    let mut shown = PathBuf::from("/");
    shown.extend(names(path));
    shown
}

/// The errno of an `io::Error` from a syscall (EIO if it has none).
pub(crate) fn errno_of(e: &std::io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
}
