//! Regression tests for container-breakout CVEs of runc-compatible runtimes, about the
//! runtime's binary, its file descriptors and capabilities: each fails on a runtime that is
//! vulnerable to the CVE in its name. The mount-related ones are in `cve_mounts.rs`, the 2025
//! ones in `cve_2025.rs`; README.md has the table.

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use kiln_integration_tests::timings::last_phases;
use kiln_integration_tests::{
    caps, runtime_bin, skip_for_runc, sys, CapSet, Container, Runtime, ScratchDir,
};

#[test]
fn cve_2019_5736_runtime_binary_is_not_writable_through_proc_exe() {
    // While the init still runs the runtime's image, a process that can see it
    // may open /proc/<pid>/exe; after the init execs, that handle must not be
    // reopenable for writing.
    let mut c = Container::new("exe");
    c.config().args(&["sleep", "1000"]);
    c.create();
    let pid = c.pid();
    let exe = format!("/proc/{pid}/exe");
    // O_TRUNC is checked against the mount before ETXTBSY: a read-only view
    // answers EROFS, a writable one ETXTBSY.
    let truncating = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&exe);
    // Hold a handle across the exec of the user program, as an attacker would.
    let held = std::fs::File::open(&exe).expect("open exe for reading");
    c.start();
    sys::wait_comm(pid, "sleep").expect("container program started");
    let reopened = std::fs::OpenOptions::new()
        .append(true)
        .open(format!("/proc/self/fd/{}", held.as_raw_fd()));
    // runc differs: runc 1.1 runs its init from a sealed memfd copy (ETXTBSY
    // while running, and a harmless memfd afterwards); kiln must run it from a
    // read-only view of its binary.
    if skip_for_runc("init is a memfd copy, not a read-only mount") {
        return;
    }
    let err = truncating.expect_err("the runtime binary opened for writing with O_TRUNC");
    assert_eq!(
        err.raw_os_error(),
        Some(libc::EROFS),
        "O_TRUNC open of {exe}: {err}"
    );
    let view = nix::sys::statvfs::fstatvfs(&held).expect("fstatvfs");
    assert!(
        view.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY),
        "the init ran from a writable view of the runtime binary"
    );
    let err = reopened.expect_err("the runtime binary reopened for writing after exec");
    // EROFS; ETXTBSY when another kiln (a test running in parallel) executes the same file
    // at that moment: write access to the inode is refused before the mount is checked.
    assert!(
        matches!(err.raw_os_error(), Some(libc::EROFS | libc::ETXTBSY)),
        "reopen of {exe} after exec: {err}"
    );
}

/// Whether the last `--timings` line of `log` has a `reexec` phase (and the command cloned
/// the container process itself: the init's or the exec'd process' steps are there, `wanted`).
#[track_caller]
fn reexecuted(log: &Path, wanted: &str) -> bool {
    let phases = last_phases(log);
    assert!(
        phases.iter().any(|p| p == wanted),
        "no {wanted} in {phases:?}"
    );
    phases.iter().any(|p| p == "reexec")
}

#[test]
fn cve_2019_5736_no_reexec_only_where_the_container_cannot_write_the_binary() {
    // runc differs: runc 1.1 always runs `runc init` from a memfd copy of itself.
    if skip_for_runc("kiln's own re-exec, seen through --timings") {
        return;
    }
    // kiln skips its protective re-exec for a container whose user namespace leaves the
    // binary's owner unmapped (and the binary writable by its owner only): no process there
    // can write it, capabilities or not. Shown on the binary itself, bound into the container.
    use std::os::unix::fs::MetadataExt;
    let bin = runtime_bin();
    let meta = std::fs::metadata(&bin).expect("stat kiln");
    assert!(
        meta.uid() == 0 && meta.mode() & 0o022 == 0,
        "{} must be root's and writable by root only for this test",
        bin.display()
    );
    let mut c = Container::new("noreexec");
    c.config()
        .namespace("user", None)
        .uid_mapping(0, 100_000, 65_536)
        .gid_mapping(0, 100_000, 65_536)
        .bind(&bin.to_string_lossy(), "/tmp/kiln-binary", false, &[])
        .args(&["sleep", "100"]);
    c.create_with(&["--timings"]).expect_success();
    let log = c.rt().log_path();
    assert!(
        !reexecuted(&log, "init.ready"),
        "create re-executed in a user namespace"
    );
    c.start();
    let probe = "stat -c %u /tmp/kiln-binary; : >> /tmp/kiln-binary && echo WRITABLE";
    let out = c
        .rt()
        .exec(&["exec", "--timings", c.id(), "sh", "-c", probe])
        .expect("exec");
    assert!(
        !reexecuted(&log, "exec.caps"),
        "exec re-executed in a user namespace"
    );
    // Container root (all its capabilities) cannot open the binary for writing: its owner is
    // not mapped (stat shows the overflow uid).
    assert_eq!(out.stdout.trim(), "65534", "{}", out.describe());
    assert!(
        out.stderr.contains("Permission denied"),
        "{}",
        out.describe()
    );
    // Without a user namespace the re-exec is done.
    let mut d = Container::new("reexec");
    d.config().args(&["true"]);
    d.create_with(&["--timings"]).expect_success();
    assert!(
        reexecuted(&d.rt().log_path(), "init.ready"),
        "create without a user namespace"
    );
}

