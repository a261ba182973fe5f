//! The create/exec protocol: every message the runtime and the processes it
//! clones exchange over the sync channel ([`super::channel`], which frames
//! them and passes fds), one type per direction.
//!
//! A `create`:
//!
//! | # | direction | message | when |
//! |---|-----------|---------|------|
//! | 1 | init → create | [`FromInit::MapRequest`], then create → init [`ToInit::Go`] | slow path with a new user namespace: after the unshare |
//! | 2 | init → create | [`FromInit::InitPid`] | slow path: the (forked) init's host pid |
//! | 3 | create → init | [`ToInit::Go`] | the init is in its cgroup, its id maps are written |
//! | 4 | init → create | [`FromInit::MountSources`], then helper → init [`ToInit::MountSource`] × n | with bind sources to clone (user namespace) |
//! | 5 | init → create | [`FromInit::MountsDone`] | mounts done: run prestart/createRuntime |
//! | 6 | create → init | [`ToInit::HooksDone`] | those hooks succeeded |
//! | 7 | init → create | [`FromInit::SeccompFd`] (0 or 1), then [`FromInit::Ready`] | set up |
//! | 8 | create → init | [`ToInit::Handover`] | the container is recorded |
//! | 9 | init → create | [`FromInit::HandedOver`] | the init outlives `create` from now on |
//!
//! An `exec`: exec → helper [`ToExec::Go`]; helper → exec [`FromExec::ProcessPid`];
//! process → exec [`FromExec::SeccompFd`] (0 or 1, possibly before the pid);
//! exec → process [`ToExec::Handover`]; then the channel closes when the
//! program is executed (close-on-exec).
//!
//! A program that embeds the library and its kiln helper (see [`crate::embed`]):
//! program → helper [`ToHelper`] (the operation), then one [`HelperFd`] per
//! stdio stream it names (a helper started ahead of time has no per-request
//! stdio of its own); helper → program
//! [`FromHelper::Claimed`] (create made the container directory),
//! [`FromHelper::Adopted`] × n (each process cloned as the program's child),
//! then [`FromHelper::Done`] (with the pty master as SCM_RIGHTS, if any) or
//! [`FromHelper::Failed`]. The helper's own create or exec then speaks the
//! protocol above with the processes it clones.
//!
//! At any point a child may send [`FromInit::Failed`] / [`FromExec::Failed`]
//! (and stop), and [`LogEntry`]s, which the receiving side writes to its
//! logger on the way.
//!
//! Encoding: a message is `(kind, payload)`, `kind` naming its type (one of
//! the `KIND` constants: a message of another direction is refused by name),
//! the payload its JSON. The channel frames it with a length header checked
//! against the bytes that arrive (nothing is cut: a state of any size arrives
//! whole, a short or long frame is an error). What does not decode is an
//! [`Error::InitDied`] saying what was wrong with it.

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::container::{ContainerBuilder, ExecOptions};
use crate::embed::WireError;
use crate::error::{Error, InitError, Result};
use crate::state::State;

/// A message type of the protocol (one per direction).
pub trait Message: Serialize + DeserializeOwned + Debug {
    /// Its kind byte in the frame header.
    const KIND: u8;
    /// Its name in protocol errors.
    const NAME: &'static str;

    /// The message, or the error it reports (a child's `Failed`).
    fn into_result(self) -> Result<Self> {
        Ok(self)
    }
}

/// `create` (and its bind-sources helper) → the container init.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToInit {
    /// Steps 1 and 3: after a `MapRequest`, the id maps are written; after
    /// `InitPid`, the init is in its cgroup (and its maps are written): carry on.
    Go,
    /// Step 4 (from the bind-sources helper): the detached clone of
    /// `mounts[i]` follows as SCM_RIGHTS.
    MountSource(u32),
    /// Step 6: the prestart/createRuntime hooks succeeded; the container's
    /// state (status `creating`, host pid) for the container's own hooks.
    HooksDone(Box<State>),
    /// Step 8: the container is recorded; outlive `create` from now on.
    Handover,
}

/// The container init → `create`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FromInit {
    /// Step 1: I unshared a user namespace; write the uid/gid maps of this pid.
    MapRequest(i32),
    /// Step 2: the container init is this (host) pid.
    InitPid(i32),
    /// Step 4: my mount namespace exists; clone the bind sources.
    MountSources,
    /// Step 5: mounts are done; run the prestart/createRuntime hooks.
    MountsDone,
    /// Step 7: the seccomp notify fd follows as SCM_RIGHTS.
    SeccompFd,
    /// Step 7 (`--timings` only): when each setup step started (CLOCK_MONOTONIC ns).
    Timings(Vec<(String, u64)>),
    /// Step 7: fully set up, about to wait for `Handover`.
    Ready,
    /// Step 9: done; `create` may exit without taking the init along.
    HandedOver,
    /// Any step: setup failed there; the init exits.
    Failed(InitError),
}

/// `exec` → its helper, then the process it forked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToExec {
    /// To the helper: it is in the container's cgroup; join the namespaces.
    Go,
    /// To the process: the pid file is written; outlive `exec` from now on.
    Handover,
}

/// The exec helper and the process it forked → `exec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FromExec {
    /// From the helper: the process joined the container and has this host pid.
    ProcessPid(i32),
    /// From the process: the seccomp notify fd follows as SCM_RIGHTS (may
    /// come before `ProcessPid`: they share the channel).
    SeccompFd,
    /// From the process, set up (`--timings` only): when each setup step of the helper and
    /// the process started (CLOCK_MONOTONIC ns).
    Timings(Vec<(String, u64)>),
    /// From either: setup failed there; it exits.
    Failed(InitError),
}

