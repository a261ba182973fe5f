//! systemd's manager (`org.freedesktop.systemd1.Manager`) as the cgroup driver
//! uses it: transient scopes for containers, their properties, stopping them.

use std::time::{Duration, Instant};

use super::dbus::{Connection, DbusError, Message, Value};

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";

/// How long a job (start or stop of a scope) may take.
const JOB_TIMEOUT: Duration = Duration::from_secs(30);

/// What went wrong with a unit.
#[derive(Debug, thiserror::Error)]
pub enum UnitError {
    /// The bus call failed.
    #[error("systemd unit {unit}: {op}: {source}")]
    Bus {
        /// The unit.
        unit: String,
        /// The operation.
        op: &'static str,
        /// The error.
        source: DbusError,
    },
    /// The job ended with another result than `done`.
    #[error("systemd unit {unit}: {op} job {result}")]
    Job {
        /// The unit.
        unit: String,
        /// The operation.
        op: &'static str,
        /// systemd's result: failed, timeout, dependency, canceled…
        result: String,
    },
    /// A unit of that name is loaded and not failed: another container's (or anyone's).
    #[error(
        "systemd unit {unit} already exists and is active (is another container using this \
         cgroupsPath?)"
    )]
    InUse {
        /// The unit.
        unit: String,
    },
    /// The job did not end in time.
    #[error("systemd unit {unit}: {op} job did not finish within {waited:?}")]
    Timeout {
        /// The unit.
        unit: String,
        /// The operation.
        op: &'static str,
        /// How long it was waited for.
        waited: Duration,
    },
}

/// A connection to systemd's manager.
#[derive(Debug)]
pub struct Systemd {
    conn: Connection,
    /// Whether this is a user's instance (session bus) rather than the system's.
    pub is_user: bool,
    /// How long a job may take ([`JOB_TIMEOUT`]; shorter in tests).
    job_timeout: Duration,
}

impl Systemd {
    /// Connects on `conn` and subscribes to job signals.
    pub fn new(mut conn: Connection) -> Result<Self, DbusError> {
        let rule = "type='signal',sender='org.freedesktop.systemd1',\
                    interface='org.freedesktop.systemd1.Manager',member='JobRemoved'";
        // Not waited for: their replies are checked during the first real call (which the
        // bus answers after them), so subscribing costs no round trip of its own.
        conn.call_later(Message::bus_driver(
            "AddMatch",
            vec![Value::Str(rule.into())],
        ))?;
        conn.call_later(Message::call(DEST, PATH, MANAGER, "Subscribe", vec![]))?;
        Ok(Systemd {
            conn,
            is_user: false,
            job_timeout: JOB_TIMEOUT,
        })
    }

    /// The same connection with another job timeout.
    #[cfg(test)]
    pub(crate) fn with_job_timeout(self, job_timeout: Duration) -> Self {
        Systemd {
            job_timeout,
            ..self
        }
    }

    fn manager(
        &mut self,
        unit: &str,
        op: &'static str,
        member: &str,
        body: Vec<Value>,
    ) -> Result<Message, UnitError> {
        self.conn
            .call(Message::call(DEST, PATH, MANAGER, member, body))
            .map_err(|source| UnitError::Bus {
                unit: unit.into(),
                op,
                source,
            })
    }

    /// Starts transient unit `unit` with `properties` (`a(sv)` entries) and waits for its job.
    /// A unit of that name left failed is reset and the start tried once more.
    pub fn start_transient(&mut self, unit: &str, properties: Vec<Value>) -> Result<(), UnitError> {
        let body = |props: Vec<Value>| {
            vec![
                Value::Str(unit.into()),
                Value::Str("replace".into()),
                Value::Array("(sv)".into(), props),
                Value::Array("(sa(sv))".into(), vec![]),
            ]
        };
        let job = match self.manager(
            unit,
            "start",
            "StartTransientUnit",
            body(properties.clone()),
        ) {
            Err(UnitError::Bus {
                source: DbusError::Remote { ref name, .. },
                ..
            }) if name == "org.freedesktop.systemd1.UnitExists" => {
                self.manager(
                    unit,
                    "reset-failed",
                    "ResetFailedUnit",
                    vec![Value::Str(unit.into())],
                )?;
                match self.manager(unit, "start", "StartTransientUnit", body(properties)) {
                    Err(UnitError::Bus {
                        source: DbusError::Remote { ref name, .. },
                        ..
                    }) if name == "org.freedesktop.systemd1.UnitExists" => {
                        return Err(UnitError::InUse { unit: unit.into() })
                    }
                    other => other?,
                }
            }
            other => other?,
        };
        self.wait_job(unit, "start", &job)
    }

