//! A state root that cannot be written, a damaged state file, a dead init whose pid was
//! reused (issue #9): clear errors, `delete -f` still cleans up, nothing else is touched.

use std::io::Write;
use std::path::{Path, PathBuf};

use kiln_integration_tests::mountinfo::HostTmpfs;
use kiln_integration_tests::{cgroup, skip_for_runc, sys, Container};

/// A small tmpfs mounted over a container's state root for the test's duration.
struct SmallFs {
    path: PathBuf,
    _mount: HostTmpfs,
}

impl SmallFs {
    fn mount(c: &Container, options: &str) -> SmallFs {
        let path = c.rt().root();
        let mount = HostTmpfs::mount_with(&path, options).expect("mount tmpfs on the state root");
        SmallFs {
            path,
            _mount: mount,
        }
    }

    /// Fills the filesystem: data until ENOSPC (and, with `inodes`, empty files until the
    /// inodes run out). The fillers are named `fill-*`.
    fn fill(&self, inodes: bool) {
        let mut f = std::fs::File::create(self.path.join("fill-data")).expect("filler");
        let block = vec![0u8; 4096];
        let err = loop {
            if let Err(e) = f.write_all(&block) {
                break e;
            }
        };
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
        for n in 0..100_000 {
            if !inodes {
                break;
            }
            if let Err(e) = std::fs::File::create(self.path.join(format!("fill-{n}"))) {
                assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
                return;
            }
        }
        assert!(!inodes, "the inodes never ran out");
    }
}

/// State entries other than the fillers.
fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read state root")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("fill-"))
        .collect()
}

fn create_on_full_root(tag: &str, inodes: bool) {
    let mut c = Container::new(tag);
    c.config().args(&["sleep", "1000"]);
    c.write_config();
    let fs = SmallFs::mount(&c, "size=256k,nr_inodes=64");
    fs.fill(inodes);
    let out = c
        .rt()
        .create(c.id(), c.bundle().path(), &[])
        .expect("run create");
    assert!(!out.success(), "create on a full state root succeeded");
    assert!(
        out.stderr
            .to_lowercase()
            .contains("no space left on device"),
        "error does not say why: {}",
        out.describe()
    );
    assert!(cgroup::procs(c.id()).is_empty(), "processes left");
    assert!(cgroup::leftovers(c.id()).is_empty(), "cgroups left");
    let left = entries(&c.rt().root());
    assert!(left.is_empty(), "state left: {left:?}");
    let out = c.rt().delete(c.id(), true).expect("delete -f");
    assert!(out.success(), "{}", out.describe());
}

#[test]
fn create_on_a_state_root_without_space_fails_clearly_and_leaves_nothing() {
    // runc 1.1.5 fails here with "unable to store init state: %!w(<nil>)".
    create_on_full_root("fullblocks", false);
}

#[test]
fn create_on_a_state_root_without_inodes_fails_clearly_and_leaves_nothing() {
    create_on_full_root("fullinodes", true);
}

#[test]
fn a_state_root_that_fills_up_does_not_stop_start_exec_or_delete_force() {
    let mut c = Container::new("fulllater");
    c.config().args(&["sleep", "1000"]);
    c.write_config();
    let fs = SmallFs::mount(&c, "size=256k,nr_inodes=64");
    c.create().expect_success();
    fs.fill(true);
    c.start().expect_success();
    let out = c.rt().exec(&["exec", c.id(), "true"]).expect("exec");
    assert!(out.success(), "{}", out.describe());
    let listed = c.rt().list(&["-q"]).expect("list").expect_success();
    assert_eq!(listed.stdout.trim(), c.id());
    c.delete(true).expect_success();
    assert!(cgroup::leftovers(c.id()).is_empty(), "cgroups left");
    assert!(entries(&c.rt().root()).is_empty(), "state left");
}

#[test]
fn damaged_state_file_is_named_and_delete_force_still_cleans_up() {
    // runc 1.1 refuses `delete -f` of a container whose state.json does not parse.
    if skip_for_runc("delete -f of a damaged state fails") {
        return;
    }
    let mut c = Container::new("damaged");
    c.config().args(&["sleep", "1000"]);
    c.write_config();
    c.create().expect_success();
    let init = c.pid();
    let state = c.rt().root().join(c.id()).join("state.json");
    std::fs::write(&state, b"{\"id\": \"damag").expect("damage state.json");
    let out = c.try_state();
    assert!(!out.success(), "state of a damaged container succeeded");
    assert!(out.stderr.contains("state.json"), "{}", out.describe());
    let listed = c.rt().list(&[]).expect("list");
    assert!(listed.success(), "list: {}", listed.describe());
    assert!(!listed.stdout.contains(c.id()), "{}", listed.stdout);
    let out = c.delete(false);
    assert!(
        !out.success(),
        "delete without -f of a damaged state succeeded"
    );
    c.delete(true).expect_success();
    let gone = sys::wait_pid_exit(init, std::time::Duration::from_secs(5)).expect("wait");
    assert!(gone, "the init {init} outlived delete -f");
    c.assert_nothing_left();
}

#[test]
fn a_reused_pid_is_never_signalled() {
    // The test rewrites kiln's own state file (runc keeps the same guard in its own format).
    if skip_for_runc("edits kiln's state file") {
        return;
    }
    let mut c = Container::new("reusedpid");
    c.config().args(&["sleep", "1000"]);
    c.write_config();
    c.create().expect_success();
    c.start().expect_success();
    let init = c.pid();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(init), nix::sys::signal::SIGKILL)
        .expect("kill the init");
    assert!(sys::wait_pid_exit(init, std::time::Duration::from_secs(5)).expect("wait"));
    // Another process now has the pid the state names (a reuse, with another start time).
    let mut other = std::process::Command::new("sleep")
        .arg("1000")
        .spawn()
        .expect("spawn sleep");
    let other_pid = i32::try_from(other.id()).expect("pid");
    let state = c.rt().root().join(c.id()).join("state.json");
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state).expect("read state")).expect("parse");
    record["pid"] = other_pid.into();
    std::fs::write(&state, record.to_string()).expect("write state");
    assert_eq!(c.status(), "stopped");
    let out = c.kill("KILL");
    assert!(!out.success(), "kill of a stopped container succeeded");
    c.delete(true).expect_success();
    let alive = sys::pid_alive(other_pid);
    other.kill().ok();
    other.wait().ok();
    assert!(alive, "the process that reused the pid was killed");
    c.assert_nothing_left();
}
