//! The cgroup v1 (and hybrid) plan: one file per setting, in an order the kernel accepts.

use std::path::{Path, PathBuf};

use super::{check_before_update, field, Plan};
use crate::devices;
use crate::manager::Manager;
use crate::resources::{Cpu, Limit, Resources, Throttle};
use crate::{fsutil, CgroupError};

/// Resolves the container's directory for a v1 controller, or explains why it is unusable.
fn need(m: &Manager, controller: &str, for_field: &str) -> Result<PathBuf, CgroupError> {
    let dir = m.v1_dir(controller).ok_or_else(|| {
        let reason = if m.is_withheld(controller) {
            // runc's wording (its rootless tests look for it).
            format!("cannot set {controller} limit: container could not join or create cgroup")
        } else {
            format!("the {controller} cgroup controller is not mounted")
        };
        CgroupError::invalid(for_field, reason)
    })?;
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(CgroupError::NotFound { path: dir })
    }
}

/// Builds the v1 plan (hybrid hosts too: v1 controllers, hugetlb from cgroup2 if only there).
pub(crate) fn plan(m: &Manager, r: &Resources) -> Result<Plan, CgroupError> {
    let mut p = Plan::default();
    cpuset(m, r, &mut p)?;
    memory(m, r, &mut p)?;
    cpu(m, r, &mut p)?;
    if let Some(l) = r.pids {
        let f = field("pids.limit");
        p.push(&need(m, "pids", &f)?, "pids.max", l.v2(), f);
    }
    blkio(m, r, &mut p)?;
    hugetlb(m, r, &mut p)?;
    network(m, r, &mut p)?;
    for rd in &r.rdma {
        let f = field("rdma");
        p.push(&need(m, "rdma", &f)?, "rdma.max", rd.line(), f);
    }
    if let Some(rules) = &r.devices {
        let f = field("devices");
        let dir = need(m, "devices", &f)?;
        for (file, line) in devices::v1_writes(rules) {
            p.push(&dir, file, line, f.clone());
        }
    }
    if !r.unified.is_empty() {
        // As runc: `unified` is a cgroup v2 interface; a hybrid host's cgroup2 hierarchy holds
        // (next to) no controllers, so its keys would mostly not exist or do nothing.
        let keys: Vec<&str> = r.unified.keys().map(String::as_str).collect();
        return Err(CgroupError::invalid(
            field("unified"),
            format!(
                "invalid configuration: {} cannot be set on a cgroup v1 or hybrid host: \
                 unified needs a pure cgroup v2 host",
                keys.join(", ")
            ),
        ));
    }
    Ok(p)
}

fn cpuset(m: &Manager, r: &Resources, p: &mut Plan) -> Result<(), CgroupError> {
    for (value, name) in [(&r.cpu.mems, "mems"), (&r.cpu.cpus, "cpus")] {
        if let Some(v) = value {
            let f = field(&format!("cpu.{name}"));
            p.push(
                &need(m, "cpuset", &f)?,
                &format!("cpuset.{name}"),
                v.clone(),
                f,
            );
        }
    }
    Ok(())
}

