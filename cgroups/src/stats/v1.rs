//! Statistics from cgroup v1 hierarchies (and, on hybrid hosts, hugetlb from cgroup2).

use std::path::{Path, PathBuf};

use super::{parse, Blkio, Cpu, CpuSet, Hugetlb, Memory, MemoryEntry, Pids, Stats};
use crate::manager::Manager;
use crate::{fsutil, CgroupError};

/// The container's directory for `controller`, if mounted; an error if mounted but missing.
fn dir(m: &Manager, controller: &str) -> Result<Option<PathBuf>, CgroupError> {
    match m.v1_dir(controller) {
        Some(d) if d.is_dir() => Ok(Some(d)),
        Some(d) => Err(CgroupError::NotFound { path: d }),
        None => Ok(None),
    }
}

/// Collects every v1 statistic runc reports.
pub(crate) fn collect(m: &Manager) -> Result<Stats, CgroupError> {
    collect_in(|controller| dir(m, controller), m.unified_dir())
}

/// [`collect`] from the directories `dir` gives per controller (`None`: not mounted) and, for
/// hugetlb on hybrid hosts, the cgroup2 directory `unified`.
pub(crate) fn collect_in(
    dir: impl Fn(&str) -> Result<Option<PathBuf>, CgroupError>,
    unified: Option<PathBuf>,
) -> Result<Stats, CgroupError> {
    let mut s = Stats::default();
    if let Some(d) = dir("cpuacct")? {
        cpuacct(&d, &mut s.cpu)?;
    }
    if let Some(d) = dir("cpu")? {
        let stat = fsutil::read_flat_keyed(&d.join("cpu.stat"))?;
        let get = |k: &str| stat.get(k).copied().unwrap_or(0);
        s.cpu.throttling.periods = get("nr_periods");
        s.cpu.throttling.throttled_periods = get("nr_throttled");
        s.cpu.throttling.throttled_time = get("throttled_time");
    }
    if let Some(d) = dir("cpuset")? {
        s.cpuset = cpuset(&d)?;
    }
    if let Some(d) = dir("memory")? {
        s.memory = memory(&d)?;
    }
    if let Some(d) = dir("pids")? {
        s.pids = Pids {
            current: fsutil::read_u64_or_zero(&d.join("pids.current"))?,
            limit: match fsutil::read_u64_or_zero(&d.join("pids.max"))? {
                u64::MAX => 0,
                v => v,
            },
        };
    }
    if let Some(d) = dir("blkio")? {
        s.blkio = blkio(&d)?;
    }
    match dir("hugetlb")? {
        Some(d) => {
            for size in parse::hugepage_sizes() {
                let f = |suffix: &str| {
                    fsutil::read_u64_or_zero(&d.join(format!("hugetlb.{size}.{suffix}")))
                };
                let h = Hugetlb {
                    usage: f("usage_in_bytes")?,
                    max: f("max_usage_in_bytes")?,
                    failcnt: f("failcnt")?,
                };
                s.hugetlb.insert(size, h);
            }
        }
        None => {
            if let Some(d) = unified.filter(|d| d.is_dir()) {
                s.hugetlb = super::v2::hugetlb(&d)?;
            }
        }
    }
    Ok(s)
}

fn cpuacct(d: &Path, cpu: &mut Cpu) -> Result<(), CgroupError> {
    let u = &mut cpu.usage;
    u.total = fsutil::read_u64_or_zero(&d.join("cpuacct.usage"))?;
    let list = |file: &str| -> Result<Vec<u64>, CgroupError> {
        let p = d.join(file);
        match fsutil::read_opt(&p)? {
            Some(t) => fsutil::parse_u64_list(&p, &t),
            None => Ok(Vec::new()),
        }
    };
    u.percpu = list("cpuacct.usage_percpu")?;
    u.percpu_kernel = list("cpuacct.usage_percpu_sys")?;
    u.percpu_user = list("cpuacct.usage_percpu_user")?;
    // Prefer the nanosecond counters; fall back to cpuacct.stat's clock ticks.
    match (
        fsutil::read_u64_opt(&d.join("cpuacct.usage_user"))?,
        fsutil::read_u64_opt(&d.join("cpuacct.usage_sys"))?,
    ) {
        (Some(user), Some(sys)) => {
            u.user = user;
            u.kernel = sys;
        }
        _ => {
            let stat = fsutil::read_flat_keyed(&d.join("cpuacct.stat"))?;
            let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
                .ok()
                .flatten()
                .and_then(|v| u64::try_from(v).ok())
                .filter(|v| *v > 0)
                .unwrap_or(100);
            let ns = |k: &str| {
                stat.get(k)
                    .copied()
                    .unwrap_or(0)
                    .saturating_mul(1_000_000_000)
                    / hz
            };
            u.user = ns("user");
            u.kernel = ns("system");
        }
    }
    Ok(())
}

