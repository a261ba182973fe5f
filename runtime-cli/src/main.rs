//! `kiln`: a runc-compatible command line over kiln-libcontainer (the
//! parsing and the commands are the `kiln_cli` library next to this file).

use std::process::ExitCode;

use kiln_cli::{commands, logger, Command};

fn main() -> ExitCode {
    // kiln is an embedder of its library like any other (see kiln_libcontainer::embed); its
    // create/run/exec re-execute themselves from a read-only view and stay single-threaded,
    // so they clone in-process and no helper is started.
    kiln_libcontainer::init();
    let cli = kiln_cli::parse();
    if matches!(
        cli.command,
        None | Some(Command::State(_) | Command::List(_) | Command::Ps(_))
            | Some(Command::Events(_) | Command::Features | Command::Check(_))
    ) {
        printing_dies_of_a_closed_pipe();
    }
    if cli.version {
        println!("{}", commands::version::long());
        return ExitCode::SUCCESS;
    }
    if cli.timings {
        kiln_libcontainer::timings::enable();
        kiln_libcontainer::timings::mark("cli");
    }
    let to_file = match logger::init(cli.log.as_deref(), cli.log_format, cli.debug) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("kiln: cannot open log file: {e}");
            return ExitCode::from(1);
        }
    };
    let result = commands::dispatch(&cli);
    if let Some(command) = &cli.command {
        let (name, id) = command.name_and_id();
        if let Some(line) = kiln_libcontainer::timings::report(name, id) {
            logger::write_line(cli.log.as_deref(), &line);
        }
    }
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // runc's `exec` fails with 255, so callers can tell it from the process' own status.
            let code = if matches!(cli.command, Some(Command::Exec(_))) {
                255
            } else {
                1
            };
            let msg = format!("{e:#}");
            log::error!("{msg}");
            log::logger().flush();
            if to_file {
                eprintln!("{msg}");
            }
            ExitCode::from(code)
        }
    }
}

/// For the commands that only print (`state`, `list`, `ps`, `events`, `features`, `--version`):
/// a reader that goes away (`kiln state x | grep -q running`) ends kiln by SIGPIPE, as it ends
/// runc, instead of a panic on the failed write (Rust ignores SIGPIPE by default). The other
/// commands keep ignoring it: they talk to the container over sockets and pipes and handle
/// EPIPE there.
fn printing_dies_of_a_closed_pipe() {
    // SAFETY: restoring the default disposition of SIGPIPE installs no handler; nothing else
    // runs yet (single-threaded, start of main).
    if let Err(e) = unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        )
    } {
        eprintln!("kiln: SIGPIPE disposition: {e}");
    }
}
