//! A host directory bind-mounted into a container, with a FIFO "gate" the container can wait on.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::sys::stat::Mode;

use crate::config::Config;
use crate::error::{io_err, Error, Result};
use crate::scratch::ScratchDir;
use crate::sys::wait_until;

/// A scratch directory shared with a container.
///
/// It holds a FIFO named `gate`: a container script blocks on [`SharedDir::WAIT`] until the
/// test calls [`SharedDir::release`].
#[derive(Debug)]
pub struct SharedDir {
    dir: ScratchDir,
    inside: String,
}

impl SharedDir {
    /// Where [`SharedDir::mount`] puts it in the container.
    pub const MOUNT: &'static str = "/shared";

    /// Shell command that blocks until [`SharedDir::release`] (when mounted at [`SharedDir::MOUNT`]).
    pub const WAIT: &'static str = "read _ < /shared/gate";

    /// Creates the directory and the gate and bind-mounts it at [`SharedDir::MOUNT`].
    pub fn mount(config: &mut Config) -> Result<SharedDir> {
        SharedDir::mount_at(config, false)
    }

    /// Like [`SharedDir::mount`] but mounted at the same absolute path as on the host, so the
    /// same path works for hooks running in either mount namespace.
    pub fn mount_same_path(config: &mut Config) -> Result<SharedDir> {
        SharedDir::mount_at(config, true)
    }

    fn mount_at(config: &mut Config, same_path: bool) -> Result<SharedDir> {
        let dir = ScratchDir::new("shared")?;
        let gate = dir.join("gate");
        nix::unistd::mkfifo(&gate, Mode::from_bits_truncate(0o666)).map_err(|source| {
            Error::Sys {
                call: "mkfifo",
                context: gate.display().to_string(),
                source,
            }
        })?;
        let host = dir.path().to_string_lossy().into_owned();
        let inside = if same_path {
            host.clone()
        } else {
            SharedDir::MOUNT.to_string()
        };
        config.bind(&host, &inside, false, &[]);
        Ok(SharedDir { dir, inside })
    }

    /// The host path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `name` in the host path.
    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The path of the directory inside the container.
    pub fn inside(&self) -> &str {
        &self.inside
    }

    /// Shell command that blocks until [`SharedDir::release`], wherever the directory is mounted.
    pub fn wait_command(&self) -> String {
        format!("read _ < {}/gate", self.inside)
    }

    /// Opens the gate: writes a line to the FIFO once the container has opened it for reading.
    pub fn release(&self) -> Result<()> {
        let gate = self.dir.join("gate");
        let mut writer = None;
        wait_until("the container to open the gate FIFO", || {
            match std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&gate)
            {
                Ok(file) => {
                    writer = Some(file);
                    true
                }
                Err(_) => false, // ENXIO: no reader yet
            }
        })?;
        if let Some(mut file) = writer {
            file.write_all(b"go\n").map_err(io_err("write", &gate))?;
        }
        Ok(())
    }
}
