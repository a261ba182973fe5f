//! The create/exec sync channel's framing and protocol: any sequence of
//! packets decodes to one message or to an error, never a panic, never a
//! payload longer than its header says; a decoded message sent again (its
//! packets) decodes to itself.
//!
//! Input: packets, each a u16 LE length and that many bytes (no socket).
#![no_main]

use kiln_libcontainer::fuzzing::{SyncFrame, SyncMsg};
use libfuzzer_sys::fuzz_target;

fn split(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some((len, rest)) = data.split_first_chunk::<2>() {
        let n = usize::from(u16::from_le_bytes(*len)).min(rest.len());
        out.push(&rest[..n]);
        data = &rest[n..];
    }
    out
}

/// The message `packets` carry, or `None` if they do not make one.
fn decode<'a>(packets: impl IntoIterator<Item = &'a [u8]>) -> Option<SyncMsg> {
    let mut packets = packets.into_iter();
    let mut frame = SyncFrame::start(packets.next()?).ok()?;
    while !frame.is_complete() {
        frame.push(packets.next()?).ok()?;
    }
    let (kind, payload) = frame.finish().ok()?;
    SyncMsg::decode(kind, &payload).ok()
}

fuzz_target!(|data: &[u8]| {
    let Some(msg) = decode(split(data)) else {
        return;
    };
    let again = msg.packets().expect("a received message can be sent");
    let decoded = decode(again.iter().map(Vec::as_slice));
    assert_eq!(decoded.as_ref(), Some(&msg));
});
