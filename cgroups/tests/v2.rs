//! Root tests for a pure cgroup v2 host, `#[ignore]`d because this development host is hybrid.
//! Run them in the v2 VM with `cgroups/tests/run-v2-vm.sh` (which sets `KILN_REQUIRE_V2=1`, so
//! they fail instead of skipping if the VM is not pure v2).

mod common;

use std::path::Path;

use common::{cpu_ticks, is_root, proc_state, wait_until, Action, TestCgroup};
use kiln_cgroups::{detect_layout, FreezerState, Layout};
use oci_spec::runtime::LinuxResources;
use serde_json::json;

fn v2_host() -> bool {
    let required = std::env::var_os("KILN_REQUIRE_V2").is_some();
    let ok = is_root() && matches!(detect_layout(), Ok(Layout::V2));
    if !ok {
        assert!(
            !required,
            "KILN_REQUIRE_V2 is set but this is not a pure cgroup v2 host run as root"
        );
        eprintln!("skipping: needs root on a pure cgroup v2 host");
    }
    ok
}

fn res(v: serde_json::Value) -> LinuxResources {
    serde_json::from_value(v).expect("OCI resources JSON")
}

fn read(cg: &TestCgroup, file: &str) -> String {
    cg.read("unified", file).trim().to_string()
}

/// The value of `key` in a flat-keyed cgroup file's text.
fn key(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {key} in {text}"))
        .parse()
        .unwrap()
}

fn new_cgroup(tag: &str) -> TestCgroup {
    let cg = TestCgroup::new(tag, Layout::V2);
    cg.manager.create().unwrap();
    cg
}

#[test]
#[ignore = "needs a pure cgroup v2 host (run tests/run-v2-vm.sh)"]
fn v2_create_enables_controllers_and_destroy_cleans_up() {
    if !v2_host() {
        return;
    }
    let cg = new_cgroup("create");
    let top = Path::new("/sys/fs/cgroup").join(&cg.top);
    let subtree = std::fs::read_to_string(top.join("cgroup.subtree_control")).unwrap();
    for c in ["cpu", "memory", "pids", "io"] {
        assert!(
            subtree.split_whitespace().any(|s| s == c),
            "{c} not enabled: {subtree}"
        );
    }
    assert_eq!(
        cg.manager.paths(),
        vec![("unified".to_string(), top.join("ctr"))]
    );
    cg.manager.destroy().unwrap();
    assert!(
        cg.leftovers().is_empty(),
        "left behind: {:?}",
        cg.leftovers()
    );
    cg.manager.destroy().unwrap();
}

#[test]
#[ignore = "needs a pure cgroup v2 host (run tests/run-v2-vm.sh)"]
fn v2_memory_max_and_oom_kill() {
    if !v2_host() {
        return;
    }
    let mut cg = new_cgroup("oom");
    cg.manager
        .apply(&res(
            json!({"memory": {"limit": 16777216, "swap": 16777216, "reservation": 8388608}}),
        ))
        .unwrap();
    assert_eq!(read(&cg, "memory.max"), "16777216");
    assert_eq!(read(&cg, "memory.swap.max"), "0", "swap.max = swap - limit");
    assert_eq!(read(&cg, "memory.low"), "8388608");
    assert_eq!(cg.manager.oom_kill_count().unwrap(), 0);
    let hog = cg.spawn(Action::Alloc(256 << 20));
    assert_eq!(cg.children[hog].wait(), Err(libc::SIGKILL));
    let events = read(&cg, "memory.events");
    let kills = key(&events, "oom_kill");
    assert!(kills >= 1, "{events}");
    assert_eq!(cg.manager.oom_kill_count().unwrap(), kills);
    // Unlimited swap.
    cg.manager
        .apply(&res(json!({"memory": {"limit": 33554432, "swap": -1}})))
        .unwrap();
    assert_eq!(read(&cg, "memory.swap.max"), "max");
    assert_eq!(read(&cg, "memory.max"), "33554432");
}

#[test]
#[ignore = "needs a pure cgroup v2 host (run tests/run-v2-vm.sh)"]
fn v2_pids_max() {
    if !v2_host() {
        return;
    }
    let mut cg = new_cgroup("pids");
    cg.manager
        .apply(&res(json!({"pids": {"limit": 5}})))
        .unwrap();
    assert_eq!(read(&cg, "pids.max"), "5");
    let _ = cg.spawn(Action::Sleep);
    let s = cg.manager.stats().unwrap();
    assert_eq!((s.pids.current, s.pids.limit), (1, 5));
    cg.manager
        .apply(&res(json!({"pids": {"limit": -1}})))
        .unwrap();
    assert_eq!(read(&cg, "pids.max"), "max");
}

