//! Init step "user": supplementary groups, gid, uid and umask.

use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::Process;

use crate::error::{Error, Result};

/// Switches to `process.user`, keeping capabilities for the "caps" step.
pub(crate) fn switch(process: &Process, setgroups_allowed: bool) -> Result<()> {
    let user = process.user();
    let gids: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    if setgroups_allowed {
        setgroups(&gids)
            .map_err(|e| Error::sys(format!("setgroups {:?}", user.additional_gids()), e))?;
    } else if !gids.is_empty() {
        return Err(Error::config(
            "process.user.additionalGids",
            "cannot set supplementary groups: setgroups is denied in this user namespace",
        ));
    }
    keep_caps(true)?;
    let gid = Gid::from_raw(user.gid());
    setresgid(gid, gid, gid).map_err(|e| Error::sys(format!("setresgid {}", user.gid()), e))?;
    let uid = Uid::from_raw(user.uid());
    setresuid(uid, uid, uid).map_err(|e| Error::sys(format!("setresuid {}", user.uid()), e))?;
    keep_caps(false)?;
    if let Some(mask) = user.umask() {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    }
    Ok(())
}

fn keep_caps(on: bool) -> Result<()> {
    nix::sys::prctl::set_keepcaps(on).map_err(|e| Error::sys("prctl PR_SET_KEEPCAPS", e))
}
