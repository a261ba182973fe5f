//! The container process: args, env, cwd, user, umask, capabilities, rlimits, hostname, sysctl.

use kiln_integration_tests::caps::{mask, status_mask};
use kiln_integration_tests::{skip_for_runc, CapSet, Container};

/// The value of `field` in a `/proc/<pid>/status` text.
fn status_field<'a>(status: &'a str, field: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':').map(str::trim))
}

#[test]
fn args_are_passed_verbatim() {
    let mut c = Container::new("args");
    c.config().args(&[
        "/bin/sh",
        "-c",
        "printf '[%s]\\n' \"$@\"",
        "sh",
        "a b",
        "",
        "c*",
        "$HOME",
    ]);
    assert_eq!(c.run_ok(), "[a b]\n[]\n[c*]\n[$HOME]\n");
}

#[test]
fn env_is_exactly_the_configured_one() {
    let mut c = Container::new("env");
    c.config().env("FOO=bar baz").env("EMPTY=");
    let out = c.sh("env");
    let vars: Vec<&str> = out.lines().collect();
    for expected in ["FOO=bar baz", "EMPTY=", "TERM=xterm"] {
        assert!(vars.contains(&expected), "{expected} missing from {vars:?}");
    }
    assert!(
        vars.iter().any(|v| v.starts_with("PATH=/usr/local/sbin:")),
        "{vars:?}"
    );
}

#[test]
fn cwd_is_created_if_missing() {
    let mut c = Container::new("cwd");
    c.config().cwd("/work/deep/dir");
    assert_eq!(c.sh("pwd").trim(), "/work/deep/dir");
    assert!(c.rootfs().join("work/deep/dir").is_dir());
}

#[test]
fn uid_gid_and_additional_gids() {
    let mut c = Container::new("user");
    c.config().user(1000, 1000, &[10, 20]);
    let out = c.sh("id -u; id -g; cat /proc/self/status");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("1000"));
    assert_eq!(lines.next(), Some("1000"));
    let status: String = lines.collect::<Vec<_>>().join("\n");
    let ids =
        |field| status_field(&status, field).map(|v| v.split_whitespace().collect::<Vec<_>>());
    assert_eq!(ids("Uid"), Some(vec!["1000"; 4]), "{status}");
    assert_eq!(ids("Gid"), Some(vec!["1000"; 4]), "{status}");
    assert_eq!(ids("Groups"), Some(vec!["10", "20"]), "{status}");
}

#[test]
fn umask_is_applied() {
    let mut c = Container::new("umask");
    c.config().umask(0o027);
    let out = c.sh("umask; touch /tmp/f; stat -c %a /tmp/f");
    assert_eq!(out, "0027\n640\n");
}

/// Runs `cat /proc/self/status` with the given user and capability sets and checks all five masks.
fn check_capabilities(uid: u32, sets: [(CapSet, &[&str]); 5]) {
    let mut c = Container::new("caps");
    c.config().user(uid, uid, &[]);
    for (set, caps) in sets {
        c.config().capabilities(set, caps);
    }
    let status = c.sh("cat /proc/self/status");
    for (set, caps) in sets {
        let expected = mask(caps).expect("known capability names");
        let actual = status_mask(&status, set.status_field());
        assert_eq!(
            actual,
            Some(expected),
            "{} for uid {uid}:\n{status}",
            set.status_field()
        );
    }
}

#[test]
fn capabilities_of_root() {
    // For uid 0 execve makes permitted = bounding | inheritable and effective = permitted,
    // so a consistent configuration reads back unchanged.
    let bounding: &[&str] = &[
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SETUID",
        "CAP_AUDIT_WRITE",
    ];
    check_capabilities(
        0,
        [
            (CapSet::Bounding, bounding),
            (CapSet::Effective, bounding),
            (CapSet::Permitted, bounding),
            (CapSet::Inheritable, &["CAP_KILL", "CAP_NET_BIND_SERVICE"]),
            (CapSet::Ambient, &["CAP_NET_BIND_SERVICE"]),
        ],
    );
}

