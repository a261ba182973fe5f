//! OOM notification: a pollable descriptor that turns readable when the kernel reports an
//! out-of-memory event in a container's cgroup.
//!
//! * cgroup v1: an eventfd registered for `memory.oom_control` through
//!   `cgroup.event_control` (the kernel's memcg notification API, cgroup-v1/memory.rst §9).
//!   The kernel signals it on every OOM of the cgroup, and once more when the cgroup is
//!   removed (told apart by `cgroup.event_control` being gone).
//! * cgroup v2: inotify on `memory.events`, which the kernel modifies on every memory event;
//!   the `oom` and `oom_kill` counters in it are compared with the last values seen.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use crate::layout::Layout;
use crate::{fsutil, CgroupError, Manager};

/// What [`OomWatcher::read`] found since the previous call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OomReport {
    /// New OOM events (0 when none). On v1 the number of kernel notifications; on v2 the
    /// growth of `max(oom, oom_kill)` of `memory.events`, so that one OOM that also killed
    /// counts once even when the two counters are seen to grow at different reads.
    pub ooms: u64,
    /// The cgroup was removed: no further events will come.
    pub gone: bool,
}

/// A descriptor that becomes readable (`POLLIN`) when the cgroup reports an OOM event;
/// made by [`Manager::oom_watcher`]. It is non-blocking: poll it (or add it to an epoll
/// set), then call [`OomWatcher::read`].
#[derive(Debug)]
pub struct OomWatcher {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    V1 {
        efd: EventFd,
        /// Kept open: the registration refers to this descriptor.
        _oom_control: File,
        event_control: PathBuf,
    },
    V2 {
        inotify: Inotify,
        events: PathBuf,
        /// `max(oom, oom_kill)` at the previous read.
        seen: u64,
    },
}

impl Manager {
    /// Starts watching the cgroup for OOM events (the cgroup must exist). Needs the memory
    /// controller: [`CgroupError::ControllerMissing`] without it.
    pub fn oom_watcher(&self) -> Result<OomWatcher, CgroupError> {
        let missing = CgroupError::ControllerMissing {
            operation: "watching for OOM events",
            controller: "memory",
        };
        match self.layout() {
            Layout::V2 => {
                let dir = self.unified_dir().ok_or(missing)?;
                OomWatcher::v2(&dir.join("memory.events"))
            }
            Layout::V1 | Layout::Hybrid => {
                let dir = self.v1_dir("memory").ok_or(missing)?;
                if !dir.is_dir() {
                    return Err(CgroupError::NotFound { path: dir });
                }
                OomWatcher::v1(
                    &dir.join("memory.oom_control"),
                    &dir.join("cgroup.event_control"),
                )
            }
        }
    }
}

fn syscall_err(syscall: &'static str, target: &Path, e: Errno) -> CgroupError {
    CgroupError::Syscall {
        syscall,
        target: target.to_path_buf(),
        source: std::io::Error::from(e),
    }
}

impl OomWatcher {
    /// v1: registers a new eventfd for `oom_control` by writing `"<eventfd> <oom_control fd>"`
    /// to `event_control`.
    pub(crate) fn v1(oom_control: &Path, event_control: &Path) -> Result<Self, CgroupError> {
        let file = File::open(oom_control).map_err(|source| CgroupError::Read {
            path: oom_control.to_path_buf(),
            source,
        })?;
        let efd = EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
            .map_err(|e| syscall_err("eventfd", oom_control, e))?;
        let line = format!("{} {}", efd.as_raw_fd(), file.as_raw_fd());
        fsutil::write(event_control, &line)?;
        Ok(Self {
            inner: Inner::V1 {
                efd,
                _oom_control: file,
                event_control: event_control.to_path_buf(),
            },
        })
    }

