//! Bad input gives a clear error naming the config entry; cgroup namespaces.

use std::path::Path;

use nix::errno::Errno;
use oci_spec::runtime::{Mount, MountBuilder, Spec};

use super::harness::{self, is_root, mount_at, mounts, Bundle, Child, Ns};
use crate::rootfs::{self, RootfsError, RootfsOptions};

#[test]
fn errors_name_the_config_entry() {
    if !is_root() {
        return;
    }
    let b = Bundle::new();
    std::fs::write(b.rootfs().join("etc/afile"), "").expect("file");
    harness::run("errors", &b, Ns::default());
}

fn mount(dest: &str, typ: Option<&str>, source: &str, options: &[&str]) -> Mount {
    let mut b = MountBuilder::default()
        .destination(dest)
        .source(source)
        .options(options.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    if let Some(t) = typ {
        b = b.typ(t);
    }
    b.build().expect("mount")
}

/// Runs `mount_all` with `mounts` (after a valid `/proc` mount) and returns its error.
fn mount_all_error(c: &Child, mounts: Vec<Mount>, edit: impl FnOnce(&mut Spec)) -> RootfsError {
    let mut spec = c.spec.clone();
    let mut all = vec![self::mount("/proc", Some("proc"), "proc", &[])];
    all.extend(mounts);
    spec.set_mounts(Some(all));
    edit(&mut spec);
    let o = RootfsOptions {
        spec: &spec,
        ..c.opts()
    };
    rootfs::mount_all(&o)
        .map(drop)
        .expect_err("mount_all must fail")
}

pub(super) fn errors_child(c: &Child) {
    let none = |_: &mut Spec| {};
    let cases: Vec<(Vec<Mount>, &str, Option<Errno>)> = vec![
        (
            vec![mount("/x", Some("nosuchfs"), "none", &[])],
            "mounts[1] (/x): mount nosuchfs /x: ENODEV",
            Some(Errno::ENODEV),
        ),
        (
            vec![mount("/y", Some("bind"), "/nonexistent/kiln", &["rbind"])],
            "mounts[1] (/y): open_tree /nonexistent/kiln: ENOENT",
            Some(Errno::ENOENT),
        ),
        (
            vec![mount("/z", None, "somewhere", &[])],
            "mounts[1] (/z): a mount needs a type",
            None,
        ),
        (
            vec![mount("/etc/afile", Some("tmpfs"), "tmpfs", &[])],
            "mounts[1] (/etc/afile): openat2 /etc/afile: ENOTDIR",
            Some(Errno::ENOTDIR),
        ),
        (
            vec![mount("/proc/sys/kernel", Some("tmpfs"), "tmpfs", &[])],
            "mounts[1] (/proc/sys/kernel): /proc/sys/kernel is inside /proc",
            None,
        ),
        (
            vec![mount("/proc", Some("tmpfs"), "tmpfs", &[])],
            "mounts[1] (/proc): only a procfs may be mounted on /proc",
            None,
        ),
        (
            vec![mount("/proc/self/root/tmp", Some("tmpfs"), "tmpfs", &[])],
            "mounts[1] (/proc/self/root/tmp): openat2 /proc/self/root/tmp: ELOOP",
            Some(Errno::ELOOP),
        ),
        (
            vec![mount("/t", Some("mqueue"), "mqueue", &["tmpcopyup"])],
            "mounts[1] (/t): tmpcopyup on a mount that is not tmpfs is not supported",
            None,
        ),
        (
            vec![mount("/t", Some("tmpfs"), "tmpfs", &["size=nonsense"])],
            "mounts[1] (/t): mount tmpfs /t: EINVAL",
            Some(Errno::EINVAL),
        ),
        (
            vec![mount("", Some("tmpfs"), "tmpfs", &[])],
            "mounts[1] (): the destination is empty",
            None,
        ),
    ];
    for (mounts, want, errno) in cases {
        let err = mount_all_error(c, mounts, none);
        assert!(
            err.to_string().starts_with(want),
            "got {err:?}\n({err})\nwant {want}"
        );
        assert_eq!(err.errno(), errno, "{err}");
    }
    let err = mount_all_error(c, vec![], |s| {
        if let Some(l) = s.linux_mut() {
            l.set_rootfs_propagation(Some("sideways".into()));
        }
    });
    assert!(
        err.to_string()
            .starts_with("linux.rootfsPropagation: unknown propagation"),
        "{err}"
    );

    let err = mount_all_error(
        c,
        vec![mount("/i", Some("bind"), "/tmp", &["bind", "idmap"])],
        none,
    );
    assert!(
        err.to_string()
            .starts_with("mounts[1] (/i): an id-mapped mount needs"),
        "{err}"
    );

    let relative = Path::new("relative/rootfs");
    let o = RootfsOptions {
        rootfs: relative,
        ..c.opts()
    };
    let err = rootfs::mount_all(&o)
        .map(drop)
        .expect_err("relative rootfs");
    assert!(
        err.to_string()
            .starts_with("root.path: relative/rootfs is not an absolute path"),
        "{err}"
    );
}

#[test]
fn cgroup_namespace_mounts_hierarchies() {
    if !is_root() {
        return;
    }
    let b = Bundle::new();
    let ns = Ns {
        cgroup: true,
        ..Ns::default()
    };
    harness::run("cgroupns", &b, ns);
}

pub(super) fn cgroupns_child(c: &Child) {
    c.run_all().expect("rootfs steps");
    let own = std::fs::read_to_string("/proc/self/cgroup").expect("/proc/self/cgroup");
    let all = mounts();
    let mut count = 0;
    for line in own.lines().filter(|l| !l.starts_with("0:")) {
        let controllers = line.split(':').nth(1).unwrap_or("");
        let m = all
            .iter()
            .find(|m| m.fstype == "cgroup" && controllers.split(',').all(|c| m.has_super_option(c)))
            .unwrap_or_else(|| panic!("hierarchy {controllers} is not mounted: {all:#?}"));
        assert_eq!(
            m.root,
            Path::new("/"),
            "a cgroup namespace shows its own root"
        );
        assert!(m.has_option("ro"));
        count += 1;
    }
    assert!(count > 0, "no v1 hierarchy found");
    assert!(mount_at("/sys/fs/cgroup").has_option("ro"));
}

#[test]
fn refuses_the_host_mount_namespace() {
    use crate::rootfs::mounts::refuse_shared_namespace;
    let ours = Path::new("/proc/self/ns/mnt");
    let err = refuse_shared_namespace(ours, ours).expect_err("same namespace");
    assert!(err.to_string().starts_with("rootfs: refusing"), "{err}");
    assert!(refuse_shared_namespace(ours, Path::new("/proc/self/ns/net")).is_ok());
    assert!(refuse_shared_namespace(ours, Path::new("/nonexistent")).is_ok());
}
