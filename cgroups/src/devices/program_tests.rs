//! Tests for the device program generator, using a tiny interpreter of the emitted subset.

use super::*;
use crate::devices::{ACC_MKNOD, ACC_READ, ACC_WRITE};

/// Runs `prog` on a device context; panics on anything outside the emitted subset.
fn run(prog: &[Insn], kind: u32, access: u32, major: u32, minor: u32) -> u64 {
    let ctx = [access << 16 | kind, major, minor];
    let mut r = [0u64; 11];
    let mut pc = 0usize;
    let mut steps = 0;
    loop {
        steps += 1;
        assert!(steps < 10_000, "runaway program");
        let i = prog[pc];
        let dst = usize::from(i.regs & 0x0f);
        let src = usize::from(i.regs >> 4);
        pc += 1;
        match i.code {
            0x61 => {
                assert_eq!(src, 1, "loads only from the context");
                r[dst] = u64::from(ctx[(i.off / 4) as usize]);
            }
            0x57 => r[dst] &= i.imm as i64 as u64,
            0x77 => r[dst] >>= i.imm,
            0xbf => r[dst] = r[src],
            0xb7 => r[dst] = i.imm as i64 as u64,
            0x56 | 0x16 => {
                let a = r[dst] as u32;
                let b = i.imm as u32;
                let take = if i.code == 0x56 { a != b } else { a == b };
                if take {
                    pc = (pc as i64 + i64::from(i.off)) as usize;
                }
            }
            0x05 => pc = (pc as i64 + i64::from(i.off)) as usize,
            0x95 => return r[0],
            c => panic!("unexpected opcode {c:#x}"),
        }
    }
}

/// The reference semantics: last matching rule wins, default deny.
fn reference(rules: &[DeviceRule], kind: DeviceType, access: u8, major: u32, minor: u32) -> bool {
    let mut verdict = false;
    for r in rules {
        let type_ok = r.kind == DeviceType::All || r.kind == kind;
        let nums_ok = r.kind == DeviceType::All
            || (r.major.is_none_or(|m| m == major) && r.minor.is_none_or(|m| m == minor));
        let acc_ok = if r.allow {
            access & !r.access == 0
        } else {
            access & r.access != 0
        };
        if type_ok && nums_ok && acc_ok {
            verdict = r.allow;
        }
    }
    verdict
}

fn rule(
    allow: bool,
    kind: DeviceType,
    major: Option<u32>,
    minor: Option<u32>,
    access: u8,
) -> DeviceRule {
    DeviceRule {
        allow,
        kind,
        major,
        minor,
        access,
    }
}

fn check_all(rules: &[DeviceRule]) {
    let prog = device_program(rules);
    for kind in [DeviceType::Block, DeviceType::Char] {
        let k = if kind == DeviceType::Block {
            DEV_BLOCK
        } else {
            DEV_CHAR
        };
        for access in 1..=ACC_ALL {
            for (major, minor) in [(1, 3), (1, 5), (136, 7), (8, 0), (u32::MAX, 1)] {
                assert_eq!(
                    run(&prog, k, u32::from(access), major, minor) == 1,
                    reference(rules, kind, access, major, minor),
                    "rules {rules:?} kind {kind:?} access {access} dev {major}:{minor}"
                );
            }
        }
    }
}

#[test]
fn empty_rules_deny_everything() {
    let prog = device_program(&[]);
    assert_eq!(run(&prog, DEV_CHAR, u32::from(ACC_READ), 1, 3), 0);
    check_all(&[]);
}

#[test]
fn typical_container_policy() {
    check_all(&[
        rule(false, DeviceType::All, None, None, ACC_ALL),
        rule(true, DeviceType::Char, None, None, ACC_MKNOD),
        rule(true, DeviceType::Block, None, None, ACC_MKNOD),
        rule(true, DeviceType::Char, Some(1), Some(3), ACC_ALL),
        rule(true, DeviceType::Char, Some(136), None, ACC_ALL),
        rule(false, DeviceType::Char, Some(1), Some(3), ACC_WRITE),
    ]);
}

#[test]
fn allow_all_then_specific_denies() {
    let rules = [
        rule(true, DeviceType::All, None, None, ACC_ALL),
        rule(
            false,
            DeviceType::Char,
            Some(1),
            Some(5),
            ACC_READ | ACC_WRITE,
        ),
        rule(false, DeviceType::Block, Some(8), None, ACC_MKNOD),
    ];
    check_all(&rules);
    let prog = device_program(&rules);
    assert_eq!(run(&prog, DEV_CHAR, u32::from(ACC_READ), 1, 3), 1);
    assert_eq!(run(&prog, DEV_CHAR, u32::from(ACC_READ), 1, 5), 0);
}

#[test]
fn unconditional_rule_truncates_and_keeps_everything_reachable() {
    let rules = [
        rule(true, DeviceType::Char, Some(1), Some(3), ACC_ALL),
        rule(true, DeviceType::All, None, None, ACC_ALL),
    ];
    let prog = device_program(&rules);
    // prologue (6) + r0 = 1 + exit: the earlier rule and the default are unreachable.
    assert_eq!(prog.len(), 8);
    check_all(&rules);
    // Every jump lands inside the program.
    let p = device_program(&[rule(true, DeviceType::Char, Some(4), None, ACC_READ)]);
    for (i, insn) in p.iter().enumerate() {
        if insn.is_jump() {
            assert!(i + 1 + (insn.off as usize) < p.len());
        }
    }
}

#[test]
fn partial_access_rules() {
    check_all(&[
        rule(true, DeviceType::Char, Some(1), None, ACC_READ | ACC_WRITE),
        rule(false, DeviceType::Char, Some(1), Some(5), ACC_READ),
        rule(true, DeviceType::All, None, None, ACC_MKNOD),
    ]);
}
