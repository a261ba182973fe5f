//! `kiln run`: create + start, and in the foreground wait and clean up.

use kiln_libcontainer::exe_guard;

use super::create::CreateArgs;
use crate::Cli;

/// Options of `run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Do not wait for the container to exit.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Do not delete the container after it exits.
    #[arg(long)]
    pub keep: bool,
}

/// Runs the container; in the foreground, exits with its exit status
/// (128 + N when killed by signal N).
pub fn run(cli: &Cli, args: &RunArgs) -> Result<u8, kiln_libcontainer::Error> {
    exe_guard::reexec_for_bundle(&args.create.bundle)?;
    // The init may be a grandchild (joined pid/time namespaces): adopt it.
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let mut container = args
        .create
        .builder(cli)?
        .terminal_proxy(!args.detach)
        .create()?;
    if let Err(e) = container.start() {
        let _ = container.delete(true);
        return Err(e);
    }
    if args.detach {
        return Ok(0);
    }
    kiln_libcontainer::timings::mark("wait");
    let status = container.wait_forwarding_signals()?;
    if !args.keep {
        container.delete(true)?;
    }
    Ok(status.as_exit_code().clamp(0, 255) as u8)
}