    /// v2: watches `memory.events` (which must exist) for modifications.
    pub(crate) fn v2(events: &Path) -> Result<Self, CgroupError> {
        let seen = oom_count(events)?;
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
            .map_err(|e| syscall_err("inotify_init1", events, e))?;
        inotify
            .add_watch(
                events,
                AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_DELETE_SELF,
            )
            .map_err(|e| syscall_err("inotify_add_watch", events, e))?;
        Ok(Self {
            inner: Inner::V2 {
                inotify,
                events: events.to_path_buf(),
                seen,
            },
        })
    }

    /// Consumes what made the descriptor readable and reports new OOM events; never blocks
    /// (nothing new is `ooms == 0`). On v2 the counters are read every time, so an OOM whose
    /// (asynchronous, rate-limited) notification is still on its way is already counted.
    pub fn read(&mut self) -> Result<OomReport, CgroupError> {
        match &mut self.inner {
            Inner::V1 {
                efd, event_control, ..
            } => read_v1(efd, event_control),
            Inner::V2 {
                inotify,
                events,
                seen,
            } => read_v2(inotify, events, seen),
        }
    }
}

impl AsFd for OomWatcher {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.inner {
            Inner::V1 { efd, .. } => efd.as_fd(),
            Inner::V2 { inotify, .. } => inotify.as_fd(),
        }
    }
}

fn read_v1(efd: &EventFd, event_control: &Path) -> Result<OomReport, CgroupError> {
    let count = match efd.read() {
        Ok(n) => n,
        Err(Errno::EAGAIN) => return Ok(OomReport::default()),
        Err(e) => return Err(syscall_err("read of the OOM eventfd", event_control, e)),
    };
    // The kernel also signals the eventfd when the cgroup goes away.
    if !event_control.exists() {
        return Ok(OomReport {
            ooms: 0,
            gone: true,
        });
    }
    Ok(OomReport {
        ooms: count,
        gone: false,
    })
}

fn read_v2(inotify: &Inotify, events: &Path, seen: &mut u64) -> Result<OomReport, CgroupError> {
    let mut gone = false;
    loop {
        match inotify.read_events() {
            Ok(list) => {
                gone |= list.iter().any(|e| {
                    e.mask
                        .intersects(AddWatchFlags::IN_IGNORED | AddWatchFlags::IN_DELETE_SELF)
                });
            }
            Err(Errno::EAGAIN) => break,
            Err(e) => return Err(syscall_err("read of the memory.events inotify", events, e)),
        }
    }
    let now = match fsutil::read_opt(events)? {
        Some(text) => count_in(events, &text)?,
        None => {
            return Ok(OomReport {
                ooms: 0,
                gone: true,
            })
        }
    };
    let ooms = now.saturating_sub(*seen);
    *seen = (*seen).max(now);
    Ok(OomReport { ooms, gone })
}

/// `max(oom, oom_kill)` of a `memory.events` file.
fn oom_count(events: &Path) -> Result<u64, CgroupError> {
    count_in(events, &fsutil::read(events)?)
}

