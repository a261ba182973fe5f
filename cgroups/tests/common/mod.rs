//! Helpers shared by the root tests: a cgroup guard that always cleans up, and forked
//! children that wait on a pipe until they have been moved into the cgroup.

#![allow(dead_code)] // Each test binary uses a different subset.

use std::ffi::CString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use kiln_cgroups::{CgroupPath, Layout, Manager};

/// True when running as root (the tests that need it skip themselves otherwise).
pub fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// A unique name for a test's top-level cgroup.
pub fn unique_name(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("kiln-test-{tag}-{}-{nanos:x}", std::process::id())
}

/// A test cgroup `/<kiln-test-…>/ctr`; dropping it kills its children, destroys the cgroup
/// and removes any leftover `kiln-test-…` directory in every hierarchy.
pub struct TestCgroup {
    pub top: String,
    pub manager: Manager,
    pub children: Vec<Child>,
}

impl TestCgroup {
    pub fn new(tag: &str, layout: Layout) -> Self {
        let top = unique_name(tag);
        let path = CgroupPath::Fs(PathBuf::from(format!("/{top}/ctr")));
        let manager = Manager::new(path).expect("manager");
        assert_eq!(manager.layout(), layout);
        Self {
            top,
            manager,
            children: Vec::new(),
        }
    }

    /// The container directory in hierarchy `name` (`unified` for cgroup2).
    pub fn dir(&self, name: &str) -> PathBuf {
        self.manager
            .paths()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p)
            .unwrap_or_else(|| panic!("no {name} hierarchy"))
    }

    /// Reads a file of the container cgroup in hierarchy `hierarchy`.
    pub fn read(&self, hierarchy: &str, file: &str) -> String {
        let p = self.dir(hierarchy).join(file);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
    }

    /// Forks a child running `action`, moves it into the cgroup, then lets it go.
    pub fn spawn(&mut self, action: Action) -> usize {
        let child = Child::fork(action);
        self.manager.add_process(child.pid).expect("add_process");
        child.release();
        self.children.push(child);
        self.children.len() - 1
    }

    /// Leftover top-level directories of this test in any hierarchy.
    pub fn leftovers(&self) -> Vec<PathBuf> {
        hierarchy_roots()
            .into_iter()
            .map(|r| r.join(&self.top))
            .filter(|p| p.exists())
            .collect()
    }
}

/// Mount points of all hierarchies under /sys/fs/cgroup (and /sys/fs/cgroup itself on v2).
pub fn hierarchy_roots() -> Vec<PathBuf> {
    let mut out = vec![PathBuf::from("/sys/fs/cgroup")];
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) && e.path().join("cgroup.procs").exists() {
                out.push(e.path());
            }
        }
    }
    out
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        for c in &mut self.children {
            c.kill_and_reap();
        }
        let _ = self.manager.thaw();
        let _ = self.manager.destroy();
        // Safety net: remove anything of ours that is left, innermost first.
        for top in self.leftovers() {
            let _ = std::fs::remove_dir(top.join("ctr"));
            let _ = std::fs::remove_dir(&top);
        }
    }
}

/// What a forked child does once released. Only async-signal-safe work happens in the child.
#[derive(Clone, Copy, Debug)]
pub enum Action {
    /// Sleep until killed.
    Sleep,
    /// Burn CPU until killed.
    Spin,
    /// open(2) the path (index into `DEVICES`) read-write and exit with 0 or the errno.
    Open(usize),
    /// Allocate and touch this many bytes, then exit 0.
    Alloc(usize),
    /// Allocate and touch this many bytes, then sleep until killed.
    Hold(usize),
}

/// Device paths the `Open` action can use.
pub const DEVICES: [&str; 2] = ["/dev/null", "/dev/zero"];

/// A forked child process, killed and reaped on drop.
pub struct Child {
    pub pid: i32,
    release_fd: i32,
    reaped: bool,
}

