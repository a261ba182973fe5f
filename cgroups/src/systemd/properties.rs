//! `linux.resources` as systemd unit properties (StartTransientUnit /
//! SetUnitProperties), following runc's systemd driver: what systemd can
//! express is given to it (so that a `systemctl daemon-reload` keeps it); the
//! rest (unified keys, swappiness, realtime, the device eBPF program) is
//! written to the scope's cgroup files afterwards.

use super::dbus::Value;
use crate::devices::{DeviceRule, DeviceType, ACC_MKNOD, ACC_READ, ACC_WRITE};
use crate::plan::convert::{blkio_weight_to_io_weight, shares_to_weight};
use crate::resources::{Limit, Resources};

/// systemd's "infinity" for the u64 limits.
const INFINITY: u64 = u64::MAX;

/// A property as the `a(sv)` arrays take it.
pub(crate) fn prop(name: &str, v: Value) -> Value {
    Value::Struct(vec![Value::Str(name.into()), Value::Variant(Box::new(v))])
}

fn limit(l: Limit) -> u64 {
    match l {
        Limit::Max => INFINITY,
        Limit::Value(v) => v,
    }
}

/// The unit properties for `r` (the accounting switches included).
pub(crate) fn resource_properties(r: &Resources) -> Vec<Value> {
    let mut p = vec![
        prop("MemoryAccounting", Value::Bool(true)),
        prop("CPUAccounting", Value::Bool(true)),
        prop("IOAccounting", Value::Bool(true)),
        prop("TasksAccounting", Value::Bool(true)),
    ];
    memory(r, &mut p);
    cpu(r, &mut p);
    if let Some(t) = r.pids {
        p.push(prop("TasksMax", Value::U64(limit(t))));
    }
    if let Some(w) = r.block_io.weight {
        p.push(prop("IOWeight", Value::U64(blkio_weight_to_io_weight(w))));
    }
    for (name, list) in [
        ("IOReadBandwidthMax", &r.block_io.read_bps),
        ("IOWriteBandwidthMax", &r.block_io.write_bps),
        ("IOReadIOPSMax", &r.block_io.read_iops),
        ("IOWriteIOPSMax", &r.block_io.write_iops),
    ] {
        if !list.is_empty() {
            let entries = list
                .iter()
                .map(|t| {
                    let rate = if t.rate == 0 { INFINITY } else { t.rate };
                    Value::Struct(vec![
                        Value::Str(format!("/dev/block/{}:{}", t.major, t.minor)),
                        Value::U64(rate),
                    ])
                })
                .collect();
            p.push(prop(name, Value::Array("(st)".into(), entries)));
        }
    }
    if let Some(rules) = &r.devices {
        p.extend(device_properties(rules, &proc_devices_name));
    }
    p
}

fn memory(r: &Resources, p: &mut Vec<Value>) {
    let m = &r.memory;
    if let Some(l) = m.limit {
        p.push(prop("MemoryMax", Value::U64(limit(l))));
    }
    if let Some(l) = m.reservation {
        p.push(prop("MemoryLow", Value::U64(limit(l))));
    }
    // OCI swap is memory+swap; systemd's MemorySwapMax is swap alone (as cgroup v2's).
    match (m.swap, m.limit) {
        (Some(Limit::Max), _) => p.push(prop("MemorySwapMax", Value::U64(INFINITY))),
        (Some(Limit::Value(s)), Some(Limit::Value(l))) => {
            p.push(prop("MemorySwapMax", Value::U64(s.saturating_sub(l))))
        }
        _ => {}
    }
}

fn cpu(r: &Resources, p: &mut Vec<Value>) {
    let c = &r.cpu;
    if let Some(s) = c.shares {
        p.push(prop("CPUWeight", Value::U64(shares_to_weight(s))));
    }
    if let Some(period) = c.period {
        p.push(prop("CPUQuotaPeriodUSec", Value::U64(period)));
    }
    match c.quota {
        Some(Limit::Max) => p.push(prop("CPUQuotaPerSecUSec", Value::U64(INFINITY))),
        Some(Limit::Value(q)) => {
            let period = c.period.unwrap_or(100_000).max(1);
            // systemd keeps a per-second quota at 10 ms granularity: round up, as runc does,
            // so that the limit is never tighter than asked.
            let per_sec = (q * 1_000_000).div_ceil(period);
            p.push(prop(
                "CPUQuotaPerSecUSec",
                Value::U64(per_sec.div_ceil(10_000) * 10_000),
            ));
        }
        None => {}
    }
    for (name, list) in [("AllowedCPUs", &c.cpus), ("AllowedMemoryNodes", &c.mems)] {
        if let Some(list) = list {
            let mask = id_list_mask(list).into_iter().map(Value::Byte).collect();
            p.push(prop(name, Value::Array("y".into(), mask)));
        }
    }
}

