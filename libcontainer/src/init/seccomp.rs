//! Init step "seccomp": load the filter compiled by the parent.

use std::os::fd::AsFd;

use super::setup::Stage;
use crate::error::Result;
use crate::process::channel::Channel;
use crate::process::protocol::{FromExec, FromInit};

/// Loads `filter`. A notify listener fd goes to the parent (`create` or
/// `exec`, after `stage`), which hands it to the seccomp agent at
/// `linux.seccomp.listenerPath`.
pub(crate) fn load(
    filter: &kiln_seccomp::CompiledFilter,
    chan: &Channel,
    stage: Stage,
) -> Result<()> {
    if let Some(fd) = filter.load()? {
        match stage {
            Stage::Init => chan.send_with(&FromInit::SeccompFd, Some(fd.as_fd()))?,
            Stage::ExecProcess => chan.send_with(&FromExec::SeccompFd, Some(fd.as_fd()))?,
        }
    }
    Ok(())
}
