//! The D-Bus client and the manager wrapper against a real systemd (PID 1): run in the
//! systemd VM (integration-tests/systemd-vm); `#[ignore]`d elsewhere.

use std::process::Command;

use kiln_cgroups::systemd::dbus::{Connection, Value};
use kiln_cgroups::systemd::manager::Systemd;

fn prop(name: &str, v: Value) -> Value {
    Value::Struct(vec![Value::Str(name.into()), Value::Variant(Box::new(v))])
}

#[test]
#[ignore = "needs systemd as PID 1 (integration-tests/systemd-vm)"]
fn a_transient_scope_with_limits_comes_and_goes() {
    let mut sd = Systemd::new(Connection::system().expect("system bus")).expect("subscribe");
    let mut child = Command::new("sleep").arg("60").spawn().unwrap();
    let unit = format!("kiln-test-{}.scope", child.id());
    sd.start_transient(
        &unit,
        vec![
            prop("Description", Value::Str("kiln test".into())),
            prop("Slice", Value::Str("system.slice".into())),
            prop("Delegate", Value::Bool(true)),
            prop(
                "PIDs",
                Value::Array("u".into(), vec![Value::U32(child.id())]),
            ),
            prop("MemoryAccounting", Value::Bool(true)),
            prop("MemoryMax", Value::U64(64 << 20)),
            prop("TasksMax", Value::U64(42)),
        ],
    )
    .unwrap();
    let dir = format!("/sys/fs/cgroup/system.slice/{unit}");
    let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).unwrap_or_default();
    assert_eq!(read("memory.max").trim(), (64u64 << 20).to_string());
    assert_eq!(read("pids.max").trim(), "42");
    assert!(read("cgroup.procs").contains(&child.id().to_string()));
    sd.set_properties(&unit, vec![prop("TasksMax", Value::U64(7))])
        .unwrap();
    assert_eq!(read("pids.max").trim(), "7");
    child.kill().unwrap();
    child.wait().unwrap();
    sd.stop(&unit).unwrap();
    assert!(!std::path::Path::new(&dir).exists(), "{dir} left");
    // Stopping it again is fine; a bad name is an error naming the unit.
    assert!(
        !sd.stop(&unit).unwrap(),
        "a unit already gone is reported as not loaded"
    );
    let err = sd.start_transient("not a unit name", vec![]).unwrap_err();
    assert!(err.to_string().contains("not a unit name"), "{err}");
}

fn show(unit: &str, prop: &str) -> String {
    let out = Command::new("systemctl")
        .args(["show", "-p", prop, "--value", unit])
        .output()
        .expect("systemctl show");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The driver as kiln-libcontainer uses it: `Manager` for a `slice:prefix:name` path.
#[test]
#[ignore = "needs systemd as PID 1 (integration-tests/systemd-vm)"]
fn the_manager_drives_a_scope_through_its_life() {
    use kiln_cgroups::{CgroupPath, Manager, SystemdProperties};
    let mut child = Command::new("sleep").arg("60").spawn().unwrap();
    let name = format!("m{}", child.id());
    let path = CgroupPath::parse(Some(&format!("system.slice:kiln-lib:{name}")), &name, true)
        .expect("parse");
    let m = Manager::new(path).expect("manager");
    assert!(m.is_systemd());
    let unit = format!("kiln-lib-{name}.scope");
    let res = |v: serde_json::Value| serde_json::from_value(v).unwrap();
    let annotations: std::collections::HashMap<String, String> = [(
        "org.systemd.property.TimeoutStopSec".to_string(),
        "uint64 17".to_string(),
    )]
    .into();
    let extra = SystemdProperties::from_annotations(&annotations).unwrap();
    m.start_unit(
        child.id() as i32,
        &res(serde_json::json!({
            "memory": {"limit": 67108864},
            "cpu": {"shares": 512},
            "pids": {"limit": 32},
            "unified": {"memory.high": "50331648"}
        })),
        &extra,
    )
    .expect("start_unit");
    let dir = std::path::PathBuf::from(format!("/sys/fs/cgroup/system.slice/{unit}"));
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
    assert_eq!(show(&unit, "MemoryMax"), "67108864");
    assert_eq!(show(&unit, "CPUWeight"), "20");
    assert_eq!(show(&unit, "TasksMax"), "32");
    assert_eq!(show(&unit, "Delegate"), "yes");
    assert_eq!(show(&unit, "TimeoutStopUSec"), "17s");
    // systemd has no property for a unified key: it is written to the scope's file.
    assert_eq!(read("memory.high").trim(), "50331648");
    assert!(read("cgroup.procs").contains(&child.id().to_string()));
    // update: unit properties and files.
    m.apply(&res(serde_json::json!({"pids": {"limit": 40}})))
        .expect("apply");
    assert_eq!(show(&unit, "TasksMax"), "40");
    assert_eq!(read("pids.max").trim(), "40");
    m.freeze().expect("freeze");
    assert_eq!(read("cgroup.freeze").trim(), "1");
    m.thaw().expect("thaw");
    m.kill_all(libc::SIGKILL).expect("kill_all");
    child.wait().unwrap();
    m.destroy().expect("destroy");
    assert!(!dir.exists(), "{} left", dir.display());
    assert_eq!(show(&unit, "LoadState"), "not-found");
    m.destroy().expect("destroy twice");
}
