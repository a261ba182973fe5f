//! Root tests on a cgroup v1 or hybrid host: real cgroups under /sys/fs/cgroup/<ctrl>/kiln-test-…,
//! values read back from the kernel's files, real processes frozen, signalled and OOM-killed.
//! They skip themselves (and say so) when not root or on a pure v2 host.

mod common;

use common::{cpu_ticks, is_root, proc_state, wait_until, Action, TestCgroup};
use kiln_cgroups::{detect_layout, CgroupError, FreezerState, Layout};
use oci_spec::runtime::LinuxResources;
use serde_json::json;

/// The host layout if these tests can run here.
fn v1_host() -> Option<Layout> {
    if !is_root() {
        eprintln!("skipping: needs root");
        return None;
    }
    match detect_layout() {
        Ok(l @ (Layout::V1 | Layout::Hybrid)) => Some(l),
        other => {
            eprintln!("skipping: not a cgroup v1/hybrid host ({other:?})");
            None
        }
    }
}

fn res(v: serde_json::Value) -> LinuxResources {
    serde_json::from_value(v).expect("OCI resources JSON")
}

fn trimmed(s: String) -> String {
    s.trim().to_string()
}

#[test]
fn create_records_dirs_and_destroy_leaves_nothing() {
    let Some(layout) = v1_host() else { return };
    let cg = TestCgroup::new("create", layout);
    cg.manager.create().unwrap();
    // Idempotent.
    cg.manager.create().unwrap();
    let paths = cg.manager.paths();
    assert!(paths.iter().any(|(n, _)| n == "memory"));
    if layout == Layout::Hybrid {
        assert!(
            paths.iter().any(|(n, _)| n == "unified"),
            "hybrid creates in unified too"
        );
    }
    for (name, dir) in &paths {
        assert!(dir.is_dir(), "{name}: {} missing", dir.display());
    }
    // A new cpuset cgroup got the parent's cpus/mems, so tasks can join.
    let parent_cpus = std::fs::read_to_string("/sys/fs/cgroup/cpuset/cpuset.cpus").unwrap();
    assert_eq!(cg.read("cpuset", "cpuset.cpus"), parent_cpus);
    // Both the top directory and the leaf were recorded, in every hierarchy.
    let created = cg.manager.created_dirs();
    assert!(created
        .iter()
        .any(|p| p.ends_with(format!("{}/ctr", cg.top))));
    assert!(created.iter().any(|p| p.ends_with(&cg.top)));

    cg.manager.destroy().unwrap();
    assert!(
        cg.leftovers().is_empty(),
        "left behind: {:?}",
        cg.leftovers()
    );
    // Idempotent: destroying again is fine.
    cg.manager.destroy().unwrap();
}

#[test]
fn destroy_of_fresh_manager_removes_only_the_leaf() {
    let Some(layout) = v1_host() else { return };
    let cg = TestCgroup::new("leaf", layout);
    cg.manager.create().unwrap();
    let fresh = kiln_cgroups::Manager::new(cg.manager.cgroup_path().clone()).unwrap();
    fresh.destroy().unwrap();
    let top = std::path::Path::new("/sys/fs/cgroup/memory").join(&cg.top);
    assert!(
        top.is_dir(),
        "the parent was not created by the fresh manager"
    );
    assert!(!top.join("ctr").exists());
    // The original manager knows it created the parent.
    cg.manager.destroy().unwrap();
    assert!(cg.leftovers().is_empty());
}

