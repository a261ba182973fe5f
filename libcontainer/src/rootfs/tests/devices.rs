//! Device nodes: mknod, bind-mounted host nodes in a user namespace, and no
//! devices at all when `/dev` is a bind mount.

use std::io::Read;
use std::path::Path;

use nix::sys::stat::{stat, SFlag};
use oci_spec::runtime::{
    LinuxDevice, LinuxDeviceBuilder, LinuxDeviceType, MountBuilder, RootBuilder,
};

use super::harness::{self, is_mounted, is_root, mount_at, Bundle, Child, Ns};

fn device(path: &str, typ: LinuxDeviceType, major: i64, minor: i64) -> LinuxDeviceBuilder {
    LinuxDeviceBuilder::default()
        .path(path)
        .typ(typ)
        .major(major)
        .minor(minor)
}

fn set_devices(b: &mut Bundle, devices: Vec<LinuxDevice>) {
    if let Some(linux) = b.spec.linux_mut() {
        linux.set_devices(Some(devices));
    }
}

/// Type, major, minor, permission bits, owner of a node.
fn node(path: &str) -> (SFlag, u32, u32, u32, (u32, u32)) {
    let st = stat(path).unwrap_or_else(|e| panic!("stat {path}: {e}"));
    (
        SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT,
        libc::major(st.st_rdev),
        libc::minor(st.st_rdev),
        st.st_mode & 0o7777,
        (st.st_uid, st.st_gid),
    )
}

#[test]
fn mknod_devices() {
    if !is_root() {
        return;
    }
    let mut b = Bundle::new();
    let devices = vec![
        device("/dev/fuse", LinuxDeviceType::C, 10, 229)
            .file_mode(0o600u32)
            .uid(1000u32)
            .gid(1001u32),
        device("/dev/sub/dir/zero2", LinuxDeviceType::C, 1, 5),
        device("/opt/blk", LinuxDeviceType::B, 7, 0).file_mode(0o640u32),
        device("/run/fifo", LinuxDeviceType::P, 0, 0).file_mode(0o644u32),
        device("/dev/null", LinuxDeviceType::C, 1, 3).file_mode(0o620u32),
    ];
    set_devices(
        &mut b,
        devices
            .into_iter()
            .map(|d| d.build().expect("device"))
            .collect(),
    );
    harness::run("mknod_devices", &b, Ns::default());
}

pub(super) fn mknod_devices_child(c: &Child) {
    c.run_all().expect("rootfs steps");
    assert_eq!(
        node("/dev/fuse"),
        (SFlag::S_IFCHR, 10, 229, 0o600, (1000, 1001))
    );
    assert_eq!(
        node("/dev/sub/dir/zero2"),
        (SFlag::S_IFCHR, 1, 5, 0o666, (0, 0))
    );
    assert_eq!(node("/opt/blk"), (SFlag::S_IFBLK, 7, 0, 0o640, (0, 0)));
    assert_eq!(node("/run/fifo").0, SFlag::S_IFIFO);
    assert_eq!(node("/run/fifo").3, 0o644);
    assert_eq!(node("/dev/null"), (SFlag::S_IFCHR, 1, 3, 0o620, (0, 0)));
    assert_eq!(node("/dev/urandom"), (SFlag::S_IFCHR, 1, 9, 0o666, (0, 0)));
    let mut zeros = [1u8; 8];
    std::fs::File::open("/dev/sub/dir/zero2")
        .and_then(|mut f| f.read_exact(&mut zeros))
        .expect("read the new zero device");
    assert_eq!(zeros, [0; 8]);
}

#[test]
fn devices_in_user_namespace() {
    if !is_root() {
        return;
    }
    let mut b = Bundle::new();
    let keep = ["/dev", "/dev/shm", "/sys", "/sys/fs/cgroup"];
    let mut mounts: Vec<_> = b
        .spec
        .mounts()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| keep.iter().any(|k| m.destination() == Path::new(k)))
        .collect();
    // No pid namespace of our own: procfs can only be bound from the host.
    mounts.insert(
        0,
        MountBuilder::default()
            .destination("/proc")
            .typ("bind")
            .source("/proc")
            .options(vec!["rbind".to_string()])
            .build()
            .expect("mount"),
    );
    mounts.push(
        MountBuilder::default()
            .destination("/dev/pts")
            .typ("devpts")
            .source("devpts")
            .options(
                [
                    "nosuid",
                    "noexec",
                    "newinstance",
                    "ptmxmode=0666",
                    "mode=0620",
                ]
                .map(String::from)
                .to_vec(),
            )
            .build()
            .expect("mount"),
    );
    b.spec.set_mounts(Some(mounts));
    let root = RootBuilder::default()
        .path("rootfs")
        .readonly(true)
        .build()
        .expect("root");
    b.spec.set_root(Some(root));
    // An extra device, bound from the host like the defaults (if the host has one).
    if Path::new("/dev/fuse").exists() {
        let fuse = device("/dev/fuse", LinuxDeviceType::C, 10, 229).build();
        set_devices(&mut b, vec![fuse.expect("device")]);
    }
    let ns = Ns {
        user: true,
        ..Ns::default()
    };
    harness::run("devices_in_userns", &b, ns);
}

pub(super) fn devices_in_userns_child(c: &Child) {
    let has_fuse = Path::new("/dev/fuse").exists();
    c.run_all().expect("rootfs steps");
    for (path, major, minor) in [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/tty", 5, 0),
        ("/dev/fuse", 10, 229),
    ] {
        if path == "/dev/fuse" && !has_fuse {
            continue;
        }
        assert!(is_mounted(Path::new(path)), "{path} is not a bind mount");
        let (kind, maj, min, _, _) = node(path);
        assert_eq!((kind, maj, min), (SFlag::S_IFCHR, major, minor), "{path}");
    }
    std::fs::write("/dev/null", "discarded").expect("write /dev/null");
    // sysfs needs its own network namespace: it was bound from the host instead.
    assert_eq!(mount_at("/sys").fstype, "sysfs");
    assert!(mount_at("/sys").has_option("ro"));
    assert!(std::fs::read("/proc/keys").expect("masked").is_empty());
    assert!(mount_at("/proc/sys").has_option("ro"));
    assert!(mount_at("/").has_option("ro"));
    assert_eq!(
        std::fs::read_link("/dev/ptmx").expect("ptmx link"),
        Path::new("pts/ptmx")
    );
}

const HOST_PROBE: &str = "/dev/kiln-rootfs-test-probe";

/// Removes the probe node from the host's /dev should a bug have created it.
struct RemoveProbe;

impl Drop for RemoveProbe {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(HOST_PROBE);
    }
}

#[test]
fn dev_bind_mount_skips_devices() {
    if !is_root() {
        return;
    }
    let _guard = RemoveProbe;
    let mut b = Bundle::new();
    b.bind_dev_from("/dev");
    set_devices(
        &mut b,
        vec![device(HOST_PROBE, LinuxDeviceType::C, 1, 3)
            .build()
            .expect("device")],
    );
    harness::run("dev_bind", &b, Ns::default());
    assert!(
        !Path::new(HOST_PROBE).exists(),
        "a device was created in the host's /dev"
    );
}

pub(super) fn dev_bind_child(c: &Child) {
    c.run_all().expect("rootfs steps");
    assert_eq!(mount_at("/dev").fstype, "devtmpfs");
    assert!(!Path::new(HOST_PROBE).exists());
}
