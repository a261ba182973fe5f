use serde_json::json;

use super::*;
use crate::resources::validate;

fn props(v: serde_json::Value) -> Vec<(String, Value)> {
    let r = validate(&serde_json::from_value(v).unwrap()).unwrap();
    named(resource_properties(&r))
}

fn named(p: Vec<Value>) -> Vec<(String, Value)> {
    p.into_iter()
        .map(|p| match p {
            Value::Struct(mut f) => {
                let Value::Variant(v) = f.remove(1) else {
                    panic!()
                };
                let Value::Str(name) = f.remove(0) else {
                    panic!()
                };
                (name, *v)
            }
            other => panic!("{other:?}"),
        })
        .collect()
}

fn get<'a>(p: &'a [(String, Value)], name: &str) -> Option<&'a Value> {
    p.iter().find(|(n, _)| n == name).map(|(_, v)| v)
}

#[test]
fn memory_cpu_pids_io_become_unit_properties() {
    let p = props(json!({
        "memory": {"limit": 268435456, "reservation": 134217728, "swap": 536870912},
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1,3", "mems": "0"},
        "pids": {"limit": 100},
        "blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}]}
    }));
    assert_eq!(get(&p, "MemoryMax"), Some(&Value::U64(268435456)));
    assert_eq!(get(&p, "MemoryLow"), Some(&Value::U64(134217728)));
    assert_eq!(
        get(&p, "MemorySwapMax"),
        Some(&Value::U64(536870912 - 268435456))
    );
    assert_eq!(get(&p, "CPUWeight"), Some(&Value::U64(39)));
    assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(500_000)));
    assert_eq!(get(&p, "CPUQuotaPeriodUSec"), Some(&Value::U64(100_000)));
    assert_eq!(
        get(&p, "AllowedCPUs"),
        Some(&Value::Array("y".into(), vec![Value::Byte(0b1011)]))
    );
    assert_eq!(
        get(&p, "AllowedMemoryNodes"),
        Some(&Value::Array("y".into(), vec![Value::Byte(1)]))
    );
    assert_eq!(get(&p, "TasksMax"), Some(&Value::U64(100)));
    assert_eq!(
        get(&p, "IOWeight"),
        Some(&Value::U64(1 + (490 * 9999) / 990))
    );
    assert_eq!(
        get(&p, "IOReadBandwidthMax"),
        Some(&Value::Array(
            "(st)".into(),
            vec![Value::Struct(vec![
                Value::Str("/dev/block/8:0".into()),
                Value::U64(1048576)
            ])]
        ))
    );
    assert_eq!(get(&p, "MemoryAccounting"), Some(&Value::Bool(true)));
}

#[test]
fn each_io_throttle_is_its_property_and_a_rate_of_0_is_infinity() {
    let p = props(json!({"blockIO": {
        "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1}],
        "throttleWriteBpsDevice": [{"major": 8, "minor": 16, "rate": 2}, {"major": 8, "minor": 0, "rate": 0}],
        "throttleReadIOPSDevice": [{"major": 254, "minor": 0, "rate": 3}],
        "throttleWriteIOPSDevice": [{"major": 254, "minor": 1, "rate": 4}]
    }}));
    let entries = |list: &[(&str, u64)]| {
        let list = list
            .iter()
            .map(|(dev, rate)| Value::Struct(vec![Value::Str((*dev).into()), Value::U64(*rate)]));
        Some(Value::Array("(st)".into(), list.collect()))
    };
    let want = [
        ("IOReadBandwidthMax", entries(&[("/dev/block/8:0", 1)])),
        (
            "IOWriteBandwidthMax",
            entries(&[("/dev/block/8:16", 2), ("/dev/block/8:0", u64::MAX)]),
        ),
        ("IOReadIOPSMax", entries(&[("/dev/block/254:0", 3)])),
        ("IOWriteIOPSMax", entries(&[("/dev/block/254:1", 4)])),
    ];
    for (name, value) in want {
        assert_eq!(get(&p, name).cloned(), value, "{name}");
    }
    assert_eq!(get(&p, "IOWeight"), None);
}

#[test]
fn unlimited_is_infinity_and_the_quota_rounds_up_to_10ms() {
    let p = props(json!({
        "memory": {"limit": -1, "swap": -1},
        "cpu": {"quota": 12345, "period": 100000},
        "pids": {"limit": -1}
    }));
    assert_eq!(get(&p, "MemoryMax"), Some(&Value::U64(u64::MAX)));
    assert_eq!(get(&p, "MemorySwapMax"), Some(&Value::U64(u64::MAX)));
    assert_eq!(get(&p, "TasksMax"), Some(&Value::U64(u64::MAX)));
    // 12345 µs per 100 ms = 123450 µs per second, kept by systemd in 10 ms steps.
    assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(130_000)));
}

#[test]
fn devices_become_a_strict_policy_with_the_allowed_ones() {
    let r = |v: serde_json::Value| {
        validate(&serde_json::from_value(json!({"devices": v})).unwrap())
            .unwrap()
            .devices
            .unwrap()
    };
    let names = |kind: DeviceType, major: u32| {
        (kind == DeviceType::Char && major == 136).then(|| "pts".to_string())
    };
    let rules = r(json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"},
        {"allow": true, "type": "c", "major": 136, "access": "rwm"},
        {"allow": true, "type": "b", "access": "m"}
    ]));
    let p = device_properties(&rules, &names);
    let pair = |a: &str, b: &str| Value::Struct(vec![Value::Str(a.into()), Value::Str(b.into())]);
    assert_eq!(
        p,
        vec![
            prop("DevicePolicy", Value::Str("strict".into())),
            prop("DeviceAllow", Value::Array("(ss)".into(), vec![])),
            prop(
                "DeviceAllow",
                Value::Array(
                    "(ss)".into(),
                    vec![
                        pair("/dev/char/1:3", "rw"),
                        pair("char-pts", "rwm"),
                        pair("block-*", "m")
                    ]
                )
            ),
        ]
    );
    // A major without a name: systemd cannot say it, so it filters nothing (kiln's program does).
    let rules = r(json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"},
        {"allow": true, "type": "c", "major": 240, "access": "rwm"}
    ]));
    let p = named(device_properties(&rules, &names));
    assert_eq!(get(&p, "DevicePolicy"), Some(&Value::Str("auto".into())));
    let p = props(json!({"devices": [{"allow": true, "access": "rwm"}]}));
    assert_eq!(get(&p, "DevicePolicy"), Some(&Value::Str("auto".into())));
}

#[test]
fn proc_devices_names_majors() {
    assert_eq!(
        proc_devices_name(DeviceType::Char, 1).as_deref(),
        Some("mem")
    );
    assert_eq!(
        proc_devices_name(DeviceType::Char, 136).as_deref(),
        Some("pts")
    );
    assert_eq!(proc_devices_name(DeviceType::Char, 4095), None);
}

#[test]
fn id_lists_become_bit_masks() {
    assert_eq!(id_list_mask("0"), vec![1]);
    assert_eq!(id_list_mask("0-7"), vec![0xff]);
    assert_eq!(id_list_mask("9"), vec![0, 2]);
    assert_eq!(id_list_mask("1,3-4"), vec![0b11010]);
}
