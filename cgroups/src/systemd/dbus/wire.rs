//! D-Bus values and their wire format (little-endian marshalling, as the
//! specification's "Marshaling (Wire Format)" section describes): only the
//! types systemd's manager interface needs.

use super::DbusError;

/// A D-Bus value. Arrays carry their element signature so that an empty array
/// still has a type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `y`
    Byte(u8),
    /// `b`
    Bool(bool),
    /// `i`
    I32(i32),
    /// `u`
    U32(u32),
    /// `x`
    I64(i64),
    /// `t`
    U64(u64),
    /// `d`
    F64(f64),
    /// `s`
    Str(String),
    /// `o`
    Path(String),
    /// `g`
    Sig(String),
    /// `a…`: element signature and elements.
    Array(String, Vec<Value>),
    /// `(…)`
    Struct(Vec<Value>),
    /// `v`
    Variant(Box<Value>),
}

impl Value {
    /// The value's type signature.
    pub fn signature(&self) -> String {
        match self {
            Value::Byte(_) => "y".into(),
            Value::Bool(_) => "b".into(),
            Value::I32(_) => "i".into(),
            Value::U32(_) => "u".into(),
            Value::I64(_) => "x".into(),
            Value::U64(_) => "t".into(),
            Value::F64(_) => "d".into(),
            Value::Str(_) => "s".into(),
            Value::Path(_) => "o".into(),
            Value::Sig(_) => "g".into(),
            Value::Array(elem, _) => format!("a{elem}"),
            Value::Struct(fields) => {
                let inner: String = fields.iter().map(Value::signature).collect();
                format!("({inner})")
            }
            Value::Variant(_) => "v".into(),
        }
    }

    /// A string, if this is one (`s`, `o` or `g`).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Path(s) | Value::Sig(s) => Some(s),
            _ => None,
        }
    }

    /// A `u32`, if this is one.
    pub fn as_u32(&self) -> Option<u32> {
        match self {
            Value::U32(n) => Some(*n),
            _ => None,
        }
    }
}

/// Alignment of the first byte of a value of the type starting `sig`.
fn alignment(sig: u8) -> usize {
    match sig {
        b'y' | b'g' | b'v' => 1,
        b'n' | b'q' => 2,
        b'b' | b'i' | b'u' | b's' | b'o' | b'a' => 4,
        _ => 8, // x t d ( {
    }
}

/// Appends marshalled values to a buffer whose offset 0 is 8-aligned.
#[derive(Debug, Default)]
pub struct Encoder {
    /// The bytes so far.
    pub buf: Vec<u8>,
}

impl Encoder {
    fn pad(&mut self, align: usize) {
        while !self.buf.len().is_multiple_of(align) {
            self.buf.push(0);
        }
    }

    fn u32(&mut self, n: u32) {
        self.pad(4);
        self.buf.extend_from_slice(&n.to_le_bytes());
    }

