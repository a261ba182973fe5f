//! Init step "fds": the first thing the init does is close every file
//! descriptor it inherited through the clone but does not need: the caller's
//! other open files, `create`'s lock on the container directory, the cgroup
//! directory used for CLONE_INTO_CGROUP. None of them may be reachable from
//! inside the container (through /proc/1/fd, by an `exec`'d process, between
//! `create` and `start`), and a lock held by a surviving init would block
//! `delete`.

use std::os::fd::RawFd;

use crate::error::{Error, Result};

/// Closes every fd except stdio, fds `3..3+preserve` and `keep`.
pub(crate) fn close_inherited(preserve: u32, keep: &[RawFd]) -> Result<()> {
    let first_free = 3u32.saturating_add(preserve);
    let mut keep: Vec<u32> = keep
        .iter()
        .filter_map(|&fd| u32::try_from(fd).ok())
        .filter(|&fd| fd >= first_free)
        .collect();
    keep.sort_unstable();
    keep.dedup();
    for (lo, hi) in gaps(first_free, &keep) {
        close_range(lo, hi)?;
    }
    Ok(())
}

/// The inclusive ranges from `from` to `u32::MAX` that `keep` (sorted, all
/// `>= from`) leaves uncovered.
fn gaps(from: u32, keep: &[u32]) -> Vec<(u32, u32)> {
    let mut out = Vec::with_capacity(keep.len() + 1);
    let mut lo = from;
    for &k in keep {
        if k > lo {
            out.push((lo, k - 1));
        }
        lo = k.saturating_add(1);
    }
    if lo != u32::MAX || keep.last() != Some(&u32::MAX) {
        out.push((lo, u32::MAX));
    }
    out
}

fn close_range(lo: u32, hi: u32) -> Result<()> {
    // SAFETY: close_range only closes descriptors; none of the ones closed here
    // is owned by a live Rust object the init still uses (they are all in
    // `keep`), and the init is single-threaded.
    let r = unsafe { libc::syscall(libc::SYS_close_range, lo, hi, 0u32) };
    if r < 0 {
        return Err(Error::sys(
            format!("close_range {lo}..={hi} (inherited fds)"),
            nix::Error::last(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::gaps;

    #[test]
    fn gaps_around_kept_fds() {
        assert_eq!(gaps(3, &[]), [(3, u32::MAX)]);
        assert_eq!(gaps(3, &[3, 4, 9]), [(5, 8), (10, u32::MAX)]);
        assert_eq!(gaps(5, &[7]), [(5, 6), (8, u32::MAX)]);
    }
}
