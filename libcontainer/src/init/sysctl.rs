//! Init step "sysctl": `linux.sysctl` written under the container's /proc/sys.

use oci_spec::runtime::Spec;

use crate::error::{Error, Result};
use crate::process::proc_root::{field_error, ProcRoot};

/// The JSON path of `linux.sysctl` entry `key`, e.g. `linux.sysctl["kernel.shmmax"]`.
pub(crate) fn field(key: &str) -> String {
    format!("linux.sysctl[{key:?}]")
}

/// `key` in the dotted form of sysctl(8): a key written with `/` separators
/// (`net/ipv4/conf/eth0.100/rp_filter`) has its `/` and `.` swapped
/// (`net.ipv4.conf.eth0/100.rp_filter`).
pub(crate) fn dotted(key: &str) -> String {
    match key.find(['.', '/']) {
        Some(i) if key.as_bytes()[i] == b'/' => swap_separators(key),
        _ => key.to_string(),
    }
}

fn swap_separators(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '.' => '/',
            '/' => '.',
            c => c,
        })
        .collect()
}

/// Writes each `linux.sysctl` key (validated earlier as namespaced) through a
/// [`ProcRoot`]: a file that something is mounted over is never written to.
pub(crate) fn apply(spec: &Spec) -> Result<()> {
    let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    if sysctl.is_empty() {
        return Ok(());
    }
    let proc = ProcRoot::open()?;
    let mut entries: Vec<(&String, &String)> = sysctl.iter().collect();
    entries.sort();
    for (key, value) in entries {
        let rel = swap_separators(&dotted(key));
        if rel.split('/').any(|c| c.is_empty() || c == "..") {
            return Err(Error::config(field(key), "not a sysctl name"));
        }
        proc.write(&format!("sys/{rel}"), value.as_bytes())
            .map_err(|e| field_error(field(key), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_separator_styles() {
        assert_eq!(dotted("net.ipv4.ip_forward"), "net.ipv4.ip_forward");
        assert_eq!(
            dotted("net/ipv4/conf/eth0.100/rp_filter"),
            "net.ipv4.conf.eth0/100.rp_filter"
        );
        assert_eq!(
            swap_separators(&dotted("net/ipv4/conf/eth0.100/rp_filter")),
            "net/ipv4/conf/eth0.100/rp_filter"
        );
        assert_eq!(field("kernel.sem"), "linux.sysctl[\"kernel.sem\"]");
    }
}
