//! Init step "rlimits": `process.rlimits` and `process.oomScoreAdj`.

use oci_spec::runtime::{PosixRlimitType, Process};

use crate::error::{Error, Result};

/// Applies every rlimit; an error names the entry.
pub(crate) fn apply(process: &Process) -> Result<()> {
    for (i, r) in process.rlimits().iter().flatten().enumerate() {
        let lim = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        // SAFETY: a valid resource number and a pointer to an initialised rlimit.
        let ret = unsafe { libc::setrlimit(resource(r.typ()), &lim) };
        if ret < 0 {
            let err = nix::Error::last();
            return Err(Error::config(
                format!("process.rlimits[{i}]"),
                format!(
                    "setrlimit {:?} soft {} hard {}: {err}",
                    r.typ(),
                    r.soft(),
                    r.hard()
                ),
            ));
        }
    }
    Ok(())
}

fn resource(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => libc::RLIMIT_CPU,
        RlimitFsize => libc::RLIMIT_FSIZE,
        RlimitData => libc::RLIMIT_DATA,
        RlimitStack => libc::RLIMIT_STACK,
        RlimitCore => libc::RLIMIT_CORE,
        RlimitRss => libc::RLIMIT_RSS,
        RlimitNproc => libc::RLIMIT_NPROC,
        RlimitNofile => libc::RLIMIT_NOFILE,
        RlimitMemlock => libc::RLIMIT_MEMLOCK,
        RlimitAs => libc::RLIMIT_AS,
        RlimitLocks => libc::RLIMIT_LOCKS,
        RlimitSigpending => libc::RLIMIT_SIGPENDING,
        RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitNice => libc::RLIMIT_NICE,
        RlimitRtprio => libc::RLIMIT_RTPRIO,
        RlimitRttime => libc::RLIMIT_RTTIME,
    }
}