#[test]
fn capabilities_of_an_unprivileged_user() {
    // For uid != 0 without file capabilities, execve leaves permitted = effective = ambient.
    let ambient: &[&str] = &["CAP_KILL", "CAP_NET_BIND_SERVICE"];
    check_capabilities(
        1000,
        [
            (
                CapSet::Bounding,
                &[
                    "CAP_CHOWN",
                    "CAP_KILL",
                    "CAP_NET_BIND_SERVICE",
                    "CAP_AUDIT_WRITE",
                ],
            ),
            (CapSet::Effective, ambient),
            (CapSet::Permitted, ambient),
            (
                CapSet::Inheritable,
                &["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            ),
            (CapSet::Ambient, ambient),
        ],
    );
}

#[test]
fn no_new_privileges() {
    for (on, expected) in [(true, "1"), (false, "0")] {
        let mut c = Container::new("nnp");
        c.config().no_new_privileges(on);
        let status = c.sh("cat /proc/self/status");
        assert_eq!(
            status_field(&status, "NoNewPrivs"),
            Some(expected),
            "noNewPrivileges={on}"
        );
    }
}

#[test]
fn rlimits() {
    let mut c = Container::new("rlimit");
    c.config()
        .rlimit("RLIMIT_NOFILE", 512, 1024)
        .rlimit("RLIMIT_CORE", 1024, 2048);
    let out = c.sh("ulimit -n; cat /proc/self/limits");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("512"));
    let limits: Vec<&str> = lines.collect();
    let row = |name: &str| {
        limits
            .iter()
            .find_map(|l| l.strip_prefix(name))
            .map(|rest| rest.split_whitespace().take(2).collect::<Vec<_>>())
    };
    assert_eq!(
        row("Max open files"),
        Some(vec!["512", "1024"]),
        "{limits:?}"
    );
    assert_eq!(
        row("Max core file size"),
        Some(vec!["1024", "2048"]),
        "{limits:?}"
    );
}

#[test]
fn oom_score_adj() {
    let mut c = Container::new("oom");
    c.config().oom_score_adj(123);
    assert_eq!(c.sh("cat /proc/self/oom_score_adj").trim(), "123");
}

#[test]
fn hostname() {
    let mut c = Container::new("hostname");
    c.config().hostname("kiln-host");
    assert_eq!(
        c.sh("hostname; cat /proc/sys/kernel/hostname"),
        "kiln-host\nkiln-host\n"
    );
}

#[test]
fn domainname() {
    // runc differs: runc 1.1 ignores `domainname` (support came in runc 1.2).
    if skip_for_runc("domainname is ignored by runc 1.1") {
        return;
    }
    let mut c = Container::new("domain");
    c.config().domainname("kiln.example");
    assert_eq!(c.sh("cat /proc/sys/kernel/domainname"), "kiln.example\n");
}

#[test]
fn sysctl() {
    let mut c = Container::new("sysctl");
    c.config()
        .sysctl("kernel.shm_rmid_forced", "1")
        .sysctl("net.ipv4.ip_forward", "1")
        .sysctl("kernel.domainname", "sysctl.example");
    let out = c.sh("cat /proc/sys/kernel/shm_rmid_forced /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/domainname");
    assert_eq!(out, "1\n1\nsysctl.example\n");
}

#[test]
fn personality_io_priority_scheduler_and_cpu_affinity() {
    // runc differs: runc 1.1 implements none of these runtime-spec 1.2 fields.
    if kiln_integration_tests::skip_for_runc("no personality/ioPriority/scheduler/execCPUAffinity")
    {
        return;
    }
    let mut c = Container::new("sched");
    let cfg = c.config();
    cfg.set(
        &["linux", "personality"],
        serde_json::json!({"domain": "LINUX32"}),
    );
    cfg.set(
        &["process", "ioPriority"],
        serde_json::json!({"class": "IOPRIO_CLASS_BE", "priority": 5}),
    );
    cfg.set(
        &["process", "scheduler"],
        serde_json::json!({"policy": "SCHED_BATCH", "nice": 5}),
    );
    cfg.set(
        &["process", "execCPUAffinity"],
        serde_json::json!({"initial": "0", "final": "0"}),
    );
    let out = c.sh("uname -m; ionice; cut -d' ' -f19,41 /proc/self/stat; grep Cpus_allowed_list /proc/self/status");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "i686", "personality LINUX32: {out}");
    assert_eq!(lines[1], "best-effort: prio 5", "{out}");
    // nice 5, policy 3 = SCHED_BATCH
    assert_eq!(lines[2], "5 3", "{out}");
    assert!(lines[3].ends_with("\t0"), "{out}");
}

