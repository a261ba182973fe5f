//! Semantic checks of a parsed config, each error naming the offending field.

use std::collections::HashSet;

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Error, Result};

pub(crate) mod id_map;
mod sysctl;

/// Checks the parts of `spec` that serde cannot: required fields, duplicates,
/// and combinations the kernel would reject later in a less readable way.
pub fn spec(spec: &Spec) -> Result<()> {
    let version = spec.version();
    if !version.starts_with("1.") {
        return Err(Error::config(
            "ociVersion",
            format!("unsupported version {version:?} (kiln implements runtime-spec 1.x)"),
        ));
    }
    process(spec)?;
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::config("linux", "missing: kiln runs Linux containers only"))?;
    let namespaces = namespaces(spec)?;
    // Fields kiln does not implement: refuse them rather than ignore them.
    if linux.intel_rdt().is_some() {
        return Err(Error::config(
            "linux.intelRdt",
            "Intel RDT is not supported by kiln",
        ));
    }
    crate::init::mempolicy::MemPolicy::from_spec(spec)?;
    let has = |t: LinuxNamespaceType| namespaces.contains(&t);
    net_devices(linux, has(LinuxNamespaceType::Network))?;
    if !has(LinuxNamespaceType::Mount) {
        return Err(Error::config(
            "linux.namespaces",
            "a mount namespace is required: kiln makes the container's mounts (rootfs, /proc, \
             /dev, binds) in the container's own mount namespace, and without one they would \
             be made in the caller's and outlive the container; add {\"type\": \"mount\"}",
        ));
    }
    if spec.hostname().as_deref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        return Err(Error::config(
            "hostname",
            "setting the hostname needs a new uts namespace",
        ));
    }
    if spec.domainname().as_deref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts)
    {
        return Err(Error::config(
            "domainname",
            "setting the domainname needs a new uts namespace",
        ));
    }
    let maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if maps && !has(LinuxNamespaceType::User) {
        return Err(Error::config(
            "linux.uidMappings",
            "id mappings need a user namespace",
        ));
    }
    id_map::check(
        "linux.uidMappings",
        linux.uid_mappings().as_deref().unwrap_or_default(),
    )?;
    id_map::check(
        "linux.gidMappings",
        linux.gid_mappings().as_deref().unwrap_or_default(),
    )?;
    if linux.time_offsets().as_ref().is_some_and(|m| !m.is_empty())
        && !has(LinuxNamespaceType::Time)
    {
        return Err(Error::config(
            "linux.timeOffsets",
            "time offsets need a time namespace",
        ));
    }
    if let Some(offsets) = linux.time_offsets() {
        for clock in offsets.keys() {
            if clock != "monotonic" && clock != "boottime" {
                return Err(Error::config(
                    format!("linux.timeOffsets.{clock}"),
                    "unknown clock (expected monotonic or boottime)",
                ));
            }
        }
    }
    if let Some(sysctl) = linux.sysctl() {
        // In key order: the map's own order changes from one load to the next,
        // and the error must name the same key each time (found by fuzzing).
        let mut keys: Vec<&String> = sysctl.keys().collect();
        keys.sort();
        for key in keys {
            if let Some(reason) = sysctl::refusal(spec, key, &namespaces) {
                return Err(Error::config(crate::init::sysctl::field(key), reason));
            }
        }
    }
    for (i, p) in linux.masked_paths().iter().flatten().enumerate() {
        absolute(&format!("linux.maskedPaths[{i}]"), p)?;
    }
    for (i, p) in linux.readonly_paths().iter().flatten().enumerate() {
        absolute(&format!("linux.readonlyPaths[{i}]"), p)?;
    }
    for (i, d) in linux.devices().iter().flatten().enumerate() {
        absolute(
            &format!("linux.devices[{i}].path"),
            &d.path().to_string_lossy(),
        )?;
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        absolute(
            &format!("mounts[{i}].destination"),
            &m.destination().to_string_lossy(),
        )?;
        id_map::check(
            &format!("mounts[{i}].uidMappings"),
            m.uid_mappings().as_deref().unwrap_or_default(),
        )?;
        id_map::check(
            &format!("mounts[{i}].gidMappings"),
            m.gid_mappings().as_deref().unwrap_or_default(),
        )?;
    }
    Ok(())
}

/// The process section: present, with args and an absolute cwd.
fn process(spec: &Spec) -> Result<()> {
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::config("process", "missing: the container process is required"))?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::config(
            "process.args",
            "must name at least the program to run",
        ));
    }
    absolute("process.cwd", &process.cwd().to_string_lossy())?;
    let mut seen = HashSet::new();
    for (i, r) in process.rlimits().iter().flatten().enumerate() {
        if !seen.insert(format!("{:?}", r.typ())) {
            return Err(Error::config(
                format!("process.rlimits[{i}].type"),
                "duplicate rlimit",
            ));
        }
        if r.soft() > r.hard() {
            return Err(Error::config(
                format!("process.rlimits[{i}]"),
                format!("soft limit {} is above hard limit {}", r.soft(), r.hard()),
            ));
        }
    }
    if process.terminal().unwrap_or(false) && process.console_size().is_some() {
        // nothing to check: console size is applied when the pty exists
    }
    Ok(())
}