impl Child {
    /// Forks a child that waits for [`Child::release`] and then runs `action`.
    pub fn fork(action: Action) -> Self {
        let paths: Vec<CString> = DEVICES.iter().map(|d| CString::new(*d).unwrap()).collect();
        let mut fds = [0i32; 2];
        // SAFETY: pipe2(2) writes two descriptors into the array we own.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: the child only makes async-signal-safe calls (read, open, mmap, pause,
        // _exit) on data prepared before the fork.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: we are the freshly forked child.
            unsafe { child_main(fds[0], action, &paths) }
        }
        // SAFETY: closing our copy of the read end, which we own.
        unsafe { libc::close(fds[0]) };
        Self {
            pid,
            release_fd: fds[1],
            reaped: false,
        }
    }

    /// Starts a sleeping child directly inside the cgroup open as `cgroup_fd`, with
    /// `clone3(CLONE_INTO_CGROUP)`.
    pub fn clone_into(cgroup_fd: &std::os::fd::OwnedFd) -> Self {
        use std::os::fd::AsRawFd;
        const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
        let mut args = [0u64; 11];
        args[0] = CLONE_INTO_CGROUP; // flags
        args[4] = libc::SIGCHLD as u64; // exit_signal
        args[10] = cgroup_fd.as_raw_fd() as u64; // cgroup
                                                 // SAFETY: clone_args v2 (88 bytes) in a live array; without CLONE_VM the child gets
                                                 // a copy of our memory like fork, and only calls pause(2) in a loop.
        let pid = unsafe {
            libc::syscall(
                libc::SYS_clone3,
                args.as_mut_ptr(),
                std::mem::size_of_val(&args),
            )
        };
        assert!(pid >= 0, "clone3: {}", std::io::Error::last_os_error());
        if pid == 0 {
            loop {
                // SAFETY: pause(2) is async-signal-safe.
                unsafe { libc::pause() };
            }
        }
        Self {
            pid: pid as i32,
            release_fd: -1,
            reaped: false,
        }
    }

    /// Lets the child start its action.
    pub fn release(&self) {
        let b = [1u8];
        // SAFETY: writing one byte from a live buffer to the pipe we own.
        let n = unsafe { libc::write(self.release_fd, b.as_ptr().cast(), 1) };
        assert_eq!(n, 1);
    }

    /// Waits for the child to exit: `Ok(exit code)` or `Err(signal)`.
    pub fn wait(&mut self) -> Result<i32, i32> {
        let mut status = 0;
        // SAFETY: waitpid on our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(self.pid, &mut status, 0) };
        assert_eq!(r, self.pid, "waitpid");
        self.reaped = true;
        if libc::WIFEXITED(status) {
            Ok(libc::WEXITSTATUS(status))
        } else {
            Err(libc::WTERMSIG(status))
        }
    }

    /// SIGKILLs and reaps the child unless it was reaped already.
    pub fn kill_and_reap(&mut self) {
        if !self.reaped {
            // SAFETY: signalling and reaping our own child.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                libc::waitpid(self.pid, std::ptr::null_mut(), 0);
            }
            self.reaped = true;
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill_and_reap();
        if self.release_fd >= 0 {
            // SAFETY: closing the pipe end we own.
            unsafe { libc::close(self.release_fd) };
        }
    }
}

/// The forked child's body.
///
/// # Safety
/// Must only be called in a freshly forked child.
unsafe fn child_main(release_fd: i32, action: Action, paths: &[CString]) -> ! {
    let mut b = [0u8; 1];
    // SAFETY: blocking read into a live buffer; async-signal-safe.
    unsafe { libc::read(release_fd, b.as_mut_ptr().cast(), 1) };
    match action {
        Action::Sleep => loop {
            // SAFETY: pause(2) is async-signal-safe.
            unsafe { libc::pause() };
        },
        Action::Spin => loop {
            std::hint::spin_loop();
        },
        Action::Open(i) => {
            // SAFETY: open(2) on a NUL-terminated path prepared before the fork.
            let fd = unsafe { libc::open(paths[i].as_ptr(), libc::O_RDWR) };
            // SAFETY: reading this thread's errno right after the call.
            let errno = unsafe { *libc::__errno_location() };
            let code = if fd >= 0 { 0 } else { errno };
            // SAFETY: _exit is async-signal-safe.
            unsafe { libc::_exit(code) }
        }
        Action::Alloc(bytes) | Action::Hold(bytes) => {
            // SAFETY: an anonymous private mapping, touched only within its bounds.
            unsafe {
                let p = libc::mmap(
                    std::ptr::null_mut(),
                    bytes,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                );
                if p == libc::MAP_FAILED {
                    libc::_exit(99);
                }
                let p = p.cast::<u8>();
                let mut off = 0;
                while off < bytes {
                    std::ptr::write_volatile(p.add(off), 1);
                    off += 4096;
                }
                if let Action::Hold(_) = action {
                    loop {
                        libc::pause();
                    }
                }
                libc::_exit(0)
            }
        }
    }
}

/// utime + stime of a process, in clock ticks.
pub fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("proc stat");
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // After the comm: state is field 0, utime field 11, stime field 12.
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// The `State:` of /proc/<pid>/status, e.g. `R (running)`.
pub fn proc_state(pid: i32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("State:"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Polls `cond` until it holds (generous deadline, for slow emulated VMs).
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// "major:minor" of a block device on this machine (preferring non-loop devices).
pub fn some_block_device() -> Option<String> {
    let mut devs: Vec<_> = std::fs::read_dir("/sys/block").ok()?.flatten().collect();
    devs.sort_by_key(|e| e.file_name().to_string_lossy().starts_with("loop"));
    devs.iter()
        .find_map(|e| std::fs::read_to_string(e.path().join("dev")).ok())
        .map(|s| s.trim().to_string())
}
