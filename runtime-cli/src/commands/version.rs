//! `kiln --version`: first line `kiln version X (runc version R compatible)`, then
//! `commit:`, `spec:` and `libseccomp:` lines, the shape of runc's output.

/// The runc release whose command line and behaviour kiln follows.
pub const RUNC_COMPAT: &str = "1.1.5";

/// The full text printed by `--version`.
pub fn long() -> String {
    format!(
        "kiln version {} (runc version {RUNC_COMPAT} compatible)\ncommit: {}\nspec: {}\nlibseccomp: {}",
        env!("CARGO_PKG_VERSION"),
        option_env!("KILN_COMMIT").unwrap_or("unknown"),
        kiln_libcontainer::OCI_VERSION,
        kiln_seccomp::libseccomp_version().unwrap_or_else(|| "unknown".into()),
    )
}
