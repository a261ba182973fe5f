//! Init step "memory policy" (`linux.memoryPolicy`, runtime-spec 1.2.1): the
//! NUMA policy set with set_mempolicy(2) for the init and every `exec`'d
//! process. The raw JSON is checked before it is typed ([`check_raw`]) so that
//! a bad mode, flag or node list is refused with runc's wording; the node list
//! and mode/node agreement are checked at create ([`MemPolicy::from_spec`]).

use oci_spec::runtime::{LinuxMemoryPolicy, MemoryPolicyFlagType, MemoryPolicyModeType, Spec};
use serde_json::Value;

use crate::error::{Error, Result};

const FIELD: &str = "linux.memoryPolicy";
/// Largest node number accepted (the kernel's MAX_NUMNODES is at most 1024).
const MAX_NODE: usize = 4095;
const MODES: [&str; 7] = [
    "MPOL_DEFAULT",
    "MPOL_PREFERRED",
    "MPOL_BIND",
    "MPOL_INTERLEAVE",
    "MPOL_LOCAL",
    "MPOL_PREFERRED_MANY",
    "MPOL_WEIGHTED_INTERLEAVE",
];
const FLAGS: [&str; 3] = [
    "MPOL_F_NUMA_BALANCING",
    "MPOL_F_RELATIVE_NODES",
    "MPOL_F_STATIC_NODES",
];

/// Checks `linux.memoryPolicy` in the untyped config (`linux` object), so that
/// an unknown mode or flag is named as runc names it rather than by serde.
pub(crate) fn check_raw(linux: &Value) -> Result<()> {
    let Some(policy) = linux.get("memoryPolicy") else {
        return Ok(());
    };
    match policy.get("mode").and_then(Value::as_str) {
        Some(m) if MODES.contains(&m) => {}
        Some(m) => return Err(invalid("mode", format!("invalid memory policy mode {m:?}"))),
        None => {
            return Err(invalid(
                "mode",
                "invalid memory policy mode: none given".into(),
            ))
        }
    }
    let flags = policy.get("flags").and_then(Value::as_array);
    for (i, f) in flags.into_iter().flatten().enumerate() {
        if !f.as_str().is_some_and(|f| FLAGS.contains(&f)) {
            return Err(invalid(
                &format!("flags[{i}]"),
                format!("invalid memory policy flag {f}"),
            ));
        }
    }
    Ok(())
}

fn invalid(sub: &str, msg: String) -> Error {
    Error::config(format!("{FIELD}.{sub}"), msg)
}

/// The arguments of set_mempolicy(2), prepared before the clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemPolicy {
    mode: i32,
    /// Node bitmask, 64 nodes per word.
    mask: Vec<libc::c_ulong>,
    /// Highest node number + 1 (0 for no nodes).
    nodes: usize,
}

impl MemPolicy {
    /// The policy of `spec`, if any, checked as far as it can be without the kernel.
    pub(crate) fn from_spec(spec: &Spec) -> Result<Option<Self>> {
        let Some(p) = spec
            .linux()
            .as_ref()
            .and_then(|l| l.memory_policy().as_ref())
        else {
            return Ok(None);
        };
        Self::from_policy(p).map(Some)
    }

