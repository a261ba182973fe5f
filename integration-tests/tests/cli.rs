//! The command line itself: `spec`, global flags accepted everywhere, help.

use kiln_integration_tests::{runtime_bin, Runtime};
use serde_json::Value;

fn kiln(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(runtime_bin())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run the runtime")
}

#[test]
fn spec_writes_a_default_config_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = kiln(dir.path(), &["spec"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["root"]["path"], "rootfs");
    assert_eq!(cfg["process"]["args"][0], "sh");
    let ns: Vec<&str> = cfg["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["type"].as_str())
        .collect();
    for want in ["pid", "network", "ipc", "uts", "mount"] {
        assert!(ns.contains(&want), "{ns:?}");
    }
    // Like runc: a cgroup namespace only on a pure cgroup v2 host (runc's suite adds one on
    // v1/hybrid hosts and looks for host cgroup paths in /proc/self/cgroup without one).
    let v2 = kiln_cgroups::detect_layout().unwrap() == kiln_cgroups::Layout::V2;
    assert_eq!(ns.contains(&"cgroup"), v2, "{ns:?}");
    // A second spec must not overwrite it.
    let again = kiln(dir.path(), &["spec"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("config.json"));
}

#[test]
fn spec_rootless_maps_the_caller() {
    let dir = tempfile::tempdir().unwrap();
    let out = kiln(dir.path(), &["spec", "--rootless"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    let ns: Vec<&str> = cfg["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["type"].as_str())
        .collect();
    assert!(ns.contains(&"user") && !ns.contains(&"network"), "{ns:?}");
    assert_eq!(
        cfg["linux"]["uidMappings"][0]["hostID"],
        nix::unistd::geteuid().as_raw()
    );
    assert_eq!(cfg["linux"]["uidMappings"][0]["containerID"], 0);
}

#[test]
fn global_flags_are_accepted_by_every_command() {
    let rt = Runtime::new().unwrap();
    for args in [
        vec!["--rootless", "false", "list"],
        vec!["--systemd-cgroup", "list", "-q"],
        vec!["--log-format", "json", "list", "--format", "json"],
    ] {
        let out = rt.exec(&args).unwrap();
        assert!(out.success(), "{args:?}: {}", out.describe());
    }
}

#[test]
fn spec_output_runs_as_a_container() {
    let dir = tempfile::tempdir().unwrap();
    let out = kiln(dir.path(), &["spec"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut cfg: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    cfg["process"]["terminal"] = false.into();
    cfg["process"]["args"] = serde_json::json!(["sh", "-c", "echo spec-ok"]);
    let mut c = kiln_integration_tests::Container::new("fromspec");
    cfg["linux"]["cgroupsPath"] = c.config().value()["linux"]["cgroupsPath"].clone();
    *c.config().value_mut() = cfg;
    let out = c.run_ok();
    assert_eq!(out.trim(), "spec-ok");
}

/// A reader that goes away (`kiln features | head -c1`, `kiln state x | grep -q running`) ends
/// a printing command by SIGPIPE, as runc: not a panic on the failed write (SIGABRT, a core).
#[test]
fn a_closed_stdout_pipe_ends_a_printing_command_by_sigpipe() {
    use std::os::unix::process::ExitStatusExt;
    let (read_end, write_end) = nix::unistd::pipe().expect("pipe");
    drop(read_end);
    let status = std::process::Command::new(runtime_bin())
        .arg("features")
        .stdout(std::process::Stdio::from(write_end))
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run the runtime");
    assert_eq!(status.signal(), Some(libc::SIGPIPE), "{status:?}");
}
