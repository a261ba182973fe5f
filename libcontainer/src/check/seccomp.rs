//! Seccomp checks: filter mode, user notification (SCMP_ACT_NOTIFY) and the linked
//! libseccomp.

use nix::errno::Errno;

use super::Check;

/// The `Seccomp:` field of `/proc/self/status` (absent without CONFIG_SECCOMP).
fn status_field() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Seccomp:"))
        .map(|v| v.trim().to_owned())
}

/// `seccomp(SECCOMP_GET_NOTIF_SIZES)`: succeeds exactly when the kernel has user
/// notification (Linux 5.0+ with CONFIG_SECCOMP_FILTER).
fn notif_sizes() -> Result<libc::seccomp_notif_sizes, Errno> {
    let mut sizes = libc::seccomp_notif_sizes {
        seccomp_notif: 0,
        seccomp_notif_resp: 0,
        seccomp_data: 0,
    };
    // SAFETY: the kernel writes a `struct seccomp_notif_sizes` into `sizes`, which is
    // exactly that struct and lives for the call; the operation installs nothing.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_NOTIF_SIZES as libc::c_ulong,
            0 as libc::c_ulong,
            &mut sizes as *mut libc::seccomp_notif_sizes,
        )
    };
    if rc < 0 {
        Err(Errno::last())
    } else {
        Ok(sizes)
    }
}

/// The seccomp checks.
pub(super) fn checks() -> Vec<Check> {
    let mut out = Vec::new();
    let features = kiln_seccomp::features();
    let filter = !features.supported_flags.is_empty();
    match status_field() {
        Some(mode) if filter => out.push(Check::ok(
            "seccomp",
            format!(
                "supported (this process: mode {mode}); kernel filter flags: {}",
                features.supported_flags.join(" ")
            ),
        )),
        other => out.push(Check::fail(
            "seccomp",
            format!(
                "filter mode unavailable (/proc/self/status Seccomp: {})",
                other.as_deref().unwrap_or("absent")
            ),
            "use a kernel built with CONFIG_SECCOMP and CONFIG_SECCOMP_FILTER",
        )),
    }
    out.push(match notif_sizes() {
        Ok(s) => Check::ok(
            "seccomp notify",
            format!(
                "SECCOMP_USER_NOTIF supported (notif {} bytes, resp {} bytes)",
                s.seccomp_notif, s.seccomp_notif_resp
            ),
        ),
        Err(e) => Check::warn(
            "seccomp notify",
            format!("seccomp(SECCOMP_GET_NOTIF_SIZES): {e}: SCMP_ACT_NOTIFY rules will fail"),
            "use Linux 5.0 or later built with CONFIG_SECCOMP_FILTER",
        ),
    });
    out.push(match kiln_seccomp::libseccomp_version() {
        Some(v) => Check::ok("libseccomp", format!("version {v}")),
        None => Check::warn(
            "libseccomp",
            "version unknown",
            "rebuild kiln against libseccomp 2.5 or later (apt-get install libseccomp-dev)",
        ),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_kernel_reports_notification_sizes() {
        // Linux 5.0+ (the supported kernels): the sizes are those of the structs.
        let s = notif_sizes().unwrap();
        assert!(s.seccomp_data >= 64, "{}", s.seccomp_data);
        assert!(
            s.seccomp_notif >= 16 + s.seccomp_data,
            "{}",
            s.seccomp_notif
        );
        assert!(status_field().is_some());
    }
}