/// A passwd line for a user the tests add to the image (uid 2345, home /srv/svc).
const SVC_USER: &str = "svc:x:2345:2345:service:/srv/svc:/bin/sh\n";

/// Appends [`SVC_USER`] to the image's /etc/passwd.
fn add_svc_user(c: &Container) {
    let path = c.rootfs().join("etc/passwd");
    let mut passwd = std::fs::read_to_string(&path).expect("read passwd");
    passwd.push_str(SVC_USER);
    std::fs::write(&path, passwd).expect("write passwd");
}

#[test]
fn home_comes_from_the_container_s_passwd_when_env_has_none() {
    for (uid, home) in [
        (0, "/root"),
        (1000, "/home/user"),
        (2345, "/srv/svc"),
        (4242, "/"),
    ] {
        let mut c = Container::new("home");
        add_svc_user(&c);
        c.config().user(uid, uid, &[]);
        assert_eq!(c.sh("echo \"[$HOME]\""), format!("[{home}]\n"), "uid {uid}");
    }
    // A HOME in process.env is kept; an empty one counts as none.
    let mut c = Container::new("homeset");
    c.config().env("HOME=/custom");
    assert_eq!(c.sh("echo \"[$HOME]\""), "[/custom]\n");
    let mut c = Container::new("homeempty");
    c.config().env("HOME=");
    assert_eq!(
        c.sh("env | grep -c '^HOME='; echo \"[$HOME]\""),
        "1\n[/root]\n"
    );
}

#[test]
fn scheduler_flags_use_the_runtime_spec_names() {
    // runc differs: runc 1.1 does not implement process.scheduler (runtime-spec 1.2).
    if skip_for_runc("no process.scheduler") {
        return;
    }
    let mut c = Container::new("schedflags");
    c.config().set(
        &["process", "scheduler"],
        serde_json::json!({"policy": "SCHED_OTHER", "nice": -5,
            "flags": ["SCHED_FLAG_RESET_ON_FORK"]}),
    );
    // The shell has nice -5; with reset-on-fork its children start at 0.
    // A forked `sh` reads its own stat (busybox sh execs a script's last command in place).
    let out = c.sh("cut -d' ' -f19 /proc/$$/stat; sh -c 'cut -d\" \" -f19 /proc/$$/stat'; true");
    assert_eq!(out, "-5\n0\n");
    // A name that is not the spec's is refused, naming the field.
    let mut c = Container::new("schedbad");
    c.config().set(
        &["process", "scheduler"],
        serde_json::json!({"policy": "SCHED_OTHER", "flags": ["SCHED_RESET_ON_FORK"]}),
    );
    let out = c.create_with(&[]).expect_failure();
    c.assert_nothing_left();
    assert!(
        out.stderr.contains("process.scheduler.flags[0]")
            && out.stderr.contains("SCHED_FLAG_RESET_ON_FORK"),
        "{}",
        out.describe()
    );
}

#[test]
fn real_time_scheduler_without_cap_sys_nice_is_a_clear_error() {
    // runc differs: runc 1.1 does not implement process.scheduler (runtime-spec 1.2).
    if skip_for_runc("no process.scheduler") {
        return;
    }
    // In a user namespace the init has no CAP_SYS_NICE over the host.
    let mut c = Container::new("schedfifo");
    c.config()
        .namespace("user", None)
        .uid_mapping(0, 100_000, 65_536)
        .gid_mapping(0, 100_000, 65_536)
        .set(
            &["process", "scheduler"],
            serde_json::json!({"policy": "SCHED_FIFO", "priority": 10}),
        );
    let out = c.create_with(&[]).expect_failure();
    c.assert_nothing_left();
    for word in ["process.scheduler", "SCHED_FIFO", "CAP_SYS_NICE"] {
        assert!(out.stderr.contains(word), "no {word:?}: {}", out.describe());
    }
}
