//! Regression tests for the 2025 runc CVEs: what the runtime binds over masked paths and onto
//! /dev/console, and where its writes below /proc land, must be what they must be even when the
//! image or something sharing the container's mounts swapped them (see cve.rs). runc 1.1.5 is
//! vulnerable to all three.

use std::os::unix::fs::symlink;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use kiln_integration_tests::console::{read_all, receive_fd};
use kiln_integration_tests::{skip_for_runc, Canary, Container, HookKind, ScratchDir};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use serde_json::json;

/// Makes `<bundle>/fakedev` the container's /dev (a bind mount in place of the /dev tmpfs,
/// so the runtime creates no devices in it) holding the real null device and a `ptmx` link
/// to the devpts mounted at /dev/pts; returns its path.
fn fake_dev(c: &mut Container) -> PathBuf {
    let dir = c.bundle().path().join("fakedev");
    std::fs::create_dir(&dir).expect("mkdir fakedev");
    let null = dir.join("null");
    let mode = Mode::from_bits_truncate(0o666);
    mknod(&null, SFlag::S_IFCHR, mode, makedev(1, 3)).expect("mknod null");
    symlink("pts/ptmx", dir.join("ptmx")).expect("ptmx link");
    let bind = json!({
        "destination": "/dev", "type": "bind", "source": dir, "options": ["rbind"]
    });
    let mounts = c.config().value_mut()["mounts"]
        .as_array_mut()
        .expect("mounts");
    let at = mounts
        .iter()
        .position(|m| m["destination"] == "/dev")
        .expect("a /dev mount");
    mounts[at] = bind;
    dir
}

#[test]
fn cve_2025_31133_masked_paths_are_the_null_device_or_an_empty_read_only_tmpfs() {
    let mut c = Container::new("masked");
    let paths = c.bundle().config().value()["linux"]["maskedPaths"].clone();
    let paths: Vec<&str> = paths
        .as_array()
        .expect("maskedPaths")
        .iter()
        .filter_map(|p| p.as_str())
        .collect();
    let script = format!(
        "for p in {}; do if [ -d $p ]; then echo \"$p dir $(stat -f -c %T $p) \
         $(ls -A $p | wc -l) $(touch $p/x 2>&1 | grep -c Read-only)\"; \
         elif [ -e $p ]; then echo \"$p $(stat -c '%F %t:%T' $p)\"; fi; done",
        paths.join(" ")
    );
    let out = c.sh(&script);
    assert!(!out.trim().is_empty(), "no masked path exists: {out}");
    for line in out.lines() {
        let (path, what) = line.split_once(' ').expect("path and description");
        assert!(
            what == "character special file 1:3" || what == "dir tmpfs 0 1",
            "masked path {path} is {what:?}"
        );
    }
}

#[test]
fn cve_2025_31133_a_dev_null_that_is_not_the_null_device_is_refused() {
    // runc < 1.2.8 bound whatever /dev/null was over the masked paths: a container whose
    // /dev/null was swapped for a symlink (e.g. to /proc/sys/kernel/core_pattern) got that file,
    // writable, instead of the mask.
    type Impostor = fn(&Path);
    let impostors: [(&str, Impostor); 3] = [
        ("a symbolic link", |p| symlink("/leak", p).expect("symlink")),
        ("a regular file", |p| std::fs::write(p, "").expect("file")),
        ("the character device 1:5", |p| {
            let mode = Mode::from_bits_truncate(0o666);
            mknod(p, SFlag::S_IFCHR, mode, makedev(1, 5)).expect("mknod")
        }),
    ];
    for (what, make) in impostors {
        let mut c = Container::new("devnull");
        let dev = fake_dev(&mut c);
        std::fs::remove_file(dev.join("null")).expect("rm null");
        make(&dev.join("null"));
        std::fs::write(c.rootfs().join("leak"), "leak\n").expect("leak");
        std::fs::write(c.rootfs().join("secret"), "secret\n").expect("secret");
        c.config()
            .masked_paths(&["/secret"])
            .sh("stat -c '%F %t:%T' /secret; cat /secret");
        let out = c.run_with(&[]);
        assert!(!out.success(), "/dev/null {what}: {}", out.describe());
        let words = format!("/dev/null is {what}, not the character device 1:3");
        assert!(out.stderr.contains(&words), "{}", out.describe());
        c.assert_nothing_left();
    }
}

