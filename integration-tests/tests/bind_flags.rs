//! Per-mount flags of bind mounts, as runc's suite (mounts_sshfs.bats) pins them: with no flag
//! option a bind keeps its source's flags; with any, the flags not asked for are cleared, except
//! that in a user namespace the source's locked flags (ro, nosuid, nodev, noexec) are kept unless
//! explicitly cleared, which fails. Atime only changes when a word sets it.

use kiln_integration_tests::mountinfo::HostTmpfs;
use kiln_integration_tests::{Container, Output};
use nix::mount::{mount, MsFlags};
use std::os::unix::fs::PermissionsExt;

/// A host tmpfs remounted with `flags`, bind-mounted at /mnt with `options`: the container's
/// view of /mnt's per-mount flags (`ro,nosuid,...`), or the failed run.
fn bind_flags(tag: &str, flags: MsFlags, options: &[&str], userns: bool) -> Result<String, Output> {
    let dir = tempfile::tempdir().expect("temp dir");
    let _tmpfs = HostTmpfs::mount(dir.path()).expect("host tmpfs");
    let remount = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | flags;
    mount(
        None::<&str>,
        dir.path(),
        None::<&str>,
        remount,
        None::<&str>,
    )
    .expect("remount");
    let mut c = Container::new(tag);
    // The mount point exists (container root in a user namespace cannot make it).
    std::fs::create_dir_all(c.rootfs().join("mnt")).expect("mkdir rootfs/mnt");
    c.config()
        .mount("/mnt", "bind", dir.path().to_str().expect("utf-8"), options)
        .sh("awk '$2 == \"/mnt\" { print $4 }' /proc/self/mounts");
    if userns {
        c.config()
            .namespace("user", None)
            .uid_mapping(0, 100_000, 65_536)
            .gid_mapping(0, 100_000, 65_536);
    }
    let out = c.run_with(&[]);
    if out.success() {
        Ok(out.stdout.trim().to_string())
    } else {
        Err(out)
    }
}

fn words(flags: &str) -> Vec<&str> {
    flags.split(',').collect()
}

#[test]
fn bind_without_flag_options_keeps_the_source_s_flags() {
    let src = MsFlags::MS_RDONLY | MsFlags::MS_NOEXEC | MsFlags::MS_NODIRATIME;
    for userns in [false, true] {
        let got = bind_flags("bfkeep", src, &["bind"], userns).expect("run");
        for w in ["ro", "noexec", "nodiratime"] {
            assert!(words(&got).contains(&w), "userns {userns}: {got}");
        }
    }
}

#[test]
fn a_flag_option_clears_the_flags_not_asked_for_unless_locked() {
    // runc differs: runc 1.1 keeps every flag of the source a bind mount does not mention
    // (current runc and its suite clear them, as kiln does).
    if kiln_integration_tests::skip_for_runc("bind keeps the flags it does not mention") {
        return;
    }
    let src =
        MsFlags::MS_RDONLY | MsFlags::MS_NOEXEC | MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW);
    let got = bind_flags("bfclear", src, &["bind", "dev"], false).expect("run");
    let w = words(&got);
    assert!(w.contains(&"rw") && !w.contains(&"noexec"), "{got}");
    assert!(!w.contains(&"nosymfollow"), "{got}");
    // In a user namespace ro and noexec are locked: kept. nosymfollow is not lockable.
    let got = bind_flags("bfclearus", src, &["bind", "dev"], true).expect("run");
    let w = words(&got);
    assert!(w.contains(&"ro") && w.contains(&"noexec"), "{got}");
    assert!(!w.contains(&"nosymfollow"), "{got}");
    // Clearing a locked flag explicitly fails.
    let out = bind_flags("bfrw", MsFlags::MS_RDONLY, &["bind", "rw"], true)
        .expect_err("rw over a locked ro must fail");
    assert!(out.stderr.contains("/mnt"), "{}", out.describe());
}

#[test]
fn atime_changes_only_when_a_word_sets_it() {
    let noatime = MsFlags::MS_NOATIME;
    for opts in [
        &["bind", "atime"][..],
        &["bind", "norelatime"],
        &["bind", "dev"],
    ] {
        let got = bind_flags("bfatime", noatime, opts, false).expect("run");
        assert!(words(&got).contains(&"noatime"), "{opts:?}: {got}");
    }
    let got = bind_flags("bfrel", noatime, &["bind", "relatime"], false).expect("run");
    assert!(words(&got).contains(&"relatime"), "{got}");
    let got = bind_flags("bfdir", noatime, &["bind", "nodiratime"], false).expect("run");
    let w = words(&got);
    assert!(
        w.contains(&"nodiratime") && w.contains(&"relatime"),
        "{got}"
    );
    assert!(!w.contains(&"noatime"), "{got}");
}

#[test]
fn user_namespace_bind_source_under_a_directory_the_container_root_cannot_search() {
    // The host directory is 0700 (root only); its child is world-readable. The container's root
    // is host uid 100000: it could not resolve the source path itself (kiln once failed with
    // `open_tree …: EACCES`); runc and crun open such sources with the runtime's credentials.
    let private = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700))
        .expect("chmod");
    let shared = private.path().join("data");
    std::fs::create_dir(&shared).expect("mkdir");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::write(shared.join("f"), "through the mapping\n").expect("write");
    let mut c = Container::new("usernsbind");
    std::fs::create_dir_all(c.rootfs().join("mnt")).expect("mkdir rootfs/mnt");
    c.config()
        .namespace("user", None)
        .uid_mapping(0, 100_000, 65_536)
        .gid_mapping(0, 100_000, 65_536)
        .mount(
            "/mnt",
            "bind",
            shared.to_str().expect("utf-8"),
            &["rbind", "ro"],
        )
        .sh("cat /mnt/f; touch /mnt/g 2>/dev/null && echo writable || echo read-only");
    let out = c.run_with(&[]).expect_success();
    assert_eq!(
        out.stdout,
        "through the mapping\nread-only\n",
        "{}",
        out.describe()
    );
}