/// Any child → the runtime, at any point: a log entry for the runtime's logger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// 1 = error … 5 = trace (`log::Level as u8`).
    pub level: u8,
    /// The text.
    pub message: String,
}

/// A program that embeds the library → its kiln helper: the one operation to run.
#[derive(Debug, Serialize, Deserialize)]
pub struct ToHelper {
    /// `log::max_level()` of the program (0 = off … 5 = trace).
    pub log_level: u8,
    /// What to do.
    pub op: HelperOp,
    /// Which of stdin, stdout, stderr follow as [`HelperFd`] messages, to become the
    /// helper's own (and so the container process') before it runs `op`.
    pub stdio: [bool; 3],
}

/// Program → helper: stdio stream `.0` (0, 1 or 2) follows as SCM_RIGHTS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelperFd(pub u8);

/// The operations a kiln helper runs for the program.
#[derive(Debug, Serialize, Deserialize)]
pub enum HelperOp {
    /// `ContainerBuilder::create` (stdio is the helper's own, given at spawn).
    Create(ContainerBuilder),
    /// `Container::exec` of container `id` under the state root `root`.
    Exec {
        /// The state root.
        root: std::path::PathBuf,
        /// The container id.
        id: String,
        /// The process to start.
        process: Box<oci_spec::runtime::Process>,
        /// Its options (stdio is the helper's own).
        opts: ExecOptions,
    },
}

/// A kiln helper → the program.
#[derive(Debug, Serialize, Deserialize)]
pub enum FromHelper {
    /// create made the container directory: the program removes it if the helper dies.
    Claimed,
    /// This process was cloned as the program's child: the program reaps it, or kills it
    /// if the helper dies before `Done`.
    Adopted(i32),
    /// Success: the container's init or the exec'd process; the pty master follows as
    /// SCM_RIGHTS when `console`.
    Done {
        /// Its host pid.
        pid: i32,
        /// Whether an fd follows.
        console: bool,
    },
    /// Failure.
    Failed(WireError),
}

impl Message for ToHelper {
    const KIND: u8 = 6;
    const NAME: &'static str = "ToHelper";
}

impl Message for HelperFd {
    const KIND: u8 = 8;
    const NAME: &'static str = "HelperFd";
}

impl Message for FromHelper {
    const KIND: u8 = 7;
    const NAME: &'static str = "FromHelper";
}

impl Message for ToInit {
    const KIND: u8 = 1;
    const NAME: &'static str = "ToInit";
}

impl Message for FromInit {
    const KIND: u8 = 2;
    const NAME: &'static str = "FromInit";

    fn into_result(self) -> Result<Self> {
        match self {
            FromInit::Failed(e) => Err(Error::InitFailed(e)),
            m => Ok(m),
        }
    }
}

impl Message for ToExec {
    const KIND: u8 = 3;
    const NAME: &'static str = "ToExec";
}

impl Message for FromExec {
    const KIND: u8 = 4;
    const NAME: &'static str = "FromExec";

    fn into_result(self) -> Result<Self> {
        match self {
            FromExec::Failed(e) => Err(Error::InitFailed(e)),
            m => Ok(m),
        }
    }
}

impl Message for LogEntry {
    const KIND: u8 = 5;
    const NAME: &'static str = "LogEntry";
}

/// The name of the message type with this kind byte, if any.
pub(crate) fn kind_name(kind: u8) -> Option<&'static str> {
    [
        (ToInit::KIND, ToInit::NAME),
        (FromInit::KIND, FromInit::NAME),
        (ToExec::KIND, ToExec::NAME),
        (FromExec::KIND, FromExec::NAME),
        (LogEntry::KIND, LogEntry::NAME),
        (ToHelper::KIND, ToHelper::NAME),
        (FromHelper::KIND, FromHelper::NAME),
        (HelperFd::KIND, HelperFd::NAME),
    ]
    .into_iter()
    .find_map(|(k, name)| (k == kind).then_some(name))
}

/// The kind byte and payload of `msg`.
pub(crate) fn encode<M: Message>(msg: &M) -> Result<(u8, Vec<u8>)> {
    let payload = serde_json::to_vec(msg)
        .map_err(|e| Error::InitDied(format!("encoding {} message {msg:?}: {e}", M::NAME)))?;
    Ok((M::KIND, payload))
}

/// The `M` a `(kind, payload)` carries. Another kind, an unknown one, or a
/// payload that is no `M` is an [`Error::InitDied`] naming what was wrong.
pub(crate) fn decode<M: Message>(kind: u8, payload: &[u8]) -> Result<M> {
    if kind != M::KIND {
        return Err(Error::InitDied(match kind_name(kind) {
            Some(name) => format!(
                "expected a {} message on the sync channel, got a {name}",
                M::NAME
            ),
            None => format!(
                "expected a {} message on the sync channel, got one of unknown kind {kind}",
                M::NAME
            ),
        }));
    }
    crate::json::from_slice(payload).map_err(|e| {
        let start = String::from_utf8_lossy(&payload[..payload.len().min(64)]).into_owned();
        Error::InitDied(format!(
            "malformed {} message on the sync channel ({e}): {start:?}",
            M::NAME
        ))
    })
}

#[cfg(test)]
#[path = "protocol_tests.rs"]
mod tests;
