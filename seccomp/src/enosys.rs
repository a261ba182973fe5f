//! The ENOSYS prefix: syscalls newer than any the profile names fail with `ENOSYS` instead of
//! the default action, so that libcs fall back to the older syscall (clone3 → clone,
//! close_range → a loop, faccessat2 → faccessat) under profiles written before they existed.
//!
//! For every architecture of the filter the profile's largest syscall number is computed, and a
//! few instructions are put in front of libseccomp's program:
//!
//! ```text
//!   ld  [arch]
//!   jeq <arch 1>, 0, <skip block 1>
//!   block 1: ld [nr]; (x86-64: jset X32_BIT …); jgt <max>, ENOSYS, MAIN
//!   …
//!   ja  MAIN                       ; an architecture the prefix does not know
//!   ENOSYS: ret ERRNO(ENOSYS)
//!   MAIN: libseccomp's program (unchanged: its jumps are relative)
//! ```
//!
//! Only when the default action denies (errno, kill, trap): under a permissive default
//! (allow, log, trace) unknown syscalls already run. An architecture the profile names no
//! syscall for gets no block, nor does the x32 half of x86-64 unless x32 is in the filter
//! (those numbers are left to libseccomp's program).

use libseccomp::{ScmpAction, ScmpArch, ScmpSyscall};

use crate::SeccompError;
use libseccomp_sys::{
    SCMP_ARCH_AARCH64, SCMP_ARCH_ARM, SCMP_ARCH_LOONGARCH64, SCMP_ARCH_M68K, SCMP_ARCH_MIPS,
    SCMP_ARCH_MIPS64, SCMP_ARCH_MIPS64N32, SCMP_ARCH_MIPSEL, SCMP_ARCH_MIPSEL64,
    SCMP_ARCH_MIPSEL64N32, SCMP_ARCH_PARISC, SCMP_ARCH_PARISC64, SCMP_ARCH_PPC, SCMP_ARCH_PPC64,
    SCMP_ARCH_PPC64LE, SCMP_ARCH_RISCV64, SCMP_ARCH_S390, SCMP_ARCH_S390X, SCMP_ARCH_SH,
    SCMP_ARCH_SHEB, SCMP_ARCH_X86, SCMP_ARCH_X86_64,
};

/// `__X32_SYSCALL_BIT`: x32 syscalls are x86-64's `AUDIT_ARCH_X86_64` with this bit set.
pub(crate) const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// Offsets into `struct seccomp_data`.
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;
/// `SECCOMP_RET_ERRNO | ENOSYS`.
pub(crate) const RET_ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

/// The largest syscall numbers the profile names for one `AUDIT_ARCH_*` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ArchMax {
    /// The `seccomp_data.arch` value.
    pub audit_arch: u32,
    /// Largest number of the architecture's own syscalls (for x86-64: without the x32 bit).
    pub max: Option<u32>,
    /// x86-64 only: largest x32 number (x32 bit included), when x32 is in the filter.
    pub max_x32: Option<u32>,
}

/// Whether the prefix applies under `default`: not for actions that let unknown syscalls run
/// (a tracer handles ENOSYS on its own).
pub(crate) fn wanted(default: ScmpAction) -> bool {
    !matches!(
        default,
        ScmpAction::Allow
            | ScmpAction::Log
            | ScmpAction::Trace(_)
            | ScmpAction::Errno(libc::ENOSYS)
    )
}