    fn from_policy(p: &LinuxMemoryPolicy) -> Result<Self> {
        let nodes = parse_nodes(p.nodes().as_deref().unwrap_or(""))?;
        let (mode, needs_nodes) = match p.mode() {
            MemoryPolicyModeType::MpolDefault => (0, false),
            MemoryPolicyModeType::MpolPreferred => (1, true),
            MemoryPolicyModeType::MpolBind => (2, true),
            MemoryPolicyModeType::MpolInterleave => (3, true),
            MemoryPolicyModeType::MpolLocal => (4, false),
            MemoryPolicyModeType::MpolPreferredMany => (5, true),
            MemoryPolicyModeType::MpolWeightedInterleave => (6, true),
        };
        if !needs_nodes && !nodes.is_empty() {
            return Err(invalid(
                "nodes",
                format!(
                    "invalid memory policy {}: mode requires 0 nodes but got {}",
                    p.mode(),
                    nodes.len()
                ),
            ));
        }
        let flags = p
            .flags()
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .fold(0, |acc, f| {
                acc | match f {
                    MemoryPolicyFlagType::MpolFNumaBalancing => 1 << 13,
                    MemoryPolicyFlagType::MpolFRelativeNodes => 1 << 14,
                    MemoryPolicyFlagType::MpolFStaticNodes => 1 << 15,
                }
            });
        let top = nodes.iter().max().map_or(0, |n| n + 1);
        let bits = libc::c_ulong::BITS as usize;
        let mut mask = vec![0 as libc::c_ulong; top.div_ceil(bits).max(1)];
        for n in &nodes {
            mask[n / bits] |= 1 << (n % bits);
        }
        Ok(MemPolicy {
            mode: mode | flags,
            mask,
            nodes: top,
        })
    }

    /// set_mempolicy(2) for the calling process (inherited by its children).
    pub(crate) fn apply(&self) -> Result<()> {
        // The kernel reads maxnode - 1 bits; no nodes: a null mask.
        let (mask, maxnode) = if self.nodes == 0 {
            (std::ptr::null(), 0)
        } else {
            (self.mask.as_ptr(), self.nodes + 1)
        };
        // SAFETY: `mask` is null or holds at least `nodes` bits and outlives the
        // call; the kernel only reads it.
        let r = unsafe { libc::syscall(libc::SYS_set_mempolicy, self.mode, mask, maxnode) };
        if r < 0 {
            return Err(Error::config(
                FIELD,
                format!("set_mempolicy: {}", nix::Error::last()),
            ));
        }
        Ok(())
    }
}

/// `"0-3,7"` → the node numbers, sorted and unique.
fn parse_nodes(text: &str) -> Result<Vec<usize>> {
    let bad = |what: &str| invalid("nodes", format!("invalid memory policy node {what:?}"));
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let parse = |s: &str| {
            s.trim()
                .parse::<usize>()
                .ok()
                .filter(|&n| n <= MAX_NODE)
                .ok_or_else(|| bad(part))
        };
        let (lo, hi) = (parse(lo)?, parse(hi)?);
        if lo > hi {
            return Err(bad(part));
        }
        out.extend(lo..=hi);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(v: Value) -> Result<MemPolicy> {
        MemPolicy::from_policy(&serde_json::from_value(v).unwrap())
    }

    #[test]
    fn nodes_and_flags() {
        assert_eq!(parse_nodes("0-2,5,1").unwrap(), [0, 1, 2, 5]);
        assert!(parse_nodes("").unwrap().is_empty());
        assert!(parse_nodes("0-9876543210").is_err());
        assert!(parse_nodes("3-1").is_err());
        let p = policy(serde_json::json!({"mode": "MPOL_BIND", "nodes": "0,65",
            "flags": ["MPOL_F_STATIC_NODES"]}))
        .unwrap();
        assert_eq!(p.mode, 2 | 1 << 15);
        assert_eq!(p.mask, [1, 2]);
        assert_eq!(p.nodes, 66);
    }

    #[test]
    fn runc_s_wording() {
        let e = policy(serde_json::json!({"mode": "MPOL_DEFAULT", "nodes": "0-7"})).unwrap_err();
        assert!(e.to_string().contains("requires 0 nodes but got 8"), "{e}");
        let e = check_raw(&serde_json::json!({"memoryPolicy": {}})).unwrap_err();
        assert!(e.to_string().contains("invalid memory policy mode"), "{e}");
        let raw = serde_json::json!({"memoryPolicy": {"mode": "INTERLEAVE"}});
        assert!(check_raw(&raw)
            .unwrap_err()
            .to_string()
            .contains("invalid memory policy"));
        let raw = serde_json::json!({"memoryPolicy": {"mode": "MPOL_BIND", "flags": ["bad"]}});
        let e = check_raw(&raw).unwrap_err();
        assert!(e.to_string().contains("invalid memory policy flag"), "{e}");
    }
}
