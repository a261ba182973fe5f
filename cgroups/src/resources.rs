//! Validation of OCI `linux.resources` into a normalized, typed form.
//!
//! Everything that can be checked without looking at the host is checked here, before a
//! single cgroup file is written. Conventions (as runc): a `0` for limits where zero makes
//! no sense (memory, cpu shares/quota/period, realtime runtime) means "unset"; `-1`
//! means "unlimited"; any other negative value is rejected. `pids.limit: 0` means 1, as in
//! current runc (runc#4014: systemd has no TasksMax=0, so both drivers remap it).

use std::collections::BTreeMap;

use oci_spec::runtime::{LinuxMemory, LinuxResources, LinuxThrottleDevice};

use crate::devices::{self, DeviceRule};
use crate::CgroupError;

/// A limit that may be unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Limit {
    /// No limit (`-1` in OCI, `max` in v2 files, `-1` in v1 files).
    Max,
    /// A concrete value.
    Value(u64),
}

impl Limit {
    /// The v1 file representation.
    pub(crate) fn v1(self) -> String {
        match self {
            Limit::Max => "-1".into(),
            Limit::Value(v) => v.to_string(),
        }
    }

    /// The v2 file representation.
    pub(crate) fn v2(self) -> String {
        match self {
            Limit::Max => "max".into(),
            Limit::Value(v) => v.to_string(),
        }
    }
}

/// Normalized memory settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Memory {
    pub limit: Option<Limit>,
    pub reservation: Option<Limit>,
    /// memory + swap (OCI semantics, like v1 memsw).
    pub swap: Option<Limit>,
    pub kernel: Option<Limit>,
    pub kernel_tcp: Option<Limit>,
    pub swappiness: Option<u64>,
    pub disable_oom_killer: Option<bool>,
    pub use_hierarchy: Option<bool>,
    pub check_before_update: bool,
}

/// Normalized cpu and cpuset settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Cpu {
    pub shares: Option<u64>,
    pub quota: Option<Limit>,
    pub period: Option<u64>,
    pub burst: Option<u64>,
    pub realtime_runtime: Option<i64>,
    pub realtime_period: Option<u64>,
    pub cpus: Option<String>,
    pub mems: Option<String>,
    pub idle: Option<i64>,
}

/// A per-device weight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WeightDevice {
    pub major: u64,
    pub minor: u64,
    pub weight: Option<u16>,
    pub leaf_weight: Option<u16>,
}

/// A per-device throttle (bytes or operations per second; 0 removes the limit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Throttle {
    pub major: u64,
    pub minor: u64,
    pub rate: u64,
}

/// Normalized block I/O settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct BlockIo {
    pub weight: Option<u16>,
    pub leaf_weight: Option<u16>,
    pub weight_devices: Vec<WeightDevice>,
    pub read_bps: Vec<Throttle>,
    pub write_bps: Vec<Throttle>,
    pub read_iops: Vec<Throttle>,
    pub write_iops: Vec<Throttle>,
}

/// Normalized network settings (v1 net_cls / net_prio).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Network {
    pub class_id: Option<u32>,
    pub priorities: Vec<(String, u32)>,
}

/// Normalized rdma limit for one device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rdma {
    pub device: String,
    pub hca_handles: Option<u32>,
    pub hca_objects: Option<u32>,
}

impl Rdma {
    /// The `rdma.max` line (same format on v1 and v2).
    pub(crate) fn line(&self) -> String {
        let f = |v: Option<u32>| v.map_or_else(|| "max".to_string(), |v| v.to_string());
        format!(
            "{} hca_handle={} hca_object={}",
            self.device,
            f(self.hca_handles),
            f(self.hca_objects)
        )
    }
}

/// All of `linux.resources`, validated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Resources {
    pub memory: Memory,
    pub cpu: Cpu,
    pub pids: Option<Limit>,
    pub block_io: BlockIo,
    /// (page size as in file names, e.g. `2MB`; limit in bytes)
    pub hugepages: Vec<(String, Limit)>,
    pub network: Network,
    pub rdma: Vec<Rdma>,
    pub unified: BTreeMap<String, String>,
    /// `None`: leave the device policy alone.
    pub devices: Option<Vec<DeviceRule>>,
}

const R: &str = "linux.resources";

/// `-1` → Max, `0` → unset, positive → value, other negatives → error.
fn limit_zero_unset(field: &str, v: Option<i64>) -> Result<Option<Limit>, CgroupError> {
    match v {
        None | Some(0) => Ok(None),
        Some(-1) => Ok(Some(Limit::Max)),
        Some(v) if v > 0 => Ok(Some(Limit::Value(v as u64))),
        Some(v) => Err(CgroupError::invalid(
            field,
            format!("{v} is invalid: use -1 for unlimited or a positive value"),
        )),
    }
}