/// `create --console-socket` of `c`, whose socket nobody accepts (the runtime connects and
/// sends into the backlog).
fn create_with_console(c: &mut Container, dir: &ScratchDir) -> kiln_integration_tests::Output {
    let sock = dir.join("console.sock");
    let _listener = UnixListener::bind(&sock).expect("bind console socket");
    c.config().set(&["process", "terminal"], true.into());
    c.create_with(&["--console-socket", &sock.to_string_lossy()])
}

#[test]
fn cve_2025_52565_dev_console_is_the_container_s_pty() {
    let dir = ScratchDir::new("console").expect("dir");
    let sock = dir.join("console.sock");
    let listener = UnixListener::bind(&sock).expect("bind console socket");
    let mut c = Container::new("console");
    c.config().set(&["process", "terminal"], true.into()).sh(
        "stat -c '%F %t' /dev/console; stat -c %T /dev/console; stat -L -c %T /proc/self/fd/0; \
         stat -f -c %T /dev/console",
    );
    let server = std::thread::spawn(move || receive_fd(&listener));
    c.create_with(&["--console-socket", &sock.to_string_lossy()])
        .expect_success();
    let (_, master) = server.join().expect("console master");
    c.start();
    let out = read_all(master);
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(lines.len(), 4, "{out:?}");
    assert_eq!(lines[0], "character special file 88", "major 136: {out:?}");
    assert_eq!(
        lines[1], lines[2],
        "/dev/console is not stdin's pty: {out:?}"
    );
    assert_eq!(lines[3], "devpts", "{out:?}");
}

#[test]
fn cve_2025_52565_a_dev_console_that_is_not_a_file_is_refused() {
    // runc < 1.2.8 created /dev/console following a symlink (truncating its target) and bound
    // the pty onto wherever it led; a racing container could point it at /proc/sys/... files.
    for (what, link) in [("a symbolic link", true), ("a directory", false)] {
        let dir = ScratchDir::new("console").expect("dir");
        let mut c = Container::new("consolesym");
        let dev = fake_dev(&mut c);
        let target = c.rootfs().join("etc/target");
        std::fs::write(&target, "target\n").expect("target");
        if link {
            symlink("/etc/target", dev.join("console")).expect("symlink");
        } else {
            std::fs::create_dir(dev.join("console")).expect("mkdir");
        }
        c.config().sh("echo RAN");
        let out = create_with_console(&mut c, &dir);
        let words = format!("/dev/console is {what}, not a file or a pty");
        assert!(
            !out.success() && out.stderr.contains(&words),
            "{}",
            out.describe()
        );
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "target\n");
        c.assert_nothing_left();
    }
}

/// A createContainer hook that bind-mounts `source` over each of `targets` (host paths below
/// the rootfs), as something sharing the container's mount namespace could.
fn overmount_hook(c: &mut Container, source: &Path, targets: &[PathBuf]) {
    let script: String = targets
        .iter()
        .map(|t| format!("/bin/mount --bind {} {} && ", source.display(), t.display()))
        .chain(["true".to_string()])
        .collect();
    c.config().hook(
        HookKind::CreateContainer,
        "/bin/sh",
        &["sh", "-c", &script],
        &[],
        None,
    );
}