    fn string(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    fn signature(&mut self, s: &str) {
        self.buf.push(s.len() as u8);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    /// Marshals `v`.
    pub fn put(&mut self, v: &Value) {
        match v {
            Value::Byte(b) => self.buf.push(*b),
            Value::Bool(b) => self.u32(u32::from(*b)),
            Value::I32(n) => self.u32(*n as u32),
            Value::U32(n) => self.u32(*n),
            Value::I64(n) => self.u64(*n as u64),
            Value::U64(n) => self.u64(*n),
            Value::F64(f) => self.u64(f.to_bits()),
            Value::Str(s) | Value::Path(s) => self.string(s),
            Value::Sig(s) => self.signature(s),
            Value::Array(elem, items) => {
                self.u32(0);
                let len_at = self.buf.len() - 4;
                self.pad(alignment(elem.as_bytes().first().copied().unwrap_or(b'y')));
                let start = self.buf.len();
                for item in items {
                    self.put(item);
                }
                let len = (self.buf.len() - start) as u32;
                self.buf[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
            }
            Value::Struct(fields) => {
                self.pad(8);
                for f in fields {
                    self.put(f);
                }
            }
            Value::Variant(inner) => {
                self.signature(&inner.signature());
                self.put(inner);
            }
        }
    }

    fn u64(&mut self, n: u64) {
        self.pad(8);
        self.buf.extend_from_slice(&n.to_le_bytes());
    }
}

/// Reads marshalled values from a buffer whose offset 0 is 8-aligned.
#[derive(Debug)]
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    depth: usize,
}

/// Arrays and structs nest at most this deep (the specification's limit is 32 each).
const MAX_DEPTH: usize = 64;

fn malformed(what: impl Into<String>) -> DbusError {
    DbusError::Malformed(what.into())
}

impl<'a> Decoder<'a> {
    /// A decoder of `buf` from its start.
    pub fn new(buf: &'a [u8]) -> Self {
        Decoder {
            buf,
            pos: 0,
            depth: 0,
        }
    }

    /// The current offset.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Skips to the next multiple of `align`.
    pub fn align(&mut self, align: usize) -> Result<(), DbusError> {
        let next = self.pos.div_ceil(align) * align;
        if next > self.buf.len() {
            return Err(malformed("padding past the end"));
        }
        self.pos = next;
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DbusError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| malformed(format!("{n} bytes past the end")))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, DbusError> {
        self.align(4)?;
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, DbusError> {
        self.align(8)?;
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn string(&mut self) -> Result<String, DbusError> {
        let len = self.u32()? as usize;
        let bytes = self.take(len)?;
        if self.take(1)? != [0] {
            return Err(malformed("string without its NUL"));
        }
        String::from_utf8(bytes.to_vec()).map_err(|_| malformed("string not UTF-8"))
    }

    fn signature(&mut self) -> Result<String, DbusError> {
        let len = self.take(1)?[0] as usize;
        let bytes = self.take(len)?;
        if self.take(1)? != [0] {
            return Err(malformed("signature without its NUL"));
        }
        String::from_utf8(bytes.to_vec()).map_err(|_| malformed("signature not ASCII"))
    }

    /// Reads every complete type of `sig` in turn.
    pub fn get_all(&mut self, sig: &str) -> Result<Vec<Value>, DbusError> {
        let mut rest = sig;
        let mut out = Vec::new();
        while !rest.is_empty() {
            let (one, tail) = split_first_type(rest)?;
            out.push(self.get(one)?);
            rest = tail;
        }
        Ok(out)
    }

    /// Reads one value of the single complete type `sig`.
    pub fn get(&mut self, sig: &str) -> Result<Value, DbusError> {
        let first = *sig
            .as_bytes()
            .first()
            .ok_or_else(|| malformed("empty type"))?;
        Ok(match first {
            b'y' => Value::Byte(self.take(1)?[0]),
            b'b' => match self.u32()? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                n => return Err(malformed(format!("boolean {n}"))),
            },
            b'i' => Value::I32(self.u32()? as i32),
            b'u' => Value::U32(self.u32()?),
            b'x' => Value::I64(self.u64()? as i64),
            b't' => Value::U64(self.u64()?),
            b'd' => Value::F64(f64::from_bits(self.u64()?)),
            b's' => Value::Str(self.string()?),
            b'o' => Value::Path(self.string()?),
            b'g' => Value::Sig(self.signature()?),
            b'v' => {
                let inner = self.signature()?;
                split_first_type(&inner)
                    .ok()
                    .filter(|(_, tail)| tail.is_empty())
                    .ok_or_else(|| malformed(format!("variant of {inner:?}")))?;
                self.nested(|d| d.get(&inner))
                    .map(|v| Value::Variant(Box::new(v)))?
            }
            b'a' => self.array(&sig[1..])?,
            b'(' => {
                self.align(8)?;
                let inner = &sig[1..sig.len() - 1];
                self.nested(|d| d.get_all(inner)).map(Value::Struct)?
            }
            b'{' => {
                self.align(8)?;
                let inner = &sig[1..sig.len() - 1];
                self.nested(|d| d.get_all(inner)).map(Value::Struct)?
            }
            other => return Err(malformed(format!("type code {:?}", other as char))),
        })
    }

    fn array(&mut self, elem: &str) -> Result<Value, DbusError> {
        let len = self.u32()? as usize;
        if len > 1 << 26 {
            return Err(malformed(format!("array of {len} bytes")));
        }
        self.align(alignment(elem.as_bytes().first().copied().unwrap_or(b'y')))?;
        let end = self
            .pos
            .checked_add(len)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| malformed("array past the end"))?;
        let mut items = Vec::new();
        while self.pos < end {
            items.push(self.nested(|d| d.get(elem))?);
        }
        if self.pos != end {
            return Err(malformed("array length does not end on an element"));
        }
        Ok(Value::Array(elem.to_string(), items))
    }

    fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, DbusError>,
    ) -> Result<T, DbusError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(malformed("nested too deeply"));
        }
        let r = f(self);
        self.depth -= 1;
        r
    }
}

/// The first complete type of `sig` and the rest.
pub fn split_first_type(sig: &str) -> Result<(&str, &str), DbusError> {
    let bytes = sig.as_bytes();
    let mut i = 0;
    // Array prefixes belong to the element that follows.
    while bytes.get(i) == Some(&b'a') {
        i += 1;
    }
    match bytes.get(i) {
        None => Err(malformed(format!("incomplete type in {sig:?}"))),
        Some(b'(') | Some(b'{') => {
            let mut depth = 0usize;
            for (j, b) in bytes.iter().enumerate().skip(i) {
                match b {
                    b'(' | b'{' => depth += 1,
                    b')' | b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok((&sig[..=j], &sig[j + 1..]));
                        }
                    }
                    _ => {}
                }
            }
            Err(malformed(format!("unbalanced {sig:?}")))
        }
        Some(_) => Ok((&sig[..=i], &sig[i + 1..])),
    }
}
