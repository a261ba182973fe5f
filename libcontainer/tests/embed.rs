//! The library driven directly by a multi-threaded tokio program (the way a
//! containerd shim embeds it): `kiln_libcontainer::init()` first in main, then
//! containers created, exec'd into and deleted concurrently from tokio tasks.
//! Own `main` (harness = false): the helper processes are this binary.
//! Needs root and busybox-static (`make test` installs it).

#[path = "../examples/common/mod.rs"]
mod common;
mod embed_cases;

use std::time::{Duration, Instant};

/// One test case: Ok, or what went wrong.
type Case = fn() -> Result<(), String>;

fn main() {
    if std::env::var_os("KILN_EMBED_TEST_NO_INIT").is_some() {
        // The program forgot init(): create must refuse, naming the call.
        std::process::exit(embed_cases::without_init());
    }
    kiln_libcontainer::init();
    if let Some(bundle) = std::env::var_os("KILN_EMBED_TEST_ROOTLESS") {
        // Re-run as an unprivileged user by `rootless_program`.
        let state = std::env::var_os("KILN_EMBED_TEST_STATE").unwrap_or_default();
        std::process::exit(embed_cases::as_nobody(
            &bundle.to_string_lossy(),
            &state.to_string_lossy(),
        ));
    }
    if !nix::unistd::geteuid().is_root() {
        eprintln!("libcontainer/tests/embed.rs needs root (containers with cgroups): FAILED");
        std::process::exit(1);
    }
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let cases: [(&str, Case); 9] = [
        (
            "fifty_containers_from_tokio_tasks",
            embed_cases::fifty_concurrent,
        ),
        (
            "stdin_and_stdout_of_a_container",
            embed_cases::stdio_roundtrip,
        ),
        (
            "errors_keep_their_shape_across_the_helper",
            embed_cases::typed_errors,
        ),
        ("a_killed_helper_leaves_nothing", embed_cases::killed_helper),
        ("try_wait_and_pidfd", embed_cases::try_wait_and_pidfd),
        ("joined_pid_namespace", embed_cases::joined_pid_namespace),
        (
            "create_without_init_is_refused",
            embed_cases::refused_without_init,
        ),
        ("an_unprivileged_program", embed_cases::rootless_program),
        (
            "a_killed_spare_helper_is_replaced",
            embed_cases::killed_spare,
        ),
    ];
    let (mut passed, mut failed) = (0, 0);
    for (name, case) in cases {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let t = Instant::now();
        let r = case();
        // The idle spare helper is the one child a program keeps; end it to count the rest.
        kiln_libcontainer::embed::release_spare();
        let leftovers = embed_cases::leftovers();
        // The shared parent (a create killed before it recorded the cgroups it made leaves it
        // behind, empty, as a killed `kiln create` does after `delete -f`).
        embed_cases::remove_cgroup_parent();
        match (r, leftovers) {
            (Ok(()), Ok(())) => {
                passed += 1;
                println!("test {name} ... ok ({:.1?})", t.elapsed());
            }
            (Err(e), _) | (Ok(()), Err(e)) => {
                failed += 1;
                println!("test {name} ... FAILED: {e}");
            }
        }
    }
    println!("\ntest result: {passed} passed; {failed} failed");
    std::thread::sleep(Duration::from_millis(10));
    std::process::exit(i32::from(failed > 0));
}
