//! The security ordering of [`ProcessSetup`], checked without root: the
//! setup runs for real but for its security-relevant system calls, which a
//! [`Recorder`] takes down instead of making.
//!
//! The rules (kiln's, which follow runc's):
//! - fds are marked close-on-exec before any seccomp filter is loaded (a
//!   profile need not allow close_range; CVE-2024-21626);
//! - without no_new_privs, loading a filter needs CAP_SYS_ADMIN: it is loaded
//!   first, before the bounding set is limited and the uid changes;
//! - with no_new_privs, the filter is loaded after no_new_privs is set, as late
//!   as possible: after the setup (just before exec), or at its very end when a
//!   notify listener must reach the agent while the runtime still listens;
//! - the bounding set is limited before the uid changes (needs CAP_SETPCAP);
//! - groups, then keep-caps on, gid, uid, keep-caps off: the permitted set
//!   survives the uid change, and the capabilities are set after it;
//! - the parent-death signal is re-armed and the cwd entered after it.

use oci_spec::runtime::{LinuxCapabilities, LinuxSeccomp, Process, Spec};

use super::*;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    CloseFds(u32),
    Seccomp { notify: bool },
    Bounding,
    Groups(Vec<u32>),
    KeepCaps(bool),
    Gid(u32),
    Uid(u32),
    ParentDeath,
    Cwd,
    Caps,
    NoNewPrivs,
}

/// The recording double of [`Kernel`].
#[derive(Default)]
struct Recorder(Vec<Call>);

impl Privileges for Recorder {
    fn close_fds_on_exec(&mut self, _: &mut ExecPlan, keep_below: u32) -> Result<()> {
        self.0.push(Call::CloseFds(keep_below));
        Ok(())
    }
    fn load_seccomp(&mut self, f: &CompiledFilter, _: &Channel, _: Stage) -> Result<()> {
        self.0.push(Call::Seccomp {
            notify: f.uses_notify(),
        });
        Ok(())
    }
    fn limit_bounding(&mut self, _: &CapPlan) -> Result<()> {
        self.0.push(Call::Bounding);
        Ok(())
    }
    fn set_groups(&mut self, gids: &[Gid]) -> nix::Result<()> {
        self.0
            .push(Call::Groups(gids.iter().map(|g| g.as_raw()).collect()));
        Ok(())
    }
    fn keep_caps(&mut self, on: bool) -> nix::Result<()> {
        self.0.push(Call::KeepCaps(on));
        Ok(())
    }
    fn set_gid(&mut self, gid: Gid) -> nix::Result<()> {
        self.0.push(Call::Gid(gid.as_raw()));
        Ok(())
    }
    fn set_uid(&mut self, uid: Uid) -> nix::Result<()> {
        self.0.push(Call::Uid(uid.as_raw()));
        Ok(())
    }
    fn die_with_parent(&mut self, _: &Channel) -> Result<()> {
        self.0.push(Call::ParentDeath);
        Ok(())
    }
    fn enter_cwd(&mut self, _: &Process) -> Result<()> {
        self.0.push(Call::Cwd);
        Ok(())
    }
    fn apply_caps(&mut self, _: &CapPlan) -> Result<()> {
        self.0.push(Call::Caps);
        Ok(())
    }
    fn no_new_privs(&mut self) -> Result<()> {
        self.0.push(Call::NoNewPrivs);
        Ok(())
    }
}

/// One configuration: `notify` is `None` without a seccomp profile.
#[derive(Debug, Clone, Copy)]
struct Case {
    nnp: bool,
    caps: bool,
    notify: Option<bool>,
}

fn process(nnp: bool, gids: &[u32]) -> Process {
    serde_json::from_value(serde_json::json!({
        "user": {"uid": 1000, "gid": 1001, "additionalGids": gids},
        "args": ["/bin/sh"],
        "env": ["PATH=/bin:/usr/bin", "HOME=/"],
        "cwd": "/",
        "noNewPrivileges": nnp,
    }))
    .unwrap()
}

