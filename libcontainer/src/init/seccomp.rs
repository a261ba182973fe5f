//! Init step "seccomp": load the filter compiled by the parent.

use std::os::fd::AsFd;

use crate::error::Result;
use crate::process::channel::{Channel, Msg};

/// Loads `filter`. A notify listener fd goes to the parent, which hands it
/// to the seccomp agent at `linux.seccomp.listenerPath`.
pub(crate) fn load(filter: &kiln_seccomp::CompiledFilter, chan: &Channel) -> Result<()> {
    if let Some(fd) = filter.load()? {
        chan.send_with(&Msg::SeccompFd, Some(fd.as_fd()))?;
    }
    Ok(())
}
