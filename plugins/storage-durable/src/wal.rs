//! The write-ahead log: numbered segment files of framed records.
//!
//! A frame is `[length u32][crc32 u32][payload]`, the CRC covering the
//! length and the payload, so a flipped bit anywhere is caught. One commit is
//! one frame, written with one `write` call: a transaction is in the log
//! whole or not at all. Committers share fsyncs (group commit): whoever finds
//! its commit not yet synced syncs everything written so far, so the others
//! waiting behind it return without a sync of their own.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub const FRAME_HEADER: usize = 8;
/// Larger frames are refused (a corrupt length must not make us allocate
/// gigabytes); a transaction bigger than this fails with 54000.
pub const MAX_FRAME: usize = 1 << 30;

/// When a commit is acknowledged relative to its fsync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitPolicy {
    /// After its WAL is fsynced (shared with concurrent committers).
    Always,
    /// Every N-th commit fsyncs; the others return after the write.
    Every(u64),
    /// Never fsync on commit (the OS writes back; checkpoints still sync).
    Never,
}

impl CommitPolicy {
    pub fn parse(text: &str) -> Option<CommitPolicy> {
        match text {
            "always" => Some(CommitPolicy::Always),
            "never" => Some(CommitPolicy::Never),
            t => t
                .strip_prefix("every:")
                .and_then(|n| n.parse().ok())
                .filter(|n| *n >= 1)
                .map(CommitPolicy::Every),
        }
    }
}

pub fn frame(payload: &[u8], out: &mut Vec<u8>) {
    let len = (payload.len() as u32).to_le_bytes();
    let mut h = crc32fast::Hasher::new();
    h.update(&len);
    h.update(payload);
    out.extend_from_slice(&len);
    out.extend_from_slice(&h.finalize().to_le_bytes());
    out.extend_from_slice(payload);
}

pub fn segment_name(n: u64) -> String {
    format!("{n:016x}.wal")
}

/// Segment numbers present in `dir`, ascending.
pub fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    numbered_files(dir, ".wal")
}

