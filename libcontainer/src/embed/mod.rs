//! Embedding kiln-libcontainer in a program: what the program must do, and why.
//!
//! # The one rule: call [`init`](fn@crate::init) first thing in `main`
//!
//! ```no_run
//! # #![allow(clippy::needless_doctest_main)]
//! fn main() {
//!     kiln_libcontainer::init();
//!     // … the program: start tokio, threads, a logger …
//! }
//! ```
//!
//! [`init`](fn@crate::init) returns at once in the program itself. In the processes kiln
//! starts from the program's binary (below) it never returns: it does their
//! work and exits. Nothing the program does before `init` (a logger, a
//! runtime, reading its arguments) may be needed by them, so it must be the
//! first call, before any thread is started. A program that does not call it
//! gets [`Error::NotInitialised`](crate::Error) from
//! `create`/`exec`; nothing runs.
//!
//! # Why
//!
//! Creating a container clones a process that becomes the container's init,
//! and `exec` clones one that joins the container. A clone of a multi-threaded
//! process (every tokio program) inherits locks other threads held at that
//! instant — the allocator's, the logger's — and may deadlock before it
//! execs. And until it execs the user program, a process in the container
//! runs the caller's binary: a container process could open it through
//! `/proc/<pid>/exe` and overwrite the host's program (CVE-2019-5736).
//!
//! So, unless the calling process is single-threaded *and* already runs from
//! a read-only view of its binary (the `kiln` command re-executes itself so,
//! see [`crate::exe_guard`]), `create` and `exec` run in a short-lived helper:
//! the program's own binary, executed (posix_spawn: no fork of the big
//! process) from a read-only view of itself (a detached read-only bind mount,
//! or a sealed memfd copy when the mount API is refused) that is made once and
//! kept open. The helper is single-threaded, does the whole operation and
//! exits; the processes it clones are made children of the *calling program*
//! (CLONE_PARENT), so the program can wait for them, read their exit status
//! and hold their pidfds as with any child.
//!
//! # What an embedder should know
//!
//! - `create`/`exec` block the calling thread until the container process is
//!   set up (use `spawn_blocking`, or the `tokio` feature's async wrappers).
//!   The processes they make die with that thread until they are handed over,
//!   so do not call them from a thread that exits meanwhile.
//! - The container and exec processes are the program's children: reap them
//!   with [`Container::wait`](crate::Container::wait) /
//!   [`try_wait`](crate::Container::try_wait) (or the async wait), not with a
//!   `waitpid(-1)` loop that would take their statuses.
//! - The helper inherits the program's environment and fds that are not
//!   close-on-exec; its log records arrive through the `log` crate in the
//!   program, at the level the program had set when it called `create`/`exec`.
//! - If the helper is killed, the processes it had made are killed and
//!   reaped and a container it had started to create is removed (as
//!   `delete --force` would).
//! - After the first `create`/`exec`, one helper is kept started ahead of
//!   time (a library thread, `kiln-spare`, starts the next when one is
//!   taken), so that an operation does not wait for the binary to be executed.
//!   It is an idle child of the program (`argv[0]` `kiln-helper`) with the
//!   environment the program had when it was started; [`release_spare`] ends
//!   it. Operations that pass fds 3.. (`preserve_fds`, `LISTEN_FDS`) start a
//!   helper of their own.

mod helper;
mod posix;
mod spare;
mod spawn;
mod wire;

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

pub use spare::release_spare;

pub(crate) use helper::{adopted, claimed, is_helper};
pub(crate) use spawn::{create_in_helper, exec_in_helper};
pub(crate) use wire::WireError;

/// The environment variable that makes a process started from the program's
/// binary a kiln helper: `<socket fd>:<parent pid>`.
const HELPER_ENV: &str = "_KILN_HELPER";

/// Set by [`init`](fn@crate::init) in the program itself.
static INITIALISED: AtomicBool = AtomicBool::new(false);

/// Makes the program able to create containers and exec into them from any
/// thread (see the [module docs](self)). Call it first thing in `main`. In
/// the program it only records that it was called; in a helper started by
/// kiln it does the helper's work and exits the process.
pub fn init() {
    match std::env::var_os(HELPER_ENV) {
        Some(v) => helper::run(&v),
        None => INITIALISED.store(true, Ordering::SeqCst),
    }
}

/// Whether `create`/`exec` must go through a helper: the caller is
/// multi-threaded or not running from a read-only view of its binary.
pub(crate) fn needs_helper() -> Result<bool> {
    if is_helper() {
        return Ok(false);
    }
    let single = crate::process::procfs::thread_count() == Some(1);
    if single && exe_is_protected() {
        return Ok(false);
    }
    if !INITIALISED.load(Ordering::SeqCst) {
        return Err(Error::NotInitialised);
    }
    Ok(true)
}

/// Whether this process runs from a read-only view of its binary (checked once), or its
/// binary is out of the container's reach anyway (see `exe_guard::unwritable_from`).
fn exe_is_protected() -> bool {
    static PROTECTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PROTECTED.get_or_init(crate::exe_guard::self_is_protected)
}
