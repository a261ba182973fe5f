//! The systemd cgroup driver: a [`Manager`] for a `slice:prefix:name` path has systemd start
//! the container's transient scope (with the init in it and the resources as unit
//! properties) and stop it again; everything else (joining, freezing, signalling, statistics,
//! the files systemd has no property for) goes through the scope's cgroup files, as for the
//! cgroupfs driver.

use oci_spec::runtime::LinuxResources;

use super::annotations::SystemdProperties;
use super::dbus::{Connection, Value};
use super::manager::{Systemd, UnitError};
use super::properties::{prop, resource_properties};
use crate::layout::Layout;
use crate::{resources, CgroupError, Manager};

impl Manager {
    /// Whether this is the systemd driver (the path is a `slice:prefix:name` triple).
    pub fn is_systemd(&self) -> bool {
        matches!(self.cgroup_path(), crate::CgroupPath::Systemd { .. })
    }

    /// systemd driver: starts the container's scope unit with process `pid` in it, `resources`
    /// and `extra` (the `org.systemd.property.*` annotations) as its properties, waiting for
    /// the job. Then, as runc, creates what systemd did not (the v1 hierarchies of a hybrid
    /// host) with `pid` in it, and writes the resources systemd has no property for (unified
    /// keys, swappiness, the eBPF device program, …) to the scope's files.
    ///
    /// As root this is systemd's system instance (system bus). For an unprivileged caller it
    /// is the user's own instance (session bus); its slices live below the user's
    /// `user@<uid>.service`, so the returned manager is the one placed where systemd put the
    /// scope ([`Manager::relative`], to be recorded and given to [`Manager::placed_at`] when
    /// the container is loaded again).
    pub fn start_unit(
        &self,
        pid: i32,
        resources: &LinuxResources,
        extra: &SystemdProperties,
    ) -> Result<Manager, CgroupError> {
        let res = resources::validate(resources)?;
        let (unit, slice) = self.unit_and_slice()?;
        let pid = u32::try_from(pid).map_err(|_| CgroupError::Signal {
            pid,
            signal: 0,
            source: std::io::Error::from_raw_os_error(libc::ESRCH),
        })?;
        let mut props = vec![
            prop("Description", Value::Str(format!("kiln container {unit}"))),
            prop("Slice", Value::Str(slice)),
            prop("Delegate", Value::Bool(true)),
            prop("DefaultDependencies", Value::Bool(false)),
            prop("PIDs", Value::Array("u".into(), vec![Value::U32(pid)])),
        ];
        props.extend(resource_properties(&res));
        props.extend(extra.0.iter().cloned());
        let manager = self.with_bus(|bus| {
            bus.start_transient(&unit, props)?;
            match bus.is_user {
                // The user instance's slices are below its own cgroup: ask where.
                true => bus.control_group(&unit).map(Some),
                false => Ok(None),
            }
        })?;
        let manager = match manager {
            Some(cg) => self.clone().placed_at(cg.trim_start_matches('/').into()),
            None => self.clone(),
        };
        if let Err(e) = manager.finish_start(pid, &res) {
            // The unit is ours: it goes with the failed create.
            if let Err(stop) = manager.stop_unit() {
                log::warn!("stopping {unit} after a failed start: {stop}");
            }
            return Err(e);
        }
        Ok(manager)
    }

    /// After the unit started: what systemd did not make, and the files it cannot set.
    fn finish_start(&self, pid: u32, res: &resources::Resources) -> Result<(), CgroupError> {
        self.create()?;
        if self.layout() != Layout::V2 {
            self.add_process(pid as i32)?;
        }
        self.apply_files(res)
    }

    /// systemd driver: sets the resources as properties of the running unit (`update`).
    pub(crate) fn set_unit_properties(
        &self,
        res: &resources::Resources,
    ) -> Result<(), CgroupError> {
        let (unit, _) = self.unit_and_slice()?;
        let props = resource_properties(res);
        self.with_bus(|bus| bus.set_properties(&unit, props))
    }

    /// systemd driver: stops the unit (a unit already gone is fine) and forgets a failed one.
    pub(crate) fn stop_unit(&self) -> Result<(), CgroupError> {
        let (unit, _) = self.unit_and_slice()?;
        if !transient_unit_may_be_loaded(&unit) {
            return Ok(());
        }
        self.with_bus(|bus| match bus.stop(&unit)? {
            true => bus.reset_failed(&unit),
            false => Ok(()),
        })
    }

    fn unit_and_slice(&self) -> Result<(String, String), CgroupError> {
        let path = self.cgroup_path();
        match (path.unit(), path.slice()) {
            (Some(unit), Some(slice)) => Ok((unit, slice.to_string())),
            _ => Err(CgroupError::InvalidPath {
                path: format!("{path:?}"),
                reason: "not a systemd slice:prefix:name path".into(),
            }),
        }
    }

    /// Runs `f` on the bus connection to systemd's manager, connecting on first use.
    fn with_bus<T>(
        &self,
        f: impl FnOnce(&mut Systemd) -> Result<T, UnitError>,
    ) -> Result<T, CgroupError> {
        let mut guard = self.bus.lock().unwrap_or_else(|p| p.into_inner());
        let bus = match guard.take() {
            Some(bus) => guard.insert(bus),
            None => guard.insert(connect()?),
        };
        Ok(f(bus)?)
    }
}

/// Whether systemd (the system instance) may still have `unit` loaded. systemd keeps the unit
/// file of every loaded transient unit in `/run/systemd/transient/` and removes it when the unit
/// is unloaded: without that file there is nothing to stop or reset, and `delete` of a
/// container whose scope systemd already collected (its processes died) needs no D-Bus
/// connection at all (measured in the VM: … ). Anything else (no such directory, a user's
/// instance, the file there) asks systemd.
fn transient_unit_may_be_loaded(unit: &str) -> bool {
    let dir = std::path::Path::new("/run/systemd/transient");
    super::user_instance() || !dir.is_dir() || dir.join(unit).exists()
}

/// A connection to systemd's manager: the system instance for real root, the user's own
/// instance (on the session bus) for anyone else ([`super::user_instance`]).
fn connect() -> Result<Systemd, CgroupError> {
    let user = super::user_instance();
    let conn = match user {
        true => super::instance::take_session().map_or_else(Connection::session, Ok),
        false => Connection::system(),
    }
    .map_err(CgroupError::SystemdBus)?;
    let mut sd = Systemd::new(conn).map_err(CgroupError::SystemdBus)?;
    sd.is_user = user;
    Ok(sd)
}