#[test]
#[ignore = "needs a pure cgroup v2 host (run tests/run-v2-vm.sh)"]
fn v2_cpu_max_weight_burst_idle_cpuset() {
    if !v2_host() {
        return;
    }
    let cg = new_cgroup("cpu");
    cg.manager
        .apply(&res(
            json!({"cpu": {"shares": 1024, "quota": 50000, "period": 100000, "burst": 20000,
                                   "cpus": "0", "mems": "0"}}),
        ))
        .unwrap();
    assert_eq!(
        read(&cg, "cpu.weight"),
        "39",
        "1 + ((1024 - 2) * 9999) / 262142"
    );
    assert_eq!(read(&cg, "cpu.max"), "50000 100000");
    assert_eq!(read(&cg, "cpu.max.burst"), "20000");
    assert_eq!(read(&cg, "cpuset.cpus"), "0");
    assert_eq!(read(&cg, "cpuset.mems"), "0");
    // Changing only the period keeps the quota; -1 quota is "max".
    cg.manager
        .apply(&res(json!({"cpu": {"period": 200000}})))
        .unwrap();
    assert_eq!(read(&cg, "cpu.max"), "50000 200000");
    cg.manager
        .apply(&res(json!({"cpu": {"quota": -1, "shares": 262144}})))
        .unwrap();
    assert_eq!(read(&cg, "cpu.max"), "max 200000");
    assert_eq!(read(&cg, "cpu.weight"), "10000");
    if cg.dir("unified").join("cpu.idle").exists() {
        cg.manager.apply(&res(json!({"cpu": {"idle": 1}}))).unwrap();
        assert_eq!(read(&cg, "cpu.idle"), "1");
    }
    let e = cg
        .manager
        .apply(&res(json!({"cpu": {"realtimeRuntime": 1000}})))
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("linux.resources.cpu.realtimeRuntime:"),
        "{e}"
    );
}

#[test]
#[ignore = "needs a pure cgroup v2 host (run tests/run-v2-vm.sh)"]
fn v2_io_weight_and_max() {
    if !v2_host() {
        return;
    }
    let cg = new_cgroup("io");
    cg.manager
        .apply(&res(json!({"blockIO": {"weight": 500}})))
        .unwrap();
    if cg.dir("unified").join("io.bfq.weight").exists() {
        assert!(
            read(&cg, "io.bfq.weight").contains("500"),
            "{}",
            read(&cg, "io.bfq.weight")
        );
    } else {
        assert!(
            read(&cg, "io.weight").starts_with("default 4950"),
            "{}",
            read(&cg, "io.weight")
        );
    }
    if let Some(dev) = common::some_block_device() {
        let (major, minor) = dev.split_once(':').unwrap();
        let (major, minor): (i64, i64) = (major.parse().unwrap(), minor.parse().unwrap());
        cg.manager
            .apply(&res(json!({"blockIO": {
                "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}],
                "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 100}]
            }})))
            .unwrap();
        assert_eq!(
            read(&cg, "io.max"),
            format!("{dev} rbps=1048576 wbps=max riops=max wiops=100")
        );
    } else {
        eprintln!("no block device in this VM: io.max not exercised");
    }
}

#[test]
#[ignore = "needs a pure cgroup v2 host (run tests/run-v2-vm.sh)"]
fn v2_freeze_and_thaw() {
    if !v2_host() {
        return;
    }
    let mut cg = new_cgroup("freeze");
    let spin = cg.spawn(Action::Spin);
    let pid = cg.children[spin].pid;
    wait_until("the child to use CPU", || cpu_ticks(pid) > 0);
    cg.manager.freeze().unwrap();
    assert_eq!(read(&cg, "cgroup.freeze"), "1");
    assert!(read(&cg, "cgroup.events").lines().any(|l| l == "frozen 1"));
    assert_eq!(cg.manager.freezer_state().unwrap(), FreezerState::Frozen);
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
#[ignore = "needs a pure cgroup v2 host (run tests/run-v2-vm.sh)"]
fn v2_kill_all_with_cgroup_kill() {
    if !v2_host() {
        return;
    }
    let mut cg = new_cgroup("kill");
    let ids: Vec<usize> = (0..3).map(|_| cg.spawn(Action::Sleep)).collect();
    assert_eq!(cg.manager.pids().unwrap().len(), 3);
    cg.manager.kill_all(libc::SIGKILL).unwrap();
    for i in &ids {
        assert_eq!(cg.children[*i].wait(), Err(libc::SIGKILL));
    }
    // Other signals go through freeze / signal / thaw.
    let t = cg.spawn(Action::Sleep);
    cg.manager.kill_all(libc::SIGTERM).unwrap();
    assert_eq!(cg.children[t].wait(), Err(libc::SIGTERM));
    assert_eq!(cg.manager.freezer_state().unwrap(), FreezerState::Thawed);
    cg.manager.destroy().unwrap();
    assert!(cg.leftovers().is_empty());
}

#[test]
#[ignore = "needs a pure cgroup v2 host (run tests/run-v2-vm.sh)"]
fn v2_device_filter_allows_null_denies_zero() {
    if !v2_host() {
        return;
    }
    let mut cg = new_cgroup("devices");
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

    // An update replaces our program instead of stacking another one.
    let rules = json!({"devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rw"}
    ]});
    cg.manager.apply(&res(rules)).unwrap();
    let dir = cg.dir("unified");
    let attached = kiln_cgroups::devices::filter::attached_device_programs(&dir).unwrap();
    assert_eq!(
        attached,
        vec![kiln_cgroups::devices::filter::PROGRAM_NAME.to_string()]
    );
    let zero = cg.spawn(Action::Open(1));
    assert_eq!(
        cg.children[zero].wait(),
        Ok(0),
        "/dev/zero allowed after the update"
    );
}

