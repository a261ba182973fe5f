//! [`Signal`]: a signal number for [`Container::kill`](crate::Container::kill), parsed from
//! the forms runc accepts (`KILL`, `SIGKILL`, `kill`, `9`).

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// A signal to send: a number from 0 to 64 (SIGRTMAX). 0 sends nothing and only checks
/// that the process exists, as with kill(2).
///
/// ```no_run
/// use kiln_libcontainer::Signal;
/// assert_eq!("KILL".parse::<Signal>().unwrap(), Signal::KILL);
/// assert_eq!("sigterm".parse::<Signal>().unwrap(), Signal::TERM);
/// assert_eq!("10".parse::<Signal>().unwrap().as_raw(), 10);
/// assert!("NOPE".parse::<Signal>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Signal(i32);

/// The highest signal number Linux has (SIGRTMAX).
const MAX: i32 = 64;

impl Signal {
    /// SIGHUP.
    pub const HUP: Signal = Signal(libc::SIGHUP);
    /// SIGINT.
    pub const INT: Signal = Signal(libc::SIGINT);
    /// SIGQUIT.
    pub const QUIT: Signal = Signal(libc::SIGQUIT);
    /// SIGKILL.
    pub const KILL: Signal = Signal(libc::SIGKILL);
    /// SIGUSR1.
    pub const USR1: Signal = Signal(libc::SIGUSR1);
    /// SIGUSR2.
    pub const USR2: Signal = Signal(libc::SIGUSR2);
    /// SIGTERM (what `kill` sends by default).
    pub const TERM: Signal = Signal(libc::SIGTERM);
    /// SIGCONT.
    pub const CONT: Signal = Signal(libc::SIGCONT);
    /// SIGSTOP.
    pub const STOP: Signal = Signal(libc::SIGSTOP);

    /// The signal with number `n`, if 0 ≤ `n` ≤ 64.
    pub fn from_raw(n: i32) -> Option<Signal> {
        (0..=MAX).contains(&n).then_some(Signal(n))
    }

    /// The signal number.
    pub fn as_raw(self) -> i32 {
        self.0
    }

    /// The conventional name (`SIGKILL`), for the signals that have one.
    pub fn name(self) -> Option<&'static str> {
        nix::sys::signal::Signal::try_from(self.0)
            .ok()
            .map(|s| s.as_str())
    }

    fn parse(s: &str) -> Option<Signal> {
        if let Ok(n) = s.parse::<i32>() {
            return Signal::from_raw(n);
        }
        let up = s.to_ascii_uppercase();
        let name = if up.starts_with("SIG") {
            up
        } else {
            format!("SIG{up}")
        };
        nix::sys::signal::Signal::from_str(&name)
            .ok()
            .map(|s| Signal(s as i32))
    }
}

impl FromStr for Signal {
    type Err = Error;

    /// Parses a name with or without `SIG`, in any case (`KILL`, `SIGKILL`, `kill`), or a
    /// number (`9`). The error names the value: `signal: unknown signal "NOPE"`.
    fn from_str(s: &str) -> Result<Signal> {
        Signal::parse(s).ok_or_else(|| Error::Config {
            field: "signal".into(),
            reason: format!("unknown signal {s:?}"),
        })
    }
}

impl From<nix::sys::signal::Signal> for Signal {
    fn from(s: nix::sys::signal::Signal) -> Signal {
        Signal(s as i32)
    }
}

impl TryFrom<i32> for Signal {
    type Error = Error;

    fn try_from(n: i32) -> Result<Signal> {
        Signal::from_raw(n).ok_or_else(|| Error::Config {
            field: "signal".into(),
            reason: format!("unknown signal {n}"),
        })
    }
}

impl fmt::Display for Signal {
    /// The name (`SIGKILL`), or the number for signals without one (real-time signals, 0).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Option<i32> {
        s.parse::<Signal>().ok().map(Signal::as_raw)
    }

    #[test]
    fn runc_forms_are_accepted() {
        assert_eq!(parse("KILL"), Some(9));
        assert_eq!(parse("SIGTERM"), Some(15));
        assert_eq!(parse("hup"), Some(1));
        assert_eq!(parse("SigUsr1"), Some(libc::SIGUSR1));
        assert_eq!(parse("9"), Some(9));
        assert_eq!(parse("0"), Some(0));
        assert_eq!(parse("64"), Some(64));
    }

    #[test]
    fn unknown_values_are_refused_by_name() {
        for bad in ["NOPE", "65", "-1", "", "SIG", "9x", "RTMIN+1"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        let err = "NOPE".parse::<Signal>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.json: signal: unknown signal \"NOPE\""
        );
        assert!(Signal::try_from(65).is_err());
        assert_eq!(Signal::try_from(15).unwrap(), Signal::TERM);
    }

    #[test]
    fn display_and_conversions() {
        assert_eq!(Signal::KILL.to_string(), "SIGKILL");
        assert_eq!(Signal::from_raw(40).unwrap().to_string(), "40");
        assert_eq!(Signal::from(nix::sys::signal::Signal::SIGINT), Signal::INT);
        assert_eq!(Signal::from_raw(0).and_then(Signal::name), None);
    }
}
