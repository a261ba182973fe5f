//! tmpfs specifics: without a `mode=` option a tmpfs takes the mode of the
//! directory it is mounted on, when that directory exists in the image (as
//! with runc and crun); a mount point kiln creates keeps tmpfs' default 1777.

use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::sys::stat::SFlag;

use super::error::{Context, RootfsError, SysError};
use super::inroot::{shown, InRoot};
use super::mounts::Entry;

/// The filesystem data for tmpfs entry `e`: its options, led by the mount
/// point's `mode=` when they give none and the mount point is a directory.
pub(super) fn data_with_mode(root: &InRoot, e: &Entry<'_>) -> Result<Option<String>, RootfsError> {
    let given = e.opts.data_string();
    if e.opts.data.iter().any(|w| w.starts_with("mode=")) {
        return Ok(given);
    }
    let existing = match root.open_path(e.dest) {
        Ok(fd) => fd,
        Err(err) if err.errno == Errno::ENOENT => return Ok(given),
        Err(err) => return Err(err.within(&e.ctx)),
    };
    let st = nix::sys::stat::fstat(existing.as_raw_fd())
        .map_err(|errno| SysError::new("fstat", shown(e.dest), errno))
        .ctx(|| &e.ctx)?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFDIR {
        return Ok(given);
    }
    let mode = format!("mode={:o}", st.st_mode & 0o7777);
    Ok(Some(match given {
        Some(rest) => format!("{mode},{rest}"),
        None => mode,
    }))
}
