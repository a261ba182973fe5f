//! A test container: bundle, runtime root and id, torn down on drop even when the test panics.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

use crate::bundle::Bundle;
use crate::cgroup;
use crate::config::Config;
use crate::runtime::{Output, Runtime};
use crate::sys::{wait_pid_exit, wait_until, WAIT_LIMIT};

/// A unique container id: `<tag>-<test process pid>-<counter>`.
pub fn unique_id(tag: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A container under test. Its config starts as the default with `linux.cgroupsPath`
/// `/kiln-it/<id>`.
///
/// Methods panic with the runtime's full output when an operation the test relies on fails:
/// this type is an assertion helper. On drop it runs `kill --all <id> KILL` and `delete --force`,
/// removes its directories, and (unless already panicking) fails the test if any cgroup
/// directory `/sys/fs/cgroup/<ctrl>/kiln-it/<id>` remains.
#[derive(Debug)]
pub struct Container {
    id: String,
    bundle: Bundle,
    rt: Runtime,
    stdio: Option<PathBuf>,
}

impl Container {
    /// Asserts that nothing of this container is left: its runtime lists no
    /// container, its state root holds nothing but the seccomp cache, and it
    /// has no cgroup directory.
    #[track_caller]
    pub fn assert_nothing_left(&self) {
        let listed = self.rt.list(&["-q"]).expect("list").expect_success().stdout;
        assert!(listed.trim().is_empty(), "still listed: {listed}");
        let entries: Vec<String> = self
            .rt
            .state_entries()
            .into_iter()
            .filter(|e| e != "seccomp-cache")
            .collect();
        assert!(entries.is_empty(), "state left: {entries:?}");
        let cgroups = cgroup::leftovers(&self.id);
        assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
    }

    /// After a crash (`when` says which, for the messages): `list` works, `delete -f` succeeds,
    /// and nothing is left — no process in the cgroup, and [`Container::assert_nothing_left`].
    #[track_caller]
    pub fn assert_delete_force_cleans_up(&self, when: &str) {
        let listed = self.rt.list(&[]).expect("list");
        assert!(listed.success(), "list {when}: {}", listed.describe());
        let out = self.rt.delete(&self.id, true).expect("delete -f");
        assert!(out.success(), "delete -f {when}: {}", out.describe());
        let left = cgroup::procs(&self.id);
        assert!(left.is_empty(), "processes {when}: {left:?}");
        self.assert_nothing_left();
    }

    /// A container with a fresh bundle and state root; `tag` names the test in the id.
    #[track_caller]
    pub fn new(tag: &str) -> Container {
        let id = unique_id(tag);
        Container::with_id(tag, &id)
    }

    /// Like [`Container::new`] with a given id (which may be invalid, for negative tests).
    #[track_caller]
    pub fn with_id(tag: &str, id: &str) -> Container {
        let mut bundle = Bundle::new(tag).unwrap_or_else(|e| panic!("building bundle: {e}"));
        let rt = Runtime::new().unwrap_or_else(|e| panic!("runtime root: {e}"));
        bundle.config_mut().cgroups_path(&cgroup::cgroups_path(id));
        cgroup::register();
        Container {
            id: id.to_string(),
            bundle,
            rt,
            stdio: None,
        }
    }

    /// A rootless container: run by `user`, with runc's `spec --rootless` config (no
    /// cgroupsPath, so no cgroup unless the test sets one).
    #[track_caller]
    pub fn rootless(tag: &str, user: &crate::rootless::TestUser) -> Container {
        let rt = Runtime::unprivileged(user.uid, user.gid)
            .unwrap_or_else(|e| panic!("runtime root: {e}"));
        Container::rootless_with(tag, user, rt)
    }

    /// [`Container::rootless`] with the runtime started in `deleg`'s launcher cgroup.
    #[track_caller]
    pub fn rootless_in(
        tag: &str,
        user: &crate::rootless::TestUser,
        deleg: &crate::rootless::DelegatedV2,
    ) -> Container {
        let rt = Runtime::unprivileged_in(user.uid, user.gid, &deleg.launcher())
            .unwrap_or_else(|e| panic!("runtime root: {e}"));
        Container::rootless_with(tag, user, rt)
    }

    /// [`Container::rootless`] run by the given runtime (e.g. another binary).
    #[track_caller]
    pub fn rootless_with(tag: &str, user: &crate::rootless::TestUser, rt: Runtime) -> Container {
        let id = unique_id(tag);
        let mut bundle = Bundle::new(tag).unwrap_or_else(|e| panic!("building bundle: {e}"));
        // The user's own bundle directory (the rootfs stays root's, readable).
        std::os::unix::fs::chown(bundle.path(), Some(user.uid), Some(user.gid))
            .unwrap_or_else(|e| panic!("chown {}: {e}", bundle.path().display()));
        crate::rootless::make_rootless(bundle.config_mut(), user.uid, user.gid);
        cgroup::register();
        Container {
            id,
            bundle,
            rt,
            stdio: None,
        }
    }

    /// The container id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The runtime (state root) this container uses.
    pub fn rt(&self) -> &Runtime {
        &self.rt
    }

    /// The bundle.
    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    /// The config, for editing before create/run.
    pub fn config(&mut self) -> &mut Config {
        self.bundle.config_mut()
    }

    /// The rootfs path on the host.
    pub fn rootfs(&self) -> PathBuf {
        self.bundle.rootfs()
    }

    /// Writes the config.json of the bundle.
    #[track_caller]
    pub fn write_config(&self) {
        self.bundle
            .write_config()
            .unwrap_or_else(|e| panic!("writing config: {e}"));
    }

    #[track_caller]
    fn done(result: crate::error::Result<Output>) -> Output {
        result.unwrap_or_else(|e| panic!("running the runtime: {e}"))
    }

    /// Writes the config and runs `create` with `extra` flags; the container's stdio goes to a file.
    #[track_caller]
    pub fn create_with(&mut self, extra: &[&str]) -> Output {
        self.write_config();
        let out = Self::done(self.rt.create(&self.id, self.bundle.path(), extra));
        self.stdio = Some(out.stdout_path.clone());
        out
    }

    /// `create`, asserting success.
    #[track_caller]
    pub fn create(&mut self) -> Output {
        self.create_with(&[]).expect_success()
    }

    /// `start`, without asserting.
    #[track_caller]
    pub fn try_start(&self) -> Output {
        Self::done(self.rt.start(&self.id))
    }

    /// `start`, asserting success.
    #[track_caller]
    pub fn start(&self) -> Output {
        self.try_start().expect_success()
    }

    /// Writes the config and runs `run` with `extra` flags (foreground unless `-d`), not asserting.
    #[track_caller]
    pub fn run_with(&mut self, extra: &[&str]) -> Output {
        self.write_config();
        let out = Self::done(self.rt.run(&self.id, self.bundle.path(), extra));
        self.stdio = Some(out.stdout_path.clone());
        out
    }

    /// Runs in the foreground, asserts exit 0, returns the container's stdout.
    #[track_caller]
    pub fn run_ok(&mut self) -> String {
        self.run_with(&[]).expect_success().stdout
    }

    /// Sets the args to `/bin/sh -c <script>`, runs in the foreground, asserts exit 0, returns stdout.
    #[track_caller]
    pub fn sh(&mut self, script: &str) -> String {
        self.config().sh(script);
        self.run_ok()
    }

    /// `state`, not asserting.
    #[track_caller]
    pub fn try_state(&self) -> Output {
        Self::done(self.rt.state(&self.id))
    }

    /// The parsed `state` JSON, asserting success.
    #[track_caller]
    pub fn state(&self) -> Value {
        let out = self.try_state().expect_success();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state is not JSON ({e}): {}", out.describe()))
    }

    /// `state.status`.
    #[track_caller]
    pub fn status(&self) -> String {
        self.state()["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// `state.pid`, asserted > 0.
    #[track_caller]
    pub fn pid(&self) -> i32 {
        let state = self.state();
        let pid = state["pid"]
            .as_i64()
            .and_then(|p| i32::try_from(p).ok())
            .unwrap_or(0);
        assert!(pid > 0, "state has no pid: {state}");
        pid
    }

    /// `kill <id> <signal>`, not asserting.
    #[track_caller]
    pub fn kill(&self, signal: &str) -> Output {
        Self::done(self.rt.kill(&self.id, signal, false))
    }

    /// `kill --all <id> <signal>`, not asserting.
    #[track_caller]
    pub fn kill_all(&self, signal: &str) -> Output {
        Self::done(self.rt.kill(&self.id, signal, true))
    }

    /// `delete [--force]`, not asserting.
    #[track_caller]
    pub fn delete(&self, force: bool) -> Output {
        Self::done(self.rt.delete(&self.id, force))
    }

    /// Waits until process `pid` has exited.
    #[track_caller]
    pub fn wait_pid(pid: i32) {
        let exited =
            wait_pid_exit(pid, WAIT_LIMIT).unwrap_or_else(|e| panic!("waiting for {pid}: {e}"));
        assert!(
            exited,
            "process {pid} still runs after {} s",
            WAIT_LIMIT.as_secs()
        );
    }

    /// What the container wrote to stdout so far (created or detached containers).
    pub fn output(&self) -> String {
        self.stdio
            .as_ref()
            .and_then(|path| std::fs::read(path).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Waits until the container's stdout contains `needle`.
    #[track_caller]
    pub fn wait_output(&self, needle: &str) {
        wait_until(&format!("{needle:?} in the output of {}", self.id), || {
            self.output().contains(needle)
        })
        .unwrap_or_else(|e| panic!("{e}; output so far: {:?}", self.output()));
    }

    /// Kills what is left in the container's cgroups (by pid) and removes them; returns what was left.
    fn remove_leftover_cgroups(&self) -> Vec<PathBuf> {
        let left = cgroup::leftovers(&self.id);
        if left.is_empty() {
            return left;
        }
        for pid in cgroup::procs(&self.id) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = wait_pid_exit(pid, WAIT_LIMIT);
        }
        for dir in &left {
            if let Err(err) = std::fs::remove_dir(dir) {
                eprintln!("warning: rmdir {}: {err}", dir.display());
            }
        }
        left
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.rt.kill(&self.id, "KILL", true);
        let _ = self.rt.delete(&self.id, true);
        let left = self.remove_leftover_cgroups();
        cgroup::unregister();
        if !left.is_empty() && !std::thread::panicking() {
            panic!(
                "the runtime left the cgroups of {} behind: {left:?}",
                self.id
            );
        }
    }
}
