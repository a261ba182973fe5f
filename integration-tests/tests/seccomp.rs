//! seccomp through the runtime binary: actions, errno values, argument rules, a docker-like
//! default profile, SCMP_ACT_NOTIFY with an agent, the compiled-filter cache, bad profiles.

use std::path::{Path, PathBuf};

use kiln_integration_tests::notify;
use kiln_integration_tests::syscalls::{host_syscall_names, ARCHES};
use kiln_integration_tests::{skip_for_runc, Container, Output};
use serde_json::{json, Value};

/// A profile allowing everything except `rules`.
fn allow_all_but(rules: Value) -> Value {
    json!({ "defaultAction": "SCMP_ACT_ALLOW", "architectures": ARCHES, "syscalls": rules })
}

/// Sets `linux.seccomp` and `/bin/sh -c <script>`, runs in the foreground, returns the output.
fn run_sh(c: &mut Container, profile: &Value, script: &str) -> Output {
    c.config()
        .set(&["linux", "seccomp"], profile.clone())
        .sh(script);
    c.run_with(&[])
}

/// Rules sending mkdir/mkdirat to `action` (with `errnoRet` if given).
fn mkdir_rule(action: &str, errno: Option<i32>) -> Value {
    let mut rule = json!({ "names": ["mkdir", "mkdirat"], "action": action });
    if let Some(errno) = errno {
        rule["errnoRet"] = json!(errno);
    }
    allow_all_but(json!([rule]))
}

/// The script the mkdir tests run, and the check of its output: mkdir failed with `message`.
const MKDIR: &str = "mkdir /tmp/d 2>&1; echo rc=$?";
#[track_caller]
fn assert_mkdir_denied(c: &Container, out: &Output, message: &str) {
    let want = format!("mkdir: can't create directory '/tmp/d': {message}\nrc=1\n");
    assert!(
        out.stdout.starts_with(&want),
        "want {want:?}: {}",
        out.describe()
    );
    assert!(!c.rootfs().join("tmp/d").exists(), "the denied mkdir ran");
}

/// The mode bits of a file in the rootfs, read on the host.
fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn denied_mkdir_fails_with_eperm_while_the_rest_works() {
    let mut c = Container::new("scdeny");
    let profile = mkdir_rule("SCMP_ACT_ERRNO", None);
    let script = format!("{MKDIR}; echo hi > /tmp/f && cat /tmp/f");
    let out = run_sh(&mut c, &profile, &script).expect_success();
    assert_mkdir_denied(&c, &out, "Operation not permitted");
    assert!(out.stdout.ends_with("rc=1\nhi\n"), "{}", out.describe());
    assert!(c.rootfs().join("tmp/f").is_file());
}

#[test]
fn errno_ret_is_the_errno_the_process_sees() {
    let mut c = Container::new("scerrno");
    let profile = mkdir_rule("SCMP_ACT_ERRNO", Some(libc::EXDEV));
    let out = run_sh(&mut c, &profile, MKDIR).expect_success();
    assert_mkdir_denied(&c, &out, "Invalid cross-device link");
}

#[test]
fn exec_processes_get_the_filter_too() {
    let mut c = Container::new("scexec");
    let profile = mkdir_rule("SCMP_ACT_ERRNO", Some(libc::EROFS));
    c.config()
        .set(&["linux", "seccomp"], profile)
        .args(&["sleep", "1000"]);
    c.run_with(&["-d"]).expect_success();
    let out = c
        .rt()
        .exec(&["exec", c.id(), "sh", "-c", MKDIR])
        .expect("run the runtime")
        .expect_success();
    assert_mkdir_denied(&c, &out, "Read-only file system");
}