#[test]
fn apply_writes_every_v1_value() {
    let Some(layout) = v1_host() else { return };
    let cg = TestCgroup::new("apply", layout);
    cg.manager.create().unwrap();
    let mut r = json!({
        "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728,
                   "kernelTCP": 16777216, "swappiness": 30, "disableOOMKiller": false,
                   "useHierarchy": true},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "burst": 10000,
                "realtimePeriod": 1000000, "realtimeRuntime": 10000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 42},
        "blockIO": {"weight": 300},
        "network": {"classID": 1048577, "priorities": [{"name": "lo", "priority": 1}]},
        "devices": [{"allow": false, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]
    });
    let dev = common::some_block_device();
    if let Some(d) = &dev {
        let (major, minor) = d.split_once(':').unwrap();
        r["blockIO"]["throttleReadBpsDevice"] = json!([{"major": major.parse::<i64>().unwrap(), "minor": minor.parse::<i64>().unwrap(), "rate": 1048576}]);
        r["blockIO"]["throttleWriteIOPSDevice"] = json!([{"major": major.parse::<i64>().unwrap(), "minor": minor.parse::<i64>().unwrap(), "rate": 300}]);
    }
    cg.manager.apply(&res(r)).unwrap();

    let m = |f| trimmed(cg.read("memory", f));
    assert_eq!(m("memory.limit_in_bytes"), "67108864");
    assert_eq!(m("memory.memsw.limit_in_bytes"), "134217728");
    assert_eq!(m("memory.soft_limit_in_bytes"), "33554432");
    assert_eq!(m("memory.kmem.tcp.limit_in_bytes"), "16777216");
    assert_eq!(m("memory.swappiness"), "30");
    assert!(m("memory.oom_control").contains("oom_kill_disable 0"));
    assert_eq!(m("memory.use_hierarchy"), "1");
    let c = |f| trimmed(cg.read("cpu", f));
    assert_eq!(c("cpu.shares"), "512");
    assert_eq!(c("cpu.cfs_quota_us"), "50000");
    assert_eq!(c("cpu.cfs_period_us"), "100000");
    assert_eq!(c("cpu.cfs_burst_us"), "10000");
    assert_eq!(c("cpu.rt_period_us"), "1000000");
    assert_eq!(c("cpu.rt_runtime_us"), "10000");
    assert_eq!(trimmed(cg.read("cpuset", "cpuset.cpus")), "0");
    assert_eq!(trimmed(cg.read("cpuset", "cpuset.mems")), "0");
    assert_eq!(trimmed(cg.read("pids", "pids.max")), "42");
    let blkio_dir = cg.dir("blkio");
    let weight_file = if blkio_dir.join("blkio.weight").exists() {
        "blkio.weight"
    } else {
        "blkio.bfq.weight"
    };
    assert!(
        cg.read("blkio", weight_file).contains("300"),
        "{}",
        cg.read("blkio", weight_file)
    );
    if let Some(d) = &dev {
        assert_eq!(
            trimmed(cg.read("blkio", "blkio.throttle.read_bps_device")),
            format!("{d} 1048576")
        );
        assert_eq!(
            trimmed(cg.read("blkio", "blkio.throttle.write_iops_device")),
            format!("{d} 300")
        );
    }
    assert_eq!(trimmed(cg.read("devices", "devices.list")), "c 1:3 rwm");

    // An update: idle, lowering memory (memsw must now follow the memory limit), kernel memory.
    let update = res(json!({
        "memory": {"limit": 33554432, "swap": 50331648, "kernel": 100663296},
        "cpu": {"idle": 1, "quota": -1}
    }));
    cg.manager.apply(&update).unwrap();
    assert_eq!(m("memory.limit_in_bytes"), "33554432");
    assert_eq!(m("memory.memsw.limit_in_bytes"), "50331648");
    // Kernels since 6.1 accept but ignore v1 kernel memory limits (runc ignores the field).
    let kmem = m("memory.kmem.limit_in_bytes");
    assert!(
        kmem == "100663296" || kmem == "9223372036854771712",
        "kmem {kmem}"
    );
    assert_eq!(c("cpu.idle"), "1");
    assert_eq!(c("cpu.cfs_quota_us"), "-1");
    // Raising again needs memsw first.
    cg.manager
        .apply(&res(
            json!({"memory": {"limit": 268435456, "swap": 536870912}}),
        ))
        .unwrap();
    assert_eq!(m("memory.limit_in_bytes"), "268435456");
    assert_eq!(m("memory.memsw.limit_in_bytes"), "536870912");
}

