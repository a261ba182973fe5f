//! Starts a long-running container, execs a command into it and reads the
//! command's output, then removes the container.
//!
//! `cargo run -p kiln-libcontainer --example exec` (as root; needs busybox-static).

mod common;

use std::io::Read;

use kiln_libcontainer::{ContainerBuilder, ExecOptions, Stdio};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    kiln_libcontainer::init();
    let work = tempfile::tempdir()?;
    let bundle = work.path().join("bundle");
    common::busybox_bundle(&bundle, &["sleep", "1000"], "/kiln-examples/exec")?;
    let mut container = ContainerBuilder::new("example-exec", &bundle)
        .root(work.path().join("state"))
        .create()?;
    container.start()?;
    let process = common::process(&["sh", "-c", "echo exec in $(hostname): $(id)"]);
    let (mut reader, writer) = std::io::pipe()?;
    let opts = ExecOptions {
        stdio: Stdio::default().stdout(writer),
        ..Default::default()
    };
    let exec = container.exec(&process, &opts)?;
    drop(opts);
    let status = exec.wait()?;
    let mut output = String::new();
    reader.read_to_string(&mut output)?;
    print!("{output}");
    println!("exec exit status: {status:?}");
    container.delete(true)?;
    Ok(())
}
