//! SCMP_ACT_NOTIFY end to end (filter → listener fd → runtime → agent → answered syscalls), and
//! `send_to_listener` on its own.

mod common;

use std::io::{IoSliceMut, Read};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;

use common::{
    cpath, pipe, profile, read_exact, set_no_new_privs, spawn, steal_fd, sys_mkdir, write_byte,
    write_i32,
};
use kiln_seccomp::{compile, send_to_listener, SeccompError};
use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags, ScmpSyscall};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use nix::sys::wait::WaitStatus;
use serde_json::{json, Value};

/// Agent side: accepts one connection and returns the fd from SCM_RIGHTS and the JSON payload
/// (read until the runtime closes the connection).
fn receive_state(listener: &UnixListener) -> (OwnedFd, Value) {
    let (mut stream, _) = listener.accept().unwrap();
    let mut buf = vec![0u8; 4096];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let (fd, n) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .unwrap();
        let fds: Vec<RawFd> = msg
            .cmsgs()
            .unwrap()
            .flat_map(|c| match c {
                ControlMessageOwned::ScmRights(fds) => fds,
                _ => Vec::new(),
            })
            .collect();
        assert_eq!(fds.len(), 1, "exactly one fd in SCM_RIGHTS");
        // SAFETY: the kernel just installed this fd for us via SCM_RIGHTS; nothing else owns it.
        (unsafe { OwnedFd::from_raw_fd(fds[0]) }, msg.bytes)
    };
    buf.truncate(n);
    stream.read_to_end(&mut buf).unwrap();
    (fd, serde_json::from_slice(&buf).unwrap())
}

/// What `/proc/self/fd/N` says the fd is.
fn fd_kind(fd: &OwnedFd) -> String {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// Answers mkdir notifications until the filter has no users left: mode 0700 gets `errno`,
/// anything else continues. Returns (pid, mode) of each notification.
fn serve_mkdir(notify: &OwnedFd, errno: i32) -> Vec<(u32, u64)> {
    let mkdir = ScmpSyscall::from_name("mkdir").unwrap();
    let mut seen = Vec::new();
    loop {
        let mut fds = [PollFd::new(notify.as_fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::NONE).unwrap();
        let revents = fds[0].revents().unwrap_or(PollFlags::empty());
        if !revents.contains(PollFlags::POLLIN) {
            return seen; // POLLHUP: every task using the filter is gone
        }
        let Ok(req) = ScmpNotifReq::receive(notify.as_raw_fd()) else {
            continue; // the task died between poll and receive
        };
        assert_eq!(req.data.syscall, mkdir);
        let mode = req.data.args[1];
        seen.push((req.pid, mode));
        let resp = if mode == 0o700 {
            ScmpNotifResp::new_error(req.id, -errno, ScmpNotifRespFlags::empty())
        } else {
            ScmpNotifResp::new_continue(req.id, ScmpNotifRespFlags::empty())
        };
        resp.respond(notify.as_raw_fd()).unwrap();
    }
}

#[test]
fn notify_agent_answers_the_container_syscalls() {
    let tmp = tempfile::tempdir().unwrap();
    let socket = tmp.path().join("agent.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    // Also exercise the flag combination the kernel only accepts in a particular form:
    // NEW_LISTENER + TSYNC (needs TSYNC_ESRCH) + WAIT_KILLABLE_RECV.
    let supported = kiln_seccomp::features().supported_flags;
    let flags: Vec<_> = [
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
    ]
    .into_iter()
    .filter(|f| supported.iter().any(|s| s == f))
    .collect();
    let filter = compile(&profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": flags,
        "listenerPath": socket,
        "listenerMetadata": "MKDIR=answer",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
    })))
    .unwrap();
    assert!(filter.uses_notify());

    let agent = std::thread::spawn(move || {
        let (notify, state) = receive_state(&listener);
        let kind = fd_kind(&notify);
        (state, kind, serve_mkdir(&notify, libc::ENOMEDIUM))
    });

    let (denied, allowed) = (tmp.path().join("denied"), tmp.path().join("allowed"));
    let (denied_c, allowed_c) = (cpath(&denied), cpath(&allowed));
    let (fdnum_r, fdnum_w) = pipe();
    let (go_r, go_w) = pipe();
    let child = spawn(|| {
        if !set_no_new_privs() {
            return 90;
        }
        let Ok(Some(notify)) = filter.load() else {
            return 91;
        };
        // Hand the fd number to the "runtime" (it copies the fd with pidfd_getfd), wait until
        // it has, then drop our copy so only the agent holds the listener.
        let mut go = [0u8];
        if !write_i32(&fdnum_w, notify.as_raw_fd()) || !read_exact(&go_r, &mut go) {
            return 92;
        }
        drop(notify);
        if sys_mkdir(&denied_c, 0o700) != Err(Errno::ENOMEDIUM) {
            return 1;
        }
        if sys_mkdir(&allowed_c, 0o755) != Ok(()) {
            return 2;
        }
        0
    });
    drop(fdnum_w);
    let mut num = [0u8; 4];
    assert!(
        read_exact(&fdnum_r, &mut num),
        "child failed to load the filter"
    );
    let notify = steal_fd(child.pid(), i32::from_ne_bytes(num));
    let pid = child.pid().as_raw();
    let state = json!({"ociVersion": "1.2.0", "id": "notify-test", "status": "creating",
        "pid": pid, "bundle": tmp.path()});
    send_to_listener(&socket, notify.as_fd(), Some("MKDIR=answer"), pid, &state).unwrap();
    drop(notify);
    assert!(write_byte(&go_w, 1));

    assert_eq!(
        child.wait(),
        WaitStatus::Exited(nix::unistd::Pid::from_raw(pid), 0)
    );
    let (received, kind, seen) = agent.join().unwrap();
    assert_eq!(kind, "anon_inode:seccomp notify");
    assert_eq!(received["fds"], json!(["seccompFd"]));
    assert_eq!(received["pid"], json!(pid));
    assert_eq!(received["metadata"], json!("MKDIR=answer"));
    assert_eq!(received["ociVersion"], json!("1.2.0"));
    assert_eq!(received["state"], state);
    assert_eq!(seen, [(pid as u32, 0o700), (pid as u32, 0o755)]);
    assert!(!denied.exists());
    assert!(allowed.is_dir(), "CONTINUE let the child's own mkdir run");
}

