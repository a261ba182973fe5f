//! `tmpcopyup` (a runc extension podman uses for `--read-only`): a tmpfs
//! mounted over a directory of the image starts with a copy of what it hides.

use std::ffi::{CString, OsStr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fchmodat, fstatat, mkdirat, mknodat, FchmodatFlags, Mode, SFlag};
use nix::unistd::{fchownat, symlinkat, Gid, Uid};

use super::error::SysError;

type SysResult<T> = Result<T, SysError>;

/// Copies the contents of directory `from` into directory `to` (files,
/// directories, symlinks, device nodes and fifos, with owner and mode),
/// never following a symlink of the image. `shown` names `from` in errors.
pub(super) fn copy_tree(from: BorrowedFd<'_>, to: BorrowedFd<'_>, shown: &Path) -> SysResult<()> {
    let err = |call: &str, name: &OsStr, e: Errno| SysError::new(call, shown.join(name), e);
    let dup = nix::unistd::dup(from.as_raw_fd()).map_err(|e| SysError::new("dup", shown, e))?;
    let mut dir = Dir::from_fd(dup).map_err(|e| SysError::new("opendir", shown, e))?;
    let names: Vec<CString> = dir
        .iter()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_owned())
        .filter(|n| n.as_bytes() != b"." && n.as_bytes() != b"..")
        .collect();
    for name in names {
        let os = OsStr::from_bytes(name.as_bytes());
        let st = fstatat(
            Some(from.as_raw_fd()),
            name.as_c_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| err("fstatat", os, e))?;
        let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
        if kind == SFlag::S_IFDIR {
            mkdirat(
                Some(to.as_raw_fd()),
                name.as_c_str(),
                Mode::from_bits_truncate(0o700),
            )
            .map_err(|e| err("mkdirat", os, e))?;
            let sub_from = open_at(
                from,
                &name,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
            )
            .map_err(|e| err("openat", os, e))?;
            let sub_to = open_at(
                to,
                &name,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
            )
            .map_err(|e| err("openat (copy)", os, e))?;
            copy_tree(sub_from.as_fd(), sub_to.as_fd(), &shown.join(os))?;
        } else if kind == SFlag::S_IFREG {
            let src = open_at(from, &name, OFlag::O_RDONLY | OFlag::O_NOFOLLOW)
                .map_err(|e| err("openat", os, e))?;
            let dst = open_at(
                to,
                &name,
                OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW,
            )
            .map_err(|e| err("openat (copy)", os, e))?;
            let (mut src, mut dst) = (std::fs::File::from(src), std::fs::File::from(dst));
            std::io::copy(&mut src, &mut dst)
                .map_err(|e| err("copy", os, super::inroot::errno_of(&e)))?;
        } else if kind == SFlag::S_IFLNK {
            let target = readlinkat(Some(from.as_raw_fd()), name.as_c_str())
                .map_err(|e| err("readlinkat", os, e))?;
            symlinkat(target.as_os_str(), Some(to.as_raw_fd()), name.as_c_str())
                .map_err(|e| err("symlinkat", os, e))?;
        } else {
            mknodat(
                Some(to.as_raw_fd()),
                name.as_c_str(),
                kind,
                mode,
                st.st_rdev,
            )
            .map_err(|e| err("mknodat", os, e))?;
        }
        fchownat(
            Some(to.as_raw_fd()),
            name.as_c_str(),
            Some(Uid::from_raw(st.st_uid)),
            Some(Gid::from_raw(st.st_gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| err("fchownat", os, e))?;
        if kind != SFlag::S_IFLNK {
            fchmodat(
                Some(to.as_raw_fd()),
                name.as_c_str(),
                mode,
                FchmodatFlags::NoFollowSymlink,
            )
            .map_err(|e| err("fchmodat", os, e))?;
        }
    }
    Ok(())
}

fn open_at(dir: BorrowedFd<'_>, name: &CString, flags: OFlag) -> Result<OwnedFd, Errno> {
    let fd = openat(
        Some(dir.as_raw_fd()),
        name.as_c_str(),
        flags | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )?;
    // SAFETY: openat returned a new fd that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

    #[test]
    fn copies_files_dirs_links_with_modes() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::create_dir(a.path().join("d")).unwrap();
        std::fs::write(a.path().join("d/f"), b"data").unwrap();
        std::fs::set_permissions(a.path().join("d/f"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        symlink("/etc/passwd", a.path().join("l")).unwrap();
        let from = std::fs::File::open(a.path()).unwrap();
        let to = std::fs::File::open(b.path()).unwrap();
        copy_tree(from.as_fd(), to.as_fd(), a.path()).unwrap();
        assert_eq!(std::fs::read(b.path().join("d/f")).unwrap(), b"data");
        assert_eq!(
            std::fs::metadata(b.path().join("d/f")).unwrap().mode() & 0o7777,
            0o640
        );
        assert_eq!(
            std::fs::read_link(b.path().join("l")).unwrap(),
            Path::new("/etc/passwd")
        );
    }
}
