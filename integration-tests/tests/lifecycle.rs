//! Lifecycle: create, start, state, kill, delete, run, list.

use kiln_integration_tests::checks::is_rfc3339;
use kiln_integration_tests::{cgroup, sys, Container, SharedDir};
use serde_json::Value;

/// Asserts `c` is gone: `state` fails and nothing of it is left.
#[track_caller]
fn assert_gone(c: &Container) {
    assert!(
        !c.try_state().success(),
        "state still succeeds after delete"
    );
    c.assert_nothing_left();
}

#[test]
fn create_start_exit_delete() {
    let mut c = Container::new("life");
    let shared = SharedDir::mount(c.config()).expect("shared dir");
    c.config().sh(SharedDir::WAIT);
    c.create();
    let state = c.state();
    assert_eq!(state["status"], "created", "{state}");
    let pid = c.pid();
    assert!(sys::pid_alive(pid), "init {pid} is not alive after create");
    c.start();
    assert_eq!(c.status(), "running");
    assert_eq!(c.pid(), pid, "the pid changes on start");
    shared.release().expect("release the gate");
    Container::wait_pid(pid);
    assert_eq!(c.status(), "stopped");
    c.delete(false).expect_success();
    assert_gone(&c);
}

#[test]
fn the_container_lives_in_its_cgroups_path() {
    let mut c = Container::new("cgpath");
    c.config()
        .args(&["true"])
        .resources(&["pids", "limit"], serde_json::json!(42));
    c.create();
    let pid = c.pid();
    let dirs = cgroup::leftovers(c.id());
    assert!(!dirs.is_empty(), "no cgroup directory kiln-it/{}", c.id());
    for dir in &dirs {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).expect("read cgroup.procs");
        assert!(
            procs.lines().any(|p| p.trim() == pid.to_string()),
            "{pid} not in {}",
            dir.display()
        );
    }
    let own =
        std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read /proc/<pid>/cgroup");
    let expected = cgroup::cgroups_path(c.id());
    // Every v1 controller hierarchy (named ones like name=systemd aside); on pure v2 the one line.
    let controllers: Vec<&str> = own
        .lines()
        .filter(|l| {
            l.split(':')
                .nth(1)
                .is_some_and(|c| !c.is_empty() && !c.starts_with("name="))
        })
        .collect();
    let checked = if controllers.is_empty() {
        own.lines().collect()
    } else {
        controllers
    };
    for line in checked {
        assert!(
            line.ends_with(&format!(":{expected}")),
            "{line} is not {expected}"
        );
    }
    let pids_max = dirs
        .iter()
        .map(|d| d.join("pids.max"))
        .find(|f| f.exists())
        .expect("a pids controller");
    assert_eq!(
        std::fs::read_to_string(pids_max)
            .expect("read pids.max")
            .trim(),
        "42"
    );
}

#[test]
fn run_returns_the_exit_code() {
    let mut c = Container::new("exit");
    c.config().sh("exit 3");
    let out = c.run_with(&[]);
    assert_eq!(out.code, 3, "{}", out.describe());
    assert_gone(&c);
}

#[test]
fn run_returns_128_plus_signal() {
    let mut c = Container::new("sig");
    // Without a pid namespace sh is not an init, so it can kill itself.
    c.config()
        .remove_namespace("pid")
        .sh("kill -9 $$; echo survived");
    let out = c.run_with(&[]);
    assert_eq!(out.code, 137, "{}", out.describe());
    assert!(!out.stdout.contains("survived"));
}

#[test]
fn run_detached() {
    let mut c = Container::new("detach");
    let shared = SharedDir::mount(c.config()).expect("shared dir");
    c.config().sh(&format!("echo started; {}", SharedDir::WAIT));
    c.run_with(&["--detach"]).expect_success();
    assert_eq!(c.status(), "running");
    let pid = c.pid();
    c.wait_output("started");
    shared.release().expect("release");
    Container::wait_pid(pid);
    assert_eq!(c.status(), "stopped");
}

/// Starts `sh` that traps SIGTERM (prints `got-TERM`), waits until it is ready, returns its pid.
fn start_term_trapper(c: &mut Container) -> i32 {
    c.config()
        .sh("trap 'echo got-TERM; exit 0' TERM; echo ready; while :; do sleep 1000 & wait; done");
    c.create();
    c.start();
    c.wait_output("ready");
    c.pid()
}

#[test]
fn kill_with_name_kill() {
    let mut c = Container::new("killname");
    c.config().args(&["sleep", "1000"]);
    c.create();
    c.start();
    let pid = c.pid();
    c.kill("KILL").expect_success();
    Container::wait_pid(pid);
    assert_eq!(c.status(), "stopped");
}

#[test]
fn kill_with_name_sigterm() {
    let mut c = Container::new("killterm");
    let pid = start_term_trapper(&mut c);
    c.kill("SIGTERM").expect_success();
    Container::wait_pid(pid);
    assert!(c.output().contains("got-TERM"), "output: {}", c.output());
}

