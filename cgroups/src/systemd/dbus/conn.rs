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
}

fn io(op: &'static str) -> impl FnOnce(std::io::Error) -> DbusError {
    move |source| DbusError::Io { op, source }
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

    /// Connects to the bus at `address`, authenticates and says `Hello`.
    pub fn open(address: &str) -> Result<Self, DbusError> {
        let path = socket_path(address)?;
        let sock = UnixStream::connect(&path).map_err(|source| DbusError::Connect {
            path: path.clone(),
            source,
        })?;
        sock.set_read_timeout(Some(CALL_TIMEOUT))
            .map_err(io("set timeout"))?;
        let writer = sock.try_clone().map_err(io("dup socket"))?;
        let mut conn = Connection {
            reader: BufReader::new(sock),
            writer,
            serial: 0,
            unique_name: String::new(),
            signals: VecDeque::new(),
        };
        conn.authenticate()?;
        let reply = conn.call(Message::call(
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "Hello",
            vec![],
        ))?;
        conn.unique_name = reply
            .body
            .first()
            .and_then(Value::as_str)
            .ok_or_else(|| DbusError::Malformed("Hello returned no name".into()))?
            .to_string();
        Ok(conn)
    }

    /// The bus name the bus gave this connection.
    pub fn unique_name(&self) -> &str {
        &self.unique_name
    }

    /// SASL EXTERNAL without an identity: the bus takes the socket's credentials
    /// (SO_PEERCRED, which the kernel maps into the bus' user namespace). Sending our uid
    /// instead fails inside a user namespace, where it is not the bus' view of us.
    fn authenticate(&mut self) -> Result<(), DbusError> {
        self.write(b"\0AUTH EXTERNAL\r\n")?;
        let mut line = self.line()?;
        if line.starts_with("DATA") {
            self.write(b"DATA\r\n")?;
            line = self.line()?;
        }
        if line.starts_with("REJECTED") {
            // A bus that wants the identity spelled out: our uid, in hex of its decimal text.
            let uid = nix::unistd::geteuid().as_raw().to_string();
            let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
            self.write(format!("AUTH EXTERNAL {hex}\r\n").as_bytes())?;
            line = self.line()?;
        }
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
                Kind::Return | Kind::Error if m.reply_serial == Some(serial) => {
                    return match m.kind {
                        Kind::Error => Err(DbusError::Remote {
                            name: m.error_name.clone().unwrap_or_default(),
                            message: m
                                .body
                                .first()
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_string(),
                        }),
                        _ => Ok(m),
                    };
                }
                Kind::Signal => self.signals.push_back(m),
                _ => {}
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
