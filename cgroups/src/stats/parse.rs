//! Parsers for statistics files (pure; unit tested).

use std::path::Path;

use super::{BlkioEntry, PsiData, PsiStats};
use crate::CgroupError;

fn parse_err(path: &Path, reason: String) -> CgroupError {
    CgroupError::Parse {
        path: path.to_path_buf(),
        reason,
    }
}

/// v1 blkio files: `MAJ:MIN OP VALUE` or `MAJ:MIN VALUE` lines; the trailing `Total N` line
/// (no device) is skipped, as runc does.
pub(crate) fn blkio_v1(path: &Path, text: &str) -> Result<Vec<BlkioEntry>, CgroupError> {
    let mut out = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(dev) = fields.first() else { continue };
        let Some((major, minor)) = dev.split_once(':') else {
            continue;
        };
        let num = |s: &str| {
            s.parse::<u64>()
                .map_err(|e| parse_err(path, format!("{line:?}: {e}")))
        };
        let (op, value) = match fields[1..] {
            [op, v] => (op.to_string(), num(v)?),
            [v] => (String::new(), num(v)?),
            _ => return Err(parse_err(path, format!("malformed line {line:?}"))),
        };
        out.push(BlkioEntry {
            major: num(major)?,
            minor: num(minor)?,
            op,
            value,
        });
    }
    Ok(out)
}

/// v2 `io.stat`: `MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N`, mapped to runc's
/// (service bytes, serviced) entries with ops `Read`, `Write`, `Discard`.
pub(crate) fn io_stat_v2(
    path: &Path,
    text: &str,
) -> Result<(Vec<BlkioEntry>, Vec<BlkioEntry>), CgroupError> {
    let (mut bytes, mut ios) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let Some((major, minor)) = it.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let num = |s: &str| {
            s.parse::<u64>()
                .map_err(|e| parse_err(path, format!("{line:?}: {e}")))
        };
        let (major, minor) = (num(major)?, num(minor)?);
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let (list, op) = match k {
                "rbytes" => (&mut bytes, "Read"),
                "wbytes" => (&mut bytes, "Write"),
                "dbytes" => (&mut bytes, "Discard"),
                "rios" => (&mut ios, "Read"),
                "wios" => (&mut ios, "Write"),
                "dios" => (&mut ios, "Discard"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.into(),
                value: num(v)?,
            });
        }
    }
    Ok((bytes, ios))
}

/// Expands a cpuset list (`0-2,5`) into its members.
pub(crate) fn id_list(path: &Path, text: &str) -> Result<Vec<u16>, CgroupError> {
    let mut out = Vec::new();
    for item in text.trim().split(',').filter(|s| !s.is_empty()) {
        let (a, b) = item.split_once('-').unwrap_or((item, item));
        let n = |s: &str| {
            s.trim()
                .parse::<u16>()
                .map_err(|e| parse_err(path, format!("{item:?}: {e}")))
        };
        let (a, b) = (n(a)?, n(b)?);
        if a > b {
            return Err(parse_err(path, format!("reversed range {item:?}")));
        }
        out.extend(a..=b);
    }
    Ok(out)
}

/// PSI files: `some avg10=… avg60=… avg300=… total=…` and `full …` lines.
pub(crate) fn psi(path: &Path, text: &str) -> Result<PsiStats, CgroupError> {
    let mut out = PsiStats::default();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let target = match it.next() {
            Some("some") => &mut out.some,
            Some("full") => &mut out.full,
            _ => continue,
        };
        let mut d = PsiData::default();
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let bad = |e: &dyn std::fmt::Display| parse_err(path, format!("{line:?}: {e}"));
            match k {
                "avg10" => d.avg10 = v.parse().map_err(|e| bad(&e))?,
                "avg60" => d.avg60 = v.parse().map_err(|e| bad(&e))?,
                "avg300" => d.avg300 = v.parse().map_err(|e| bad(&e))?,
                "total" => d.total = v.parse().map_err(|e| bad(&e))?,
                _ => {}
            }
        }
        *target = d;
    }
    Ok(out)
}

/// Page size names as used in hugetlb file names: 2048 kB → `2MB`, 1048576 kB → `1GB`.
pub(crate) fn page_size_name(kb: u64) -> String {
    let units = ["KB", "MB", "GB", "TB", "PB"];
    let mut v = kb;
    let mut i = 0;
    while v >= 1024 && v.is_multiple_of(1024) && i + 1 < units.len() {
        v /= 1024;
        i += 1;
    }
    format!("{v}{}", units[i])
}

/// The hugetlb page sizes this kernel supports, from `/sys/kernel/mm/hugepages`.
pub(crate) fn hugepage_sizes() -> Vec<String> {
    let mut out: Vec<(u64, String)> = std::fs::read_dir("/sys/kernel/mm/hugepages")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let kb: u64 = name
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            Some((kb, page_size_name(kb)))
        })
        .collect();
    out.sort();
    out.into_iter().map(|(_, n)| n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "f";

    #[test]
    fn blkio_lines() {
        let text = "8:0 Read 4096\n8:0 Write 512\n8:0 Total 4608\n8:16 12\nTotal 4608\n";
        let e = blkio_v1(Path::new(P), text).unwrap();
        assert_eq!(e.len(), 4);
        assert_eq!(
            e[0],
            BlkioEntry {
                major: 8,
                minor: 0,
                op: "Read".into(),
                value: 4096
            }
        );
        assert_eq!(
            e[3],
            BlkioEntry {
                major: 8,
                minor: 16,
                op: String::new(),
                value: 12
            }
        );
        assert!(blkio_v1(Path::new(P), "8:0 Read x\n").is_err());
    }

    #[test]
    fn io_stat_lines() {
        let (b, i) = io_stat_v2(
            Path::new(P),
            "253:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
        )
        .unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!(
            b[1],
            BlkioEntry {
                major: 253,
                minor: 0,
                op: "Write".into(),
                value: 20
            }
        );
        assert_eq!(
            i[0],
            BlkioEntry {
                major: 253,
                minor: 0,
                op: "Read".into(),
                value: 1
            }
        );
    }

    #[test]
    fn id_lists() {
        assert_eq!(id_list(Path::new(P), "0-2,5\n").unwrap(), vec![0, 1, 2, 5]);
        assert!(id_list(Path::new(P), "\n").unwrap().is_empty());
        assert!(id_list(Path::new(P), "3-1").is_err());
    }

    #[test]
    fn psi_lines() {
        let s = psi(
            Path::new(P),
            "some avg10=1.50 avg60=0.00 avg300=0.00 total=42\nfull avg10=0.00 avg60=0.25 avg300=0.00 total=7\n",
        )
        .unwrap();
        assert_eq!(s.some.avg10, 1.5);
        assert_eq!(s.some.total, 42);
        assert_eq!(s.full.avg60, 0.25);
    }

    #[test]
    fn page_sizes() {
        assert_eq!(page_size_name(2048), "2MB");
        assert_eq!(page_size_name(1_048_576), "1GB");
        assert_eq!(page_size_name(64), "64KB");
        assert_eq!(page_size_name(1536), "1536KB");
    }
}
