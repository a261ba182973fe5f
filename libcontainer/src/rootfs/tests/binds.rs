//! Bind mounts and tmpfs options: flags really applied, recursion, sources
//! relative to the bundle, files, propagation, stacking, deferred `ro`.

use std::path::Path;

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::stat;
use oci_spec::runtime::{Mount, MountBuilder, ProcessBuilder};

use super::harness::{self, is_mounted, is_root, mount_at, open_errno, Bundle, Child, Ns};

fn m(dest: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    let mut b = MountBuilder::default()
        .destination(dest)
        .source(source)
        .options(options.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    if !typ.is_empty() {
        b = b.typ(typ);
    }
    b.build().expect("mount")
}

#[test]
fn binds_and_options() {
    if !is_root() {
        return;
    }
    let mut b = Bundle::new();
    let dir = b.path();
    for d in ["hostro", "hostrw", "relsrc", "rsrc/sub"] {
        std::fs::create_dir_all(dir.join(d)).expect("mkdir");
    }
    std::fs::write(dir.join("hostro/data"), "host").expect("write");
    std::fs::write(dir.join("relsrc/rel"), "rel").expect("write");
    std::fs::write(dir.join("hostfile"), "file").expect("write");
    let s = |p: &str| dir.join(p).display().to_string();
    let mut mounts = b.spec.mounts().clone().unwrap_or_default();
    mounts.extend([
        m(
            "/mnt/ro",
            "bind",
            &s("hostro"),
            &["bind", "ro", "nosuid", "nodev", "noexec"],
        ),
        m("/mnt/rw", "", &s("hostrw"), &["rbind", "rw"]),
        m("/etc/hostfile", "bind", &s("hostfile"), &["bind", "ro"]),
        m("/mnt/rel", "bind", "relsrc", &["rbind"]),
        m("/mnt/rro", "bind", &s("rsrc"), &["rbind", "rro"]),
        m("/mnt/nonrec", "bind", &s("rsrc"), &["bind"]),
        m(
            "/mnt/tmp",
            "tmpfs",
            "tmpfs",
            &["nosuid", "noexec", "size=1m", "mode=700", "noatime"],
        ),
        m("/mnt/rotmpfs", "tmpfs", "tmpfs", &["ro", "mode=755"]),
        m("/mnt/rotmpfs/inner", "tmpfs", "tmpfs", &[]),
        m("/mnt/shared", "tmpfs", "tmpfs", &["shared"]),
        m("/mnt/unbindable", "tmpfs", "tmpfs", &["runbindable"]),
        m("/mnt/stack", "tmpfs", "tmpfs", &["size=1m"]),
        m("/mnt/stack", "tmpfs", "tmpfs", &["size=2m"]),
        m(
            "/mnt/nosym",
            "tmpfs",
            "tmpfs",
            &["nosymfollow", "strictatime"],
        ),
        m("/deep/a/b/c", "tmpfs", "tmpfs", &["rnodev"]),
    ]);
    b.spec.set_mounts(Some(mounts));
    let process = ProcessBuilder::default()
        .args(vec!["/bin/sh".to_string()])
        .cwd("/work/here")
        .build()
        .expect("process");
    b.spec.set_process(Some(process));
    harness::run("binds_and_options", &b, Ns::default());
    assert_eq!(
        std::fs::read_to_string(dir.join("hostrw/from-container"))
            .expect("written through rw bind"),
        "hello"
    );
    assert!(!dir.join("hostro/nope").exists());
}

pub(super) fn binds_and_options_child(c: &Child) {
    // A submount in the rbind source, made in this (private) namespace.
    let sub = c.bundle.join("rsrc/sub");
    mount(
        Some("tmpfs"),
        &sub,
        Some("tmpfs"),
        MsFlags::empty(),
        None::<&str>,
    )
    .expect("submount");
    c.run_all().expect("rootfs steps");

    let ro = mount_at("/mnt/ro");
    for o in ["ro", "nosuid", "nodev", "noexec"] {
        assert!(ro.has_option(o), "/mnt/ro lacks {o}: {ro:?}");
    }
    assert_eq!(
        std::fs::read_to_string("/mnt/ro/data").expect("read"),
        "host"
    );
    assert_eq!(
        open_errno("/mnt/ro/nope", libc::O_CREAT | libc::O_WRONLY),
        Some(Errno::EROFS)
    );

    assert!(mount_at("/mnt/rw").has_option("rw"));
    std::fs::write("/mnt/rw/from-container", "hello").expect("write through rw bind");

    assert!(Path::new("/etc/hostfile").is_file());
    assert_eq!(
        std::fs::read_to_string("/etc/hostfile").expect("read"),
        "file"
    );
    assert_eq!(
        open_errno("/etc/hostfile", libc::O_WRONLY),
        Some(Errno::EROFS)
    );
    assert_eq!(
        std::fs::read_to_string("/mnt/rel/rel").expect("relative source"),
        "rel"
    );

    // rbind + rro: the submount came along and is read-only too; bind alone leaves it out.
    assert!(mount_at("/mnt/rro").has_option("ro"));
    assert!(mount_at("/mnt/rro/sub").has_option("ro"));
    assert!(!is_mounted(Path::new("/mnt/nonrec/sub")));

    let tmp = mount_at("/mnt/tmp");
    assert!(tmp.has_option("nosuid") && tmp.has_option("noexec") && tmp.has_option("noatime"));
    assert!(tmp.has_super_option("size=1024k"), "{tmp:?}");
    assert_eq!(stat("/mnt/tmp").expect("stat").st_mode & 0o7777, 0o700);

    // ro on a tmpfs is applied at the end, after /mnt/rotmpfs/inner was created.
    assert!(mount_at("/mnt/rotmpfs").has_option("ro"));
    assert!(mount_at("/mnt/rotmpfs/inner").has_option("rw"));

    assert!(mount_at("/mnt/shared")
        .optional
        .iter()
        .any(|o| o.starts_with("shared:")));
    assert!(mount_at("/mnt/unbindable")
        .optional
        .iter()
        .any(|o| o == "unbindable"));
    assert!(mount_at("/mnt/stack").has_super_option("size=2048k"));
    let nosym = mount_at("/mnt/nosym");
    assert!(
        nosym.has_option("nosymfollow") && !nosym.has_option("relatime"),
        "{nosym:?}"
    );
    assert!(mount_at("/deep/a/b/c").has_option("nodev"));
    assert!(
        Path::new("/work/here").is_dir(),
        "process.cwd was not created"
    );
}

/// tmpfs supports id-mapped mounts only from Linux 6.3 (ext4, xfs, btrfs long before).
fn idmap_supported(dir: &Path) -> bool {
    let on_tmpfs = nix::sys::statfs::statfs(dir)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC);
    let release = nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned());
    let version: Vec<u32> = release
        .unwrap_or_default()
        .split(|c: char| !c.is_ascii_digit())
        .take(2)
        .filter_map(|n| n.parse().ok())
        .collect();
    !on_tmpfs || version >= vec![6, 3]
}

