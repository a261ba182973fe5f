//! What a file found at a path kiln binds or mounts onto really is, for the
//! checks that refuse a swapped one (CVE-2025-31133, CVE-2025-52565).

use nix::sys::stat::FileStat;

/// Whether `st` is the character device `major:minor`.
pub(crate) fn is_char_device(st: &FileStat, major: u64, minor: u64) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFCHR
        && st.st_rdev == libc::makedev(major as u32, minor as u32)
}

/// `st` in words, e.g. "a symbolic link" or "the character device 1:5".
pub(crate) fn describe(st: &FileStat) -> String {
    let numbers = || format!("{}:{}", libc::major(st.st_rdev), libc::minor(st.st_rdev));
    match st.st_mode & libc::S_IFMT {
        libc::S_IFLNK => "a symbolic link".into(),
        libc::S_IFREG => "a regular file".into(),
        libc::S_IFDIR => "a directory".into(),
        libc::S_IFCHR => format!("the character device {}", numbers()),
        libc::S_IFBLK => format!("the block device {}", numbers()),
        libc::S_IFIFO => "a fifo".into(),
        libc::S_IFSOCK => "a socket".into(),
        _ => "a file of unknown type".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lstat(path: &str) -> FileStat {
        nix::sys::stat::lstat(path).expect(path)
    }

    #[test]
    fn the_null_device_and_impostors() {
        assert!(is_char_device(&lstat("/dev/null"), 1, 3));
        assert!(!is_char_device(&lstat("/dev/zero"), 1, 3));
        assert_eq!(describe(&lstat("/dev/zero")), "the character device 1:5");
        assert_eq!(describe(&lstat("/proc/self")), "a symbolic link");
        assert_eq!(describe(&lstat("/proc/self/status")), "a regular file");
        assert!(!is_char_device(&lstat("/proc/self/status"), 1, 3));
        assert_eq!(describe(&lstat("/")), "a directory");
    }
}