#[test]
#[ignore = "needs a pure cgroup v2 host (run tests/run-v2-vm.sh)"]
fn v2_unified_keys_and_hugetlb() {
    if !v2_host() {
        return;
    }
    let cg = new_cgroup("unified");
    cg.manager
        .apply(&res(
            json!({"memory": {"limit": 67108864}, "unified": {"memory.high": "33554432"}}),
        ))
        .unwrap();
    assert_eq!(read(&cg, "memory.high"), "33554432");
    let e = cg
        .manager
        .apply(&res(
            json!({"pids": {"limit": 3}, "unified": {"memory.bogus": "1"}}),
        ))
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("linux.resources.unified.memory.bogus:"),
        "{e}"
    );
    assert_eq!(
        read(&cg, "pids.max"),
        "max",
        "nothing applied on a preflight failure"
    );
    if cg.dir("unified").join("hugetlb.2MB.max").exists() {
        cg.manager
            .apply(&res(
                json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}),
            ))
            .unwrap();
        assert_eq!(read(&cg, "hugetlb.2MB.max"), "4194304");
    } else {
        eprintln!("no 2MB hugetlb in this VM: hugepageLimits not exercised");
    }
}

#[test]
#[ignore = "needs a pure cgroup v2 host (run tests/run-v2-vm.sh)"]
fn v2_stats() {
    if !v2_host() {
        return;
    }
    let mut cg = new_cgroup("stats");
    cg.manager
        .apply(&res(json!({"memory": {"limit": 67108864}, "pids": {"limit": 9}, "cpu": {"quota": 50000, "period": 100000}})))
        .unwrap();
    let spin = cg.spawn(Action::Spin);
    let pid = cg.children[spin].pid;
    let _hold = cg.spawn(Action::Hold(8 << 20));
    wait_until("the child to use CPU", || cpu_ticks(pid) > 2);
    wait_until("a CFS period to elapse", || {
        key(&read(&cg, "cpu.stat"), "nr_periods") > 0
    });
    wait_until("the holder's memory", || {
        read(&cg, "memory.current").parse::<u64>().unwrap() >= 8 << 20
    });
    let s = cg.manager.stats().unwrap();
    assert!(s.cpu.usage.total > 0 && s.cpu.usage.user + s.cpu.usage.kernel > 0);
    assert!(s.cpu.throttling.periods > 0);
    assert_eq!(s.memory.usage.limit, 67108864);
    assert!(s.memory.usage.usage >= 8 << 20);
    assert!(s.memory.raw.contains_key("anon"));
    assert_eq!((s.pids.current, s.pids.limit), (2, 9));
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(v["memory"]["usage"]["limit"], 67108864);
    assert!(v["cpu"]["usage"]["total"].as_u64().unwrap() > 0);
}

#[test]
#[ignore = "needs a pure cgroup v2 host (run tests/run-v2-vm.sh)"]
fn v2_clone_into_cgroup_fd() {
    if !v2_host() {
        return;
    }
    let cg = new_cgroup("clone3");
    let fd = cg
        .manager
        .clone_into_fd()
        .expect("pure v2 offers a cgroup fd");
    let mut child = common::Child::clone_into(&fd);
    let cgroup = std::fs::read_to_string(format!("/proc/{}/cgroup", child.pid)).unwrap();
    assert_eq!(cgroup.trim(), format!("0::/{}/ctr", cg.top));
    assert_eq!(cg.manager.pids().unwrap(), vec![child.pid]);
    child.kill_and_reap();
}

#[test]
#[ignore = "needs a pure cgroup v2 host (run tests/run-v2-vm.sh)"]
fn v2_oom_watcher_reports_the_kill() {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    if !v2_host() {
        return;
    }
    let mut cg = new_cgroup("oomwatch");
    cg.manager
        .apply(&res(
            json!({"memory": {"limit": 16777216, "swap": 16777216}}),
        ))
        .unwrap();
    let mut watcher = cg.manager.oom_watcher().unwrap();
    assert_eq!(watcher.read().unwrap().ooms, 0, "no OOM yet");
    let hog = cg.spawn(Action::Alloc(256 << 20));
    assert_eq!(cg.children[hog].wait(), Err(libc::SIGKILL));
    // memory.events notifications are asynchronous: wait for the inotify event.
    let mut fds = [PollFd::new(watcher.as_fd(), PollFlags::POLLIN)];
    assert_eq!(poll(&mut fds, PollTimeout::from(2000u16)).unwrap(), 1);
    let report = watcher.read().unwrap();
    assert!(report.ooms >= 1 && !report.gone, "{report:?}");
}