fn memory(m: &Manager, r: &Resources, p: &mut Plan) -> Result<(), CgroupError> {
    let mem = &r.memory;
    let any = mem.limit.is_some()
        || mem.reservation.is_some()
        || mem.swap.is_some()
        || mem.kernel.is_some()
        || mem.kernel_tcp.is_some()
        || mem.swappiness.is_some()
        || mem.disable_oom_killer.is_some()
        || mem.use_hierarchy.is_some();
    if !any {
        return Ok(());
    }
    let dir = need(m, "memory", &field("memory"))?;
    if let (true, Some(Limit::Value(l))) = (mem.check_before_update, mem.limit) {
        check_before_update(&dir.join("memory.usage_in_bytes"), l)?;
    }
    let memsw = dir.join("memory.memsw.limit_in_bytes");
    let has_memsw = memsw.exists();
    let swap = match mem.swap {
        Some(Limit::Value(_)) if !has_memsw => {
            return Err(CgroupError::invalid(
                field("memory.swap"),
                "swap accounting is disabled in this kernel (no memory.memsw.limit_in_bytes)",
            ))
        }
        Some(Limit::Max) if !has_memsw => None,
        // Unlimited memory with a still-limited memsw would be refused: lift memsw too.
        None if mem.limit == Some(Limit::Max) && has_memsw => Some(Limit::Max),
        s => s,
    };
    let limit_w = |p: &mut Plan, l: Limit| {
        p.push(&dir, "memory.limit_in_bytes", l.v1(), field("memory.limit"))
    };
    let swap_w = |p: &mut Plan, s: Limit| {
        p.push(
            &dir,
            "memory.memsw.limit_in_bytes",
            s.v1(),
            field("memory.swap"),
        )
    };
    match (mem.limit, swap) {
        (Some(l), Some(s)) => {
            // memsw must stay >= memory at every step: when memsw grows write it first,
            // when it shrinks write the memory limit first.
            let current = fsutil::read_u64_or_zero(&memsw)?;
            let new = match s {
                Limit::Max => u64::MAX,
                Limit::Value(v) => v,
            };
            if new >= current {
                swap_w(p, s);
                limit_w(p, l);
            } else {
                limit_w(p, l);
                swap_w(p, s);
            }
        }
        (Some(l), None) => limit_w(p, l),
        (None, Some(s)) => swap_w(p, s),
        (None, None) => {}
    }
    if let Some(v) = mem.reservation {
        p.push(
            &dir,
            "memory.soft_limit_in_bytes",
            v.v1(),
            field("memory.reservation"),
        );
    }
    if let Some(v) = mem.kernel {
        p.push(
            &dir,
            "memory.kmem.limit_in_bytes",
            v.v1(),
            field("memory.kernel"),
        );
    }
    if let Some(v) = mem.kernel_tcp {
        p.push(
            &dir,
            "memory.kmem.tcp.limit_in_bytes",
            v.v1(),
            field("memory.kernelTCP"),
        );
    }
    if let Some(v) = mem.swappiness {
        p.push(
            &dir,
            "memory.swappiness",
            v.to_string(),
            field("memory.swappiness"),
        );
    }
    if let Some(v) = mem.disable_oom_killer {
        p.push(
            &dir,
            "memory.oom_control",
            if v { "1" } else { "0" },
            field("memory.disableOOMKiller"),
        );
    }
    if let Some(v) = mem.use_hierarchy {
        // Modern kernels only accept the value they already have; write only on change.
        let want = if v { 1 } else { 0 };
        if fsutil::read_u64_opt(&dir.join("memory.use_hierarchy"))? != Some(want) {
            p.push(
                &dir,
                "memory.use_hierarchy",
                want.to_string(),
                field("memory.useHierarchy"),
            );
        }
    }
    Ok(())
}

fn cpu(m: &Manager, r: &Resources, p: &mut Plan) -> Result<(), CgroupError> {
    let c = &r.cpu;
    let any = c.shares.is_some()
        || c.quota.is_some()
        || c.period.is_some()
        || c.burst.is_some()
        || c.realtime_period.is_some()
        || c.realtime_runtime.is_some()
        || c.idle.is_some();
    if !any {
        return Ok(());
    }
    let dir = need(m, "cpu", &field("cpu"))?;
    // The kernel refuses cpu.shares while the group is idle: leave idle before, enter after.
    let idle_w = |p: &mut Plan, v: i64| p.push(&dir, "cpu.idle", v.to_string(), field("cpu.idle"));
    if let Some(v @ 0) = c.idle {
        idle_w(p, v);
    }
    if let Some(s) = c.shares {
        p.push(&dir, "cpu.shares", s.to_string(), field("cpu.shares"));
    }
    // A lower period may only fit the parent's bandwidth with the new quota: as runc, retry
    // it after the quota (and the rt period after the rt runtime).
    if let Some(v) = c.period {
        let push = if c.quota.is_some() {
            Plan::push_retry_after_next
        } else {
            Plan::push
        };
        push(
            p,
            &dir,
            "cpu.cfs_period_us",
            v.to_string(),
            field("cpu.period"),
        );
    }
    if let Some(v) = c.quota {
        p.push(&dir, "cpu.cfs_quota_us", v.v1(), field("cpu.quota"));
    }
    if let Some(v) = c.burst {
        p.push(&dir, "cpu.cfs_burst_us", v.to_string(), field("cpu.burst"));
    }
    realtime(m, c, &dir, p)?;
    match c.idle {
        Some(0) | None => {}
        Some(v) => idle_w(p, v),
    }
    Ok(())
}

