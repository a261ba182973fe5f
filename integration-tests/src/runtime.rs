//! Driving the runtime binary under test.

use std::cell::Cell;
use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{io_err, Error, Result};
use crate::scratch::ScratchDir;
use crate::sys::{wait_pid_exit, WAIT_LIMIT};

/// The runtime binary under test: `$KILN_BIN`, else the `kiln` that cargo
/// built beside this test executable (`<target>/[<triple>/]<profile>/kiln`,
/// the test itself being in `…/<profile>/deps/`).
pub fn runtime_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("KILN_BIN") {
        return PathBuf::from(bin);
    }
    let beside_tests = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("kiln")));
    beside_tests
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/kiln"))
}

/// Whether the binary under test is runc (its file name is `runc`).
pub fn is_runc() -> bool {
    runtime_bin().file_name().is_some_and(|name| name == "runc")
}

/// For a test whose requirement runc does not meet: when the binary under test is runc (and
/// `KILN_IT_NO_SKIP` is unset), prints `SKIP` with the reason and returns `true`.
pub fn skip_for_runc(reason: &str) -> bool {
    if is_runc() && std::env::var_os("KILN_IT_NO_SKIP").is_none() {
        println!("SKIP (runc differs: {reason})");
        return true;
    }
    false
}

/// What one invocation of the runtime did.
#[derive(Debug, Clone)]
pub struct Output {
    /// The command line after the global flags.
    pub args: Vec<String>,
    /// Exit code, or 128 + N when killed by signal N.
    pub code: i32,
    /// Everything written to stdout (for `create` and `run -d`: until the runtime exited).
    pub stdout: String,
    /// Everything written to stderr.
    pub stderr: String,
    /// The file that received stdout; a created container keeps writing its output there.
    pub stdout_path: PathBuf,
}

impl Output {
    /// Whether the runtime exited 0.
    pub fn success(&self) -> bool {
        self.code == 0
    }

    /// A description for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "`{}` exited {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.args.join(" "),
            self.code,
            self.stdout,
            self.stderr
        )
    }

    /// Panics (with the full output) unless the runtime exited 0; returns `self`.
    #[track_caller]
    pub fn expect_success(self) -> Self {
        assert!(self.success(), "{}", self.describe());
        self
    }

    /// Panics unless the runtime failed with a message on stderr; returns `self`.
    #[track_caller]
    pub fn expect_failure(self) -> Self {
        assert!(!self.success(), "expected failure, got {}", self.describe());
        assert!(
            !self.stderr.trim().is_empty(),
            "no message on stderr: {}",
            self.describe()
        );
        self
    }
}

/// One runtime state root (`--root`) with its log file and captured output.
#[derive(Debug)]
pub struct Runtime {
    bin: PathBuf,
    dir: ScratchDir,
    calls: Cell<u32>,
    /// Runs the runtime as this uid/gid (no supplementary groups) instead of root.
    user: Option<(u32, u32)>,
    /// A cgroup v2 directory each runtime process joins (as root) before dropping to `user`.
    launch_cgroup: Option<std::ffi::CString>,
}

impl Runtime {
    /// A runtime with a fresh state root under /tmp.
    pub fn new() -> Result<Runtime> {
        let bin = runtime_bin();
        if !bin.is_file() {
            return Err(Error::MissingRuntime(bin));
        }
        let dir = ScratchDir::new("rt")?;
        for sub in ["state", "io"] {
            let path = dir.join(sub);
            std::fs::create_dir(&path).map_err(io_err("create directory", path))?;
        }
        Ok(Runtime {
            bin,
            dir,
            calls: Cell::new(0),
            user: None,
            launch_cgroup: None,
        })
    }

