//! Typed helpers that edit an OCI `config.json` held as a [`serde_json::Value`].

use serde_json::{json, Map, Value};

use crate::spec::default_config;

/// Which of the five capability sets of `process.capabilities`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapSet {
    /// `bounding`
    Bounding,
    /// `effective`
    Effective,
    /// `permitted`
    Permitted,
    /// `inheritable`
    Inheritable,
    /// `ambient`
    Ambient,
}

impl CapSet {
    /// All five sets.
    pub const ALL: [CapSet; 5] = [
        CapSet::Bounding,
        CapSet::Effective,
        CapSet::Permitted,
        CapSet::Inheritable,
        CapSet::Ambient,
    ];

    /// The key of this set in `process.capabilities`.
    pub fn key(self) -> &'static str {
        match self {
            CapSet::Bounding => "bounding",
            CapSet::Effective => "effective",
            CapSet::Permitted => "permitted",
            CapSet::Inheritable => "inheritable",
            CapSet::Ambient => "ambient",
        }
    }

    /// The field of `/proc/<pid>/status` showing this set.
    pub fn status_field(self) -> &'static str {
        match self {
            CapSet::Bounding => "CapBnd",
            CapSet::Effective => "CapEff",
            CapSet::Permitted => "CapPrm",
            CapSet::Inheritable => "CapInh",
            CapSet::Ambient => "CapAmb",
        }
    }
}

/// The lifecycle hooks of `hooks` in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    /// `prestart` (deprecated, still run by runtimes)
    Prestart,
    /// `createRuntime`
    CreateRuntime,
    /// `createContainer`
    CreateContainer,
    /// `startContainer`
    StartContainer,
    /// `poststart`
    Poststart,
    /// `poststop`
    Poststop,
}

impl HookKind {
    /// The key of this hook list in `hooks`.
    pub fn key(self) -> &'static str {
        match self {
            HookKind::Prestart => "prestart",
            HookKind::CreateRuntime => "createRuntime",
            HookKind::CreateContainer => "createContainer",
            HookKind::StartContainer => "startContainer",
            HookKind::Poststart => "poststart",
            HookKind::Poststop => "poststop",
        }
    }
}

/// A `linux.devices` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Path inside the container, e.g. `/dev/mynull`.
    pub path: String,
    /// `c`, `b`, `u` or `p`.
    pub kind: char,
    /// Major number.
    pub major: u64,
    /// Minor number.
    pub minor: u64,
    /// Permission bits (`fileMode`).
    pub file_mode: Option<u32>,
    /// Owner uid.
    pub uid: Option<u32>,
    /// Owner gid.
    pub gid: Option<u32>,
}

/// An OCI runtime configuration under edit; starts as [`default_config`].
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    value: Value,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            value: default_config(),
        }
    }
}

/// The object at `path` below `value`, creating empty objects on the way (replacing non-objects).
fn object_at<'a>(value: &'a mut Value, path: &[&str]) -> &'a mut Map<String, Value> {
    let mut current = value;
    for key in path {
        if !current.is_object() {
            *current = Value::Object(Map::new());
        }
        current = match current {
            Value::Object(map) => map.entry(key.to_string()).or_insert(Value::Null),
            _ => unreachable!("made an object just above"),
        };
    }
    if !current.is_object() {
        *current = Value::Object(Map::new());
    }
    match current {
        Value::Object(map) => map,
        _ => unreachable!("made an object just above"),
    }
}

/// The array `key` of `object`, created empty if absent (replacing a non-array).
fn array_in<'a>(object: &'a mut Map<String, Value>, key: &str) -> &'a mut Vec<Value> {
    let entry = object.entry(key.to_string()).or_insert(json!([]));
    if !entry.is_array() {
        *entry = json!([]);
    }
    match entry {
        Value::Array(items) => items,
        _ => unreachable!("made an array just above"),
    }
}

impl Config {
    /// Wraps an existing JSON value.
    pub fn from_value(value: Value) -> Self {
        Config { value }
    }

    /// The JSON value.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The JSON value, for edits no helper covers.
    pub fn value_mut(&mut self) -> &mut Value {
        &mut self.value
    }

    /// Sets the field at the JSON `path` (keys from the top), creating objects on the way.
    pub fn set(&mut self, path: &[&str], value: Value) -> &mut Self {
        if let Some((last, parents)) = path.split_last() {
            object_at(&mut self.value, parents).insert(last.to_string(), value);
        } else {
            self.value = value;
        }
        self
    }

    /// Removes the field at the JSON `path`.
    pub fn remove(&mut self, path: &[&str]) -> &mut Self {
        if let Some((last, parents)) = path.split_last() {
            object_at(&mut self.value, parents).remove(*last);
        }
        self
    }

