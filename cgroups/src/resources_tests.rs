//! Unit tests for resource validation.

use super::*;
use serde_json::json;

fn res(v: serde_json::Value) -> LinuxResources {
    serde_json::from_value(v).expect("valid OCI resources JSON")
}

fn err(v: serde_json::Value) -> String {
    validate(&res(v))
        .expect_err("should be rejected")
        .to_string()
}

#[test]
fn full_resources_normalize() {
    let r = validate(&res(json!({
        "memory": {"limit": 1048576, "reservation": 524288, "swap": 2097152, "kernel": -1,
                   "kernelTCP": 0, "swappiness": 60, "disableOOMKiller": true,
                   "useHierarchy": true, "checkBeforeUpdate": true},
        "cpu": {"shares": 512, "quota": -1, "period": 100000, "burst": 1000,
                "realtimeRuntime": 0, "realtimePeriod": 0, "cpus": "0-1", "mems": "0", "idle": 1},
        "pids": {"limit": -1},
        "blockIO": {"weight": 500, "leafWeight": 0,
                    "weightDevice": [{"major": 8, "minor": 0, "weight": 300}],
                    "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
        "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
        "rdma": {"mlx5_1": {"hcaHandles": 3}, "mlx4_0": {"hcaHandles": 1, "hcaObjects": 100}},
        "unified": {"memory.high": "max"},
        "devices": [{"allow": false, "access": "rwm"}]
    })))
    .unwrap();
    assert_eq!(r.memory.limit, Some(Limit::Value(1_048_576)));
    assert_eq!(r.memory.swap, Some(Limit::Value(2_097_152)));
    assert_eq!(r.memory.kernel, Some(Limit::Max));
    assert_eq!(r.memory.kernel_tcp, None, "0 means unset");
    assert!(r.memory.check_before_update);
    assert_eq!(r.cpu.quota, Some(Limit::Max));
    assert_eq!(r.cpu.realtime_runtime, None);
    assert_eq!(r.cpu.idle, Some(1));
    assert_eq!(r.pids, Some(Limit::Max));
    assert_eq!(r.block_io.leaf_weight, None);
    assert_eq!(r.block_io.weight_devices[0].weight, Some(300));
    assert_eq!(
        r.block_io.read_bps[0],
        Throttle {
            major: 8,
            minor: 0,
            rate: 1_048_576
        }
    );
    assert_eq!(
        r.hugepages,
        vec![("2MB".to_string(), Limit::Value(4_194_304))]
    );
    assert_eq!(r.network.priorities, vec![("eth0".to_string(), 5)]);
    // Sorted by device name, absent counts are "max".
    assert_eq!(r.rdma[0].line(), "mlx4_0 hca_handle=1 hca_object=100");
    assert_eq!(r.rdma[1].line(), "mlx5_1 hca_handle=3 hca_object=max");
    assert_eq!(r.devices.as_ref().unwrap().len(), 1);
    assert_eq!(Limit::Max.v1(), "-1");
    assert_eq!(Limit::Max.v2(), "max");
}

#[test]
fn negative_values_name_the_field() {
    let e = err(json!({"memory": {"limit": -5}}));
    assert!(
        e.starts_with("linux.resources.memory.limit: -5 is invalid"),
        "{e}"
    );
    let e = err(json!({"memory": {"reservation": -2}}));
    assert!(e.starts_with("linux.resources.memory.reservation:"), "{e}");
    let e = err(json!({"cpu": {"quota": -100}}));
    assert!(e.starts_with("linux.resources.cpu.quota:"), "{e}");
    let e = err(json!({"pids": {"limit": -3}}));
    assert!(e.starts_with("linux.resources.pids.limit:"), "{e}");
    let e = err(json!({"hugepageLimits": [{"pageSize": "2MB", "limit": -7}]}));
    assert!(
        e.starts_with("linux.resources.hugepageLimits[0].limit:"),
        "{e}"
    );
    let e = err(json!({"cpu": {"realtimeRuntime": -9}}));
    assert!(e.starts_with("linux.resources.cpu.realtimeRuntime:"), "{e}");
}

#[test]
fn malformed_values_name_the_field() {
    let e = err(json!({"memory": {"swappiness": 101}}));
    assert!(e.starts_with("linux.resources.memory.swappiness:"), "{e}");
    let e = err(json!({"memory": {"limit": 200, "swap": 100}}));
    assert!(e.starts_with("linux.resources.memory.swap:"), "{e}");
    let e = err(json!({"memory": {"limit": -1, "swap": 100}}));
    assert!(e.starts_with("linux.resources.memory.swap:"), "{e}");
    let e = err(json!({"cpu": {"cpus": "0-a"}}));
    assert!(e.starts_with("linux.resources.cpu.cpus:"), "{e}");
    let e = err(json!({"cpu": {"mems": "3-1"}}));
    assert!(e.starts_with("linux.resources.cpu.mems:"), "{e}");
    let e = err(json!({"cpu": {"shares": 1}}));
    assert!(e.starts_with("linux.resources.cpu.shares:"), "{e}");
    let e = err(json!({"cpu": {"idle": 2}}));
    assert!(e.starts_with("linux.resources.cpu.idle:"), "{e}");
    let e = err(json!({"blockIO": {"weight": 5}}));
    assert!(e.starts_with("linux.resources.blockIO.weight:"), "{e}");
    let e = err(json!({"blockIO": {"weightDevice": [{"major": -1, "minor": 0, "weight": 100}]}}));
    assert!(
        e.starts_with("linux.resources.blockIO.weightDevice[0]:"),
        "{e}"
    );
    let e = err(
        json!({"blockIO": {"throttleWriteIOPSDevice": [{"major": 8, "minor": -2, "rate": 1}]}}),
    );
    assert!(
        e.starts_with("linux.resources.blockIO.throttleWriteIOPSDevice[0]:"),
        "{e}"
    );
    let e = err(json!({"hugepageLimits": [{"pageSize": "2M", "limit": 1}]}));
    assert!(
        e.starts_with("linux.resources.hugepageLimits[0].pageSize:"),
        "{e}"
    );
    let e = err(json!({"network": {"priorities": [{"name": "a b", "priority": 1}]}}));
    assert!(
        e.starts_with("linux.resources.network.priorities[0].name:"),
        "{e}"
    );
    let e = err(json!({"unified": {"../memory.max": "1"}}));
    assert!(
        e.starts_with("linux.resources.unified.../memory.max:"),
        "{e}"
    );
    let e = err(json!({"unified": {"cgroup.procs": "1"}}));
    assert!(
        e.starts_with("linux.resources.unified.cgroup.procs:"),
        "{e}"
    );
    let e = err(json!({"devices": [{"allow": true, "type": "p", "access": "rwm"}]}));
    assert!(e.starts_with("linux.resources.devices[0].type:"), "{e}");
}

#[test]
fn zero_means_unset_where_runc_does() {
    let r = validate(&res(json!({
        "memory": {"limit": 0, "swap": 0},
        "cpu": {"shares": 0, "quota": 0, "period": 0}
    })))
    .unwrap();
    assert_eq!(r, Resources::default());
}

#[test]
fn pids_limit_zero_means_one_like_current_runc() {
    let r = validate(&res(json!({"pids": {"limit": 0}}))).unwrap();
    assert_eq!(r.pids, Some(Limit::Value(1)));
}

#[test]
fn id_lists() {
    assert!(validate_id_list("0").is_ok());
    assert!(validate_id_list("0-3,5,7-8").is_ok());
    assert!(validate_id_list("").is_err());
    assert!(validate_id_list("1,,2").is_err());
    assert!(validate_id_list("-1").is_err());
}
