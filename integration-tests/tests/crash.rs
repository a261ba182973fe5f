//! What a crashed `create` leaves: the init dies with it until `create` has handed the
//! container over (a SIGKILLed `create` once left an orphaned init holding the container's
//! lock, so that `delete -f` blocked forever), and `delete -f` removes the rest.

use std::os::unix::process::CommandExt;

use kiln_integration_tests::{cgroup, skip_for_runc, sys, Container, HookKind, SharedDir};

/// `create` of `c` (config written) in the background, stdio on /dev/null (the init keeps its
/// stdio: nothing may wait for it), in its own process group.
fn spawn_create(c: &Container) -> std::process::Child {
    let null = std::process::Stdio::null;
    std::process::Command::new(kiln_integration_tests::runtime_bin())
        .arg("--root")
        .arg(c.rt().root())
        .args(["create", "--bundle"])
        .arg(c.bundle().path())
        .arg(c.id())
        .stdin(null())
        .stdout(null())
        .stderr(null())
        .process_group(0)
        .spawn()
        .expect("spawn create")
}

#[test]
fn the_init_dies_with_a_killed_create() {
    // runc differs: runc 1.1's init survives a killed `runc create`.
    if skip_for_runc("the init outlives a killed create") {
        return;
    }
    init_dies_with_killed_create("crashcreate", |_| {});
}

#[test]
fn the_init_dies_with_a_killed_slow_path_create() {
    if skip_for_runc("the init outlives a killed create") {
        return;
    }
    // A time namespace: the init is forked by an intermediate process that exits.
    init_dies_with_killed_create("crashslow", |c| {
        c.config()
            .namespace("time", None)
            .time_offset("monotonic", 1000, 0);
    });
}

/// `create` SIGKILLed while the init runs a blocking createContainer hook: the init and the
/// hook die with it, and `delete -f` leaves nothing.
fn init_dies_with_killed_create(tag: &str, setup: impl Fn(&mut Container)) {
    let mut c = Container::new(tag);
    setup(&mut c);
    let shared = SharedDir::mount_same_path(c.config()).expect("shared dir");
    // A createContainer hook (run by the init, in the container's namespaces) that blocks: the
    // init waits for it, not on its channel to `create`, when `create` is SIGKILLed.
    let script = format!("touch {}/hook.ran; exec sleep 1000", shared.inside());
    c.config().args(&["sleep", "1000"]).hook(
        HookKind::CreateContainer,
        "/bin/sh",
        &["sh", "-c", &script],
        &[],
        None,
    );
    c.write_config();
    let mut create = spawn_create(&c);
    sys::wait_until("the hook", || shared.join("hook.ran").exists()).expect("hook ran");
    // The init and its hook, as the host sees them.
    let pids = cgroup::procs(c.id());
    assert!(pids.len() >= 2, "init and hook in the cgroup: {pids:?}");
    create.kill().expect("SIGKILL create");
    create.wait().expect("reap create");
    let died = sys::wait_until("the container's processes to die with create", || {
        pids.iter().all(|&p| !sys::pid_alive(p))
    });
    assert!(died.is_ok(), "{pids:?} outlived the killed create");
    // Nothing holds the container's lock: delete -f returns, and removes what the killed create
    // had made (the cgroup it named before making it, the state directory).
    let out = c.rt().delete(c.id(), true).expect("delete -f");
    assert!(out.success(), "{}", out.describe());
    c.assert_nothing_left();
}

/// SIGKILLs `create` of `c` 0, 1, 2, ... ms after it started (each lands in another step), then
/// checks that `list` works and `delete -f` leaves no process, cgroup or state.
fn kill_create_at_every_moment(tag: &str, setup: impl Fn(&mut Container)) {
    for delay_ms in 0..12u64 {
        let mut c = Container::new(tag);
        c.config().args(&["sleep", "1000"]);
        setup(&mut c);
        c.write_config();
        let mut create = spawn_create(&c);
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        create.kill().ok(); // it may have finished already
        create.wait().expect("reap create");
        c.assert_delete_force_cleans_up(&format!("after {delay_ms} ms"));
    }
}

#[test]
fn create_killed_at_any_moment_leaves_nothing_after_delete_force() {
    // runc differs: runc 1.1 leaves cgroups or an orphaned init behind about half the time.
    if skip_for_runc("a killed create leaves things behind") {
        return;
    }
    kill_create_at_every_moment("crashany", |_| {});
}

#[test]
fn create_killed_while_cloning_bind_sources_leaves_nothing() {
    if skip_for_runc("a killed create leaves things behind") {
        return;
    }
    // A user namespace with a bind mount: the bind-sources helper step runs in `create`.
    let src = tempfile::tempdir().expect("temp dir");
    let src = src.path().to_str().expect("utf-8").to_string();
    kill_create_at_every_moment("crashbind", |c| {
        std::fs::create_dir_all(c.rootfs().join("mnt")).expect("mkdir rootfs/mnt");
        c.config()
            .namespace("user", None)
            .uid_mapping(0, 100_000, 65_536)
            .gid_mapping(0, 100_000, 65_536)
            .mount("/mnt", "bind", &src, &["rbind"]);
    });
}
