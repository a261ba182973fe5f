//! Small helpers for reading and writing cgroupfs files with error context.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write as _};
use std::path::Path;

use crate::CgroupError;

/// Reads a whole cgroup file as a string.
pub(crate) fn read(path: &Path) -> Result<String, CgroupError> {
    fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a cgroup file, returning `None` when it does not exist (or its cgroup is being
/// removed right now: ENODEV, e.g. a scope systemd removes once its last process died).
pub(crate) fn read_opt(path: &Path) -> Result<Option<String>, CgroupError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
        Err(source) => Err(CgroupError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes `value` to an existing cgroup file in a single `write(2)`, as cgroupfs expects.
pub(crate) fn write_raw(path: &Path, value: &str) -> io::Result<()> {
    let mut f = fs::OpenOptions::new().write(true).open(path)?;
    f.write_all(value.as_bytes())
}

/// [`write_raw`] with error context.
pub(crate) fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    write_raw(path, value).map_err(|source| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    })
}

/// Parses a single unsigned number; `max` (v2) maps to `u64::MAX`.
pub(crate) fn parse_u64(path: &Path, text: &str) -> Result<u64, CgroupError> {
    let t = text.trim();
    if t == "max" {
        return Ok(u64::MAX);
    }
    t.parse::<u64>().map_err(|e| CgroupError::Parse {
        path: path.to_path_buf(),
        reason: format!("{t:?} is not an unsigned number: {e}"),
    })
}

/// Reads a single-number file; a missing file reads as `None`.
pub(crate) fn read_u64_opt(path: &Path) -> Result<Option<u64>, CgroupError> {
    match read_opt(path)? {
        Some(s) => parse_u64(path, &s).map(Some),
        None => Ok(None),
    }
}

/// Reads a single-number file; a missing file reads as 0 (used for optional statistics).
pub(crate) fn read_u64_or_zero(path: &Path) -> Result<u64, CgroupError> {
    Ok(read_u64_opt(path)?.unwrap_or(0))
}

/// Parses `key value` lines (memory.stat, cpu.stat, memory.events…) into a map.
pub(crate) fn parse_flat_keyed(
    path: &Path,
    text: &str,
) -> Result<BTreeMap<String, u64>, CgroupError> {
    let mut map = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut it = line.split_whitespace();
        let (Some(k), Some(v), None) = (it.next(), it.next(), it.next()) else {
            return Err(CgroupError::Parse {
                path: path.to_path_buf(),
                reason: format!("malformed line {line:?}"),
            });
        };
        map.insert(k.to_string(), parse_u64(path, v)?);
    }
    Ok(map)
}

/// Reads a flat-keyed file; a missing file reads as an empty map.
pub(crate) fn read_flat_keyed(path: &Path) -> Result<BTreeMap<String, u64>, CgroupError> {
    match read_opt(path)? {
        Some(s) => parse_flat_keyed(path, &s),
        None => Ok(BTreeMap::new()),
    }
}

/// Parses a whitespace separated list of numbers (cpuacct.usage_percpu).
pub(crate) fn parse_u64_list(path: &Path, text: &str) -> Result<Vec<u64>, CgroupError> {
    text.split_whitespace()
        .map(|t| parse_u64(path, t))
        .collect()
}

/// The sub-directories (child cgroups) of `dir`; none if `dir` is gone.
pub(crate) fn subdirs(dir: &Path) -> Result<Vec<std::path::PathBuf>, CgroupError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(CgroupError::Read {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    Ok(entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect())
}
