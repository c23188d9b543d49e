//! Start-up recovery: load the newest snapshot, then replay the WAL
//! segments after it into the inner backend, one transaction per record.
//!
//! The inner backend numbers rows itself, so replay maps each logged row id
//! to the one the replayed insert got; the checkpoint that follows recovery
//! makes the new numbering the only one on disk.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

use aiondb_sdk::persist::{self, Reader};
use aiondb_sdk::plugin::StorageBackendBox;
use aiondb_sdk::prelude::*;

use crate::backend::*;
use crate::snapshot;
use crate::wal::{self, Damage};

/// The stored tables (definition and indexes) and catalog entries of every
/// committed transaction.
#[derive(Clone, Default)]
pub(crate) struct Committed {
    pub catalog: BTreeMap<Vec<u8>, Vec<u8>>,
    pub tables: BTreeMap<TableId, (TableDef, BTreeMap<IndexId, IndexDef>)>,
}

pub(crate) struct Recovered {
    pub committed: Committed,
    /// The segment new records go to.
    pub next_segment: u64,
    /// Something was loaded (the row numbering changed).
    pub replayed: bool,
}

/// Logged row id -> the inner backend's id, per table.
#[derive(Default)]
pub(crate) struct RowMap(HashMap<TableId, HashMap<RowId, RowId>>);

impl RowMap {
    pub fn record(&mut self, table: TableId, old: &[RowId], new: &[RowId]) {
        let m = self.0.entry(table).or_default();
        for (o, n) in old.iter().zip(new) {
            m.insert(*o, *n);
        }
    }

    fn get(&self, table: TableId, old: RowId) -> DbResult<RowId> {
        self.0
            .get(&table)
            .and_then(|m| m.get(&old))
            .copied()
            .ok_or_else(|| {
                persist::corrupt(&format!(
                    "the log changes row {old} of table {table}, which it never inserted"
                ))
            })
    }

    fn forget(&mut self, table: TableId) {
        self.0.remove(&table);
    }
}

/// Reads rows as `write_rows` wrote them.
pub(crate) fn read_rows(r: &mut Reader) -> DbResult<(TableId, Vec<RowId>, RowBatch)> {
    let table = r.u64()?;
    let n = r.count(8)?;
    let width = r.u32()? as usize;
    let mut ids = Vec::with_capacity(n);
    let mut batch = RowBatch::with_capacity(width, n);
    let mut row = Vec::with_capacity(width);
    for _ in 0..n {
        ids.push(r.u64()?);
        row.clear();
        for _ in 0..width {
            row.push(r.value()?);
        }
        batch.push_row(row.drain(..));
    }
    Ok((table, ids, batch))
}

fn wait() -> LockWait {
    LockWait::default()
}

/// Applies one WAL record.
pub(crate) fn replay_record(
    payload: &[u8],
    inner: &StorageBackendBox,
    map: &mut RowMap,
    committed: &mut Committed,
) -> DbResult<()> {
    let mut r = Reader::new(payload);
    match r.u8()? {
        REC_CATALOG => {
            let entries = read_entries(&mut r)?;
            committed.apply(&[], &entries);
            Ok(())
        }
        REC_TXN => {
            let txn = inner
                .begin(IsolationLevel::ReadCommitted, false)
                .into_result()?;
            let mut ddl = Vec::new();
            let mut catalog = Vec::new();
            let result = replay_ops(&mut r, inner, txn, map, &mut ddl, &mut catalog);
            if let Err(e) = result {
                let _ = inner.rollback(txn);
                return Err(e);
            }
            inner.commit(txn).into_result()?;
            committed.apply(&ddl, &catalog);
            Ok(())
        }
        t => Err(persist::corrupt(&format!("unknown WAL record type {t}"))),
    }
}

fn replay_ops(
    r: &mut Reader,
    inner: &StorageBackendBox,
    txn: TxnId,
    map: &mut RowMap,
    ddl: &mut Vec<Ddl>,
    catalog: &mut Vec<CatalogEntry>,
) -> DbResult<()> {
    while !r.is_empty() {
        // Each op sees the ones before it, as the statements that made them
        // did.
        inner.begin_statement(txn, &wait()).into_result()?;
        match r.u8()? {
            OP_CREATE_TABLE => {
                let t = persist::read_table(r)?;
                inner.create_table(txn, &t).into_result()?;
                ddl.push(Ddl::Create(t));
            }
            OP_ALTER_TABLE => {
                let old = persist::read_table(r)?;
                let new = persist::read_table(r)?;
                let fill = r.value()?;
                inner.alter_table(txn, &old, &new, &fill).into_result()?;
                ddl.push(Ddl::Alter(new));
            }
            OP_DROP_TABLE => {
                let id = r.u64()?;
                inner.drop_table(txn, id).into_result()?;
                map.forget(id);
                ddl.push(Ddl::Drop(id));
            }
            OP_TRUNCATE => {
                inner.truncate(txn, r.u64()?).into_result()?;
            }
            OP_CREATE_INDEX => {
                let index = persist::read_index(r)?;
                let table = persist::read_table(r)?;
                inner.create_index(txn, &index, &table).into_result()?;
                ddl.push(Ddl::CreateIndex(index));
            }
            OP_DROP_INDEX => {
                let table = r.u64()?;
                let index = r.u64()?;
                inner.drop_index(txn, table, index).into_result()?;
                ddl.push(Ddl::DropIndex(table, index));
            }
            OP_INSERT => {
                let (table, old, rows) = read_rows(r)?;
                let mut new = RVec::new();
                inner.insert(txn, table, &rows, &mut new).into_result()?;
                map.record(table, &old, &new);
            }
            OP_UPDATE => {
                let (table, old, rows) = read_rows(r)?;
                let ids = lock_all(inner, txn, table, &old, map)?;
                inner
                    .update(txn, table, RSlice::from_slice(&ids), &rows)
                    .into_result()?;
            }
            OP_DELETE => {
                let table = r.u64()?;
                let n = r.count(8)?;
                let old = (0..n).map(|_| r.u64()).collect::<DbResult<Vec<_>>>()?;
                let ids = lock_all(inner, txn, table, &old, map)?;
                inner
                    .delete(txn, table, RSlice::from_slice(&ids))
                    .into_result()?;
            }
            OP_CATALOG => catalog.extend(read_entries(r)?),
            op => return Err(persist::corrupt(&format!("unknown WAL op {op}"))),
        }
    }
    Ok(())
}

