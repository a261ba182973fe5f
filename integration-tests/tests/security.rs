//! Security properties of the container process.

use kiln_integration_tests::{sys, Container};

#[test]
fn only_stdio_fds_are_open_in_the_container() {
    let mut c = Container::new("fds");
    let out = c.sh("ls -l /proc/self/fd");
    let fds = kiln_integration_tests::checks::listed_fds(&out);
    assert_eq!(fds, ["0", "1", "2"], "{out}");
}

#[test]
fn only_stdio_fds_are_open_in_the_running_program() {
    let mut c = Container::new("fdshost");
    c.config().args(&["sleep", "1000"]);
    c.create();
    let pid = c.pid();
    c.start();
    sys::wait_comm(pid, "sleep").expect("sleep runs");
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
    sys::wait_comm(pid, "sleep").expect("sleep runs");
    let cwd = sys::dev_ino(std::path::Path::new(&format!("/proc/{pid}/cwd"))).expect("stat cwd");
    let tmp = sys::dev_ino(&c.rootfs().join("tmp")).expect("stat rootfs/tmp");
    assert_eq!(cwd, tmp, "the program's cwd is not the rootfs' /tmp");
}

#[test]
fn preserve_fds_passes_exactly_the_given_fds() {
    use std::os::unix::process::CommandExt;
    let mut c = Container::new("pfds");
    c.config()
        // A plain command, no pipeline: the shell must not hold pipe fds of
        // its own while its fd table is listed.
        .sh("ls -1 /proc/$$/fd; echo END; cat <&3");
    c.write_config();
    let data = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(data.path(), "from-fd-3\n").unwrap();
    let file = std::fs::File::open(data.path()).unwrap();
    let extra = std::fs::File::open("/dev/null").unwrap();
    use std::os::fd::AsRawFd;
    let (f3, f4) = (file.as_raw_fd(), extra.as_raw_fd());
    let mut cmd = std::process::Command::new(kiln_integration_tests::runtime_bin());
    cmd.args([
        "--root",
        c.rt().root().to_str().unwrap(),
        "run",
        "--preserve-fds",
        "1",
        "--bundle",
    ])
    .arg(c.bundle().path())
    .arg(c.id());
    // SAFETY: only dup2 (async-signal-safe) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(f3, 3) < 0 || libc::dup2(f4, 4) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().expect("run the runtime");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (listing, rest) = text.split_once("END\n").unwrap_or_default();
    // The container's shell has 0-2 and the preserved 3; never 4.
    let mut fds: Vec<u32> = listing
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    fds.sort();
    assert_eq!(fds, [0, 1, 2, 3], "{text}");
    assert_eq!(rest.trim(), "from-fd-3", "{text}");
}