/// The numbers of `<16 hex><suffix>` files in `dir`, ascending (none when
/// `dir` does not exist).
pub fn numbered_files(dir: &Path, suffix: &str) -> io::Result<Vec<u64>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for e in entries {
        let name = e?.file_name();
        let name = name.to_string_lossy();
        if let Some(hex) = name.strip_suffix(suffix) {
            if let Ok(n) = u64::from_str_radix(hex, 16) {
                out.push(n);
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Why reading stopped before the end of a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Damage {
    /// The last frame is incomplete or fails its CRC and nothing valid
    /// follows: a write the crash cut short.
    TornTail { offset: u64, bytes: u64 },
    /// A frame fails its CRC (or has an impossible length) and valid
    /// frames follow: committed data would be lost by skipping it.
    Corrupt { offset: u64, reason: String },
}

/// The result of reading one segment.
pub struct SegmentScan {
    pub frames: u64,
    /// Offset just past the last valid frame.
    pub valid_end: u64,
    pub file_len: u64,
    pub damage: Option<Damage>,
}

/// The payload of the frame at `at`, its CRC checked.
pub fn frame_at(buf: &[u8], at: usize) -> Result<&[u8], String> {
    let Some(header) = buf.get(at..at + FRAME_HEADER) else {
        return Err("incomplete frame header".into());
    };
    let len_bytes: [u8; 4] = [header[0], header[1], header[2], header[3]];
    let len = u32::from_le_bytes(len_bytes) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len > MAX_FRAME {
        return Err(format!("impossible frame length {len}"));
    }
    let Some(payload) = buf.get(at + FRAME_HEADER..at + FRAME_HEADER + len) else {
        return Err(format!(
            "frame of {len} bytes runs past the end of the segment"
        ));
    };
    let mut h = crc32fast::Hasher::new();
    h.update(&len_bytes);
    h.update(payload);
    if h.finalize() != crc {
        return Err("CRC mismatch".into());
    }
    Ok(payload)
}

/// Whether any valid frame starts after `from` (so damage at `from` is not
/// a torn tail).
fn valid_frame_after(buf: &[u8], from: usize) -> bool {
    (from + 1..buf.len().saturating_sub(FRAME_HEADER - 1)).any(|at| {
        // Cheap filter first: an empty or absurd length is not a frame.
        let len = u32::from_le_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]) as usize;
        len > 0 && at + FRAME_HEADER + len <= buf.len() && frame_at(buf, at).is_ok()
    })
}

/// Reads a segment's valid frames into `visit`, in order, and reports where
/// and why it stopped early. `visit` errors abort the scan.
pub fn scan_segment<E>(
    path: &Path,
    mut visit: impl FnMut(&[u8], u64) -> Result<(), E>,
) -> Result<Result<SegmentScan, E>, io::Error> {
    let mut buf = Vec::new();
    File::open(path)?.read_to_end(&mut buf)?;
    let mut at = 0usize;
    let mut frames = 0;
    let mut damage = None;
    while at < buf.len() {
        match frame_at(&buf, at) {
            Ok(payload) => {
                if let Err(e) = visit(payload, at as u64) {
                    return Ok(Err(e));
                }
                frames += 1;
                at += FRAME_HEADER + payload.len();
            }
            Err(reason) => {
                damage = Some(if valid_frame_after(&buf, at) {
                    Damage::Corrupt {
                        offset: at as u64,
                        reason,
                    }
                } else {
                    Damage::TornTail {
                        offset: at as u64,
                        bytes: (buf.len() - at) as u64,
                    }
                });
                break;
            }
        }
    }
    Ok(Ok(SegmentScan {
        frames,
        valid_end: at as u64,
        file_len: buf.len() as u64,
        damage,
    }))
}

struct Current {
    number: u64,
    file: Arc<File>,
    len: u64,
    /// Bytes appended since the WAL was opened (all segments): the position
    /// group commit compares.
    written: u64,
}

/// The open log, appended to by committers.
pub struct Wal {
    dir: PathBuf,
    current: Mutex<Current>,
    synced: AtomicU64,
    sync_lock: Mutex<()>,
    policy: CommitPolicy,
    commits: AtomicU64,
    segment_bytes: u64,
    /// A failed write may have left a partial frame: nothing more may be
    /// appended after it until a restart truncates it.
    broken: AtomicBool,
    /// Bytes written since the last checkpoint.
    since_checkpoint: AtomicU64,
    /// fsyncs made for commits, and frames appended: their ratio shows
    /// how much group commit shares.
    syncs: AtomicU64,
    appends: AtomicU64,
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Wal {
    /// Opens segment `number` for appending (creating it), `len` bytes of
    /// which are valid.
    pub fn open(
        dir: &Path,
        number: u64,
        policy: CommitPolicy,
        segment_bytes: u64,
    ) -> io::Result<Wal> {
        fs::create_dir_all(dir)?;
        let path = dir.join(segment_name(number));
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let len = file.metadata()?.len();
        sync_dir(dir)?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            current: Mutex::new(Current {
                number,
                file: Arc::new(file),
                len,
                written: 0,
            }),
            synced: AtomicU64::new(0),
            sync_lock: Mutex::new(()),
            policy,
            commits: AtomicU64::new(0),
            segment_bytes,
            broken: AtomicBool::new(false),
            since_checkpoint: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            appends: AtomicU64::new(0),
        })
    }

    fn current(&self) -> std::sync::MutexGuard<'_, Current> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn segment_number(&self) -> u64 {
        self.current().number
    }

    pub fn bytes_since_checkpoint(&self) -> u64 {
        self.since_checkpoint.load(Ordering::Relaxed)
    }

    /// Appends one framed record; returns the log position after it. The
    /// caller orders appends (commit order).
    pub fn append(&self, framed: &[u8]) -> io::Result<u64> {
        if self.broken.load(Ordering::Acquire) {
            return Err(io::Error::other(
                "an earlier WAL write failed; restart the server to recover",
            ));
        }
        let mut c = self.current();
        if c.len > 0 && c.len + framed.len() as u64 > self.segment_bytes {
            self.rotate_locked(&mut c)?;
        }
        let mut f: &File = &c.file;
        if let Err(e) = f.write_all(framed) {
            self.broken.store(true, Ordering::Release);
            return Err(e);
        }
        c.len += framed.len() as u64;
        c.written += framed.len() as u64;
        self.appends.fetch_add(1, Ordering::Relaxed);
        self.since_checkpoint
            .fetch_add(framed.len() as u64, Ordering::Relaxed);
        Ok(c.written)
    }

    /// Closes the current segment (synced) and starts the next one; returns
    /// the new segment's number.
    pub fn rotate(&self) -> io::Result<u64> {
        let mut c = self.current();
        self.rotate_locked(&mut c)?;
        Ok(c.number)
    }

    fn rotate_locked(&self, c: &mut Current) -> io::Result<()> {
        // Synced before the next segment exists, so a later sync of the new
        // segment covers everything written before it.
        c.file.sync_data()?;
        let next = c.number + 1;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(segment_name(next)))?;
        sync_dir(&self.dir)?;
        c.number = next;
        c.file = Arc::new(file);
        c.len = 0;
        Ok(())
    }

    /// (frames appended, fsyncs made) since the log was opened.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.appends.load(Ordering::Relaxed),
            self.syncs.load(Ordering::Relaxed),
        )
    }

    pub fn reset_checkpoint_counter(&self) {
        self.since_checkpoint.store(0, Ordering::Relaxed);
    }

    /// Makes the log durable up to `position` as the commit policy asks.
    pub fn commit_sync(&self, position: u64) -> io::Result<()> {
        match self.policy {
            CommitPolicy::Never => Ok(()),
            CommitPolicy::Always => self.sync_to(position),
            CommitPolicy::Every(n) => {
                if (self.commits.fetch_add(1, Ordering::Relaxed) + 1).is_multiple_of(n) {
                    self.sync_to(position)
                } else {
                    Ok(())
                }
            }
        }
    }

    /// fsyncs until `position` is durable. Concurrent callers queue on one
    /// lock; each sync covers everything written when it started, so most
    /// waiters find their position already synced.
    pub fn sync_to(&self, position: u64) -> io::Result<()> {
        if self.synced.load(Ordering::Acquire) >= position {
            return Ok(());
        }
        let _leader = self.sync_lock.lock().unwrap_or_else(|e| e.into_inner());
        if self.synced.load(Ordering::Acquire) >= position {
            return Ok(());
        }
        let (file, target) = {
            let c = self.current();
            (Arc::clone(&c.file), c.written)
        };
        file.sync_data()?;
        self.syncs.fetch_add(1, Ordering::Relaxed);
        self.synced.fetch_max(target, Ordering::AcqRel);
        Ok(())
    }

    /// Syncs everything written so far.
    pub fn sync_all(&self) -> io::Result<()> {
        let target = self.current().written;
        self.sync_to(target)
    }

    /// Deletes segments numbered below `keep_from`.
    pub fn retire_before(&self, keep_from: u64) -> io::Result<usize> {
        let mut n = 0;
        for s in list_segments(&self.dir)? {
            if s < keep_from {
                fs::remove_file(self.dir.join(segment_name(s)))?;
                n += 1;
            }
        }
        if n > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("aiondb-wal-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn write_frames(dir: &Path, payloads: &[&[u8]]) -> io::Result<PathBuf> {
        let wal = Wal::open(dir, 1, CommitPolicy::Always, 1 << 20)?;
        for p in payloads {
            let mut f = Vec::new();
            frame(p, &mut f);
            let at = wal.append(&f)?;
            wal.commit_sync(at)?;
        }
        Ok(dir.join(segment_name(1)))
    }

    fn scan(path: &Path) -> (Vec<Vec<u8>>, SegmentScan) {
        let mut seen = Vec::new();
        let r = scan_segment::<()>(path, |p, _| {
            seen.push(p.to_vec());
            Ok(())
        });
        match r {
            Ok(Ok(s)) => (seen, s),
            _ => panic!("scan failed"),
        }
    }

    #[test]
    fn frames_round_trip_and_torn_tail_is_detected() -> io::Result<()> {
        let dir = tmp("torn");
        let path = write_frames(&dir, &[b"one", b"two", b"three-three"])?;
        let (seen, s) = scan(&path);
        assert_eq!(
            seen,
            vec![b"one".to_vec(), b"two".to_vec(), b"three-three".to_vec()]
        );
        assert_eq!(s.damage, None);
        // Cut the last frame short.
        let len = fs::metadata(&path)?.len();
        OpenOptions::new()
            .write(true)
            .open(&path)?
            .set_len(len - 4)?;
        let (seen, s) = scan(&path);
        assert_eq!(seen.len(), 2);
        assert_eq!(
            s.damage,
            Some(Damage::TornTail {
                offset: s.valid_end,
                bytes: len - 4 - s.valid_end
            })
        );
        fs::remove_dir_all(&dir)
    }

    #[test]
    fn a_flipped_byte_mid_log_is_corruption() -> io::Result<()> {
        let dir = tmp("flip");
        let path = write_frames(&dir, &[b"aaaa", b"bbbb", b"cccc"])?;
        let mut b = fs::read(&path)?;
        b[FRAME_HEADER + 4 + FRAME_HEADER + 1] ^= 0x40;
        fs::write(&path, &b)?;
        let (seen, s) = scan(&path);
        assert_eq!(seen.len(), 1);
        assert!(matches!(s.damage, Some(Damage::Corrupt { offset: 12, .. })));
        // The same flip in the length field is caught too.
        let mut b = fs::read(&path)?;
        b[FRAME_HEADER + 4 + 1] ^= 0x40;
        b[FRAME_HEADER + 4 + FRAME_HEADER + 1] ^= 0x40;
        fs::write(&path, &b)?;
        let (_, s) = scan(&path);
        assert!(matches!(s.damage, Some(Damage::Corrupt { offset: 12, .. })));
        fs::remove_dir_all(&dir)
    }

    #[test]
    fn concurrent_committers_share_one_fsync() -> io::Result<()> {
        let dir = tmp("group");
        let wal = std::sync::Arc::new(Wal::open(&dir, 1, CommitPolicy::Always, 1 << 20)?);
        let threads = 8;
        let rounds = 20;
        let appended = std::sync::Arc::new(std::sync::Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (wal, appended) = (wal.clone(), appended.clone());
                std::thread::spawn(move || -> io::Result<()> {
                    for r in 0..rounds {
                        let mut f = Vec::new();
                        frame(format!("{t}/{r}").as_bytes(), &mut f);
                        let at = wal.append(&f)?;
                        // Everyone has appended before anyone syncs: the
                        // first sync covers the whole round.
                        appended.wait();
                        wal.commit_sync(at)?;
                        appended.wait();
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| io::Error::other("thread panicked"))??;
        }
        assert_eq!(wal.counts(), ((threads * rounds) as u64, rounds as u64));
        fs::remove_dir_all(&dir)
    }

    #[test]
    fn policies_parse() {
        assert_eq!(CommitPolicy::parse("always"), Some(CommitPolicy::Always));
        assert_eq!(CommitPolicy::parse("every:8"), Some(CommitPolicy::Every(8)));
        assert_eq!(CommitPolicy::parse("every:0"), None);
        assert_eq!(CommitPolicy::parse("sometimes"), None);
    }
}
