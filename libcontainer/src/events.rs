//! A container's event stream: resource statistics every interval, OOM events as the kernel
//! reports them, and the exit of the container's init, after which the stream ends.
//!
//! [`Container::events`] returns [`Events`], a blocking [`Iterator`] of [`Event`]s. It needs
//! no thread: the statistics timer (a timerfd), the OOM notification of the cgroup (see
//! [`kiln_cgroups::OomWatcher`]) and a pidfd of the init are gathered in one epoll
//! descriptor, which [`Events`] exposes through [`AsFd`]/[`AsRawFd`]: it is readable
//! whenever an event is pending, so an async runtime can drive the stream with
//! [`Events::try_next`] instead of blocking:
//!
//! ```ignore
//! // With tokio (AsyncFd needs AsRawFd; the fd is non-blocking already).
//! let fd = tokio::io::unix::AsyncFd::new(container.events(Duration::from_secs(5))?)?;
//! loop {
//!     let mut guard = fd.readable_mut().await?;
//!     match guard.get_inner_mut().try_next() {
//!         Poll::Ready(Some(event)) => println!("{}", serde_json::to_string(&event?)?),
//!         Poll::Ready(None) => break,
//!         Poll::Pending => guard.clear_ready(),
//!     }
//! }
//! ```
//!
//! An [`Event`] serialises as runc's `events` lines: `{"type":"stats","id":…,"data":{…}}`,
//! `{"type":"oom","id":…}`. The `exit` event (`{"type":"exit","id":…,"data":{"code":0}}`)
//! is kiln's own: runc prints none, so `kiln events` does not print it either.

use std::collections::VecDeque;
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::task::Poll;
use std::time::Duration;

use kiln_cgroups::{CgroupError, OomReport, OomWatcher};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use serde::{Deserialize, Serialize};

pub use kiln_cgroups::stats::{self, Stats};

use crate::container::{peek_exit_status, Container, ExitStatus};
use crate::error::{Error, Result};
use crate::process::pidfd;

/// One event of a container, serialised as a line of `runc events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Event {
    /// Resource usage of the container's cgroup (every interval).
    Stats {
        /// Container id.
        id: String,
        /// The statistics, in runc's JSON shape.
        data: Box<Stats>,
    },
    /// The kernel reported an out-of-memory event in the container's cgroup (the OOM
    /// killer fired, or on cgroup v1 with the OOM killer disabled, the cgroup is under OOM).
    /// Several OOMs seen at one wake-up are one event.
    Oom {
        /// Container id.
        id: String,
    },
    /// The container's init exited; this is the last event. The status is known when the
    /// caller is the init's parent (it is peeked at, not collected), `None` otherwise.
    Exit {
        /// Container id.
        id: String,
        /// How the init ended, if known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<ExitStatus>,
    },
}

impl Event {
    /// The id of the container the event is about.
    pub fn id(&self) -> &str {
        match self {
            Event::Stats { id, .. } | Event::Oom { id } | Event::Exit { id, .. } => id,
        }
    }
}

impl Container {
    /// The container's event stream, with statistics every `interval` (the first at once).
    /// For a container that is already stopped, the stream is a single [`Event::Exit`].
    /// Without a memory controller (or the right to register for its notifications) there
    /// are no OOM events; that is logged as a warning.
    pub fn events(&self, interval: Duration) -> Result<Events> {
        let init = self.init_pidfd()?;
        let cgroup = self.cgroup()?;
        let oom: Option<Box<dyn OomSource>> = match (&init, cgroup.oom_watcher()) {
            (None, _) => None,
            (Some(_), Ok(w)) => Some(Box::new(w)),
            (Some(_), Err(e)) => {
                log::warn!("container {}: no OOM events: {e}", self.id());
                None
            }
        };
        let stats = Box::new(move || Ok(cgroup.stats()?));
        Events::new(self.id().to_string(), interval, init, oom, stats)
    }