/// The realtime budget: ancestors raised first if needed, then period and runtime. A period
/// the current runtime does not fit in is retried after the runtime, as runc does.
fn realtime(m: &Manager, c: &Cpu, dir: &Path, p: &mut Plan) -> Result<(), CgroupError> {
    if let Some(v) = c.realtime_runtime.filter(|v| *v > 0) {
        let period = match c.realtime_period {
            Some(p) => p,
            None => fsutil::read_u64_or_zero(&dir.join("cpu.rt_period_us"))?,
        };
        raise_rt_ancestors(m, dir, v as u64, period, p)?;
    }
    if let Some(v) = c.realtime_period {
        let push = if c.realtime_runtime.is_some() {
            Plan::push_retry_after_next
        } else {
            Plan::push
        };
        let f = field("cpu.realtimePeriod");
        push(p, dir, "cpu.rt_period_us", v.to_string(), f);
    }
    if let Some(v) = c.realtime_runtime {
        let f = field("cpu.realtimeRuntime");
        p.push(dir, "cpu.rt_runtime_us", v.to_string(), f);
    }
    Ok(())
}

/// A cgroup's realtime share cannot exceed its parent's, and new cgroups start with none; so
/// ancestors below the hierarchy root whose runtime/period share is too small are raised
/// first (outermost first), as far as needed for the container's share.
fn raise_rt_ancestors(
    m: &Manager,
    leaf: &Path,
    runtime: u64,
    period: u64,
    p: &mut Plan,
) -> Result<(), CgroupError> {
    let Some(mount) = m.v1_mount("cpu") else {
        return Ok(());
    };
    if period == 0 {
        return Ok(());
    }
    let mut ancestors: Vec<&Path> = leaf
        .ancestors()
        .skip(1)
        .take_while(|a| *a != mount)
        .collect();
    ancestors.reverse();
    for a in ancestors {
        let (Some(a_period), Some(a_runtime)) = (
            fsutil::read_u64_opt(&a.join("cpu.rt_period_us"))?,
            fsutil::read_opt(&a.join("cpu.rt_runtime_us"))?,
        ) else {
            // No realtime group scheduling here; preflight reports the leaf's missing file.
            return Ok(());
        };
        let a_runtime: i64 = a_runtime.trim().parse().unwrap_or(0);
        // Needed runtime in the ancestor's period: ceil(runtime * a_period / period).
        let needed = (u128::from(runtime) * u128::from(a_period)).div_ceil(u128::from(period));
        if a_runtime >= 0 && (a_runtime as u128) < needed {
            p.push(
                a,
                "cpu.rt_runtime_us",
                needed.to_string(),
                field("cpu.realtimeRuntime"),
            );
        }
    }
    Ok(())
}

