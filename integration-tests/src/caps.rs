//! Capability names and the masks of `/proc/<pid>/status`.

/// Capability names in kernel bit order (`CAP_CHOWN` = bit 0 ... `CAP_CHECKPOINT_RESTORE` = 40).
pub const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The bit mask of `caps`; `None` if a name is unknown.
pub fn mask(caps: &[&str]) -> Option<u64> {
    caps.iter().try_fold(0u64, |acc, name| {
        let bit = NAMES.iter().position(|n| n == name)?;
        Some(acc | (1u64 << bit))
    })
}

/// The hexadecimal mask of `field` (e.g. `CapEff`) in a `/proc/<pid>/status` text.
pub fn status_mask(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key == field)
            .then(|| u64::from_str_radix(value.trim(), 16).ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_match_kernel_numbering() {
        assert_eq!(mask(&["CAP_CHOWN", "CAP_KILL"]), Some(0b10_0001));
        assert_eq!(
            mask(&["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]),
            Some(0x2000_0420)
        );
        assert_eq!(mask(&["CAP_NOPE"]), None);
        assert_eq!(
            status_mask("CapEff:\t0000000020000420\n", "CapEff"),
            Some(0x2000_0420)
        );
    }
}
