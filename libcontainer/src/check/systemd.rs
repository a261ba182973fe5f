//! The systemd check: whether the `--systemd-cgroup` driver can work for this user.

use kiln_cgroups::systemd::dbus::{Connection, Message};

use super::Check;

const NAME: &str = "systemd";

/// Whether systemd is the init system (its documented test: `/run/systemd/system` exists).
fn systemd_booted() -> bool {
    std::path::Path::new("/run/systemd/system").is_dir()
}

/// Connects to the bus this user's cgroups go through and pings systemd.
fn ping(unprivileged: bool) -> Result<(), String> {
    let (bus, mut conn) = if unprivileged {
        ("user bus", Connection::session())
    } else {
        ("system bus", Connection::system())
    };
    let conn = conn.as_mut().map_err(|e| format!("{bus}: {e}"))?;
    let msg = Message::call(
        "org.freedesktop.systemd1",
        "/org/freedesktop/systemd1",
        "org.freedesktop.DBus.Peer",
        "Ping",
        Vec::new(),
    );
    conn.call(msg)
        .map(drop)
        .map_err(|e| format!("{bus}: systemd does not answer: {e}"))
}

/// The systemd check.
pub(super) fn check(unprivileged: bool) -> Check {
    if !systemd_booted() {
        let init = std::fs::read_to_string("/proc/1/comm").unwrap_or_default();
        let init = init.trim();
        let init = if init.is_empty() { "unknown" } else { init };
        return Check::ok(
            NAME,
            format!("not running (PID 1 is {init}): use the cgroupfs driver (default)"),
        );
    }
    match ping(unprivileged) {
        Ok(()) => Check::ok(
            NAME,
            format!(
                "running, reachable on the {} bus: --systemd-cgroup works",
                if unprivileged { "user" } else { "system" }
            ),
        ),
        Err(e) if unprivileged => Check::warn(
            NAME,
            format!("{e}: --systemd-cgroup will not work"),
            "start your user manager (loginctl enable-linger $USER) and set XDG_RUNTIME_DIR=/run/user/$(id -u)",
        ),
        Err(e) => Check::warn(
            NAME,
            format!("{e}: --systemd-cgroup will not work"),
            "start the system bus: systemctl start dbus.socket dbus.service",
        ),
    }
}