/// The `seccomp_data.arch` value of a libseccomp architecture, and whether it is x32.
fn audit_arch(arch: ScmpArch) -> Option<(u32, bool)> {
    let arch = match arch {
        ScmpArch::Native => ScmpArch::native(),
        other => other,
    };
    let token = match arch {
        ScmpArch::X32 => return Some((SCMP_ARCH_X86_64, true)),
        ScmpArch::X86 => SCMP_ARCH_X86,
        ScmpArch::X8664 => SCMP_ARCH_X86_64,
        ScmpArch::Arm => SCMP_ARCH_ARM,
        ScmpArch::Aarch64 => SCMP_ARCH_AARCH64,
        ScmpArch::Loongarch64 => SCMP_ARCH_LOONGARCH64,
        ScmpArch::M68k => SCMP_ARCH_M68K,
        ScmpArch::Mips => SCMP_ARCH_MIPS,
        ScmpArch::Mips64 => SCMP_ARCH_MIPS64,
        ScmpArch::Mips64N32 => SCMP_ARCH_MIPS64N32,
        ScmpArch::Mipsel => SCMP_ARCH_MIPSEL,
        ScmpArch::Mipsel64 => SCMP_ARCH_MIPSEL64,
        ScmpArch::Mipsel64N32 => SCMP_ARCH_MIPSEL64N32,
        ScmpArch::Ppc => SCMP_ARCH_PPC,
        ScmpArch::Ppc64 => SCMP_ARCH_PPC64,
        ScmpArch::Ppc64Le => SCMP_ARCH_PPC64LE,
        ScmpArch::S390 => SCMP_ARCH_S390,
        ScmpArch::S390X => SCMP_ARCH_S390X,
        ScmpArch::Parisc => SCMP_ARCH_PARISC,
        ScmpArch::Parisc64 => SCMP_ARCH_PARISC64,
        ScmpArch::Riscv64 => SCMP_ARCH_RISCV64,
        ScmpArch::Sheb => SCMP_ARCH_SHEB,
        ScmpArch::Sh => SCMP_ARCH_SH,
        _ => return None,
    };
    Some((token, false))
}

/// The largest number of `names` on each of `arches` (names unknown on an architecture, and
/// libseccomp's negative pseudo-numbers for multiplexed calls, are ignored).
pub(crate) fn arch_maxima(arches: &[ScmpArch], names: &[String]) -> Vec<ArchMax> {
    let mut out: Vec<ArchMax> = Vec::new();
    for &arch in arches {
        let Some((audit_arch, x32)) = audit_arch(arch) else {
            continue;
        };
        let max = names
            .iter()
            .filter_map(|n| ScmpSyscall::from_name_by_arch(n, arch).ok())
            .filter_map(|nr| u32::try_from(nr.as_raw_syscall()).ok())
            .max();
        let entry = match out.iter_mut().find(|e| e.audit_arch == audit_arch) {
            Some(e) => e,
            None => {
                out.push(ArchMax {
                    audit_arch,
                    max: None,
                    max_x32: None,
                });
                out.last_mut().expect("just pushed")
            }
        };
        if x32 {
            entry.max_x32 = max;
        } else {
            entry.max = max;
        }
    }
    out.retain(|e| e.max.is_some() || e.max_x32.is_some());
    out
}

/// Where a jump goes.
#[derive(Clone, Copy)]
enum To {
    /// The instruction after `n` more.
    Skip(u8),
    Enosys,
    Main,
}

/// An instruction whose jump targets are not resolved yet.
struct Insn {
    code: u16,
    k: u32,
    jt: To,
    jf: To,
}

fn stmt(code: u32, k: u32) -> Insn {
    Insn {
        code: code as u16,
        k,
        jt: To::Skip(0),
        jf: To::Skip(0),
    }
}

fn jump(op: u32, k: u32, jt: To, jf: To) -> Insn {
    Insn {
        code: (libc::BPF_JMP | op | libc::BPF_K) as u16,
        k,
        jt,
        jf,
    }
}

/// The check of one architecture's numbers; the accumulator holds `seccomp_data.nr`.
fn arch_block(a: &ArchMax) -> Vec<Insn> {
    let ld_nr = stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, OFFSET_NR);
    let gt = |max| jump(libc::BPF_JGT, max, To::Enosys, To::Main);
    let is_x86_64 = a.audit_arch == SCMP_ARCH_X86_64;
    let bit = |jt, jf| jump(libc::BPF_JSET, X32_SYSCALL_BIT, jt, jf);
    match (a.max, a.max_x32) {
        (Some(max), _) if !is_x86_64 => vec![ld_nr, gt(max)],
        (Some(max), Some(x32)) => vec![ld_nr, bit(To::Skip(1), To::Skip(0)), gt(max), gt(x32)],
        (Some(max), None) => vec![ld_nr, bit(To::Main, To::Skip(0)), gt(max)],
        (None, Some(x32)) => vec![ld_nr, bit(To::Skip(0), To::Main), gt(x32)],
        (None, None) => Vec::new(),
    }
}

