//! The cases of `embed.rs`.

mod concurrent;
mod rootless;
mod single;

pub use concurrent::fifty_concurrent;
pub use rootless::{as_nobody, rootless_program};
pub use single::{
    joined_pid_namespace, killed_helper, killed_spare, refused_without_init, stdio_roundtrip,
    try_wait_and_pidfd, typed_errors, without_init,
};

use std::path::Path;

/// The cgroup parent of every container of this test process.
pub fn cgroup_parent() -> String {
    format!("/kiln-lt-{}", std::process::id())
}

/// Fails if anything of this test process is left: a child process (running
/// or unreaped), a cgroup under any hierarchy.
pub fn leftovers() -> Result<(), String> {
    let me = std::process::id().to_string();
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc")
        .map_err(|e| e.to_string())?
        .flatten()
    {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid …
        let after = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or_default();
        if after.split(' ').nth(1) == Some(me.as_str()) {
            children.push(format!(
                "{} {}",
                entry.file_name().to_string_lossy(),
                stat.trim()
            ));
        }
    }
    if !children.is_empty() {
        return Err(format!("child processes left: {children:?}"));
    }
    for dir in cgroup_parent_dirs()? {
        if has_cgroup_children(&dir) {
            return Err(format!("cgroup left: {}", dir.display()));
        }
    }
    Ok(())
}

fn has_cgroup_children(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().any(|e| e.path().is_dir()))
        .unwrap_or(false)
}

pub use crate::common::process;

/// Removes this test process' cgroup parents, and what a failed case left in them: its
/// containers' processes (started by this test) are killed, their cgroups removed.
pub fn remove_cgroup_parent() {
    for dir in cgroup_parent_dirs().unwrap_or_default() {
        let children: Vec<_> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        for child in children {
            kill_cgroup(&child);
        }
        if let Err(e) = std::fs::remove_dir(&dir) {
            eprintln!("could not remove {}: {e}", dir.display());
        }
    }
}

/// SIGKILLs the processes of a container cgroup this test made and removes it.
fn kill_cgroup(dir: &Path) {
    for _ in 0..100 {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        let pids: Vec<i32> = procs
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        if pids.is_empty() && std::fs::remove_dir(dir).is_ok() {
            return;
        }
        for pid in pids {
            // SAFETY: kill(2) of a process in a cgroup this test created for its container.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    eprintln!("could not remove {}", dir.display());
}

/// This test process' cgroup parent in each hierarchy where it exists: under
/// /sys/fs/cgroup itself (cgroup v2) and under each v1 hierarchy.
fn cgroup_parent_dirs() -> Result<Vec<std::path::PathBuf>, String> {
    let parent = cgroup_parent();
    let name = parent.trim_start_matches('/');
    let top = Path::new("/sys/fs/cgroup");
    let mut dirs = vec![top.join(name)];
    for h in std::fs::read_dir(top).map_err(|e| e.to_string())?.flatten() {
        dirs.push(h.path().join(name));
    }
    dirs.retain(|d| d.is_dir());
    Ok(dirs)
}
