//! The host's mounts, read with the project's one mountinfo parser
//! ([`kiln_cgroups::mountinfo`]) and reported as rootfs errors.

use std::path::Path;

#[cfg(test)]
pub(crate) use kiln_cgroups::mountinfo::parse_line;
pub(crate) use kiln_cgroups::mountinfo::MountInfo;

use super::error::RootfsError;

/// Reads `/proc/self/mountinfo`; `context` names the operation in the error.
pub(crate) fn read_self(context: &str) -> Result<Vec<MountInfo>, RootfsError> {
    let path = Path::new(kiln_cgroups::mountinfo::SELF);
    kiln_cgroups::mountinfo::read(path).map_err(|e| RootfsError::io(context, path, e))
}
