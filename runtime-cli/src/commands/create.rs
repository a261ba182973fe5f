//! `kiln create`.

use std::path::PathBuf;

use kiln_libcontainer::{exe_guard, ContainerBuilder};

use crate::Cli;

/// Options of `create` (and `run`).
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Path to the bundle directory.
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Unix socket to send the pty master to (process.terminal).
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// File to write the container process' pid to.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Do not use pivot_root (for rootfs on a ramdisk).
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N extra fds (3..3+N) to the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Container id.
    pub id: String,
}

impl CreateArgs {
    /// The library builder for these options.
    pub fn builder(&self, cli: &Cli) -> Result<ContainerBuilder, kiln_libcontainer::Error> {
        if !cli.root_given && !nix::unistd::geteuid().is_root() {
            // The default state root of an unprivileged user (see `rootless`).
            kiln_libcontainer::rootless::ensure_private_dir(&cli.root)?;
        }
        Ok(ContainerBuilder::new(&self.id, &self.bundle)
            .root(&cli.root)
            .console_socket(self.console_socket.clone())
            .pid_file(self.pid_file.clone())
            .preserve_fds(self.preserve_fds)
            .no_pivot(self.no_pivot)
            .no_new_keyring(self.no_new_keyring)
            .systemd_cgroup(cli.systemd_cgroup)
            .rootless(cli.rootless_mode()?.resolve(cli.systemd_cgroup)))
    }
}

/// Creates the container.
pub fn run(cli: &Cli, args: &CreateArgs) -> Result<(), kiln_libcontainer::Error> {
    exe_guard::reexec_for_bundle(&args.bundle)?;
    args.builder(cli)?.create()?;
    Ok(())
}
