//! `aiondb doctor` (read-only inspection) and `aiondb upgrade` (write the
//! manifest of a directory that lacks one, after a backup).

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::manifest::{self, ManifestState};
use crate::{snapshot, wal};

/// Whether `dir` holds WAL segments or snapshots.
pub fn has_storage_files(dir: &Path) -> bool {
    wal::list_segments(&dir.join("wal")).is_ok_and(|s| !s.is_empty())
        || snapshot::list(dir).is_ok_and(|s| !s.is_empty())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Severity {
    /// Recovered automatically at the next start.
    Warning,
    /// Start refuses the directory.
    Error,
}

#[derive(Debug, Clone)]
pub struct Finding {
    pub severity: Severity,
    pub text: String,
}

/// What `doctor` found.
pub struct Report {
    pub dir: PathBuf,
    pub manifest: ManifestState,
    pub segments: Vec<(u64, u64)>,
    pub snapshots: Vec<(u64, u64)>,
    pub records: u64,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn corrupt(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// Whether `upgrade` would write a manifest here.
    pub fn upgrade_possible(&self) -> Result<(), String> {
        let damaged = self
            .findings
            .iter()
            .any(|f| f.severity == Severity::Error && !f.text.starts_with("manifest"));
        if damaged {
            return Err("the storage files are damaged".into());
        }
        match &self.manifest {
            ManifestState::Present(m) if m.format_version == manifest::FORMAT_VERSION => {
                Err("already at the current format".into())
            }
            ManifestState::Present(m) if m.format_version > manifest::FORMAT_VERSION => Err(
                format!("format {} is newer than this build", m.format_version),
            ),
            ManifestState::Present(m) => Err(format!(
                "no upgrade path from format {} is known",
                m.format_version
            )),
            ManifestState::Invalid(_) => {
                Err("the manifest is unreadable; refusing to guess the format".into())
            }
            ManifestState::Missing if !has_storage_files(&self.dir) => {
                Err("no storage files: nothing to upgrade".into())
            }
            ManifestState::Missing => Ok(()),
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "data directory: {}", self.dir.display());
        match &self.manifest {
            ManifestState::Present(m) => {
                let _ = writeln!(
                    out,
                    "storage manifest: present (format version {}, backend {}, written by aiondb {})",
                    m.format_version, m.backend, m.engine_version
                );
            }
            ManifestState::Missing => {
                let _ = writeln!(out, "storage manifest: missing");
            }
            ManifestState::Invalid(why) => {
                let _ = writeln!(out, "storage manifest: unreadable ({why})");
            }
        }
        let _ = writeln!(
            out,
            "this build reads storage format version {}",
            manifest::FORMAT_VERSION
        );
        let total: u64 = self.segments.iter().map(|s| s.1).sum();
        let _ = writeln!(
            out,
            "WAL segments: {} ({} bytes, {} records)",
            self.segments.len(),
            total,
            self.records
        );
        for (n, len) in &self.segments {
            let _ = writeln!(out, "  {} {len} bytes", wal::segment_name(*n));
        }
        let _ = writeln!(out, "snapshots: {}", self.snapshots.len());
        for (n, len) in &self.snapshots {
            let _ = writeln!(out, "  {} {len} bytes", snapshot::file_name(*n));
        }
        if self.findings.is_empty() {
            let _ = writeln!(out, "findings: none");
        } else {
            let _ = writeln!(out, "findings:");
            for f in &self.findings {
                let tag = match f.severity {
                    Severity::Warning => "warning",
                    Severity::Error => "ERROR",
                };
                let _ = writeln!(out, "  {tag}: {}", f.text);
            }
        }
        let _ = match self.upgrade_possible() {
            Ok(()) => writeln!(
                out,
                "upgrade: possible (`aiondb upgrade` writes the manifest)"
            ),
            Err(why) => writeln!(out, "upgrade: not needed or not possible: {why}"),
        };
        let _ = writeln!(
            out,
            "status: {}",
            if self.corrupt() {
                "CORRUPT or unusable"
            } else {
                "ok"
            }
        );
        out
    }
}

fn size(p: &Path) -> u64 {
    fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// Inspects `dir` without changing anything.
pub fn inspect(dir: &Path) -> io::Result<Report> {
    if !dir.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} is not a directory", dir.display()),
        ));
    }
    let manifest = manifest::read(dir)?;
    let mut findings = Vec::new();
    fn error(findings: &mut Vec<Finding>, text: String) {
        findings.push(Finding {
            severity: Severity::Error,
            text,
        })
    }
    match &manifest {
        ManifestState::Missing if has_storage_files(dir) => error(
            &mut findings,
            format!(
                "manifest {} is missing but storage files exist (run `aiondb upgrade`)",
                manifest::FILE
            ),
        ),
        ManifestState::Invalid(why) => {
            error(&mut findings, format!("manifest is unreadable: {why}"))
        }
        ManifestState::Present(m) if m.format_version != manifest::FORMAT_VERSION => error(
            &mut findings,
            format!(
                "manifest format version {} is not the version this build reads ({})",
                m.format_version,
                manifest::FORMAT_VERSION
            ),
        ),
        _ => {}
    }
    let wal_dir = dir.join("wal");
    let numbers = wal::list_segments(&wal_dir)?;
    let snaps = snapshot::list(dir)?;
    let mut records = 0;
    let mut segments = Vec::new();
    let first_needed = snaps.last().copied().unwrap_or(0);
    for (i, n) in numbers.iter().enumerate() {
        let path = wal_dir.join(wal::segment_name(*n));
        segments.push((*n, size(&path)));
        if i > 0 && *n != numbers[i - 1] + 1 && *n > first_needed {
            error(
                &mut findings,
                format!(
                    "WAL segment {} is missing",
                    wal::segment_name(numbers[i - 1] + 1)
                ),
            );
        }
        let scan = wal::scan_segment::<()>(&path, |_, _| Ok(()))?;
        let Ok(scan) = scan else { continue };
        records += scan.frames;
        match scan.damage {
            None => {}
            Some(wal::Damage::Corrupt { offset, reason }) => error(&mut findings, format!(
                "CRC failure in WAL segment {} at offset {offset}: {reason}; committed records follow it",
                wal::segment_name(*n)
            )),
            Some(wal::Damage::TornTail { offset, bytes }) if i + 1 == numbers.len() => {
                findings.push(Finding {
                    severity: Severity::Warning,
                    text: format!(
                        "torn record at the end of WAL segment {} (offset {offset}, {bytes} bytes): an unacknowledged commit, truncated at the next start",
                        wal::segment_name(*n)
                    ),
                })
            }
            Some(wal::Damage::TornTail { offset, .. }) => error(&mut findings, format!(
                "incomplete record in WAL segment {} at offset {offset}, before the end of the log",
                wal::segment_name(*n)
            )),
        }
    }
    let mut snapshots = Vec::new();
    for n in &snaps {
        snapshots.push((*n, size(&snapshot::path(dir, *n))));
        if let Err(e) = snapshot::read_frames(dir, *n, |_| Ok(())) {
            error(&mut findings, e.message.to_string());
        }
    }
    if let Some(last) = snaps.last() {
        if !numbers.is_empty() && !numbers.contains(last) {
            error(
                &mut findings,
                format!(
                    "the WAL segment {} that the newest snapshot continues from is missing",
                    wal::segment_name(*last)
                ),
            );
        }
    }
    Ok(Report {
        dir: dir.to_path_buf(),
        manifest,
        segments,
        snapshots,
        records,
        findings,
    })
}

