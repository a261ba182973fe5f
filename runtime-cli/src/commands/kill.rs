//! `kiln kill`.

use std::str::FromStr;

use kiln_libcontainer::{Container, Error, StateRoot};
use nix::sys::signal::Signal;

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

/// Parses `KILL`, `SIGKILL`, `kill` or `9`.
pub fn parse_signal(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        // 0 checks that the process exists, as kill(2).
        return (0..=64).contains(&n).then_some(n);
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    Signal::from_str(&name).ok().map(|s| s as i32)
}

/// Sends the signal.
pub fn run(root: &StateRoot, a: &KillArgs) -> Result<(), Error> {
    let sig = parse_signal(&a.signal).ok_or_else(|| Error::Config {
        field: "signal".into(),
        reason: format!("unknown signal {:?}", a.signal),
    })?;
    Container::load(root, &a.id)?.kill(sig, a.all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert_eq!(parse_signal("KILL"), Some(9));
        assert_eq!(parse_signal("SIGTERM"), Some(15));
        assert_eq!(parse_signal("hup"), Some(1));
        assert_eq!(parse_signal("9"), Some(9));
        assert_eq!(parse_signal("NOPE"), None);
        assert_eq!(parse_signal("0"), Some(0));
        assert_eq!(parse_signal("65"), None);
    }
}
