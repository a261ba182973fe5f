//! Process membership: joining, listing and signalling.

use std::io;
use std::path::Path;

use crate::manager::Hierarchy;
use crate::{fsutil, CgroupError};

/// Writes `pid` to `cgroup.procs` of the container's directory in every hierarchy.
pub(crate) fn add_process(hierarchies: &[Hierarchy], pid: i32) -> Result<(), CgroupError> {
    if pid <= 0 {
        return Err(CgroupError::Write {
            path: "cgroup.procs".into(),
            value: pid.to_string(),
            source: io::Error::from_raw_os_error(libc::EINVAL),
        });
    }
    for h in hierarchies {
        if !h.dir.is_dir() {
            return Err(CgroupError::NotFound {
                path: h.dir.clone(),
            });
        }
        fsutil::write(&h.dir.join("cgroup.procs"), &pid.to_string())?;
    }
    Ok(())
}

/// Parses a `cgroup.procs` listing.
pub(crate) fn parse_procs(path: &Path, text: &str) -> Result<Vec<i32>, CgroupError> {
    text.split_whitespace()
        .map(|t| {
            t.parse::<i32>().map_err(|e| CgroupError::Parse {
                path: path.to_path_buf(),
                reason: format!("{t:?} is not a pid: {e}"),
            })
        })
        .collect()
}

/// Every process in `dir` and in the cgroups below it.
pub(crate) fn pids_recursive(dir: &Path) -> Result<Vec<i32>, CgroupError> {
    if !dir.is_dir() {
        return Err(CgroupError::NotFound {
            path: dir.to_path_buf(),
        });
    }
    let mut out = Vec::new();
    collect(dir, &mut out)?;
    Ok(out)
}

fn collect(dir: &Path, out: &mut Vec<i32>) -> Result<(), CgroupError> {
    let procs = dir.join("cgroup.procs");
    match fsutil::read_opt(&procs)? {
        Some(text) => out.extend(parse_procs(&procs, &text)?),
        // A sub-cgroup removed while we walk.
        None => return Ok(()),
    }
    for sub in fsutil::subdirs(dir)? {
        collect(&sub, out)?;
    }
    Ok(())
}

/// v2: SIGKILLs everything in `dir` via `cgroup.kill`. Returns false when the kernel has no
/// `cgroup.kill` (before 5.14), so the caller falls back to signalling each process.
pub(crate) fn cgroup_kill(dir: &Path) -> Result<bool, CgroupError> {
    let file = dir.join("cgroup.kill");
    if !dir.is_dir() {
        return Err(CgroupError::NotFound {
            path: dir.to_path_buf(),
        });
    }
    if !file.exists() {
        return Ok(false);
    }
    match fsutil::write_raw(&file, "1") {
        Ok(()) => Ok(true),
        // Removed meanwhile (systemd removes a scope once its last process died): nothing
        // is left to kill.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENODEV)) => Ok(true),
        Err(source) => Err(CgroupError::Write {
            path: file,
            value: "1".into(),
            source,
        }),
    }
}

/// Sends `signal` to one process.
fn kill(pid: i32, signal: i32) -> io::Result<()> {
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::kill(pid, signal) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sends `signal` to each pid; processes that already exited (ESRCH) are fine.
pub(crate) fn signal_all(pids: &[i32], signal: i32) -> Result<(), CgroupError> {
    for &pid in pids.iter().filter(|p| **p > 0) {
        match kill(pid, signal) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
            Err(source) => {
                return Err(CgroupError::Signal {
                    pid,
                    signal,
                    source,
                })
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_procs() {
        assert_eq!(
            parse_procs(Path::new("x"), "1\n22\n333\n").unwrap(),
            vec![1, 22, 333]
        );
        assert!(parse_procs(Path::new("x"), "").unwrap().is_empty());
        assert!(parse_procs(Path::new("x"), "1\nabc\n").is_err());
    }
}