#[test]
fn kill_with_number() {
    let mut c = Container::new("killnum");
    let pid = start_term_trapper(&mut c);
    c.kill("15").expect_success();
    Container::wait_pid(pid);
    assert!(c.output().contains("got-TERM"), "output: {}", c.output());
}

#[test]
fn kill_all_signals_every_process() {
    let mut c = Container::new("killall");
    // sh as pid 1 without a handler ignores SIGTERM: only --all ends the sleeps and thus the wait.
    c.config().sh("sleep 1000 & sleep 1000 & echo ready; wait");
    c.create();
    c.start();
    c.wait_output("ready");
    let procs = cgroup::procs(c.id());
    assert!(
        procs.len() >= 3,
        "expected sh and two sleeps in the cgroup, got {procs:?}"
    );
    c.kill_all("TERM").expect_success();
    for pid in procs {
        Container::wait_pid(pid);
    }
    assert_eq!(c.status(), "stopped");
}

#[test]
fn list_table_json_and_quiet() {
    let mut c = Container::new("list");
    c.config().args(&["true"]);
    c.create();
    let pid = c.pid();
    let bundle = c.bundle().path().display().to_string();

    let table = c.rt().list(&[]).expect("list").expect_success().stdout;
    let mut lines = table.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header.get(..3),
        Some(&["ID", "PID", "STATUS"][..]),
        "header: {table}"
    );
    let row: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        row.get(..3),
        Some(&[c.id(), pid.to_string().as_str(), "created"][..]),
        "{table}"
    );
    assert!(row.contains(&bundle.as_str()), "bundle missing: {table}");

    let json = c
        .rt()
        .list(&["--format", "json"])
        .expect("list")
        .expect_success()
        .stdout;
    let list: Value = serde_json::from_str(&json).expect("list --format json is JSON");
    let entry = &list.as_array().expect("an array")[0];
    assert_eq!(entry["id"], c.id());
    assert_eq!(entry["pid"], pid);
    assert_eq!(entry["status"], "created");
    assert_eq!(entry["bundle"], bundle.as_str());
    assert!(
        is_rfc3339(entry["created"].as_str().unwrap_or_default()),
        "{entry}"
    );

    let quiet = c.rt().list(&["-q"]).expect("list").expect_success().stdout;
    assert_eq!(quiet.trim(), c.id());
}

#[test]
fn state_has_the_oci_fields() {
    let mut c = Container::new("state");
    c.config()
        .args(&["true"])
        .annotation("org.kiln.test", "yes");
    c.create();
    let state = c.state();
    assert!(
        state["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
        "{state}"
    );
    assert_eq!(state["id"], c.id());
    assert!(state["pid"].as_i64().is_some_and(|p| p > 0), "{state}");
    assert_eq!(state["status"], "created");
    let bundle = state["bundle"].as_str().unwrap_or_default();
    assert!(bundle.starts_with('/'), "bundle is not absolute: {state}");
    assert_eq!(std::path::Path::new(bundle), c.bundle().path());
    assert_eq!(
        std::path::Path::new(state["rootfs"].as_str().unwrap_or_default()),
        c.rootfs()
    );
    assert!(
        is_rfc3339(state["created"].as_str().unwrap_or_default()),
        "created: {state}"
    );
    assert!(state["owner"].is_string(), "owner: {state}");
    assert_eq!(state["annotations"]["org.kiln.test"], "yes", "{state}");
}

#[test]
fn pid_file_holds_the_pid() {
    let mut c = Container::new("pidfile");
    c.config().args(&["true"]);
    let pid_file = c.bundle().path().join("container.pid");
    c.create_with(&["--pid-file", &pid_file.to_string_lossy()])
        .expect_success();
    let written = std::fs::read_to_string(&pid_file).expect("pid file written");
    assert_eq!(
        written.trim().parse::<i32>().ok(),
        Some(c.pid()),
        "pid file: {written:?}"
    );
}

#[test]
fn create_returns_before_the_program_runs() {
    let mut c = Container::new("blocked");
    let shared = SharedDir::mount(c.config()).expect("shared dir");
    c.config().args(&["touch", "/shared/ran"]);
    c.create();
    let pid = c.pid();
    assert!(sys::pid_alive(pid));
    assert!(!shared.join("ran").exists(), "the program ran before start");
    c.start();
    Container::wait_pid(pid);
    assert!(
        shared.join("ran").exists(),
        "the program did not run after start"
    );
}

#[test]
fn delete_a_created_container() {
    let mut c = Container::new("delcreated");
    c.config().args(&["true"]);
    c.create();
    let pid = c.pid();
    c.delete(false).expect_success();
    Container::wait_pid(pid);
    assert_gone(&c);
}
