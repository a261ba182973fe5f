//! D-Bus messages: the fixed header, the header fields and the body.

use super::wire::{Decoder, Encoder, Value};
use super::DbusError;

/// The message types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A method call.
    Call = 1,
    /// A method's reply.
    Return = 2,
    /// A method's error.
    Error = 3,
    /// A signal.
    Signal = 4,
}

/// A D-Bus message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Its type.
    pub kind: Kind,
    /// Its serial (set when sent).
    pub serial: u32,
    /// The serial of the call a reply or error answers.
    pub reply_serial: Option<u32>,
    /// Object path.
    pub path: Option<String>,
    /// Interface.
    pub interface: Option<String>,
    /// Member (method or signal name).
    pub member: Option<String>,
    /// Error name (errors).
    pub error_name: Option<String>,
    /// Destination bus name.
    pub destination: Option<String>,
    /// Sender bus name.
    pub sender: Option<String>,
    /// The body's values.
    pub body: Vec<Value>,
}

/// The fixed part of the header plus the length of the header fields array.
pub const FIXED: usize = 16;

impl Message {
    /// A method call.
    pub fn call(
        destination: &str,
        path: &str,
        interface: &str,
        member: &str,
        body: Vec<Value>,
    ) -> Self {
        Message {
            kind: Kind::Call,
            serial: 0,
            reply_serial: None,
            path: Some(path.into()),
            interface: Some(interface.into()),
            member: Some(member.into()),
            error_name: None,
            destination: Some(destination.into()),
            sender: None,
            body,
        }
    }

    /// A call to the bus itself (`org.freedesktop.DBus`: Hello, AddMatch, GetConnectionUnixUser…).
    pub fn bus_driver(member: &str, body: Vec<Value>) -> Self {
        let bus = "org.freedesktop.DBus";
        Self::call(bus, "/org/freedesktop/DBus", bus, member, body)
    }

    /// The body's signature.
    pub fn signature(&self) -> String {
        self.body.iter().map(Value::signature).collect()
    }

    /// The message's bytes, with `serial`.
    pub fn encode(&self, serial: u32) -> Vec<u8> {
        let mut body = Encoder::default();
        for v in &self.body {
            body.put(v);
        }
        let mut fields = Vec::new();
        let mut field = |code: u8, v: Value| {
            fields.push(Value::Struct(vec![
                Value::Byte(code),
                Value::Variant(Box::new(v)),
            ]));
        };
        let text = |s: &Option<String>| s.clone();
        if let Some(p) = text(&self.path) {
            field(1, Value::Path(p));
        }
        if let Some(i) = text(&self.interface) {
            field(2, Value::Str(i));
        }
        if let Some(m) = text(&self.member) {
            field(3, Value::Str(m));
        }
        if let Some(e) = text(&self.error_name) {
            field(4, Value::Str(e));
        }
        if let Some(r) = self.reply_serial {
            field(5, Value::U32(r));
        }
        if let Some(d) = text(&self.destination) {
            field(6, Value::Str(d));
        }
        if let Some(s) = text(&self.sender) {
            field(7, Value::Str(s));
        }
        if !self.body.is_empty() {
            field(8, Value::Sig(self.signature()));
        }
        let mut head = Encoder::default();
        head.buf.extend_from_slice(&[b'l', self.kind as u8, 0, 1]);
        head.put(&Value::U32(body.buf.len() as u32));
        head.put(&Value::U32(serial));
        head.put(&Value::Array("(yv)".into(), fields));
        while !head.buf.len().is_multiple_of(8) {
            head.buf.push(0);
        }
        head.buf.extend_from_slice(&body.buf);
        head.buf
    }

    /// The whole length of the message whose first `FIXED` (16) bytes are `fixed`.
    pub fn total_len(fixed: &[u8; FIXED]) -> Result<usize, DbusError> {
        if fixed[0] != b'l' {
            return Err(DbusError::Malformed("a big-endian message".into()));
        }
        let word =
            |i: usize| u32::from_le_bytes([fixed[i], fixed[i + 1], fixed[i + 2], fixed[i + 3]]);
        let (body, fields) = (word(4) as usize, word(12) as usize);
        let header = (FIXED + fields).div_ceil(8) * 8;
        let total = header + body;
        if total > 1 << 27 {
            return Err(DbusError::Malformed(format!("a message of {total} bytes")));
        }
        Ok(total)
    }

    /// Decodes one whole message.
    pub fn decode(bytes: &[u8]) -> Result<Message, DbusError> {
        let bad = |w: &str| DbusError::Malformed(w.into());
        if bytes.len() < FIXED || bytes[0] != b'l' || bytes[3] != 1 {
            return Err(bad("header"));
        }
        let kind = match bytes[1] {
            1 => Kind::Call,
            2 => Kind::Return,
            3 => Kind::Error,
            4 => Kind::Signal,
            k => return Err(DbusError::Malformed(format!("message type {k}"))),
        };
        let mut d = Decoder::new(bytes);
        d.get_all("yyyy")?;
        let body_len = d.get("u")?.as_u32().ok_or_else(|| bad("body length"))? as usize;
        let serial = d.get("u")?.as_u32().ok_or_else(|| bad("serial"))?;
        let Value::Array(_, fields) = d.get("a(yv)")? else {
            return Err(bad("header fields"));
        };
        d.align(8)?;
        let mut m = Message {
            kind,
            serial,
            reply_serial: None,
            path: None,
            interface: None,
            member: None,
            error_name: None,
            destination: None,
            sender: None,
            body: Vec::new(),
        };
        let mut signature = String::new();
        for f in fields {
            let Value::Struct(pair) = f else { continue };
            let (Some(Value::Byte(code)), Some(Value::Variant(v))) = (pair.first(), pair.get(1))
            else {
                continue;
            };
            let s = v.as_str().map(str::to_string);
            match code {
                1 => m.path = s,
                2 => m.interface = s,
                3 => m.member = s,
                4 => m.error_name = s,
                5 => m.reply_serial = v.as_u32(),
                6 => m.destination = s,
                7 => m.sender = s,
                8 => signature = s.unwrap_or_default(),
                _ => {}
            }
        }
        let start = d.position();
        let body = bytes
            .get(start..start + body_len)
            .ok_or_else(|| bad("body past the end"))?;
        m.body = Decoder::new(body).get_all(&signature)?;
        Ok(m)
    }
}
