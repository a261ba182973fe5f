//! Runs a busybox container from a multi-threaded program and reads its
//! output through a pipe.
//!
//! `cargo run -p kiln-libcontainer --example run` (as root; needs busybox-static).

mod common;

use std::io::Read;

use kiln_libcontainer::{ContainerBuilder, Stdio};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // First thing in main: kiln starts its helpers from this binary.
    kiln_libcontainer::init();
    // Any thread may create containers: do it from one that is not main.
    match std::thread::spawn(run).join() {
        Ok(result) => result.map_err(|e| e as Box<dyn std::error::Error>),
        Err(_) => Err("the worker thread panicked".into()),
    }
}

fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let work = tempfile::tempdir()?;
    let bundle = work.path().join("bundle");
    common::busybox_bundle(
        &bundle,
        &["sh", "-c", "echo hello from $(hostname), pid $$"],
        "/kiln-examples/run",
    )?;
    let (mut reader, writer) = std::io::pipe()?;
    let mut container = ContainerBuilder::new("example-run", &bundle)
        .root(work.path().join("state"))
        .stdio(Stdio::default().stdout(writer))
        .create()?;
    container.start()?;
    let status = container.wait()?;
    let mut output = String::new();
    reader.read_to_string(&mut output)?;
    print!("{output}");
    println!("exit status: {status:?}");
    container.delete(true)?;
    Ok(())
}