#[test]
fn kill_process_kills_the_container_with_sigsys() {
    let mut c = Container::new("sckill");
    let profile = mkdir_rule("SCMP_ACT_KILL_PROCESS", None);
    let out = run_sh(
        &mut c,
        &profile,
        "echo before; exec mkdir /tmp/d; echo after",
    );
    assert_eq!(out.code, 128 + libc::SIGSYS, "{}", out.describe());
    assert_eq!(out.stdout, "before\n", "{}", out.describe());
    assert!(!c.rootfs().join("tmp/d").exists(), "the killed mkdir ran");
}

#[test]
fn argument_rule_denies_only_the_matching_mode() {
    let mut c = Container::new("scargs");
    // busybox's chmod calls chmod(2) (mode: argument 1); libcs may use fchmodat (argument 2).
    // The mask ignores the setuid/setgid/sticky bits: 4700 is denied too.
    let rule = |name: &str, index: u32| {
        json!({ "names": [name], "action": "SCMP_ACT_ERRNO", "args": [
            { "index": index, "value": 0o777, "valueTwo": 0o700, "op": "SCMP_CMP_MASKED_EQ" }
        ]})
    };
    let profile = allow_all_but(json!([rule("chmod", 1), rule("fchmodat", 2)]));
    let script = "touch /tmp/f; chmod 755 /tmp/f && echo ok755; chmod 700 /tmp/f 2>&1; \
                  echo rc=$?; chmod 4700 /tmp/f 2>&1; echo rc=$?; stat -c %a /tmp/f";
    let out = run_sh(&mut c, &profile, script).expect_success();
    assert!(out.stdout.starts_with("ok755\n"), "{}", out.describe());
    assert_eq!(
        out.stdout.matches("Operation not permitted").count(),
        2,
        "{}",
        out.describe()
    );
    assert!(out.stdout.ends_with("rc=1\n755\n"), "{}", out.describe());
    assert_eq!(mode_of(&c.rootfs().join("tmp/f")), 0o755);
}

/// Syscalls a docker-like default profile does not allow unconditionally.
const DOCKER_DENIED: &str = "acct add_key afs_syscall bpf clock_adjtime clock_settime \
    create_module delete_module finit_module fsconfig fsmount fsopen fspick get_kernel_syms \
    get_mempolicy getpmsg init_module ioperm iopl kcmp kexec_file_load kexec_load keyctl \
    lookup_dcookie mbind mount mount_setattr move_mount move_pages name_to_handle_at \
    nfsservctl open_by_handle_at open_tree perf_event_open personality pivot_root \
    process_vm_readv process_vm_writev ptrace putpmsg query_module quotactl quotactl_fd reboot \
    request_key security set_mempolicy setns settimeofday swapoff swapon _sysctl sysfs syslog \
    tuxcall umount2 unshare uselib userfaultfd ustat vhangup vserver";

/// The names of the host's x86-64 syscalls minus [`DOCKER_DENIED`].
fn docker_like_allowed() -> Vec<String> {
    let denied: Vec<&str> = DOCKER_DENIED.split_whitespace().collect();
    let mut names = host_syscall_names();
    names.retain(|name| !denied.contains(&name.as_str()));
    names
}

#[test]
fn docker_like_default_profile_runs_busybox_and_denies_the_rest() {
    let names = docker_like_allowed();
    assert!(names.len() >= 280, "only {} syscalls allowed", names.len());
    let profile = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": libc::EPERM,
        "architectures": ARCHES,
        "syscalls": [{ "names": names, "action": "SCMP_ACT_ALLOW" }]
    });
    let script = "ls /bin/sh && ps -o pid,comm | grep -c ps; echo $((6 * 7)); \
        (echo sub; cat /etc/hostname) | tail -n1; linux64 true 2>&1; echo personality=$?; \
        unshare -U true 2>&1; echo unshare=$?";
    // Control: without the profile both the personality change and the unshare work.
    let mut control = Container::new("scdockc");
    let out = control.sh(script);
    assert!(out.ends_with("personality=0\nunshare=0\n"), "{out}");

    let mut c = Container::new("scdock");
    let out = run_sh(&mut c, &profile, script).expect_success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines.get(..4),
        Some(&["/bin/sh", "1", "42", "image"][..]),
        "{}",
        out.describe()
    );
    for denied in ["personality", "unshare"] {
        assert!(
            out.stdout.contains(&format!("{denied}=1")),
            "{}",
            out.describe()
        );
    }
    assert_eq!(
        out.stdout.matches("Operation not permitted").count(),
        2,
        "{}",
        out.describe()
    );
}

