//! Which systemd instance owns this process's containers: the system's (real root) or the
//! user's own (anyone else — including uid 0 of a user namespace that an unprivileged user
//! made, which is how rootless podman runs the runtime).

use std::os::unix::fs::MetadataExt;
use std::sync::{Mutex, OnceLock};

use super::dbus::{Connection, Message, Value};

/// Inode number of the initial user namespace (`PROC_USER_INIT_INO` in the kernel).
pub const PROC_USER_INIT_INO: u64 = 0xEFFF_FFFD;

/// Whether this process runs in a user namespace other than the initial one.
///
/// Compares the inode of `/proc/self/ns/user` with the initial namespace's, as crun does: the
/// text of `uid_map` is no guide (systemd may write an identity map into a new namespace).
/// Without a readable `/proc`, the answer is "no".
pub fn in_user_namespace() -> bool {
    std::fs::metadata("/proc/self/ns/user").is_ok_and(|m| m.ino() != PROC_USER_INIT_INO)
}

/// Whether the container scopes of this process go to the user's own systemd instance (on
/// the session bus) rather than the system's: euid ≠ 0; or uid 0 in a user namespace whose
/// session bus (`DBUS_SESSION_BUS_ADDRESS`, else `$XDG_RUNTIME_DIR/bus`) sees this process as
/// a uid other than 0 — runc's rule (its `DetectUID`), asked of the bus directly instead of
/// through `busctl`. A session bus that cannot be reached means the system instance (runc
/// assumes the same). Decided once per process.
pub fn user_instance() -> bool {
    static USER: OnceLock<bool> = OnceLock::new();
    *USER.get_or_init(|| {
        if !nix::unistd::geteuid().is_root() {
            return true;
        }
        if !in_user_namespace() {
            return false;
        }
        match session_bus_uid() {
            Ok(uid) => uid != 0,
            Err(e) => {
                log::debug!(
                    "uid 0 in a user namespace, no session bus ({e}): systemd's system instance"
                );
                false
            }
        }
    })
}

/// The session bus connection [`user_instance`] opened to decide, kept for the driver's first
/// [`take_session`] (one connection per process, not two).
static SESSION: Mutex<Option<Connection>> = Mutex::new(None);

/// The session bus connection opened by [`user_instance`], if it opened one and it was not
/// taken yet.
pub(crate) fn take_session() -> Option<Connection> {
    SESSION.lock().unwrap_or_else(|p| p.into_inner()).take()
}

/// The uid the session bus sees this process as (`GetConnectionUnixUser` of our own name:
/// the socket's credentials, mapped into the bus' user namespace by the kernel). The
/// connection is kept in [`SESSION`].
fn session_bus_uid() -> Result<u32, String> {
    let mut conn = Connection::session().map_err(|e| e.to_string())?;
    let name = conn.unique_name().to_string();
    let reply = conn
        .call(Message::bus_driver(
            "GetConnectionUnixUser",
            vec![Value::Str(name)],
        ))
        .map_err(|e| e.to_string())?;
    let uid = match reply.body.first() {
        Some(Value::U32(uid)) => *uid,
        other => return Err(format!("GetConnectionUnixUser answered {other:?}")),
    };
    *SESSION.lock().unwrap_or_else(|p| p.into_inner()) = Some(conn);
    Ok(uid)
}

/// `uid` of this user namespace as the parent namespace knows it, from `uid_map` text
/// (`inside outside count` lines); `None` when the map does not cover it.
pub(crate) fn outer_uid(uid: u32, uid_map: &str) -> Option<u32> {
    uid_map.lines().find_map(|line| {
        let mut f = line.split_whitespace().map(str::parse::<u32>);
        let (Some(Ok(inside)), Some(Ok(outside)), Some(Ok(count))) = (f.next(), f.next(), f.next())
        else {
            return None;
        };
        let offset = uid.checked_sub(inside).filter(|o| *o < count)?;
        outside.checked_add(offset)
    })
}

#[cfg(test)]
mod tests {
    use super::outer_uid;

    #[test]
    fn a_uid_is_mapped_through_the_line_that_covers_it() {
        let rootless = "         0       1000          1\n         1     100000      65536\n";
        assert_eq!(outer_uid(0, rootless), Some(1000));
        assert_eq!(outer_uid(1, rootless), Some(100_000));
        assert_eq!(outer_uid(65_536, rootless), Some(165_535));
        assert_eq!(outer_uid(65_537, rootless), None);
        assert_eq!(outer_uid(7, "0 0 4294967295\n"), Some(7));
        assert_eq!(outer_uid(0, ""), None);
        assert_eq!(outer_uid(0, "garbage\n0 x 1\n"), None);
    }
}
