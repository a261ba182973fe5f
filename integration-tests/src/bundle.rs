//! OCI bundles with a busybox-static root filesystem.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::config::Config;
use crate::error::{io_err, Error, Result};
use crate::scratch::ScratchDir;

/// `/etc/passwd` of the image: root, nobody and an unprivileged user 1000.
const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n\
user:x:1000:1000:user:/home/user:/bin/sh\n";

/// `/etc/group` of the image.
const GROUP: &str = "root:x:0:\nnobody:x:65534:\nuser:x:1000:\n";

/// The busybox binary and its applet names, found once per test process.
struct Busybox {
    path: PathBuf,
    applets: Vec<String>,
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Whether the ELF file `bytes` has a PT_INTERP program header (i.e. is dynamically linked).
fn elf_is_dynamic(bytes: &[u8]) -> Option<bool> {
    if bytes.get(..4)? != b"\x7fELF" || bytes.get(4)? != &2 {
        return None; // not a 64-bit ELF
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(bytes.get(o..o + 2)?.try_into().ok()?));
    let phoff =
        usize::try_from(u64::from_le_bytes(bytes.get(0x20..0x28)?.try_into().ok()?)).ok()?;
    let (phentsize, phnum) = (usize::from(u16_at(0x36)?), usize::from(u16_at(0x38)?));
    let interp = (0..phnum).any(|i| {
        let at = phoff + i * phentsize;
        bytes.get(at..at + 4) == Some(&3u32.to_le_bytes()[..])
    });
    Some(interp)
}

fn locate_busybox() -> Result<Busybox> {
    let path = match find_in_path("busybox") {
        Some(path) => path,
        None => {
            let status = std::process::Command::new("apt-get")
                .args(["install", "-y", "busybox-static"])
                .status()
                .map_err(|source| Error::Spawn {
                    program: "apt-get".into(),
                    source,
                })?;
            find_in_path("busybox").ok_or_else(|| {
                Error::Busybox(format!(
                    "not found, and apt-get install busybox-static: {status}"
                ))
            })?
        }
    };
    let bytes = std::fs::read(&path).map_err(io_err("read", &path))?;
    if elf_is_dynamic(&bytes) != Some(false) {
        return Err(Error::Busybox(format!(
            "{} is not a static x86-64 ELF: apt-get install busybox-static",
            path.display()
        )));
    }
    let out = std::process::Command::new(&path)
        .arg("--list")
        .output()
        .map_err(|source| Error::Spawn {
            program: path.clone(),
            source,
        })?;
    let applets = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != "busybox" && !a.contains('/'))
        .map(str::to_string)
        .collect();
    Ok(Busybox { path, applets })
}

fn busybox() -> Result<&'static Busybox> {
    static BUSYBOX: OnceLock<std::result::Result<Busybox, String>> = OnceLock::new();
    BUSYBOX
        .get_or_init(|| locate_busybox().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| Error::Busybox(e.clone()))
}

/// An OCI bundle in its own scratch directory: `rootfs/` and the config to write as `config.json`.
#[derive(Debug)]
pub struct Bundle {
    config: Config,
    dir: ScratchDir,
}

impl Bundle {
    /// Builds a bundle with a busybox rootfs and the default config (not yet written).
    pub fn new(tag: &str) -> Result<Bundle> {
        let dir = ScratchDir::new(tag)?;
        populate_rootfs(&dir.join("rootfs"))?;
        Ok(Bundle {
            config: Config::default(),
            dir,
        })
    }

    /// The bundle directory (absolute).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The root filesystem directory.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    /// The path of `config.json`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    /// The config to be written.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The config to be written, for editing.
    pub fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    /// Writes the config to `config.json`.
    pub fn write_config(&self) -> Result<()> {
        let text =
            serde_json::to_string_pretty(self.config.value()).map_err(|source| Error::Json {
                what: "config.json".into(),
                source,
            })?;
        let path = self.config_path();
        std::fs::write(&path, text).map_err(io_err("write", path))
    }
}

fn mkdir(path: &Path, mode: u32) -> Result<()> {
    std::fs::create_dir_all(path).map_err(io_err("create directory", path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io_err("chmod", path))
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(io_err("write", path))
}

/// Fills `rootfs` with busybox, its applet symlinks in /bin, /etc files and the usual directories.
fn populate_rootfs(rootfs: &Path) -> Result<()> {
    let busybox = busybox()?;
    for dir in [
        "bin",
        "etc",
        "proc",
        "sys",
        "dev",
        "root",
        "home/user",
        "usr",
        "var",
    ] {
        mkdir(&rootfs.join(dir), 0o755)?;
    }
    mkdir(&rootfs.join("tmp"), 0o1777)?;
    let target = rootfs.join("bin/busybox");
    std::fs::copy(&busybox.path, &target).map_err(io_err("copy busybox to", &target))?;
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
        .map_err(io_err("chmod", &target))?;
    for applet in &busybox.applets {
        let link = rootfs.join("bin").join(applet);
        std::os::unix::fs::symlink("busybox", &link).map_err(io_err("symlink", &link))?;
    }
    for (dir, link) in [
        ("usr/bin", "../bin"),
        ("sbin", "bin"),
        ("usr/sbin", "../bin"),
    ] {
        let path = rootfs.join(dir);
        std::os::unix::fs::symlink(link, &path).map_err(io_err("symlink", &path))?;
    }
    write(&rootfs.join("etc/passwd"), PASSWD)?;
    write(&rootfs.join("etc/group"), GROUP)?;
    write(&rootfs.join("etc/hostname"), "image\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busybox_is_static_and_rootfs_has_applets() {
        let bundle = Bundle::new("unit").expect("bundle");
        let root = bundle.rootfs();
        assert_eq!(
            std::fs::read_link(root.join("bin/sh")).expect("sh link"),
            Path::new("busybox")
        );
        assert!(std::fs::read_to_string(root.join("etc/passwd"))
            .expect("passwd")
            .contains(":1000:"));
        bundle.write_config().expect("write");
        let written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(bundle.config_path()).expect("read"))
                .expect("json");
        assert_eq!(&written, bundle.config().value());
        let path = bundle.path().to_path_buf();
        drop(bundle);
        assert!(!path.exists());
    }
}
