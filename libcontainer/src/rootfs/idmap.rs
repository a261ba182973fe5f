//! Id-mapped bind mounts (`idmap`, `ridmap`, `uidMappings`, `gidMappings`).
//!
//! `mount_setattr(MOUNT_ATTR_IDMAP)` takes the mapping from a user namespace:
//! one is created by a short-lived child whose `uid_map`/`gid_map` we write
//! (the mapping as given: a file owned by `containerID + n` on disk appears
//! owned by `hostID + n` through the mount, as with runc), then the child is
//! killed and the namespace lives on in its fd.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::LinuxIdMapping;

use super::error::{SysError, SysResult};
use super::inroot::errno_of;
use super::sys::{self, MountAttr};

/// Kills and reaps the namespace holder when dropped.
struct Holder(Pid);

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGKILL);
        let _ = waitpid(self.0, None);
    }
}

/// The pid of the process behind `pidfd` as the procfs at `/proc` numbers it
/// (our own pid namespace may differ from that procfs's).
fn pid_in_procfs(pidfd: &OwnedFd) -> SysResult<u32> {
    let path = PathBuf::from(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd()));
    let text =
        std::fs::read_to_string(&path).map_err(|e| SysError::new("read", &path, errno_of(&e)))?;
    text.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|&pid| pid > 0)
        .ok_or_else(|| SysError::new("read (pidfd has no visible pid)", &path, Errno::ESRCH))
}

/// A user namespace with the given mappings, as an fd.
pub(super) fn userns_fd(uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> SysResult<OwnedFd> {
    let (pid, pidfd) = sys::clone_userns_holder()
        .map_err(|e| SysError::bare("clone (user namespace for idmap)", e))?;
    let _holder = Holder(Pid::from_raw(pid));
    let proc_dir = PathBuf::from(format!("/proc/{}", pid_in_procfs(&pidfd)?));
    for (file, maps) in [("uid_map", uid), ("gid_map", gid)] {
        let path = proc_dir.join(file);
        std::fs::write(&path, crate::validate::id_map::text(maps))
            .map_err(|e| SysError::new("write", &path, errno_of(&e)))?;
    }
    let ns = proc_dir.join("ns/user");
    let file = std::fs::File::open(&ns).map_err(|e| SysError::new("open", &ns, errno_of(&e)))?;
    Ok(file.into())
}

/// Makes the detached mount `tree` id-mapped (its whole tree if `recursive`).
pub(super) fn apply(tree: &OwnedFd, recursive: bool, userns: &OwnedFd) -> Result<(), Errno> {
    let fd = u64::try_from(userns.as_raw_fd()).map_err(|_| Errno::EBADF)?;
    let attr = MountAttr {
        attr_set: libc::MOUNT_ATTR_IDMAP,
        userns_fd: fd,
        ..MountAttr::default()
    };
    sys::mount_setattr(tree.as_fd(), recursive, &attr)
}
