//! The compiled-filter cache: exported BPF programs stored under `<state-root>/seccomp-cache`,
//! keyed by everything that determines the program, verified before use, written atomically.
//!
//! Entry layout (little-endian integers):
//!
//! | bytes   | field                                                      |
//! |---------|------------------------------------------------------------|
//! | 0..8    | magic `KILNBPF\0`                                          |
//! | 8..12   | format version                                             |
//! | 12..16  | seccomp(2) flags                                           |
//! | 16..20  | instruction count                                          |
//! | 20..24  | length of the skipped-names block                          |
//! | 24..56  | SHA-256 of (key, bytes 8..24, payload)                     |
//! | 56..    | payload: program (count × 8 bytes), skipped names (`\n`-joined) |

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxSeccomp;
use sha2::{Digest, Sha256};

use crate::export::{self, INSN_SIZE};
use crate::kernel::MAX_INSTRUCTIONS;
use crate::{CompiledFilter, SeccompError};

const MAGIC: &[u8; 8] = b"KILNBPF\0";
/// Bump when the entry layout or the key derivation changes.
const FORMAT_VERSION: u32 = 2;
const HEADER_LEN: usize = 56;
/// Entries larger than this are not ours.
const MAX_ENTRY_LEN: u64 = 16 << 20;

/// How [`compile_cached`](crate::compile_cached) obtained the filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// A valid entry was loaded; libseccomp was not involved.
    Hit,
    /// There was no entry; the filter was compiled and stored.
    Miss,
    /// The entry was corrupt, truncated or of another format; it was compiled and replaced.
    Rebuilt,
}