    /// A pidfd of the container's init while it runs (`None` once it has exited).
    fn init_pidfd(&self) -> Result<Option<OwnedFd>> {
        let Some(pid) = self.pid() else {
            return Ok(None);
        };
        let fd = match pidfd::open(pid) {
            Ok(fd) => fd,
            Err(Error::Sys {
                source: nix::Error::ESRCH,
                ..
            }) => return Ok(None),
            Err(e) => return Err(e),
        };
        // The pid may have been recycled between the check and pidfd_open.
        Ok(self.pid().map(|_| fd))
    }
}

/// Where OOM events come from (a [`OomWatcher`]; a fake in the unit tests).
pub(crate) trait OomSource: AsFd + Send {
    fn read(&mut self) -> std::result::Result<OomReport, CgroupError>;
}

impl OomSource for OomWatcher {
    fn read(&mut self) -> std::result::Result<OomReport, CgroupError> {
        OomWatcher::read(self)
    }
}

type StatsSource = Box<dyn FnMut() -> Result<Stats> + Send>;

/// The event stream of one container, from [`Container::events`]. Iterating blocks until
/// the next event; after [`Event::Exit`] the iterator ends. An error (e.g. reading the
/// statistics failed) is yielded as an `Err` item and the stream goes on.
pub struct Events {
    id: String,
    /// The init's pidfd; `None` when it was gone already.
    init: Option<OwnedFd>,
    oom: Option<Box<dyn OomSource>>,
    stats: StatsSource,
    timer: TimerFd,
    epoll: Epoll,
    queue: VecDeque<Result<Event>>,
    ended: bool,
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events")
            .field("id", &self.id)
            .field("epoll", &self.epoll.0)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl Events {
    pub(crate) fn new(
        id: String,
        interval: Duration,
        init: Option<OwnedFd>,
        oom: Option<Box<dyn OomSource>>,
        stats: StatsSource,
    ) -> Result<Events> {
        if interval.is_zero() {
            return Err(Error::InvalidOption {
                option: "interval",
                reason: "duration interval must be greater than 0".into(),
            });
        }
        let flags = TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC;
        let timer = TimerFd::new(ClockId::CLOCK_MONOTONIC, flags)
            .map_err(|e| Error::sys("timerfd_create", e))?;
        // The first statistics at once (a zero delay would disarm the timer).
        let every = Expiration::IntervalDelayed(TimeSpec::new(0, 1), TimeSpec::from(interval));
        timer
            .set(every, TimerSetTimeFlags::empty())
            .map_err(|e| Error::sys("timerfd_settime", e))?;
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)
            .map_err(|e| Error::sys("epoll_create1", e))?;
        let watch = |fd: BorrowedFd<'_>, what: &str| {
            epoll
                .add(fd, EpollEvent::new(EpollFlags::EPOLLIN, 0))
                .map_err(|e| Error::sys(format!("epoll_ctl(ADD) of the {what}"), e))
        };
        watch(timer.as_fd(), "statistics timerfd")?;
        if let Some(fd) = &init {
            watch(fd.as_fd(), "init's pidfd")?;
        }
        if let Some(w) = &oom {
            watch(w.as_fd(), "OOM notification fd")?;
        }
        Ok(Events {
            id,
            init,
            oom,
            stats,
            timer,
            epoll,
            queue: VecDeque::new(),
            ended: false,
        })
    }

    /// The container id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The next event without blocking: `Ready(Some(_))` an event (or error),
    /// `Ready(None)` the stream has ended, `Pending` nothing yet — wait for the descriptor
    /// ([`AsFd`]) to turn readable, then call again. Call until `Pending` before waiting:
    /// several events may be pending at one wake-up.
    pub fn try_next(&mut self) -> Poll<Option<Result<Event>>> {
        if self.queue.is_empty() && !self.ended {
            self.collect();
        }
        match self.queue.pop_front() {
            Some(item) => Poll::Ready(Some(item)),
            None if self.ended => Poll::Ready(None),
            None => Poll::Pending,
        }
    }

    /// Reads every source without blocking and queues what happened. OOM first: an OOM
    /// kill of the init is reported before its exit, and no statistics after the exit.
    fn collect(&mut self) {
        let exited = match &self.init {
            Some(fd) => readable(fd.as_fd(), "the init's pidfd"),
            None => Ok(true),
        };
        self.collect_oom();
        match exited {
            Ok(true) => return self.finish(),
            Ok(false) => {}
            Err(e) => self.queue.push_back(Err(e)),
        }
        match self.timer.wait() {
            Ok(()) => {}
            Err(nix::Error::EAGAIN) => return,
            Err(e) => {
                return self
                    .queue
                    .push_back(Err(Error::sys("read of the timerfd", e)))
            }
        }
        match (self.stats)() {
            Ok(s) => self.queue.push_back(Ok(Event::Stats {
                id: self.id.clone(),
                data: Box::new(s),
            })),
            // The init exited meanwhile (and its cgroup may be gone): end instead.
            Err(_) if self.init_exited() => {
                self.collect_oom();
                self.finish();
            }
            Err(e) => self.queue.push_back(Err(e)),
        }
    }

    fn collect_oom(&mut self) {
        let Some(w) = &mut self.oom else { return };
        let stop = match w.read() {
            Ok(OomReport { ooms, gone }) => {
                if ooms > 0 {
                    self.queue.push_back(Ok(Event::Oom {
                        id: self.id.clone(),
                    }));
                }
                gone
            }
            // Reported once; a broken watcher would otherwise keep the epoll fd readable.
            Err(e) => {
                self.queue.push_back(Err(e.into()));
                true
            }
        };
        if stop {
            if let Some(w) = self.oom.take() {
                if let Err(e) = self.epoll.delete(w.as_fd()) {
                    log::warn!("epoll_ctl(DEL) of the OOM notification fd: {e}");
                }
            }
        }
    }

    /// Whether the init has exited (a failing poll counts as "no": the caller then
    /// reports its own error instead).
    fn init_exited(&self) -> bool {
        self.init
            .as_ref()
            .is_none_or(|fd| matches!(readable(fd.as_fd(), "the init's pidfd"), Ok(true)))
    }

    fn finish(&mut self) {
        let data = self
            .init
            .as_ref()
            .and_then(|fd| peek_exit_status(fd.as_fd()));
        self.queue.push_back(Ok(Event::Exit {
            id: self.id.clone(),
            data,
        }));
        self.ended = true;
    }

    /// Blocks until the epoll descriptor is readable.
    fn wait(&self) -> Result<()> {
        match readable_within(self.epoll.0.as_fd(), PollTimeout::NONE) {
            Ok(_) | Err(nix::Error::EINTR) => Ok(()),
            Err(e) => Err(Error::sys("poll of the events epoll fd", e)),
        }
    }
}

impl Iterator for Events {
    type Item = Result<Event>;

    fn next(&mut self) -> Option<Result<Event>> {
        loop {
            match self.try_next() {
                Poll::Ready(item) => return item,
                Poll::Pending => {
                    if let Err(e) = self.wait() {
                        self.ended = true;
                        return Some(Err(e));
                    }
                }
            }
        }
    }
}

impl AsFd for Events {
    /// The epoll descriptor: readable whenever [`Events::try_next`] has something.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.epoll.0.as_fd()
    }
}

impl AsRawFd for Events {
    fn as_raw_fd(&self) -> RawFd {
        self.epoll.0.as_raw_fd()
    }
}

fn readable_within(fd: BorrowedFd<'_>, timeout: PollTimeout) -> nix::Result<bool> {
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    Ok(poll(&mut fds, timeout)? > 0)
}

/// Whether `fd` is readable now.
fn readable(fd: BorrowedFd<'_>, what: &str) -> Result<bool> {
    loop {
        match readable_within(fd, PollTimeout::ZERO) {
            Err(nix::Error::EINTR) => continue,
            r => return r.map_err(|e| Error::sys(format!("poll of {what}"), e)),
        }
    }
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
