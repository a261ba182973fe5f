//! Getting the BPF program out of libseccomp, and the program's byte form.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use libseccomp::ScmpFilterContext;
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};

use crate::SeccompError;

/// Size of one `struct sock_filter` in bytes.
pub(crate) const INSN_SIZE: usize = 8;

/// Exports `ctx` with `seccomp_export_bpf` into a memfd and reads the program back.
pub(crate) fn export_program(
    ctx: &ScmpFilterContext,
) -> Result<Vec<libc::sock_filter>, SeccompError> {
    let export_err = |op| move |source| SeccompError::Export { op, source };
    let fd = memfd_create(c"kiln-seccomp-bpf", MemFdCreateFlag::MFD_CLOEXEC).map_err(|e| {
        SeccompError::Export {
            op: "memfd_create",
            source: e.into(),
        }
    })?;
    ctx.export_bpf(&fd).map_err(|e| SeccompError::Export {
        op: "seccomp_export_bpf",
        source: std::io::Error::other(e),
    })?;
    let mut file = File::from(fd);
    file.seek(SeekFrom::Start(0)).map_err(export_err("seek"))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(export_err("read"))?;
    decode(&bytes).ok_or_else(|| SeccompError::Export {
        op: "decode",
        source: std::io::Error::other(format!(
            "{} bytes is not a whole number of {INSN_SIZE}-byte BPF instructions",
            bytes.len()
        )),
    })
}

/// The program as bytes in the kernel's (native-endian) `struct sock_filter` layout.
pub(crate) fn encode(program: &[libc::sock_filter]) -> Vec<u8> {
    let mut out = Vec::with_capacity(program.len() * INSN_SIZE);
    for insn in program {
        out.extend_from_slice(&insn.code.to_ne_bytes());
        out.push(insn.jt);
        out.push(insn.jf);
        out.extend_from_slice(&insn.k.to_ne_bytes());
    }
    out
}

/// The inverse of [`encode`]; `None` unless `bytes` is a whole number of instructions.
pub(crate) fn decode(bytes: &[u8]) -> Option<Vec<libc::sock_filter>> {
    let chunks = bytes.chunks_exact(INSN_SIZE);
    if !chunks.remainder().is_empty() {
        return None;
    }
    Some(
        chunks
            .map(|c| libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let program = vec![
            libc::sock_filter {
                code: 0x20,
                jt: 0,
                jf: 0,
                k: 4,
            },
            libc::sock_filter {
                code: 0x15,
                jt: 1,
                jf: 2,
                k: 0xc000_003e,
            },
            libc::sock_filter {
                code: 0x06,
                jt: 0,
                jf: 0,
                k: 0x7fff_0000,
            },
        ];
        let bytes = encode(&program);
        assert_eq!(bytes.len(), 24);
        let back = decode(&bytes).unwrap();
        assert_eq!(back.len(), 3);
        for (a, b) in program.iter().zip(&back) {
            assert_eq!((a.code, a.jt, a.jf, a.k), (b.code, b.jt, b.jf, b.k));
        }
        assert!(decode(&bytes[..23]).is_none());
    }
}
