//! `kiln --version`, in the shape containerd's go-runc parses:
//! first line `kiln version X`, then `commit:` and `spec:` lines.

/// The full text printed by `--version`.
pub fn long() -> String {
    format!(
        "{}\ncommit: {}\nspec: {}\nlibseccomp: {}",
        env!("CARGO_PKG_VERSION"),
        option_env!("KILN_COMMIT").unwrap_or("unknown"),
        kiln_libcontainer::OCI_VERSION,
        kiln_seccomp::libseccomp_version().unwrap_or_else(|| "unknown".into()),
    )
}
