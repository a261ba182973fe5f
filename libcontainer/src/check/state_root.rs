//! The state root check: where `kiln` keeps container state, whether it can be used, and on
//! what filesystem. Nothing is created: a missing root is judged by its nearest parent.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::sys::statfs::{
    statfs, FsType, BTRFS_SUPER_MAGIC, EXT4_SUPER_MAGIC, FUSE_SUPER_MAGIC, NFS_SUPER_MAGIC,
    OVERLAYFS_SUPER_MAGIC, TMPFS_MAGIC, XFS_SUPER_MAGIC,
};
use nix::unistd::{access, AccessFlags};

use super::Check;

const NAME: &str = "state root";
const FS_NAME: &str = "state root filesystem";

/// Filesystem names for the magic numbers of statfs(2) worth naming here.
const FS_TYPES: &[(FsType, &str)] = &[
    (TMPFS_MAGIC, "tmpfs"),
    (NFS_SUPER_MAGIC, "nfs"),
    (OVERLAYFS_SUPER_MAGIC, "overlay"),
    (EXT4_SUPER_MAGIC, "ext4"),
    (XFS_SUPER_MAGIC, "xfs"),
    (BTRFS_SUPER_MAGIC, "btrfs"),
    (FUSE_SUPER_MAGIC, "fuse"),
];

/// The name of a statfs filesystem type (hex when unknown).
pub(super) fn fs_name(t: FsType) -> String {
    FS_TYPES
        .iter()
        .find(|(m, _)| *m == t)
        .map_or_else(|| format!("{:#x}", t.0), |(_, n)| (*n).to_owned())
}

/// The state root checks for `root`.
pub(super) fn checks(root: &Path, unprivileged: bool) -> Vec<Check> {
    let existing = root
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"));
    let location = if existing == root {
        existing_root(root, unprivileged)
    } else {
        missing_root(root, existing)
    };
    vec![location, filesystem(root, existing)]
}

fn existing_root(root: &Path, unprivileged: bool) -> Check {
    let shown = root.display();
    let meta = match std::fs::metadata(root) {
        Ok(m) => m,
        Err(e) => return Check::fail(NAME, format!("{shown}: {e}"), "pass --root DIR"),
    };
    if !meta.is_dir() {
        let fix = format!("remove {shown} or pass --root DIR");
        return Check::fail(NAME, format!("{shown} is not a directory"), fix);
    }
    let uid = nix::unistd::geteuid().as_raw();
    let detail = format!(
        "{shown} exists (owner uid {}, mode {:o})",
        meta.uid(),
        meta.mode() & 0o7777
    );
    if access(root, AccessFlags::W_OK | AccessFlags::X_OK).is_err() {
        let fix = format!("as root: chown {uid} {shown}, or pass --root DIR");
        return Check::fail(NAME, format!("{detail}: not writable by you"), fix);
    }
    if unprivileged && (meta.uid() != uid || meta.mode() & 0o022 != 0) {
        let fix = format!("chmod 700 {shown} (it must be yours alone), or pass --root DIR");
        return Check::fail(NAME, format!("{detail}: kiln refuses a shared root"), fix);
    }
    Check::ok(NAME, detail)
}

fn missing_root(root: &Path, parent: &Path) -> Check {
    let detail = format!(
        "{} does not exist yet; {} ",
        root.display(),
        parent.display()
    );
    if access(parent, AccessFlags::W_OK | AccessFlags::X_OK).is_ok() {
        Check::ok(NAME, detail + "is writable: kiln creates it")
    } else {
        Check::fail(
            NAME,
            detail + "is not writable by you: kiln cannot create it",
            format!(
                "as root: mkdir -p {} and chown it to you, or pass --root DIR",
                root.display()
            ),
        )
    }
}

fn filesystem(root: &Path, existing: &Path) -> Check {
    let fs = match statfs(existing) {
        Ok(s) => fs_name(s.filesystem_type()),
        Err(e) => {
            let detail = format!("statfs {}: {e}", existing.display());
            return Check::warn(
                FS_NAME,
                detail,
                "pass --root DIR on a tmpfs (e.g. under /run)",
            );
        }
    };
    let detail = format!("{fs} ({})", existing.display());
    match fs.as_str() {
        "tmpfs" => Check::ok(FS_NAME, detail),
        "nfs" | "overlay" | "fuse" => Check::warn(
            FS_NAME,
            format!(
                "{detail}: state on {fs} may be stale after reboot or lack the locking kiln needs"
            ),
            tmpfs_fix(root),
        ),
        _ => Check::warn(
            FS_NAME,
            format!("{detail}: not a tmpfs, so state outlives a reboot (stale containers)"),
            tmpfs_fix(root),
        ),
    }
}

fn tmpfs_fix(root: &Path) -> String {
    format!(
        "pass --root on a tmpfs instead of {} (e.g. --root /dev/shm/kiln), or mount /run as tmpfs at boot",
        root.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Status;

    #[test]
    fn a_missing_root_is_judged_by_its_parent_and_not_created() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("a/b/kiln");
        let checks = checks(&root, false);
        assert_eq!(checks[0].status, Status::Ok, "{checks:?}");
        assert!(checks[0].detail.contains("does not exist"), "{checks:?}");
        assert!(!tmp.path().join("a").exists());
        assert!(checks[1].detail.contains(&tmp.path().display().to_string()));
    }

    #[test]
    fn a_file_is_not_a_state_root() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        std::fs::write(&file, "").unwrap();
        let c = existing_root(&file, false);
        assert_eq!(c.status, Status::Fail);
        assert!(c.fix.is_some());
    }

    #[test]
    fn filesystem_names() {
        assert_eq!(fs_name(TMPFS_MAGIC), "tmpfs");
        assert_eq!(fs_name(FsType(0x1234)), "0x1234");
        let c = filesystem(Path::new("/dev/shm/x"), Path::new("/dev/shm"));
        assert_eq!(c.status, Status::Ok, "{c:?}");
    }
}
