//! The whole sequence with the default (runc spec) config, `--no-pivot`, and
//! `linux.rootfsPropagation`.

use std::path::Path;

use nix::errno::Errno;
use nix::sys::stat::{stat, SFlag};
use oci_spec::runtime::RootBuilder;

use super::harness::{self, is_root, mount_at, mounts, open_errno, Bundle, Child, Ns};

fn set_readonly_root(b: &mut Bundle) {
    let root = RootBuilder::default()
        .path("rootfs")
        .readonly(true)
        .build()
        .expect("root");
    b.spec.set_root(Some(root));
}

#[test]
fn default_config() {
    if !is_root() {
        return;
    }
    let mut b = Bundle::new();
    set_readonly_root(&mut b);
    harness::run("default_config", &b, Ns::default());
}

pub(super) fn default_config_child(c: &Child) {
    let host_v2 = nix::sys::statfs::statfs("/sys/fs/cgroup")
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC);
    c.run_all().expect("rootfs steps");
    assert_eq!(std::env::current_dir().expect("cwd"), Path::new("/"));

    // The config's mounts, in config order.
    let want = [
        "/",
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/sys",
        "/sys/fs/cgroup",
    ];
    let mut seen: Vec<String> = Vec::new();
    for m in mounts() {
        let p = m.mount_point.display().to_string();
        if want.contains(&p.as_str()) && !seen.contains(&p) {
            seen.push(p);
        }
    }
    assert_eq!(seen, want);

    // root.readonly, and only the root.
    assert!(mount_at("/").has_option("ro"));
    assert_eq!(
        open_errno("/newfile", libc::O_CREAT | libc::O_WRONLY),
        Some(Errno::EROFS)
    );
    std::fs::write("/dev/shm/x", "y").expect("/dev/shm stays writable");

    let dev = mount_at("/dev");
    assert_eq!(dev.fstype, "tmpfs");
    assert!(dev.has_option("nosuid") && dev.has_option("rw"));
    assert!(dev.has_super_option("mode=755") && dev.has_super_option("size=65536k"));
    let shm = mount_at("/dev/shm");
    assert!(shm.has_option("nosuid") && shm.has_option("nodev") && shm.has_option("noexec"));
    assert_eq!(stat("/dev/shm").expect("stat").st_mode & 0o7777, 0o1777);
    let pts = mount_at("/dev/pts");
    assert_eq!(pts.fstype, "devpts");
    assert!(pts.has_super_option("ptmxmode=666") && pts.has_super_option("mode=620"));
    assert_eq!(mount_at("/dev/mqueue").fstype, "mqueue");
    let sys = mount_at("/sys");
    assert!(sys.fstype == "sysfs" && sys.has_option("ro"));

    if host_v2 {
        let cg = mount_at("/sys/fs/cgroup");
        assert!(cg.fstype == "cgroup2" && cg.has_option("ro"), "{cg:?}");
    } else {
        check_cgroup_v1();
    }
    check_default_devices();

    // Masked paths: a file reads empty, a directory is an empty read-only tmpfs.
    assert!(mount_at("/proc/keys").mount_point.exists());
    assert!(std::fs::read("/proc/keys")
        .expect("read masked file")
        .is_empty());
    let acpi = mount_at("/proc/acpi");
    assert!(acpi.fstype == "tmpfs" && acpi.has_option("ro"));
    assert_eq!(
        std::fs::read_dir("/proc/acpi").expect("read_dir").count(),
        0
    );
    assert_eq!(
        open_errno("/proc/acpi/x", libc::O_CREAT | libc::O_WRONLY),
        Some(Errno::EROFS)
    );

    // Read-only paths.
    for p in ["/proc/sys", "/proc/bus", "/proc/fs", "/proc/irq"] {
        assert!(mount_at(p).has_option("ro"), "{p} is not read-only");
    }
    assert_eq!(
        open_errno("/proc/sys/kernel/hostname", libc::O_WRONLY),
        Some(Errno::EROFS)
    );
}