#[test]
fn send_to_listener_delivers_fd_and_large_state() {
    let tmp = tempfile::tempdir().unwrap();
    let socket = tmp.path().join("agent.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let agent = std::thread::spawn(move || receive_state(&listener));

    // Any fd will do here: a pipe, so we can tell the received fd is the same pipe.
    let (read_end, write_end) = pipe();
    // Big enough that a stream socket may split it.
    let annotations: serde_json::Map<String, Value> = (0..4000)
        .map(|i| (format!("key{i}"), json!("v".repeat(64))))
        .collect();
    let state = json!({"ociVersion": "1.2.0", "id": "c", "status": "creating", "pid": 1234,
        "bundle": "/b", "annotations": annotations});
    send_to_listener(&socket, write_end.as_fd(), None, 1234, &state).unwrap();
    drop(write_end);

    let (received_fd, message) = agent.join().unwrap();
    assert!(message.get("metadata").is_none());
    assert_eq!(message["pid"], json!(1234));
    assert_eq!(message["state"], state);
    nix::unistd::write(&received_fd, b"through the passed fd").unwrap();
    drop(received_fd);
    let mut got = String::new();
    std::fs::File::from(read_end)
        .read_to_string(&mut got)
        .unwrap();
    assert_eq!(got, "through the passed fd");
}

#[test]
fn send_to_listener_errors_name_the_socket() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nobody.sock");
    let (_r, w) = pipe();
    let state = json!({"pid": 1});
    let err = send_to_listener(&missing, w.as_fd(), None, 1, &state).unwrap_err();
    assert!(
        matches!(&err, SeccompError::Listener { path, op: "connect", .. } if path == &missing),
        "{err:?}"
    );
    assert!(err.to_string().contains(&missing.display().to_string()));

    // A pid that is no process is refused before connecting.
    let listener_path = tmp.path().join("a.sock");
    let _listener = UnixListener::bind(&listener_path).unwrap();
    let err =
        send_to_listener(&listener_path, w.as_fd(), None, 0, &json!({"id": "c"})).unwrap_err();
    assert!(err.to_string().starts_with("pid:"), "{err}");
}
