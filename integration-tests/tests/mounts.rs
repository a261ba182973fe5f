//! Mounts, read-only root, masked and read-only paths, devices.

use std::path::Path;

use kiln_integration_tests::mountinfo::{self, HostTmpfs, MountInfo};
use kiln_integration_tests::{Container, Device, ScratchDir};
use std::os::unix::fs::PermissionsExt;

/// Splits output at lines `--` into sections.
fn sections(out: &str) -> Vec<String> {
    out.split("--\n").map(str::to_string).collect()
}

/// The first mount at `point`.
fn mount_at<'a>(mounts: &'a [MountInfo], point: &str) -> &'a MountInfo {
    mounts
        .iter()
        .find(|m| m.mount_point == Path::new(point))
        .unwrap_or_else(|| panic!("no mount at {point} in {mounts:#?}"))
}

#[test]
fn config_mounts_appear_in_order_with_their_options() {
    let ro_dir = ScratchDir::new("ro").expect("scratch");
    std::fs::write(ro_dir.join("file"), "ro-content").expect("write");
    let rbind_dir = ScratchDir::new("rbind").expect("scratch");
    std::fs::create_dir(rbind_dir.join("sub")).expect("mkdir");
    let sub = HostTmpfs::mount(&rbind_dir.join("sub")).expect("host tmpfs");
    std::fs::write(rbind_dir.join("sub/file"), "sub-content").expect("write");

    let mut c = Container::new("mounts");
    c.config()
        .mount("/mnt/tmp", "tmpfs", "tmpfs", &["size=1m", "mode=700"])
        .bind(&ro_dir.path().to_string_lossy(), "/mnt/ro", false, &["ro"])
        .bind(&rbind_dir.path().to_string_lossy(), "/mnt/rbind", true, &[]);
    let out = c.sh(
        "cat /proc/self/mountinfo; echo --; stat -c %a /mnt/tmp; echo --; cat /mnt/ro/file; \
         touch /mnt/ro/new 2>&1; echo --; cat /mnt/rbind/sub/file",
    );
    let parts = sections(&out);
    assert_eq!(parts.len(), 4, "{out}");
    let mounts = mountinfo::parse(&parts[0]);

    let wanted: Vec<String> = c.bundle().config().value()["mounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .filter_map(|m| m["destination"].as_str().map(str::to_string))
        .collect();
    let positions: Vec<usize> = wanted
        .iter()
        .map(|dest| {
            mounts
                .iter()
                .position(|m| m.mount_point == Path::new(dest))
                .unwrap_or_else(|| panic!("{dest} not mounted: {mounts:#?}"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "mounts out of order {wanted:?} at {positions:?}"
    );

    let tmp = mount_at(&mounts, "/mnt/tmp");
    assert_eq!(tmp.fstype, "tmpfs");
    assert!(
        tmp.has_super_option("size=1024k") && tmp.has_super_option("mode=700"),
        "{tmp:?}"
    );
    assert_eq!(parts[1].trim(), "700");

    assert!(mount_at(&mounts, "/mnt/ro").has_option("ro"));
    assert!(parts[2].starts_with("ro-content"), "{}", parts[2]);
    assert!(parts[2].contains("Read-only file system"), "{}", parts[2]);
    assert!(!ro_dir.join("new").exists());

    assert_eq!(mount_at(&mounts, "/mnt/rbind/sub").fstype, "tmpfs");
    assert_eq!(parts[3], "sub-content");
    drop(c);
    drop(sub);
}

#[test]
fn readonly_root() {
    let mut c = Container::new("roroot");
    c.config().root_readonly(true);
    let out = c.sh("touch /new 2>&1; echo --; cat /proc/self/mountinfo");
    let parts = sections(&out);
    assert!(parts[0].contains("Read-only file system"), "{out}");
    let root = mount_at(&mountinfo::parse(&parts[1]), "/").clone();
    assert!(root.has_option("ro"), "{root:?}");
    assert!(!c.rootfs().join("new").exists());
}

#[test]
fn masked_paths_are_empty() {
    let mut c = Container::new("masked");
    std::fs::write(c.rootfs().join("secretfile"), "secret").expect("write");
    std::fs::create_dir(c.rootfs().join("secretdir")).expect("mkdir");
    std::fs::write(c.rootfs().join("secretdir/inner"), "secret").expect("write");
    c.config().masked_paths(&["/secretfile", "/secretdir"]);
    // /proc/timer_list is in the default maskedPaths and always has content when unmasked.
    let timer_list = if std::path::Path::new("/proc/timer_list").exists() {
        "/proc/timer_list"
    } else {
        ""
    };
    let out = c.sh(&format!(
        "cat /secretfile; ls -A /secretdir; cat {timer_list}; echo rc=$?"
    ));
    assert_eq!(out, "rc=0\n", "masked paths are readable");
}

#[test]
fn readonly_paths_are_not_writable() {
    let mut c = Container::new("ropaths");
    std::fs::create_dir(c.rootfs().join("rodir")).expect("mkdir");
    c.config().readonly_paths(&["/rodir"]);
    let out = c.sh("touch /rodir/x 2>&1; echo --; echo x 2>&1 > /proc/sys/kernel/domainname; echo --; cat /proc/self/mountinfo");
    let parts = sections(&out);
    assert!(parts[0].contains("Read-only file system"), "/rodir: {out}");
    assert!(
        parts[1].contains("Read-only file system"),
        "/proc/sys: {out}"
    );
    let mounts = mountinfo::parse(&parts[2]);
    for path in ["/rodir", "/proc/sys"] {
        assert!(mount_at(&mounts, path).has_option("ro"), "{path}");
    }
}

#[test]
fn default_devices() {
    let mut c = Container::new("devices");
    let out = c.sh("cd /dev && stat -c '%n %F %t:%T %a' null zero full random urandom tty");
    let expected = [
        ("null", "1:3"),
        ("zero", "1:5"),
        ("full", "1:7"),
        ("random", "1:8"),
        ("urandom", "1:9"),
        ("tty", "5:0"),
    ];
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), expected.len(), "{out}");
    for ((name, dev), line) in expected.iter().zip(&lines) {
        assert_eq!(*line, format!("{name} character special file {dev} 666"));
    }
}

#[test]
fn configured_device_is_created() {
    let mut c = Container::new("mknod");
    c.config().device(&Device {
        path: "/dev/mynull".into(),
        kind: 'c',
        major: 1,
        minor: 3,
        file_mode: Some(0o644),
        uid: Some(1000),
        gid: Some(1000),
    });
    let out = c.sh("stat -c '%F %t:%T %a %u %g' /dev/mynull");
    assert_eq!(out.trim(), "character special file 1:3 644 1000 1000");
}

#[test]
fn dev_symlinks_and_ptmx() {
    let mut c = Container::new("devlinks");
    let out = c.sh(
        "for l in fd stdin stdout stderr; do readlink /dev/$l; done; stat -L -c '%d:%i' /dev/ptmx /dev/pts/ptmx",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.get(..4),
        Some(
            &[
                "/proc/self/fd",
                "/proc/self/fd/0",
                "/proc/self/fd/1",
                "/proc/self/fd/2"
            ][..]
        ),
        "{out}"
    );
    assert_eq!(lines.len(), 6, "{out}");
    assert_eq!(lines[4], lines[5], "/dev/ptmx is not /dev/pts/ptmx: {out}");
}

#[test]
fn no_pivot() {
    let mut c = Container::new("nopivot");
    c.config().sh("ls /");
    let out = c.run_with(&["--no-pivot"]).expect_success().stdout;
    let entries: Vec<&str> = out.lines().collect();
    assert!(
        entries.contains(&"bin") && entries.contains(&"proc"),
        "{out}"
    );
    assert!(
        !entries.contains(&"work"),
        "the host root is visible: {out}"
    );
}

#[test]
fn tmpcopyup_fills_a_tmpfs_with_what_it_hides() {
    // podman --read-only mounts /tmp, /var/tmp and /run this way.
    let mut c = Container::new("copyup");
    c.config()
        .mount("/etc", "tmpfs", "tmpfs", &["nosuid", "nodev", "tmpcopyup"]);
    let out = c.sh("grep -c root /etc/passwd; stat -c '%a %U' /etc/passwd; grep ' /etc ' /proc/self/mounts | cut -d' ' -f3; echo new > /etc/x && cat /etc/x");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1", "image's /etc/passwd not copied: {out}");
    assert_eq!(lines[1], "644 root", "{out}");
    assert_eq!(lines[2], "tmpfs", "{out}");
    assert_eq!(lines[3], "new", "{out}");
    // The image itself is untouched.
    assert!(!c.rootfs().join("etc/x").exists());
}

#[test]
fn tmpfs_without_mode_takes_the_mountpoint_s_mode() {
    let mut c = Container::new("tmpfsmode");
    for (dir, mode) in [("m712", 0o712), ("m700", 0o700)] {
        let path = c.rootfs().join(dir);
        std::fs::create_dir(&path).expect("mkdir");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    c.config()
        .mount("/m712", "tmpfs", "tmpfs", &["nosuid", "size=1m"])
        .mount("/m700", "tmpfs", "tmpfs", &["mode=755"])
        .mount("/created", "tmpfs", "tmpfs", &["nosuid"]);
    let out = c.sh("stat -c %a /m712 /created /m700; grep -c ' /m712 tmpfs ' /proc/self/mounts");
    let lines: Vec<&str> = out.lines().collect();
    // A mount point the runtime creates gets tmpfs' own default, 1777.
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(lines[..2], ["712", "1777"], "{out}");
    assert_eq!(lines[3], "1", "{out}");
    // runc differs: runc 1.1 chmods the tmpfs to the mount point's mode even over an explicit mode=.
    if !kiln_integration_tests::skip_for_runc("an explicit mode= loses to the mount point's mode") {
        assert_eq!(lines[2], "755", "an explicit mode= must win: {out}");
    }
}

#[test]
fn a_masked_path_listed_twice_is_masked_once() {
    // runc differs: runc 1.1 mounts over it twice (current runc masks once).
    if kiln_integration_tests::skip_for_runc("masks a duplicate path twice") {
        return;
    }
    let mut c = Container::new("maskdup");
    std::fs::create_dir_all(c.rootfs().join("testdir")).expect("mkdir");
    std::fs::write(c.rootfs().join("testfile"), "secret\n").expect("write");
    c.config()
        .masked_paths(&["/testdir", "/testfile", "/testdir", "/testfile"])
        .sh("grep -c ' /testdir ' /proc/self/mountinfo; grep -c ' /testfile ' /proc/self/mountinfo; cat /testfile; echo end");
    let out = c.run_ok();
    assert_eq!(out, "1\n1\nend\n", "each path masked by one mount");
}

#[test]
fn a_destination_given_as_a_host_path_inside_the_rootfs_is_taken_relative_to_it() {
    // runc's legacy behaviour (its suite relies on it): "<rootfs>/mnt" means /mnt.
    let mut c = Container::new("rootfsdest");
    let src = tempfile::tempdir().expect("temp dir");
    std::fs::write(src.path().join("file"), "from the host\n").expect("write");
    let dest = c.rootfs().join("mnt");
    std::fs::create_dir_all(&dest).expect("mkdir rootfs/mnt");
    c.config()
        .mount(
            dest.to_str().expect("utf-8"),
            "bind",
            src.path().to_str().expect("utf-8"),
            &["rbind"],
        )
        .sh("cat /mnt/file");
    assert_eq!(c.run_ok(), "from the host\n");
}