#[test]
fn cve_2025_52881_a_sysctl_write_is_not_redirected_by_a_bind_mount() {
    // runc < 1.2.8 wrote sysctls (and LSM labels) by path below the container's /proc: a bind
    // mount over /proc/sys/... redirected the write (to e.g. the host's core_pattern).
    let canary = Canary::new("sysctl").expect("canary");
    let mut c = Container::new("sysctlredir");
    let target = c.rootfs().join("proc/sys/kernel/domainname");
    overmount_hook(&mut c, &canary.marker(), &[target]);
    c.config()
        .sysctl("kernel.domainname", "redirected.invalid")
        .args(&["sleep", "1000"]);
    let out = c.create_with(&[]);
    canary.assert_untouched();
    if !out.success() {
        // Refusing is acceptable: the message names the file.
        assert!(
            out.stderr.contains("/proc/sys/kernel/domainname"),
            "{}",
            out.describe()
        );
        return;
    }
    // The hook's mount was there when the sysctl was written.
    let pid = c.pid();
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).expect("mountinfo");
    assert!(
        mountinfo.contains(" /proc/sys/kernel/domainname "),
        "the hook did not mount over the sysctl: {mountinfo}"
    );
    // Written where it belongs: the container's uts namespace.
    let uts = format!("--uts=/proc/{pid}/ns/uts");
    let got = std::process::Command::new("nsenter")
        .args([uts.as_str(), "domainname"])
        .output()
        .expect("nsenter domainname");
    assert_eq!(
        String::from_utf8_lossy(&got.stdout).trim(),
        "redirected.invalid"
    );
}

/// A host process with no capabilities (its bounding set is emptied before it execs `sleep`,
/// so a process with fewer privileges may open its fds through /proc) whose fds 3..64 are all
/// `file` opened for writing. Killed and reaped on drop.
struct FdHolder(std::process::Child);

impl FdHolder {
    fn spawn(file: &Path) -> FdHolder {
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;
        let held = std::fs::OpenOptions::new()
            .write(true)
            .open(file)
            .expect("open the file to hold");
        let raw = held.as_raw_fd();
        let mut cmd = std::process::Command::new("sleep");
        cmd.arg("1000");
        // SAFETY: only dup2 and prctl (async-signal-safe raw syscalls) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                for fd in 3..64 {
                    if fd != raw && libc::dup2(raw, fd) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                for cap in 0..64 {
                    libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0);
                }
                Ok(())
            });
        }
        FdHolder(cmd.spawn().expect("spawn sleep"))
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for FdHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn cve_2025_52881_the_exec_fifo_write_is_not_redirected_by_a_bind_mount() {
    // The init reopens its exec fifo through /proc/self/fd/N and writes to it. Something
    // sharing its mounts bind-mounts the fd directory of another process over the init's: the
    // write of runc < 1.2.8 goes to that process' fd N, here a host file.
    let canary = Canary::new("fifo").expect("canary");
    let holder = FdHolder::spawn(&canary.marker());
    let mut c = Container::new("fiforedir");
    let proc1 = c.rootfs().join("proc/1");
    let source = PathBuf::from(format!("/proc/{}/fd", holder.pid()));
    overmount_hook(
        &mut c,
        &source,
        &[proc1.join("fd"), proc1.join("task/1/fd")],
    );
    c.config().sh("echo RAN");
    let created = c.create_with(&[]).expect_success();
    let started = c.try_start();
    canary.assert_untouched();
    assert!(
        !c.output().contains("RAN"),
        "the program ran: {}",
        started.describe()
    );
    let started = started.expect_failure();
    // runc differs: a runc that refuses words it otherwise.
    if !skip_for_runc("the refusal is worded otherwise") {
        // The init reports on the stderr it got from create.
        let err = created.stdout_path.with_extension("err");
        let text = std::fs::read_to_string(&err).unwrap_or_default();
        assert!(
            text.contains("does not lead to the file it must reopen"),
            "{text:?} {} {}",
            created.describe(),
            started.describe()
        );
    }
}