fn memory(m: &LinuxMemory) -> Result<Memory, CgroupError> {
    let f = |name: &str| format!("{R}.memory.{name}");
    #[allow(deprecated)] // `kernel` is deprecated in the spec but still a field we must honour.
    let kernel = m.kernel();
    let out = Memory {
        limit: limit_zero_unset(&f("limit"), m.limit())?,
        reservation: limit_zero_unset(&f("reservation"), m.reservation())?,
        swap: limit_zero_unset(&f("swap"), m.swap())?,
        kernel: limit_zero_unset(&f("kernel"), kernel)?,
        kernel_tcp: limit_zero_unset(&f("kernelTCP"), m.kernel_tcp())?,
        swappiness: m.swappiness(),
        disable_oom_killer: m.disable_oom_killer(),
        use_hierarchy: m.use_hierarchy(),
        check_before_update: m.check_before_update().unwrap_or(false),
    };
    if let Some(s) = out.swappiness {
        if s > 100 {
            return Err(CgroupError::invalid(
                f("swappiness"),
                format!("{s} is out of range 0-100"),
            ));
        }
    }
    if let (Some(Limit::Value(limit)), Some(Limit::Value(swap))) = (out.limit, out.swap) {
        if swap < limit {
            return Err(CgroupError::invalid(
                f("swap"),
                format!("memory+swap limit {swap} must not be lower than the memory limit {limit}"),
            ));
        }
    }
    if let (Some(Limit::Max), Some(Limit::Value(_))) = (out.limit, out.swap) {
        return Err(CgroupError::invalid(
            f("swap"),
            "a memory+swap limit cannot be set while the memory limit is unlimited (-1)",
        ));
    }
    Ok(out)
}

fn cpu(c: &oci_spec::runtime::LinuxCpu) -> Result<Cpu, CgroupError> {
    let f = |name: &str| format!("{R}.cpu.{name}");
    let shares = c.shares().filter(|s| *s != 0);
    if let Some(s) = shares {
        if !(2..=262_144).contains(&s) {
            return Err(CgroupError::invalid(
                f("shares"),
                format!("{s} is out of range 2-262144"),
            ));
        }
    }
    let realtime_runtime = match c.realtime_runtime() {
        None | Some(0) => None,
        Some(v) if v >= -1 => Some(v),
        Some(v) => {
            return Err(CgroupError::invalid(
                f("realtimeRuntime"),
                format!("{v} is invalid"),
            ))
        }
    };
    let idle = c.idle();
    if let Some(i) = idle {
        if i != 0 && i != 1 {
            return Err(CgroupError::invalid(
                f("idle"),
                format!("{i} is invalid: must be 0 or 1"),
            ));
        }
    }
    let list = |name: &str, v: Option<&String>| -> Result<Option<String>, CgroupError> {
        match v.map(|s| s.trim()).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => {
                validate_id_list(s).map_err(|r| CgroupError::invalid(f(name), r))?;
                Ok(Some(s.to_string()))
            }
        }
    };
    Ok(Cpu {
        shares,
        quota: limit_zero_unset(&f("quota"), c.quota())?,
        period: c.period().filter(|p| *p != 0),
        burst: c.burst(),
        realtime_runtime,
        realtime_period: c.realtime_period().filter(|p| *p != 0),
        cpus: list("cpus", c.cpus().as_ref())?,
        mems: list("mems", c.mems().as_ref())?,
        idle,
    })
}

/// Validates a cpuset list such as `0-3,5,7-8`.
pub(crate) fn validate_id_list(s: &str) -> Result<(), String> {
    for item in s.split(',') {
        let item = item.trim();
        let (a, b) = item.split_once('-').unwrap_or((item, item));
        let (Ok(a), Ok(b)) = (a.trim().parse::<u32>(), b.trim().parse::<u32>()) else {
            return Err(format!(
                "{s:?} is not a list like \"0-3,5\" (bad item {item:?})"
            ));
        };
        if a > b {
            return Err(format!("{s:?}: range {item:?} is reversed"));
        }
    }
    Ok(())
}

fn dev_number(field: &str, v: i64) -> Result<u64, CgroupError> {
    u64::try_from(v)
        .map_err(|_| CgroupError::invalid(field, format!("device number {v} is negative")))
}

fn weight(field: &str, w: Option<u16>) -> Result<Option<u16>, CgroupError> {
    match w {
        None | Some(0) => Ok(None),
        Some(w) if (10..=1000).contains(&w) => Ok(Some(w)),
        Some(w) => Err(CgroupError::invalid(
            field,
            format!("{w} is out of range 10-1000"),
        )),
    }
}

fn throttles(
    name: &str,
    list: Option<&Vec<LinuxThrottleDevice>>,
) -> Result<Vec<Throttle>, CgroupError> {
    let mut out = Vec::new();
    for (i, t) in list.into_iter().flatten().enumerate() {
        let field = format!("{R}.blockIO.{name}[{i}]");
        out.push(Throttle {
            major: dev_number(&field, t.major())?,
            minor: dev_number(&field, t.minor())?,
            rate: t.rate(),
        });
    }
    Ok(out)
}