fn lock_all(
    inner: &StorageBackendBox,
    txn: TxnId,
    table: TableId,
    old: &[RowId],
    map: &RowMap,
) -> DbResult<Vec<RowId>> {
    let mut ids = Vec::with_capacity(old.len());
    for o in old {
        let id = map.get(table, *o)?;
        inner
            .lock_row(txn, table, id, true, &wait())
            .into_result()?;
        ids.push(id);
    }
    Ok(ids)
}

fn wal_error(segment: u64, offset: u64, what: &str) -> AionError {
    AionError::new(
        SqlState::DATA_CORRUPTED,
        format!(
            "write-ahead log segment {} is corrupt at offset {offset}: {what}",
            wal::segment_name(segment)
        ),
    )
    .with_detail("committed transactions follow the damaged record, so it cannot be skipped")
    .with_hint("run `aiondb doctor --data-dir DIR`; restore from a dump or backup if it cannot be repaired")
}

/// Loads the newest snapshot and replays the log after it.
pub(crate) fn recover(dir: &Path, inner: &StorageBackendBox) -> DbResult<Recovered> {
    let started = Instant::now();
    let mut committed = Committed::default();
    let mut map = RowMap::default();
    let snap = snapshot::latest(dir).map_err(|e| io_error("could not list snapshots", e))?;
    let mut replayed = false;
    let mut first_segment = 0;
    if let Some(n) = snap {
        snapshot::load(dir, n, inner, &mut committed, &mut map)?;
        first_segment = n;
        replayed = true;
    }
    let wal_dir = dir.join("wal");
    let segments =
        wal::list_segments(&wal_dir).map_err(|e| io_error("could not list the WAL", e))?;
    let segments: Vec<u64> = segments
        .into_iter()
        .filter(|s| *s >= first_segment)
        .collect();
    if let (Some(first), Some(_)) = (segments.first(), snap) {
        if *first != first_segment {
            return Err(AionError::new(
                SqlState::DATA_CORRUPTED,
                format!(
                    "the WAL segment {} that snapshot {} continues from is missing",
                    wal::segment_name(first_segment),
                    snapshot::file_name(first_segment)
                ),
            ));
        }
    }
    let total: u64 = segments
        .iter()
        .filter_map(|s| std::fs::metadata(wal_dir.join(wal::segment_name(*s))).ok())
        .map(|m| m.len())
        .sum();
    if total > 0 {
        log::info!(
            "recovery: replaying {} WAL segment(s), {} bytes",
            segments.len(),
            total
        );
    }
    let mut done = 0u64;
    let mut records = 0u64;
    let mut last_report = Instant::now();
    for (i, seg) in segments.iter().enumerate() {
        if i > 0 && *seg != segments[i - 1] + 1 {
            return Err(AionError::new(
                SqlState::DATA_CORRUPTED,
                format!(
                    "WAL segment {} is missing (found {} after it)",
                    wal::segment_name(segments[i - 1] + 1),
                    wal::segment_name(*seg)
                ),
            ));
        }
        let path = wal_dir.join(wal::segment_name(*seg));
        let scan = wal::scan_segment(&path, |payload, offset| {
            replay_record(payload, inner, &mut map, &mut committed).map_err(|e| (offset, e))?;
            records += 1;
            done += (payload.len() + wal::FRAME_HEADER) as u64;
            if last_report.elapsed().as_secs() >= 2 {
                last_report = Instant::now();
                log::info!(
                    "recovery: {done} of {total} bytes replayed ({}%), {records} records",
                    done * 100 / total.max(1)
                );
            }
            Ok::<(), (u64, AionError)>(())
        })
        .map_err(|e| io_error(&format!("could not read {}", path.display()), e))?;
        let scan = scan.map_err(|(offset, e)| {
            AionError::new(
                e.sqlstate,
                format!(
                    "recovery failed replaying {} at offset {offset}: {}",
                    wal::segment_name(*seg),
                    e.message
                ),
            )
        })?;
        replayed |= scan.frames > 0;
        match scan.damage {
            None => {}
            Some(Damage::Corrupt { offset, reason }) => {
                return Err(wal_error(*seg, offset, &reason))
            }
            Some(Damage::TornTail { offset, bytes }) => {
                if i + 1 != segments.len() {
                    return Err(wal_error(
                        *seg,
                        offset,
                        "incomplete record before the end of the log",
                    ));
                }
                log::warn!(
                    "recovery: truncating a torn record at the end of the log ({} offset {offset}, {bytes} bytes): a commit that was never acknowledged",
                    wal::segment_name(*seg)
                );
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_len(offset).and_then(|()| f.sync_all()))
                    .map_err(|e| io_error("could not truncate the torn WAL record", e))?;
            }
        }
    }
    let next_segment = segments.last().map_or(first_segment.max(1), |s| *s);
    if replayed {
        log::info!(
            "recovery: done in {:?}: {} tables, {records} WAL records replayed",
            started.elapsed(),
            committed.tables.len()
        );
    }
    Ok(Recovered {
        committed,
        next_segment,
        replayed,
    })
}
