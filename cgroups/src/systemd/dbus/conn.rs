//! A blocking connection to a message bus over a unix socket: SASL EXTERNAL
//! authentication (the credentials are the socket's: correct also inside a
//! user namespace), `Hello`, method calls and signals.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use super::message::{Kind, Message, FIXED};
use super::wire::Value;
use super::DbusError;

/// The system bus, unless `DBUS_SYSTEM_BUS_ADDRESS` names another.
pub const SYSTEM_BUS: &str = "unix:path=/run/dbus/system_bus_socket";

/// How long a call waits for its reply.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection to a bus.
#[derive(Debug)]
pub struct Connection {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    serial: u32,
    unique_name: String,
    /// Signals that arrived while waiting for a reply.
    signals: VecDeque<Message>,
    /// Serials of calls sent with [`Connection::call_later`] (and `Hello`) whose replies are
    /// still to come: checked as they arrive, an error reply fails the next call.
    pending: Vec<u32>,
}

fn io(op: &'static str) -> impl FnOnce(std::io::Error) -> DbusError {
    move |source| DbusError::Io { op, source }
}

/// An error reply as a [`DbusError::Remote`].
fn remote(m: &Message) -> DbusError {
    DbusError::Remote {
        name: m.error_name.clone().unwrap_or_default(),
        message: m
            .body
            .first()
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    }
}

/// The socket path of a bus address (`unix:path=…`, the first of a `;` list that has one).
pub fn socket_path(address: &str) -> Result<String, DbusError> {
    address
        .split(';')
        .filter_map(|a| a.strip_prefix("unix:"))
        .flat_map(|kv| kv.split(','))
        .find_map(|kv| kv.strip_prefix("path="))
        .map(str::to_string)
        .ok_or_else(|| DbusError::Address(address.to_string()))
}

impl Connection {
    /// Connects to the system bus (`DBUS_SYSTEM_BUS_ADDRESS`, else the standard socket).
    pub fn system() -> Result<Self, DbusError> {
        let address =
            std::env::var("DBUS_SYSTEM_BUS_ADDRESS").unwrap_or_else(|_| SYSTEM_BUS.into());
        Self::open(&address)
    }

    /// Connects to the user's session bus: `DBUS_SESSION_BUS_ADDRESS`, else
    /// `$XDG_RUNTIME_DIR/bus`, else `/run/user/<uid>/bus` (where systemd's user instance has it).
    pub fn session() -> Result<Self, DbusError> {
        let address = match std::env::var("DBUS_SESSION_BUS_ADDRESS") {
            Ok(a) if !a.is_empty() => a,
            _ => {
                let dir = std::env::var("XDG_RUNTIME_DIR")
                    .ok()
                    .filter(|d| !d.is_empty())
                    .unwrap_or_else(|| format!("/run/user/{}", nix::unistd::geteuid()));
                format!("unix:path={dir}/bus")
            }
        };
        Self::open(&address)
    }

    /// Connects to the bus at `address`, authenticates and says `Hello`. The authentication,
    /// `BEGIN` and `Hello` go out in one write (as sd-bus does): one round trip, not four.
    /// A bus that rejects the socket's credentials without an identity is tried again on a
    /// new connection, with the identity spelled out.
    pub fn open(address: &str) -> Result<Self, DbusError> {
        let path = socket_path(address)?;
        let mut conn = Self::connect(&path)?;
        let hello = Message::bus_driver("Hello", vec![]);
        conn.serial = 1;
        let mut first = b"\0AUTH EXTERNAL\r\nDATA\r\nBEGIN\r\n".to_vec();
        first.extend_from_slice(&hello.encode(conn.serial));
        conn.write(&first)?;
        let mut line = conn.line()?;
        if line.starts_with("DATA") {
            line = conn.line()?;
        }
        if line.starts_with("REJECTED") {
            conn = Self::connect(&path)?;
            conn.authenticate_with_uid()?;
            conn.serial = 0;
            conn.send(&hello)?;
        } else if !line.starts_with("OK ") {
            return Err(DbusError::Auth(line.trim_end().to_string()));
        }
        conn.pending.push(conn.serial);
        conn.settle()?;
        Ok(conn)
    }

    fn connect(path: &str) -> Result<Self, DbusError> {
        let sock = UnixStream::connect(path).map_err(|source| DbusError::Connect {
            path: path.to_string(),
            source,
        })?;
        sock.set_read_timeout(Some(CALL_TIMEOUT))
            .map_err(io("set timeout"))?;
        let writer = sock.try_clone().map_err(io("dup socket"))?;
        Ok(Connection {
            reader: BufReader::new(sock),
            writer,
            serial: 0,
            unique_name: String::new(),
            signals: VecDeque::new(),
            pending: Vec::new(),
        })
    }

    /// The bus name the bus gave this connection.
    pub fn unique_name(&self) -> &str {
        &self.unique_name
    }

