//! Prints the `runc events --stats`-shaped statistics of an existing cgroup.
//!
//! Usage: `cargo run -p kiln-cgroups --example stats -- /path/of/cgroup`

use kiln_cgroups::{CgroupPath, Manager};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: stats <cgroup path, e.g. /kiln/ID>")?;
    let manager = Manager::new(CgroupPath::Fs(path.into()))?;
    println!("{}", serde_json::to_string(&manager.stats()?)?);
    Ok(())
}
