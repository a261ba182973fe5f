//! Handing the notify fd to the seccomp agent at `listenerPath` (runtime-spec "The Container
//! Process State").

use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::socket::{send, sendmsg, ControlMessage, MsgFlags};
use serde_json::{json, Value};

use crate::SeccompError;

/// The name runtime-spec gives the notify fd in the `fds` array.
const SECCOMP_FD_NAME: &str = "seccompFd";

/// Builds the container process state for the agent: `pid` is the process the filter was
/// loaded in (the container init, or an exec'd process), `state` the container's runtime state
/// (whose `ociVersion` is used).
pub(crate) fn container_process_state(
    pid: i32,
    metadata: Option<&str>,
    state: &Value,
) -> Result<Value, SeccompError> {
    if pid <= 0 {
        return Err(SeccompError::invalid(
            "pid",
            format!("{pid} is not the pid of the container process"),
        ));
    }
    let oci_version = state
        .get("ociVersion")
        .and_then(Value::as_str)
        .unwrap_or(oci_spec::runtime::VERSION);
    let mut message = json!({
        "ociVersion": oci_version,
        "fds": [SECCOMP_FD_NAME],
        "pid": pid,
        "state": state,
    });
    if let (Some(metadata), Some(obj)) = (metadata, message.as_object_mut()) {
        obj.insert("metadata".to_owned(), Value::String(metadata.to_owned()));
    }
    Ok(message)
}

/// Sends the notify fd and the container process state to the seccomp agent listening on the
/// `AF_UNIX`/`SOCK_STREAM` socket `listener_path`: one connection, the JSON as payload, the fd
/// as `SCM_RIGHTS` on the first `sendmsg`, then the connection is closed.
///
/// `pid` is the process that loaded the filter (the container init, or an exec'd process, as
/// runc reports it); `state` is the container's runtime state.
pub fn send_to_listener(
    listener_path: &Path,
    notify_fd: BorrowedFd<'_>,
    metadata: Option<&str>,
    pid: i32,
    state: &Value,
) -> Result<(), SeccompError> {
    let message = container_process_state(pid, metadata, state)?;
    let bytes = serde_json::to_vec(&message)
        .map_err(|e| SeccompError::invalid("state", format!("cannot serialize: {e}")))?;
    let err = |op| {
        move |source: std::io::Error| SeccompError::Listener {
            path: listener_path.to_owned(),
            op,
            source,
        }
    };
    let stream = UnixStream::connect(listener_path).map_err(err("connect"))?;
    let fd = stream.as_raw_fd();
    let fds = [notify_fd.as_raw_fd()];
    let mut sent = loop {
        match sendmsg::<()>(
            fd,
            &[IoSlice::new(&bytes)],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Err(nix::errno::Errno::EINTR) => {}
            other => break other.map_err(|e| err("sendmsg")(e.into()))?,
        }
    };
    // Stream sockets may take the payload in pieces; the fd went with the first one.
    while sent < bytes.len() {
        match send(fd, &bytes[sent..], MsgFlags::MSG_NOSIGNAL) {
            Ok(0) => return Err(err("send")(std::io::ErrorKind::WriteZero.into())),
            Ok(n) => sent += n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(err("send")(e.into())),
        }
    }
    stream
        .shutdown(std::net::Shutdown::Both)
        .map_err(err("shutdown"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_message_follows_runtime_spec() {
        let state = json!({"ociVersion": "1.2.0", "id": "c1", "status": "creating", "pid": 42, "bundle": "/b"});
        let msg = container_process_state(42, Some("meta"), &state).unwrap();
        assert_eq!(msg["ociVersion"], "1.2.0");
        assert_eq!(msg["fds"], json!(["seccompFd"]));
        assert_eq!(msg["pid"], 42);
        assert_eq!(msg["metadata"], "meta");
        assert_eq!(msg["state"], state);

        let no_meta = container_process_state(43, None, &state).unwrap();
        assert!(no_meta.get("metadata").is_none());
        assert_eq!(no_meta["pid"], 43, "the process' pid, not the state's");

        let err = container_process_state(0, None, &state).unwrap_err();
        assert!(err.to_string().starts_with("pid:"), "{err}");
    }
}