fn count_in(path: &Path, text: &str) -> Result<u64, CgroupError> {
    let map = fsutil::parse_flat_keyed(path, text)?;
    let get = |k: &str| map.get(k).copied().unwrap_or(0);
    Ok(get("oom").max(get("oom_kill")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

    fn readable(w: &OomWatcher, ms: u16) -> bool {
        let mut fds = [PollFd::new(w.as_fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::from(ms)).unwrap() > 0
    }

    fn memory_events(oom: u64, kill: u64, max: u64) -> String {
        format!("low 0\nhigh 0\nmax {max}\noom {oom}\noom_kill {kill}\noom_group_kill 0\n")
    }

    #[test]
    fn v2_reports_growth_of_the_oom_counters_once() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("memory.events");
        std::fs::write(&path, memory_events(2, 1, 5)).unwrap();
        let mut w = OomWatcher::v2(&path).unwrap();
        assert!(!readable(&w, 0), "nothing happened yet");
        assert_eq!(w.read().unwrap(), OomReport::default());

        // An OOM is counted before its kill: the kill that follows is the same event.
        std::fs::write(&path, memory_events(3, 1, 9)).unwrap();
        assert!(readable(&w, 1000));
        assert_eq!(w.read().unwrap().ooms, 1);
        std::fs::write(&path, memory_events(3, 2, 9)).unwrap();
        assert!(readable(&w, 1000));
        assert_eq!(w.read().unwrap().ooms, 0, "oom_kill caught up with oom");
        assert!(!readable(&w, 0), "read() consumed the notification");

        // Two more OOMs (and kills) between reads.
        std::fs::write(&path, memory_events(5, 4, 9)).unwrap();
        assert_eq!(
            w.read().unwrap(),
            OomReport {
                ooms: 2,
                gone: false
            }
        );
        std::fs::write(&path, memory_events(5, 5, 9)).unwrap();
        assert_eq!(w.read().unwrap().ooms, 0);

        // Only another counter changed.
        std::fs::write(&path, memory_events(5, 5, 12)).unwrap();
        assert!(readable(&w, 1000));
        assert_eq!(w.read().unwrap().ooms, 0);

        std::fs::remove_file(&path).unwrap();
        assert!(readable(&w, 1000));
        assert_eq!(
            w.read().unwrap(),
            OomReport {
                ooms: 0,
                gone: true
            }
        );
    }

    #[test]
    fn v2_needs_memory_events_and_rejects_garbage() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("memory.events");
        let err = OomWatcher::v2(&path).unwrap_err();
        assert!(err.to_string().contains("memory.events"), "{err}");
        std::fs::write(&path, memory_events(0, 0, 0)).unwrap();
        let mut w = OomWatcher::v2(&path).unwrap();
        std::fs::write(&path, "oom lots\n").unwrap();
        let err = w.read().unwrap_err();
        assert!(err.to_string().contains("\"lots\""), "{err}");
    }

    #[test]
    fn v1_registers_the_eventfd_and_reads_its_counter() {
        let tmp = tempfile::tempdir().unwrap();
        let oom_control = tmp.path().join("memory.oom_control");
        let event_control = tmp.path().join("cgroup.event_control");
        std::fs::write(
            &oom_control,
            "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
        )
        .unwrap();
        std::fs::write(&event_control, "").unwrap();
        let mut w = OomWatcher::v1(&oom_control, &event_control).unwrap();
        // The registration line names our eventfd and our oom_control descriptor.
        let line = std::fs::read_to_string(&event_control).unwrap();
        let fds: Vec<i32> = line.split(' ').map(|f| f.parse().unwrap()).collect();
        assert_eq!(fds[0], w.as_fd().as_raw_fd());
        let target = std::fs::read_link(format!("/proc/self/fd/{}", fds[1])).unwrap();
        assert_eq!(target, oom_control);

        assert!(!readable(&w, 0));
        assert_eq!(w.read().unwrap(), OomReport::default());
        // What the kernel does on OOM: add to the eventfd counter.
        nix::unistd::write(w.as_fd(), &2u64.to_ne_bytes()).unwrap();
        assert!(readable(&w, 0));
        assert_eq!(
            w.read().unwrap(),
            OomReport {
                ooms: 2,
                gone: false
            }
        );
        assert!(!readable(&w, 0));
        // ... and on rmdir of the cgroup.
        std::fs::remove_file(&event_control).unwrap();
        nix::unistd::write(w.as_fd(), &1u64.to_ne_bytes()).unwrap();
        assert_eq!(
            w.read().unwrap(),
            OomReport {
                ooms: 0,
                gone: true
            }
        );
    }

    #[test]
    fn v1_without_event_control_fails_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let oom_control = tmp.path().join("memory.oom_control");
        std::fs::write(&oom_control, "").unwrap();
        let event_control = tmp.path().join("cgroup.event_control");
        let err = OomWatcher::v1(&oom_control, &event_control).unwrap_err();
        assert!(err.to_string().contains("cgroup.event_control"), "{err}");
    }
}
