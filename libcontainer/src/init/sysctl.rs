//! Init step "sysctl": `linux.sysctl` written under the container's /proc/sys.

use oci_spec::runtime::Spec;

use crate::error::{Error, Result};

/// Writes each `linux.sysctl` key (validated earlier as namespaced).
pub(crate) fn apply(spec: &Spec) -> Result<()> {
    let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    for (key, value) in sysctl {
        if key.contains("..") || key.starts_with('/') {
            return Err(Error::config(
                format!("linux.sysctl.{key}"),
                "not a sysctl name",
            ));
        }
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        std::fs::write(&path, value.as_bytes()).map_err(|e| {
            Error::config(format!("linux.sysctl.{key}"), format!("write {path}: {e}"))
        })?;
    }
    Ok(())
}
