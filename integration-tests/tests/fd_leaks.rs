//! What a created container's init holds between `create` and `start`: nothing of the host that
//! a process inside could reach through /proc/1/fd (runc's "detect fd leak as comprehensively
//! as possible"), including fds the caller of `create` left open without close-on-exec.

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;

use kiln_integration_tests::Container;

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
fn created_init_holds_no_host_directory_or_inherited_fd() {
    let mut c = Container::new("fdleak");
    c.config().args(&["sleep", "1000"]);
    c.write_config();
    // A host directory, open in the caller without close-on-exec at fd 9.
    let host_dir = std::fs::File::open("/etc").expect("open /etc");
    let raw = host_dir.as_raw_fd();
    let mut cmd = std::process::Command::new(kiln_integration_tests::runtime_bin());
    cmd.arg("--root")
        .arg(c.rt().root())
        .args(["create", "--bundle"])
        .arg(c.bundle().path())
        .arg(c.id())
        // The init keeps stdio open: output() would wait for it.
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    // SAFETY: only dup2 (async-signal-safe) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 9) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run the runtime");
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
