//! Whether a data directory sits on an encrypted filesystem: dm-crypt/LUKS
//! (a device-mapper device whose uuid starts with `CRYPT-`, directly or
//! under LVM) or eCryptfs, found through the mount table and sysfs.

use std::fs;
use std::path::{Path, PathBuf};

struct Mount {
    major_minor: String,
    point: PathBuf,
    fstype: String,
}

/// Undoes the octal escapes mountinfo uses for spaces and the like.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let digits = std::str::from_utf8(&b[i + 1..i + 4]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(digits, 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn mounts() -> Vec<Mount> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let f: Vec<&str> = left.split(' ').collect();
            let fstype = right.split(' ').next()?;
            Some(Mount {
                major_minor: f.get(2)?.to_string(),
                point: PathBuf::from(unescape(f.get(4)?)),
                fstype: fstype.to_string(),
            })
        })
        .collect()
}

/// A dm device is encrypted when it, or a device under it, is dm-crypt.
fn dm_encrypted(sys: &Path, depth: u32) -> bool {
    if depth > 8 {
        return false;
    }
    if fs::read_to_string(sys.join("dm/uuid")).is_ok_and(|u| u.starts_with("CRYPT-")) {
        return true;
    }
    fs::read_dir(sys.join("slaves")).is_ok_and(|slaves| {
        slaves
            .flatten()
            .any(|s| dm_encrypted(&sys.join("slaves").join(s.file_name()), depth + 1))
    })
}

/// `Ok(description)` when `dir` (or its nearest existing ancestor) is on an
/// encrypted filesystem, `Err(description)` of what it is on otherwise.
pub fn encryption_of(dir: &Path) -> Result<String, String> {
    let mut probe = dir.to_path_buf();
    while !probe.exists() {
        if !probe.pop() {
            break;
        }
    }
    let path = fs::canonicalize(&probe).unwrap_or(probe);
    let Some(m) = mounts()
        .into_iter()
        .filter(|m| path.starts_with(&m.point))
        .max_by_key(|m| m.point.as_os_str().len())
    else {
        return Err("no mount found for it".into());
    };
    if m.fstype == "ecryptfs" {
        return Ok(format!("eCryptfs at {}", m.point.display()));
    }
    let sys = PathBuf::from(format!("/sys/dev/block/{}", m.major_minor));
    if dm_encrypted(&sys, 0) {
        return Ok(format!(
            "dm-crypt device {} at {}",
            m.major_minor,
            m.point.display()
        ));
    }
    Err(format!(
        "{} filesystem at {} (device {})",
        m.fstype,
        m.point.display(),
        m.major_minor
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_mountinfo_paths() {
        assert_eq!(unescape(r"/mnt/my\040disk"), "/mnt/my disk");
        assert_eq!(unescape("/plain"), "/plain");
    }

    #[test]
    fn the_root_filesystem_is_described() {
        // Either answer is fine; it must name what it found.
        let r = encryption_of(Path::new("/"));
        let text = r.unwrap_or_else(|e| e);
        assert!(!text.is_empty());
    }
}
