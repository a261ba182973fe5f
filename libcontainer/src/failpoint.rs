//! Fault injection for the crash tests (debug builds only).
//!
//! `create`, the container init and `exec` pass named points on their way
//! (`create:clone`, `init:mounts`, `exec-process:user`, ...). In a debug build
//! each point is logged at debug level (`fail point NAME`: a test lists the
//! points a command passes from its `--debug --log` file), and a process whose
//! environment has `KILN_FAILPOINT=NAME` SIGKILLs itself there — what an
//! engine's crash, the OOM killer or `kill -9` would do at that moment. The
//! tests in `integration-tests/tests/faults.rs` then check that `delete -f`
//! leaves nothing behind. In a release build passing a point does nothing.

/// The environment variable naming the point at which to die.
pub const ENV: &str = "KILN_FAILPOINT";

/// Passes the point `stage:step`: in a debug build, logs it and dies by
/// SIGKILL if [`ENV`] names it.
#[cfg(debug_assertions)]
pub(crate) fn hit(stage: &str, step: &str) {
    let name = format!("{stage}:{step}");
    log::debug!("fail point {name}");
    if std::env::var_os(ENV).is_some_and(|v| v == name.as_str()) {
        // SAFETY: raise(2) takes a signal number; SIGKILL cannot be caught.
        unsafe { libc::raise(libc::SIGKILL) };
        // Still here: the init of a pid namespace, which its own SIGKILL does
        // not reach. Ending at once is the same to everyone else.
        crate::init::exit_now(128 + libc::SIGKILL);
    }
}

/// Passes the point `stage:step` (nothing in a release build).
#[cfg(not(debug_assertions))]
#[inline(always)]
pub(crate) fn hit(_stage: &str, _step: &str) {}
