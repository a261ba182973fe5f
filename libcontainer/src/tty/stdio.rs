//! Ownership of the container's stdio (its pty, mostly) for the user the
//! process will run as.

use nix::errno::Errno;
use nix::sys::stat::{fstat, stat};
use nix::unistd::{fchown, Uid};

use super::error::{Result, TtyError};

/// Gives fds 0, 1 and 2 to `uid` (group unchanged), as runc does before
/// switching user, so a non-root process can reopen its own terminal
/// (`/dev/tty`, `/proc/self/fd/0`). Skips fds already owned by `uid` and fds
/// that are `/dev/null`; EINVAL (unmapped id), EPERM (owner outside our user
/// namespace) and EROFS are tolerated. Call while still root.
pub(crate) fn chown_stdio(uid: u32) -> Result<()> {
    let null = stat("/dev/null").map_err(|e| TtyError::path("stat", "/dev/null", e))?;
    for fd in 0..=2 {
        let st = match fstat(fd) {
            Ok(st) => st,
            Err(Errno::EBADF) => continue,
            Err(e) => return Err(TtyError::sys(format!("fstat fd {fd}"), e)),
        };
        if st.st_uid == uid || st.st_rdev == null.st_rdev {
            continue;
        }
        match fchown(fd, Some(Uid::from_raw(uid)), None) {
            Ok(()) | Err(Errno::EINVAL | Errno::EPERM | Errno::EROFS) => {}
            Err(e) => return Err(TtyError::sys(format!("fchown fd {fd} to uid {uid}"), e)),
        }
    }
    Ok(())
}
