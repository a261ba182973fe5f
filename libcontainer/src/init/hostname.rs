//! Init step "hostname": hostname and domainname in the new uts namespace.

use oci_spec::runtime::Spec;

use crate::error::{Error, Result};

/// Sets `hostname` and `domainname` when the config has them.
pub(crate) fn apply(spec: &Spec) -> Result<()> {
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).map_err(|e| Error::sys(format!("sethostname {h:?}"), e))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        set_domainname(d)?;
    }
    Ok(())
}

fn set_domainname(name: &str) -> Result<()> {
    // SAFETY: pointer and length describe `name`'s bytes, which outlive the call.
    let r = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    if r < 0 {
        return Err(Error::sys(
            format!("setdomainname {name:?}"),
            nix::Error::last(),
        ));
    }
    Ok(())
}
