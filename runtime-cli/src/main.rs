//! `kiln`: a runc-compatible command line over kiln-libcontainer.
//!
//! Only argument parsing and output formatting live here; every operation is
//! a call into the library.

mod commands;
mod logger;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Global options, as runc has them.
#[derive(Debug, Parser)]
#[command(
    name = "kiln",
    disable_version_flag = true,
    args_override_self = true,
    about = "kiln: an OCI container runtime (runc-compatible)"
)]
pub struct Cli {
    /// Root directory for storage of container state.
    #[arg(long, global = true, default_value = "/run/kiln")]
    root: PathBuf,
    /// Log file (default: stderr).
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Log format.
    #[arg(long = "log-format", global = true, value_enum, default_value = "text")]
    log_format: logger::LogFormat,
    /// Enable debug logging.
    #[arg(long, global = true)]
    debug: bool,
    /// Use systemd for cgroups (cgroupsPath is then slice:prefix:name).
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Rootless mode ("true", "false" or "auto"); `spec --rootless` writes a rootless config.
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true")]
    rootless: Option<String>,
    /// Accepted for runc compatibility (checkpoint/restore is not supported).
    #[arg(long, global = true, hide = true)]
    criu: Option<String>,
    /// Print the version (`kiln version X`, then commit, spec and libseccomp lines).
    #[arg(short = 'v', long)]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a container from a bundle.
    Create(commands::create::CreateArgs),
    /// Start a created container.
    Start(commands::IdArg),
    /// Create and start a container.
    Run(commands::run::RunArgs),
    /// Print the state of a container as JSON.
    State(commands::IdArg),
    /// Send a signal to a container's process.
    Kill(commands::kill::KillArgs),
    /// Delete a container and its resources.
    Delete(commands::delete::DeleteArgs),
    /// List containers under the root.
    List(commands::list::ListArgs),
    /// Write a default config.json.
    Spec(commands::spec::SpecArgs),
    /// Freeze all processes of a container.
    Pause(commands::IdArg),
    /// Thaw a paused container.
    Resume(commands::IdArg),
    /// Print resource statistics and OOM events as JSON lines.
    Events(commands::cgroup_cmds::EventsArgs),
    /// List the processes of a container.
    Ps(commands::cgroup_cmds::PsArgs),
    /// Change the resource limits of a running container.
    Update(commands::update::UpdateArgs),
    /// Run a new process inside a running container.
    Exec(commands::exec::ExecArgs),
    /// Print the features this kiln supports (runtime-spec features.md).
    Features,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        println!("kiln version {}", commands::version::long());
        return ExitCode::SUCCESS;
    }
    let to_file = match logger::init(cli.log.as_deref(), cli.log_format, cli.debug) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("kiln: cannot open log file: {e}");
            return ExitCode::from(1);
        }
    };
    match commands::dispatch(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let msg = format!("{e:#}");
            log::error!("{msg}");
            log::logger().flush();
            if to_file {
                eprintln!("{msg}");
            }
            // As runc: a failed exec exits 255, apart from any status the process could return.
            match cli.command {
                Some(Command::Exec(_)) => ExitCode::from(255),
                _ => ExitCode::from(1),
            }
        }
    }
}
