//! OCI `linux.seccomp` → libseccomp filter context, with runc's rules for what is skipped and
//! what is an error.

use libseccomp::{ScmpAction, ScmpArgCompare, ScmpFilterContext, ScmpSyscall};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSyscall};

use crate::kernel::{
    self, FLAG_NEW_LISTENER, FLAG_TSYNC, FLAG_TSYNC_ESRCH, FLAG_WAIT_KILLABLE_RECV,
};
use crate::names;
use crate::{enosys, SeccompError};

/// Syscalls take at most six arguments (index 0..=5).
const MAX_ARG_INDEX: usize = 5;
/// Above this many rules libseccomp's binary-tree layout beats the linear one
/// (and libseccomp <= 2.5.4 misbehaves with the tree and zero rules).
const TREE_OPTIMIZE_MIN_RULES: usize = 32;
/// Syscalls that must never be SCMP_ACT_NOTIFY: the runtime writes the notify fd to its parent
/// with `write` after loading the filter, so notifying on it would deadlock container start.
const NOTIFY_FORBIDDEN: &[&str] = &["write"];

/// A translated profile, ready to export.
pub(crate) struct Translated {
    /// The libseccomp filter with every rule added.
    pub ctx: ScmpFilterContext,
    /// seccomp(2) flags to load the exported program with.
    pub flags: u32,
    /// Syscall names libseccomp does not know (skipped, as runc does).
    pub skipped: Vec<String>,
    /// Per architecture, the largest syscall number the profile names, for the ENOSYS prefix
    /// (empty when the default action is permissive).
    pub enosys: Vec<enosys::ArchMax>,
}

const ROOT: &str = "linux.seccomp";

/// Validates `seccomp` and builds the libseccomp filter for it.
pub(crate) fn translate(seccomp: &LinuxSeccomp) -> Result<Translated, SeccompError> {
    let default = resolve_action(
        seccomp.default_action(),
        seccomp.default_errno_ret(),
        &format!("{ROOT}.defaultErrnoRet"),
    )?;
    if default == ScmpAction::Notify {
        // Every syscall, `write` included, would wait for an agent that cannot have the fd yet.
        return Err(SeccompError::invalid(
            format!("{ROOT}.defaultAction"),
            "SCMP_ACT_NOTIFY cannot be used as the default action",
        ));
    }
    if seccomp.listener_metadata().is_some() && seccomp.listener_path().is_none() {
        return Err(SeccompError::invalid(
            format!("{ROOT}.listenerMetadata"),
            "must not be set without listenerPath",
        ));
    }

    let mut ctx = ScmpFilterContext::new(default).map_err(|source| SeccompError::Libseccomp {
        field: format!("{ROOT}.defaultAction"),
        op: "seccomp_init",
        source,
    })?;
    // kiln sets no_new_privs itself, and loads the exported program with seccomp(2).
    ctx.set_ctl_nnp(false)
        .map_err(|source| SeccompError::Libseccomp {
            field: ROOT.to_owned(),
            op: "seccomp_attr_set(SCMP_FLTATR_CTL_NNP)",
            source,
        })?;
    for (i, arch) in seccomp.architectures().iter().flatten().enumerate() {
        ctx.add_arch(names::scmp_arch(*arch))
            .map_err(|source| SeccompError::Libseccomp {
                field: format!("{ROOT}.architectures[{i}] ({})", names::arch_name(*arch)),
                op: "seccomp_arch_add",
                source,
            })?;
    }
    let mut flags = requested_flags(seccomp)?;

    let mut rules = Rules {
        ctx,
        default,
        added: 0,
        uses_notify: false,
        skipped: Vec::new(),
    };
    for (i, syscall) in seccomp.syscalls().iter().flatten().enumerate() {
        rules.add(seccomp, i, syscall)?;
    }
    let Rules {
        mut ctx,
        added,
        uses_notify,
        skipped,
        ..
    } = rules;

    if added > TREE_OPTIMIZE_MIN_RULES {
        // Not fatal: an older libseccomp just keeps the linear layout.
        let _ = ctx.set_ctl_optimize(2);
    }
    if uses_notify {
        flags |= FLAG_NEW_LISTENER;
        if flags & FLAG_TSYNC != 0 {
            // The kernel refuses TSYNC + NEW_LISTENER unless a failure is reported as ESRCH.
            flags |= FLAG_TSYNC_ESRCH;
        }
    } else {
        // WAIT_KILLABLE_RECV only means something for (and is only accepted with) a listener.
        flags &= !FLAG_WAIT_KILLABLE_RECV;
    }
    Ok(Translated {
        ctx,
        flags,
        skipped,
        enosys: enosys_maxima(seccomp, default),
    })
}

