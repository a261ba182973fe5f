//! Unit tests of [`Manager`](super::Manager) on fake trees.

use super::*;
use crate::layout::V1Mount;

/// A manager for `/a/b` in a fake v1 tree under `root` with only a freezer hierarchy.
fn fake_freezer(root: &Path) -> Manager {
    let mounts = Mounts {
        layout: Layout::V1,
        v1: vec![V1Mount {
            controllers: vec!["freezer"],
            mount: root.join("freezer"),
        }],
        unified: None,
        withheld: Vec::new(),
    };
    Manager::with_mounts(CgroupPath::Fs("/a/b".into()), mounts).unwrap()
}

#[test]
fn a_frozen_cgroup_or_ancestor_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let m = fake_freezer(tmp.path());
    // Nothing exists yet: nothing is frozen.
    m.ensure_not_frozen().unwrap();
    let a = tmp.path().join("freezer/a");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::write(a.join("freezer.state"), "FROZEN\n").unwrap();
    // The container's own directory is not made yet: its parent decides.
    match m.ensure_not_frozen() {
        Err(CgroupError::Frozen { path, state }) => {
            assert_eq!((path, state), (a.clone(), FreezerState::Frozen));
        }
        other => panic!("expected Frozen, got {other:?}"),
    }
    let b = a.join("b");
    std::fs::create_dir(&b).unwrap();
    std::fs::write(b.join("freezer.state"), "THAWED\n").unwrap();
    m.ensure_not_frozen().unwrap();
    std::fs::write(b.join("freezer.state"), "FREEZING\n").unwrap();
    let err = m.ensure_not_frozen().unwrap_err();
    assert!(
        err.to_string()
            .starts_with("container's cgroup unexpectedly frozen"),
        "{err}"
    );
}

#[test]
fn without_a_freezer_nothing_is_frozen() {
    let mounts = Mounts {
        layout: Layout::V1,
        v1: Vec::new(),
        unified: None,
        withheld: Vec::new(),
    };
    let m = Manager::with_mounts(CgroupPath::Fs("/a/b".into()), mounts).unwrap();
    m.ensure_not_frozen().unwrap();
}
