//! process.terminal: the console socket protocol engines use, and the
//! foreground proxy of `run`/`exec -t`.

use std::os::unix::net::UnixListener;
use std::process::Command;

use kiln_integration_tests::console::{read_all, receive_fd};
use kiln_integration_tests::{runtime_bin, Container};

#[test]
fn console_socket_receives_the_pty_master() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let mut c = Container::new("console");
    c.config().set(&["process", "terminal"], true.into());
    c.config().set(
        &["process", "consoleSize"],
        serde_json::json!({"height": 25, "width": 91}),
    );
    c.config()
        .sh("tty; stty size; ls -l /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2");
    let server = std::thread::spawn(move || receive_fd(&listener));
    c.create_with(&["--console-socket", sock.to_str().unwrap()])
        .expect_success();
    let (payload, master) = server.join().unwrap();
    assert_eq!(payload, "/dev/ptmx", "runc sends the master's name");
    c.start();
    let out = read_all(master);
    assert!(out.contains("/dev/pts/0"), "{out}");
    assert!(out.contains("25 91"), "console size not applied: {out}");
    assert_eq!(
        out.matches("-> /dev/pts/0").count(),
        3,
        "stdio is not the pty: {out}"
    );
}

#[test]
fn terminal_without_console_socket_is_refused_when_detached() {
    let mut c = Container::new("notty");
    c.config().set(&["process", "terminal"], true.into());
    let out = c.create_with(&[]);
    assert!(!out.success());
    assert!(
        out.stderr.contains("console socket") || out.stderr.contains("console-socket"),
        "{}",
        out.describe()
    );
    assert!(c.rt().state_entries().is_empty(), "state left behind");
}

#[test]
fn foreground_run_proxies_the_terminal() {
    let mut c = Container::new("ttyrun");
    c.config().set(&["process", "terminal"], true.into());
    c.config().sh("tty; echo done-$((6*7))");
    c.write_config();
    let bin = runtime_bin();
    let cmd = format!(
        "{} --root {} run --bundle {} {}",
        bin.display(),
        c.rt().root().display(),
        c.bundle().path().display(),
        c.id()
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .expect("script");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("/dev/pts/0") && text.contains("done-42"),
        "{text}"
    );
}

#[test]
fn exec_with_a_terminal() {
    let mut c = Container::new("ttyexec");
    c.config().args(&["sleep", "1000"]);
    c.run_with(&["-d"]).expect_success();
    let bin = runtime_bin();
    let cmd = format!(
        "{} --root {} exec -t {} sh -c 'tty; exit 4'",
        bin.display(),
        c.rt().root().display(),
        c.id()
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .expect("script");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("/dev/pts/"), "{text}");
    assert_eq!(out.status.code(), Some(4), "{text}");
}

#[test]
fn foreground_terminal_output_has_bare_newlines_from_the_first_line() {
    // ONLCR is cleared on the pty before the process runs, not once the proxy
    // starts: the first line must not end in "\r\n" when stdout is a file.
    for round in 0..5 {
        let mut c = Container::new("ttyonlcr");
        c.config().set(&["process", "terminal"], true.into());
        c.config().args(&["echo", "first"]);
        c.write_config();
        let dir = tempfile::tempdir().unwrap();
        let out_path = dir.path().join("out");
        let cmd = format!(
            "{} --root {} run --bundle {} {} > {}",
            runtime_bin().display(),
            c.rt().root().display(),
            c.bundle().path().display(),
            c.id(),
            out_path.display()
        );
        let mut script = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("script");
        let status = script.wait().expect("wait for script");
        let out = std::fs::read_to_string(&out_path).unwrap();
        assert!(status.success(), "round {round}: {out:?}");
        // script types a NUL into its terminal at start, which the pty may echo as "^@".
        assert_eq!(out.replace("^@", ""), "first\n", "round {round}");
    }
}
