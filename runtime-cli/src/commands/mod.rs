//! One module per command; each is a thin layer over kiln-libcontainer.

pub mod cgroup_cmds;
pub mod check;
pub mod create;
pub mod delete;
pub mod exec;
pub mod features;
pub mod kill;
pub mod list;
pub mod run;
pub mod spec;
pub mod update;
pub mod version;

use kiln_libcontainer::{Container, StateRoot};

use crate::{Cli, Command};

/// A command whose only argument is the container id.
#[derive(Debug, clap::Args)]
pub struct IdArg {
    /// Container id.
    pub id: String,
}

/// `checkpoint` and `restore`: runc's flags are accepted, the command fails clearly.
#[derive(Debug, clap::Args)]
pub struct UnsupportedArgs {
    /// runc's options and the container id.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// Runs the chosen command; returns the process exit code.
pub fn dispatch(cli: &Cli) -> Result<u8, kiln_libcontainer::Error> {
    let root = StateRoot::existing(&cli.root);
    let Some(command) = &cli.command else {
        use clap::CommandFactory;
        let _ = crate::Cli::command().print_help();
        return Ok(1);
    };
    match command {
        Command::Create(a) => create::run(cli, a).map(|()| 0),
        Command::Run(a) => run::run(cli, a),
        Command::Start(a) => Container::load(&root, &a.id)?.start().map(|()| 0),
        Command::State(a) => {
            let state = Container::load(&root, &a.id)?.state();
            println!(
                "{}",
                serde_json::to_string_pretty(&state).unwrap_or_default()
            );
            Ok(0)
        }
        Command::Kill(a) => kill::run(&root, a).map(|()| 0),
        Command::Delete(a) => delete::run(&root, a).map(|()| 0),
        Command::List(a) => list::run(&root, cli.root_given, a).map(|()| 0),
        Command::Spec(a) => {
            let rootless = cli.rootless.as_deref().is_some_and(|v| v == "true");
            spec::run(a, rootless).map(|()| 0)
        }
        Command::Pause(a) => Container::load(&root, &a.id)?.pause().map(|()| 0),
        Command::Resume(a) => Container::load(&root, &a.id)?.resume().map(|()| 0),
        Command::Events(a) => cgroup_cmds::events(&root, a).map(|()| 0),
        Command::Ps(a) => cgroup_cmds::ps(&root, a).map(|()| 0),
        Command::Update(a) => update::run(&root, a).map(|()| 0),
        Command::Exec(a) => exec::run(&root, a),
        Command::Features => {
            features::run();
            Ok(0)
        }
        Command::Check(a) => Ok(check::run(&cli.root, a)),
        Command::Checkpoint(_) => Err(kiln_libcontainer::Error::Unsupported("checkpoint")),
        Command::Restore(_) => Err(kiln_libcontainer::Error::Unsupported("restore")),
    }
}