    /// `process.args`.
    pub fn args<S: AsRef<str>>(&mut self, args: &[S]) -> &mut Self {
        let args: Vec<Value> = args.iter().map(|a| json!(a.as_ref())).collect();
        self.set(&["process", "args"], Value::Array(args))
    }

    /// `process.args` = `/bin/sh -c <script>`.
    pub fn sh(&mut self, script: &str) -> &mut Self {
        self.args(&["/bin/sh", "-c", script])
    }

    /// Appends `KEY=VALUE` to `process.env`.
    pub fn env(&mut self, key_value: &str) -> &mut Self {
        array_in(object_at(&mut self.value, &["process"]), "env").push(json!(key_value));
        self
    }

    /// `process.cwd`.
    pub fn cwd(&mut self, cwd: &str) -> &mut Self {
        self.set(&["process", "cwd"], json!(cwd))
    }

    /// `process.user` uid, gid and additionalGids.
    pub fn user(&mut self, uid: u32, gid: u32, additional_gids: &[u32]) -> &mut Self {
        let user = object_at(&mut self.value, &["process", "user"]);
        user.insert("uid".into(), json!(uid));
        user.insert("gid".into(), json!(gid));
        if additional_gids.is_empty() {
            user.remove("additionalGids");
        } else {
            user.insert("additionalGids".into(), json!(additional_gids));
        }
        self
    }

    /// `process.user.umask`.
    pub fn umask(&mut self, umask: u32) -> &mut Self {
        self.set(&["process", "user", "umask"], json!(umask))
    }

    /// Replaces the capability `set` with `caps` (names like `CAP_KILL`).
    pub fn capabilities(&mut self, set: CapSet, caps: &[&str]) -> &mut Self {
        self.set(&["process", "capabilities", set.key()], json!(caps))
    }

    /// Sets (or replaces) the rlimit `kind` (e.g. `RLIMIT_NOFILE`).
    pub fn rlimit(&mut self, kind: &str, soft: u64, hard: u64) -> &mut Self {
        let rlimits = array_in(object_at(&mut self.value, &["process"]), "rlimits");
        rlimits.retain(|r| r["type"] != kind);
        rlimits.push(json!({ "type": kind, "soft": soft, "hard": hard }));
        self
    }

    /// `process.noNewPrivileges`.
    pub fn no_new_privileges(&mut self, on: bool) -> &mut Self {
        self.set(&["process", "noNewPrivileges"], json!(on))
    }

    /// `process.oomScoreAdj`.
    pub fn oom_score_adj(&mut self, adj: i32) -> &mut Self {
        self.set(&["process", "oomScoreAdj"], json!(adj))
    }

    /// `hostname`.
    pub fn hostname(&mut self, name: &str) -> &mut Self {
        self.set(&["hostname"], json!(name))
    }

    /// `domainname`.
    pub fn domainname(&mut self, name: &str) -> &mut Self {
        self.set(&["domainname"], json!(name))
    }

    /// `root.readonly`.
    pub fn root_readonly(&mut self, readonly: bool) -> &mut Self {
        self.set(&["root", "readonly"], json!(readonly))
    }

    /// Appends a mount.
    pub fn mount(
        &mut self,
        destination: &str,
        kind: &str,
        source: &str,
        options: &[&str],
    ) -> &mut Self {
        let mount = json!({
            "destination": destination, "type": kind, "source": source, "options": options
        });
        array_in(object_at(&mut self.value, &[]), "mounts").push(mount);
        self
    }

    /// Appends a bind mount of a host path (`bind`, or `rbind` if `recursive`) with extra options.
    pub fn bind(
        &mut self,
        host: &str,
        destination: &str,
        recursive: bool,
        extra: &[&str],
    ) -> &mut Self {
        let mut options = vec![if recursive { "rbind" } else { "bind" }];
        options.extend_from_slice(extra);
        self.mount(destination, "bind", host, &options)
    }

    /// Adds (or replaces) the namespace `kind`, joining `path` if given.
    pub fn namespace(&mut self, kind: &str, path: Option<&str>) -> &mut Self {
        let namespaces = array_in(object_at(&mut self.value, &["linux"]), "namespaces");
        namespaces.retain(|n| n["type"] != kind);
        namespaces.push(match path {
            Some(path) => json!({ "type": kind, "path": path }),
            None => json!({ "type": kind }),
        });
        self
    }

    /// Removes the namespace `kind`.
    pub fn remove_namespace(&mut self, kind: &str) -> &mut Self {
        array_in(object_at(&mut self.value, &["linux"]), "namespaces")
            .retain(|n| n["type"] != kind);
        self
    }

    /// Appends a `linux.uidMappings` entry.
    pub fn uid_mapping(&mut self, container_id: u32, host_id: u32, size: u32) -> &mut Self {
        self.id_mapping("uidMappings", container_id, host_id, size)
    }