/// The prefix for `maxima`, resolved against its own end (ENOSYS return, then the main
/// program); empty when there is nothing to check.
pub(crate) fn prefix(maxima: &[ArchMax]) -> Result<Vec<libc::sock_filter>, SeccompError> {
    let mut insns = vec![stmt(
        libc::BPF_LD | libc::BPF_W | libc::BPF_ABS,
        OFFSET_ARCH,
    )];
    for a in maxima {
        let block = arch_block(a);
        // At most 4 instructions: the skip always fits the 8-bit offset.
        let skip = To::Skip(block.len() as u8);
        insns.push(jump(libc::BPF_JEQ, a.audit_arch, To::Skip(0), skip));
        insns.extend(block);
    }
    if insns.len() == 1 {
        return Ok(Vec::new());
    }
    // An architecture without a block: on to the main program, over the ENOSYS return.
    insns.push(Insn {
        k: 1,
        ..stmt(libc::BPF_JMP | libc::BPF_JA, 0)
    });
    insns.push(stmt(libc::BPF_RET | libc::BPF_K, RET_ENOSYS));
    let enosys = insns.len() - 1;
    let main = insns.len();
    let mut out = Vec::with_capacity(insns.len());
    for (pc, insn) in insns.iter().enumerate() {
        let rel = |to: To| {
            let target = match to {
                To::Skip(n) => pc + 1 + usize::from(n),
                To::Enosys => enosys,
                To::Main => main,
            };
            u8::try_from(target - pc - 1).map_err(|_| {
                SeccompError::invalid(
                    "linux.seccomp.architectures",
                    format!("{} architectures are too many for one filter", maxima.len()),
                )
            })
        };
        out.push(libc::sock_filter {
            code: insn.code,
            jt: rel(insn.jt)?,
            jf: rel(insn.jf)?,
            k: insn.k,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Runs a classic-BPF seccomp program on `seccomp_data` {nr, arch} (no arguments).
    fn run(program: &[libc::sock_filter], arch: u32, nr: u32) -> u32 {
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let insn = program[pc];
            let code = u32::from(insn.code);
            pc += 1;
            match code {
                c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                    acc = match insn.k {
                        OFFSET_NR => nr,
                        OFFSET_ARCH => arch,
                        _ => 0, // instruction pointer and arguments: zero
                    }
                }
                c if c == libc::BPF_RET | libc::BPF_K => return insn.k,
                c if c == libc::BPF_JMP | libc::BPF_JA => pc += insn.k as usize,
                c if c & 0x07 == libc::BPF_JMP => {
                    let taken = match c & 0xf0 {
                        op if op == libc::BPF_JEQ => acc == insn.k,
                        op if op == libc::BPF_JGT => acc > insn.k,
                        op if op == libc::BPF_JGE => acc >= insn.k,
                        op if op == libc::BPF_JSET => acc & insn.k != 0,
                        op => panic!("jump op {op:#x}"),
                    };
                    pc += usize::from(if taken { insn.jt } else { insn.jf });
                }
                c if c == libc::BPF_ALU | libc::BPF_AND | libc::BPF_K => acc &= insn.k,
                other => panic!("opcode {other:#x} at {}", pc - 1),
            }
        }
    }

    fn compile(profile: serde_json::Value) -> crate::CompiledFilter {
        crate::compile(&serde_json::from_value(profile).unwrap()).unwrap()
    }

    const ARCHES: [&str; 3] = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"];
    const X86_64: u32 = SCMP_ARCH_X86_64;
    const EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;

    /// x86-64 read/write/openat(257), i386 read(3)/write(4)/openat(295), x32 the same + bit.
    fn old_profile(default: &str, arches: &[&str]) -> serde_json::Value {
        json!({ "defaultAction": default, "architectures": arches,
            "syscalls": [{ "names": ["read", "write", "openat"], "action": "SCMP_ACT_ALLOW" }] })
    }

    #[test]
    fn maxima_per_architecture_with_x32_bit() {
        let names = [
            "read".to_owned(),
            "openat".to_owned(),
            "nosuchcall".to_owned(),
        ];
        let maxima = arch_maxima(&[ScmpArch::X8664, ScmpArch::X86, ScmpArch::X32], &names);
        assert_eq!(
            maxima,
            [
                ArchMax {
                    audit_arch: X86_64,
                    max: Some(257),
                    max_x32: Some(X32_SYSCALL_BIT | 257)
                },
                ArchMax {
                    audit_arch: SCMP_ARCH_X86,
                    max: Some(295),
                    max_x32: None
                },
            ]
        );
        assert!(arch_maxima(&[ScmpArch::X8664], &["nosuchcall".to_owned()]).is_empty());
    }

    #[test]
    fn newer_syscalls_get_enosys_older_unlisted_the_default() {
        let f = compile(old_profile("SCMP_ACT_ERRNO", &ARCHES));
        let p = f.program();
        let allow = libc::SECCOMP_RET_ALLOW;
        // x86-64: openat listed, close_range (436) newer, getpid (39) older and unlisted.
        assert_eq!(run(p, X86_64, 257), allow);
        assert_eq!(run(p, X86_64, 436), RET_ENOSYS);
        assert_eq!(run(p, X86_64, 258), RET_ENOSYS);
        assert_eq!(run(p, X86_64, 39), EPERM);
        // i386: openat is 295; getpid 20, clone3 435.
        assert_eq!(run(p, SCMP_ARCH_X86, 295), allow);
        assert_eq!(run(p, SCMP_ARCH_X86, 435), RET_ENOSYS);
        assert_eq!(run(p, SCMP_ARCH_X86, 20), EPERM);
        // x32: the same numbers with the x32 bit.
        assert_eq!(run(p, X86_64, X32_SYSCALL_BIT | 257), allow);
        assert_eq!(run(p, X86_64, X32_SYSCALL_BIT | 436), RET_ENOSYS);
        assert_eq!(run(p, X86_64, X32_SYSCALL_BIT | 39), EPERM);
        // An architecture not in the filter is libseccomp's business (its bad-arch action).
        let other = run(p, SCMP_ARCH_AARCH64, 500);
        assert!(other != RET_ENOSYS && other != allow, "{other:#x}");
    }

    #[test]
    fn x32_numbers_are_left_to_libseccomp_without_x32() {
        let f = compile(old_profile("SCMP_ACT_ERRNO", &["SCMP_ARCH_X86_64"]));
        assert_eq!(run(f.program(), X86_64, 436), RET_ENOSYS);
        assert_ne!(run(f.program(), X86_64, X32_SYSCALL_BIT | 436), RET_ENOSYS);
        assert_ne!(
            run(f.program(), X86_64, X32_SYSCALL_BIT | 1),
            libc::SECCOMP_RET_ALLOW
        );
    }

    #[test]
    fn kill_default_gets_the_prefix_permissive_defaults_do_not() {
        let kill = compile(old_profile("SCMP_ACT_KILL_PROCESS", &ARCHES));
        assert_eq!(run(kill.program(), X86_64, 436), RET_ENOSYS);
        assert_eq!(
            run(kill.program(), X86_64, 39),
            libc::SECCOMP_RET_KILL_PROCESS
        );
        for default in ["SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"] {
            let profile = json!({ "defaultAction": default, "architectures": ARCHES,
                "syscalls": [{ "names": ["read"], "action": "SCMP_ACT_ERRNO" }] });
            let f = compile(profile);
            assert_ne!(run(f.program(), X86_64, 436), RET_ENOSYS, "{default}");
            assert_eq!(run(f.program(), X86_64, 0), EPERM, "{default}");
            let ret_enosys = |i: &libc::sock_filter| {
                u32::from(i.code) == libc::BPF_RET | libc::BPF_K && i.k == RET_ENOSYS
            };
            assert!(!f.program().iter().any(ret_enosys), "{default}: a prefix");
        }
    }

    #[test]
    fn no_prefix_without_named_syscalls() {
        assert!(prefix(&[]).unwrap().is_empty());
        let f = compile(json!({ "defaultAction": "SCMP_ACT_ERRNO" }));
        assert_eq!(run(f.program(), X86_64, 436), EPERM);
    }
}