/// One read-only bind per v1 hierarchy, of the process's own cgroup.
fn check_cgroup_v1() {
    let cg = mount_at("/sys/fs/cgroup");
    assert!(cg.fstype == "tmpfs" && cg.has_option("ro"), "{cg:?}");
    let own = std::fs::read_to_string("/proc/self/cgroup").expect("/proc/self/cgroup");
    let all = mounts();
    for line in own.lines() {
        let mut f = line.splitn(3, ':');
        let (id, controllers, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or(""));
        if id == Some("0") || controllers.is_empty() {
            continue;
        }
        let m = all
            .iter()
            .find(|m| m.fstype == "cgroup" && controllers.split(',').all(|c| m.has_super_option(c)))
            .unwrap_or_else(|| panic!("no mount of hierarchy {controllers}: {all:#?}"));
        assert!(m.mount_point.starts_with("/sys/fs/cgroup/"), "{m:?}");
        assert_eq!(
            m.root,
            Path::new(path),
            "{controllers} shows the wrong cgroup"
        );
        assert!(m.has_option("ro") && m.has_option("nosuid") && m.has_option("noexec"));
    }
}

fn check_default_devices() {
    for (path, major, minor) in [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ] {
        let st = stat(path).unwrap_or_else(|e| panic!("stat {path}: {e}"));
        assert_eq!(
            SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT,
            SFlag::S_IFCHR,
            "{path}"
        );
        assert_eq!(
            (libc::major(st.st_rdev), libc::minor(st.st_rdev)),
            (major, minor),
            "{path}"
        );
        assert_eq!(st.st_mode & 0o7777, 0o666, "{path}");
        assert_eq!((st.st_uid, st.st_gid), (0, 0), "{path}");
    }
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ] {
        let link = std::fs::read_link(Path::new("/dev").join(name)).expect("symlink");
        assert_eq!(link, Path::new(target), "/dev/{name}");
    }
    assert_eq!(
        std::fs::read_link("/dev/core").ok().as_deref(),
        Path::new("/proc/kcore")
            .exists()
            .then_some(Path::new("/proc/kcore"))
    );
    std::fs::write("/dev/null", "discarded").expect("write /dev/null");
}

#[test]
fn no_pivot() {
    if !is_root() {
        return;
    }
    let b = Bundle::new();
    std::fs::write(b.path().join("host-marker"), "x").expect("marker");
    let ns = Ns {
        no_pivot: true,
        ..Ns::default()
    };
    harness::run("no_pivot", &b, ns);
}

pub(super) fn no_pivot_child(c: &Child) {
    c.run_all().expect("rootfs steps");
    assert_eq!(std::env::current_dir().expect("cwd"), Path::new("/"));
    assert!(Path::new("/bin/busybox").exists(), "/ is not the rootfs");
    assert!(
        !c.bundle.join("host-marker").exists(),
        "the host is visible"
    );
    let root = mount_at("/");
    assert!(root.root.ends_with("rootfs"), "{root:?}");
    assert_eq!(mount_at("/proc").fstype, "proc");
    assert!(Path::new("/dev/null").exists());
}

#[test]
fn rootfs_propagation() {
    if !is_root() {
        return;
    }
    for (name, value) in [
        ("propagation_rshared", "rshared"),
        ("propagation_private", "private"),
    ] {
        let mut b = Bundle::new();
        if let Some(linux) = b.spec.linux_mut() {
            linux.set_rootfs_propagation(Some(value.to_string()));
        }
        harness::run(name, &b, Ns::default());
    }
}

pub(super) fn propagation_rshared_child(c: &Child) {
    c.run_all().expect("rootfs steps");
    for p in ["/", "/dev", "/proc"] {
        let m = mount_at(p);
        assert!(
            m.optional.iter().any(|o| o.starts_with("shared:")),
            "{p}: {m:?}"
        );
    }
}

pub(super) fn propagation_private_child(c: &Child) {
    c.run_all().expect("rootfs steps");
    let m = mount_at("/");
    assert!(m.optional.is_empty(), "{m:?}");
}
