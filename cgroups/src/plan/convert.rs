//! cgroup v1 → v2 value conversions, following runc.

use crate::resources::Limit;
use crate::CgroupError;

/// `cpu.shares` (v1, 2–262144, default 1024) → `cpu.weight` (v2, 1–10000, default 100):
/// `weight = 1 + ((shares - 2) * 9999) / 262142`, runc's linear mapping of one range onto the
/// other (shares ≤ 2 → 1, shares ≥ 262144 → 10000). Note that 1024 maps to 39, not 100.
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    match shares {
        0..=2 => 1,
        262_144.. => 10_000,
        s => 1 + ((s - 2) * 9999) / 262_142,
    }
}

/// `blkio.weight` (v1, 10–1000) → `io.weight` (v2, 1–10000):
/// `1 + ((weight - 10) * 9999) / 990`, runc's linear mapping. (`io.bfq.weight` takes the v1
/// range unchanged, so it is written without conversion.)
pub(crate) fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    let w = u64::from(weight.max(10));
    1 + ((w - 10) * 9999) / 990
}

/// OCI `memory.swap` is memory+swap (v1 memsw); v2 `memory.swap.max` is swap alone:
/// `memory.swap.max = swap - limit`, `max` when swap is -1. Setting swap needs the memory
/// limit in the same update (there is nothing to subtract otherwise), as in runc.
pub(crate) fn swap_max(
    limit: Option<Limit>,
    swap: Option<Limit>,
) -> Result<Option<String>, CgroupError> {
    match (swap, limit) {
        (None, _) => Ok(None),
        (Some(Limit::Max), _) => Ok(Some("max".into())),
        (Some(Limit::Value(s)), Some(Limit::Value(l))) => Ok(Some(s.saturating_sub(l).to_string())),
        (Some(Limit::Value(_)), _) => Err(CgroupError::invalid(
            super::field("memory.swap"),
            "on cgroup v2 a memory+swap limit needs memory.limit in the same configuration \
             (memory.swap.max = swap - limit)",
        )),
    }
}

/// `cpu.max` = `"$QUOTA $PERIOD"` from `cpu.cfs_quota_us`/`cpu.cfs_period_us` (µs), with `max`
/// for an unlimited (-1) quota. A half that is not being set keeps its current value (read
/// from the current `cpu.max`), so updating only the period does not drop the quota.
pub(crate) fn cpu_max(quota: Option<Limit>, period: Option<u64>, current: &str) -> Option<String> {
    if quota.is_none() && period.is_none() {
        return None;
    }
    let mut cur = current.split_whitespace();
    let cur_quota = cur.next().unwrap_or("max").to_string();
    let cur_period = cur.next().unwrap_or("100000").to_string();
    let q = match quota {
        Some(Limit::Max) => "max".to_string(),
        Some(Limit::Value(v)) => v.to_string(),
        None => cur_quota,
    };
    let p = period.map_or(cur_period, |p| p.to_string());
    Some(format!("{q} {p}"))
}

/// A throttle rate for `io.max`: 0 means "no limit" (`max`), as in v1 where writing 0 removes it.
pub(crate) fn io_max_rate(rate: u64) -> String {
    if rate == 0 {
        "max".into()
    } else {
        rate.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_to_weight_formula() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 1 + (1022 * 9999) / 262_142);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1), 1);
        assert_eq!(shares_to_weight(500_000), 10_000);
    }

    #[test]
    fn blkio_weight_formula() {
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
        assert_eq!(blkio_weight_to_io_weight(500), 1 + (490 * 9999) / 990);
    }

    #[test]
    fn swap_conversion() {
        let v = |x| Some(Limit::Value(x));
        assert_eq!(swap_max(v(100), v(300)).unwrap().as_deref(), Some("200"));
        assert_eq!(swap_max(v(100), v(100)).unwrap().as_deref(), Some("0"));
        assert_eq!(
            swap_max(v(100), Some(Limit::Max)).unwrap().as_deref(),
            Some("max")
        );
        assert_eq!(swap_max(v(100), None).unwrap(), None);
        let e = swap_max(None, v(100)).unwrap_err();
        assert!(
            e.to_string().starts_with("linux.resources.memory.swap:"),
            "{e}"
        );
    }

    #[test]
    fn cpu_max_conversion() {
        assert_eq!(cpu_max(None, None, "max 100000"), None);
        assert_eq!(
            cpu_max(Some(Limit::Value(50_000)), Some(200_000), "max 100000").unwrap(),
            "50000 200000"
        );
        assert_eq!(
            cpu_max(Some(Limit::Max), None, "20000 100000").unwrap(),
            "max 100000"
        );
        assert_eq!(
            cpu_max(None, Some(50_000), "20000 100000").unwrap(),
            "20000 50000"
        );
        assert_eq!(
            cpu_max(Some(Limit::Value(1000)), None, "").unwrap(),
            "1000 100000"
        );
    }

    #[test]
    fn io_rates() {
        assert_eq!(io_max_rate(0), "max");
        assert_eq!(io_max_rate(1_048_576), "1048576");
    }
}
