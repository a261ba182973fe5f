#![doc = include_str!("../README.md")]
//!
//! ## Design
//!
//! kiln's seccomp support: OCI `linux.seccomp` → BPF program (with libseccomp), a compiled-filter
//! cache, loading with seccomp(2) after fork, and handing the notify fd to a seccomp agent.
//!
//! Flow in kiln: the parent calls [`compile_cached`] (or [`compile`]) before fork; the container
//! init process calls [`CompiledFilter::load`] just before execve (async-signal-safe, no
//! libseccomp calls); when [`CompiledFilter::uses_notify`], the parent obtains the notify fd and
//! calls [`send_to_listener`].
#![warn(missing_docs)]

mod cache;
mod enosys;
mod error;
mod export;
mod features;
mod filter;
mod kernel;
mod listener;
mod names;
mod parse;
mod translate;

use std::path::Path;

use oci_spec::runtime::LinuxSeccomp;

pub use cache::CacheOutcome;
pub use error::SeccompError;
pub use features::{features, libseccomp_version, SeccompFeatures};
pub use filter::CompiledFilter;
pub use listener::send_to_listener;
pub use parse::parse_seccomp;

/// Translates `seccomp` into a BPF program and the seccomp(2) flags to load it with.
///
/// Under a default action that denies, syscalls numbered above every syscall the profile names
/// (per architecture) fail with `ENOSYS`, as with runc, so that libcs fall back to older ones.
/// Unknown syscall names are skipped (see [`CompiledFilter::skipped_syscalls`]); rules whose
/// action equals the default action are dropped; invalid entries are errors naming the entry.
pub fn compile(seccomp: &LinuxSeccomp) -> Result<CompiledFilter, SeccompError> {
    let translated = translate::translate(seccomp)?;
    let mut program = enosys::prefix(&translated.enosys)?;
    program.extend(export::export_program(&translated.ctx)?);
    CompiledFilter::new(program, translated.flags, translated.skipped)
}

/// Same as [`compile`], through the compiled-filter cache in `cache_dir` (created mode 0700 if
/// missing; refused if another user could write to it).
///
/// Corrupt, truncated or stale entries are detected by their header and checksum and rebuilt,
/// never loaded. Errors reading or writing the cache are [`SeccompError::Cache`]; a caller that
/// prefers to run uncached may fall back to [`compile`].
pub fn compile_cached(
    seccomp: &LinuxSeccomp,
    cache_dir: &Path,
) -> Result<(CompiledFilter, CacheOutcome), SeccompError> {
    cache::compile_cached(seccomp, cache_dir)
}
