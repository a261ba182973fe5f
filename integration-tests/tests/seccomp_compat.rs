//! seccomp profiles older than the syscalls in use: allow-lists without close_range, syscalls
//! newer than the profile (ENOSYS, as runc does), and SCMP_ACT_NOTIFY for `exec`.

use std::os::unix::net::{UnixListener, UnixStream};

use kiln_integration_tests::checks::listed_fds;
use kiln_integration_tests::notify;
use kiln_integration_tests::syscalls::{host_syscalls, ARCHES};
use kiln_integration_tests::{skip_for_runc, Container, Output};
use serde_json::{json, Value};

/// An allow-list (everything else EPERM) of the host's syscalls for which `keep(name, nr)` holds.
fn allow_list(keep: impl Fn(&str, u32) -> bool) -> Value {
    let names: Vec<String> = host_syscalls()
        .into_iter()
        .filter(|(name, nr)| keep(name, *nr))
        .map(|(name, _)| name)
        .collect();
    assert!(names.len() > 250, "only {} syscalls", names.len());
    json!({
        "defaultAction": "SCMP_ACT_ERRNO", "architectures": ARCHES,
        "syscalls": [{ "names": names, "action": "SCMP_ACT_ALLOW" }]
    })
}

/// Every host syscall but close_range. Newer ones (faccessat2, epoll_pwait2, …) are listed, so
/// close_range gets EPERM, not the ENOSYS of syscalls newer than the profile.
fn without_close_range() -> Value {
    allow_list(|name, _| name != "close_range")
}

const FDS_SCRIPT: &str = "echo hello; ls -l /proc/self/fd";

#[track_caller]
fn assert_hello_and_stdio_only(out: &Output) {
    assert!(out.stdout.starts_with("hello\n"), "{}", out.describe());
    assert_eq!(
        listed_fds(&out.stdout),
        ["0", "1", "2"],
        "{}",
        out.describe()
    );
}

#[test]
fn a_profile_without_close_range_runs_and_leaks_no_fd() {
    // The filter is loaded late with noNewPrivileges, before the user switch without it.
    for nnp in [true, false] {
        let mut c = Container::new(if nnp { "scnocr" } else { "scnocrp" });
        c.config()
            .set(&["linux", "seccomp"], without_close_range())
            .no_new_privileges(nnp)
            .sh(FDS_SCRIPT);
        let out = c.run_with(&[]).expect_success();
        assert_hello_and_stdio_only(&out);
    }
}

#[test]
fn exec_under_a_profile_without_close_range_runs_and_leaks_no_fd() {
    let mut c = Container::new("scnocrx");
    c.config()
        .set(&["linux", "seccomp"], without_close_range())
        .args(&["sleep", "1000"]);
    c.run_with(&["-d"]).expect_success();
    let before = c.rt().log().len();
    let out = c
        .rt()
        .exec(&["--debug", "exec", c.id(), "sh", "-c", FDS_SCRIPT])
        .expect("run the runtime")
        .expect_success();
    assert_hello_and_stdio_only(&out);
    if skip_for_runc("no compiled-filter cache") {
        return;
    }
    // exec compiles through the cache `run` filled.
    let log = c.rt().log().get(before..).unwrap_or_default().to_string();
    assert!(log.contains("seccomp filter cache: Hit"), "{log}");
}

/// The statically linked helper that calls faccessat2 and getppid directly.
const SYSCALLS_HELPER: &str = env!("CARGO_BIN_EXE_kiln-it-syscalls");

/// Runs the helper in a container under `profile` (none: unfiltered).
fn helper_output(tag: &str, profile: Option<Value>) -> String {
    let mut c = Container::new(tag);
    c.config()
        .bind(SYSCALLS_HELPER, "/kiln-it-syscalls", false, &["ro"])
        .args(&["/kiln-it-syscalls"]);
    if let Some(p) = profile {
        c.config().set(&["linux", "seccomp"], p);
    }
    c.run_with(&[]).expect_success().stdout
}