fn block_io(b: &oci_spec::runtime::LinuxBlockIo) -> Result<BlockIo, CgroupError> {
    let f = |name: &str| format!("{R}.blockIO.{name}");
    let mut weight_devices = Vec::new();
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        let field = format!("{R}.blockIO.weightDevice[{i}]");
        weight_devices.push(WeightDevice {
            major: dev_number(&field, d.major())?,
            minor: dev_number(&field, d.minor())?,
            weight: weight(&format!("{field}.weight"), d.weight())?,
            leaf_weight: weight(&format!("{field}.leafWeight"), d.leaf_weight())?,
        });
    }
    Ok(BlockIo {
        weight: weight(&f("weight"), b.weight())?,
        leaf_weight: weight(&f("leafWeight"), b.leaf_weight())?,
        weight_devices,
        read_bps: throttles(
            "throttleReadBpsDevice",
            b.throttle_read_bps_device().as_ref(),
        )?,
        write_bps: throttles(
            "throttleWriteBpsDevice",
            b.throttle_write_bps_device().as_ref(),
        )?,
        read_iops: throttles(
            "throttleReadIOPSDevice",
            b.throttle_read_iops_device().as_ref(),
        )?,
        write_iops: throttles(
            "throttleWriteIOPSDevice",
            b.throttle_write_iops_device().as_ref(),
        )?,
    })
}

/// Checks a hugetlb page size such as `2MB` or `1GB` (the spelling used in cgroup file names).
fn valid_page_size(s: &str) -> bool {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &s[digits.len()..];
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && ["KB", "MB", "GB", "TB", "PB"].contains(&unit)
}

fn simple_name(s: &str) -> bool {
    !s.is_empty()
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c == '/' || c.is_control())
}

/// Validates and normalizes every field of `linux.resources`.
pub(crate) fn validate(r: &LinuxResources) -> Result<Resources, CgroupError> {
    let mut out = Resources::default();
    if let Some(m) = r.memory() {
        out.memory = memory(m)?;
    }
    if let Some(c) = r.cpu() {
        out.cpu = cpu(c)?;
    }
    if let Some(p) = r.pids() {
        out.pids = match p.limit() {
            0 => Some(Limit::Value(1)),
            v => limit_zero_unset(&format!("{R}.pids.limit"), Some(v))?,
        };
    }
    if let Some(b) = r.block_io() {
        out.block_io = block_io(b)?;
    }
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        let field = format!("{R}.hugepageLimits[{i}]");
        if !valid_page_size(h.page_size()) {
            return Err(CgroupError::invalid(
                format!("{field}.pageSize"),
                format!(
                    "{:?} is not a page size like \"2MB\" or \"1GB\"",
                    h.page_size()
                ),
            ));
        }
        let limit = match h.limit() {
            -1 => Limit::Max,
            v if v >= 0 => Limit::Value(v as u64),
            v => {
                return Err(CgroupError::invalid(
                    format!("{field}.limit"),
                    format!("{v} is negative"),
                ))
            }
        };
        out.hugepages.push((h.page_size().clone(), limit));
    }
    if let Some(n) = r.network() {
        out.network.class_id = n.class_id();
        for (i, p) in n.priorities().iter().flatten().enumerate() {
            if !simple_name(p.name()) {
                return Err(CgroupError::invalid(
                    format!("{R}.network.priorities[{i}].name"),
                    format!("{:?} is not an interface name", p.name()),
                ));
            }
            out.network
                .priorities
                .push((p.name().clone(), p.priority()));
        }
    }
    let mut rdma: Vec<_> = r.rdma().iter().flatten().collect();
    rdma.sort_by(|a, b| a.0.cmp(b.0));
    for (dev, l) in rdma {
        if !simple_name(dev) {
            return Err(CgroupError::invalid(
                format!("{R}.rdma"),
                format!("{dev:?} is not a device name"),
            ));
        }
        out.rdma.push(Rdma {
            device: dev.clone(),
            hca_handles: l.hca_handles(),
            hca_objects: l.hca_objects(),
        });
    }
    for (k, v) in r.unified().iter().flatten() {
        validate_unified_key(k)?;
        out.unified.insert(k.clone(), v.clone());
    }
    if let Some(rules) = r.devices() {
        out.devices = Some(devices::validate_rules(rules)?);
    }
    Ok(out)
}

/// Rejects unified keys that are not plain interface file names or that would move processes.
fn validate_unified_key(k: &str) -> Result<(), CgroupError> {
    let field = format!("{R}.unified.{k}");
    if k.is_empty() || k.contains('/') || k == "." || k == ".." || !k.contains('.') {
        return Err(CgroupError::invalid(
            field,
            "not a cgroup interface file name",
        ));
    }
    if matches!(
        k,
        "cgroup.procs" | "cgroup.threads" | "cgroup.kill" | "cgroup.freeze"
    ) {
        return Err(CgroupError::invalid(
            field,
            "process membership and freezing are managed by the runtime, not via unified",
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "resources_tests.rs"]
mod tests;
