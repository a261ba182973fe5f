//! Direct seccomp(2) calls: loading a program and probing which filter flags the running kernel knows.

use std::sync::OnceLock;

use nix::errno::Errno;

/// `BPF_MAXINSNS`: the most instructions one seccomp filter may have.
pub(crate) const MAX_INSTRUCTIONS: usize = 4096;

/// `SECCOMP_FILTER_FLAG_NEW_LISTENER`.
pub(crate) const FLAG_NEW_LISTENER: u32 = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32;
/// `SECCOMP_FILTER_FLAG_TSYNC`.
pub(crate) const FLAG_TSYNC: u32 = libc::SECCOMP_FILTER_FLAG_TSYNC as u32;
/// `SECCOMP_FILTER_FLAG_TSYNC_ESRCH`: required with TSYNC when NEW_LISTENER is set.
pub(crate) const FLAG_TSYNC_ESRCH: u32 = libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH as u32;
/// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`: only valid together with NEW_LISTENER.
pub(crate) const FLAG_WAIT_KILLABLE_RECV: u32 = libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV as u32;

/// Calls `seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)`; returns the raw result (errno in `errno`).
/// Async-signal-safe: one raw syscall, no allocation.
pub(crate) fn set_mode_filter(flags: u32, prog: &libc::sock_fprog) -> libc::c_long {
    // SAFETY: `prog` is a valid sock_fprog borrowed for the duration of the call; its `filter`
    // pointer covers `len` instructions owned by the caller. The kernel copies the program and
    // keeps no pointer into our memory.
    unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
            libc::c_ulong::from(flags),
            prog as *const libc::sock_fprog,
        )
    }
}

/// Whether the kernel accepts `flags` for SECCOMP_SET_MODE_FILTER, without installing anything.
///
/// The kernel validates the flags before it reads the program, so a NULL program yields
/// `EFAULT` for known flags and `EINVAL` for unknown ones.
fn probe_flags(flags: u32) -> bool {
    // SAFETY: a NULL program pointer is never dereferenced by us; the kernel rejects it with
    // EFAULT after validating the flags, so no filter is ever installed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
            libc::c_ulong::from(flags),
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    rc < 0 && Errno::last() == Errno::EFAULT
}

/// Whether the running kernel supports the seccomp(2) filter flag `bit` (memoized per flag).
pub(crate) fn flag_supported(bit: u32) -> bool {
    static CACHE: OnceLock<[bool; 32]> = OnceLock::new();
    let table = CACHE.get_or_init(|| {
        let mut table = [false; 32];
        for (i, slot) in table.iter_mut().enumerate().take(8) {
            let flag = 1u32 << i;
            // WAIT_KILLABLE_RECV is only valid together with NEW_LISTENER.
            let probe = if flag == FLAG_WAIT_KILLABLE_RECV {
                flag | FLAG_NEW_LISTENER
            } else {
                flag
            };
            *slot = probe_flags(probe);
        }
        table
    });
    bit.is_power_of_two() && table[bit.trailing_zeros() as usize]
}

/// Whether the kernel has seccomp filter mode at all (`prctl(PR_GET_SECCOMP)` works and an
/// empty flag set is accepted).
pub(crate) fn filter_mode_supported() -> bool {
    // SAFETY: PR_GET_SECCOMP takes no pointer arguments and only reads the caller's mode.
    let rc = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) };
    rc >= 0 && probe_flags(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters_on_this_thread() -> String {
        let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        status
            .lines()
            .find(|l| l.starts_with("Seccomp_filters:"))
            .unwrap_or("none")
            .to_owned()
    }

    #[test]
    fn probing_distinguishes_known_from_unknown_flags() {
        let before = filters_on_this_thread();
        assert!(filter_mode_supported());
        // TSYNC exists since Linux 3.17; bit 31 is not a seccomp flag on any kernel.
        assert!(probe_flags(FLAG_TSYNC));
        assert!(flag_supported(FLAG_TSYNC));
        assert!(!probe_flags(1 << 31));
        assert!(!flag_supported(0));
        assert!(!flag_supported(FLAG_TSYNC | FLAG_NEW_LISTENER));
        // Probing must never install a filter.
        assert_eq!(filters_on_this_thread(), before);
    }
}