#[test]
fn bad_profiles_are_refused_naming_the_field() {
    let cases = [
        (
            "action",
            allow_all_but(json!([{ "names": ["mkdir"], "action": "SCMP_ACT_BOGUS" }])),
            "SCMP_ACT_BOGUS",
            "syscalls[0].action",
        ),
        (
            "arch",
            json!({ "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64",
                "SCMP_ARCH_BOGUS"], "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_ERRNO" }] }),
            "SCMP_ARCH_BOGUS",
            "architectures[1]",
        ),
        (
            "op",
            allow_all_but(json!([{ "names": ["chmod"], "action": "SCMP_ACT_ERRNO",
                "args": [{ "index": 1, "value": 448, "op": "SCMP_CMP_BOGUS" }] }])),
            "SCMP_CMP_BOGUS",
            "syscalls[0].args[0].op",
        ),
    ];
    for (tag, profile, value, field) in cases {
        let mut c = Container::new(&format!("scbad{tag}"));
        c.config()
            .set(&["linux", "seccomp"], profile)
            .args(&["true"]);
        let out = c.create_with(&[]).expect_failure();
        eprintln!("{tag}: {}", out.stderr.trim());
        c.assert_nothing_left();
        assert!(out.stderr.contains(value), "{tag}: {}", out.describe());
        // runc differs: runc 1.1 names the bad value but not the field it is in.
        if skip_for_runc("the message does not name the field") {
            continue;
        }
        assert!(out.stderr.contains(field), "{tag}: {}", out.describe());
    }
}

#[test]
fn notify_without_a_reachable_agent_fails_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nobody.sock");
    let notify = json!([{ "names": ["mkdir"], "action": "SCMP_ACT_NOTIFY" }]);
    let mut with_listener = allow_all_but(notify.clone());
    with_listener["listenerPath"] = json!(missing);
    let cases = [
        ("nolistener", allow_all_but(notify), "listenerPath"),
        (
            "noagent",
            with_listener,
            missing.to_str().expect("utf-8 path"),
        ),
    ];
    for (tag, profile, named) in cases {
        let mut c = Container::new(&format!("sc{tag}"));
        c.config()
            .set(&["linux", "seccomp"], profile)
            .args(&["true"]);
        let out = c.create_with(&[]).expect_failure();
        eprintln!("{tag}: {}", out.stderr.trim());
        c.assert_nothing_left();
        assert!(out.stderr.contains(named), "{tag}: {}", out.describe());
    }
}

/// The cache entries (`*.bpf`) under `<root>/seccomp-cache`.
fn cache_entries(c: &Container) -> Vec<PathBuf> {
    let dir = c.rt().root().join("seccomp-cache");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "bpf"));
    files.sort();
    files
}

/// `--debug run` of `c` with mkdir denied with `errno`: asserts that the filter was applied and
/// that the runtime logged "seccomp filter cache: `outcome`".
#[track_caller]
fn cached_run(c: &mut Container, errno: i32, outcome: &str) {
    c.config()
        .set(
            &["linux", "seccomp"],
            mkdir_rule("SCMP_ACT_ERRNO", Some(errno)),
        )
        .sh(MKDIR);
    c.write_config();
    let before = c.rt().log().len();
    let bundle = c.bundle().path().to_string_lossy().into_owned();
    let out = c
        .rt()
        .exec(&["--debug", "run", "--bundle", &bundle, c.id()])
        .expect("run the runtime")
        .expect_success();
    // The messages busybox prints (glibc's strerror).
    let message = match errno {
        libc::EXDEV => "Invalid cross-device link",
        _ => "No space left on device",
    };
    assert_mkdir_denied(c, &out, message);
    let log = c.rt().log().get(before..).unwrap_or_default().to_string();
    assert_eq!(cache_outcome(&log).as_deref(), Some(outcome), "{log}");
}

