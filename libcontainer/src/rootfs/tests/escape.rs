//! Symlinks in the image must never redirect a mount or a created path to the host.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::stat::Mode;
use oci_spec::runtime::MountBuilder;

use super::harness::{self, is_mounted, is_root, Bundle, Child, Ns};
use crate::rootfs::inroot::InRoot;

/// Host directories the image's symlinks point at; each holds a marker file.
struct HostDirs {
    _dir: tempfile::TempDir,
    paths: Vec<PathBuf>,
}

fn host_dirs() -> HostDirs {
    let dir = tempfile::Builder::new()
        .prefix("kiln-escape")
        .tempdir()
        .expect("tempdir");
    let base = dir.path().canonicalize().expect("canonical");
    let paths: Vec<PathBuf> = (0..5).map(|i| base.join(format!("h{i}"))).collect();
    for p in &paths {
        std::fs::create_dir(p).expect("mkdir");
        std::fs::write(p.join("marker"), "host").expect("marker");
    }
    HostDirs { _dir: dir, paths }
}

#[test]
fn symlinks_cannot_escape_the_rootfs() {
    if !is_root() {
        return;
    }
    let hosts = host_dirs();
    let h = &hosts.paths;
    let mut b = Bundle::new();
    let rootfs = b.rootfs();
    let up = "../".repeat(12);
    let rel = |p: &Path| p.strip_prefix("/").expect("absolute").display().to_string();
    symlink(&h[0], rootfs.join("evil")).expect("symlink");
    symlink(format!("{up}{}", rel(&h[1])), rootfs.join("evil2")).expect("symlink");
    std::fs::create_dir(rootfs.join("evil3")).expect("mkdir");
    symlink("/", rootfs.join("evil3/link")).expect("symlink");
    symlink("/chain2", rootfs.join("chain1")).expect("symlink");
    symlink(&h[3], rootfs.join("chain2")).expect("symlink");
    symlink(h[4].join("marker"), rootfs.join("evilfile")).expect("symlink");
    std::fs::write(b.path().join("bindsrc"), "bound").expect("bind source");

    let tmpfs = |dest: String| {
        MountBuilder::default()
            .destination(dest)
            .typ("tmpfs")
            .source("tmpfs")
            .build()
            .expect("mount")
    };
    let mut mounts = vec![
        tmpfs("/evil".into()),
        tmpfs("/evil2".into()),
        tmpfs(format!("/evil3/link/{}", rel(&h[2]))),
        tmpfs("/chain1/sub".into()),
        tmpfs(format!("/{up}{}", rel(&h[2]))),
    ];
    mounts.push(
        MountBuilder::default()
            .destination("/evilfile")
            .source(b.path().join("bindsrc"))
            .options(vec!["bind".to_string()])
            .build()
            .expect("mount"),
    );
    b.spec.set_mounts(Some(mounts));
    let hosts_env: Vec<String> = h.iter().map(|p| p.display().to_string()).collect();
    std::fs::write(b.path().join("hosts"), hosts_env.join("\n")).expect("hosts list");
    harness::run("symlink_escape", &b, Ns::default());

    for p in h {
        let names: Vec<_> = std::fs::read_dir(p)
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec!["marker"], "{} was modified", p.display());
        assert_eq!(
            std::fs::read_to_string(p.join("marker")).expect("marker"),
            "host"
        );
    }
}

pub(super) fn symlink_escape_child(c: &Child) {
    let hosts: Vec<PathBuf> = std::fs::read_to_string(c.bundle.join("hosts"))
        .expect("hosts list")
        .lines()
        .map(PathBuf::from)
        .collect();
    let o = c.opts();
    let _prepared = crate::rootfs::mount_all(&o).expect("mount_all");
    let inside = |p: &Path| c.rootfs.join(p.strip_prefix("/").expect("absolute"));
    for h in &hosts {
        assert!(!is_mounted(h), "{} was mounted on the host", h.display());
    }
    for (i, want) in [(0, "/evil"), (1, "/evil2"), (2, "/evil3/link")] {
        assert!(
            is_mounted(&inside(&hosts[i])),
            "mount for {want} is not at {}",
            inside(&hosts[i]).display()
        );
    }
    assert!(
        is_mounted(&inside(&hosts[3]).join("sub")),
        "chained symlink mount is not inside"
    );
    assert_eq!(
        std::fs::read_to_string(inside(&hosts[4]).join("marker")).expect("bind target inside"),
        "bound"
    );
}

/// `InRoot` on a plain directory tree: no mounts, so no namespace needed.
#[test]
fn inroot_resolution_stays_inside() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root_path = dir.path().canonicalize().expect("canonical").join("root");
    let outside = dir
        .path()
        .canonicalize()
        .expect("canonical")
        .join("outside");
    std::fs::create_dir_all(&root_path).expect("mkdir");
    std::fs::create_dir_all(&outside).expect("mkdir");
    symlink(&outside, root_path.join("abs")).expect("symlink");
    symlink("../../../outside", root_path.join("rel")).expect("symlink");
    symlink("loop2", root_path.join("loop1")).expect("symlink");
    symlink("loop1", root_path.join("loop2")).expect("symlink");
    std::fs::write(root_path.join("file"), "").expect("file");

    let root = InRoot::open(&root_path).expect("open root");
    let mode = Mode::from_bits_truncate(0o755);
    root.mkdir_all(Path::new("/abs/x/y"), mode)
        .expect("mkdir through absolute link");
    root.mkdir_all(Path::new("rel/z"), mode)
        .expect("mkdir through relative link");
    root.mkdir_all(Path::new("/../../a/./b/../c"), mode)
        .expect("mkdir with dots");
    root.ensure_file(Path::new("/abs/f"), Mode::from_bits_truncate(0o644))
        .expect("file through link");
    let rel_outside = outside.strip_prefix("/").expect("absolute");
    assert!(root_path.join(rel_outside).join("x/y").is_dir());
    assert!(root_path.join(rel_outside).join("f").is_file());
    assert!(root_path.join("outside/z").is_dir());
    assert!(root_path.join("a/c").is_dir() && root_path.join("a/b").is_dir());
    assert_eq!(
        std::fs::read_dir(&outside).expect("read_dir").count(),
        0,
        "outside was touched"
    );

    let errno =
        |r: Result<_, crate::rootfs::error::SysError>| r.map(drop).expect_err("must fail").errno;
    assert_eq!(
        errno(root.mkdir_all(Path::new("/loop1/x"), mode)),
        Errno::ELOOP
    );
    assert_eq!(
        errno(root.mkdir_all(Path::new("/file/x"), mode)),
        Errno::ENOTDIR
    );
    assert_eq!(
        root.open_path(Path::new("/"))
            .map(drop)
            .map_err(|e| e.errno),
        Ok(())
    );
}
