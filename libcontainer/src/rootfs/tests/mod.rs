//! Root tests of the rootfs module. Each scenario runs in a child process with
//! its own mount namespace (see `harness`); the parent test prepares the bundle.

mod binds;
mod devices;
mod errors;
mod escape;
mod full;
mod harness;
mod masked;

/// A scenario body, run in the child process.
type Scenario = fn(&harness::Child);

/// Scenarios the child process can run, by name.
const SCENARIOS: &[(&str, Scenario)] = &[
    ("default_config", full::default_config_child),
    ("no_pivot", full::no_pivot_child),
    ("propagation_rshared", full::propagation_rshared_child),
    ("propagation_private", full::propagation_private_child),
    ("binds_and_options", binds::binds_and_options_child),
    ("idmapped", binds::idmapped_child),
    ("symlink_escape", escape::symlink_escape_child),
    ("mknod_devices", devices::mknod_devices_child),
    ("devices_in_userns", devices::devices_in_userns_child),
    ("dev_bind", devices::dev_bind_child),
    ("errors", errors::errors_child),
    ("cgroupns", errors::cgroupns_child),
    ("masked_null_impostor", masked::masked_null_impostor_child),
];
