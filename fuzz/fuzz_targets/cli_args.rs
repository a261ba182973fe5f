//! The kiln command line: any argv (NUL-separated arguments after `kiln`)
//! parses to a command or to a clap error whose message renders, never a
//! panic (with debug assertions, clap also checks the command definition);
//! the values commands parse themselves never panic and stay in range:
//! kill's signal (0..=64), exec's `--user`, update's sizes (-1 or more, and
//! taken exactly when runc takes them: `runc_size` below).
#![no_main]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use kiln_cli::commands::{exec, update};
use kiln_cli::Command;
use libfuzzer_sys::fuzz_target;

/// runc's grammar for a size (go-units' RAMInBytes), stated on its own:
/// digits, an optional fraction, an optional space, an optional unit
/// k/m/g/t/p, an optional `i`, an optional `b`, in any case.
fn runc_size(s: &str) -> bool {
    let digits = |s: &str| s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let s = s.to_ascii_lowercase();
    let mut rest = &s[s.len() - digits(&s)..];
    if rest.len() == s.len() {
        return false;
    }
    if let Some(fraction) = rest.strip_prefix('.') {
        rest = &fraction[fraction.len() - digits(fraction)..];
        if rest.len() == fraction.len() {
            return false;
        }
    }
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let rest = rest.strip_prefix(['k', 'm', 'g', 't', 'p']).unwrap_or(rest);
    let rest = rest.strip_prefix('i').unwrap_or(rest);
    let rest = rest.strip_prefix('b').unwrap_or(rest);
    rest.is_empty()
}

fuzz_target!(|data: &[u8]| {
    let args = std::iter::once(OsStr::new("kiln"))
        .chain(data.split(|&b| b == 0).map(OsStr::from_bytes))
        .map(OsStr::to_os_string);
    let cli = match kiln_cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.render().to_string();
            return;
        }
    };
    match &cli.command {
        Some(Command::Kill(a)) => {
            if let Ok(sig) = a.signal.parse::<kiln_libcontainer::Signal>() {
                let n = sig.as_raw();
                assert!((0..=64).contains(&n), "{:?} → {n}", a.signal);
            }
        }
        Some(Command::Update(a)) => {
            let sizes = [
                &a.memory,
                &a.memory_swap,
                &a.memory_reservation,
                &a.kernel_memory,
                &a.kernel_memory_tcp,
            ];
            for s in sizes.into_iter().flatten() {
                let parsed = update::parse_bytes("--memory", s);
                if let Ok(n) = parsed {
                    assert!(n >= -1, "{s:?} → {n}");
                }
                // kiln also ignores surrounding blanks.
                let runc = s.trim() == "-1" || runc_size(s.trim());
                assert_eq!(parsed.is_ok(), runc, "{s:?}: {parsed:?}");
            }
        }
        Some(Command::Exec(a)) => {
            if let Some(u) = &a.user {
                let _ = exec::parse_user(u);
            }
        }
        _ => {}
    }
});
