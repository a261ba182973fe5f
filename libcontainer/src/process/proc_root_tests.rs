//! Tests of [`ProcRoot`]: overmounts are refused on a mounted `/proc` and
//! do not exist on a private instance. Mounts are made in a forked child with
//! its own mount namespace.

use std::os::fd::{AsFd, AsRawFd};
use std::panic::AssertUnwindSafe;

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};

use super::*;

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Runs `body` in a forked child with a private mount namespace; returns
/// what it panicked with (or `None` when it passed).
fn in_mount_ns(body: impl FnOnce()) -> Option<String> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe");
    // SAFETY: the child only runs the test body (syscalls and allocation,
    // which glibc keeps usable across fork) and then _exits.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let run = || {
                unshare(CloneFlags::CLONE_NEWNS).expect("unshare");
                let rprivate = MsFlags::MS_PRIVATE | MsFlags::MS_REC;
                mount(None::<&str>, "/", None::<&str>, rprivate, None::<&str>).expect("rprivate");
                body();
            };
            let code = match std::panic::catch_unwind(AssertUnwindSafe(run)) {
                Ok(()) => 0,
                Err(e) => {
                    let msg = e
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    let _ = nix::unistd::write(&w, msg.as_bytes());
                    1
                }
            };
            crate::init::exit_now(code)
        }
        ForkResult::Parent { child } => {
            drop(w);
            let status = waitpid(child, None).expect("waitpid");
            let mut msg = String::new();
            let _ = File::from(r).read_to_string(&mut msg);
            match status {
                WaitStatus::Exited(_, 0) => None,
                other => Some(format!("{other:?}: {msg}")),
            }
        }
    }
}

#[test]
fn a_private_instance_is_preferred_and_reads_sysctls() {
    if !is_root() {
        return;
    }
    let root = ProcRoot::open().expect("procfs root");
    assert_eq!(root.kind(), Kind::Private);
    let ostype = root.read_to_string("sys/kernel/ostype").expect("read");
    assert_eq!(ostype, "Linux\n");
    let status = root.read_to_string("thread-self/status").expect("read");
    assert!(
        status.contains(&format!("Tgid:\t{}", std::process::id())),
        "{status}"
    );
}

#[test]
fn roots_that_are_not_a_procfs_root_are_refused() {
    let err = ProcRoot::at(Path::new("/tmp")).expect_err("/tmp is no procfs");
    assert!(matches!(err, ProcfsError::NotProcfs { .. }), "{err}");
    let err = ProcRoot::at(Path::new("/proc/sys")).expect_err("/proc/sys is not the root");
    assert!(
        matches!(err, ProcfsError::NotProcRoot { ino, .. } if ino != 1),
        "{err}"
    );
}

#[test]
fn magic_links_and_dotdot_are_not_followed() {
    let root = ProcRoot::at(Path::new("/proc")).expect("procfs root");
    for rel in [
        "thread-self/cwd",
        "self/root/etc",
        "../etc/passwd",
        "self/fd/0",
    ] {
        let err = root.open_file(rel, libc::O_RDONLY).expect_err(rel);
        assert!(
            matches!(
                err,
                ProcfsError::Sys {
                    errno: Errno::ELOOP,
                    ..
                } | ProcfsError::Overmounted { .. }
            ),
            "{rel}: {err}"
        );
    }
}

#[test]
fn an_overmounted_file_is_refused_and_invisible_in_a_private_instance() {
    if !is_root() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let decoy = dir.path().join("decoy");
    std::fs::write(&decoy, "decoy\n").expect("write");
    let failed = in_mount_ns(|| {
        let target = "/proc/sys/kernel/domainname";
        mount(
            Some(&decoy),
            target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .expect("bind");
        let mounted = ProcRoot::at(Path::new("/proc")).expect("root");
        let err = mounted
            .open_file("sys/kernel/domainname", libc::O_WRONLY)
            .expect_err("an overmounted sysctl was opened");
        assert!(matches!(err, ProcfsError::Overmounted { .. }), "{err}");
        assert!(
            err.to_string().contains("/proc/sys/kernel/domainname"),
            "{err}"
        );
        let private = ProcRoot::open().expect("private root");
        assert_eq!(private.kind(), Kind::Private);
        let real = private
            .read_to_string("sys/kernel/domainname")
            .expect("read");
        assert_ne!(real, "decoy\n", "the private instance shows the overmount");
        assert_eq!(std::fs::read_to_string(target).expect("read"), "decoy\n");
    });
    assert_eq!(failed, None);
    assert_eq!(std::fs::read_to_string(&decoy).expect("read"), "decoy\n");
}

#[test]
fn reopen_returns_the_same_file_and_refuses_a_redirected_one() {
    if !is_root() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let real = dir.path().join("real");
    std::fs::write(&real, "real\n").expect("write");
    let path_fd = rsys::openat2(
        open_dir(dir.path()).expect("dir").as_fd(),
        Path::new("real"),
        libc::O_PATH,
        0,
        0,
    )
    .expect("O_PATH");
    let mut text = String::new();
    reopen(path_fd.as_fd(), nix::fcntl::OFlag::O_RDONLY)
        .expect("reopen")
        .read_to_string(&mut text)
        .expect("read");
    assert_eq!(text, "real\n");
    // A directory mounted over this thread's fd directory, holding a decoy
    // under the same number.
    let decoys = tempfile::tempdir().expect("tempdir");
    let failed = in_mount_ns(|| {
        let n = path_fd.as_raw_fd().to_string();
        std::fs::write(decoys.path().join(&n), "decoy\n").expect("decoy");
        let fd_dir = format!(
            "/proc/{}/task/{}/fd",
            std::process::id(),
            nix::unistd::gettid()
        );
        mount(
            Some(decoys.path()),
            fd_dir.as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .expect("bind over the fd directory");
        let err = reopen(path_fd.as_fd(), nix::fcntl::OFlag::O_WRONLY).expect_err("redirected");
        assert!(matches!(err, ProcfsError::Redirected { .. }), "{err}");
    });
    assert_eq!(failed, None);
    assert_eq!(std::fs::read_to_string(&real).expect("read"), "real\n");
}