/// Kills (by pid) and reaps a child this test started, unless it was waited for.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `unshare --user --map-root-user kiln create` of `bundle` (stdout to /dev/null, stderr to
/// `stderr`).
fn create_in_a_user_namespace(rt: &Runtime, bundle: &ScratchDir, stderr: &Path) -> Reaped {
    let child = Command::new("unshare")
        .args(["--user", "--map-root-user"])
        .arg(runtime_bin())
        .arg("--root")
        .arg(rt.root())
        .args(["create", "--bundle"])
        .arg(bundle.path())
        .arg("memfd-create")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr).expect("stderr file"))
        .spawn()
        .expect("run unshare");
    Reaped(child)
}

/// Waits until `exe` (the `/proc/<pid>/exe` of `child`) is a memfd copy of kiln; fails if
/// `child` exits first.
fn wait_for_memfd(child: &mut Reaped, exe: &str, stderr: &Path) {
    let mut exited = None;
    sys::wait_until("create to re-execute from a memfd", || {
        if let Ok(Some(status)) = child.0.try_wait() {
            exited = Some(status);
            return true;
        }
        std::fs::read_link(exe).is_ok_and(|t| t.to_string_lossy().starts_with("/memfd:kiln"))
    })
    .expect("the memfd path was taken");
    assert!(
        exited.is_none(),
        "create exited ({exited:?}) instead of running from a memfd: {}",
        std::fs::read_to_string(stderr).unwrap_or_default()
    );
}

#[test]
fn cve_2019_5736_sealed_memfd_copy_when_the_read_only_view_is_refused() {
    // runc differs: runc 1.1 copies its binary into a memfd in `runc init` (nsexec); `runc
    // create` itself keeps running from the host binary.
    if skip_for_runc("create is not re-executed from a copy of the binary") {
        return;
    }
    // kiln re-executes `create` from a detached read-only bind mount of its binary
    // (open_tree), which needs CAP_SYS_ADMIN over the caller's mount namespace. In a new user
    // namespace without a new mount namespace (`unshare --user --map-root-user`) it is refused
    // (EPERM), and exe_guard falls back to a sealed memfd copy: the path taken when kiln itself
    // runs in a user namespace. kiln cannot create a container there yet (rootless is a later
    // issue), so the process observed is `create` itself, after its re-exec: the bundle's
    // config.json is a FIFO, which the re-executed `create` blocks reading.
    let bin = runtime_bin();
    let st = nix::sys::statvfs::statvfs(&bin).expect("statvfs kiln");
    assert!(
        !st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY),
        "{} must be on a writable mount for this test",
        bin.display()
    );
    let rt = Runtime::new().expect("runtime root");
    let bundle = ScratchDir::new("memfd").expect("bundle dir");
    let config = bundle.join("config.json");
    nix::unistd::mkfifo(&config, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .expect("mkfifo config.json");
    let stderr = bundle.join("stderr");
    let mut child = create_in_a_user_namespace(&rt, &bundle, &stderr);
    // unshare execs kiln in the same process.
    let pid = i32::try_from(child.0.id()).expect("pid");
    let exe = format!("/proc/{pid}/exe");
    wait_for_memfd(&mut child, &exe, &stderr);
    let held = std::fs::File::open(&exe).expect("open the running image for reading");
    let seals = nix::fcntl::fcntl(held.as_raw_fd(), nix::fcntl::FcntlArg::F_GET_SEALS)
        .expect("F_GET_SEALS");
    let wanted = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    assert_eq!(seals & wanted, wanted, "seals of {exe}: {seals:#x}");
    let err = std::fs::OpenOptions::new()
        .write(true)
        .open(&exe)
        .expect_err("the running image opened for writing");
    assert_eq!(err.raw_os_error(), Some(libc::ETXTBSY), "{exe}: {err}");
    // Let create go on: it fails on the config, having run past the guard.
    std::fs::write(&config, "{").expect("write the FIFO");
    let status = child.0.wait().expect("wait for create");
    let text = std::fs::read_to_string(&stderr).unwrap_or_default();
    assert!(
        !status.success() && text.contains("config.json"),
        "{status}: {text}"
    );
    // Once nothing executes it, the copy still refuses writes: it is sealed.
    let mut w = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/self/fd/{}", held.as_raw_fd()))
        .expect("reopen the copy for writing");
    use std::io::Write;
    let err = w.write_all(b"x").expect_err("wrote into the copy");
    assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
    assert!(rt.state_entries().is_empty(), "{:?}", rt.state_entries());
}

