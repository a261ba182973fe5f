//! The compiled filter and loading it in the container init process.

use std::os::fd::{FromRawFd, OwnedFd};

use nix::errno::Errno;

use crate::export;
use crate::kernel::{self, FLAG_NEW_LISTENER, MAX_INSTRUCTIONS};
use crate::SeccompError;

/// A compiled filter: the BPF program plus the seccomp(2) flags to load it with.
///
/// Compiled in the parent (before fork); [`CompiledFilter::load`] runs in the container init
/// process just before execve and is async-signal-safe.
#[derive(Clone)]
pub struct CompiledFilter {
    program: Vec<libc::sock_filter>,
    flags: u32,
    uses_notify: bool,
    skipped: Vec<String>,
}

impl CompiledFilter {
    /// Assembles a filter; `program` must have 1..=4096 instructions.
    pub(crate) fn new(
        program: Vec<libc::sock_filter>,
        flags: u32,
        skipped: Vec<String>,
    ) -> Result<Self, SeccompError> {
        if program.is_empty() || program.len() > MAX_INSTRUCTIONS {
            return Err(SeccompError::TooLarge {
                instructions: program.len(),
                limit: MAX_INSTRUCTIONS,
            });
        }
        Ok(Self {
            program,
            flags,
            uses_notify: flags & FLAG_NEW_LISTENER != 0,
            skipped,
        })
    }

    /// Installs the filter on the calling thread with `seccomp(SECCOMP_SET_MODE_FILTER)`.
    ///
    /// Async-signal-safe: no allocation, no locks, one syscall. The caller must have set
    /// no_new_privs or hold CAP_SYS_ADMIN. Returns the notify fd when the profile uses
    /// SCMP_ACT_NOTIFY (`SECCOMP_FILTER_FLAG_NEW_LISTENER`), otherwise `None`.
    pub fn load(&self) -> Result<Option<OwnedFd>, SeccompError> {
        // `new` guarantees 1..=4096 instructions, so the length fits the u16.
        let prog = libc::sock_fprog {
            len: self.program.len() as libc::c_ushort,
            filter: self.program.as_ptr().cast_mut(),
        };
        let rc = kernel::set_mode_filter(self.flags, &prog);
        if rc < 0 {
            return Err(SeccompError::Load {
                flags: self.flags,
                errno: Errno::last(),
            });
        }
        if self.uses_notify {
            let Ok(fd) = i32::try_from(rc) else {
                return Err(SeccompError::Load {
                    flags: self.flags,
                    errno: Errno::EBADF,
                });
            };
            return Ok(Some(owned_fd(fd)));
        }
        if rc != 0 {
            // With TSYNC (and no listener) a positive result is the thread that failed to sync.
            return Err(SeccompError::TsyncFailed { tid: rc });
        }
        Ok(None)
    }

    /// Whether the filter has SCMP_ACT_NOTIFY rules, so [`load`](Self::load) returns a notify fd.
    pub fn uses_notify(&self) -> bool {
        self.uses_notify
    }

    /// Number of BPF instructions in the program.
    pub fn instructions(&self) -> usize {
        self.program.len()
    }

    /// The seccomp(2) flags `load` passes (`SECCOMP_FILTER_FLAG_*` bits).
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// Syscall names in the profile that libseccomp does not know; they were skipped (as runc
    /// does) and are worth a debug log line.
    pub fn skipped_syscalls(&self) -> &[String] {
        &self.skipped
    }

    /// The program in the kernel's `struct sock_filter` byte layout (native endian).
    pub fn program_bytes(&self) -> Vec<u8> {
        export::encode(&self.program)
    }

    /// The raw instructions.
    pub(crate) fn program(&self) -> &[libc::sock_filter] {
        &self.program
    }
}

impl std::fmt::Debug for CompiledFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledFilter")
            .field("instructions", &self.program.len())
            .field("flags", &format_args!("{:#x}", self.flags))
            .field("uses_notify", &self.uses_notify)
            .field("skipped", &self.skipped)
            .finish()
    }
}

/// Takes ownership of the listener fd seccomp(2) just returned.
fn owned_fd(fd: i32) -> OwnedFd {
    // SAFETY: `fd` was just returned by seccomp(SECCOMP_FILTER_FLAG_NEW_LISTENER); it is open,
    // and nothing else in the process owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}