    /// A runtime run by `uid`/`gid` (an unprivileged user: rootless), whose state root and
    /// output files that user owns. `XDG_RUNTIME_DIR` is unset for it.
    pub fn unprivileged(uid: u32, gid: u32) -> Result<Runtime> {
        let mut rt = Runtime::new()?;
        for path in [rt.dir.path().to_path_buf(), rt.root(), rt.dir.join("io")] {
            std::os::unix::fs::chown(&path, Some(uid), Some(gid))
                .map_err(io_err("chown", &path))?;
        }
        rt.user = Some((uid, gid));
        Ok(rt)
    }

    /// [`Runtime::unprivileged`], with every runtime process started in the cgroup v2
    /// directory `cgroup` (moved there while still root), as a user's processes live in the
    /// subtree delegated to them.
    pub fn unprivileged_in(uid: u32, gid: u32, cgroup: &Path) -> Result<Runtime> {
        let mut rt = Runtime::unprivileged(uid, gid)?;
        let procs = cgroup.join("cgroup.procs");
        let nul = |e: std::ffi::NulError| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
        let procs_c = std::ffi::CString::new(procs.as_os_str().as_encoded_bytes())
            .map_err(|e| io_err("use", &procs)(nul(e)))?;
        rt.launch_cgroup = Some(procs_c);
        Ok(rt)
    }

    /// The same runtime, run from the binary `bin` instead.
    pub fn with_bin(mut self, bin: PathBuf) -> Runtime {
        self.bin = bin;
        self
    }

    /// The uid/gid it runs as, if not root.
    pub fn user(&self) -> Option<(u32, u32)> {
        self.user
    }

    /// The binary.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// The `--root` directory.
    pub fn root(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// The `--log` file (JSON lines).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("log.json")
    }

    /// Runs `<bin> --root R --log L --log-format json <args>` with stdin from /dev/null.
    pub fn exec(&self, args: &[&str]) -> Result<Output> {
        self.exec_within(args, WAIT_LIMIT)
    }

    /// [`Runtime::exec`], but the runtime is killed and [`Error::Timeout`] returned when it
    /// has not exited within `limit` (for tests of operations that used to hang).
    pub fn exec_within(&self, args: &[&str], limit: std::time::Duration) -> Result<Output> {
        self.exec_env_within(args, &[], limit)
    }

    /// [`Runtime::exec`] with `env` added to the runtime's environment.
    pub fn exec_env(&self, args: &[&str], env: &[(&str, &str)]) -> Result<Output> {
        self.exec_env_within(args, env, WAIT_LIMIT)
    }

