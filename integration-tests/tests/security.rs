//! Security properties of the container process.

use kiln_integration_tests::{skip_for_runc, sys, Container};

#[test]
fn runtime_binary_is_not_writable_through_proc_exe() {
    let mut c = Container::new("exe");
    c.config().args(&["true"]);
    c.create();
    let pid = c.pid();
    let exe = format!("/proc/{pid}/exe");
    // Opening for writing without O_TRUNC: harmless even if it were to succeed.
    let result = std::fs::OpenOptions::new().write(true).open(&exe);
    let err = match result {
        Ok(_) => panic!("{exe} (the runtime's init) opened for writing"),
        Err(err) => err,
    };
    eprintln!("open {exe} for writing: {err}");
    let errno = err.raw_os_error();
    assert!(
        errno == Some(libc::EROFS) || errno == Some(libc::ETXTBSY),
        "unexpected error {err}"
    );
    // runc differs: runc 1.1 runs its init from a sealed memfd copy (ETXTBSY); kiln must run
    // it from a read-only view of its binary.
    if skip_for_runc("init is a memfd copy, not a read-only mount") {
        return;
    }
    assert_eq!(errno, Some(libc::EROFS), "{err}");
}

#[test]
fn only_stdio_fds_are_open_in_the_container() {
    let mut c = Container::new("fds");
    let out = c.sh("ls -l /proc/self/fd");
    let mut fds: Vec<String> = out
        .lines()
        .filter_map(|l| {
            let (left, target) = l.split_once(" -> ")?;
            let fd = left.split_whitespace().last()?;
            // ls's own handle on the directory it lists.
            let own = target.starts_with("/proc/") && target.ends_with("/fd");
            (!own).then(|| fd.to_string())
        })
        .collect();
    fds.sort();
    assert_eq!(fds, ["0", "1", "2"], "{out}");
}

#[test]
fn only_stdio_fds_are_open_in_the_running_program() {
    let mut c = Container::new("fdshost");
    c.config().args(&["sleep", "1000"]);
    c.create();
    let pid = c.pid();
    c.start();
    sys::wait_until("the program to be exec'd", || {
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|comm| comm.trim() == "sleep")
    })
    .expect("sleep runs");
    let mut fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read fd dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    fds.sort();
    assert_eq!(fds, ["0", "1", "2"]);
}

#[test]
fn cwd_is_inside_the_container() {
    let mut c = Container::new("cwd");
    c.config().cwd("/tmp");
    let out = c.sh("readlink /proc/self/cwd; ls -di /proc/self/cwd/../../.. /");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"/tmp"), "{out}");
    let inode = |l: &str| l.split_whitespace().next().map(str::to_string);
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(
        inode(lines[1]),
        inode(lines[2]),
        "`..` from the cwd leaves the root: {out}"
    );

    let mut c = Container::new("cwdhost");
    c.config().cwd("/tmp").args(&["sleep", "1000"]);
    c.create();
    let pid = c.pid();
    c.start();
    sys::wait_until("the program to be exec'd", || {
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|comm| comm.trim() == "sleep")
    })
    .expect("sleep runs");
    let cwd = sys::dev_ino(std::path::Path::new(&format!("/proc/{pid}/cwd"))).expect("stat cwd");
    let tmp = sys::dev_ino(&c.rootfs().join("tmp")).expect("stat rootfs/tmp");
    assert_eq!(cwd, tmp, "the program's cwd is not the rootfs' /tmp");
}