/// The per-architecture maxima for the ENOSYS prefix: every name of every rule counts (also
/// those whose action equals the default), on the native architecture and each listed one.
fn enosys_maxima(seccomp: &LinuxSeccomp, default: ScmpAction) -> Vec<enosys::ArchMax> {
    if !enosys::wanted(default) {
        return Vec::new();
    }
    let mentioned: Vec<String> = seccomp
        .syscalls()
        .iter()
        .flatten()
        .flat_map(|s| s.names().iter().cloned())
        .collect();
    let mut arches = vec![libseccomp::ScmpArch::Native];
    arches.extend(
        seccomp
            .architectures()
            .iter()
            .flatten()
            .map(|a| names::scmp_arch(*a)),
    );
    enosys::arch_maxima(&arches, &mentioned)
}

/// The seccomp(2) flags `seccomp.flags` asks for; an error names a flag the kernel lacks.
fn requested_flags(seccomp: &LinuxSeccomp) -> Result<u32, SeccompError> {
    let mut flags = 0;
    for (i, flag) in seccomp.flags().iter().flatten().enumerate() {
        let (name, bit) = names::flag(*flag);
        if !kernel::flag_supported(bit) {
            return Err(SeccompError::invalid(
                format!("{ROOT}.flags[{i}]"),
                format!("{name} is not supported by the running kernel"),
            ));
        }
        flags |= bit;
    }
    Ok(flags)
}

/// The libseccomp action for an OCI action and optional errno; EPERM is the default errno
/// for SCMP_ACT_ERRNO and SCMP_ACT_TRACE, as in runc.
fn resolve_action(
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    errno_field: &str,
) -> Result<ScmpAction, SeccompError> {
    let errno = match errno_ret {
        None => libc::EPERM,
        Some(value) => match u16::try_from(value) {
            Ok(v) => i32::from(v),
            Err(_) => {
                return Err(SeccompError::invalid(
                    errno_field,
                    format!("{value} does not fit the 16-bit seccomp return data"),
                ))
            }
        },
    };
    let takes_errno = matches!(
        action,
        LinuxSeccompAction::ScmpActErrno | LinuxSeccompAction::ScmpActTrace
    );
    if errno_ret.is_some() && !takes_errno {
        return Err(SeccompError::invalid(
            errno_field,
            format!(
                "{} does not take an errno (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do)",
                names::action_name(action)
            ),
        ));
    }
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(errno as u16),
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    })
}

/// A comparison and the argument index it tests.
type Comparison = (usize, ScmpArgCompare);

/// The comparisons of one `syscalls[i]` entry; an error names a bad argument.
fn comparators(args: &[LinuxSeccompArg], field: &str) -> Result<Vec<Comparison>, SeccompError> {
    args.iter()
        .enumerate()
        .map(|(j, arg)| {
            let index = arg.index();
            if index > MAX_ARG_INDEX {
                return Err(SeccompError::invalid(
                    format!("{field}.args[{j}].index"),
                    format!("{index} is out of range: syscalls have at most 6 arguments (0-5)"),
                ));
            }
            // For SCMP_CMP_MASKED_EQ runtime-spec's `value` is the mask and `valueTwo` the datum.
            let masked = arg.op() == oci_spec::runtime::LinuxSeccompOperator::ScmpCmpMaskedEq;
            let datum = if masked {
                arg.value_two().unwrap_or(0)
            } else {
                arg.value()
            };
            let op = names::compare_op(arg.op(), arg.value());
            Ok((index, ScmpArgCompare::new(index as u32, op, datum)))
        })
        .collect()
}

