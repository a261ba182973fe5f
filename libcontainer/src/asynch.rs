//! Async versions of the blocking calls, for tokio programs (feature `tokio`).
//!
//! `create` and `exec` run on tokio's blocking pool (they wait for the
//! container process to be set up); waiting for a process to exit is driven
//! by its pidfd, registered with the runtime's reactor: no thread is held.
//! The program must have called [`crate::init`](fn@crate::init) first thing in `main`.

use std::os::fd::{AsRawFd, OwnedFd};

use oci_spec::runtime::Process;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::container::wait::try_reap;
use crate::error::{Error, Result};
use crate::{Container, ContainerBuilder, ExecOptions, ExecProcess, ExitStatus, StateRoot};

impl ContainerBuilder {
    /// [`create`](Self::create) on tokio's blocking pool.
    pub async fn create_async(self) -> Result<Container> {
        blocking(move || self.create()).await
    }
}

impl Container {
    /// [`exec`](Self::exec) on tokio's blocking pool.
    pub async fn exec_async(&self, process: Process, opts: ExecOptions) -> Result<ExecProcess> {
        let root = self.state_root_path();
        let id = self.id().to_string();
        blocking(move || Container::load(&StateRoot::existing(root), &id)?.exec(&process, &opts))
            .await
    }

    /// [`wait`](Self::wait) without blocking a thread: the container process' pidfd is
    /// polled by the tokio reactor (call it inside a tokio runtime).
    pub async fn wait_async(&self) -> Result<ExitStatus> {
        wait_pidfd(self.pidfd()?, self.pid_recorded()).await
    }
}

impl ExecProcess {
    /// [`wait`](Self::wait) without blocking a thread.
    pub async fn wait_async(&self) -> Result<ExitStatus> {
        let fd = self
            .pidfd()
            .try_clone_to_owned()
            .map_err(|e| Error::io("dup pidfd", "", e))?;
        wait_pidfd(fd, self.pid()).await
    }
}

/// Registers `fd` with the current tokio reactor (readable = the process exited).
fn register(fd: OwnedFd) -> Result<AsyncFd<OwnedFd>> {
    // SAFETY: the AsyncFd owns the OwnedFd, which stays open and the same fd for the
    // AsyncFd's whole life and is closed only when it is dropped.
    unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
        .map_err(|e| Error::io("register pidfd with the tokio reactor", "", e.into()))
}

async fn wait_pidfd(fd: OwnedFd, pid: i32) -> Result<ExitStatus> {
    let afd = register(fd)?;
    loop {
        let mut guard = afd
            .readable()
            .await
            .map_err(|e| Error::io("poll pidfd", "", e))?;
        if let Some(status) = try_reap(afd.get_ref().as_raw_fd(), pid)? {
            return Ok(status);
        }
        guard.clear_ready();
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Helper {
            message: format!("kiln task on tokio's blocking pool: {e}"),
            errno: None,
        })?
}
