//! Planning against fake cgroup trees in a temporary directory: write order, conversions
//! and preflight failures, without touching the host's cgroups.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::Plan;
use crate::layout::{Mounts, V1Mount};
use crate::{resources, CgroupPath, Layout, Manager};

/// A fake hierarchy root with the container directory `kiln/t` in the given controllers,
/// each holding the given files.
fn fake(
    layout: Layout,
    controllers: &[&str],
    files: &[(&str, &str)],
) -> (tempfile::TempDir, Manager) {
    let tmp = tempfile::tempdir().unwrap();
    for c in controllers {
        let dir = if c.is_empty() {
            tmp.path().join("kiln/t")
        } else {
            tmp.path().join(c).join("kiln/t")
        };
        fs::create_dir_all(&dir).unwrap();
        for (name, content) in files {
            let path = dir.join(name);
            fs::write(path, content).unwrap();
        }
    }
    let root = tmp.path();
    let v1 = controllers
        .iter()
        .filter(|c| !c.is_empty() && **c != "unified")
        .map(|c| {
            let controller = crate::layout::V1_CONTROLLERS
                .iter()
                .find(|k| *k == c)
                .unwrap_or_else(|| panic!("unknown controller {c}"));
            V1Mount {
                controllers: vec![controller],
                mount: root.join(c),
            }
        })
        .collect();
    let unified = match layout {
        Layout::V1 => None,
        Layout::V2 => Some(root.to_path_buf()),
        Layout::Hybrid => Some(root.join("unified")),
    };
    let mounts = Mounts {
        layout,
        v1,
        unified,
        withheld: Vec::new(),
    };
    let m = Manager::with_mounts(CgroupPath::Fs("/kiln/t".into()), mounts).unwrap();
    (tmp, m)
}

fn plan_for(
    m: &Manager,
    layout: Layout,
    root: &Path,
    v: serde_json::Value,
) -> Result<Plan, crate::CgroupError> {
    let r = resources::validate(&serde_json::from_value(v).unwrap())?;
    match layout {
        Layout::V2 => super::v2::plan(&root.join("kiln/t"), &r),
        _ => super::v1::plan(m, &r),
    }
}

fn files(p: &Plan) -> Vec<(String, String)> {
    p.writes
        .iter()
        .map(|w| {
            (
                w.path.file_name().unwrap().to_string_lossy().into_owned(),
                w.value.clone(),
            )
        })
        .collect()
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

#[test]
fn v1_memsw_written_first_when_raising() {
    let memsw = ("memory.memsw.limit_in_bytes", "1000\n");
    let (tmp, m) = fake(
        Layout::V1,
        &["memory"],
        &[memsw, ("memory.limit_in_bytes", "1000\n")],
    );
    let p = plan_for(
        &m,
        Layout::V1,
        tmp.path(),
        json!({"memory": {"limit": 2000, "swap": 4000}}),
    )
    .unwrap();
    assert_eq!(
        files(&p),
        vec![
            pair("memory.memsw.limit_in_bytes", "4000"),
            pair("memory.limit_in_bytes", "2000")
        ]
    );
}

#[test]
fn v1_memory_written_first_when_lowering() {
    let (tmp, m) = fake(
        Layout::V1,
        &["memory"],
        &[("memory.memsw.limit_in_bytes", "9000\n")],
    );
    let p = plan_for(
        &m,
        Layout::V1,
        tmp.path(),
        json!({"memory": {"limit": 100, "swap": 200}}),
    )
    .unwrap();
    assert_eq!(
        files(&p),
        vec![
            pair("memory.limit_in_bytes", "100"),
            pair("memory.memsw.limit_in_bytes", "200")
        ]
    );
}

#[test]
fn v1_unlimited_memory_lifts_memsw() {
    let (tmp, m) = fake(
        Layout::V1,
        &["memory"],
        &[("memory.memsw.limit_in_bytes", "9000\n")],
    );
    let p = plan_for(&m, Layout::V1, tmp.path(), json!({"memory": {"limit": -1}})).unwrap();
    assert_eq!(
        files(&p),
        vec![
            pair("memory.memsw.limit_in_bytes", "-1"),
            pair("memory.limit_in_bytes", "-1")
        ]
    );
}

#[test]
fn v1_missing_controller_names_the_field() {
    let (tmp, m) = fake(Layout::V1, &["memory"], &[]);
    let e = plan_for(&m, Layout::V1, tmp.path(), json!({"pids": {"limit": 10}})).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("linux.resources.pids.limit: the pids cgroup controller is not mounted"),
        "{e}"
    );
    let e = plan_for(
        &m,
        Layout::V1,
        tmp.path(),
        json!({"unified": {"memory.high": "1"}}),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("linux.resources.unified: invalid configuration: memory.high cannot"),
        "{e}"
    );
}

#[test]
fn v1_network_is_skipped_when_not_mounted() {
    let (tmp, m) = fake(Layout::V1, &["memory"], &[]);
    let v = json!({"network": {"classID": 5, "priorities": [{"name": "eth0", "priority": 1}]}});
    assert!(plan_for(&m, Layout::V1, tmp.path(), v)
        .unwrap()
        .writes
        .is_empty());
}

