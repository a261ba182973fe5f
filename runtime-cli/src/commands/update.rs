//! `kiln update`: change the resource limits of a running container.

use std::io::Read;
use std::path::PathBuf;

use kiln_libcontainer::{Container, Error, StateRoot};
use oci_spec::runtime::LinuxResources;
use serde_json::{json, Value};

/// Options of `update` (runc's flags).
#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// JSON file with a LinuxResources object ("-" for stdin).
    #[arg(short = 'r', long)]
    pub resources: Option<PathBuf>,
    /// Memory limit (bytes, or with k/m/g suffix; -1 for unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory plus swap limit.
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit.
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Kernel memory limit (deprecated; v1 only).
    #[arg(long = "kernel-memory", allow_hyphen_values = true)]
    pub kernel_memory: Option<String>,
    /// Kernel TCP memory limit (deprecated; v1 only).
    #[arg(long = "kernel-memory-tcp", allow_hyphen_values = true)]
    pub kernel_memory_tcp: Option<String>,
    /// CPU shares (relative weight); runc spells it --cpu-share.
    #[arg(long = "cpu-share", alias = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// CFS quota in microseconds (-1 for none).
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CFS period in microseconds.
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// Realtime period in microseconds.
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    /// Realtime runtime in microseconds.
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs to run on (e.g. 0-1).
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes to use (e.g. 0).
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Maximum number of processes (-1 for unlimited).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block IO weight (10-1000).
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Container id.
    pub id: String,
}

fn bad(field: &str, reason: impl Into<String>) -> Error {
    Error::Config {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Parses a size as runc does (go-units' RAMInBytes): `-1`, or a decimal
/// number (`1024`, `1.5`), an optional space, an optional unit k, m, g, t or
/// p (powers of 1024), an optional `i` and an optional `b`, in any case
/// (`64m`, `64MiB`, `2 kb`). Blanks around it are ignored.
pub fn parse_bytes(field: &str, s: &str) -> Result<i64, Error> {
    let invalid = || bad(field, format!("invalid size {s:?}"));
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let t = t.strip_suffix('b').unwrap_or(&t);
    let t = t.strip_suffix('i').unwrap_or(t);
    let (num, shift) = match t.as_bytes().last() {
        Some(b'k') => (&t[..t.len() - 1], 10),
        Some(b'm') => (&t[..t.len() - 1], 20),
        Some(b'g') => (&t[..t.len() - 1], 30),
        Some(b't') => (&t[..t.len() - 1], 40),
        Some(b'p') => (&t[..t.len() - 1], 50),
        _ => (t, 0),
    };
    let num = num.strip_suffix(' ').unwrap_or(num);
    // Digits with an optional fraction only: not `nan`, `inf`, `1e3`, `+1`, `-0`.
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    let (whole, fraction) = num.split_once('.').unwrap_or((num, "0"));
    if !digits(whole) || !digits(fraction) {
        return Err(invalid());
    }
    let n: f64 = num.parse().map_err(|_| invalid())?;
    // A float → int `as` saturates: sizes past i64::MAX read as i64::MAX.
    Ok((n * (1u64 << shift) as f64) as i64)
}

/// Merges `patch` into `base` (objects recursively; other values replace).
fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, p) => *b = p,
    }
}

/// As runc: an update that makes memory unlimited (`-1`) without setting swap makes the
/// memory+swap limit (if one is set) unlimited too: it cannot stay below an unlimited memory.
fn unlimited_memory_lifts_swap(res: &mut Value, patch: &Value) {
    let mem = &patch["memory"];
    let swap_set = res["memory"]["swap"].as_i64().is_some_and(|v| v > 0);
    if mem["limit"].as_i64() == Some(-1) && mem.get("swap").is_none() && swap_set {
        res["memory"]["swap"] = json!(-1);
    }
}

/// Builds the new resources from the current ones and the flags, then applies them.
pub fn run(root: &StateRoot, a: &UpdateArgs) -> Result<(), Error> {
    let mut c = Container::load(root, &a.id)?;
    let mut res = serde_json::to_value(c.resources()).unwrap_or_else(|_| json!({}));
    if let Some(path) = &a.resources {
        let mut text = String::new();
        if path.as_os_str() == "-" {
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Error::Io {
                    op: "read",
                    path: path.clone(),
                    source: e,
                })?;
        } else {
            text = std::fs::read_to_string(path).map_err(|e| Error::Io {
                op: "read",
                path: path.clone(),
                source: e,
            })?;
        }
        let patch: Value = serde_json::from_str(&text)
            .map_err(|e| bad("--resources", format!("invalid JSON: {e}")))?;
        unlimited_memory_lifts_swap(&mut res, &patch);
        merge(&mut res, patch);
    }
    let mut patch = json!({});
    let mem = |f: &str, v: &Option<String>| v.as_deref().map(|s| parse_bytes(f, s)).transpose();
    if let Some(v) = mem("--memory", &a.memory)? {
        patch["memory"]["limit"] = v.into();
    }
    if let Some(v) = mem("--memory-swap", &a.memory_swap)? {
        patch["memory"]["swap"] = v.into();
    }
    if let Some(v) = mem("--memory-reservation", &a.memory_reservation)? {
        patch["memory"]["reservation"] = v.into();
    }
    if let Some(v) = mem("--kernel-memory", &a.kernel_memory)? {
        patch["memory"]["kernel"] = v.into();
    }
    if let Some(v) = mem("--kernel-memory-tcp", &a.kernel_memory_tcp)? {
        patch["memory"]["kernelTCP"] = v.into();
    }
    let cpu = [
        ("shares", a.cpu_shares.map(Value::from)),
        ("quota", a.cpu_quota.map(Value::from)),
        ("period", a.cpu_period.map(Value::from)),
        ("realtimePeriod", a.cpu_rt_period.map(Value::from)),
        ("realtimeRuntime", a.cpu_rt_runtime.map(Value::from)),
        ("cpus", a.cpuset_cpus.clone().map(Value::from)),
        ("mems", a.cpuset_mems.clone().map(Value::from)),
    ];
    for (k, v) in cpu {
        if let Some(v) = v {
            patch["cpu"][k] = v;
        }
    }
    if let Some(p) = a.pids_limit {
        patch["pids"]["limit"] = p.into();
    }
    if let Some(w) = a.blkio_weight {
        patch["blockIO"]["weight"] = w.into();
    }
    unlimited_memory_lifts_swap(&mut res, &patch);
    merge(&mut res, patch);
    let resources: LinuxResources = kiln_libcontainer::json::from_value(&res)
        .map_err(|e| bad(&format!("resources.{}", e.path), e.reason()))?;
    c.update(resources)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("m", "1024").unwrap(), 1024);
        assert_eq!(parse_bytes("m", "64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("m", "1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("m", "2kb").unwrap(), 2048);
        assert_eq!(parse_bytes("m", "-1").unwrap(), -1);
        assert_eq!(parse_bytes("m", "64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("m", "1.5k").unwrap(), 1536);
        assert_eq!(parse_bytes("m", "2 KB").unwrap(), 2048);
        assert_eq!(parse_bytes("m", "1p").unwrap(), 1 << 50);
        assert!(parse_bytes("m", "lots").is_err());
        assert!(parse_bytes("m", "-5").is_err());
        // Found by fuzz/fuzz_targets/cli_args.rs: Rust's float syntax was taken.
        for bad in [
            "-0", "nan", "inf", "1e3", "+5", ".5", "5.", "1.2.3", "k", "1  k", "",
        ] {
            assert!(parse_bytes("m", bad).is_err(), "{bad:?} accepted");
        }
    }
}
