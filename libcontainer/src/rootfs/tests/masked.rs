//! Masked paths get the real null device or nothing (CVE-2025-31133): a
//! `/dev/null` that is a symlink, a regular file or another device is refused
//! before anything is bound over a masked path.

use std::os::unix::fs::symlink;

use nix::sys::stat::{lstat, makedev, mknod, Mode, SFlag};

use super::harness::{self, is_root, Bundle, Child, Ns};
use crate::rootfs::filekind::describe;
use crate::rootfs::RootfsError;

/// A bundle whose `/dev` is a bind mount of `<bundle>/fakedev`, where
/// `make_null` puts something at `null`, and which masks `/secret`.
fn bundle_with_fake_null(make_null: impl FnOnce(&std::path::Path)) -> Bundle {
    let mut b = Bundle::new();
    let fakedev = b.path().join("fakedev");
    std::fs::create_dir(&fakedev).expect("mkdir fakedev");
    make_null(&fakedev.join("null"));
    std::fs::write(b.rootfs().join("secret"), "secret\n").expect("secret");
    std::fs::write(b.rootfs().join("leak"), "leak\n").expect("leak");
    b.bind_dev_from("fakedev");
    if let Some(linux) = b.spec.linux_mut() {
        linux.set_masked_paths(Some(vec!["/secret".to_string()]));
    }
    b
}

#[test]
fn a_dev_null_that_is_not_the_null_device_is_refused() {
    if !is_root() {
        return;
    }
    let impostors: [fn(&std::path::Path); 3] = [
        |p| symlink("/leak", p).expect("symlink"),
        |p| std::fs::write(p, "").expect("file"),
        |p| {
            let dev = makedev(1, 5);
            mknod(p, SFlag::S_IFCHR, Mode::from_bits_truncate(0o666), dev).expect("mknod")
        },
    ];
    for make_null in impostors {
        let b = bundle_with_fake_null(make_null);
        harness::run("masked_null_impostor", &b, Ns::default());
    }
}

pub(super) fn masked_null_impostor_child(c: &Child) {
    let err = c.run_all().expect_err("masking with an impostor /dev/null");
    // The root is the container's now.
    let found = describe(&lstat("/dev/null").expect("lstat /dev/null"));
    match &err {
        RootfsError::Unexpected {
            context,
            path,
            found: f,
            ..
        } => {
            assert_eq!(context, "linux.maskedPaths[0] (/secret)");
            assert_eq!(path, std::path::Path::new("/dev/null"));
            assert_eq!(f, &found);
        }
        other => panic!("unexpected error: {other}"),
    }
    assert!(
        err.to_string().contains("not the character device 1:3"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string("/secret").expect("read"),
        "secret\n"
    );
    assert_eq!(std::fs::read_to_string("/leak").expect("read"), "leak\n");
}