    /// Stops `unit` and waits for its job; `false` when it was not loaded (gone already:
    /// fine). A unit left failed by the stop can then be [reset](Systemd::reset_failed).
    pub fn stop(&mut self, unit: &str) -> Result<bool, UnitError> {
        let body = vec![Value::Str(unit.into()), Value::Str("replace".into())];
        match self.manager(unit, "stop", "StopUnit", body) {
            Ok(job) => self.wait_job(unit, "stop", &job).map(|()| true),
            Err(UnitError::Bus {
                source: DbusError::Remote { ref name, .. },
                ..
            }) if name == "org.freedesktop.systemd1.NoSuchUnit" => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Forgets `unit` if it is loaded in the failed state (a unit not loaded is fine).
    pub fn reset_failed(&mut self, unit: &str) -> Result<(), UnitError> {
        match self.manager(
            unit,
            "reset-failed",
            "ResetFailedUnit",
            vec![Value::Str(unit.into())],
        ) {
            Err(UnitError::Bus {
                source: DbusError::Remote { ref name, .. },
                ..
            }) if name == "org.freedesktop.systemd1.NoSuchUnit" => Ok(()),
            other => other.map(drop),
        }
    }

    /// The cgroup of the scope `unit` (its `ControlGroup` property, e.g.
    /// `/user.slice/user-1000.slice/user@1000.service/user.slice/x.scope`).
    pub fn control_group(&mut self, unit: &str) -> Result<String, UnitError> {
        let reply = self.manager(unit, "get unit", "GetUnit", vec![Value::Str(unit.into())])?;
        let path = reply
            .body
            .first()
            .and_then(Value::as_str)
            .unwrap_or("/")
            .to_string();
        let get = Message::call(
            DEST,
            &path,
            "org.freedesktop.DBus.Properties",
            "Get",
            vec![
                Value::Str("org.freedesktop.systemd1.Scope".into()),
                Value::Str("ControlGroup".into()),
            ],
        );
        let reply = self.conn.call(get).map_err(|source| UnitError::Bus {
            unit: unit.into(),
            op: "get ControlGroup",
            source,
        })?;
        match reply.body.first() {
            Some(Value::Variant(v)) => match v.as_str() {
                Some(cg) if cg.starts_with('/') => Ok(cg.to_string()),
                _ => Err(UnitError::Job {
                    unit: unit.into(),
                    op: "get ControlGroup",
                    result: format!("unexpected value {v:?}"),
                }),
            },
            other => Err(UnitError::Job {
                unit: unit.into(),
                op: "get ControlGroup",
                result: format!("unexpected reply {other:?}"),
            }),
        }
    }

    /// Sets `properties` on the running `unit` (not persisted across a reboot).
    pub fn set_properties(&mut self, unit: &str, properties: Vec<Value>) -> Result<(), UnitError> {
        let body = vec![
            Value::Str(unit.into()),
            Value::Bool(true),
            Value::Array("(sv)".into(), properties),
        ];
        self.manager(unit, "set properties", "SetUnitProperties", body)
            .map(drop)
    }

    /// Waits for `JobRemoved` of the job a call returned; its result must be `done`.
    fn wait_job(&mut self, unit: &str, op: &'static str, reply: &Message) -> Result<(), UnitError> {
        let job = reply
            .body
            .first()
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let deadline = Instant::now() + self.job_timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let signal = self
                .conn
                .next_signal(left)
                .map_err(|source| UnitError::Bus {
                    unit: unit.into(),
                    op,
                    source,
                })?;
            let Some(signal) = signal else {
                return Err(UnitError::Timeout {
                    unit: unit.into(),
                    op,
                    waited: self.job_timeout,
                });
            };
            // JobRemoved(u id, o job, s unit, s result)
            if signal.member.as_deref() != Some("JobRemoved")
                || signal.body.get(1).and_then(Value::as_str) != Some(job.as_str())
            {
                continue;
            }
            let result = signal.body.get(3).and_then(Value::as_str).unwrap_or("");
            return match result {
                "done" => Ok(()),
                other => Err(UnitError::Job {
                    unit: unit.into(),
                    op,
                    result: other.into(),
                }),
            };
        }
    }
}

#[cfg(test)]
#[path = "manager_tests.rs"]
mod tests;
