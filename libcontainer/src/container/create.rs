//! `create`: the builder that turns a bundle into a created container.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

mod steps;

use super::create_support::Undo;
use super::Container;
use crate::bundle::Bundle;
use crate::error::{Error, Result};
use crate::failpoint::hit;
use crate::store::StateRoot;

/// Options for creating a container; `create` does the work.
///
/// ```no_run
/// # fn main() -> Result<(), kiln_libcontainer::Error> {
/// use kiln_libcontainer::ContainerBuilder;
/// let mut c = ContainerBuilder::new("web", "/srv/bundles/web").root("/run/kiln").create()?;
/// c.start()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ContainerBuilder {
    id: String,
    bundle: PathBuf,
    root: PathBuf,
    console_socket: Option<PathBuf>,
    pid_file: Option<PathBuf>,
    preserve_fds: u32,
    no_pivot: bool,
    no_new_keyring: bool,
    systemd_cgroup: bool,
    terminal_proxy: bool,
    rootless: bool,
    #[serde(skip)]
    stdio: super::Stdio,
}

impl ContainerBuilder {
    /// A container `id` from the bundle at `bundle`, state under `/run/kiln`.
    pub fn new(id: impl Into<String>, bundle: impl Into<PathBuf>) -> Self {
        ContainerBuilder {
            id: id.into(),
            bundle: bundle.into(),
            root: PathBuf::from("/run/kiln"),
            console_socket: None,
            pid_file: None,
            preserve_fds: 0,
            no_pivot: false,
            no_new_keyring: false,
            systemd_cgroup: false,
            terminal_proxy: false,
            rootless: crate::rootless::Rootless::Auto.resolve(false),
            stdio: super::Stdio::default(),
        }
    }

    /// The container process' stdin, stdout and stderr (by default the caller's).
    pub fn stdio(mut self, stdio: super::Stdio) -> Self {
        self.stdio = stdio;
        self
    }

    pub(crate) fn state_root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn container_id(&self) -> &str {
        &self.id
    }

    pub(crate) fn stdio_ref(&self) -> &super::Stdio {
        &self.stdio
    }

    pub(crate) fn preserved_fds(&self) -> u32 {
        self.preserve_fds
    }

    /// The state root (`--root`).
    pub fn root(mut self, root: impl Into<PathBuf>) -> Self {
        self.root = root.into();
        self
    }

    /// Unix socket that receives the pty master when `process.terminal` is set.
    pub fn console_socket(mut self, path: Option<PathBuf>) -> Self {
        self.console_socket = path;
        self
    }

    /// File to write the container process' pid to, atomically.
    pub fn pid_file(mut self, path: Option<PathBuf>) -> Self {
        self.pid_file = path;
        self
    }

    /// Pass fds 3..3+n of the caller to the container.
    pub fn preserve_fds(mut self, n: u32) -> Self {
        self.preserve_fds = n;
        self
    }

    /// Use MS_MOVE + chroot instead of pivot_root (for ramdisk roots).
    pub fn no_pivot(mut self, yes: bool) -> Self {
        self.no_pivot = yes;
        self
    }

    /// Keep the caller's session keyring instead of a new one.
    pub fn no_new_keyring(mut self, yes: bool) -> Self {
        self.no_new_keyring = yes;
        self
    }

    /// With `process.terminal` and no console socket: keep the pty master for
    /// the caller ([`Container::take_console`]), as a foreground `run` does.
    pub fn terminal_proxy(mut self, yes: bool) -> Self {
        self.terminal_proxy = yes;
        self
    }

    /// Rootless cgroup handling (`--rootless`; by default: whether this process is
    /// unprivileged, see [`crate::Rootless::resolve`]). Without `linux.cgroupsPath` the
    /// container then gets no cgroup (and limits are refused); with one, it must be a cgroup
    /// the caller may write, and the hierarchies it may not are left out.
    pub fn rootless(mut self, yes: bool) -> Self {
        self.rootless = yes;
        self
    }

    /// Interpret `linux.cgroupsPath` as a systemd `slice:prefix:name`.
    pub fn systemd_cgroup(mut self, yes: bool) -> Self {
        self.systemd_cgroup = yes;
        self
    }

    /// Creates the container (runtime.md "create"): returns once its process
    /// is fully set up and blocked just before executing the user program.
    /// On any failure everything made so far is removed again.
    pub fn create(self) -> Result<Container> {
        crate::store::validate_id(&self.id)?;
        if crate::embed::needs_helper()? {
            return crate::embed::create_in_helper(self);
        }
        crate::timings::mark("load");
        let bundle = Bundle::load(&self.bundle)?;
        crate::timings::mark("state-dir");
        let root = StateRoot::new(&self.root)?;
        let dir = root.container_dir(&self.id)?;
        match fs::DirBuilder::new().mode(0o711).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Exists(self.id))
            }
            Err(e) => return Err(Error::io("create container dir", &dir, e)),
        }
        let mut undo = Undo {
            dir: Some(dir.clone()),
            cgroup: None,
            init: None,
        };
        crate::embed::claimed()?;
        let _lock = crate::store::DirLock::acquire(&dir)?;
        hit("create", "locked");
        let (record, console) = self.setup(&root, &dir, &bundle, &mut undo)?;
        undo.disarm();
        Ok(Container {
            dir,
            record,
            console,
            cgroup: Default::default(),
        })
    }
}
