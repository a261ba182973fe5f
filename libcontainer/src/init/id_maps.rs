//! Writing a new user namespace's uid_map/gid_map from the parent, privileged or not.
//!
//! With CAP_SETUID/CAP_SETGID (real root, or root of the caller's own user namespace) the
//! maps are written directly. Without, the kernel lets a process map only its own euid/egid
//! (and the gid only once `setgroups` is `deny`): such a single mapping is written directly,
//! as runc and crun do; anything else goes through the setuid helpers `newuidmap` /
//! `newgidmap` (Debian package `uidmap`), which allow the ranges `/etc/subuid` and
//! `/etc/subgid` grant the user.

use std::process::{Command, Stdio};

use nix::errno::Errno;
use oci_spec::runtime::{LinuxIdMapping, Spec};

use crate::error::{Error, Result};
use crate::process::proc_root::{self, ProcfsError};
use crate::validate::id_map;

/// One of the two maps.
#[derive(Clone, Copy, Debug)]
struct Kind {
    file: &'static str,
    field: &'static str,
    tool: &'static str,
    subid: &'static str,
    cap: caps::Capability,
}

const UID: Kind = Kind {
    file: "uid_map",
    field: "linux.uidMappings",
    tool: "newuidmap",
    subid: "/etc/subuid",
    cap: caps::Capability::CAP_SETUID,
};
const GID: Kind = Kind {
    file: "gid_map",
    field: "linux.gidMappings",
    tool: "newgidmap",
    subid: "/etc/subgid",
    cap: caps::Capability::CAP_SETGID,
};

/// Writes uid_map and gid_map of `pid` (just put in a new user namespace) from the config.
pub(crate) fn write(spec: &Spec, pid: i32) -> Result<()> {
    let linux = spec.linux().as_ref();
    let uid = linux
        .and_then(|l| l.uid_mappings().as_deref())
        .unwrap_or_default();
    let gid = linux
        .and_then(|l| l.gid_mappings().as_deref())
        .unwrap_or_default();
    for (kind, maps) in [(UID, uid), (GID, gid)] {
        if maps.is_empty() {
            return Err(Error::config(
                kind.field,
                "a new user namespace needs id mappings",
            ));
        }
    }
    write_one(UID, uid, pid, nix::unistd::geteuid().as_raw())?;
    write_one(GID, gid, pid, nix::unistd::getegid().as_raw())
}

fn write_one(kind: Kind, maps: &[LinuxIdMapping], pid: i32, own: u32) -> Result<()> {
    let privileged = caps::has_cap(None, caps::CapSet::Effective, kind.cap).unwrap_or(false);
    let own_only = matches!(maps, [m] if m.host_id() == own && m.size() == 1);
    if !privileged && !own_only {
        return via_tool(kind, maps, pid);
    }
    if !privileged && kind.file == "gid_map" {
        // The kernel's condition for an unprivileged gid_map (user_namespaces(7)).
        proc_root::write(&format!("{pid}/setgroups"), b"deny")
            .map_err(|e| proc_root::field_error(kind.field, e))?;
    }
    let text = id_map::text(maps);
    match proc_root::write(&format!("{pid}/{}", kind.file), text.as_bytes()) {
        Ok(()) => Ok(()),
        // Refused for lack of privilege (e.g. caps but ids outside our own namespace's map).
        Err(ProcfsError::Sys {
            errno: Errno::EPERM,
            ..
        }) if !own_only => via_tool(kind, maps, pid),
        Err(e) => Err(proc_root::field_error(kind.field, e)),
    }
}

/// `newuidmap PID ID LOWER COUNT ...` (or newgidmap).
fn via_tool(kind: Kind, maps: &[LinuxIdMapping], pid: i32) -> Result<()> {
    let mut cmd = Command::new(kind.tool);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([
            m.container_id().to_string(),
            m.host_id().to_string(),
            m.size().to_string(),
        ]);
    }
    let refused = |why: String| {
        Error::config(
            kind.field,
            format!(
                "{} cannot be mapped by this user ({why}): an unprivileged user may map only its \
                 own id directly, and other ranges only as {} grants them through {}",
                describe(maps),
                kind.subid,
                kind.tool,
            ),
        )
    };
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                refused(format!(
                    "{} not found: install the uidmap package",
                    kind.tool
                ))
            } else {
                refused(format!("running {}: {e}", kind.tool))
            }
        })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(refused(format!(
        "{} failed ({}): {}",
        kind.tool,
        out.status,
        stderr.trim()
    )))
}

/// `0→1000 (1), 1→100000 (65536)`.
fn describe(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{}→{} ({})", m.container_id(), m.host_id(), m.size()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(c: u32, h: u32, n: u32) -> LinuxIdMapping {
        oci_spec::runtime::LinuxIdMappingBuilder::default()
            .container_id(c)
            .host_id(h)
            .size(n)
            .build()
            .unwrap()
    }

    #[test]
    fn describes_the_mapping() {
        assert_eq!(
            describe(&[map(0, 1000, 1), map(1, 100000, 65536)]),
            "0→1000 (1), 1→100000 (65536)"
        );
    }

    #[test]
    fn a_missing_tool_is_named_with_its_package() {
        let kind = Kind {
            tool: "kiln-no-such-newuidmap",
            ..UID
        };
        let e = via_tool(kind, &[map(0, 100000, 10)], 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("linux.uidMappings"), "{e}");
        assert!(
            e.contains("/etc/subuid") && e.contains("uidmap package"),
            "{e}"
        );
    }
}
