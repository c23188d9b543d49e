//! Checkpoint snapshots: every committed row and definition at one commit
//! point, in `snapshots/<segment>.snap`, where `<segment>` is the first WAL
//! segment to replay after loading it.
//!
//! The file is a sequence of WAL-style frames (length, CRC, payload):
//! a header, the catalog entries, then per table its definition and indexes
//! followed by its rows in chunks, and an end frame with the counts. It is
//! written under a temporary name, fsynced and renamed, so a snapshot
//! either exists whole or not at all.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use aiondb_sdk::persist::{self, Reader, Writer};
use aiondb_sdk::plugin::StorageBackendBox;
use aiondb_sdk::prelude::*;

use crate::backend::{io_error, read_entries, write_entries, write_rows};
use crate::recovery::{read_rows, Committed, RowMap};
use crate::wal;

const MAGIC: &[u8; 8] = b"AIONSNAP";
const VERSION: u32 = 1;
const S_HEADER: u8 = 1;
const S_CATALOG: u8 = 2;
const S_TABLE: u8 = 3;
const S_ROWS: u8 = 4;
const S_END: u8 = 5;
const CHUNK_ROWS: u32 = 1024;

pub fn file_name(segment: u64) -> String {
    format!("{segment:016x}.snap")
}

fn dir_of(data: &Path) -> PathBuf {
    data.join("snapshots")
}

/// Snapshot numbers present, ascending.
pub fn list(data: &Path) -> io::Result<Vec<u64>> {
    wal::numbered_files(&dir_of(data), ".snap")
}

pub fn latest(data: &Path) -> io::Result<Option<u64>> {
    Ok(list(data)?.last().copied())
}

pub fn path(data: &Path, segment: u64) -> PathBuf {
    dir_of(data).join(file_name(segment))
}

pub struct Written {
    pub tables: u64,
    pub rows: u64,
    pub bytes: u64,
}

struct FrameOut<W: Write> {
    out: W,
    bytes: u64,
    frame: Vec<u8>,
}

impl<W: Write> FrameOut<W> {
    fn put(&mut self, payload: &[u8]) -> io::Result<()> {
        self.frame.clear();
        wal::frame(payload, &mut self.frame);
        self.out.write_all(&self.frame)?;
        self.bytes += self.frame.len() as u64;
        Ok(())
    }
}

/// Writes the snapshot of `image` (definitions) with the rows `txn` sees.
/// Returns `None` without leaving a file when `abandon` says a DDL
/// overlapped.
pub fn write(
    data: &Path,
    segment: u64,
    image: &Committed,
    inner: &StorageBackendBox,
    txn: TxnId,
    abandon: impl Fn() -> bool,
) -> DbResult<Option<Written>> {
    let dir = dir_of(data);
    fs::create_dir_all(&dir).map_err(|e| io_error("could not create the snapshot directory", e))?;
    let final_path = dir.join(file_name(segment));
    let tmp = dir.join(format!("{}.tmp", file_name(segment)));
    let result = write_file(&tmp, segment, image, inner, txn, &abandon);
    match result {
        Ok(Some(w)) => {
            fs::rename(&tmp, &final_path)
                .and_then(|()| File::open(&dir)?.sync_all())
                .map_err(|e| io_error("could not install the snapshot", e))?;
            Ok(Some(w))
        }
        other => {
            let _ = fs::remove_file(&tmp);
            other
        }
    }
}

fn write_file(
    tmp: &Path,
    segment: u64,
    image: &Committed,
    inner: &StorageBackendBox,
    txn: TxnId,
    abandon: &dyn Fn() -> bool,
) -> DbResult<Option<Written>> {
    let file = File::create(tmp).map_err(|e| io_error("could not create a snapshot", e))?;
    let mut out = FrameOut {
        out: BufWriter::with_capacity(1 << 20, file),
        bytes: 0,
        frame: Vec::new(),
    };
    let io = |e| io_error("could not write a snapshot", e);
    let mut w = Writer::new();
    w.u8(S_HEADER);
    w.buf.extend_from_slice(MAGIC);
    w.u32(VERSION);
    w.u64(segment);
    out.put(&w.buf).map_err(io)?;

    let mut w = Writer::new();
    w.u8(S_CATALOG);
    write_entries(&mut w, &image.catalog_entries());
    out.put(&w.buf).map_err(io)?;

    let (mut tables, mut rows) = (0u64, 0u64);
    let request = ScanRequest {
        projection: RVec::new(),
        row_ids: ROption::RNone,
        with_row_ids: true,
        latest: false,
    };
    for (def, indexes) in image.tables.values() {
        let mut w = Writer::new();
        w.u8(S_TABLE);
        persist::write_table(&mut w, def);
        w.u32(indexes.len() as u32);
        for i in indexes.values() {
            persist::write_index(&mut w, i);
        }
        out.put(&w.buf).map_err(io)?;
        tables += 1;
        let width = def.columns.len();
        if width == 0 {
            continue;
        }
        let mut cursor = inner.scan(txn, def.id, &request).into_result()?;
        let mut ids = Vec::new();
        let mut chunk = RowBatch::new(width);
        while let ROption::RSome(batch) = cursor.next_batch(CHUNK_ROWS).into_result()? {
            if abandon() {
                return Ok(None);
            }
            ids.clear();
            chunk.reset(width);
            for row in batch.rows() {
                let (values, id) = row.split_at(width);
                let Some(Value::Int8(id)) = id.first() else {
                    return Err(persist::corrupt("scan returned no row id"));
                };
                ids.push(*id as RowId);
                chunk.push_row(values.iter().cloned());
            }
            let mut w = Writer::new();
            w.u8(S_ROWS);
            write_rows(&mut w, def.id, &ids, &chunk);
            out.put(&w.buf).map_err(io)?;
            rows += ids.len() as u64;
        }
    }
    if abandon() {
        return Ok(None);
    }
    let mut w = Writer::new();
    w.u8(S_END);
    w.u64(tables);
    w.u64(rows);
    out.put(&w.buf).map_err(io)?;
    let bytes = out.bytes;
    let file = out.out.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    Ok(Some(Written {
        tables,
        rows,
        bytes,
    }))
}

