//! Cgroup checks: the layout, the controllers that can be used, and plain directories left
//! on the `/sys/fs/cgroup` tmpfs. Hierarchies are the mounts of `/proc/self/mountinfo`
//! (read with kiln-cgroups' parser); nothing under `/sys/fs/cgroup` is ever changed.

use std::io;
use std::path::{Path, PathBuf};

use kiln_cgroups::mountinfo::{self, MountInfo};
use kiln_cgroups::{detect_layout, Layout, CGROUP_ROOT};
use nix::unistd::{access, AccessFlags};

use super::Check;

/// v1 controllers without which a typical container config fails or is not confined.
const V1_NEEDED: &[&str] = &[
    "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "pids", "blkio",
];

/// Superblock options of a v1 cgroup mount that are not controllers.
fn is_controller_option(opt: &str) -> bool {
    !matches!(
        opt,
        "rw" | "ro" | "xattr" | "clone_children" | "noprefix" | "cpuset_v2_mode" | "favordynmods"
    ) && !opt.starts_with("release_agent=")
        && !opt.starts_with("name=")
}

/// The mounts that are visible: a later mount hides earlier ones at or below its mount point.
fn visible(entries: &[MountInfo]) -> Vec<&MountInfo> {
    let mut out: Vec<&MountInfo> = Vec::new();
    for m in entries {
        out.retain(|v| !v.mount_point.starts_with(&m.mount_point));
        out.push(m);
    }
    out
}

/// The cgroup checks for this process.
pub(super) fn checks(unprivileged: bool) -> Vec<Check> {
    let path = Path::new(mountinfo::SELF);
    let entries = match mountinfo::read(path) {
        Ok(e) => e,
        Err(e) => {
            return vec![Check::fail(
                "cgroup layout",
                format!("reading {}: {e}", path.display()),
                "mount procfs: mount -t proc proc /proc",
            )]
        }
    };
    let layout = match detect_layout() {
        Ok(l) => l,
        Err(e) => {
            return vec![Check::fail(
                "cgroup layout",
                e.to_string(),
                format!("mount cgroup2: mount -t cgroup2 cgroup2 {CGROUP_ROOT}"),
            )]
        }
    };
    let mounts = visible(&entries);
    let mut out = vec![layout_check(layout)];
    if layout != Layout::V2 {
        out.extend(v1_controllers(&mounts, unprivileged));
    }
    if let Some(unified) = unified_mount(layout) {
        out.push(v2_controllers(&unified, layout, unprivileged));
    }
    out.push(stray_check(&mounts, layout));
    out
}

fn layout_check(layout: Layout) -> Check {
    let detail = match layout {
        Layout::V1 => format!("v1 (one hierarchy per controller under {CGROUP_ROOT})"),
        Layout::V2 => format!("v2 (unified hierarchy at {CGROUP_ROOT})"),
        Layout::Hybrid => format!("hybrid (v1 controllers, cgroup2 at {CGROUP_ROOT}/unified)"),
    };
    Check::ok("cgroup layout", detail)
}

fn unified_mount(layout: Layout) -> Option<PathBuf> {
    match layout {
        Layout::V1 => None,
        Layout::V2 => Some(PathBuf::from(CGROUP_ROOT)),
        Layout::Hybrid => Some(Path::new(CGROUP_ROOT).join("unified")),
    }
}

/// The controllers of the v1 hierarchies mounted directly under [`CGROUP_ROOT`].
pub(super) fn mounted_v1_controllers(mounts: &[&MountInfo]) -> Vec<String> {
    let root = Path::new(CGROUP_ROOT);
    let mut found: Vec<String> = mounts
        .iter()
        .filter(|m| m.fstype == "cgroup" && m.mount_point.parent() == Some(root))
        .flat_map(|m| m.super_options.split(','))
        .filter(|o| is_controller_option(o))
        .map(str::to_owned)
        .collect();
    found.sort();
    found.dedup();
    found
}

fn v1_controllers(mounts: &[&MountInfo], unprivileged: bool) -> Vec<Check> {
    let found = mounted_v1_controllers(mounts);
    let missing: Vec<&str> = V1_NEEDED
        .iter()
        .copied()
        .filter(|c| !found.iter().any(|f| f == c))
        .collect();
    let mut out = Vec::new();
    let detail = format!("mounted: {}", found.join(" "));
    if missing.is_empty() {
        out.push(Check::ok("cgroup v1 controllers", detail));
    } else {
        out.push(Check::warn(
            "cgroup v1 controllers",
            format!("{detail}; missing: {}", missing.join(" ")),
            format!(
                "mount it (as root): mkdir {CGROUP_ROOT}/{m} && mount -t cgroup -o {m} cgroup {CGROUP_ROOT}/{m}",
                m = missing[0]
            ),
        ));
    }
    if unprivileged {
        out.push(Check::warn(
            "cgroup v1 rootless",
            "v1 hierarchies belong to root: resource limits of rootless containers are not applied",
            "boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1) and a delegated user cgroup",
        ));
    }
    out
}