    /// SASL EXTERNAL with our uid as the identity, for a bus that refused the socket's
    /// credentials without one (`open` tries that first: the bus takes SO_PEERCRED, which the
    /// kernel maps into the bus' user namespace). Inside a user namespace our uid is first
    /// mapped through `uid_map` (uid 0 of rootless podman's namespace is the user's uid).
    fn authenticate_with_uid(&mut self) -> Result<(), DbusError> {
        // Our uid as the bus' namespace (the parent of ours, at best) knows it.
        let euid = nix::unistd::geteuid().as_raw();
        let uid = match std::fs::read_to_string("/proc/self/uid_map") {
            Ok(map) => crate::systemd::instance::outer_uid(euid, &map).unwrap_or(euid),
            Err(_) => euid,
        }
        .to_string();
        let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
        self.write(format!("\0AUTH EXTERNAL {hex}\r\n").as_bytes())?;
        let line = self.line()?;
        if !line.starts_with("OK ") {
            return Err(DbusError::Auth(line.trim_end().to_string()));
        }
        self.write(b"BEGIN\r\n")
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), DbusError> {
        self.writer.write_all(bytes).map_err(io("write to the bus"))
    }

    fn line(&mut self) -> Result<String, DbusError> {
        let mut line = String::new();
        let n = (&mut self.reader)
            .take(4096)
            .read_line(&mut line)
            .map_err(io("read from the bus"))?;
        if n == 0 {
            return Err(DbusError::Auth("the bus closed the connection".into()));
        }
        Ok(line)
    }

    /// Sends `msg` and returns its serial.
    pub fn send(&mut self, msg: &Message) -> Result<u32, DbusError> {
        self.serial = self.serial.wrapping_add(1).max(1);
        let serial = self.serial;
        self.write(&msg.encode(serial))?;
        Ok(serial)
    }

    /// Sends a call whose reply is not waited for now: it is checked when it arrives during a
    /// later call (one round trip for a series of calls; the bus keeps their order).
    pub fn call_later(&mut self, msg: Message) -> Result<(), DbusError> {
        let serial = self.send(&msg)?;
        self.pending.push(serial);
        Ok(())
    }

    /// Waits for the replies of the calls sent with [`Connection::call_later`].
    pub fn settle(&mut self) -> Result<(), DbusError> {
        let deadline = Instant::now() + CALL_TIMEOUT;
        while !self.pending.is_empty() {
            let m = self
                .receive(deadline)?
                .ok_or_else(|| DbusError::Timeout(format!("no reply within {CALL_TIMEOUT:?}")))?;
            self.take(m)?;
        }
        Ok(())
    }

    /// Files an incoming message that is not the reply being waited for: a signal is queued,
    /// the reply of a pending call checked (`Hello`'s gives the unique name).
    fn take(&mut self, m: Message) -> Result<(), DbusError> {
        match m.kind {
            Kind::Signal => self.signals.push_back(m),
            Kind::Return | Kind::Error => {
                let Some(i) = self.pending.iter().position(|s| Some(*s) == m.reply_serial) else {
                    return Ok(());
                };
                self.pending.remove(i);
                if m.kind == Kind::Error {
                    return Err(remote(&m));
                }
                if self.unique_name.is_empty() {
                    if let Some(name) = m.body.first().and_then(Value::as_str) {
                        self.unique_name = name.to_string();
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Calls a method and waits for its reply; an error reply is a [`DbusError::Remote`].
    pub fn call(&mut self, msg: Message) -> Result<Message, DbusError> {
        let serial = self.send(&msg)?;
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            let m = self.receive(deadline)?.ok_or_else(|| {
                DbusError::Timeout(format!(
                    "no reply to {} within {CALL_TIMEOUT:?}",
                    msg.member.as_deref().unwrap_or("?")
                ))
            })?;
            match m.kind {
                Kind::Return if m.reply_serial == Some(serial) => return Ok(m),
                Kind::Error if m.reply_serial == Some(serial) => return Err(remote(&m)),
                _ => self.take(m)?,
            }
        }
    }

    /// The next signal (one queued during a call first), waiting until `timeout`.
    pub fn next_signal(&mut self, timeout: Duration) -> Result<Option<Message>, DbusError> {
        if let Some(m) = self.signals.pop_front() {
            return Ok(Some(m));
        }
        let deadline = Instant::now() + timeout;
        loop {
            match self.receive(deadline)? {
                Some(m) if m.kind == Kind::Signal => return Ok(Some(m)),
                Some(_) => continue,
                None => return Ok(None),
            }
        }
    }

    /// The next message of any kind (a signal queued during a call first), waiting until
    /// `timeout`: for a peer that answers calls (the tests' stand-in for systemd).
    #[cfg(test)]
    pub(crate) fn next_message(&mut self, timeout: Duration) -> Result<Option<Message>, DbusError> {
        if let Some(m) = self.signals.pop_front() {
            return Ok(Some(m));
        }
        self.receive(Instant::now() + timeout)
    }

    /// One message, or `None` at `deadline`.
    fn receive(&mut self, deadline: Instant) -> Result<Option<Message>, DbusError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        let sock = self.reader.get_ref();
        sock.set_read_timeout(Some(left))
            .map_err(io("set timeout"))?;
        let mut fixed = [0u8; FIXED];
        match self.reader.read_exact(&mut fixed) {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(None)
            }
            Err(source) => {
                return Err(DbusError::Io {
                    op: "read from the bus",
                    source,
                })
            }
        }
        let total = Message::total_len(&fixed)?;
        let mut bytes = vec![0u8; total];
        bytes[..FIXED].copy_from_slice(&fixed);
        self.reader
            .get_ref()
            .set_read_timeout(Some(CALL_TIMEOUT))
            .map_err(io("set timeout"))?;
        self.reader
            .read_exact(&mut bytes[FIXED..])
            .map_err(io("read from the bus"))?;
        Message::decode(&bytes).map(Some)
    }
}
