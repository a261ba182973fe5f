//! One helper started ahead of time, so that a `create`/`exec` does not wait
//! for the program's binary to be executed (about 1 ms of a 5 ms create).
//!
//! A library-owned thread (`kiln-spare`) starts it and, after each one is
//! taken, the next. Started from that thread, which lives as long as the
//! program, the spare and the processes it clones die only with the program
//! (PR_SET_PDEATHSIG follows the parent *thread*). The spare inherits the
//! program's environment as it was when it started, and no fds but stdio:
//! requests that pass fds 3.. (`preserve_fds`, LISTEN_FDS) start a fresh
//! helper instead. It is an idle child of the program (`argv[0]`
//! `kiln-helper`); [`release_spare`] ends it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::container::Stdio;
use crate::process::channel::Channel;

/// A started helper waiting for its request.
pub(super) struct Helper {
    pub pid: i32,
    pub chan: Channel,
}

static SPARE: Mutex<Option<Helper>> = Mutex::new(None);
/// Requests sent to the `kiln-spare` thread and not handled yet.
static PENDING: AtomicUsize = AtomicUsize::new(0);
static SPAWNER: OnceLock<Mutex<Sender<()>>> = OnceLock::new();

/// The spare helper, if one is ready (a dead one is reaped and skipped); asks for the next.
pub(super) fn take() -> Option<Helper> {
    let spare = lock().take();
    replenish();
    match spare {
        Some(h) if !h.chan.peer_closed() => Some(h),
        Some(h) => {
            super::spawn::reap(h.pid);
            None
        }
        None => None,
    }
}

/// Ends the idle spare helper, if any (waiting for one being started), and reaps it. A
/// program that wants no child of its own left (a test, before it exits) calls it; the
/// next `create`/`exec` starts a fresh helper and a new spare.
pub fn release_spare() {
    let deadline = Instant::now() + Duration::from_secs(10);
    while PENDING.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    if let Some(h) = lock().take() {
        super::spawn::kill_and_reap(h.pid);
    }
}

fn lock() -> std::sync::MutexGuard<'static, Option<Helper>> {
    SPARE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Asks the `kiln-spare` thread (started on first use) for a new spare.
fn replenish() {
    let sender = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<()>();
        let started = std::thread::Builder::new()
            .name("kiln-spare".into())
            .spawn(move || serve(rx));
        if let Err(e) = started {
            log::debug!("no spare kiln helpers: thread not started: {e}");
        }
        Mutex::new(tx)
    });
    PENDING.fetch_add(1, Ordering::SeqCst);
    let sent = sender.lock().map(|tx| tx.send(()).is_ok()).unwrap_or(false);
    if !sent {
        PENDING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The `kiln-spare` thread: keeps one spare helper ready.
fn serve(requests: mpsc::Receiver<()>) {
    while requests.recv().is_ok() {
        let mut spare = lock();
        if spare.is_none() {
            match super::spawn::start(&Stdio::default(), 0) {
                Ok(h) => *spare = Some(h),
                Err(e) => log::debug!("starting a spare kiln helper: {e}"),
            }
        }
        drop(spare);
        PENDING.fetch_sub(1, Ordering::SeqCst);
    }
}