#[test]
fn invalid_resources_fail_with_the_field_and_change_nothing() {
    let Some(layout) = v1_host() else { return };
    let cg = TestCgroup::new("invalid", layout);
    cg.manager.create().unwrap();
    cg.manager
        .apply(&res(json!({"pids": {"limit": 10}})))
        .unwrap();

    let cases = [
        (
            json!({"pids": {"limit": 20}, "memory": {"limit": -5}}),
            "linux.resources.memory.limit:",
        ),
        (
            json!({"pids": {"limit": 20}, "devices": [{"allow": true, "type": "p", "access": "r"}]}),
            "linux.resources.devices[0].type:",
        ),
        (
            json!({"pids": {"limit": 20}, "cpu": {"cpus": "zero"}}),
            "linux.resources.cpu.cpus:",
        ),
        (
            json!({"pids": {"limit": 20}, "rdma": {"mlx5_0": {"hcaHandles": 1}}}),
            "linux.resources.rdma:",
        ),
        (
            json!({"pids": {"limit": 20}, "hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}]}),
            "linux.resources.hugepageLimits[0]:",
        ),
    ];
    for (v, prefix) in cases {
        let e = cg.manager.apply(&res(v)).unwrap_err();
        assert!(e.to_string().starts_with(prefix), "{e}");
        assert_eq!(
            trimmed(cg.read("pids", "pids.max")),
            "10",
            "nothing applied for {prefix}"
        );
    }
    if layout == Layout::Hybrid {
        let e = cg
            .manager
            .apply(&res(
                json!({"pids": {"limit": 20}, "unified": {"memory.max": "1"}}),
            ))
            .unwrap_err();
        // As runc: unified is refused on a hybrid host, before anything is written.
        assert!(
            e.to_string()
                .starts_with("linux.resources.unified: invalid configuration: memory.max"),
            "{e}"
        );
        assert_eq!(trimmed(cg.read("pids", "pids.max")), "10");
    }
    // The kernel's own refusal also names the field.
    let e = cg
        .manager
        .apply(&res(json!({"cpu": {"cpus": "4000"}})))
        .unwrap_err();
    assert!(matches!(e, CgroupError::Apply { .. }), "{e:?}");
    assert!(
        e.to_string().starts_with("linux.resources.cpu.cpus:"),
        "{e}"
    );
}

#[test]
fn processes_join_freeze_thaw_and_are_listed() {
    let Some(layout) = v1_host() else { return };
    let mut cg = TestCgroup::new("freeze", layout);
    cg.manager.create().unwrap();
    let spin = cg.spawn(Action::Spin);
    let pid = cg.children[spin].pid;
    for (name, dir) in cg.manager.paths() {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
        assert!(
            procs.lines().any(|l| l == pid.to_string()),
            "{pid} not in {name}"
        );
    }
    assert_eq!(cg.manager.pids().unwrap(), vec![pid]);
    wait_until("the child to use CPU", || cpu_ticks(pid) > 0);
    assert_eq!(cg.manager.freezer_state().unwrap(), FreezerState::Thawed);

    cg.manager.freeze().unwrap();
    assert_eq!(cg.manager.freezer_state().unwrap(), FreezerState::Frozen);
    assert_eq!(trimmed(cg.read("freezer", "freezer.state")), "FROZEN");
    assert!(
        !proc_state(pid).starts_with('R'),
        "frozen child is {}",
        proc_state(pid)
    );
    let before = cpu_ticks(pid);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(cpu_ticks(pid), before, "a frozen process must not use CPU");

    cg.manager.thaw().unwrap();
    assert_eq!(cg.manager.freezer_state().unwrap(), FreezerState::Thawed);
    wait_until("the thawed child to use CPU again", || {
        cpu_ticks(pid) > before
    });
}

#[test]
fn kill_all_signals_every_process() {
    let Some(layout) = v1_host() else { return };
    let mut cg = TestCgroup::new("kill", layout);
    cg.manager.create().unwrap();
    let ids: Vec<usize> = (0..3).map(|_| cg.spawn(Action::Sleep)).collect();
    let mut pids: Vec<i32> = ids.iter().map(|i| cg.children[*i].pid).collect();
    pids.sort_unstable();
    let mut listed = cg.manager.pids().unwrap();
    listed.sort_unstable();
    assert_eq!(listed, pids);

    cg.manager.kill_all(libc::SIGTERM).unwrap();
    for i in &ids {
        assert_eq!(cg.children[*i].wait(), Err(libc::SIGTERM));
    }
    assert_eq!(
        cg.manager.freezer_state().unwrap(),
        FreezerState::Thawed,
        "thawed after kill_all"
    );

    let again = cg.spawn(Action::Sleep);
    cg.manager.kill_all(libc::SIGKILL).unwrap();
    assert_eq!(cg.children[again].wait(), Err(libc::SIGKILL));
    assert!(cg.manager.pids().unwrap().is_empty());
    cg.manager.destroy().unwrap();
    assert!(cg.leftovers().is_empty());
    // Nothing left to kill is fine.
    cg.manager.kill_all(libc::SIGKILL).unwrap();
}

#[test]
fn device_rules_are_enforced() {
    let Some(layout) = v1_host() else { return };
    let mut cg = TestCgroup::new("devices", layout);
    cg.manager.create().unwrap();
    let rules = json!({"devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
    ]});
    cg.manager.apply(&res(rules)).unwrap();
    let null = cg.spawn(Action::Open(0));
    assert_eq!(cg.children[null].wait(), Ok(0), "/dev/null is allowed");
    let zero = cg.spawn(Action::Open(1));
    assert_eq!(
        cg.children[zero].wait(),
        Ok(libc::EPERM),
        "/dev/zero is denied"
    );
}

#[test]
fn oom_kill_is_counted() {
    let Some(layout) = v1_host() else { return };
    let mut cg = TestCgroup::new("oom", layout);
    cg.manager.create().unwrap();
    cg.manager
        .apply(&res(
            json!({"memory": {"limit": 16777216, "swap": 16777216}}),
        ))
        .unwrap();
    assert_eq!(cg.manager.oom_kill_count().unwrap(), 0);
    let hog = cg.spawn(Action::Alloc(256 << 20));
    assert_eq!(cg.children[hog].wait(), Err(libc::SIGKILL));
    assert!(cg.manager.oom_kill_count().unwrap() >= 1);
    // The peak usage reached the limit (this kernel does not count failcnt on OOM).
    let stats = cg.manager.stats().unwrap();
    assert_eq!(
        stats.memory.usage.max.to_string(),
        trimmed(cg.read("memory", "memory.max_usage_in_bytes"))
    );
    assert!(
        stats.memory.usage.max > 16777216 / 2,
        "{:?}",
        stats.memory.usage
    );
}

#[test]
fn stats_read_the_kernel_counters() {
    let Some(layout) = v1_host() else { return };
    let mut cg = TestCgroup::new("stats", layout);
    cg.manager.create().unwrap();
    cg.manager
        .apply(&res(json!({"memory": {"limit": 67108864}, "pids": {"limit": 42}, "cpu": {"quota": 50000, "period": 100000}})))
        .unwrap();
    let spin = cg.spawn(Action::Spin);
    let pid = cg.children[spin].pid;
    let _holder = cg.spawn(Action::Hold(8 << 20));
    wait_until("the child to use CPU", || cpu_ticks(pid) > 2);
    let periods = || {
        let stat = cg.read("cpu", "cpu.stat");
        stat.lines()
            .find_map(|l| l.strip_prefix("nr_periods "))
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    wait_until("a CFS period to elapse", || periods() > 0);
    wait_until("the holder to touch its memory", || {
        trimmed(cg.read("memory", "memory.usage_in_bytes"))
            .parse::<u64>()
            .unwrap()
            >= 8 << 20
    });

    let s = cg.manager.stats().unwrap();
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    assert!(s.cpu.usage.total > 0);
    assert!(s.cpu.usage.percpu.len() >= cpus);
    assert!(s.cpu.usage.percpu.iter().sum::<u64>() > 0);
    assert!(s.cpu.usage.user + s.cpu.usage.kernel > 0);
    assert!(
        s.cpu.throttling.periods > 0,
        "quota set, so CFS periods are counted"
    );
    assert_eq!(s.memory.usage.limit, 67108864);
    assert!(s.memory.usage.usage >= 8 << 20);
    assert!(!s.memory.raw.is_empty());
    assert_eq!(s.pids.current, 2);
    assert_eq!(s.pids.limit, 42);
    assert!(!s.cpuset.cpus.is_empty());
    let v = serde_json::to_value(&s).unwrap();
    for key in [
        "cpu",
        "cpuset",
        "memory",
        "pids",
        "blkio",
        "hugetlb",
        "intel_rdt",
        "network_interfaces",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["memory"]["usage"]["limit"], 67108864);
    assert_eq!(v["pids"]["current"], 2);
}

#[test]
fn bpf_device_filter_works_in_the_unified_hierarchy() {
    let Some(layout) = v1_host() else { return };
    if layout != Layout::Hybrid {
        eprintln!("skipping: no unified hierarchy");
        return;
    }
    let mut cg = TestCgroup::new("bpf", layout);
    cg.manager.create().unwrap();
    let dir = cg.dir("unified");
    let rules = res(json!({"devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"}
    ]}));
    kiln_cgroups::devices::filter::apply_oci_device_filter(&dir, rules.devices().as_ref().unwrap())
        .unwrap();
    let zero = cg.spawn(Action::Open(1));
    assert_eq!(
        cg.children[zero].wait(),
        Ok(0),
        "/dev/zero allowed by the first program"
    );

    // Replace: now /dev/zero is denied, and only one program of ours stays attached.
    let rules = res(json!({"devices": [
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
    ]}));
    kiln_cgroups::devices::filter::apply_oci_device_filter(&dir, rules.devices().as_ref().unwrap())
        .unwrap();
    let names = kiln_cgroups::devices::filter::attached_device_programs(&dir).unwrap();
    assert_eq!(
        names,
        vec![kiln_cgroups::devices::filter::PROGRAM_NAME.to_string()]
    );
    let null = cg.spawn(Action::Open(0));
    assert_eq!(cg.children[null].wait(), Ok(0));
    let zero = cg.spawn(Action::Open(1));
    assert_eq!(cg.children[zero].wait(), Ok(libc::EPERM));
}