fn cpuset(d: &Path) -> Result<CpuSet, CgroupError> {
    let num = |f: &str| fsutil::read_u64_or_zero(&d.join(format!("cpuset.{f}")));
    let list = |f: &str| -> Result<Vec<u16>, CgroupError> {
        let p = d.join(format!("cpuset.{f}"));
        parse::id_list(&p, &fsutil::read_opt(&p)?.unwrap_or_default())
    };
    let relax = fsutil::read_opt(&d.join("cpuset.sched_relax_domain_level"))?.unwrap_or_default();
    Ok(CpuSet {
        cpus: list("cpus")?,
        cpu_exclusive: num("cpu_exclusive")?,
        mems: list("mems")?,
        mem_hardwall: num("mem_hardwall")?,
        mem_exclusive: num("mem_exclusive")?,
        memory_migrate: num("memory_migrate")?,
        memory_spread_page: num("memory_spread_page")?,
        memory_spread_slab: num("memory_spread_slab")?,
        memory_pressure: num("memory_pressure")?,
        sched_load_balance: num("sched_load_balance")?,
        sched_relax_domain_level: relax.trim().parse().unwrap_or(0),
    })
}

/// `<prefix>.usage_in_bytes`, `.max_usage_in_bytes`, `.limit_in_bytes`, `.failcnt`.
fn entry(d: &Path, prefix: &str) -> Result<MemoryEntry, CgroupError> {
    let f = |s: &str| fsutil::read_u64_or_zero(&d.join(format!("{prefix}.{s}")));
    Ok(MemoryEntry {
        limit: f("limit_in_bytes")?,
        usage: f("usage_in_bytes")?,
        max: f("max_usage_in_bytes")?,
        failcnt: f("failcnt")?,
    })
}

fn memory(d: &Path) -> Result<Memory, CgroupError> {
    let raw = fsutil::read_flat_keyed(&d.join("memory.stat"))?;
    Ok(Memory {
        cache: raw.get("cache").copied().unwrap_or(0),
        usage: entry(d, "memory")?,
        swap: entry(d, "memory.memsw")?,
        kernel: entry(d, "memory.kmem")?,
        kernel_tcp: entry(d, "memory.kmem.tcp")?,
        raw,
        psi: None,
    })
}

/// Like runc: CFQ's counters if the kernel has them and they are non-empty, else BFQ's,
/// else the throttling layer's (which count every device).
fn blkio(d: &Path) -> Result<Blkio, CgroupError> {
    let read = |file: &str| -> Result<Vec<super::BlkioEntry>, CgroupError> {
        let p = d.join(file);
        match fsutil::read_opt(&p)? {
            Some(t) => parse::blkio_v1(&p, &t),
            None => Ok(Vec::new()),
        }
    };
    let cfq = read("blkio.io_serviced_recursive")?;
    if !cfq.is_empty() {
        return Ok(Blkio {
            io_service_bytes_recursive: read("blkio.io_service_bytes_recursive")?,
            io_serviced_recursive: cfq,
            io_queued_recursive: read("blkio.io_queued_recursive")?,
            io_service_time_recursive: read("blkio.io_service_time_recursive")?,
            io_wait_time_recursive: read("blkio.io_wait_time_recursive")?,
            io_merged_recursive: read("blkio.io_merged_recursive")?,
            io_time_recursive: read("blkio.time_recursive")?,
            sectors_recursive: read("blkio.sectors_recursive")?,
            psi: None,
        });
    }
    let bfq = read("blkio.bfq.io_serviced_recursive")?;
    if !bfq.is_empty() {
        return Ok(Blkio {
            io_service_bytes_recursive: read("blkio.bfq.io_service_bytes_recursive")?,
            io_serviced_recursive: bfq,
            ..Blkio::default()
        });
    }
    Ok(Blkio {
        io_service_bytes_recursive: read("blkio.throttle.io_service_bytes_recursive")?,
        io_serviced_recursive: read("blkio.throttle.io_serviced_recursive")?,
        ..Blkio::default()
    })
}