/// Whether runc's suite would accept `target` as an fd of a created init.
fn allowed(target: &str) -> bool {
    let kernel_object = ["pipe:[", "socket:[", "anon_inode:"]
        .iter()
        .any(|p| target.starts_with(p));
    kernel_object
        || target == "/dev/null"
        || target.starts_with("/dev/pts/")
        || target.ends_with("/exec.fifo")
}

#[test]
fn cve_2024_21626_created_init_holds_no_host_directory_or_inherited_fd() {
    // What a created container's init holds between `create` and `start`: nothing of the host
    // that a process inside could reach through /proc/1/fd (runc's "detect fd leak as
    // comprehensively as possible"), including fds the caller of `create` left open without
    // close-on-exec.
    let mut c = Container::new("fdleak");
    c.config().args(&["sleep", "1000"]);
    c.write_config();
    // A host directory, open in the caller without close-on-exec at fd 9.
    let host_dir = std::fs::File::open("/etc").expect("open /etc");
    let raw = host_dir.as_raw_fd();
    let mut cmd = Command::new(runtime_bin());
    cmd.arg("--root")
        .arg(c.rt().root())
        .args(["create", "--bundle"])
        .arg(c.bundle().path())
        .arg(c.id())
        // The init keeps stdio open: output() would wait for it.
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    // SAFETY: only dup2 (async-signal-safe) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 9) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.stderr(Stdio::null()).status().expect("run the runtime");
    assert!(out.success(), "create failed: {out:?}");
    assert_eq!(c.status(), "created");
    let pid = c.pid();
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd dir")
        .flatten()
    {
        let target = std::fs::read_link(entry.path())
            .map(|t| t.to_string_lossy().into_owned())
            .unwrap_or_default();
        let is_dir = std::fs::metadata(entry.path()).is_ok_and(|m| m.is_dir());
        seen.push(format!(
            "{} -> {target}",
            entry.file_name().to_string_lossy()
        ));
        assert!(
            allowed(&target) && !is_dir,
            "the created init holds {target:?}: {seen:?}"
        );
    }
    c.start();
    assert_eq!(c.status(), "running");
}

/// Every fd number a runtime's init or exec helper could hold while it changes directory.
const FDS: std::ops::RangeInclusive<u32> = 0..=40;

/// A script that proves it ran and shows where it runs.
const ESCAPED: &str = "echo RAN; pwd -P; ls -a ../../../..";