/// Accumulates rules into the filter.
struct Rules {
    ctx: ScmpFilterContext,
    default: ScmpAction,
    added: usize,
    uses_notify: bool,
    skipped: Vec<String>,
}

impl Rules {
    /// Adds `syscalls[i]`: one rule per known name, skipping unknown names and rules equal to
    /// the default action (libseccomp refuses those).
    fn add(
        &mut self,
        seccomp: &LinuxSeccomp,
        i: usize,
        syscall: &LinuxSyscall,
    ) -> Result<(), SeccompError> {
        let field = format!("{ROOT}.syscalls[{i}]");
        if syscall.names().is_empty() {
            return Err(SeccompError::invalid(
                format!("{field}.names"),
                "must contain at least one entry",
            ));
        }
        let action = resolve_action(
            syscall.action(),
            syscall.errno_ret(),
            &format!("{field}.errnoRet"),
        )?;
        let comparators = comparators(syscall.args().as_deref().unwrap_or_default(), &field)?;
        if action == ScmpAction::Notify && seccomp.listener_path().is_none() {
            return Err(SeccompError::invalid(
                format!("{field}.action"),
                "SCMP_ACT_NOTIFY requires linux.seccomp.listenerPath",
            ));
        }
        for (j, name) in syscall.names().iter().enumerate() {
            if name.is_empty() {
                return Err(SeccompError::invalid(
                    format!("{field}.names[{j}]"),
                    "empty syscall name",
                ));
            }
            if action == ScmpAction::Notify && NOTIFY_FORBIDDEN.contains(&name.as_str()) {
                return Err(SeccompError::invalid(
                    format!("{field}.names[{j}]"),
                    format!("SCMP_ACT_NOTIFY cannot be used for {name:?}: the runtime needs it to hand over the notify fd"),
                ));
            }
        }
        if action == self.default {
            return Ok(());
        }
        for (j, name) in syscall.names().iter().enumerate() {
            let Ok(nr) = ScmpSyscall::from_name(name) else {
                if !self.skipped.contains(name) {
                    self.skipped.push(name.clone());
                }
                continue;
            };
            self.add_one(action, nr, &comparators)
                .map_err(|source| SeccompError::Libseccomp {
                    field: format!("{field}.names[{j}] ({name:?})"),
                    op: "seccomp_rule_add",
                    source,
                })?;
            self.uses_notify |= action == ScmpAction::Notify;
        }
        Ok(())
    }

    /// One syscall: all comparisons in one rule, unless two compare the same argument; then
    /// (as runc does, since libseccomp rejects that) each comparison becomes its own rule.
    fn add_one(
        &mut self,
        action: ScmpAction,
        nr: ScmpSyscall,
        comparisons: &[Comparison],
    ) -> Result<(), libseccomp::error::SeccompError> {
        let mut per_index = [0usize; MAX_ARG_INDEX + 1];
        for (index, _) in comparisons {
            per_index[*index] += 1;
        }
        if per_index.iter().any(|&n| n > 1) {
            for (_, c) in comparisons {
                self.ctx
                    .add_rule_conditional(action, nr, std::slice::from_ref(c))?;
                self.added += 1;
            }
        } else {
            let all: Vec<ScmpArgCompare> = comparisons.iter().map(|(_, c)| *c).collect();
            self.ctx.add_rule_conditional(action, nr, &all)?;
            self.added += 1;
        }
        Ok(())
    }
}
