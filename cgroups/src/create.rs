//! Making and removing the container's cgroup directories.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use crate::layout::Layout;
use crate::manager::Hierarchy;
use crate::{fsutil, CgroupError};

/// Creates `rel` under `h.mount`, one level at a time, appending what it made to `created`.
pub(crate) fn create_in(
    h: &Hierarchy,
    rel: &Path,
    layout: Layout,
    created: &mut Vec<PathBuf>,
) -> Result<(), CgroupError> {
    // A shared parent (e.g. /kiln) can be removed by another container's
    // destroy between our mkdir of it and of the next component (ENOENT):
    // start again from the top a few times.
    let mut attempts = 0;
    loop {
        match create_path(h, rel, layout, created) {
            Err(CgroupError::Mkdir { ref source, .. })
                if source.kind() == io::ErrorKind::NotFound && attempts < 8 =>
            {
                attempts += 1;
            }
            other => return other,
        }
    }
}

fn create_path(
    h: &Hierarchy,
    rel: &Path,
    layout: Layout,
    created: &mut Vec<PathBuf>,
) -> Result<(), CgroupError> {
    let mut cur = h.mount.clone();
    for comp in rel.components() {
        let parent = cur.clone();
        cur.push(comp);
        if layout == Layout::V2 {
            enable_subtree_controllers(&parent)?;
        }
        match fs::create_dir(&cur) {
            Ok(()) => created.push(cur.clone()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(source) => return Err(CgroupError::Mkdir { path: cur, source }),
        }
        if h.controllers.contains(&"cpuset") {
            inherit_cpuset(&parent, &cur)?;
        }
    }
    Ok(())
}

/// v1: a cpuset cgroup with empty `cpuset.cpus`/`cpuset.mems` cannot take tasks; fill empty
/// ones from the parent (only empty ones, so configured values are never overwritten).
fn inherit_cpuset(parent: &Path, dir: &Path) -> Result<(), CgroupError> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let own = dir.join(file);
        if !fsutil::read(&own)?.trim().is_empty() {
            continue;
        }
        let from_parent = fsutil::read(&parent.join(file))?;
        let value = from_parent.trim();
        if !value.is_empty() {
            fsutil::write(&own, value)?;
        }
    }
    Ok(())
}

/// v2: enables in `dir`'s `cgroup.subtree_control` every controller `dir` itself has, so its
/// children get them (what runc does for each ancestor). Controllers that cannot be enabled
/// (e.g. `dir` holds processes) are skipped: applying a resource of theirs then fails with a
/// clear "file does not exist" error naming the field.
fn enable_subtree_controllers(dir: &Path) -> Result<(), CgroupError> {
    let available = fsutil::read(&dir.join("cgroup.controllers"))?;
    let control = dir.join("cgroup.subtree_control");
    let enabled = fsutil::read(&control)?;
    let enabled: Vec<&str> = enabled.split_whitespace().collect();
    for c in available
        .split_whitespace()
        .filter(|c| !enabled.contains(c))
    {
        let _ = fsutil::write_raw(&control, &format!("+{c}"));
    }
    Ok(())
}

/// Removes the container's directory in `h` (sub-cgroups first), then the directories in
/// `created` that belong to this hierarchy, innermost first, if they are unused.
pub(crate) fn destroy_in(h: &Hierarchy, created: &[PathBuf]) -> Result<(), CgroupError> {
    remove_tree(&h.dir)?;
    let mut parents: Vec<&PathBuf> = created
        .iter()
        .filter(|p| p.starts_with(&h.mount) && *p != &h.mount && !p.starts_with(&h.dir))
        .collect();
    parents.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in parents {
        match fs::remove_dir(p) {
            Ok(()) => {}
            // Gone already, or still used by another container: leave it.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOENT | libc::EBUSY | libc::ENOTEMPTY)
                ) => {}
            Err(source) => {
                return Err(CgroupError::Remove {
                    path: p.clone(),
                    source,
                })
            }
        }
    }
    Ok(())
}

/// Removes a cgroup directory and its sub-cgroups depth-first. Missing is fine; EBUSY (tasks
/// still exiting) is retried with a short backoff (about 2 s in total).
fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    for sub in fsutil::subdirs(dir)? {
        remove_tree(&sub)?;
    }
    let mut delay = Duration::from_millis(1);
    let mut waited = Duration::ZERO;
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && waited < Duration::from_secs(2) => {
                sleep(delay);
                waited += delay;
                delay = (delay * 2).min(Duration::from_millis(100));
            }
            Err(source) => {
                return Err(CgroupError::Remove {
                    path: dir.to_path_buf(),
                    source,
                })
            }
        }
    }
}
