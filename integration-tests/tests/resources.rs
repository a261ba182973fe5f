//! `linux.resources` through the runtime binary, read back from the container's (v1) cgroup
//! files and observed from inside: memory, cpu, cpuset, pids, blkio, devices, OOM, stats, and
//! bad values. (`update` and pause/resume are covered in operations.rs.)

use kiln_integration_tests::{cgroup, skip_for_runc, CapSet, Container, Device, Output, SharedDir};
use serde_json::{json, Value};

const MIB: u64 = 1 << 20;

/// The path of `file` in container `id`'s cgroup of v1 controller `ctrl`.
fn v1_path(ctrl: &str, id: &str, file: &str) -> String {
    format!("/sys/fs/cgroup/{ctrl}{}/{file}", cgroup::cgroups_path(id))
}

/// The trimmed content of `file` in container `id`'s cgroup of v1 controller `ctrl`.
fn v1(ctrl: &str, id: &str, file: &str) -> String {
    let path = v1_path(ctrl, id, file);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .trim()
        .to_string()
}

/// The value of `key` in a `key value` cgroup file (memory.oom_control, pids.events).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// A created (not started) `sleep` container with `linux.resources` = `resources`.
fn created(tag: &str, resources: Value) -> Container {
    let mut c = Container::new(tag);
    c.config()
        .set(&["linux", "resources"], resources)
        .args(&["sleep", "1000"]);
    c.create();
    c
}

/// Asserts that the container's init is in its cgroup of `ctrl`.
#[track_caller]
fn assert_member(c: &Container, ctrl: &str) {
    let pid = c.pid();
    let procs = v1("pids", c.id(), "cgroup.procs");
    assert!(procs.lines().any(|p| p == pid.to_string()), "{procs}");
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read cgroup");
    let want = format!(":{ctrl}:{}", cgroup::cgroups_path(c.id()));
    assert!(own.lines().any(|l| l.ends_with(&want)), "{own}");
}

#[test]
fn memory_limits_are_written_to_the_cgroup() {
    let c = created(
        "memory",
        json!({ "memory": {
            "limit": 64 * MIB, "reservation": 32 * MIB, "swap": 96 * MIB,
            "swappiness": 30, "disableOOMKiller": true
        }}),
    );
    assert_member(&c, "memory");
    let read = |file| v1("memory", c.id(), file);
    assert_eq!(read("memory.limit_in_bytes"), (64 * MIB).to_string());
    assert_eq!(read("memory.soft_limit_in_bytes"), (32 * MIB).to_string());
    assert_eq!(read("memory.memsw.limit_in_bytes"), (96 * MIB).to_string());
    assert_eq!(read("memory.swappiness"), "30");
    let oom = read("memory.oom_control");
    assert_eq!(keyed(&oom, "oom_kill_disable"), Some(1), "{oom}");
}

#[test]
fn cpu_and_cpuset_values_are_written_to_the_cgroup() {
    let c = created(
        "cpu",
        json!({ "cpu": {
            "shares": 512, "quota": 25000, "period": 50000, "cpus": "0", "mems": "0"
        }}),
    );
    assert_member(&c, "cpu");
    assert_member(&c, "cpuset");
    assert_eq!(v1("cpu", c.id(), "cpu.shares"), "512");
    assert_eq!(v1("cpu", c.id(), "cpu.cfs_quota_us"), "25000");
    assert_eq!(v1("cpu", c.id(), "cpu.cfs_period_us"), "50000");
    assert_eq!(v1("cpuset", c.id(), "cpuset.cpus"), "0");
    assert_eq!(v1("cpuset", c.id(), "cpuset.mems"), "0");
    // The kernel applies the cpuset to the process.
    let status = std::fs::read_to_string(format!("/proc/{}/status", c.pid())).expect("status");
    let allowed = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(str::trim);
    assert_eq!(allowed, Some("0"), "{status}");
}

