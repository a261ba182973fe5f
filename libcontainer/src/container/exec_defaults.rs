//! The process an `exec` really runs: what the given process leaves out of
//! its security and scheduling attributes comes from the container's own
//! `process` (as runc does), so a partial process.json never runs with more
//! privileges than the container (e.g. the runtime's full capability sets).

use oci_spec::runtime::Process;

/// `given`, with each of capabilities, noNewPrivileges, apparmorProfile,
/// selinuxLabel, rlimits (absent or empty), ioPriority, scheduler and
/// execCPUAffinity that it does not set taken from `container`.
pub(crate) fn inherit(given: &Process, container: Option<&Process>) -> Process {
    let mut p = given.clone();
    let Some(c) = container else {
        return p;
    };
    if p.capabilities().is_none() {
        p.set_capabilities(c.capabilities().clone());
    }
    if p.no_new_privileges().is_none() {
        p.set_no_new_privileges(c.no_new_privileges());
    }
    if p.apparmor_profile().as_deref().is_none_or(str::is_empty) {
        p.set_apparmor_profile(c.apparmor_profile().clone());
    }
    if p.selinux_label().as_deref().is_none_or(str::is_empty) {
        p.set_selinux_label(c.selinux_label().clone());
    }
    if p.rlimits().as_ref().is_none_or(Vec::is_empty) {
        p.set_rlimits(c.rlimits().clone());
    }
    if p.io_priority().is_none() {
        p.set_io_priority(*c.io_priority());
    }
    if p.scheduler().is_none() {
        p.set_scheduler(c.scheduler().clone());
    }
    if p.exec_cpu_affinity().is_none() {
        p.set_exec_cpu_affinity(c.exec_cpu_affinity().clone());
    }
    p
}

#[cfg(test)]
mod tests {
    use super::inherit;
    use oci_spec::runtime::Process;

    fn process(json: serde_json::Value) -> Process {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn missing_attributes_come_from_the_container() {
        let container = process(serde_json::json!({
            "user": {"uid": 0, "gid": 0}, "cwd": "/", "args": ["sh"],
            "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"]},
            "noNewPrivileges": true,
            "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 10}],
            "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 4},
        }));
        let given = process(serde_json::json!({"user": {}, "cwd": "/", "args": ["env"]}));
        let p = inherit(&given, Some(&container));
        assert_eq!(p.capabilities(), container.capabilities());
        assert_eq!(p.no_new_privileges(), Some(true));
        assert_eq!(p.rlimits(), container.rlimits());
        assert_eq!(p.io_priority(), container.io_priority());
        assert_eq!(p.args(), given.args());
    }

    #[test]
    fn given_attributes_win() {
        let container = process(serde_json::json!({
            "user": {}, "cwd": "/", "noNewPrivileges": true,
            "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 4},
        }));
        let given = process(serde_json::json!({
            "user": {}, "cwd": "/", "noNewPrivileges": false,
            "ioPriority": {"class": "IOPRIO_CLASS_IDLE"},
        }));
        let p = inherit(&given, Some(&container));
        assert_eq!(p.no_new_privileges(), Some(false));
        assert_eq!(p.io_priority(), given.io_priority());
    }
}
