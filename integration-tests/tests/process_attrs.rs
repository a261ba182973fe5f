//! What the container process and `exec`'d processes inherit or not: a
//! partial `exec --process`, duplicate env names, the caller's CPU affinity,
//! the container's personality.

use std::process::Command;

use kiln_integration_tests::caps::{mask, status_mask};
use kiln_integration_tests::{runtime_bin, skip_for_runc, Container};

/// A running `sleep` container, after `edit` of its config.
fn sleeper(tag: &str, edit: impl FnOnce(&mut Container)) -> Container {
    let mut c = Container::new(tag);
    c.config().args(&["sleep", "1000"]);
    edit(&mut c);
    c.run_with(&["-d"]).expect_success();
    c
}

fn status_field<'a>(status: &'a str, field: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':').map(str::trim))
}

#[test]
fn exec_process_json_may_leave_out_user_and_inherits_the_container_s_privileges() {
    let c = sleeper("execp", |c| {
        c.config()
            .set(
                &["process", "capabilities"],
                serde_json::json!({"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
                    "permitted": ["CAP_KILL"]}),
            )
            .no_new_privileges(true);
    });
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("process.json");
    // No user, no capabilities, no noNewPrivileges: as with runc, uid 0 and
    // the container's capabilities and noNewPrivileges (not the runtime's).
    std::fs::write(
        &json,
        r#"{"args": ["/bin/sh", "-c", "env; cat /proc/self/status"], "cwd": "/", "env": ["FOO=bar"]}"#,
    )
    .unwrap();
    let out = c
        .rt()
        .exec(&["exec", "-p", json.to_str().unwrap(), c.id()])
        .unwrap()
        .expect_success()
        .stdout;
    assert!(
        out.contains("FOO=bar\n") && out.contains("HOME=/root\n"),
        "{out}"
    );
    assert!(!out.contains("TERM="), "env of config.json leaked: {out}");
    assert_eq!(status_field(&out, "Uid"), Some("0\t0\t0\t0"), "{out}");
    // runc differs: runc 1.1 turns noNewPrivileges off when process.json leaves it out (Go's
    // zero bool); kiln keeps the container's, as for every other security attribute.
    if !skip_for_runc("process.json without noNewPrivileges clears it") {
        assert_eq!(status_field(&out, "NoNewPrivs"), Some("1"), "{out}");
    }
    let kill = mask(&["CAP_KILL"]);
    for set in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(status_mask(&out, set), kill, "{set}: {out}");
    }
}

#[test]
fn env_names_given_twice_keep_their_last_value() {
    let mut c = Container::new("envdup");
    c.config()
        .set(
            &["process", "env"],
            serde_json::json!(["ONE=two", "ONE=", "PATH=/bin", "HOME=/override", "HOME="]),
        )
        .args(&["env"]);
    // An empty last HOME counts as none: the user's home from /etc/passwd.
    assert_eq!(c.run_ok(), "ONE=\nPATH=/bin\nHOME=/root\n");
}

/// Runs `args` under `taskset -c 0` and returns its stdout (through a file:
/// a detached container keeps it open).
fn pinned_to_cpu0(c: &Container, args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (dir.path().join("out"), dir.path().join("err"));
    let status = Command::new("taskset")
        .args(["-c", "0"])
        .arg(runtime_bin())
        .arg("--root")
        .arg(c.rt().root())
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .status()
        .expect("taskset");
    let stdout = std::fs::read_to_string(&out_path).unwrap();
    let stderr = std::fs::read_to_string(&err_path).unwrap();
    assert!(status.success(), "{args:?}: {stdout} {stderr}");
    stdout
}

#[test]
fn the_caller_s_cpu_affinity_is_not_inherited() {
    // runc differs: runc 1.1 keeps the affinity of its caller (reset since runc 1.2).
    if skip_for_runc("the container keeps runc's CPU affinity") {
        return;
    }
    let all = std::fs::read_to_string("/proc/self/status").unwrap();
    let all = status_field(&all, "Cpus_allowed_list").unwrap().to_string();
    if all == "0" {
        eprintln!("SKIP: one CPU only");
        return;
    }
    let mut c = Container::new("affinity");
    c.config().args(&["sleep", "1000"]);
    c.write_config();
    let bundle = c.bundle().path().to_str().unwrap().to_string();
    pinned_to_cpu0(&c, &["run", "-d", "--bundle", &bundle, c.id()]);
    let init = std::fs::read_to_string(format!("/proc/{}/status", c.pid())).unwrap();
    assert_eq!(status_field(&init, "Cpus_allowed_list"), Some(all.as_str()));
    let exec = pinned_to_cpu0(&c, &["exec", c.id(), "cat", "/proc/self/status"]);
    assert_eq!(status_field(&exec, "Cpus_allowed_list"), Some(all.as_str()));
}

#[test]
fn exec_gets_the_container_s_personality() {
    // runc differs: runc 1.1 does not implement linux.personality.
    if skip_for_runc("no linux.personality") {
        return;
    }
    let c = sleeper("persexec", |c| {
        c.config().set(
            &["linux", "personality"],
            serde_json::json!({"domain": "LINUX32"}),
        );
    });
    let out = c
        .rt()
        .exec(&["exec", c.id(), "uname", "-m"])
        .unwrap()
        .expect_success()
        .stdout;
    assert_eq!(out, "i686\n");
}

#[test]
fn unknown_capability_names_are_ignored_with_a_warning() {
    let mut c = Container::new("capunknown");
    c.config()
        .set(
            &["process", "capabilities", "bounding"],
            serde_json::json!(["CAP_KILL", "CAP_UNKNOWN", "UNKNOWN_CAP"]),
        )
        .args(&["cat", "/proc/self/status"]);
    let out = c.run_with(&[]).expect_success();
    assert_eq!(status_mask(&out.stdout, "CapBnd"), mask(&["CAP_KILL"]));
    // The warning goes to the --log file, as runc's.
    let log = std::fs::read_to_string(c.rt().log_path()).unwrap_or_default();
    assert!(log.contains("CAP_UNKNOWN") && log.contains("warn"), "{log}");
}

#[test]
fn exec_cap_is_ambient_too_when_the_spec_has_inheritable_caps() {
    let c = sleeper("execcapamb", |c| {
        c.config().set(
            &["process", "capabilities"],
            serde_json::json!({"bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_SYSLOG"],
                "effective": ["CAP_CHOWN", "CAP_KILL"], "permitted": ["CAP_CHOWN", "CAP_KILL"],
                "inheritable": ["CAP_CHOWN", "CAP_SYSLOG"], "ambient": ["CAP_CHOWN"]}),
        );
    });
    let args = [
        "exec",
        "--cap",
        "CAP_SYSLOG",
        c.id(),
        "cat",
        "/proc/self/status",
    ];
    let out = c.rt().exec(&args).unwrap().expect_success().stdout;
    assert_eq!(
        status_mask(&out, "CapAmb"),
        mask(&["CAP_CHOWN", "CAP_SYSLOG"])
    );
    let prm = mask(&["CAP_CHOWN", "CAP_KILL", "CAP_SYSLOG"]);
    assert_eq!(status_mask(&out, "CapPrm"), prm, "{out}");
}