/// Namespaces: no type twice. Returns the set of types present.
fn namespaces(spec: &Spec) -> Result<HashSet<LinuxNamespaceType>> {
    let mut seen = HashSet::new();
    let list = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    for (i, ns) in list.into_iter().flatten().enumerate() {
        if !seen.insert(ns.typ()) {
            return Err(Error::config(
                format!("linux.namespaces[{i}].type"),
                format!("namespace {:?} listed twice", ns.typ().to_string()),
            ));
        }
        if let Some(p) = ns.path() {
            if !p.is_absolute() {
                return Err(Error::config(
                    format!("linux.namespaces[{i}].path"),
                    "must be an absolute path",
                ));
            }
        }
    }
    Ok(seen)
}

fn absolute(field: &str, path: &str) -> Result<()> {
    if path.starts_with('/') {
        Ok(())
    } else {
        Err(Error::config(
            field,
            format!("{path:?} is not an absolute path"),
        ))
    }
}

/// `linux.netDevices`: valid interface names, and a network namespace of the
/// container's own to move them into.
fn net_devices(linux: &oci_spec::runtime::Linux, own_netns: bool) -> Result<()> {
    let Some(devices) = linux.net_devices().as_ref().filter(|d| !d.is_empty()) else {
        return Ok(());
    };
    if !own_netns {
        return Err(Error::config(
            "linux.netDevices",
            "moving network devices needs a network namespace in linux.namespaces",
        ));
    }
    let valid = |n: &str| {
        !n.is_empty()
            && n.len() < 16
            && n != "."
            && n != ".."
            && !n.chars().any(|c| c == '/' || c == ':' || c.is_whitespace())
    };
    for (host_name, device) in devices {
        let field = format!("linux.netDevices[{host_name:?}]");
        if !valid(host_name) {
            return Err(Error::config(field, "not a valid interface name"));
        }
        if let Some(name) = device.name().as_deref().filter(|n| !valid(n)) {
            return Err(Error::config(
                format!("{field}.name"),
                format!("{name:?} is not a valid interface name"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_from(json: &str) -> Spec {
        crate::bundle::parse_config(json.as_bytes()).unwrap()
    }

    const BASE: &str = r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},
        "process":{"args":["sh"],"cwd":"/","user":{"uid":0,"gid":0}},
        "linux":{"namespaces":[{"type":"pid"},{"type":"mount"}]}"#;

    #[test]
    fn accepts_minimal() {
        spec(&spec_from(&format!("{BASE}}}"))).unwrap();
    }

    #[test]
    fn hostname_needs_uts() {
        let err = spec(&spec_from(&format!("{BASE},\"hostname\":\"x\"}}")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("hostname") && err.contains("uts"), "{err}");
    }

    #[test]
    fn host_sysctl_refused() {
        let s = BASE.replace(r#"[{"type":"pid"}"#, r#"[{"type":"ipc"},{"type":"pid"}"#);
        let s = s.replace(
            "\"linux\":{",
            "\"linux\":{\"sysctl\":{\"vm.swappiness\":\"1\"},",
        );
        let err = spec(&spec_from(&format!("{s}}}"))).unwrap_err().to_string();
        assert!(err.contains("linux.sysctl[\"vm.swappiness\"]"), "{err}");
    }

    #[test]
    fn of_several_refused_sysctls_the_first_key_is_named_every_time() {
        let s = BASE.replace(
            "\"linux\":{",
            "\"linux\":{\"sysctl\":{\"vm.swappiness\":\"1\",\"net.core.somaxconn\":\"1\",\"kernel.uid_rmid_forced\":\"1\"},",
        );
        // Each load is a new map with its own iteration order.
        for _ in 0..20 {
            let err = spec(&spec_from(&format!("{s}}}"))).unwrap_err().to_string();
            assert!(err.contains("[\"kernel.uid_rmid_forced\"]"), "{err}");
        }
    }

    #[test]
    fn duplicate_namespace_refused() {
        let s = BASE.replace(r#"{"type":"mount"}"#, r#"{"type":"mount"},{"type":"pid"}"#);
        let err = spec(&spec_from(&format!("{s}}}"))).unwrap_err().to_string();
        assert!(err.contains("linux.namespaces[2].type"), "{err}");
    }

    #[test]
    fn overlapping_id_mappings_refused() {
        let s = BASE.replace(r#"{"type":"mount"}"#, r#"{"type":"mount"},{"type":"user"}"#);
        let s = s.replace(
            "\"linux\":{",
            r#""linux":{"uidMappings":[{"containerID":0,"hostID":1000,"size":10},
                {"containerID":5,"hostID":5000,"size":1}],"#,
        );
        let err = spec(&spec_from(&format!("{s}}}"))).unwrap_err().to_string();
        assert!(err.contains("linux.uidMappings[1]"), "{err}");
    }

    #[test]
    fn empty_args_refused() {
        let s = BASE.replace(r#""args":["sh"]"#, r#""args":[]"#);
        let err = spec(&spec_from(&format!("{s}}}"))).unwrap_err().to_string();
        assert!(err.contains("process.args"), "{err}");
    }
}