    fn exec_env_within(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        limit: std::time::Duration,
    ) -> Result<Output> {
        let n = self.calls.get() + 1;
        self.calls.set(n);
        let stdout_path = self.dir.join(format!("io/{n}.out"));
        let stderr_path = self.dir.join(format!("io/{n}.err"));
        let stdout = File::create(&stdout_path).map_err(io_err("create", &stdout_path))?;
        let stderr = File::create(&stderr_path).map_err(io_err("create", &stderr_path))?;
        if let Some((uid, gid)) = self.user {
            for p in [&stdout_path, &stderr_path] {
                std::os::unix::fs::chown(p, Some(uid), Some(gid)).map_err(io_err("chown", p))?;
            }
        }
        let mut cmd = Command::new(&self.bin);
        if let Some((uid, gid)) = self.user {
            use std::os::unix::process::CommandExt;
            let launch = self.launch_cgroup.clone();
            cmd.env_remove("XDG_RUNTIME_DIR");
            // SAFETY: the closure runs between fork and exec and only makes async-signal-safe
            // calls (open, write, close, setgroups, setresgid, setresuid) on data prepared
            // before the fork.
            unsafe {
                cmd.pre_exec(move || drop_to(launch.as_deref(), uid, gid));
            }
        }
        let mut child = cmd
            .arg("--root")
            .arg(self.root())
            .arg("--log")
            .arg(self.log_path())
            .args(["--log-format", "json"])
            .args(args)
            .envs(env.iter().copied())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|source| Error::Spawn {
                program: self.bin.clone(),
                source,
            })?;
        let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
        if !wait_pid_exit(pid, limit)? {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::Timeout {
                what: format!("{} {}", self.bin.display(), args.join(" ")),
                seconds: limit.as_secs(),
            });
        }
        let status = child.wait().map_err(|source| Error::Spawn {
            program: self.bin.clone(),
            source,
        })?;
        let code = status
            .code()
            .or_else(|| status.signal().map(|s| 128 + s))
            .unwrap_or(-1);
        let read =
            |path: &Path| std::fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned());
        Ok(Output {
            args: args.iter().map(|a| a.to_string()).collect(),
            code,
            stdout: read(&stdout_path).map_err(io_err("read", &stdout_path))?,
            stderr: read(&stderr_path).map_err(io_err("read", &stderr_path))?,
            stdout_path,
        })
    }

    /// `create --bundle <bundle> <extra...> <id>`.
    pub fn create(&self, id: &str, bundle: &Path, extra: &[&str]) -> Result<Output> {
        self.with_bundle("create", id, bundle, extra)
    }

    /// `run --bundle <bundle> <extra...> <id>`.
    pub fn run(&self, id: &str, bundle: &Path, extra: &[&str]) -> Result<Output> {
        self.with_bundle("run", id, bundle, extra)
    }

    fn with_bundle(
        &self,
        command: &str,
        id: &str,
        bundle: &Path,
        extra: &[&str],
    ) -> Result<Output> {
        let bundle = bundle.to_string_lossy();
        let mut args = vec![command, "--bundle", &bundle];
        args.extend_from_slice(extra);
        args.push(id);
        self.exec(&args)
    }

    /// `start <id>`.
    pub fn start(&self, id: &str) -> Result<Output> {
        self.exec(&["start", id])
    }

    /// `state <id>`.
    pub fn state(&self, id: &str) -> Result<Output> {
        self.exec(&["state", id])
    }

    /// `kill [--all] <id> <signal>`.
    pub fn kill(&self, id: &str, signal: &str, all: bool) -> Result<Output> {
        if all {
            self.exec(&["kill", "--all", id, signal])
        } else {
            self.exec(&["kill", id, signal])
        }
    }

    /// `delete [--force] <id>`.
    pub fn delete(&self, id: &str, force: bool) -> Result<Output> {
        if force {
            self.exec(&["delete", "--force", id])
        } else {
            self.exec(&["delete", id])
        }
    }

    /// `list <extra...>`.
    pub fn list(&self, extra: &[&str]) -> Result<Output> {
        let mut args = vec!["list"];
        args.extend_from_slice(extra);
        self.exec(&args)
    }

    /// Entries of the state root (container state directories).
    pub fn state_entries(&self) -> Vec<String> {
        std::fs::read_dir(self.root())
            .map(|dir| {
                dir.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The log file's content.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

/// In a forked child (still root): joins the cgroup whose `cgroup.procs` is `procs`, if any,
/// then becomes `uid`/`gid` with no supplementary groups.
fn drop_to(procs: Option<&std::ffi::CStr>, uid: u32, gid: u32) -> std::io::Result<()> {
    let check = |r: libc::c_int| {
        if r < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(r)
        }
    };
    if let Some(procs) = procs {
        // SAFETY: a NUL-terminated path; the fd is closed below.
        let fd = check(unsafe { libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) })?;
        // SAFETY: writes 1 byte from a static buffer to the fd just opened.
        let n = unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) };
        // SAFETY: closes the fd opened above.
        unsafe { libc::close(fd) };
        if n != 1 {
            return Err(std::io::Error::last_os_error());
        }
    }
    // SAFETY: plain syscalls with no pointers but the null group list.
    unsafe {
        check(libc::setgroups(0, std::ptr::null()))?;
        check(libc::setresgid(gid, gid, gid))?;
        check(libc::setresuid(uid, uid, uid))?;
    }
    Ok(())
}