#[test]
fn realtime_budget_is_written_to_the_cgroup() {
    let mut c = Container::new("rt");
    c.config()
        .resources(
            &["cpu"],
            json!({ "realtimeRuntime": 10000, "realtimePeriod": 100000 }),
        )
        .args(&["sleep", "1000"]);
    let out = c.create_with(&[]);
    // runc differs: runc 1.1 writes the budget to the container's cgroup only, which the
    // kernel refuses while the parent cgroups have none (EINVAL).
    if !out.success() && skip_for_runc("no realtime budget below a parent without one") {
        return;
    }
    let out = out.expect_success();
    assert!(out.stderr.is_empty(), "{}", out.describe());
    assert_eq!(v1("cpu", c.id(), "cpu.rt_period_us"), "100000");
    assert_eq!(v1("cpu", c.id(), "cpu.rt_runtime_us"), "10000");
}

#[test]
fn pids_limit_caps_the_number_of_processes() {
    let mut c = Container::new("pids");
    // An inner shell forks sleeps until a fork fails (which ends that shell); the outer one
    // then reports and becomes a sleep itself.
    c.config().resources(&["pids", "limit"], json!(10)).sh(
        "sh -c 'i=0; while [ $i -lt 12 ]; do sleep 1000 & i=$((i + 1)); done' 2>&1; \
         echo spawned; exec sleep 1000",
    );
    c.run_with(&["-d"]).expect_success();
    c.wait_output("spawned");
    assert_eq!(v1("pids", c.id(), "pids.max"), "10");
    let out = c.output();
    assert!(out.contains("can't fork"), "{out}");
    // The outer shell and 8 sleeps remain: the 9th sleep would have been the 11th task.
    assert_eq!(v1("pids", c.id(), "pids.current"), "9", "{out}");
    assert_eq!(cgroup::procs(c.id()).len(), 9);
    let events = v1("pids", c.id(), "pids.events");
    assert!(keyed(&events, "max").is_some_and(|n| n >= 1), "{events}");
}

#[test]
fn pids_limit_zero_means_one() {
    // runc differs: 1.1 treats 0 as unset; current runc (and its suite) remap it to 1
    // (runc#4014), since systemd has no TasksMax=0.
    if skip_for_runc("pids.limit 0 is unset in runc 1.1") {
        return;
    }
    let mut c = Container::new("pidszero");
    c.config()
        .resources(&["pids", "limit"], json!(0))
        .args(&["sleep", "1000"]);
    c.run_with(&["-d"]).expect_success();
    assert_eq!(v1("pids", c.id(), "pids.max"), "1");
    c.rt()
        .exec(&["update", "--pids-limit", "-1", c.id()])
        .unwrap()
        .expect_success();
    assert_eq!(v1("pids", c.id(), "pids.max"), "max");
    c.rt()
        .exec(&["update", "--pids-limit", "0", c.id()])
        .unwrap()
        .expect_success();
    assert_eq!(v1("pids", c.id(), "pids.max"), "1");
}

/// A whole block device of this host, as (major, minor), from /sys/block.
fn block_device() -> Option<(u64, u64)> {
    let mut devs: Vec<(String, (u64, u64))> = std::fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let dev = std::fs::read_to_string(e.path().join("dev")).ok()?;
            let (major, minor) = dev.trim().split_once(':')?;
            let name = e.file_name().to_string_lossy().into_owned();
            Some((name, (major.parse().ok()?, minor.parse().ok()?)))
        })
        .collect();
    devs.sort_by_key(|(name, _)| name.starts_with("loop") || name.starts_with("zram"));
    devs.first().map(|(_, dev)| *dev)
}

#[test]
fn block_io_throttles_and_weight_are_written_to_the_cgroup() {
    let Some((major, minor)) = block_device() else {
        println!("SKIP: no block device in /sys/block");
        return;
    };
    let weight_file = ["blkio.weight", "blkio.bfq.weight"].into_iter().find(|f| {
        std::path::Path::new("/sys/fs/cgroup/blkio")
            .join(f)
            .exists()
    });
    let mut block_io = json!({
        "throttleReadBpsDevice": [{ "major": major, "minor": minor, "rate": 4 * MIB }],
        "throttleWriteIOPSDevice": [{ "major": major, "minor": minor, "rate": 300 }]
    });
    if weight_file.is_some() {
        block_io["weight"] = json!(300);
    } else {
        println!("SKIP blkio weight: neither blkio.weight nor blkio.bfq.weight exists here");
    }
    let c = created("blkio", json!({ "blockIO": block_io }));
    assert_member(&c, "blkio");
    assert_eq!(
        v1("blkio", c.id(), "blkio.throttle.read_bps_device"),
        format!("{major}:{minor} {}", 4 * MIB)
    );
    assert_eq!(
        v1("blkio", c.id(), "blkio.throttle.write_iops_device"),
        format!("{major}:{minor} 300")
    );
    if let Some(file) = weight_file {
        let text = v1("blkio", c.id(), file);
        assert!(text.lines().any(|l| l.ends_with("300")), "{file}: {text}");
    }
}

