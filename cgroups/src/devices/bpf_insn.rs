//! A minimal eBPF instruction encoder: just the instructions the device filter needs.
//!
//! Encoding (linux/bpf.h): 8 bytes per instruction, `code`, `dst_reg:4 | src_reg:4`
//! (dst in the low nibble on little-endian), a signed 16-bit offset and a signed 32-bit
//! immediate. Jump offsets count instructions, relative to the *next* instruction.

/// One eBPF instruction in the kernel's `struct bpf_insn` layout.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Insn {
    pub code: u8,
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

/// eBPF registers used here (r0 = return value, r1 = context on entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Reg {
    R0 = 0,
    R1 = 1,
    R2 = 2,
    R3 = 3,
    R4 = 4,
    R5 = 5,
}

// Instruction classes.
const BPF_LDX: u8 = 0x01;
const BPF_JMP: u8 = 0x05;
const BPF_JMP32: u8 = 0x06;
const BPF_ALU64: u8 = 0x07;
// Sizes / modes.
const BPF_W: u8 = 0x00;
const BPF_MEM: u8 = 0x60;
// Sources.
const BPF_K: u8 = 0x00;
const BPF_X: u8 = 0x08;
// ALU ops.
const BPF_AND: u8 = 0x50;
const BPF_RSH: u8 = 0x70;
const BPF_MOV: u8 = 0xb0;
// Jump ops.
const BPF_JA: u8 = 0x00;
const BPF_JEQ: u8 = 0x10;
const BPF_JNE: u8 = 0x50;
const BPF_EXIT: u8 = 0x90;

/// A conditional jump comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Ne,
}

impl Insn {
    const fn new(code: u8, dst: Reg, src: Reg, off: i16, imm: i32) -> Self {
        Self {
            code,
            regs: (dst as u8) | ((src as u8) << 4),
            off,
            imm,
        }
    }

    /// `dst = *(u32 *)(src + off)`
    pub const fn load_u32(dst: Reg, src: Reg, off: i16) -> Self {
        Self::new(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0)
    }

    /// `dst &= imm` (64-bit)
    pub const fn and_imm(dst: Reg, imm: i32) -> Self {
        Self::new(BPF_ALU64 | BPF_AND | BPF_K, dst, Reg::R0, 0, imm)
    }

    /// `dst >>= imm` (64-bit, logical)
    pub const fn rsh_imm(dst: Reg, imm: i32) -> Self {
        Self::new(BPF_ALU64 | BPF_RSH | BPF_K, dst, Reg::R0, 0, imm)
    }

    /// `dst = src` (64-bit)
    pub const fn mov_reg(dst: Reg, src: Reg) -> Self {
        Self::new(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0)
    }

    /// `dst = imm` (64-bit, sign-extended)
    pub const fn mov_imm(dst: Reg, imm: i32) -> Self {
        Self::new(BPF_ALU64 | BPF_MOV | BPF_K, dst, Reg::R0, 0, imm)
    }

    /// `if (u32)dst <cmp> (u32)imm goto +off` — a 32-bit compare, so device numbers
    /// at or above 2^31 compare correctly.
    pub const fn jmp32_imm(cmp: Cmp, dst: Reg, imm: u32, off: i16) -> Self {
        let op = match cmp {
            Cmp::Eq => BPF_JEQ,
            Cmp::Ne => BPF_JNE,
        };
        Self::new(BPF_JMP32 | op | BPF_K, dst, Reg::R0, off, imm as i32)
    }

    /// `goto +off`
    #[allow(dead_code)] // Part of the encoder's vocabulary; the generator only needs it in tests.
    pub const fn ja(off: i16) -> Self {
        Self::new(BPF_JMP | BPF_JA, Reg::R0, Reg::R0, off, 0)
    }

    /// `return r0`
    pub const fn exit() -> Self {
        Self::new(BPF_JMP | BPF_EXIT, Reg::R0, Reg::R0, 0, 0)
    }

    /// True for conditional or unconditional jumps (whose `off` is a branch target).
    pub fn is_jump(&self) -> bool {
        let class = self.code & 0x07;
        (class == BPF_JMP || class == BPF_JMP32) && self.code & 0xf0 != BPF_EXIT
    }

    /// The little-endian wire form.
    #[cfg(test)]
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = self.regs;
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_match_the_kernel_abi() {
        // r2 = *(u32 *)(r1 + 4)  → 61 12 04 00 00 00 00 00
        assert_eq!(
            Insn::load_u32(Reg::R2, Reg::R1, 4).to_bytes(),
            [0x61, 0x12, 4, 0, 0, 0, 0, 0]
        );
        // r2 &= 0xffff → 57 02 00 00 ff ff 00 00
        assert_eq!(
            Insn::and_imm(Reg::R2, 0xffff).to_bytes(),
            [0x57, 0x02, 0, 0, 0xff, 0xff, 0, 0]
        );
        // r3 >>= 16 → 77 03 00 00 10 00 00 00
        assert_eq!(
            Insn::rsh_imm(Reg::R3, 16).to_bytes(),
            [0x77, 0x03, 0, 0, 16, 0, 0, 0]
        );
        // r1 = r3 → bf 31 ...
        assert_eq!(
            Insn::mov_reg(Reg::R1, Reg::R3).to_bytes(),
            [0xbf, 0x31, 0, 0, 0, 0, 0, 0]
        );
        // r0 = 1 → b7 00 00 00 01 00 00 00
        assert_eq!(
            Insn::mov_imm(Reg::R0, 1).to_bytes(),
            [0xb7, 0, 0, 0, 1, 0, 0, 0]
        );
        // if w4 != 0xffffffff goto +3 → 56 04 03 00 ff ff ff ff
        assert_eq!(
            Insn::jmp32_imm(Cmp::Ne, Reg::R4, u32::MAX, 3).to_bytes(),
            [0x56, 0x04, 3, 0, 0xff, 0xff, 0xff, 0xff]
        );
        // if w1 == 0 goto +2 → 16 01 02 00 ...
        assert_eq!(
            Insn::jmp32_imm(Cmp::Eq, Reg::R1, 0, 2).to_bytes(),
            [0x16, 0x01, 2, 0, 0, 0, 0, 0]
        );
        assert_eq!(Insn::ja(-1).to_bytes(), [0x05, 0, 0xff, 0xff, 0, 0, 0, 0]);
        assert_eq!(Insn::exit().to_bytes(), [0x95, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(std::mem::size_of::<Insn>(), 8);
    }

    #[test]
    fn jump_classification() {
        assert!(Insn::ja(0).is_jump());
        assert!(Insn::jmp32_imm(Cmp::Eq, Reg::R1, 0, 0).is_jump());
        assert!(!Insn::exit().is_jump());
        assert!(!Insn::mov_imm(Reg::R0, 0).is_jump());
    }
}
