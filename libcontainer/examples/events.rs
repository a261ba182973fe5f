//! Prints the events of a container as JSON lines (what `kiln events` prints, plus the final
//! `exit` event), with statistics every second, until the container's init exits.
//!
//! Usage: `cargo run -p kiln-libcontainer --example events -- ID [STATE_ROOT] [INTERVAL_MS]`
//! (the state root defaults to `/run/kiln`). It only reads the container's state, so it
//! does not need to run as the container's creator.

use std::time::Duration;

use kiln_libcontainer::{Container, Event, StateRoot};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let id = args
        .next()
        .ok_or("usage: events ID [STATE_ROOT] [INTERVAL_MS]")?;
    let root = StateRoot::existing(args.next().unwrap_or_else(|| "/run/kiln".into()));
    let interval = match args.next() {
        Some(ms) => Duration::from_millis(ms.parse()?),
        None => Duration::from_secs(1),
    };
    let container = Container::load(&root, &id)?;
    for event in container.events(interval)? {
        let event = event?;
        println!("{}", serde_json::to_string(&event)?);
        if let Event::Oom { id } = &event {
            eprintln!("container {id} ran out of memory");
        }
    }
    Ok(())
}