/// The controllers listed in `<dir>/cgroup.controllers` ("" when none).
fn read_controllers(dir: &Path) -> io::Result<String> {
    let text = std::fs::read_to_string(dir.join("cgroup.controllers"))?;
    Ok(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// This process's cgroup v2 path (the `0::` line of `/proc/self/cgroup`).
fn own_v2_cgroup() -> io::Result<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/cgroup")?;
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(PathBuf::from)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no 0:: line"))
}

/// v2 controllers the common limits (cpu, memory, pids) need.
const V2_NEEDED: &[&str] = &["cpu", "memory", "pids"];

/// The members of [`V2_NEEDED`] that `list` (a `cgroup.controllers` line) lacks.
fn v2_missing(list: &str) -> Vec<&'static str> {
    let have: Vec<&str> = list.split_whitespace().collect();
    V2_NEEDED
        .iter()
        .copied()
        .filter(|c| !have.contains(c))
        .collect()
}

fn v2_controllers(unified: &Path, layout: Layout, unprivileged: bool) -> Check {
    const NAME: &str = "cgroup v2 controllers";
    let list = match read_controllers(unified) {
        Ok(c) => c,
        Err(e) => {
            let file = unified.join("cgroup.controllers");
            let fix = format!("check the cgroup2 mount at {}", unified.display());
            return Check::fail(NAME, format!("reading {}: {e}", file.display()), fix);
        }
    };
    let root = match (list.is_empty(), layout) {
        (true, Layout::Hybrid) => format!("{}: none (all bound to v1)", unified.display()),
        _ => format!("{}: {list}", unified.display()),
    };
    if unprivileged {
        return delegation(NAME, unified, layout, root);
    }
    let missing = v2_missing(&list);
    if layout == Layout::V2 && !missing.is_empty() {
        let detail = format!("{root}; missing: {}", missing.join(" "));
        let fix = "remove cgroup_disable=… and cgroup_no_v1=… from the kernel command line";
        return Check::warn(NAME, detail, fix);
    }
    Check::ok(NAME, root)
}

/// For an unprivileged caller: the controllers of its own cgroup and whether it may write
/// there (delegation).
fn delegation(name: &str, unified: &Path, layout: Layout, root: String) -> Check {
    let own = match own_v2_cgroup() {
        Ok(p) => p,
        Err(e) => {
            let detail = format!("{root}; /proc/self/cgroup: {e}");
            return Check::warn(name, detail, "mount procfs: mount -t proc proc /proc");
        }
    };
    let dir = unified.join(own.strip_prefix("/").unwrap_or(&own));
    let (delegated, missing) = match read_controllers(&dir) {
        Ok(c) => (c.clone(), v2_missing(&c)),
        Err(e) => (format!("unreadable ({e})"), V2_NEEDED.to_vec()),
    };
    let writable = access(&dir, AccessFlags::W_OK).is_ok()
        && access(&dir.join("cgroup.procs"), AccessFlags::W_OK).is_ok();
    let detail = format!(
        "{root}; your cgroup {}: {}, {}",
        own.display(),
        if delegated.is_empty() {
            "none"
        } else {
            &delegated
        },
        if writable { "writable" } else { "not writable" }
    );
    if layout != Layout::V2 {
        // Hybrid: no controller lives in cgroup2 ("cgroup v1 rootless" says what to do).
        Check::ok(name, detail)
    } else if !writable {
        let fix = format!(
            "delegate a cgroup: systemd-run --user --scope -p Delegate=yes kiln …, or as root chown uid {} a cgroup under {}",
            nix::unistd::geteuid(),
            unified.display()
        );
        Check::warn(name, detail, fix)
    } else if !missing.is_empty() {
        let fix = "as root: mkdir -p /etc/systemd/system/user@.service.d && printf '[Service]\\nDelegate=cpu cpuset io memory pids\\n' > /etc/systemd/system/user@.service.d/delegate.conf && systemctl daemon-reload, then log in again";
        Check::warn(
            name,
            format!("{detail}; not delegated: {}", missing.join(" ")),
            fix,
        )
    } else {
        Check::ok(name, detail)
    }
}

