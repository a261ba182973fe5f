//! The host's cgroups in states a runtime must cope with: a stray plain directory under
//! /sys/fs/cgroup, a cgroup frozen before the container is created, and frozen containers
//! that are killed or force-deleted. Every runtime call here is bounded (these used to hang).

use std::time::Duration;

use kiln_integration_tests::cgroup_fixtures::{Frozen, StrayDir};
use kiln_integration_tests::{cgroup, sys, Container, Output};

/// Far more than any of these operations needs; a runtime still busy after it hangs.
const LIMIT: Duration = Duration::from_secs(20);

fn rt(c: &Container, args: &[&str]) -> Output {
    c.rt()
        .exec_within(args, LIMIT)
        .unwrap_or_else(|e| panic!("{} {args:?}: {e}", c.id()))
}

/// A started `sleep` container.
fn sleeper(tag: &str) -> Container {
    let mut c = Container::new(tag);
    c.config().args(&["sleep", "1000"]);
    c.create();
    c.start();
    c
}

/// Asserts that process `pid` is gone.
#[track_caller]
fn assert_gone(pid: i32) {
    let exited = sys::wait_pid_exit(pid, LIMIT).expect("pidfd");
    assert!(exited, "process {pid} still exists");
}

#[test]
fn a_plain_directory_under_sys_fs_cgroup_is_not_a_hierarchy() {
    let Some(stray) = StrayDir::new().expect("stray directory") else {
        println!("SKIP: no unmounted v1 controller name to use on this host");
        return;
    };
    let c = sleeper("stray");
    let inside = stray.path().join(cgroup::PARENT);
    assert!(
        !inside.join(c.id()).exists(),
        "the runtime made its cgroup in the plain directory {}",
        stray.path().display()
    );
    let out = rt(&c, &["exec", c.id(), "sh", "-c", "echo exec-ok"]).expect_success();
    assert!(out.stdout.contains("exec-ok"), "{}", out.describe());
    let pid = c.pid();
    rt(&c, &["delete", "--force", c.id()]).expect_success();
    assert_gone(pid);
    c.assert_nothing_left();
    assert!(
        !inside.join(c.id()).exists(),
        "something was written into {}",
        stray.path().display()
    );
}

#[test]
fn create_in_a_frozen_cgroup_is_refused() {
    let mut c = Container::new("prefrozen");
    c.config().args(&["true"]);
    let Some(frozen) = Frozen::premade(c.id()).expect("frozen cgroup") else {
        println!("SKIP: no freezer on this host");
        return;
    };
    c.write_config();
    let bundle = c.bundle().path().to_string_lossy().into_owned();
    let out = rt(&c, &["run", "--bundle", &bundle, c.id()]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(
        out.stderr
            .contains("container's cgroup unexpectedly frozen"),
        "{}",
        out.describe()
    );
    // Nothing left, and the cgroup it did not create is untouched (still there, still frozen).
    assert!(
        frozen.is_frozen(),
        "the runtime thawed a cgroup it does not own"
    );
    let left: Vec<_> = cgroup::leftovers(c.id())
        .into_iter()
        .filter(|d| d != frozen.dir())
        .collect();
    assert!(left.is_empty(), "cgroups left: {left:?}");
    let listed = rt(&c, &["list", "-q"]).expect_success().stdout;
    assert!(listed.trim().is_empty(), "still listed: {listed}");
}

#[test]
fn delete_force_of_a_paused_container_returns() {
    let c = sleeper("pausedel");
    let pid = c.pid();
    rt(&c, &["pause", c.id()]).expect_success();
    assert_eq!(c.status(), "paused");
    rt(&c, &["delete", "--force", c.id()]).expect_success();
    assert_gone(pid);
    c.assert_nothing_left();
}

#[test]
fn delete_force_of_a_directly_frozen_container_returns() {
    // Frozen by writing the freezer file, once running and once still created.
    for start in [true, false] {
        let mut c = Container::new("frozendel");
        c.config().args(&["sleep", "1000"]);
        c.create();
        if start {
            c.start();
        }
        let pid = c.pid();
        let _frozen = Frozen::existing(c.id()).expect("freezing");
        rt(&c, &["delete", "--force", c.id()]).expect_success();
        assert_gone(pid);
        c.assert_nothing_left();
    }
}

#[test]
fn kill_of_a_paused_container_with_sigkill_kills_it() {
    for all in [false, true] {
        let c = sleeper("pausekill");
        let pid = c.pid();
        rt(&c, &["pause", c.id()]).expect_success();
        let mut args = vec!["kill"];
        if all {
            args.push("--all");
        }
        args.extend([c.id(), "KILL"]);
        rt(&c, &args).expect_success();
        // The process dies without a resume (a frozen one never handles its SIGKILL).
        assert_gone(pid);
        assert_eq!(c.status(), "stopped");
        rt(&c, &["delete", c.id()]).expect_success();
        c.assert_nothing_left();
    }
}

#[test]
fn exec_in_a_paused_container_is_refused_unless_ignore_paused() {
    let c = sleeper("pausexec");
    rt(&c, &["pause", c.id()]).expect_success();
    // Refused at once (it used to wait for a frozen helper), with runc's exit code 255.
    let out = rt(&c, &["exec", c.id(), "echo", "ok"]);
    assert_eq!(out.code, 255, "{}", out.describe());
    assert!(
        out.stderr.contains("cannot exec in a paused container"),
        "{}",
        out.describe()
    );
    // --ignore-paused execs anyway: the process runs once the container is resumed.
    let (bin, root, id) = (c.rt().bin().to_owned(), c.rt().root(), c.id().to_owned());
    let resumer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        std::process::Command::new(bin)
            .arg("--root")
            .arg(root)
            .args(["resume", &id])
            .status()
    });
    let out = rt(&c, &["exec", "--ignore-paused", c.id(), "echo", "ok"]).expect_success();
    assert_eq!(out.stdout.trim(), "ok", "{}", out.describe());
    assert!(resumer.join().unwrap().unwrap().success());
    assert_eq!(c.status(), "running");
}