#[test]
fn v1_cpu_order_and_devices() {
    let (tmp, m) = fake(Layout::V1, &["cpu", "devices"], &[]);
    let v = json!({
        "cpu": {"shares": 512, "quota": 20000, "period": 50000, "burst": 1000, "idle": 0},
        "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}]
    });
    let p = plan_for(&m, Layout::V1, tmp.path(), v).unwrap();
    assert_eq!(
        files(&p),
        vec![
            // Leaving idle comes first: the kernel refuses shares while idle.
            pair("cpu.idle", "0"),
            pair("cpu.shares", "512"),
            pair("cpu.cfs_period_us", "50000"),
            pair("cpu.cfs_quota_us", "20000"),
            pair("cpu.cfs_burst_us", "1000"),
            pair("devices.deny", "a"),
            pair("devices.allow", "c 1:3 rw"),
        ]
    );
}

#[test]
fn v2_conversions() {
    let (tmp, m) = fake(
        Layout::V2,
        &[""],
        &[("cpu.max", "max 100000\n"), ("io.weight", "default 100\n")],
    );
    let v = json!({
        "memory": {"limit": 1000, "swap": 3000, "reservation": 500, "kernel": 10, "swappiness": 5},
        "cpu": {"shares": 1024, "quota": 50000, "burst": 10, "idle": 1, "cpus": "0"},
        "pids": {"limit": 7},
        "blockIO": {"weight": 500, "leafWeight": 20, "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 0}]},
        "network": {"classID": 1},
        "unified": {"memory.high": "900"},
        "devices": []
    });
    let p = plan_for(&m, Layout::V2, tmp.path(), v).unwrap();
    assert_eq!(
        files(&p),
        vec![
            pair("memory.swap.max", "2000"),
            pair("memory.max", "1000"),
            pair("memory.low", "500"),
            pair("cpu.weight", "39"),
            pair("cpu.max", "50000 100000"),
            pair("cpu.max.burst", "10"),
            pair("cpu.idle", "1"),
            pair("cpuset.cpus", "0"),
            pair("pids.max", "7"),
            pair("io.weight", "default 4950"),
            pair("io.max", "8:0 wbps=max"),
            pair("memory.high", "900"),
        ]
    );
    assert!(p.device_filter.is_some());
    let e = plan_for(
        &m,
        Layout::V2,
        tmp.path(),
        json!({"cpu": {"realtimeRuntime": 10}}),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("linux.resources.cpu.realtimeRuntime:"),
        "{e}"
    );
}

#[test]
fn preflight_rejects_unknown_unified_key_before_writing() {
    let (tmp, m) = fake(
        Layout::V2,
        &[""],
        &[("memory.max", "max\n"), ("memory.high", "max\n")],
    );
    let v =
        json!({"memory": {"limit": 4096}, "unified": {"memory.high": "1", "memory.bogus": "1"}});
    let p = plan_for(&m, Layout::V2, tmp.path(), v).unwrap();
    let e = p.preflight().unwrap_err();
    assert!(
        e.to_string()
            .starts_with("linux.resources.unified.memory.bogus:"),
        "{e}"
    );
    // Nothing was written.
    let dir: PathBuf = tmp.path().join("kiln/t");
    assert_eq!(fs::read_to_string(dir.join("memory.max")).unwrap(), "max\n");
    assert_eq!(
        fs::read_to_string(dir.join("memory.high")).unwrap(),
        "max\n"
    );
}

#[test]
fn hybrid_refuses_unified_keys_like_runc() {
    let (tmp, m) = fake(Layout::Hybrid, &["memory", "unified"], &[]);
    let e = plan_for(
        &m,
        Layout::Hybrid,
        tmp.path(),
        json!({"unified": {"cgroup.max.depth": "3"}}),
    )
    .unwrap_err();
    assert!(
        e.to_string().starts_with(
            "linux.resources.unified: invalid configuration: cgroup.max.depth cannot be set"
        ),
        "{e}"
    );
}

#[test]
fn v1_idle_entered_after_shares_and_period_retried_after_quota() {
    let (tmp, m) = fake(Layout::V1, &["cpu"], &[]);
    let v = json!({"cpu": {"shares": 100, "idle": 1, "period": 10000, "quota": 3000}});
    let p = plan_for(&m, Layout::V1, tmp.path(), v).unwrap();
    assert_eq!(
        files(&p),
        vec![
            pair("cpu.shares", "100"),
            pair("cpu.cfs_period_us", "10000"),
            pair("cpu.cfs_quota_us", "3000"),
            pair("cpu.idle", "1"),
        ]
    );
    assert!(p.writes[1].retry_after_next && !p.writes[2].retry_after_next);
}

#[test]
fn execute_retries_a_refused_write_after_the_next_one() {
    let tmp = tempfile::tempdir().unwrap();
    // A directory cannot be written (EISDIR, not EINVAL): no retry, the error is reported.
    fs::create_dir(tmp.path().join("dir")).unwrap();
    let mut p = Plan::default();
    p.push_retry_after_next(tmp.path(), "dir", "1", "f1");
    p.push(tmp.path(), "b", "2", "f2");
    fs::write(tmp.path().join("b"), "").unwrap();
    let e = p.execute().unwrap_err();
    assert!(e.to_string().contains("f1"), "{e}");
}