fn blkio(m: &Manager, r: &Resources, p: &mut Plan) -> Result<(), CgroupError> {
    let b = &r.block_io;
    let throttles: [(&Vec<Throttle>, &str, &str); 4] = [
        (
            &b.read_bps,
            "blkio.throttle.read_bps_device",
            "blockIO.throttleReadBpsDevice",
        ),
        (
            &b.write_bps,
            "blkio.throttle.write_bps_device",
            "blockIO.throttleWriteBpsDevice",
        ),
        (
            &b.read_iops,
            "blkio.throttle.read_iops_device",
            "blockIO.throttleReadIOPSDevice",
        ),
        (
            &b.write_iops,
            "blkio.throttle.write_iops_device",
            "blockIO.throttleWriteIOPSDevice",
        ),
    ];
    let any = b.weight.is_some()
        || b.leaf_weight.is_some()
        || !b.weight_devices.is_empty()
        || throttles.iter().any(|t| !t.0.is_empty());
    if !any {
        return Ok(());
    }
    let dir = need(m, "blkio", &field("blockIO"))?;
    // CFQ kernels have blkio.weight; BFQ ones blkio.bfq.weight (same 10-1000 range).
    let cfq = dir.join("blkio.weight").exists();
    let (weight, weight_dev) = if cfq {
        ("blkio.weight", "blkio.weight_device")
    } else {
        ("blkio.bfq.weight", "blkio.bfq.weight_device")
    };
    if let Some(w) = b.weight {
        p.push(&dir, weight, w.to_string(), field("blockIO.weight"));
    }
    if let Some(w) = b.leaf_weight {
        p.push(
            &dir,
            "blkio.leaf_weight",
            w.to_string(),
            field("blockIO.leafWeight"),
        );
    }
    for (i, d) in b.weight_devices.iter().enumerate() {
        if let Some(w) = d.weight {
            let line = format!("{}:{} {w}", d.major, d.minor);
            p.push(
                &dir,
                weight_dev,
                line,
                field(&format!("blockIO.weightDevice[{i}].weight")),
            );
        }
        if let Some(w) = d.leaf_weight {
            let line = format!("{}:{} {w}", d.major, d.minor);
            p.push(
                &dir,
                "blkio.leaf_weight_device",
                line,
                field(&format!("blockIO.weightDevice[{i}].leafWeight")),
            );
        }
    }
    for (list, file, name) in throttles {
        for (i, t) in list.iter().enumerate() {
            let line = format!("{}:{} {}", t.major, t.minor, t.rate);
            p.push(&dir, file, line, field(&format!("{name}[{i}]")));
        }
    }
    Ok(())
}

fn hugetlb(m: &Manager, r: &Resources, p: &mut Plan) -> Result<(), CgroupError> {
    for (i, (size, limit)) in r.hugepages.iter().enumerate() {
        let f = field(&format!("hugepageLimits[{i}]"));
        if m.v1_dir("hugetlb").is_some() {
            let dir = need(m, "hugetlb", &f)?;
            p.push(
                &dir,
                &format!("hugetlb.{size}.limit_in_bytes"),
                limit.v1(),
                f.clone(),
            );
            let rsvd = format!("hugetlb.{size}.rsvd.limit_in_bytes");
            if dir.join(&rsvd).exists() {
                p.push(&dir, &rsvd, limit.v1(), f);
            }
            continue;
        }
        // Hybrid hosts may offer hugetlb only in the unified hierarchy.
        let v2 = m
            .unified_dir()
            .filter(|d| d.join(format!("hugetlb.{size}.max")).exists());
        let Some(dir) = v2 else {
            return Err(CgroupError::invalid(
                f,
                format!(
                    "the hugetlb controller is not available for this cgroup \
                     (not mounted as cgroup v1, not enabled in cgroup2), or page size {size} is unknown"
                ),
            ));
        };
        super::v2::push_hugetlb(&mut *p, &dir, size, *limit, f);
    }
    Ok(())
}

/// net_cls/net_prio: v1 only, and skipped without error when not mounted, as runc does.
fn network(m: &Manager, r: &Resources, p: &mut Plan) -> Result<(), CgroupError> {
    if let (Some(id), Some(dir)) = (r.network.class_id, m.v1_dir("net_cls")) {
        p.push(
            &dir,
            "net_cls.classid",
            id.to_string(),
            field("network.classID"),
        );
    }
    if let Some(dir) = m.v1_dir("net_prio") {
        for (i, (ifname, prio)) in r.network.priorities.iter().enumerate() {
            let f = field(&format!("network.priorities[{i}]"));
            p.push(&dir, "net_prio.ifpriomap", format!("{ifname} {prio}"), f);
        }
    }
    Ok(())
}