fn filter(notify: bool) -> CompiledFilter {
    let action = if notify {
        "SCMP_ACT_NOTIFY"
    } else {
        "SCMP_ACT_ERRNO"
    };
    let profile: LinuxSeccomp = serde_json::from_value(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/run/agent.sock",
        "syscalls": [{"names": ["kexec_load"], "action": action}],
    }))
    .unwrap();
    let f = kiln_seccomp::compile(&profile).unwrap();
    assert_eq!(f.uses_notify(), notify);
    f
}

/// The calls of the setup, and of the late seccomp step after it.
fn record(case: Case) -> (Vec<Call>, Vec<Call>) {
    let spec: Spec = serde_json::from_value(serde_json::json!({"ociVersion": "1.2.0"})).unwrap();
    let process = process(case.nnp, &[5, 6]);
    let caps: LinuxCapabilities = serde_json::from_value(serde_json::json!({
        "bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]
    }))
    .unwrap();
    let caps = case.caps.then(|| CapPlan::from_spec(&caps).unwrap());
    let filter = case.notify.map(filter);
    let (chan, _peer) = Channel::pair().unwrap();
    let setup = ProcessSetup {
        stage: Stage::Init,
        spec: &spec,
        process: &process,
        caps: caps.as_ref(),
        seccomp: filter.as_ref(),
        preserve_fds: 2,
        setgroups: true,
    };
    let mut sys = Recorder::default();
    let mut prepared = setup.run_with(&mut sys, &chan).unwrap();
    let mut late = Recorder::default();
    prepared.load_seccomp_with(&mut late, &chan).unwrap();
    // Loaded once: nothing is left for exec.
    prepared.load_seccomp_with(&mut late, &chan).unwrap();
    (sys.0, late.0)
}

fn all_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for nnp in [false, true] {
        for caps in [false, true] {
            for notify in [None, Some(false), Some(true)] {
                cases.push(Case { nnp, caps, notify });
            }
        }
    }
    cases
}

fn pos(calls: &[Call], want: &Call) -> usize {
    calls
        .iter()
        .position(|c| c == want)
        .unwrap_or_else(|| panic!("no {want:?} in {calls:?}"))
}

fn seccomp_at(calls: &[Call]) -> Option<usize> {
    calls.iter().position(|c| matches!(c, Call::Seccomp { .. }))
}

#[test]
fn the_user_switch_keeps_caps_across_the_uid_change_only() {
    for case in all_cases() {
        let (calls, _) = record(case);
        let user: Vec<&Call> = calls
            .iter()
            .filter(|c| {
                matches!(
                    c,
                    Call::Groups(_) | Call::KeepCaps(_) | Call::Gid(_) | Call::Uid(_)
                )
            })
            .collect();
        let want = [
            Call::Groups(vec![5, 6]),
            Call::KeepCaps(true),
            Call::Gid(1001),
            Call::Uid(1000),
            Call::KeepCaps(false),
        ];
        assert_eq!(user, want.iter().collect::<Vec<_>>(), "{case:?}");
        let uid = pos(&calls, &Call::Uid(1000));
        // PR_SET_PDEATHSIG was cleared by the uid change; the cwd is entered as the user.
        assert!(pos(&calls, &Call::ParentDeath) > uid, "{case:?}: {calls:?}");
        assert!(pos(&calls, &Call::Cwd) > uid, "{case:?}: {calls:?}");
    }
}

#[test]
fn capabilities_are_bounded_before_and_set_after_the_uid_change() {
    for case in all_cases() {
        let (calls, _) = record(case);
        let has = |c: &Call| calls.contains(c);
        assert_eq!(has(&Call::Bounding), case.caps, "{case:?}: {calls:?}");
        assert_eq!(has(&Call::Caps), case.caps, "{case:?}: {calls:?}");
        if case.caps {
            let uid = pos(&calls, &Call::Uid(1000));
            assert!(pos(&calls, &Call::Bounding) < uid, "{case:?}: {calls:?}");
            assert!(
                pos(&calls, &Call::Caps) > pos(&calls, &Call::KeepCaps(false)),
                "{case:?}: {calls:?}"
            );
        }
    }
}