/// Whether `fd` turns readable within `ms` milliseconds.
fn readable(fd: std::os::fd::BorrowedFd<'_>, ms: u16) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    poll(&mut fds, PollTimeout::from(ms)).expect("poll") > 0
}

#[test]
fn oom_watcher_reports_the_kill_and_the_removal() {
    use std::os::fd::AsFd;
    let Some(layout) = v1_host() else { return };
    let mut cg = TestCgroup::new("oomwatch", layout);
    cg.manager.create().unwrap();
    cg.manager
        .apply(&res(
            json!({"memory": {"limit": 16777216, "swap": 16777216}}),
        ))
        .unwrap();
    let mut watcher = cg.manager.oom_watcher().unwrap();
    assert!(!readable(watcher.as_fd(), 0), "no OOM yet");
    let sleeper = cg.spawn(Action::Hold(1 << 20));
    let hog = cg.spawn(Action::Alloc(256 << 20));
    assert_eq!(cg.children[hog].wait(), Err(libc::SIGKILL));
    // The kernel signals the eventfd before it kills.
    assert!(readable(watcher.as_fd(), 0), "eventfd not signalled");
    let report = watcher.read().unwrap();
    assert!(report.ooms >= 1 && !report.gone, "{report:?}");
    assert!(!readable(watcher.as_fd(), 0), "read() consumed it");
    // Removing the cgroup wakes the watcher once more, as gone.
    cg.children[sleeper].kill_and_reap();
    cg.manager.destroy().unwrap();
    assert!(readable(watcher.as_fd(), 1000), "no wake-up on rmdir");
    let report = watcher.read().unwrap();
    assert!(report.gone, "{report:?}");
}