/// Plain directories directly under `root` that are not mount points of `mounts` (left on a
/// tmpfs `/sys/fs/cgroup` by other tools; they are not hierarchies). Sorted names.
pub fn stray_directories(root: &Path, mounts: &[&MountInfo]) -> io::Result<Vec<String>> {
    let mut stray = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let path = entry.path();
        if !mounts.iter().any(|m| m.mount_point == path) {
            stray.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    stray.sort();
    Ok(stray)
}

fn stray_check(mounts: &[&MountInfo], layout: Layout) -> Check {
    const NAME: &str = "cgroup stray directories";
    if layout == Layout::V2 {
        return Check::ok(NAME, format!("none ({CGROUP_ROOT} is the cgroup2 mount)"));
    }
    match stray_directories(Path::new(CGROUP_ROOT), mounts) {
        Ok(s) if s.is_empty() => Check::ok(NAME, "none"),
        Ok(s) => Check::warn(
            NAME,
            format!(
                "plain directories (not cgroup mounts, ignored by kiln): {}",
                s.join(" ")
            ),
            format!(
                "if nothing uses them, remove them as root: cd {CGROUP_ROOT} && rmdir {}",
                s.join(" ")
            ),
        ),
        Err(e) => Check::warn(
            NAME,
            format!("listing {CGROUP_ROOT}: {e}"),
            format!("make {CGROUP_ROOT} readable: ls -ld {CGROUP_ROOT}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_missing_names_the_needed_controllers_absent_from_the_list() {
        assert!(v2_missing("cpuset cpu io memory hugetlb pids rdma").is_empty());
        assert_eq!(v2_missing("cpu io"), ["memory", "pids"]);
        assert_eq!(v2_missing(""), ["cpu", "memory", "pids"]);
        // Whole names only: "cpuset" is not "cpu".
        assert_eq!(v2_missing("cpuset memory pids"), ["cpu"]);
    }

    fn fake_tree(dirs: &[&str]) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        for d in dirs {
            std::fs::create_dir(tmp.path().join(d)).unwrap();
        }
        std::fs::write(tmp.path().join("a-file"), "").unwrap();
        tmp
    }

    #[test]
    fn stray_directories_are_the_ones_without_a_mount() {
        let tmp = fake_tree(&["cpu", "memory", "hugetlb", "net_cls", "unified"]);
        let root = tmp.path().display().to_string();
        let text = format!(
            "31 23 0:28 / {root} rw - tmpfs tmpfs rw\n\
             32 31 0:29 / {root}/cpu rw - cgroup cgroup rw,cpu\n\
             35 31 0:32 / {root}/memory rw - cgroup cgroup rw,memory\n\
             41 31 0:38 / {root}/unified rw - cgroup2 cgroup2 rw\n"
        );
        let entries = mountinfo::parse(&text);
        let mounts = visible(&entries);
        let stray = stray_directories(tmp.path(), &mounts).unwrap();
        assert_eq!(stray, ["hugetlb", "net_cls"]);
    }

    #[test]
    fn a_hidden_mount_leaves_its_directory_stray_only_if_nothing_is_mounted() {
        let tmp = fake_tree(&["pids"]);
        let root = tmp.path().display().to_string();
        // A tmpfs mounted over the hierarchy: still a mount point, so not a plain directory.
        let text = format!(
            "39 31 0:36 / {root}/pids rw - cgroup cgroup rw,pids\n\
             50 39 0:60 / {root}/pids rw - tmpfs tmpfs rw\n"
        );
        let entries = mountinfo::parse(&text);
        let mounts = visible(&entries);
        assert_eq!(mounts.len(), 1);
        assert!(stray_directories(tmp.path(), &mounts).unwrap().is_empty());
        assert!(stray_directories(&tmp.path().join("missing"), &mounts).is_err());
    }

    #[test]
    fn v1_controllers_come_from_the_superblock_options() {
        let text = "\
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
36 31 0:33 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,release_agent=/x,name=systemd
37 31 0:34 / /sys/fs/cgroup/memory/deeper rw - cgroup cgroup rw,pids
38 31 0:35 / /sys/fs/cgroup/hugetlb rw - tmpfs tmpfs rw,hugetlb
";
        let entries = mountinfo::parse(text);
        let found = mounted_v1_controllers(&visible(&entries));
        assert_eq!(found, ["cpu", "cpuacct"]);
        let checks = v1_controllers(&visible(&entries), false);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].status, super::super::Status::Warn);
        assert!(
            checks[0].detail.contains("missing: cpuset memory"),
            "{checks:?}"
        );
    }
}
