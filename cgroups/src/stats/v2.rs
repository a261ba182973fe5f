//! Statistics from a cgroup v2 directory, mapped onto runc's (v1-shaped) fields.

use std::collections::BTreeMap;
use std::path::Path;

use super::{parse, Blkio, Hugetlb, Memory, MemoryEntry, PsiStats, Stats};
use crate::{fsutil, CgroupError};

fn psi(dir: &Path, file: &str) -> Result<Option<PsiStats>, CgroupError> {
    let p = dir.join(file);
    match fsutil::read_opt(&p) {
        Ok(Some(t)) => parse::psi(&p, &t).map(Some),
        // PSI may be compiled in but disabled (EOPNOTSUPP on read): report none.
        Ok(None) | Err(CgroupError::Read { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Collects every statistic runc reports for a v2 cgroup.
pub(crate) fn collect(dir: &Path) -> Result<Stats, CgroupError> {
    let mut s = Stats::default();

    // cpu.stat is always present (usage); throttling needs the cpu controller.
    let cpu = fsutil::read_flat_keyed(&dir.join("cpu.stat"))?;
    let get = |k: &str| cpu.get(k).copied().unwrap_or(0);
    // µs → ns; a counter the kernel never reaches (or `max`) stays at the top.
    let ns = |k: &str| get(k).saturating_mul(1000);
    s.cpu.usage.total = ns("usage_usec");
    s.cpu.usage.user = ns("user_usec");
    s.cpu.usage.kernel = ns("system_usec");
    s.cpu.throttling.periods = get("nr_periods");
    s.cpu.throttling.throttled_periods = get("nr_throttled");
    s.cpu.throttling.throttled_time = ns("throttled_usec");
    s.cpu.psi = psi(dir, "cpu.pressure")?;

    for (file, target) in [
        ("cpuset.cpus.effective", &mut s.cpuset.cpus),
        ("cpuset.mems.effective", &mut s.cpuset.mems),
    ] {
        let p = dir.join(file);
        if let Some(t) = fsutil::read_opt(&p)? {
            *target = parse::id_list(&p, &t)?;
        }
    }

    s.memory = memory(dir)?;
    s.memory.psi = psi(dir, "memory.pressure")?;

    s.pids.current = fsutil::read_u64_or_zero(&dir.join("pids.current"))?;
    s.pids.limit = match fsutil::read_u64_or_zero(&dir.join("pids.max"))? {
        u64::MAX => 0,
        v => v,
    };

    let io = dir.join("io.stat");
    if let Some(t) = fsutil::read_opt(&io)? {
        let (bytes, ios) = parse::io_stat_v2(&io, &t)?;
        s.blkio = Blkio {
            io_service_bytes_recursive: bytes,
            io_serviced_recursive: ios,
            ..Blkio::default()
        };
    }
    s.blkio.psi = psi(dir, "io.pressure")?;

    s.hugetlb = hugetlb(dir)?;
    Ok(s)
}

/// `memory.current`/`max`/`peak` for usage; swap reported as memory+swap like v1's memsw
/// (limit stays `max` if either is unlimited); failcnt is `memory.events` `max`.
fn memory(dir: &Path) -> Result<Memory, CgroupError> {
    let Some(current) = fsutil::read_u64_opt(&dir.join("memory.current"))? else {
        return Ok(Memory::default()); // memory controller not enabled here
    };
    let raw = fsutil::read_flat_keyed(&dir.join("memory.stat"))?;
    let events = fsutil::read_flat_keyed(&dir.join("memory.events"))?;
    let usage = MemoryEntry {
        limit: fsutil::read_u64_or_zero(&dir.join("memory.max"))?,
        usage: current,
        max: fsutil::read_u64_or_zero(&dir.join("memory.peak"))?,
        failcnt: events.get("max").copied().unwrap_or(0),
    };
    let mut swap = MemoryEntry::default();
    if let Some(swap_current) = fsutil::read_u64_opt(&dir.join("memory.swap.current"))? {
        let swap_max = fsutil::read_u64_or_zero(&dir.join("memory.swap.max"))?;
        let swap_events = fsutil::read_flat_keyed(&dir.join("memory.swap.events"))?;
        swap = MemoryEntry {
            limit: if swap_max == u64::MAX || usage.limit == u64::MAX {
                u64::MAX
            } else {
                swap_max.saturating_add(usage.limit)
            },
            usage: swap_current.saturating_add(current),
            max: fsutil::read_u64_or_zero(&dir.join("memory.swap.peak"))?,
            failcnt: swap_events.get("max").copied().unwrap_or(0),
        };
    }
    Ok(Memory {
        cache: raw.get("file").copied().unwrap_or(0),
        usage,
        swap,
        raw,
        ..Memory::default()
    })
}

/// `hugetlb.<size>.current` and the `max` count of `hugetlb.<size>.events`, per page size
/// offered in this cgroup.
pub(crate) fn hugetlb(dir: &Path) -> Result<BTreeMap<String, Hugetlb>, CgroupError> {
    let mut out = BTreeMap::new();
    for size in parse::hugepage_sizes() {
        let Some(usage) = fsutil::read_u64_opt(&dir.join(format!("hugetlb.{size}.current")))?
        else {
            continue;
        };
        let events = fsutil::read_flat_keyed(&dir.join(format!("hugetlb.{size}.events")))?;
        out.insert(
            size,
            Hugetlb {
                usage,
                max: 0,
                failcnt: events.get("max").copied().unwrap_or(0),
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Multiplying and adding these overflowed (a panic with overflow checks).
    #[test]
    fn counters_near_the_top_saturate() {
        let dir = tempfile::tempdir().unwrap();
        let write = |file: &str, text: &str| std::fs::write(dir.path().join(file), text).unwrap();
        let top = u64::MAX.to_string();
        write(
            "cpu.stat",
            &format!("usage_usec {top}\nuser_usec 20000000000000000\nsystem_usec 7\nthrottled_usec {top}\n"),
        );
        write("memory.current", &format!("{top}\n"));
        write("memory.swap.current", "4096\n");
        let s = collect(dir.path()).unwrap();
        assert_eq!(s.cpu.usage.total, u64::MAX);
        assert_eq!(s.cpu.usage.user, u64::MAX);
        assert_eq!(s.cpu.usage.kernel, 7000);
        assert_eq!(s.cpu.throttling.throttled_time, u64::MAX);
        assert_eq!(s.memory.swap.usage, u64::MAX);
    }
}
