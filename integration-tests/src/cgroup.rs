//! Where the tests' containers live in the host's cgroup hierarchies, and their clean-up.

use std::path::PathBuf;
use std::sync::Mutex;

/// The parent (below every hierarchy's root) of all test containers' cgroups.
pub const PARENT: &str = "kiln-it";

/// Root of the cgroup mounts.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// `linux.cgroupsPath` for container `id`: `/kiln-it/<id>`.
pub fn cgroups_path(id: &str) -> String {
    format!("/{PARENT}/{id}")
}

/// Every hierarchy mounted under /sys/fs/cgroup (v1 controllers and the unified one).
fn hierarchies() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(CGROUP_ROOT) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("cgroup.procs").exists())
        .collect();
    // On a pure v2 host /sys/fs/cgroup itself is the hierarchy.
    if std::path::Path::new(CGROUP_ROOT)
        .join("cgroup.procs")
        .exists()
    {
        dirs.push(PathBuf::from(CGROUP_ROOT));
    }
    dirs
}

/// The cgroup directories of container `id` that still exist.
pub fn leftovers(id: &str) -> Vec<PathBuf> {
    hierarchies()
        .into_iter()
        .map(|h| h.join(PARENT).join(id))
        .filter(|p| p.exists())
        .collect()
}

/// The pids in container `id`'s cgroup (read from the first hierarchy that has it).
pub fn procs(id: &str) -> Vec<i32> {
    leftovers(id)
        .first()
        .and_then(|dir| std::fs::read_to_string(dir.join("cgroup.procs")).ok())
        .map(|text| text.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// How many test containers of this process may currently own cgroups.
static LIVE: Mutex<usize> = Mutex::new(0);

/// Registers a container that may create cgroups under [`PARENT`].
pub fn register() {
    let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    *live += 1;
}

/// Unregisters a container; the last one removes the (empty) `kiln-it` parents.
pub fn unregister() {
    let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    *live = live.saturating_sub(1);
    if *live == 0 {
        for hierarchy in hierarchies() {
            let parent = hierarchy.join(PARENT);
            // rmdir only succeeds on a cgroup without children: never removes anything in use.
            let _ = std::fs::remove_dir(parent);
        }
    }
}

/// Whether /sys/fs/cgroup is a pure cgroup v2 hierarchy. When not, prints `SKIP` (this host
/// is hybrid: `make test-v2` runs such tests in the v2 VM) — unless `KILN_REQUIRE_V2` is set,
/// which turns the skip into a failure.
#[track_caller]
pub fn v2_host() -> bool {
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    if !v2 {
        assert!(
            std::env::var_os("KILN_REQUIRE_V2").is_none(),
            "KILN_REQUIRE_V2 set but the host is not pure cgroup v2"
        );
        println!("SKIP: not a pure cgroup v2 host");
    }
    v2
}
