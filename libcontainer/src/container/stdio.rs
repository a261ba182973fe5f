//! The standard streams given to a container's init or an exec'd process.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use nix::fcntl::{fcntl, FcntlArg};

use crate::error::{Error, Result};

/// stdin, stdout and stderr for a container process: each one a file
/// descriptor (a pipe end, a file, a socket, a pty) or, when not given, the
/// caller's own. For [`ContainerBuilder::stdio`](crate::ContainerBuilder::stdio)
/// and [`ExecOptions::stdio`](crate::ExecOptions::stdio).
///
/// ```
/// let (reader, writer) = nix::unistd::pipe()?;
/// let stdio = kiln_libcontainer::Stdio::default().stdout(writer);
/// # drop(reader); drop(stdio);
/// # Ok::<(), nix::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Stdio {
    fds: [Option<Arc<OwnedFd>>; 3],
}

impl Stdio {
    /// The process' stdin.
    pub fn stdin(mut self, fd: impl Into<OwnedFd>) -> Self {
        self.fds[0] = Some(Arc::new(fd.into()));
        self
    }

    /// The process' stdout.
    pub fn stdout(mut self, fd: impl Into<OwnedFd>) -> Self {
        self.fds[1] = Some(Arc::new(fd.into()));
        self
    }

    /// The process' stderr.
    pub fn stderr(mut self, fd: impl Into<OwnedFd>) -> Self {
        self.fds[2] = Some(Arc::new(fd.into()));
        self
    }

    /// Whether no stream was given.
    pub fn is_empty(&self) -> bool {
        self.fds.iter().all(Option::is_none)
    }

    /// The given fds, by stream number.
    pub(crate) fn fds(&self) -> [Option<RawFd>; 3] {
        [0, 1, 2].map(|i| self.fds[i].as_ref().map(|f| f.as_raw_fd()))
    }

    /// In a cloned child: makes the given fds its 0, 1 and 2 (each first moved
    /// above 2, so that one target never overwrites another's source).
    pub(crate) fn install(&self) -> Result<()> {
        let mut moved = [None, None, None];
        for (target, fd) in self.fds().into_iter().enumerate() {
            if let Some(fd) = fd {
                let high = fcntl(fd, FcntlArg::F_DUPFD_CLOEXEC(3))
                    .map_err(|e| Error::sys(format!("dup of the fd given as stdio {target}"), e))?;
                moved[target] = Some(high);
            }
        }
        for (target, high) in moved.into_iter().enumerate() {
            let Some(high) = high else { continue };
            nix::unistd::dup2(high, target as RawFd)
                .map_err(|e| Error::sys(format!("dup2 onto stdio {target}"), e))?;
            // A close-on-exec duplicate no longer needed; an error closing it changes nothing.
            let _ = nix::unistd::close(high);
        }
        Ok(())
    }
}
