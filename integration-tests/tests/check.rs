//! `kiln check`: the host diagnosis, as root and as an unprivileged user. The expected
//! answers are read from the host here (mountinfo, /sys/fs/cgroup), not hard-coded.

use std::path::Path;

use kiln_integration_tests::mountinfo::{host_mounts, MountInfo};
use kiln_integration_tests::rootless::{TestUser, NAME, ROOTLESS_LOCK, SUBID_COUNT};
use kiln_integration_tests::{skip_for_runc, Output, Runtime};
use serde_json::Value;

/// Every check name the report has, whoever runs it.
const ALWAYS: &[&str] = &[
    "cgroup layout",
    "cgroup stray directories",
    "user namespaces",
    "seccomp",
    "seccomp notify",
    "libseccomp",
    "syscall pidfd_open",
    "syscall clone3",
    "syscall openat2",
    "syscall mount_setattr",
    "systemd",
    "state root",
    "state root filesystem",
];

/// The visible mounts (a later mount hides earlier ones at or below it).
fn visible_mounts() -> Vec<MountInfo> {
    let mut out: Vec<MountInfo> = Vec::new();
    for m in host_mounts().unwrap() {
        out.retain(|v| !v.mount_point.starts_with(&m.mount_point));
        out.push(m);
    }
    out
}

/// The cgroup layout, from this process's mountinfo.
fn host_layout() -> &'static str {
    let mounts = visible_mounts();
    let at = |p: &str, fstype: &str| {
        mounts
            .iter()
            .any(|m| m.mount_point == Path::new(p) && m.fstype == fstype)
    };
    let v1 = mounts.iter().any(|m| {
        m.fstype == "cgroup" && m.mount_point.parent() == Some(Path::new("/sys/fs/cgroup"))
    });
    match (
        at("/sys/fs/cgroup", "cgroup2"),
        v1,
        at("/sys/fs/cgroup/unified", "cgroup2"),
    ) {
        (true, _, _) => "v2",
        (false, true, true) => "hybrid",
        _ => "v1",
    }
}

/// Directories directly under /sys/fs/cgroup that are no mount point.
fn host_stray_dirs() -> Vec<String> {
    if host_layout() == "v2" {
        return Vec::new();
    }
    let mounts = visible_mounts();
    let mut stray: Vec<String> = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .filter(|e| !mounts.iter().any(|m| m.mount_point == e.path()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    stray.sort();
    stray
}

fn json_report(rt: &Runtime) -> (Output, Value) {
    let out = rt.exec(&["check", "--format", "json"]).unwrap();
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", out.describe()));
    (out, v)
}

/// The check called `name` in a JSON report.
fn find<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name:?} in {report:#}"))
}

/// The documented shape: `ok`, and checks of name/status/detail with a fix exactly when
/// the status is not ok; `ok` is "no fail", and the exit code follows it.
fn assert_shape(out: &Output, report: &Value) {
    let checks = report["checks"].as_array().unwrap();
    for c in checks {
        let status = c["status"].as_str().unwrap();
        assert!(["ok", "warn", "fail"].contains(&status), "{c}");
        assert!(c["detail"].as_str().is_some_and(|d| !d.is_empty()), "{c}");
        assert_eq!(c.get("fix").is_some(), status != "ok", "{c}");
    }
    let failed = checks.iter().any(|c| c["status"] == "fail");
    assert_eq!(report["ok"], !failed, "{report:#}");
    assert_eq!(out.code, i32::from(failed), "{}", out.describe());
    for name in ALWAYS {
        find(report, name);
    }
}

#[test]
fn check_as_root_passes_and_reports_the_host_layout() {
    if skip_for_runc("runc has no check command") {
        return;
    }
    let rt = Runtime::new().unwrap();
    let out = rt.exec(&["check"]).unwrap();
    assert_eq!(out.code, 0, "{}", out.describe());
    let layout = host_layout();
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("cgroup layout"))
        .unwrap_or_else(|| panic!("no layout line: {}", out.describe()));
    assert!(line.starts_with("OK "), "{line}");
    assert!(
        line.contains(&format!(" {layout} (")),
        "want {layout}: {line}"
    );
    assert!(!out.stdout.contains("FAIL"), "{}", out.describe());

    let (out, report) = json_report(&rt);
    assert_shape(&out, &report);
    assert_eq!(report["ok"], true);
    assert!(find(&report, "cgroup layout")["detail"]
        .as_str()
        .unwrap()
        .starts_with(layout));
    // Root needs no subordinate ids: no subuid/newuidmap lines.
    assert!(report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["name"] != "subuid" && c["name"] != "newuidmap"));
    let state = find(&report, "state root")["detail"].as_str().unwrap();
    assert!(state.contains(&rt.root().display().to_string()), "{state}");
}