/// A container with CAP_MKNOD (only) and `linux.resources.devices` = `rules`.
fn device_container(tag: &str, rules: Value) -> Container {
    let mut c = Container::new(tag);
    c.config()
        .resources(&["devices"], rules)
        .capabilities(CapSet::Bounding, &["CAP_MKNOD"])
        .capabilities(CapSet::Effective, &["CAP_MKNOD"])
        .capabilities(CapSet::Permitted, &["CAP_MKNOD"])
        .capabilities(CapSet::Ambient, &[]);
    c
}

/// Shell: opens with `redirect`, prints `<what>=ok` or `<what>=<error message>`.
fn try_open(what: &str, redirect: &str) -> String {
    format!("if e=$( (: {redirect}) 2>&1); then echo {what}=ok; else echo {what}=${{e##*: }}; fi")
}

const EPERM: &str = "Operation not permitted";

#[test]
fn device_rules_decide_what_can_be_opened() {
    // fuse (10:229) readable only; kmsg (1:11) not listed; mknod ("m") of anything.
    let mut c = device_container(
        "devices",
        json!([
            { "allow": false, "access": "rwm" },
            { "allow": true, "type": "c", "major": 10, "minor": 229, "access": "r" }
        ]),
    );
    let script = [
        try_open("null", "> /dev/null"),
        "mknod /tmp/fuse c 10 229 && mknod /tmp/kmsg c 1 11 && echo mknod=ok".into(),
        try_open("fuse-read", "< /tmp/fuse"),
        try_open("fuse-write", ">> /tmp/fuse"),
        try_open("kmsg-write", ">> /tmp/kmsg"),
    ];
    let out = c.sh(&script.join("; "));
    let want = [
        "null=ok".to_string(),
        "mknod=ok".into(),
        "fuse-read=ok".into(),
        format!("fuse-write={EPERM}"),
        format!("kmsg-write={EPERM}"),
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), want, "{out}");
}

#[test]
fn device_rules_apply_to_linux_devices_entries_too() {
    let mut c = device_container(
        "devlist",
        json!([
            { "allow": false, "access": "rwm" },
            { "allow": true, "type": "c", "major": 10, "minor": 229, "access": "r" },
            { "allow": false, "type": "c", "major": 10, "minor": 237, "access": "rwm" }
        ]),
    );
    let node = |path: &str, major, minor| Device {
        path: path.into(),
        kind: 'c',
        major,
        minor,
        file_mode: Some(0o666),
        uid: Some(0),
        gid: Some(0),
    };
    c.config()
        .device(&node("/dev/it-fuse", 10, 229))
        .device(&node("/dev/it-loopctl", 10, 237));
    let script = [
        try_open("fuse-read", "< /dev/it-fuse"),
        try_open("fuse-write", ">> /dev/it-fuse"),
        try_open("loopctl", "< /dev/it-loopctl"),
    ];
    let out = c.sh(&script.join("; "));
    let want = [
        "fuse-read=ok".to_string(),
        format!("fuse-write={EPERM}"),
        format!("loopctl={EPERM}"),
    ];
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        want,
        "the config's rules must restrict linux.devices entries: {out}"
    );
}

#[test]
fn over_the_memory_limit_the_process_is_oom_killed() {
    let memory = json!({ "limit": 32 * MIB, "swap": 32 * MIB });
    // `tail` keeps everything it read since the last newline: /dev/zero has none.
    let mut c = Container::new("oomrun");
    c.config()
        .resources(&["memory"], memory.clone())
        .args(&["tail", "/dev/zero"]);
    let out = c.run_with(&[]);
    assert_eq!(out.code, 128 + libc::SIGKILL, "{}", out.describe());

    // The same with create/start, to read the cgroup's OOM counter afterwards.
    let mut c = Container::new("oomcount");
    c.config()
        .resources(&["memory"], memory)
        .args(&["tail", "/dev/zero"]);
    c.create();
    let pid = c.pid();
    let oom_kills = || keyed(&v1("memory", c.id(), "memory.oom_control"), "oom_kill");
    assert_eq!(oom_kills(), Some(0));
    c.start();
    Container::wait_pid(pid);
    assert_eq!(oom_kills(), Some(1));
    assert_eq!(c.status(), "stopped");
}

