//! Generation of the `BPF_PROG_TYPE_CGROUP_DEVICE` program from device rules.
//!
//! The kernel calls the program with `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major;
//! u32 minor; }`, where `access_type = access << 16 | type`, and allows the access iff it
//! returns 1. Semantics (same as the v1 device controller's list): the *last* matching rule
//! wins and nothing is allowed when no rule matches. So the rules are emitted in reverse,
//! each as a block that returns its verdict on a match and otherwise falls through:
//!
//! ```text
//!   r2 = type, r3 = access, r4 = major, r5 = minor       (prologue)
//!   per rule: if r2 != T goto next                        (unless type a)
//!             allow: if r3 & ~rule_access != 0 goto next  (requested ⊆ granted)
//!             deny:  if r3 & rule_access == 0 goto next   (requested ∩ denied ≠ ∅)
//!             if r4 != major goto next; if r5 != minor goto next
//!             r0 = verdict; exit
//!   r0 = 0; exit                                          (default deny)
//! ```
//! A rule with no conditions ends the program early, because the verifier rejects
//! unreachable instructions.

use super::bpf_insn::{Cmp, Insn, Reg};
use super::{DeviceRule, DeviceType, ACC_ALL};

/// `BPF_DEVCG_DEV_BLOCK` / `BPF_DEVCG_DEV_CHAR`.
const DEV_BLOCK: u32 = 1;
const DEV_CHAR: u32 = 2;

/// Builds the filter program for `rules`.
pub(crate) fn device_program(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut prog = vec![
        Insn::load_u32(Reg::R2, Reg::R1, 0),
        Insn::and_imm(Reg::R2, 0xffff),
        Insn::load_u32(Reg::R3, Reg::R1, 0),
        Insn::rsh_imm(Reg::R3, 16),
        Insn::load_u32(Reg::R4, Reg::R1, 4),
        Insn::load_u32(Reg::R5, Reg::R1, 8),
    ];
    for rule in rules.iter().rev() {
        let (block, unconditional) = rule_block(rule);
        prog.extend(block);
        if unconditional {
            return prog;
        }
    }
    prog.push(Insn::mov_imm(Reg::R0, 0));
    prog.push(Insn::exit());
    prog
}

/// One rule's block; jumps are patched to land just past it. Returns (block, unconditional).
fn rule_block(rule: &DeviceRule) -> (Vec<Insn>, bool) {
    let mut b = Vec::new();
    match rule.kind {
        DeviceType::All => {}
        DeviceType::Block => b.push(Insn::jmp32_imm(Cmp::Ne, Reg::R2, DEV_BLOCK, 0)),
        DeviceType::Char => b.push(Insn::jmp32_imm(Cmp::Ne, Reg::R2, DEV_CHAR, 0)),
    }
    if rule.access != ACC_ALL {
        b.push(Insn::mov_reg(Reg::R1, Reg::R3));
        if rule.allow {
            b.push(Insn::and_imm(Reg::R1, i32::from(!rule.access & ACC_ALL)));
            b.push(Insn::jmp32_imm(Cmp::Ne, Reg::R1, 0, 0));
        } else {
            b.push(Insn::and_imm(Reg::R1, i32::from(rule.access)));
            b.push(Insn::jmp32_imm(Cmp::Eq, Reg::R1, 0, 0));
        }
    }
    // The v1 controller ignores numbers on type-a rules; so do we, for identical semantics.
    if rule.kind != DeviceType::All {
        if let Some(major) = rule.major {
            b.push(Insn::jmp32_imm(Cmp::Ne, Reg::R4, major, 0));
        }
        if let Some(minor) = rule.minor {
            b.push(Insn::jmp32_imm(Cmp::Ne, Reg::R5, minor, 0));
        }
    }
    let unconditional = !b.iter().any(Insn::is_jump);
    b.push(Insn::mov_imm(Reg::R0, i32::from(rule.allow)));
    b.push(Insn::exit());
    let len = b.len();
    for (i, insn) in b.iter_mut().enumerate() {
        if insn.is_jump() {
            // Blocks are a handful of instructions; the offset always fits.
            insn.off = i16::try_from(len - i - 1).unwrap_or(i16::MAX);
        }
    }
    (b, unconditional)
}

#[cfg(test)]
#[path = "program_tests.rs"]
mod tests;