fn copy_dir(from: &Path, to: &Path) -> io::Result<u64> {
    fs::create_dir_all(to)?;
    let mut n = 0;
    for e in fs::read_dir(from)? {
        let e = e?;
        let t = e.file_type()?;
        let target = to.join(e.file_name());
        if t.is_dir() {
            n += copy_dir(&e.path(), &target)?;
        } else if t.is_file() {
            n += fs::copy(e.path(), &target)?;
        }
    }
    Ok(n)
}

/// Writes the manifest of a directory that needs one, after copying it to
/// a timestamped sibling. Returns what was done.
pub fn upgrade(dir: &Path) -> Result<String, String> {
    let report = inspect(dir).map_err(|e| format!("cannot inspect {}: {e}", dir.display()))?;
    if let ManifestState::Present(m) = &report.manifest {
        if m.format_version == manifest::FORMAT_VERSION && !report.corrupt() {
            return Ok(format!(
                "{} is already at storage format {}; nothing to do",
                dir.display(),
                manifest::FORMAT_VERSION
            ));
        }
    }
    if fs::metadata(dir.join(format!("{}.tmp", manifest::FILE))).is_ok() {
        return Err(format!(
            "{} holds a half-written manifest ({}.tmp): refusing an ambiguous directory; inspect it with `aiondb doctor`",
            dir.display(),
            manifest::FILE
        ));
    }
    report.upgrade_possible().map_err(|why| {
        format!(
            "refusing to upgrade {}: {why}\n{}",
            dir.display(),
            report.render()
        )
    })?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".into());
    let backup = dir.with_file_name(format!("{name}.backup-{stamp}"));
    if backup.exists() {
        return Err(format!("backup target {} already exists", backup.display()));
    }
    let bytes = copy_dir(dir, &backup)
        .map_err(|e| format!("could not back up to {}: {e}", backup.display()))?;
    manifest::write(dir, &manifest::new_manifest())
        .map_err(|e| format!("could not write the manifest: {e}"))?;
    Ok(format!(
        "backed up {} ({bytes} bytes) to {}; wrote storage manifest format {}",
        dir.display(),
        backup.display(),
        manifest::FORMAT_VERSION
    ))
}
