//! kiln on a pure cgroup v2 host: limits converted and written to v2 files,
//! the eBPF device filter, freeze and cgroup.kill. This development host is
//! hybrid, so these tests print SKIP here; `make test-v2` runs them in the
//! cgroup v2 VM (with KILN_REQUIRE_V2=1, which turns a skip into a failure).

use kiln_integration_tests::cgroup::{self, v2_host};
use kiln_integration_tests::{CapSet, Container};
use serde_json::json;

fn file(id: &str, name: &str) -> String {
    let path = format!("/sys/fs/cgroup{}/{name}", cgroup::cgroups_path(id));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .trim()
        .to_string()
}

#[test]
fn v2_limits_are_converted_and_applied() {
    if !v2_host() {
        return;
    }
    let mut c = Container::new("v2lim");
    c.config().args(&["sleep", "1000"]);
    c.config()
        .resources(&["memory"], json!({"limit": 67108864, "swap": 100663296}));
    c.config().resources(
        &["cpu"],
        json!({"shares": 1024, "quota": 50000, "period": 100000}),
    );
    c.config().resources(&["pids"], json!({"limit": 33}));
    c.run_with(&["-d"]).expect_success();
    assert_eq!(file(c.id(), "memory.max"), "67108864");
    // swap in OCI is memory+swap; v2's memory.swap.max is the swap alone.
    assert_eq!(file(c.id(), "memory.swap.max"), "33554432");
    assert_eq!(file(c.id(), "cpu.max"), "50000 100000");
    // runc's conversion: 1 + ((shares - 2) * 9999) / 262142
    assert_eq!(
        file(c.id(), "cpu.weight"),
        (1 + ((1024 - 2) * 9999) / 262142).to_string()
    );
    assert_eq!(file(c.id(), "pids.max"), "33");
    let pid = c.pid();
    assert!(
        file(c.id(), "cgroup.procs")
            .lines()
            .any(|l| l == pid.to_string()),
        "init not in its cgroup"
    );
    c.rt()
        .exec(&["update", "--memory", "32m", c.id()])
        .unwrap()
        .expect_success();
    assert_eq!(file(c.id(), "memory.max"), (32u64 << 20).to_string());
}

#[test]
fn v2_device_filter_denies_and_allows() {
    if !v2_host() {
        return;
    }
    let mut c = Container::new("v2dev");
    let caps = ["CAP_MKNOD", "CAP_DAC_OVERRIDE"];
    for set in [CapSet::Bounding, CapSet::Effective, CapSet::Permitted] {
        c.config().capabilities(set, &caps);
    }
    // mknod of any device is allowed (as with runc); opening is up to the
    // eBPF program: 1:3 (null) is a default device, 10:237 is not allowed.
    let out = c.sh("mknod /tmp/a c 1 3 && echo x > /tmp/a && echo null-ok; \
         mknod /tmp/b c 10 237 && (echo x > /tmp/b) 2>&1; true");
    assert!(out.contains("null-ok"), "{out}");
    assert!(
        out.contains("Operation not permitted"),
        "10:237 was not denied: {out}"
    );
}

#[test]
fn v2_freeze_and_kill_all() {
    if !v2_host() {
        return;
    }
    let mut c = Container::new("v2frz");
    c.config().args(&["sh", "-c", "sleep 1000 & sleep 1000"]);
    c.run_with(&["-d"]).expect_success();
    c.rt().exec(&["pause", c.id()]).unwrap().expect_success();
    assert_eq!(c.status(), "paused");
    assert_eq!(file(c.id(), "cgroup.freeze"), "1");
    c.rt().exec(&["resume", c.id()]).unwrap().expect_success();
    assert_eq!(file(c.id(), "cgroup.freeze"), "0");
    c.kill_all("KILL").expect_success();
    kiln_integration_tests::sys::wait_until("cgroup to empty", || {
        file(c.id(), "cgroup.procs").is_empty()
    })
    .unwrap();
}
