//! `start`: release a created container's init to exec the user program.

use std::fs::OpenOptions;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::Container;
use crate::error::{Error, InitError, Result};
use crate::hooks::{self, HookKind};
use crate::process::pidfd;
use crate::state::Status;
use crate::store::EXEC_FIFO;

impl Container {
    /// Starts the user program of a `created` container (runtime.md "start"),
    /// then runs the poststart hooks.
    pub fn start(&mut self) -> Result<()> {
        crate::timings::mark("start");
        let _lock = self.lock()?;
        let status = self.status();
        if status != Status::Created {
            return Err(self.refuse(status, "cannot start a container that is not created"));
        }
        // Pin the init before releasing it: a short program may run, exit and
        // be reaped by the engine right after the fifo opens.
        let init = pidfd::open(self.record.pid).map_err(|_| {
            self.refuse(Status::Stopped, "cannot start a container that has stopped")
        })?;
        let fifo_path = self.dir.join(EXEC_FIFO);
        let mut fifo = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&fifo_path)
            .map_err(|e| Error::io("open", &fifo_path, e))?;
        // The init writes "0" once released, then keeps the fifo open until it
        // executes the user program (close-on-exec) — or writes why it failed.
        let mut got = Vec::new();
        loop {
            let mut fds = [
                PollFd::new(fifo.as_fd(), PollFlags::POLLIN),
                PollFd::new(init.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(Error::sys("poll exec fifo", e)),
                Ok(_) => {}
            }
            let fifo_event = fds[0].revents().is_some_and(|r| !r.is_empty());
            let init_gone = fds[1].revents().is_some_and(|r| !r.is_empty());
            if fifo_event {
                let mut buf = [0u8; 4096];
                match fifo.read(&mut buf) {
                    Ok(0) if !got.is_empty() => break,
                    // The writer closed without a word: the init died.
                    Ok(0) if init_gone => {
                        return Err(Error::InitDied(
                            "the container process exited before start".into(),
                        ))
                    }
                    Ok(0) => std::thread::yield_now(),
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(Error::io("read", &fifo_path, e)),
                }
            } else if init_gone && got.is_empty() {
                return Err(Error::InitDied(
                    "the container process exited before start".into(),
                ));
            }
        }
        let _ = std::fs::remove_file(&fifo_path);
        if got.len() > 1 {
            return Err(Error::InitFailed(init_report(&got[1..])));
        }
        let state = self.state_with(Status::Running).to_spec_json();
        hooks::run_all_warn(
            HookKind::Poststart,
            self.record.spec.hooks().as_ref(),
            &state,
        );
        Ok(())
    }
}

/// The failure the init wrote to the exec fifo after its `0`: an [`InitError`]
/// as JSON, or (from an init of an older kiln) its text.
fn init_report(bytes: &[u8]) -> InitError {
    crate::json::from_slice(bytes).unwrap_or_else(|_| {
        InitError::from_message("", String::from_utf8_lossy(bytes).into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_init_report_is_read_back_whole_or_as_text() {
        let e = Error::config("process.cwd", "chdir /x: Permission denied");
        let report = InitError::new("cwd", &e);
        let got = init_report(&serde_json::to_vec(&report).unwrap());
        assert_eq!(got, report);
        assert_eq!(got.field(), Some("process.cwd"));
        let old = init_report(b"exec /x: no such file or directory");
        assert_eq!(old.step(), "");
        assert_eq!(
            Error::InitFailed(old).to_string(),
            "container init: exec /x: no such file or directory"
        );
    }
}
