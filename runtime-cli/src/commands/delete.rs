//! `kiln delete`.

use kiln_libcontainer::{Container, Error, StateRoot};

/// Options of `delete`.
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// Kill the container first if it is running.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Container id.
    pub id: String,
}

/// Deletes the container. With `--force` a container whose state was never
/// fully written (an interrupted create) or is damaged is removed too.
pub fn run(root: &StateRoot, a: &DeleteArgs) -> Result<(), Error> {
    match Container::load(root, &a.id) {
        Ok(c) => c.delete(a.force),
        Err(Error::NotFound(_) | Error::State { .. }) if a.force => {
            Container::delete_incomplete(root, &a.id)
        }
        Err(e) => Err(e),
    }
}