/// Reads a snapshot's frames, checking each CRC.
pub fn read_frames(
    data: &Path,
    segment: u64,
    mut visit: impl FnMut(&[u8]) -> DbResult<()>,
) -> DbResult<()> {
    let p = path(data, segment);
    let name = file_name(segment);
    let mut buf = Vec::new();
    File::open(&p)
        .and_then(|mut f| f.read_to_end(&mut buf))
        .map_err(|e| io_error(&format!("could not read snapshot {}", p.display()), e))?;
    let bad = |offset: usize, what: &str| {
        AionError::new(
            SqlState::DATA_CORRUPTED,
            format!("snapshot {name} is corrupt at offset {offset}: {what}"),
        )
        .with_hint("run `aiondb doctor --data-dir DIR`")
    };
    let mut at = 0;
    let mut ended = false;
    while at < buf.len() {
        let payload = wal::frame_at(&buf, at).map_err(|why| bad(at, &why))?;
        let len = payload.len();
        if at == 0 && (payload.first() != Some(&S_HEADER) || payload.get(1..9) != Some(&MAGIC[..]))
        {
            return Err(bad(0, "not an AionDB snapshot"));
        }
        ended = payload.first() == Some(&S_END);
        visit(payload).map_err(|e| bad(at, &e.message))?;
        at += wal::FRAME_HEADER + len;
    }
    if !ended {
        return Err(bad(buf.len(), "no end record"));
    }
    Ok(())
}

/// Loads snapshot `segment` into `inner`.
pub fn load(
    data: &Path,
    segment: u64,
    inner: &StorageBackendBox,
    committed: &mut Committed,
    map: &mut RowMap,
) -> DbResult<()> {
    let started = Instant::now();
    log::info!("recovery: loading snapshot {}", file_name(segment));
    let txn = inner
        .begin(IsolationLevel::ReadCommitted, false)
        .into_result()?;
    let mut rows = 0u64;
    let mut last_report = Instant::now();
    let result = read_frames(data, segment, |payload| {
        let mut r = Reader::new(payload);
        match r.u8()? {
            S_HEADER => {
                r.take(8)?;
                let version = r.u32()?;
                if version != VERSION {
                    return Err(persist::corrupt(&format!(
                        "snapshot format {version}, expected {VERSION}"
                    )));
                }
            }
            S_CATALOG => {
                let entries = read_entries(&mut r)?;
                committed.apply(&[], &entries);
            }
            S_TABLE => {
                let def = persist::read_table(&mut r)?;
                let n = r.count(8)?;
                inner
                    .begin_statement(txn, &LockWait::default())
                    .into_result()?;
                inner.create_table(txn, &def).into_result()?;
                let mut indexes = std::collections::BTreeMap::new();
                for _ in 0..n {
                    let i = persist::read_index(&mut r)?;
                    inner.create_index(txn, &i, &def).into_result()?;
                    indexes.insert(i.id, i);
                }
                committed.tables.insert(def.id, (def, indexes));
            }
            S_ROWS => {
                let (table, old, batch) = read_rows(&mut r)?;
                let mut new = RVec::new();
                inner.insert(txn, table, &batch, &mut new).into_result()?;
                map.record(table, &old, &new);
                rows += old.len() as u64;
                if last_report.elapsed().as_secs() >= 2 {
                    last_report = Instant::now();
                    log::info!("recovery: {rows} snapshot rows loaded");
                }
            }
            S_END => {}
            t => return Err(persist::corrupt(&format!("unknown snapshot frame {t}"))),
        }
        Ok(())
    });
    if let Err(e) = result {
        let _ = inner.rollback(txn);
        return Err(e);
    }
    inner.commit(txn).into_result()?;
    log::info!(
        "recovery: snapshot loaded ({} tables, {rows} rows) in {:?}",
        committed.tables.len(),
        started.elapsed()
    );
    Ok(())
}

/// Deletes snapshots older than `keep` and leftover temporary files.
pub fn retire_before(data: &Path, keep: u64) -> io::Result<()> {
    for n in list(data)? {
        if n < keep {
            fs::remove_file(path(data, n))?;
        }
    }
    if let Ok(entries) = fs::read_dir(dir_of(data)) {
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".tmp") && !name.starts_with(&format!("{keep:016x}")) {
                let _ = fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}