/// `memory.usage.usage` of `events --stats`.
fn stats_memory_usage(c: &Container) -> u64 {
    let out = c
        .rt()
        .exec(&["events", "--stats", c.id()])
        .expect("run the runtime")
        .expect_success();
    let ev: Value = serde_json::from_str(out.stdout.trim()).expect("stats JSON");
    ev["data"]["memory"]["usage"]["usage"]
        .as_u64()
        .unwrap_or_else(|| panic!("no memory usage: {ev}"))
}

#[test]
fn stats_memory_usage_grows_with_the_container() {
    let mut c = Container::new("stats");
    let shared = SharedDir::mount(c.config()).expect("shared dir");
    c.config().sh(&format!(
        "echo ready; {}; dd if=/dev/zero of=/dev/shm/fill bs=1M count=20 2>/dev/null; \
         echo filled; exec sleep 1000",
        shared.wait_command()
    ));
    c.run_with(&["-d"]).expect_success();
    c.wait_output("ready");
    let before = stats_memory_usage(&c);
    shared.release().expect("release the gate");
    c.wait_output("filled");
    let after = stats_memory_usage(&c);
    assert!(
        after >= before + 18 * MIB,
        "usage went from {before} to {after} after writing 20 MiB to /dev/shm"
    );
    let cgroup_usage: u64 = v1("memory", c.id(), "memory.usage_in_bytes")
        .parse()
        .expect("number");
    assert!(
        cgroup_usage >= 20 * MIB,
        "memory.usage_in_bytes {cgroup_usage}"
    );
}

/// Asserts that create failed naming `words`, and left no container, state or cgroup.
#[track_caller]
fn assert_refused(c: &mut Container, words: &[&str]) -> Output {
    let out = c.create_with(&[]).expect_failure();
    eprintln!("{}: {}", c.id(), out.stderr.trim());
    c.assert_nothing_left();
    // runc differs: its messages name the value (or the kernel's errno) but not the field.
    if !skip_for_runc("the message does not name the field") {
        for word in words {
            assert!(out.stderr.contains(word), "{word:?}: {}", out.describe());
        }
    }
    out
}

#[test]
fn bad_resources_are_refused_naming_the_field() {
    let cases: [(&str, &[&str], Value); 4] = [
        (
            "negmem",
            &["memory.limit"],
            json!({ "memory": { "limit": -5 } }),
        ),
        (
            "badcpus",
            &["cpu.cpus", "0-x"],
            json!({ "cpu": { "cpus": "0-x" } }),
        ),
        (
            "devtype",
            &["devices[1].type"],
            json!({ "devices": [
                { "allow": false, "access": "rwm" },
                { "allow": true, "type": "x", "major": 1, "minor": 3, "access": "rw" }
            ]}),
        ),
        (
            "unified",
            &["unified", "memory.bogus"],
            json!({ "unified": { "memory.bogus": "1" } }),
        ),
    ];
    for (tag, words, resources) in cases {
        let mut c = Container::new(tag);
        c.config()
            .set(&["linux", "resources"], resources)
            .args(&["true"]);
        let out = assert_refused(&mut c, words);
        assert_ne!(out.code, 0);
    }
}

#[test]
fn unified_is_refused_on_a_v1_or_hybrid_host() {
    if kiln_cgroups::detect_layout().unwrap() == kiln_cgroups::Layout::V2 {
        eprintln!("skipping: a pure cgroup v2 host accepts unified");
        return;
    }
    // As runc: even on a hybrid host, whose cgroup2 hierarchy exists.
    let mut c = Container::new("unifiedv1");
    c.config()
        .set(
            &["linux", "resources"],
            json!({ "unified": { "memory.min": "131072" } }),
        )
        .args(&["true"]);
    assert_refused(&mut c, &["invalid configuration"]);
}
