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
    if cli.version {
        println!("{}", commands::version::long());
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