/// The cache key: SHA-256 over the canonical JSON of the profile and everything else the
/// compiled program depends on (libseccomp version, native arch, kernel release, crate version).
pub(crate) fn cache_key(seccomp: &LinuxSeccomp) -> Result<[u8; 32], SeccompError> {
    let json = serde_json::to_vec(seccomp)
        .map_err(|e| SeccompError::invalid("linux.seccomp", format!("cannot serialize: {e}")))?;
    let libseccomp = libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default();
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut hasher = Sha256::new();
    let parts: [&[u8]; 7] = [
        b"kiln-seccomp-cache",
        &FORMAT_VERSION.to_le_bytes(),
        &json,
        libseccomp.as_bytes(),
        std::env::consts::ARCH.as_bytes(),
        release.as_bytes(),
        env!("CARGO_PKG_VERSION").as_bytes(),
    ];
    for part in parts {
        // Length-prefixed so that no two different inputs hash the same byte stream.
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    Ok(hasher.finalize().into())
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The entry path for `key` in `dir`.
pub(crate) fn entry_path(dir: &Path, key: &[u8; 32]) -> PathBuf {
    dir.join(format!("{}.bpf", hex(key)))
}

/// Same as [`crate::compile`], through the cache in `cache_dir`.
pub(crate) fn compile_cached(
    seccomp: &LinuxSeccomp,
    cache_dir: &Path,
) -> Result<(CompiledFilter, CacheOutcome), SeccompError> {
    let key = cache_key(seccomp)?;
    prepare_dir(cache_dir)?;
    let path = entry_path(cache_dir, &key);
    let outcome = match fs::File::open(&path) {
        Err(e) if e.kind() == ErrorKind::NotFound => CacheOutcome::Miss,
        Err(_) => CacheOutcome::Rebuilt,
        Ok(file) => match read_entry(file, &key) {
            Some(filter) => return Ok((filter, CacheOutcome::Hit)),
            None => CacheOutcome::Rebuilt,
        },
    };
    let filter = crate::compile(seccomp)?;
    let replace = outcome == CacheOutcome::Rebuilt;
    write_entry(cache_dir, &path, &key, &filter, replace)?;
    Ok((filter, outcome))
}

/// Creates `dir` (mode 0700) if needed and refuses a directory others could write to: a
/// planted entry would be loaded as the container's filter.
fn prepare_dir(dir: &Path) -> Result<(), SeccompError> {
    let cache_err = |op| {
        move |source| SeccompError::Cache {
            path: dir.to_owned(),
            op,
            source,
        }
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(cache_err("create directory"))?;
    let meta = fs::symlink_metadata(dir).map_err(cache_err("stat"))?;
    let euid = nix::unistd::geteuid().as_raw();
    let problem = if !meta.is_dir() {
        Some("not a directory (a symlink is refused too)".to_owned())
    } else if meta.uid() != euid {
        Some(format!("owned by uid {}, not {euid}", meta.uid()))
    } else if meta.mode() & 0o022 != 0 {
        Some(format!(
            "writable by group or others (mode {:o})",
            meta.mode() & 0o7777
        ))
    } else {
        None
    };
    match problem {
        Some(p) => Err(cache_err("check directory")(std::io::Error::new(
            ErrorKind::PermissionDenied,
            p,
        ))),
        None => Ok(()),
    }
}

/// The checksum binding an entry's header and payload to its key.
fn checksum(key: &[u8; 32], header_fields: &[u8], payload: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(key);
    hasher.update(header_fields);
    hasher.update(payload);
    hasher.finalize().into()
}

/// Serializes `filter` as a cache entry for `key`.
pub(crate) fn encode_entry(key: &[u8; 32], filter: &CompiledFilter) -> Vec<u8> {
    let mut payload = export::encode(filter.program());
    let names = filter.skipped_syscalls().join("\n");
    payload.extend_from_slice(names.as_bytes());
    let mut fields = Vec::with_capacity(16);
    fields.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    fields.extend_from_slice(&filter.flags().to_le_bytes());
    fields.extend_from_slice(&(filter.instructions() as u32).to_le_bytes());
    fields.extend_from_slice(&(names.len() as u32).to_le_bytes());
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&fields);
    out.extend_from_slice(&checksum(key, &fields, &payload));
    out.extend_from_slice(&payload);
    out
}

/// Parses and verifies an entry; `None` for anything corrupt, truncated, stale or foreign.
pub(crate) fn decode_entry(key: &[u8; 32], bytes: &[u8]) -> Option<CompiledFilter> {
    let header = bytes.get(..HEADER_LEN)?;
    let word = |at: usize| {
        u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    if &header[..8] != MAGIC || word(8) != FORMAT_VERSION {
        return None;
    }
    let (flags, count, names_len) = (word(12), word(16) as usize, word(20) as usize);
    if count == 0 || count > MAX_INSTRUCTIONS {
        return None;
    }
    let payload = &bytes[HEADER_LEN..];
    if payload.len() != count * INSN_SIZE + names_len {
        return None;
    }
    if checksum(key, &header[8..24], payload) != header[24..56] {
        return None;
    }
    let (program, names) = payload.split_at(count * INSN_SIZE);
    let names = std::str::from_utf8(names).ok()?;
    let skipped = if names.is_empty() {
        Vec::new()
    } else {
        names.split('\n').map(str::to_owned).collect()
    };
    CompiledFilter::new(export::decode(program)?, flags, skipped).ok()
}

fn read_entry(file: fs::File, key: &[u8; 32]) -> Option<CompiledFilter> {
    let mut bytes = Vec::new();
    file.take(MAX_ENTRY_LEN).read_to_end(&mut bytes).ok()?;
    decode_entry(key, &bytes)
}

/// Writes the entry so that readers see either no entry or a complete one, and a process
/// killed meanwhile leaves nothing: an unnamed file (O_TMPFILE) linked into place once
/// written. A damaged entry being replaced is removed first; a concurrent writer of the same
/// key that linked first wins (both wrote the same filter).
fn write_entry(
    dir: &Path,
    path: &Path,
    key: &[u8; 32],
    filter: &CompiledFilter,
    replace: bool,
) -> Result<(), SeccompError> {
    let cache_err = |p: &Path, op| {
        let p = p.to_owned();
        move |source| SeccompError::Cache {
            path: p,
            op,
            source,
        }
    };
    let bytes = encode_entry(key, filter);
    let mut file = match fs::OpenOptions::new()
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
        .open(dir)
    {
        Ok(f) => f,
        // A filesystem without O_TMPFILE: a named temporary file, renamed.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EISDIR)) => {
            let mut tmp = tempfile::Builder::new()
                .prefix(".tmp-")
                .suffix(".bpf")
                .tempfile_in(dir)
                .map_err(cache_err(dir, "create temporary file"))?;
            tmp.write_all(&bytes)
                .map_err(cache_err(tmp.path(), "write"))?;
            tmp.persist(path)
                .map_err(|e| cache_err(path, "rename into place")(e.error))?;
            return Ok(());
        }
        Err(e) => return Err(cache_err(dir, "create unnamed file")(e)),
    };
    file.write_all(&bytes).map_err(cache_err(dir, "write"))?;
    if replace {
        match fs::remove_file(path) {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                return Err(cache_err(path, "remove damaged entry")(e))
            }
            _ => {}
        }
    }
    // Through /proc/self/fd: linkat(AT_EMPTY_PATH) would need CAP_DAC_READ_SEARCH.
    let fd_path = format!("/proc/self/fd/{}", file.as_raw_fd());
    match nix::unistd::linkat(
        None,
        std::path::Path::new(&fd_path),
        None,
        path,
        nix::fcntl::AtFlags::AT_SYMLINK_FOLLOW,
    ) {
        Ok(()) | Err(nix::Error::EEXIST) => Ok(()),
        Err(e) => Err(cache_err(path, "link into place")(e.into())),
    }
}
