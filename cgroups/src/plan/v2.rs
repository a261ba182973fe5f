//! The cgroup v2 plan: the unified interface files, with v1-style OCI values converted.
//!
//! Settings without a v2 equivalent are ignored, as runc does: `memory.kernel`,
//! `memory.kernelTCP`, `memory.swappiness`, `memory.disableOOMKiller`, `memory.useHierarchy`
//! (v2 is always hierarchical), `blockIO.leafWeight` and `network` (net_cls/net_prio are v1
//! only). Realtime cpu settings are rejected: v2 has no realtime group scheduling.

use std::path::Path;

use super::convert::{blkio_weight_to_io_weight, cpu_max, io_max_rate, shares_to_weight, swap_max};
use super::{check_before_update, field, Plan};
use crate::resources::{Limit, Resources};
use crate::{fsutil, CgroupError};

/// Builds the plan for the container directory `dir` of a pure v2 host.
pub(crate) fn plan(dir: &Path, r: &Resources) -> Result<Plan, CgroupError> {
    let mut p = Plan::default();
    memory(dir, r, &mut p)?;
    cpu(dir, r, &mut p)?;
    if let Some(l) = r.pids {
        p.push(dir, "pids.max", l.v2(), field("pids.limit"));
    }
    io(dir, r, &mut p);
    for (i, (size, limit)) in r.hugepages.iter().enumerate() {
        push_hugetlb(
            &mut p,
            dir,
            size,
            *limit,
            field(&format!("hugepageLimits[{i}]")),
        );
    }
    for rd in &r.rdma {
        p.push(dir, "rdma.max", rd.line(), field("rdma"));
    }
    if let Some(rules) = &r.devices {
        p.device_filter = Some((dir.to_path_buf(), rules.clone()));
    }
    // Last, so explicit unified values override the converted ones.
    for (k, v) in &r.unified {
        p.push(dir, k, v.clone(), field(&format!("unified.{k}")));
    }
    Ok(p)
}

/// `hugetlb.<size>.max`, and `hugetlb.<size>.rsvd.max` when the kernel has reservations.
pub(crate) fn push_hugetlb(p: &mut Plan, dir: &Path, size: &str, limit: Limit, f: String) {
    p.push(dir, &format!("hugetlb.{size}.max"), limit.v2(), f.clone());
    let rsvd = format!("hugetlb.{size}.rsvd.max");
    if dir.join(&rsvd).exists() {
        p.push(dir, &rsvd, limit.v2(), f);
    }
}

/// `memory.max` = limit, `memory.swap.max` = swap − limit, `memory.low` = reservation.
fn memory(dir: &Path, r: &Resources, p: &mut Plan) -> Result<(), CgroupError> {
    let m = &r.memory;
    if let (true, Some(Limit::Value(l))) = (m.check_before_update, m.limit) {
        check_before_update(&dir.join("memory.current"), l)?;
    }
    if let Some(s) = swap_max(m.limit, m.swap)? {
        p.push(dir, "memory.swap.max", s, field("memory.swap"));
    }
    if let Some(l) = m.limit {
        p.push(dir, "memory.max", l.v2(), field("memory.limit"));
    }
    if let Some(l) = m.reservation {
        p.push(dir, "memory.low", l.v2(), field("memory.reservation"));
    }
    Ok(())
}

/// `cpu.weight` (from shares), `cpu.max` (quota/period), `cpu.max.burst`, `cpu.idle`,
/// `cpuset.cpus`, `cpuset.mems`.
fn cpu(dir: &Path, r: &Resources, p: &mut Plan) -> Result<(), CgroupError> {
    let c = &r.cpu;
    if c.realtime_runtime.is_some() || c.realtime_period.is_some() {
        let name = if c.realtime_runtime.is_some() {
            "realtimeRuntime"
        } else {
            "realtimePeriod"
        };
        return Err(CgroupError::invalid(
            field(&format!("cpu.{name}")),
            "realtime scheduling limits are not supported on cgroup v2",
        ));
    }
    if let Some(s) = c.shares {
        p.push(
            dir,
            "cpu.weight",
            shares_to_weight(s).to_string(),
            field("cpu.shares"),
        );
    }
    if c.quota.is_some() || c.period.is_some() {
        let current = fsutil::read_opt(&dir.join("cpu.max"))?.unwrap_or_default();
        if let Some(v) = cpu_max(c.quota, c.period, &current) {
            let name = if c.quota.is_some() {
                "cpu.quota"
            } else {
                "cpu.period"
            };
            p.push(dir, "cpu.max", v, field(name));
        }
    }
    if let Some(b) = c.burst {
        p.push(dir, "cpu.max.burst", b.to_string(), field("cpu.burst"));
    }
    if let Some(i) = c.idle {
        p.push(dir, "cpu.idle", i.to_string(), field("cpu.idle"));
    }
    if let Some(v) = &c.cpus {
        p.push(dir, "cpuset.cpus", v.clone(), field("cpu.cpus"));
    }
    if let Some(v) = &c.mems {
        p.push(dir, "cpuset.mems", v.clone(), field("cpu.mems"));
    }
    Ok(())
}

/// `io.bfq.weight` (v1 range, unconverted) when BFQ offers it, else `io.weight` (converted);
/// throttles go to `io.max` as `MAJ:MIN rbps=|wbps=|riops=|wiops=N` (0 → `max`).
fn io(dir: &Path, r: &Resources, p: &mut Plan) {
    let b = &r.block_io;
    let bfq = dir.join("io.bfq.weight").exists();
    if let Some(w) = b.weight {
        if bfq {
            p.push(dir, "io.bfq.weight", w.to_string(), field("blockIO.weight"));
        } else {
            let v = format!("default {}", blkio_weight_to_io_weight(w));
            p.push(dir, "io.weight", v, field("blockIO.weight"));
        }
    }
    for (i, d) in b.weight_devices.iter().enumerate() {
        if let Some(w) = d.weight {
            let f = field(&format!("blockIO.weightDevice[{i}].weight"));
            if bfq {
                p.push(
                    dir,
                    "io.bfq.weight",
                    format!("{}:{} {w}", d.major, d.minor),
                    f,
                );
            } else {
                let v = format!("{}:{} {}", d.major, d.minor, blkio_weight_to_io_weight(w));
                p.push(dir, "io.weight", v, f);
            }
        }
    }
    let throttles = [
        (&b.read_bps, "rbps", "blockIO.throttleReadBpsDevice"),
        (&b.write_bps, "wbps", "blockIO.throttleWriteBpsDevice"),
        (&b.read_iops, "riops", "blockIO.throttleReadIOPSDevice"),
        (&b.write_iops, "wiops", "blockIO.throttleWriteIOPSDevice"),
    ];
    for (list, key, name) in throttles {
        for (i, t) in list.iter().enumerate() {
            let v = format!("{}:{} {key}={}", t.major, t.minor, io_max_rate(t.rate));
            p.push(dir, "io.max", v, field(&format!("{name}[{i}]")));
        }
    }
}