#[test]
fn fds_are_marked_close_on_exec_before_any_filter() {
    for case in all_cases() {
        let (calls, _) = record(case);
        // fds 3 and 4 are preserved.
        assert_eq!(calls[0], Call::CloseFds(5), "{case:?}: {calls:?}");
    }
}

#[test]
fn without_no_new_privs_the_filter_is_loaded_while_privileged() {
    for case in all_cases().into_iter().filter(|c| !c.nnp) {
        let (calls, late) = record(case);
        assert!(!calls.contains(&Call::NoNewPrivs), "{case:?}: {calls:?}");
        assert!(late.is_empty(), "{case:?}: {late:?}");
        let Some(notify) = case.notify else {
            assert_eq!(seccomp_at(&calls), None, "{case:?}: {calls:?}");
            continue;
        };
        // Right after the fds, before anything drops a privilege.
        assert_eq!(calls[1], Call::Seccomp { notify }, "{case:?}: {calls:?}");
        assert_eq!(
            calls
                .iter()
                .filter(|c| matches!(c, Call::Seccomp { .. }))
                .count(),
            1
        );
    }
}

#[test]
fn with_no_new_privs_the_filter_is_loaded_after_it_as_late_as_possible() {
    for case in all_cases().into_iter().filter(|c| c.nnp) {
        let (calls, late) = record(case);
        let nnp = pos(&calls, &Call::NoNewPrivs);
        // no_new_privs after the capabilities, as the last of the privileged steps.
        assert!(nnp > pos(&calls, &Call::Uid(1000)), "{case:?}: {calls:?}");
        if case.caps {
            assert!(nnp > pos(&calls, &Call::Caps), "{case:?}: {calls:?}");
        }
        match case.notify {
            None => {
                assert_eq!(seccomp_at(&calls), None);
                assert!(late.is_empty(), "{case:?}: {late:?}");
            }
            // Kept for just before exec.
            Some(false) => {
                assert_eq!(seccomp_at(&calls), None, "{case:?}: {calls:?}");
                assert_eq!(late, [Call::Seccomp { notify: false }], "{case:?}");
            }
            // The agent must get the listener while the runtime listens: the setup's last step.
            Some(true) => {
                assert_eq!(
                    seccomp_at(&calls),
                    Some(calls.len() - 1),
                    "{case:?}: {calls:?}"
                );
                assert!(nnp < calls.len() - 1);
                assert!(late.is_empty(), "{case:?}: {late:?}");
            }
        }
    }
}

#[test]
fn denied_setgroups_with_groups_stops_before_any_id_change() {
    let spec: Spec = serde_json::from_value(serde_json::json!({"ociVersion": "1.2.0"})).unwrap();
    let process = process(false, &[5]);
    let (chan, _peer) = Channel::pair().unwrap();
    let setup = ProcessSetup {
        stage: Stage::ExecProcess,
        spec: &spec,
        process: &process,
        caps: None,
        seccomp: None,
        preserve_fds: 0,
        setgroups: false,
    };
    let mut sys = Recorder::default();
    let err = setup.run_with(&mut sys, &chan).err().unwrap();
    assert!(
        err.to_string().contains("process.user.additionalGids"),
        "{err}"
    );
    assert_eq!(sys.0, [Call::CloseFds(3)]);
    assert_eq!(crate::init::current_step(), "user");
}

#[test]
fn exec_refuses_while_the_filter_is_still_to_load() {
    let spec: Spec = serde_json::from_value(serde_json::json!({"ociVersion": "1.2.0"})).unwrap();
    let process = process(true, &[]);
    let f = filter(false);
    let (chan, _peer) = Channel::pair().unwrap();
    let setup = ProcessSetup {
        stage: Stage::Init,
        spec: &spec,
        process: &process,
        caps: None,
        seccomp: Some(&f),
        preserve_fds: 0,
        setgroups: true,
    };
    let prepared = setup.run_with(&mut Recorder::default(), &chan).unwrap();
    let err = prepared.exec(&process);
    assert!(err.to_string().contains("seccomp filter"), "{err}");
}