#[test]
fn cve_2024_21626_cwd_proc_self_fd_is_refused() {
    // runc < 1.1.12 leaked an fd of the host's /sys/fs/cgroup into its init: process.cwd
    // /proc/self/fd/N gave the container a working directory on the host.
    let mut c = Container::new("cwdfd");
    for n in FDS {
        let cwd = format!("/proc/self/fd/{n}");
        c.config().cwd(&cwd).sh(ESCAPED);
        let out = c.run_with(&[]);
        assert!(
            !out.success() && !out.stdout.contains("RAN"),
            "process.cwd {cwd}: {}",
            out.describe()
        );
        out.expect_failure();
        c.assert_nothing_left();
    }
}

#[test]
fn cve_2024_21626_exec_cwd_proc_self_fd_is_refused() {
    // The same through `exec --cwd`: the exec'd process starts from the runtime's process,
    // whose fds (state directory, cgroup, lock) must not be a way out either.
    let mut c = Container::new("execcwdfd");
    c.config().args(&["sleep", "1000"]);
    c.create();
    c.start();
    for n in FDS {
        let cwd = format!("/proc/self/fd/{n}");
        let out = c
            .rt()
            .exec(&["exec", "--cwd", &cwd, c.id(), "/bin/sh", "-c", ESCAPED])
            .expect("run exec");
        assert!(
            !out.success() && !out.stdout.contains("RAN"),
            "exec --cwd {cwd}: {}",
            out.describe()
        );
        out.expect_failure();
    }
    assert_eq!(c.status(), "running");
}

/// Raises `mask` in this (forked) process's inheritable set: only raw syscalls.
fn raise_inheritable(mask: u64) -> std::io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut header = Header {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let mut data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: capget writes two `Data` (version 3) through valid, live pointers.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    data[0].inheritable |= mask as u32;
    data[1].inheritable |= (mask >> 32) as u32;
    // SAFETY: capset reads the header and two `Data` through valid, live pointers.
    let r = unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Runs the runtime with `args` for `c`, from a caller whose inheritable set holds `mask`.
fn run_inheriting(c: &Container, args: &[&str], mask: u64) -> std::process::Output {
    let mut cmd = Command::new(runtime_bin());
    cmd.arg("--root").arg(c.rt().root()).args(args);
    // SAFETY: only capget/capset (raw syscalls, no allocation) between fork and exec.
    unsafe {
        cmd.pre_exec(move || raise_inheritable(mask));
    }
    cmd.stdin(Stdio::null()).output().expect("run the runtime")
}

/// `CapInh` in a `/proc/<pid>/status` text.
fn inheritable(status: &str) -> u64 {
    caps::status_mask(status, CapSet::Inheritable.status_field())
        .unwrap_or_else(|| panic!("no CapInh in {status:?}"))
}

#[test]
fn cve_2022_29162_run_and_exec_set_no_inheritable_capabilities_not_asked_for() {
    // runc < 1.1.2 gave processes inheritable capabilities (the bounding set) that the config
    // did not ask for; with a program carrying inheritable file capabilities these became
    // permitted. The runtime's caller holding some must not matter either.
    let caller = caps::mask(&["CAP_NET_ADMIN", "CAP_SYS_ADMIN"]).expect("mask");
    let mut c = Container::new("capinh");
    c.config().sh("cat /proc/self/status");
    c.write_config();
    let bundle = c.bundle().path().to_string_lossy().into_owned();
    let out = run_inheriting(&c, &["run", "--bundle", &bundle, c.id()], caller);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "run: {out:?}");
    assert_eq!(inheritable(&text), 0, "run: {text}");
    // What the config asks for it gets, and only that.
    let kill = caps::mask(&["CAP_KILL"]).expect("mask");
    c.config().capabilities(CapSet::Inheritable, &["CAP_KILL"]);
    assert_eq!(inheritable(&c.run_ok()), kill, "inheritable [CAP_KILL]");
    c.config()
        .remove(&["process", "capabilities", "inheritable"])
        .args(&["sleep", "1000"]);
    c.create();
    c.start();
    let status = ["exec", c.id(), "cat", "/proc/self/status"];
    let with_cap = [
        "exec",
        "--cap",
        "CAP_SYS_ADMIN",
        c.id(),
        "cat",
        "/proc/self/status",
    ];
    for args in [&status[..], &with_cap[..]] {
        let out = run_inheriting(&c, args, caller);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}: {out:?}");
        assert_eq!(inheritable(&text), 0, "{args:?}: {text}");
    }
}
