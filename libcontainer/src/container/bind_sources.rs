//! Parent side of the init's "bind sources" step (see `rootfs::ClonedSources`):
//! a short-lived helper with the runtime's credentials joins the init's mount
//! namespace, clones each bind source there with `open_tree(OPEN_TREE_CLONE)`
//! and sends the detached trees to the init over the sync channel.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};

use crate::error::{Error, InitError, Result};
use crate::init::exit_now;
use crate::process::channel::Channel;
use crate::process::clone::{fork, Forked};
use crate::process::protocol::ToInit;
use crate::rootfs::BindSource;

/// Clones `sources` inside the mount namespace of `init` for it; waits for
/// the helper and returns its error, naming the mount, if one failed.
pub(crate) fn send(init: i32, sources: &[BindSource], chan: &Channel) -> Result<()> {
    let ns_path = format!("/proc/{init}/ns/mnt");
    let mnt_ns =
        OwnedFd::from(std::fs::File::open(&ns_path).map_err(|e| Error::io("open", &ns_path, e))?);
    let (mut err_read, err_write) =
        std::io::pipe().map_err(|e| Error::io("pipe (bind sources)", "", e))?;
    let helper = match fork()? {
        Forked::Child => {
            drop(err_read);
            let code = match clone_all(mnt_ns.as_fd(), sources, chan) {
                Ok(()) => 0,
                Err(e) => {
                    let mut w = err_write;
                    let report = InitError::new("bind-sources", &e);
                    // The exit code tells the parent anyway if this fails.
                    serde_json::to_writer(&mut w, &report).ok();
                    1
                }
            };
            exit_now(code)
        }
        Forked::Parent { pid, .. } => nix::unistd::Pid::from_raw(pid),
    };
    drop(err_write);
    let mut text = String::new();
    let read = err_read.read_to_string(&mut text);
    let status = loop {
        match nix::sys::wait::waitpid(helper, None) {
            Err(nix::Error::EINTR) => continue,
            other => break other.map_err(|e| Error::sys("wait for the bind sources helper", e))?,
        }
    };
    read.map_err(|e| Error::io("read (bind sources helper)", "", e))?;
    match status {
        nix::sys::wait::WaitStatus::Exited(_, 0) => Ok(()),
        _ if !text.is_empty() => Err(Error::InitFailed(
            crate::json::from_slice(text.as_bytes())
                .unwrap_or_else(|_| InitError::from_message("bind-sources", text)),
        )),
        other => Err(Error::InitDied(format!(
            "the bind sources helper ended with {other:?}"
        ))),
    }
}

/// In the helper: join the init's mount namespace and send each clone.
fn clone_all(
    mnt_ns: std::os::fd::BorrowedFd<'_>,
    sources: &[BindSource],
    chan: &Channel,
) -> Result<()> {
    nix::sched::setns(mnt_ns, nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|e| Error::sys("setns into the container's mount namespace", e))?;
    for s in sources {
        let tree = crate::rootfs::clone_bind_source(s)?;
        let index =
            u32::try_from(s.index).map_err(|_| Error::config("mounts", "too many mounts"))?;
        chan.send_with(&ToInit::MountSource(index), Some(tree.as_fd()))?;
    }
    Ok(())
}