/// A validated id list (`0-3,5`) as the little-endian bit mask systemd takes (`ay`).
pub(crate) fn id_list_mask(list: &str) -> Vec<u8> {
    let mut mask: Vec<u8> = Vec::new();
    for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (a, b) = item.split_once('-').unwrap_or((item, item));
        let (Ok(a), Ok(b)) = (a.trim().parse::<usize>(), b.trim().parse::<usize>()) else {
            continue; // validated before (resources::validate_id_list)
        };
        for id in a..=b.min(a + 8192) {
            if mask.len() <= id / 8 {
                mask.resize(id / 8 + 1, 0);
            }
            mask[id / 8] |= 1 << (id % 8);
        }
    }
    mask
}

/// DevicePolicy/DeviceAllow for the device rules: `strict` with the allowed devices when
/// the rules start by denying everything (the OCI default), `auto` (no filter of systemd's)
/// when everything is allowed. systemd's program and kiln's eBPF program (attached next to
/// it) must both allow an access; so when an allowed rule has no systemd spelling (a major
/// with any minor whose name `/proc/devices` does not give), systemd gets `auto` too and
/// kiln's program alone decides, rather than systemd denying what the rules allow.
/// `DeviceAllow` starts with an empty list, which resets the unit's (for `update`).
pub(crate) fn device_properties(
    rules: &[DeviceRule],
    names: &dyn Fn(DeviceType, u32) -> Option<String>,
) -> Vec<Value> {
    let mut allow: Vec<Value> = Vec::new();
    let mut policy = "strict";
    for rule in rules {
        if rule.is_everything() {
            policy = if rule.allow { "auto" } else { "strict" };
            allow.clear();
            continue;
        }
        if !rule.allow {
            continue; // a deny after the default deny: the eBPF program kiln writes keeps it
        }
        match device_spec(rule, names) {
            Some(spec) => allow.push(Value::Struct(vec![
                Value::Str(spec),
                Value::Str(access(rule.access)),
            ])),
            None => {
                policy = "auto";
                allow.clear();
                break;
            }
        }
    }
    if policy == "auto" {
        allow.clear();
    }
    vec![
        prop("DevicePolicy", Value::Str(policy.into())),
        prop("DeviceAllow", Value::Array("(ss)".into(), Vec::new())),
        prop("DeviceAllow", Value::Array("(ss)".into(), allow)),
    ]
}

/// systemd's name for the devices a rule matches: `/dev/char/M:m`, `char-*` for every
/// character device, `char-<name>` for every minor of a major that `/proc/devices` names.
fn device_spec(
    rule: &DeviceRule,
    names: &dyn Fn(DeviceType, u32) -> Option<String>,
) -> Option<String> {
    let kind = match rule.kind {
        DeviceType::Char => "char",
        DeviceType::Block => "block",
        DeviceType::All => return None,
    };
    match (rule.major, rule.minor) {
        (Some(major), Some(minor)) => Some(format!("/dev/{kind}/{major}:{minor}")),
        (None, _) => Some(format!("{kind}-*")),
        (Some(major), None) => names(rule.kind, major).map(|n| format!("{kind}-{n}")),
    }
}

/// The driver name of `major` in `/proc/devices` (e.g. 136 → `pts`); `None` if it has none,
/// or one systemd could not take as a unit-safe name.
pub(crate) fn proc_devices_name(kind: DeviceType, major: u32) -> Option<String> {
    let text = std::fs::read_to_string("/proc/devices").ok()?;
    let section = match kind {
        DeviceType::Char => "Character devices:",
        DeviceType::Block => "Block devices:",
        DeviceType::All => return None,
    };
    text.split("\n\n")
        .find(|part| part.trim_start().starts_with(section))?
        .lines()
        .skip(1)
        .filter_map(|l| l.trim().split_once(' '))
        .find(|(m, _)| m.parse::<u32>().ok() == Some(major))
        .map(|(_, name)| name.trim().to_string())
        .filter(|n| {
            n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn access(bits: u8) -> String {
    [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')]
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, c)| *c)
        .collect()
}

#[cfg(test)]
#[path = "properties_tests.rs"]
mod tests;
