#![doc = include_str!("../README.md")]
//!
//! ## Design
//!
//! The `kiln` command line (the binary is `src/main.rs`): a runc-compatible
//! command line over kiln-libcontainer.
//!
//! Only argument parsing and output formatting live here; every operation is
//! a call into the library. A library target so that the fuzz targets
//! (`fuzz/`) reach the argument parser the binary uses.

pub mod commands;
pub mod logger;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Global options, as runc has them.
#[derive(Debug, Parser)]
#[command(
    name = "kiln",
    disable_version_flag = true,
    args_override_self = true,
    about = "a drop-in for runc - Open Container Initiative runtime"
)]
pub struct Cli {
    /// Root directory for storage of container state (default: /run/kiln; for an
    /// unprivileged user $XDG_RUNTIME_DIR/kiln).
    #[arg(long, global = true, default_value = "/run/kiln")]
    pub root: PathBuf,
    /// Log file (default: stderr).
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format.
    #[arg(long = "log-format", global = true, value_enum, default_value = "text")]
    pub log_format: logger::LogFormat,
    /// Enable debug logging.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use systemd for cgroups (cgroupsPath is then slice:prefix:name).
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Report how long each phase of the command took, as one JSON line on stderr (or in
    /// the --log file): {"timings":"create","id":…,"total_ms":…,"phases":[{"phase","ms"}…]}.
    #[arg(long, global = true)]
    pub timings: bool,
    /// Rootless mode ("true", "false" or "auto"); `spec --rootless` writes a rootless config.
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true")]
    pub rootless: Option<String>,
    /// Accepted for runc compatibility (checkpoint/restore is not supported).
    #[arg(long, global = true, hide = true)]
    pub criu: Option<String>,
    /// Print the version (`kiln version X`, then commit, spec and libseccomp lines).
    #[arg(short = 'v', long)]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Whether --root was given (a given root must exist for `list`).
    #[arg(skip)]
    pub root_given: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
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
    /// Check that this host can run containers (as the current user).
    #[command(long_about = CHECK_HELP)]
    Check(commands::check::CheckArgs),
    /// Checkpoint a running container (not supported: kiln has no CRIU support).
    Checkpoint(commands::UnsupportedArgs),
    /// Restore a container from a checkpoint (not supported: kiln has no CRIU support).
    Restore(commands::UnsupportedArgs),
}

impl Command {
    /// The command's name and the container it is about (for `--timings`).
    pub fn name_and_id(&self) -> (&'static str, Option<&str>) {
        use Command as C;
        match self {
            C::Create(a) => ("create", Some(&a.id)),
            C::Start(a) => ("start", Some(&a.id)),
            C::Run(a) => ("run", Some(&a.create.id)),
            C::State(a) => ("state", Some(&a.id)),
            C::Kill(a) => ("kill", Some(&a.id)),
            C::Delete(a) => ("delete", Some(&a.id)),
            C::List(_) => ("list", None),
            C::Spec(_) => ("spec", None),
            C::Pause(a) => ("pause", Some(&a.id)),
            C::Resume(a) => ("resume", Some(&a.id)),
            C::Events(a) => ("events", Some(&a.id)),
            C::Ps(a) => ("ps", Some(&a.id)),
            C::Update(a) => ("update", Some(&a.id)),
            C::Exec(a) => ("exec", Some(&a.id)),
            C::Features => ("features", None),
            C::Check(_) => ("check", None),
            C::Checkpoint(_) => ("checkpoint", None),
            C::Restore(_) => ("restore", None),
        }
    }
}

/// The description of `kiln check --help`.
const CHECK_HELP: &str = "Check that this host can run containers, as the current user.

Root and an unprivileged user need different things: run it as the user who will run the
containers. Each line is OK, WARN or FAIL, a name and what was found; WARN and FAIL lines
are followed by a fix. The checks: the cgroup layout (v1, v2, hybrid), the controllers available or
delegated, stray directories under /sys/fs/cgroup; user namespaces, and for an unprivileged
user /etc/subuid, /etc/subgid, newuidmap and newgidmap; seccomp, user notification and
libseccomp; the syscalls pidfd_open, clone3, openat2 and mount_setattr; systemd and its bus
(for --systemd-cgroup); the state root (--root) and its filesystem. Nothing is changed.

The exit status is 0 when containers can run (no FAIL), 1 otherwise. With --format json
one document is printed: {\"ok\": bool, \"checks\": [{\"name\", \"status\", \"detail\", \"fix\"}]}.";

/// urfave/cli's help layout, which runc's users and tests read: `NAME:` first.
const HELP_TEMPLATE: &str = "NAME:\n   {bin} - {about}\n\nUSAGE:\n   {usage}\n\n{all-args}";

/// Parses `args` (the program name first) as the binary does; `--help`,
/// `--version`-style output and usage errors are the `Err`.
pub fn try_parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    use clap::{CommandFactory, FromArgMatches};
    let mut args = args.into_iter().map(Into::into).peekable();
    let bin = args
        .peek()
        .and_then(|a| {
            std::path::Path::new(a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "kiln".into());
    // clap's {bin} of a subcommand is "kiln-create"; urfave/cli's is "kiln create".
    let cmd = Cli::command()
        .help_template(HELP_TEMPLATE)
        .mut_subcommands(|s| {
            let name = format!("{bin} {}", s.get_name());
            s.help_template(HELP_TEMPLATE.replace("{bin}", &name))
        });
    let m = cmd.try_get_matches_from(args)?;
    let mut cli = Cli::from_arg_matches(&m)?;
    cli.root_given = m.value_source("root") == Some(clap::parser::ValueSource::CommandLine);
    if !cli.root_given {
        cli.root = kiln_libcontainer::rootless::default_state_root("kiln");
    }
    Ok(cli)
}

impl Cli {
    /// The `--rootless` setting (`auto` when not given).
    pub fn rootless_mode(&self) -> Result<kiln_libcontainer::Rootless, kiln_libcontainer::Error> {
        self.rootless.as_deref().unwrap_or("auto").parse()
    }
}

/// Parses the process' command line (exits on --help and usage errors, as clap does).
pub fn parse() -> Cli {
    match try_parse_from(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) if e.kind() == clap::error::ErrorKind::InvalidSubcommand => {
            let name = match e.get(clap::error::ContextKind::InvalidSubcommand) {
                Some(clap::error::ContextValue::String(s)) => s.clone(),
                _ => String::new(),
            };
            // runc's (urfave/cli's) wording and exit code.
            eprintln!("No help topic for '{name}'");
            std::process::exit(3)
        }
        Err(e) => e.exit(),
    }
}