#[test]
fn idmapped_mounts() {
    if !is_root() {
        return;
    }
    let mut b = Bundle::new();
    let dir = b.path();
    if !idmap_supported(&dir) {
        eprintln!(
            "skipping: {} is a tmpfs and this kernel is older than 6.3",
            dir.display()
        );
        return;
    }
    std::fs::create_dir_all(dir.join("idsrc/sub")).expect("mkdir");
    std::fs::write(dir.join("idsrc/a"), "").expect("file");
    std::fs::write(dir.join("idsrc/b"), "").expect("file");
    nix::unistd::chown(&dir.join("idsrc/b"), Some(5.into()), Some(6.into())).expect("chown");
    let map = |container: u32, host: u32| {
        vec![oci_spec::runtime::LinuxIdMappingBuilder::default()
            .container_id(container)
            .host_id(host)
            .size(10u32)
            .build()
            .expect("mapping")]
    };
    let idmapped = |dest: &str, options: &[&str]| {
        MountBuilder::default()
            .destination(dest)
            .typ("bind")
            .source(dir.join("idsrc"))
            .options(options.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .uid_mappings(map(0, 1000))
            .gid_mappings(map(0, 2000))
            .build()
            .expect("mount")
    };
    let mut mounts = b.spec.mounts().clone().unwrap_or_default();
    mounts.extend([
        idmapped("/mnt/idmap", &["bind", "idmap"]),
        idmapped("/mnt/ridmap", &["rbind", "ridmap"]),
        idmapped("/mnt/plainmap", &["rbind"]),
    ]);
    b.spec.set_mounts(Some(mounts));
    harness::run("idmapped", &b, Ns::default());
}

pub(super) fn idmapped_child(c: &Child) {
    let sub = c.bundle.join("idsrc/sub");
    mount(
        Some("tmpfs"),
        &sub,
        Some("tmpfs"),
        MsFlags::empty(),
        None::<&str>,
    )
    .expect("submount");
    c.run_all().expect("rootfs steps");
    let owner = |p: &str| {
        let st = stat(p).unwrap_or_else(|e| panic!("stat {p}: {e}"));
        (st.st_uid, st.st_gid)
    };
    for base in ["/mnt/idmap", "/mnt/ridmap", "/mnt/plainmap"] {
        assert_eq!(owner(&format!("{base}/a")), (1000, 2000), "{base}/a");
        assert_eq!(owner(&format!("{base}/b")), (1005, 2006), "{base}/b");
    }
    // ridmap maps the submount too; idmap (and bare mappings) only the top.
    assert_eq!(owner("/mnt/ridmap/sub"), (1000, 2000));
    assert_eq!(owner("/mnt/plainmap/sub"), (0, 0));
    let map_opt = |p: &str| mount_at(p).has_option("idmapped");
    assert!(map_opt("/mnt/idmap") && map_opt("/mnt/ridmap/sub") && !map_opt("/mnt/plainmap/sub"));
}
