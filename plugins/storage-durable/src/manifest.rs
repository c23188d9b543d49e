//! The storage manifest: a small text file naming the storage format a data
//! directory was written in. It is written when the directory is created
//! (or by `aiondb upgrade`) and checked before anything else is read.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

pub const FILE: &str = "AIONDB_MANIFEST";
/// The storage format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
const MAGIC: &str = "aiondb-storage-manifest";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    pub format_version: u32,
    pub backend: String,
    pub engine_version: String,
    pub created_unix: u64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ManifestState {
    Missing,
    Present(Manifest),
    /// Unreadable: bad magic, missing fields or checksum mismatch.
    Invalid(String),
}

fn body(m: &Manifest) -> String {
    format!(
        "{MAGIC}\nformat_version={}\nbackend={}\nengine_version={}\ncreated_unix={}\n",
        m.format_version, m.backend, m.engine_version, m.created_unix
    )
}

pub fn new_manifest() -> Manifest {
    Manifest {
        format_version: FORMAT_VERSION,
        backend: "durable".into(),
        engine_version: env!("CARGO_PKG_VERSION").into(),
        created_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    }
}

/// Writes the manifest atomically (temporary file, fsync, rename).
pub fn write(dir: &Path, m: &Manifest) -> io::Result<()> {
    let text = body(m);
    let crc = crc32fast::hash(text.as_bytes());
    let tmp = dir.join(format!("{FILE}.tmp"));
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(format!("{text}checksum={crc:08x}\n").as_bytes())?;
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join(FILE))?;
    fs::File::open(dir)?.sync_all()
}

pub fn read(dir: &Path) -> io::Result<ManifestState> {
    let text = match fs::read_to_string(dir.join(FILE)) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(ManifestState::Missing),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            return Ok(ManifestState::Invalid("not UTF-8 text".into()))
        }
        Err(e) => return Err(e),
    };
    Ok(parse(&text).map_or_else(ManifestState::Invalid, ManifestState::Present))
}

fn parse(text: &str) -> Result<Manifest, String> {
    let Some(pos) = text.rfind("checksum=") else {
        return Err("no checksum line".into());
    };
    let (covered, sum) = text.split_at(pos);
    let sum = sum.trim_start_matches("checksum=").trim();
    let expected = format!("{:08x}", crc32fast::hash(covered.as_bytes()));
    if sum != expected {
        return Err(format!(
            "checksum mismatch (file says {sum}, contents give {expected})"
        ));
    }
    let mut lines = covered.lines();
    if lines.next() != Some(MAGIC) {
        return Err("not an AionDB storage manifest".into());
    }
    let mut m = Manifest {
        format_version: 0,
        backend: String::new(),
        engine_version: String::new(),
        created_unix: 0,
    };
    let mut version = None;
    for line in lines {
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!("malformed line {line:?}"));
        };
        match k {
            "format_version" => {
                version = Some(
                    v.parse::<u32>()
                        .map_err(|_| format!("bad format_version {v:?}"))?,
                )
            }
            "backend" => m.backend = v.to_string(),
            "engine_version" => m.engine_version = v.to_string(),
            "created_unix" => m.created_unix = v.parse().unwrap_or(0),
            // Later versions may add keys; the version check decides.
            _ => {}
        }
    }
    m.format_version = version.ok_or("no format_version")?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper_detection() -> io::Result<()> {
        let dir = std::env::temp_dir().join(format!("aiondb-manifest-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)?;
        assert_eq!(read(&dir)?, ManifestState::Missing);
        let m = new_manifest();
        write(&dir, &m)?;
        assert_eq!(read(&dir)?, ManifestState::Present(m));
        let text = fs::read_to_string(dir.join(FILE))?;
        fs::write(
            dir.join(FILE),
            text.replace("format_version=1", "format_version=7"),
        )?;
        assert!(matches!(read(&dir)?, ManifestState::Invalid(e) if e.contains("checksum")));
        fs::remove_dir_all(&dir)
    }
}