#[test]
fn check_names_the_stray_directories_under_sys_fs_cgroup() {
    if skip_for_runc("runc has no check command") {
        return;
    }
    let rt = Runtime::new().unwrap();
    let (out, report) = json_report(&rt);
    assert_shape(&out, &report);
    let stray = host_stray_dirs();
    let c = find(&report, "cgroup stray directories");
    if stray.is_empty() {
        assert_eq!(c["status"], "ok", "{c}");
    } else {
        assert_eq!(c["status"], "warn", "{c}");
        let detail = c["detail"].as_str().unwrap();
        assert!(detail.ends_with(&stray.join(" ")), "want {stray:?}: {c}");
    }
}

/// Holds the rootless lock (as [`TestUser::subids`] does) while /etc/subuid is read.
fn rootless_lock() -> nix::fcntl::Flock<std::fs::File> {
    let file = std::fs::File::create(ROOTLESS_LOCK).unwrap();
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).unwrap()
}

#[test]
fn check_as_an_unprivileged_user_reports_its_subordinate_ids() {
    if skip_for_runc("runc has no check command") {
        return;
    }
    let user = TestUser::acquire();
    let rt = Runtime::unprivileged(user.uid, user.gid).unwrap();
    {
        let _lock = rootless_lock();
        let (out, report) = json_report(&rt);
        assert_shape(&out, &report);
        for file in ["subuid", "subgid"] {
            let c = find(&report, file);
            assert_eq!(c["status"], "warn", "{c}");
            let detail = c["detail"].as_str().unwrap();
            assert!(detail.contains(&format!("no entry for {NAME}")), "{c}");
            assert!(c["fix"].as_str().unwrap().contains(NAME), "{c}");
        }
        find(&report, "newuidmap");
        find(&report, "newgidmap");
        // Its own state root (made by the test, its owner's alone) is fine.
        assert_eq!(find(&report, "state root")["status"], "ok", "{report:#}");
    }
    // A root it cannot create (under root's 0700 home) is a FAIL, and the exit status 1.
    let out = rt
        .exec(&["--root", "/root/kiln-check-it", "check", "-f", "json"])
        .unwrap();
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_shape(&out, &report);
    assert_eq!(out.code, 1, "{}", out.describe());
    let c = find(&report, "state root");
    assert_eq!(c["status"], "fail", "{c}");
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("/root/kiln-check-it"),
        "{c}"
    );
    assert!(!Path::new("/root/kiln-check-it").exists());
    let _ids = user.subids();
    let out = rt.exec(&["check"]).unwrap();
    assert_eq!(out.code, 0, "{}", out.describe());
    let (out, report) = json_report(&rt);
    assert_shape(&out, &report);
    for file in ["subuid", "subgid"] {
        let c = find(&report, file);
        assert_eq!(c["status"], "ok", "{c}");
        let want = format!("{SUBID_COUNT} ids for {NAME} (uid {})", user.uid);
        assert_eq!(c["detail"], want.as_str(), "{c}");
    }
}

#[test]
fn check_help_is_in_runcs_layout_and_documents_the_json() {
    if skip_for_runc("runc has no check command") {
        return;
    }
    let out = std::process::Command::new(kiln_integration_tests::runtime_bin())
        .args(["check", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.starts_with("NAME:\n"), "{text}");
    let second = text.lines().nth(1).unwrap_or_default();
    assert!(
        second.contains("kiln check - Check that this host can run containers"),
        "{text}"
    );
    for word in [
        "--format",
        "exit status is 0",
        "\"checks\"",
        "newuidmap",
        "mount_setattr",
    ] {
        assert!(text.contains(word), "{word}: {text}");
    }
}