/// The outcome in the log's "seccomp filter cache: <outcome>" line.
fn cache_outcome(log: &str) -> Option<String> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["msg"].as_str().map(str::to_string))
        .find_map(|m| Some(m.strip_prefix("seccomp filter cache: ")?.to_string()))
}

#[test]
fn compiled_filters_are_cached_and_verified() {
    if skip_for_runc("no compiled-filter cache") {
        return;
    }
    let mut c = Container::new("sccache");
    cached_run(&mut c, libc::EXDEV, "Miss");
    let first = cache_entries(&c);
    assert_eq!(first.len(), 1, "{first:?}");
    let stored = std::fs::read(&first[0]).expect("read the cache entry");
    cached_run(&mut c, libc::EXDEV, "Hit");
    assert_eq!(cache_entries(&c), first);
    cached_run(&mut c, libc::ENOSPC, "Miss");
    assert_eq!(cache_entries(&c).len(), 2, "{:?}", cache_entries(&c));

    // One flipped bit of the stored program, and a truncated entry: rebuilt, never loaded.
    let mut flipped = stored.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    for corrupt in [&flipped[..], &stored[..stored.len() / 2]] {
        std::fs::write(&first[0], corrupt).expect("corrupt the entry");
        cached_run(&mut c, libc::EXDEV, "Rebuilt");
        assert_eq!(std::fs::read(&first[0]).expect("read"), stored);
    }
}

#[test]
fn notify_agent_receives_the_fd_and_answers_syscalls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
    let agent = std::thread::spawn(move || notify::serve(&listener, libc::ENOMEDIUM));

    let mut c = Container::new("scnotify");
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": ARCHES,
        "listenerPath": socket, "listenerMetadata": "it-metadata",
        "syscalls": [{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY" }]
    });
    let script = "mkdir /tmp/denied 2>&1; echo rc=$?; mkdir /tmp/allowed && echo made";
    let out = run_sh(&mut c, &profile, script);
    // Wakes the agent if the runtime never connected (it then reports that).
    let _ = std::os::unix::net::UnixStream::connect(&socket);
    let served = agent.join().expect("agent thread");
    let served = served.unwrap_or_else(|e| panic!("agent: {e}\n{}", out.describe()));
    let out = out.expect_success();

    assert_eq!(served.fd_kind, "anon_inode:seccomp notify");
    let state = &served.state;
    assert!(
        state["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
        "{state}"
    );
    assert_eq!(state["fds"], json!(["seccompFd"]), "{state}");
    assert_eq!(state["metadata"], "it-metadata", "{state}");
    assert!(state["pid"].as_i64().is_some_and(|p| p > 0), "{state}");
    assert_eq!(state["state"]["id"], c.id(), "{state}");
    assert_eq!(state["state"]["pid"], state["pid"], "{state}");
    assert_eq!(state["state"]["status"], "creating", "{state}");

    let paths: Vec<&str> = served.calls.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths, ["/tmp/denied", "/tmp/allowed"], "{:?}", served.calls);
    for call in &served.calls {
        assert_eq!(
            call.nspids.len(),
            2,
            "not in a child pid namespace: {call:?}"
        );
    }
    assert!(
        out.stdout
            .starts_with("mkdir: can't create directory '/tmp/denied': No medium found\nrc=1\n"),
        "{}",
        out.describe()
    );
    assert!(out.stdout.ends_with("made\n"), "{}", out.describe());
    assert!(!c.rootfs().join("tmp/denied").exists());
    assert!(c.rootfs().join("tmp/allowed").is_dir());
}
