//! The serialized shape must match runc's `types.Stats` exactly.

use super::*;

#[test]
fn empty_stats_match_runc_json() {
    // What Go's encoding/json prints for a zero runc types.Stats with an empty hugetlb map
    // (runc always makes the map) and no network interfaces.
    let runc = r#"{"cpu":{"usage":{"kernel":0,"user":0},"throttling":{}},"cpuset":{"cpu_exclusive":0,"mem_hardwall":0,"mem_exclusive":0,"memory_migrate":0,"memory_spread_page":0,"memory_spread_slab":0,"memory_pressure":0,"sched_load_balance":0,"sched_relax_domain_level":0},"memory":{"usage":{"limit":0,"failcnt":0},"swap":{"limit":0,"failcnt":0},"kernel":{"limit":0,"failcnt":0},"kernelTCP":{"limit":0,"failcnt":0}},"pids":{},"blkio":{},"hugetlb":{},"intel_rdt":{},"network_interfaces":null}"#;
    assert_eq!(serde_json::to_string(&Stats::default()).unwrap(), runc);
}

#[test]
fn filled_stats_use_runc_keys() {
    let mut s = Stats::default();
    s.cpu.usage.total = 5;
    s.cpu.usage.percpu = vec![2, 3];
    s.cpu.usage.percpu_kernel = vec![1, 1];
    s.cpu.usage.percpu_user = vec![1, 2];
    s.cpu.throttling = Throttling {
        periods: 1,
        throttled_periods: 2,
        throttled_time: 3,
    };
    s.memory.cache = 7;
    s.memory.usage = MemoryEntry {
        limit: 10,
        usage: 4,
        max: 6,
        failcnt: 1,
    };
    s.memory.raw.insert("cache".into(), 7);
    s.pids = Pids {
        current: 2,
        limit: 9,
    };
    s.blkio.io_service_bytes_recursive.push(BlkioEntry {
        major: 8,
        minor: 0,
        op: "Read".into(),
        value: 512,
    });
    s.blkio.io_queued_recursive.push(BlkioEntry {
        major: 8,
        minor: 0,
        op: "Total".into(),
        value: 1,
    });
    s.hugetlb.insert(
        "2MB".into(),
        Hugetlb {
            usage: 0,
            max: 0,
            failcnt: 0,
        },
    );
    let v: serde_json::Value = serde_json::to_value(&s).unwrap();
    assert_eq!(
        v["cpu"]["usage"]["percpu_kernel"],
        serde_json::json!([1, 1])
    );
    assert_eq!(v["cpu"]["throttling"]["throttledPeriods"], 2);
    assert_eq!(v["cpu"]["throttling"]["throttledTime"], 3);
    assert_eq!(v["memory"]["usage"]["max"], 6);
    assert_eq!(v["memory"]["raw"]["cache"], 7);
    assert_eq!(v["pids"]["limit"], 9);
    assert_eq!(v["blkio"]["ioServiceBytesRecursive"][0]["op"], "Read");
    assert_eq!(v["blkio"]["ioQueueRecursive"][0]["value"], 1);
    assert_eq!(v["hugetlb"]["2MB"], serde_json::json!({"failcnt": 0}));
    let back: Stats = serde_json::from_value(v).unwrap();
    assert_eq!(back, s);
}

#[test]
fn network_interfaces_use_go_field_names() {
    let s = Stats {
        network_interfaces: Some(vec![NetworkInterface {
            name: "eth0".into(),
            rx_bytes: 1,
            ..Default::default()
        }]),
        ..Default::default()
    };
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(v["network_interfaces"][0]["Name"], "eth0");
    assert_eq!(v["network_interfaces"][0]["RxBytes"], 1);
    assert_eq!(v["network_interfaces"][0]["TxDropped"], 0);
}