#[test]
fn syscalls_newer_than_the_profile_get_enosys() {
    // Control: both work without a filter on this kernel (faccessat2 needs Linux 5.8).
    let control = helper_output("scnewc", None);
    assert_eq!(control, "faccessat2=ok\ngetppid=ok\n");
    // Syscalls numbered below 424 (Linux 5.0's set) but getppid; faccessat2 is 439.
    let old = allow_list(|name, nr| name != "getppid" && nr < 424);
    let out = helper_output("scnew", Some(old));
    let (enosys, eperm) = (libc::ENOSYS, libc::EPERM);
    assert_eq!(out, format!("faccessat2={enosys}\ngetppid={eperm}\n"));
}

#[test]
fn exec_hands_its_notify_fd_to_the_agent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("agent.sock");
    let listener = UnixListener::bind(&socket).expect("bind");
    // The first connection is the container init's (at create), the second the exec'd
    // process': its mkdirs are answered until it exits.
    let agent = std::thread::spawn(move || -> Result<_, String> {
        let (_init_fd, init_state) = notify::receive(&listener)?;
        let (exec_fd, exec_state) = notify::receive(&listener)?;
        let calls = notify::answer(&exec_fd, libc::ENOMEDIUM)?;
        Ok((init_state, exec_state, calls))
    });

    let mut c = Container::new("scnotifyx");
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": ARCHES,
        "listenerPath": socket, "listenerMetadata": "exec-metadata",
        "syscalls": [{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY" }]
    });
    c.config()
        .set(&["linux", "seccomp"], profile)
        .args(&["sleep", "1000"]);
    let created = c.run_with(&["-d"]);
    let script = "mkdir /tmp/denied 2>&1; echo rc=$?; mkdir /tmp/allowed && echo made";
    let out = c.rt().exec(&["exec", c.id(), "sh", "-c", script]);
    // Wakes the agent if the runtime never connected (it then reports that).
    let _ = UnixStream::connect(&socket);
    let _ = UnixStream::connect(&socket);
    let served = agent.join().expect("agent thread");
    created.expect_success();
    let out = out.expect("run the runtime");
    let (init_state, exec_state, calls) =
        served.unwrap_or_else(|e| panic!("agent: {e}\n{}", out.describe()));
    let out = out.expect_success();
    assert_eq!(init_state["state"]["status"], "creating", "{init_state}");
    assert_eq!(exec_state["metadata"], "exec-metadata", "{exec_state}");
    assert_eq!(exec_state["state"]["id"], c.id(), "{exec_state}");
    assert_eq!(exec_state["state"]["status"], "running", "{exec_state}");
    // "pid" is the exec'd process (as runc reports it), the state's the container init's.
    let (pid, init_pid) = (&exec_state["pid"], &exec_state["state"]["pid"]);
    assert!(
        pid.as_i64().is_some_and(|p| p > 0) && pid != init_pid,
        "{exec_state}"
    );
    assert_eq!(init_pid, c.pid(), "{exec_state}");
    let paths: Vec<&str> = calls.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths, ["/tmp/denied", "/tmp/allowed"], "{calls:?}");
    assert_eq!(
        out.stdout,
        "mkdir: can't create directory '/tmp/denied': No medium found\nrc=1\nmade\n",
        "{}",
        out.describe()
    );
    assert!(!c.rootfs().join("tmp/denied").exists());
    assert!(c.rootfs().join("tmp/allowed").is_dir());
}

#[test]
fn start_container_hooks_run_under_the_container_s_filter() {
    // runc differs: runc 1.1 runs startContainer hooks before it loads the filter (current runc
    // and its suite run them under it: a hook runs in the container and must not escape it).
    if skip_for_runc("startContainer hooks run before the filter") {
        return;
    }
    let mut c = Container::new("hookseccomp");
    c.config()
        .set(
            &["linux", "seccomp"],
            json!({"defaultAction": "SCMP_ACT_ALLOW",
                   "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL"}]}),
        )
        .args(&["true"])
        .hook(
            kiln_integration_tests::HookKind::StartContainer,
            "/bin/sh",
            &["sh", "-c", "mkdir /tmp/from-hook"],
            &[],
            None,
        );
    let out = c.run_with(&[]).expect_failure();
    for words in ["error running startContainer hook", "bad system call"] {
        assert!(out.stderr.contains(words), "{words}: {}", out.describe());
    }
    assert!(!c.rootfs().join("tmp/from-hook").exists());
}