    /// Appends a `linux.gidMappings` entry.
    pub fn gid_mapping(&mut self, container_id: u32, host_id: u32, size: u32) -> &mut Self {
        self.id_mapping("gidMappings", container_id, host_id, size)
    }

    fn id_mapping(&mut self, key: &str, container_id: u32, host_id: u32, size: u32) -> &mut Self {
        let entry = json!({ "containerID": container_id, "hostID": host_id, "size": size });
        array_in(object_at(&mut self.value, &["linux"]), key).push(entry);
        self
    }

    /// Sets `linux.timeOffsets.<clock>` (`boottime` or `monotonic`).
    pub fn time_offset(&mut self, clock: &str, secs: i64, nanosecs: u32) -> &mut Self {
        self.set(
            &["linux", "timeOffsets", clock],
            json!({ "secs": secs, "nanosecs": nanosecs }),
        )
    }

    /// Appends a hook: `path` with `args` (argv, including argv[0]), `env` and an optional timeout.
    pub fn hook(
        &mut self,
        kind: HookKind,
        path: &str,
        args: &[&str],
        env: &[&str],
        timeout: Option<u32>,
    ) -> &mut Self {
        let mut hook = json!({ "path": path, "args": args });
        if !env.is_empty() {
            hook["env"] = json!(env);
        }
        if let Some(timeout) = timeout {
            hook["timeout"] = json!(timeout);
        }
        array_in(object_at(&mut self.value, &["hooks"]), kind.key()).push(hook);
        self
    }

    /// Appends paths to `linux.maskedPaths`.
    pub fn masked_paths(&mut self, paths: &[&str]) -> &mut Self {
        let masked = array_in(object_at(&mut self.value, &["linux"]), "maskedPaths");
        masked.extend(paths.iter().map(|p| json!(p)));
        self
    }

    /// Appends paths to `linux.readonlyPaths`.
    pub fn readonly_paths(&mut self, paths: &[&str]) -> &mut Self {
        let readonly = array_in(object_at(&mut self.value, &["linux"]), "readonlyPaths");
        readonly.extend(paths.iter().map(|p| json!(p)));
        self
    }

    /// Appends a `linux.devices` entry.
    pub fn device(&mut self, device: &Device) -> &mut Self {
        let mut entry = json!({
            "path": device.path, "type": device.kind.to_string(),
            "major": device.major, "minor": device.minor
        });
        if let Some(mode) = device.file_mode {
            entry["fileMode"] = json!(mode);
        }
        if let Some(uid) = device.uid {
            entry["uid"] = json!(uid);
        }
        if let Some(gid) = device.gid {
            entry["gid"] = json!(gid);
        }
        array_in(object_at(&mut self.value, &["linux"]), "devices").push(entry);
        self
    }

    /// Sets `linux.sysctl.<key>`.
    pub fn sysctl(&mut self, key: &str, value: &str) -> &mut Self {
        object_at(&mut self.value, &["linux", "sysctl"]).insert(key.into(), json!(value));
        self
    }

    /// `linux.cgroupsPath`.
    pub fn cgroups_path(&mut self, path: &str) -> &mut Self {
        self.set(&["linux", "cgroupsPath"], json!(path))
    }

    /// Sets `linux.resources.<path...>`, e.g. `resources(&["pids", "limit"], json!(10))`.
    pub fn resources(&mut self, path: &[&str], value: Value) -> &mut Self {
        let mut full = vec!["linux", "resources"];
        full.extend_from_slice(path);
        self.set(&full, value)
    }

    /// Sets `annotations.<key>`.
    pub fn annotation(&mut self, key: &str, value: &str) -> &mut Self {
        object_at(&mut self.value, &["annotations"]).insert(key.into(), json!(value));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_land_where_the_spec_puts_them() {
        let mut c = Config::default();
        c.sh("echo hi")
            .env("A=b")
            .rlimit("RLIMIT_NOFILE", 10, 20)
            .namespace("network", Some("/x"));
        c.sysctl("kernel.x", "1")
            .annotation("k", "v")
            .resources(&["pids", "limit"], json!(5));
        c.hook(HookKind::Poststop, "/bin/true", &["true"], &[], Some(3));
        let v = c.value();
        assert_eq!(v["process"]["args"], json!(["/bin/sh", "-c", "echo hi"]));
        assert_eq!(v["process"]["env"][2], "A=b");
        assert_eq!(
            v["process"]["rlimits"],
            json!([{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20}])
        );
        assert_eq!(
            v["linux"]["namespaces"][4],
            json!({"type": "network", "path": "/x"})
        );
        assert_eq!(v["linux"]["sysctl"]["kernel.x"], "1");
        assert_eq!(v["annotations"]["k"], "v");
        assert_eq!(v["linux"]["resources"]["pids"]["limit"], 5);
        assert_eq!(v["hooks"]["poststop"][0]["timeout"], 3);
    }
}
