//! Test helper run inside containers (it is linked statically): calls faccessat2 (Linux 5.8,
//! syscall 439 on x86-64) and getppid (an old one) directly and prints what each returned,
//! `name=ok` or `name=<errno>`, one per line.

/// `ok`, or the errno of a failed raw syscall.
fn outcome(rc: libc::c_long) -> String {
    if rc < 0 {
        std::io::Error::last_os_error()
            .raw_os_error()
            .map_or_else(|| "unknown".to_owned(), |e| e.to_string())
    } else {
        "ok".to_owned()
    }
}

fn main() {
    let root = c"/";
    // SAFETY: faccessat2 reads the NUL-terminated path `root`, which lives across the call.
    let faccessat2 = unsafe {
        libc::syscall(
            libc::SYS_faccessat2,
            libc::AT_FDCWD,
            root.as_ptr(),
            libc::F_OK,
            0,
        )
    };
    let faccessat2 = outcome(faccessat2);
    // SAFETY: getppid takes no arguments.
    let getppid = outcome(unsafe { libc::syscall(libc::SYS_getppid) });
    println!("faccessat2={faccessat2}\ngetppid={getppid}");
}
