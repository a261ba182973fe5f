//! `kiln check`: diagnoses the host before the first container (a thin layer over
//! [`kiln_libcontainer::check`]).

use std::path::Path;

use kiln_libcontainer::check::{self, Options};

/// Options of `check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Output format: one line per check (text) or one JSON document (json).
    #[arg(short = 'f', long, value_parser = ["text", "json"], default_value = "text")]
    pub format: String,
}

/// Runs the checks for the caller and the state root `root`; prints the report. Exit code
/// 0 when containers can run (no FAIL), 1 otherwise.
pub fn run(root: &Path, a: &CheckArgs) -> u8 {
    let report = check::run(&Options::for_caller(root.to_path_buf()));
    if a.format == "json" {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    u8::from(!report.ok)
}
