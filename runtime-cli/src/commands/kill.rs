//! `kiln kill`.

use kiln_libcontainer::{Container, Error, Signal, StateRoot};

/// Options of `kill`.
#[derive(Debug, clap::Args)]
pub struct KillArgs {
    /// Send the signal to all processes of the container.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Container id.
    pub id: String,
    /// Signal name (KILL, SIGKILL) or number.
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

/// Sends the signal.
pub fn run(root: &StateRoot, a: &KillArgs) -> Result<(), Error> {
    let sig: Signal = a.signal.parse()?;
    Container::load(root, &a.id)?.kill(sig, a.all)
}
