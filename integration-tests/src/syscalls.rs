//! The host's syscalls, for seccomp profiles.

/// The architectures a docker-like profile lists on x86-64.
pub const ARCHES: [&str; 3] = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"];

/// The host's x86-64 syscalls (name, number), from the kernel headers.
pub fn host_syscalls() -> Vec<(String, u32)> {
    let header = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h";
    let text = std::fs::read_to_string(header)
        .unwrap_or_else(|e| panic!("{header}: {e} (apt-get install linux-libc-dev)"));
    text.lines()
        .filter_map(|l| {
            let mut words = l.strip_prefix("#define __NR_")?.split_whitespace();
            Some((words.next()?.to_string(), words.next()?.parse().ok()?))
        })
        .collect()
}

/// The names of the host's x86-64 syscalls.
pub fn host_syscall_names() -> Vec<String> {
    host_syscalls().into_iter().map(|(name, _)| name).collect()
}
