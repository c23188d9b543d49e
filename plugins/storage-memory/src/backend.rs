//! The `StorageBackend` implementation.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering as AtOrd};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aiondb_sdk::abi_stable::std_types::{ROption, RResult, RSlice, RStr, RString, RVec};
use aiondb_sdk::capability::{
    BackendInfo, IndexQuery, IsolationLevel, LockOutcome, LockWait, RowCursorBox, RowId,
    ScanRequest, StorageBackend, StorageOptions, TableStats, TxnId, AUTOCOMMIT_READ,
};
use aiondb_sdk::catalog::{IndexDef, IndexId, TableDef, TableId};
use aiondb_sdk::error::{AResult, AionError, DbResult, SqlState};
use aiondb_sdk::plugin::guarded_cursor;
use aiondb_sdk::row::RowBatch;
use aiondb_sdk::value::Value;

use crate::cursor::{emit_version, visible_with_key, Pin, Source, TableCursor, Visibility};
use crate::keys::{sentinel, KeyRef};
use crate::row::PackedRow;
use crate::table::{version_bytes, Index, MemAccount, TableCell, TableData, Version};
use crate::txn::{Deltas, Mgr, Ssi, TxnState, Undo};
use crate::{lock, read, write};

/// Versions made dead before a table-wide vacuum is considered.
const VACUUM_MIN_DEAD: u64 = 1024;

pub(crate) struct Inner {
    // Table ids hashed with one multiplication: SipHash would cost more
    // than the rest of a point read's table lookup.
    tables: RwLock<HashMap<TableId, Arc<TableCell>, aiondb_sdk::hash::BuildIdHasher>>,
    pub(crate) mgr: Mutex<Mgr>,
    /// Signalled whenever a transaction ends (lock waiters re-check).
    cond: Condvar,
    mem: Arc<MemAccount>,
    /// Versions deleted by a transaction below this are dead to everyone.
    horizon: AtomicU64,
    /// Unique in the process: keys this backend's entry in `LAST_TABLE`.
    id: u64,
    /// Bumped at every change of `tables` (under its write lock).
    tables_version: AtomicU64,
}

static NEXT_BACKEND_ID: AtomicU64 = AtomicU64::new(1);

/// The table a thread's last point read used, so that the next one skips
/// the table map's read lock: two atomic read-modify-writes on a line every
/// session shares. Weak: a dropped table's rows are not kept alive by a
/// thread that happens to have read it last.
struct LastTable {
    backend: u64,
    version: u64,
    id: TableId,
    cell: std::sync::Weak<TableCell>,
}

thread_local! {
    static LAST_TABLE: RefCell<Option<LastTable>> = const { RefCell::new(None) };
}

/// Spare transaction states kept at most, per thread.
const SPARE_STATES: usize = 8;

thread_local! {
    /// States of finished transactions, emptied, for the next ones: an
    /// autocommit statement then allocates no state, undo log or count
    /// list. Per thread, so taking one costs no lock: a session begins and
    /// ends its transactions on one thread (when not, a state just moves
    /// to another thread's list). Boxed: states move between this list and
    /// the active map without copying. A state holds nothing of one
    /// backend once emptied, so every backend of the process shares them.
    #[allow(clippy::vec_box)]
    static SPARE: RefCell<Vec<Box<TxnState>>> = const { RefCell::new(Vec::new()) };
}

/// The `in_memory` backend. Cloning shares the same database.
#[derive(Clone)]
pub struct MemoryBackend {
    inner: Arc<Inner>,
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

/// What a write needs to know about its transaction.
struct WriteCtx {
    cid: u32,
}

enum UniqueCheck {
    Ok,
    Wait(TxnId),
    Violation(AionError),
}

fn undefined_table(id: TableId) -> AionError {
    AionError::new(
        SqlState::UNDEFINED_TABLE,
        format!("relation with OID {id} does not exist"),
    )
}

fn no_savepoint(name: &str) -> AionError {
    AionError::new(
        SqlState::new(b"3B001"),
        format!("savepoint \"{name}\" does not exist"),
    )
}

fn concurrent(what: &str) -> AionError {
    AionError::new(
        SqlState::SERIALIZATION_FAILURE,
        format!("could not serialize access due to concurrent {what}"),
    )
}

/// PostgreSQL's column limit, which packed rows rely on (a `u16` count).
const MAX_COLUMNS: usize = 1600;

fn check_width(def: &TableDef) -> DbResult<()> {
    if def.columns.len() > MAX_COLUMNS {
        return Err(AionError::new(
            SqlState::new(b"54011"),
            format!("tables can have at most {MAX_COLUMNS} columns"),
        ));
    }
    Ok(())
}

fn width_mismatch(got: usize, want: usize) -> AionError {
    AionError::internal(format!("row has {got} columns but the table has {want}"))
}

/// Width of the rows a scan request returns (its projection, or every
/// column, plus the row id); 42703 for a column the table does not have.
fn request_width(data: &TableData, request: &ScanRequest) -> DbResult<usize> {
    let w = data.width();
    let proj = request.projection.as_slice();
    if let Some(&bad) = proj.iter().find(|&&c| c as usize >= w) {
        return Err(AionError::new(
            SqlState::UNDEFINED_COLUMN,
            format!(
                "column number {} of relation \"{}\" does not exist",
                bad + 1,
                data.def.name
            ),
        ));
    }
    let cols = if proj.is_empty() { w } else { proj.len() };
    Ok(cols + usize::from(request.with_row_ids))
}

fn unix_now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

impl MemoryBackend {
    pub fn new() -> Self {
        MemoryBackend {
            inner: Arc::new(Inner {
                tables: RwLock::new(HashMap::default()),
                mgr: Mutex::new(Mgr::new()),
                cond: Condvar::new(),
                mem: Arc::new(MemAccount {
                    used: AtomicU64::new(0),
                    limit: AtomicU64::new(0),
                }),
                horizon: AtomicU64::new(1),
                id: NEXT_BACKEND_ID.fetch_add(1, AtOrd::Relaxed),
                tables_version: AtomicU64::new(0),
            }),
        }
    }

    /// Bytes of table data currently held (approximate).
    pub fn memory_used(&self) -> u64 {
        self.inner.mem.used.load(AtOrd::Relaxed)
    }

    /// The table map for a change; every change bumps `tables_version`
    /// (under the lock, so a reader that sees the new version reads the
    /// changed map).
    fn tables_mut(
        &self,
    ) -> std::sync::RwLockWriteGuard<
        '_,
        HashMap<TableId, Arc<TableCell>, aiondb_sdk::hash::BuildIdHasher>,
    > {
        let g = write(&self.inner.tables);
        self.inner.tables_version.fetch_add(1, AtOrd::AcqRel);
        g
    }

    /// Table `id`, through the thread's `LAST_TABLE` when it is still this
    /// table of this backend and the map has not changed since.
    fn table_cached(&self, id: TableId) -> DbResult<Arc<TableCell>> {
        let version = self.inner.tables_version.load(AtOrd::Acquire);
        LAST_TABLE.with(|slot| {
            let mut last = slot.borrow_mut();
            if let Some(t) = last.as_ref() {
                if t.backend == self.inner.id && t.version == version && t.id == id {
                    if let Some(cell) = t.cell.upgrade() {
                        return Ok(cell);
                    }
                }
            }
            let cell = self.table(id)?;
            *last = Some(LastTable {
                backend: self.inner.id,
                version,
                id,
                cell: Arc::downgrade(&cell),
            });
            Ok(cell)
        })
    }

    fn table(&self, id: TableId) -> DbResult<Arc<TableCell>> {
        read(&self.inner.tables)
            .get(&id)
            .cloned()
            .ok_or_else(|| undefined_table(id))
    }

    fn horizon(&self) -> TxnId {
        self.inner.horizon.load(AtOrd::Relaxed)
    }

    fn is_active(&self, x: TxnId) -> bool {
        lock(&self.inner.mgr).active.contains_key(&x)
    }

    // ------------------------------------------------------------ transactions

    /// With `first_statement`, the transaction's first statement starts
    /// too (what `begin_statement` would do right after, under the same
    /// lock): its snapshot is the one taken here.
    pub(crate) fn begin_impl(
        &self,
        isolation: IsolationLevel,
        first_statement: bool,
        wait: &LockWait,
    ) -> TxnId {
        let spare = SPARE.with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.pop()));
        let mut g = lock(&self.inner.mgr);
        // Recycled states were emptied by `recycle` and keep their
        // allocations; usually the same session's, so the cancel flag in
        // `wait` stays.
        let mut st = match spare {
            Some(mut st) => {
                st.wait.assign_from(wait);
                st
            }
            None => Box::new(TxnState {
                isolation,
                snapshot: g.snapshot(),
                snapshot_fixed: false,
                cid: 0,
                undo: Vec::new(),
                savepoints: Vec::new(),
                locks: Vec::new(),
                table_locks: Default::default(),
                wait: wait.clone(),
                waiting_for: None,
                ssi: None,
                deltas: Deltas::default(),
            }),
        };
        // Taken before the id is handed out: the transaction knows its own
        // rows by id, and ids from xmax on are invisible anyway. Usually the
        // cached snapshot (see `Mgr::snapshot`), so no allocation.
        g.snapshot_into(&mut st.snapshot);
        let id = g.next_txn;
        g.next_txn += 1;
        st.isolation = isolation;
        st.snapshot_fixed = first_statement;
        st.cid = u32::from(first_statement);
        st.waiting_for = None;
        st.ssi = (isolation == IsolationLevel::Serializable).then(|| Ssi {
            start_seq: g.commit_seq,
            reads: Default::default(),
            writes: Default::default(),
            in_conflict: false,
            out_conflict: false,
        });
        g.active.insert(id, st);
        id
    }

    /// Empties a finished transaction's state (dropping what its undo log
    /// held, outside every lock) and keeps it for a later transaction.
    fn recycle(&self, mut st: Box<TxnState>) {
        // Big logs are not worth keeping.
        if st.undo.capacity() > 1024 {
            st.undo = Vec::new();
        } else {
            st.undo.clear();
        }
        if st.locks.capacity() > 1024 {
            st.locks = Vec::new();
        } else {
            st.locks.clear();
        }
        st.savepoints.clear();
        st.table_locks.clear();
        st.deltas.clear();
        st.ssi = None;
        st.waiting_for = None;
        SPARE.with(|s| {
            if let Ok(mut spare) = s.try_borrow_mut() {
                if spare.len() < SPARE_STATES {
                    spare.push(st);
                }
            }
        });
    }

    pub(crate) fn begin_statement_impl(&self, txn: TxnId, wait: &LockWait) -> DbResult<()> {
        let mut g = lock(&self.inner.mgr);
        let seq = g.commit_seq;
        let fresh = {
            let st = g.state(txn)?;
            st.isolation == IsolationLevel::ReadCommitted || !st.snapshot_fixed
        };
        let snap = fresh.then(|| g.snapshot());
        let st = g.state_mut(txn)?;
        st.wait.assign_from(wait);
        st.cid = st.cid.checked_add(1).ok_or_else(|| {
            AionError::new(
                SqlState::PROGRAM_LIMIT_EXCEEDED,
                "cannot have more than 2^32-2 commands in a transaction",
            )
        })?;
        if let Some(snap) = snap {
            st.snapshot = snap;
            if !st.snapshot_fixed {
                st.snapshot_fixed = true;
                if let Some(ssi) = st.ssi.as_mut() {
                    ssi.start_seq = seq;
                }
            }
        }
        Ok(())
    }

    /// Removes a finished transaction and wakes lock waiters.
    fn finish(&self, txn: TxnId, committed: bool) -> Option<Box<TxnState>> {
        self.finish_locked(lock(&self.inner.mgr), txn, committed)
    }

    fn finish_locked(
        &self,
        mut g: std::sync::MutexGuard<'_, Mgr>,
        txn: TxnId,
        committed: bool,
    ) -> Option<Box<TxnState>> {
        let st = g.active.remove(&txn)?;
        // Only a committed writer changes what a new snapshot would see.
        if committed && !st.undo.is_empty() {
            g.invalidate_snapshot();
        }
        if committed {
            g.commit_seq += 1;
            let seq = g.commit_seq;
            if let Some(ssi) = &st.ssi {
                if !ssi.reads.is_empty() || !ssi.writes.is_empty() {
                    g.ssi_committed.push(crate::txn::SsiCommitted {
                        commit_seq: seq,
                        reads: ssi.reads.clone(),
                        writes: ssi.writes.clone(),
                        in_conflict: ssi.in_conflict,
                        out_conflict: ssi.out_conflict,
                    });
                }
            }
        }
        g.release_locks(txn, &st.locks);
        g.release_table_locks(txn, &st.table_locks);
        g.prune_ssi();
        let h = g.horizon();
        self.inner.horizon.store(h, AtOrd::Relaxed);
        let listeners = g.waiters > 0;
        drop(g);
        if listeners {
            self.inner.cond.notify_all();
        }
        Some(st)
    }

    pub(crate) fn commit_impl(&self, txn: TxnId) -> DbResult<()> {
        let finished = {
            let mut g = lock(&self.inner.mgr);
            // Only SERIALIZABLE transactions have a commit check to pass.
            if g.state(txn)?.ssi.is_some() {
                if let Err(e) = g.ssi_commit_check(txn) {
                    drop(g);
                    self.rollback_impl(txn);
                    return Err(e);
                }
            }
            self.finish_locked(g, txn, true)
        };
        if let Some(st) = finished {
            if st.deltas.iter().next().is_some() {
                let tables = read(&self.inner.tables);
                for (t, d) in st.deltas.iter() {
                    if let Some(cell) = tables.get(t) {
                        read(&cell.data).live.fetch_add(*d, AtOrd::Relaxed);
                    }
                }
            }
            let dropped = st.undo.iter().filter_map(|u| match u {
                Undo::DroppedTable { cell } => Some(cell.id),
                _ => None,
            });
            let mut dropped = dropped.peekable();
            if dropped.peek().is_some() {
                let mut g = lock(&self.inner.mgr);
                for t in dropped {
                    g.forget_table(t);
                }
            }
            // Dropped tables and replaced contents are freed here, outside
            // every lock.
            self.recycle(st);
        }
        Ok(())
    }

    /// Rolls back; unknown transactions are ignored (a failed COMMIT has
    /// already rolled back).
    pub(crate) fn rollback_impl(&self, txn: TxnId) {
        let undo = {
            let mut g = lock(&self.inner.mgr);
            match g.active.get_mut(&txn) {
                Some(st) => std::mem::take(&mut st.undo),
                None => return,
            }
        };
        // Undo while still in progress, so nobody takes our versions for
        // committed ones.
        self.apply_undo(undo);
        if let Some(st) = self.finish(txn, false) {
            self.recycle(st);
        }
    }

    fn apply_undo(&self, entries: Vec<Undo>) {
        // Rollbacks undo many rows of one table in a row: cache its cell.
        let mut cached: Option<(TableId, Arc<TableCell>)> = None;
        fn cell_of(
            this: &MemoryBackend,
            cached: &mut Option<(TableId, Arc<TableCell>)>,
            t: TableId,
        ) -> Option<Arc<TableCell>> {
            if let Some((id, c)) = cached {
                if *id == t {
                    return Some(Arc::clone(c));
                }
            }
            let c = this.table(t).ok()?;
            *cached = Some((t, Arc::clone(&c)));
            Some(c)
        }
        for e in entries.into_iter().rev() {
            match e {
                Undo::Inserted { table, row } => {
                    if let Some(c) = cell_of(self, &mut cached, table) {
                        write(&c.data).remove_row(row);
                    }
                }
                Undo::Updated { table, row } => {
                    if let Some(c) = cell_of(self, &mut cached, table) {
                        write(&c.data).pop_version(row);
                    }
                }
                Undo::Deleted { table, row } => {
                    if let Some(c) = cell_of(self, &mut cached, table) {
                        if let Some(r) = write(&c.data).row_mut(row) {
                            r.head.xmax = 0;
                            r.head.cmax = 0;
                        }
                    }
                }
                Undo::CreatedTable { table } => {
                    self.tables_mut().remove(&table);
                    cached = None;
                }
                Undo::DroppedTable { cell } => {
                    self.tables_mut().insert(cell.id, cell);
                    cached = None;
                }
                Undo::Replaced { table, old } => {
                    if let Some(c) = cell_of(self, &mut cached, table) {
                        let mut d = write(&c.data);
                        let newer = std::mem::replace(&mut *d, *old);
                        drop(d);
                        drop(newer);
                    }
                }
                Undo::CreatedIndex { table, index } => {
                    if let Some(c) = cell_of(self, &mut cached, table) {
                        let mut d = write(&c.data);
                        if let Some(p) = d.index_pos(index) {
                            d.indexes.remove(p);
                        }
                    }
                }
                Undo::DroppedIndex { table, index } => {
                    if let Some(c) = cell_of(self, &mut cached, table) {
                        write(&c.data).indexes.push(*index);
                    }
                }
            }
        }
    }

    pub(crate) fn savepoint_impl(&self, txn: TxnId, name: &str) -> DbResult<()> {
        let mut g = lock(&self.inner.mgr);
        let st = g.state_mut(txn)?;
        let mark = st.undo.len();
        let locks = st.locks.len();
        st.savepoints.push((name.to_string(), mark, locks));
        Ok(())
    }

    pub(crate) fn rollback_to_savepoint_impl(&self, txn: TxnId, name: &str) -> DbResult<()> {
        let (entries, taken) = {
            let mut g = lock(&self.inner.mgr);
            let st = g.state_mut(txn)?;
            let pos = st
                .savepoints
                .iter()
                .rposition(|(n, _, _)| n == name)
                .ok_or_else(|| no_savepoint(name))?;
            let mark = st.savepoints[pos].1.min(st.undo.len());
            let lock_mark = st.savepoints[pos].2.min(st.locks.len());
            st.savepoints.truncate(pos + 1);
            let entries = st.undo.split_off(mark);
            for e in &entries {
                if let Some((t, d)) = e.delta() {
                    st.deltas.add(t, -d);
                }
            }
            let taken = st.locks.split_off(lock_mark);
            (entries, taken)
        };
        // Undo first: a waiter woken by the released locks must find the
        // rows as they were at the savepoint.
        self.apply_undo(entries);
        if !taken.is_empty() {
            let mut g = lock(&self.inner.mgr);
            let before = g.state(txn).map(|st| st.locks.clone()).unwrap_or_default();
            g.release_since(txn, &before, &taken);
            let listeners = g.waiters > 0;
            drop(g);
            if listeners {
                self.inner.cond.notify_all();
            }
        }
        Ok(())
    }

    pub(crate) fn release_savepoint_impl(&self, txn: TxnId, name: &str) -> DbResult<()> {
        let mut g = lock(&self.inner.mgr);
        let st = g.state_mut(txn)?;
        let pos = st
            .savepoints
            .iter()
            .rposition(|(n, _, _)| n == name)
            .ok_or_else(|| no_savepoint(name))?;
        st.savepoints.truncate(pos);
        Ok(())
    }

    /// Appends undo entries and count changes to a transaction (DDL from an
    /// unknown transaction, e.g. bootstrap, is simply not undoable).
    fn record(
        &self,
        txn: TxnId,
        entries: impl IntoIterator<Item = Undo>,
        delta: Option<(TableId, i64)>,
    ) {
        let mut g = lock(&self.inner.mgr);
        if let Some(st) = g.active.get_mut(&txn) {
            st.undo.extend(entries);
            if let Some((t, d)) = delta {
                if d != 0 {
                    st.deltas.add(t, d);
                }
            }
        }
    }

    fn read_ctx(&self, txn: TxnId, table: TableId, latest: bool) -> DbResult<Visibility> {
        // Uncommitted TRUNCATE/ALTER/DROP replaced the contents in place:
        // wait for it to end rather than read them.
        let mut g = self.mgr_when_free(txn, |g| g.table_writer(table, txn))?;
        let fresh = latest.then(|| g.snapshot());
        let st = g.state_mut(txn)?;
        if let Some(ssi) = st.ssi.as_mut() {
            ssi.reads.insert(table);
        }
        Ok(Visibility {
            me: txn,
            cid: st.cid,
            snap: fresh.unwrap_or_else(|| Arc::clone(&st.snapshot)),
            _pin: None,
        })
    }

    /// What an autocommit read (`AUTOCOMMIT_READ`) sees: the latest
    /// committed state. It waits for nothing: an uncommitted TRUNCATE,
    /// ALTER or DROP of the table fails it with 55P03, and the caller
    /// retries in a transaction, which waits under the statement's bounds.
    ///
    /// A cursor reads after this returns, so with `pin` the snapshot's
    /// versions are kept from vacuum until the visibility drops. A `fetch`
    /// calls this holding the table's read lock, which vacuum needs for
    /// writing: any vacuum before it used a horizon this snapshot is at or
    /// above (a snapshot taken later sees every deleter it pruned for), so
    /// it needs no pin.
    fn autocommit_ctx(&self, table: TableId, pin: bool) -> DbResult<Visibility> {
        let mut g = lock(&self.inner.mgr);
        if let Some(holder) = g.table_writer(table, AUTOCOMMIT_READ) {
            return Err(AionError::new(
                SqlState::LOCK_NOT_AVAILABLE,
                format!("table {table} is being changed by transaction {holder}"),
            )
            .with_hint("run the statement in a transaction to wait for it"));
        }
        let snap = g.snapshot();
        let pin = pin.then(|| {
            g.pin(snap.xmin);
            Pin {
                inner: Arc::clone(&self.inner),
                xmin: snap.xmin,
            }
        });
        Ok(Visibility {
            me: AUTOCOMMIT_READ,
            cid: 0,
            snap,
            _pin: pin,
        })
    }

    /// `read_ctx` for a cursor: `autocommit_ctx` with a pin for an
    /// autocommit read.
    fn cursor_ctx(&self, txn: TxnId, table: TableId, latest: bool) -> DbResult<Visibility> {
        if txn == AUTOCOMMIT_READ {
            self.autocommit_ctx(table, true)
        } else {
            self.read_ctx(txn, table, latest)
        }
    }

    fn write_ctx(&self, txn: TxnId, table: TableId) -> DbResult<WriteCtx> {
        let mut g = self.mgr_when_free(txn, |g| g.lock_table(table, txn, false))?;
        let st = g.state_mut(txn)?;
        if let Some(ssi) = st.ssi.as_mut() {
            ssi.writes.insert(table);
        }
        Ok(WriteCtx { cid: st.cid })
    }

    // ------------------------------------------------------------- lock waits

    /// The running statement's wait bounds (lock_timeout, statement
    /// deadline), for waits whose call carries none.
    fn stmt_wait(&self, txn: TxnId) -> LockWait {
        lock(&self.inner.mgr)
            .state(txn)
            .map(|st| st.wait.clone())
            .unwrap_or_default()
    }

    /// Takes a table lock, waiting for conflicting holders to finish
    /// (deadlocks are detected; see `Mgr::table_locks`).
    fn lock_table(&self, txn: TxnId, table: TableId, exclusive: bool) -> DbResult<()> {
        self.mgr_when_free(txn, |g| g.lock_table(table, txn, exclusive))
            .map(drop)
    }

    /// The transaction manager, locked once `conflict` names no
    /// transaction to wait for; each one it names is waited out under the
    /// statement's bounds.
    fn mgr_when_free(
        &self,
        txn: TxnId,
        conflict: impl Fn(&mut Mgr) -> Option<TxnId>,
    ) -> DbResult<std::sync::MutexGuard<'_, Mgr>> {
        let mut g = lock(&self.inner.mgr);
        while let Some(holder) = conflict(&mut g) {
            let wait = g.state(txn).map(|st| st.wait.clone()).unwrap_or_default();
            drop(g);
            self.wait_for_txn(txn, holder, &wait)?;
            g = lock(&self.inner.mgr);
        }
        Ok(g)
    }

    /// Blocks until `blocker` ends, honouring the lock timeout, the
    /// statement deadline and deadlock detection.
    fn wait_for_txn(&self, me: TxnId, blocker: TxnId, wait: &LockWait) -> DbResult<()> {
        let start = Instant::now();
        let lock_deadline =
            (wait.timeout_ms > 0).then(|| start + Duration::from_millis(wait.timeout_ms));
        let stmt_deadline = (wait.deadline_unix_us > 0).then(|| {
            start + Duration::from_micros(wait.deadline_unix_us.saturating_sub(unix_now_us()))
        });
        let mut g = lock(&self.inner.mgr);
        if !g.active.contains_key(&blocker) || blocker == me {
            return Ok(());
        }
        g.state_mut(me)?.waiting_for = Some(blocker);
        if let Some(cycle) = g.deadlock_cycle(me) {
            if let Some(st) = g.active.get_mut(&me) {
                st.waiting_for = None;
            }
            let detail = cycle
                .iter()
                .map(|(a, b)| {
                    format!("Transaction {a} waits for ShareLock on transaction {b}; blocked by transaction {b}.")
                })
                .collect::<Vec<_>>()
                .join("\n");
            return Err(
                AionError::new(SqlState::DEADLOCK_DETECTED, "deadlock detected")
                    .with_detail(detail)
                    .with_hint("See server log for query details."),
            );
        }
        let result = loop {
            if !g.active.contains_key(&blocker) {
                break Ok(());
            }
            if wait.cancel.is_set() {
                break Err(aiondb_sdk::capability::CancelFlag::error());
            }
            let now = Instant::now();
            // Also the period at which a cancel is noticed.
            let mut next = now + Duration::from_millis(100);
            if let Some(d) = stmt_deadline {
                if now >= d {
                    break Err(AionError::new(
                        SqlState::QUERY_CANCELED,
                        "canceling statement due to statement timeout",
                    ));
                }
                next = next.min(d);
            }
            if let Some(d) = lock_deadline {
                if now >= d {
                    break Err(AionError::new(
                        SqlState::LOCK_NOT_AVAILABLE,
                        "canceling statement due to lock timeout",
                    ));
                }
                next = next.min(d);
            }
            g.waiters += 1;
            g = self
                .inner
                .cond
                .wait_timeout(g, next.saturating_duration_since(now))
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
            g.waiters -= 1;
        };
        if let Some(st) = g.active.get_mut(&me) {
            st.waiting_for = None;
        }
        result
    }

    pub(crate) fn lock_row_impl(
        &self,
        me: TxnId,
        table: TableId,
        row: RowId,
        exclusive: bool,
        wait: &LockWait,
    ) -> DbResult<LockOutcome> {
        self.lock_table(me, table, false)?;
        let cell = self.table(table)?;
        let key = (table, row);
        loop {
            let (snap, isolation) = {
                let mut g = lock(&self.inner.mgr);
                loop {
                    match g.lock_conflict(key, me, exclusive) {
                        None => break,
                        Some(holder) => {
                            drop(g);
                            self.wait_for_txn(me, holder, wait)?;
                            g = lock(&self.inner.mgr);
                        }
                    }
                }
                let st = g.state(me)?;
                let out = (Arc::clone(&st.snapshot), st.isolation);
                g.grant(key, me, exclusive);
                out
            };
            let data = read(&cell.data);
            let Some(r) = data.row(row) else {
                return Ok(LockOutcome::Deleted);
            };
            let head = &r.head;
            // A writer that does not hold a row lock (an inserter) must end
            // before we can tell what the row is.
            let blocker = {
                let g = lock(&self.inner.mgr);
                if head.xmin != me && g.active.contains_key(&head.xmin) {
                    Some(head.xmin)
                } else if head.xmax != 0 && head.xmax != me && g.active.contains_key(&head.xmax) {
                    Some(head.xmax)
                } else {
                    None
                }
            };
            if let Some(b) = blocker {
                drop(data);
                self.wait_for_txn(me, b, wait)?;
                continue;
            }
            let rc = isolation == IsolationLevel::ReadCommitted;
            if head.xmax != 0 {
                if head.xmax == me || snap.sees(head.xmax) || rc {
                    return Ok(LockOutcome::Deleted);
                }
                return Err(concurrent("delete"));
            }
            if head.xmin != me && !snap.sees(head.xmin) {
                if rc {
                    return Ok(LockOutcome::LockedChanged);
                }
                return Err(concurrent("update"));
            }
            return Ok(LockOutcome::Locked);
        }
    }

    /// Locks every row of `ids` exclusively (waiting as needed); returns the
    /// positions of rows that turned out deleted.
    fn lock_for_write(&self, me: TxnId, table: TableId, ids: &[RowId]) -> DbResult<Vec<bool>> {
        let missing: Vec<usize> = {
            let g = lock(&self.inner.mgr);
            ids.iter()
                .enumerate()
                .filter(|(_, &r)| !g.holds((table, r), me, true))
                .map(|(i, _)| i)
                .collect()
        };
        let mut gone = vec![false; ids.len()];
        for i in missing {
            if self.lock_row_impl(me, table, ids[i], true, &self.stmt_wait(me))?
                == LockOutcome::Deleted
            {
                gone[i] = true;
            }
        }
        Ok(gone)
    }

    // ---------------------------------------------------------------- unique

    /// Checks `values` against every unique index. `old` is the version an
    /// update replaces (unchanged keys need no check).
    fn unique_check(
        &self,
        data: &TableData,
        me: TxnId,
        values: &[Value],
        self_row: Option<RowId>,
        old: Option<&PackedRow>,
    ) -> UniqueCheck {
        for ix in data.indexes.iter().filter(|ix| ix.def.unique) {
            if ix.key_has_null(values) {
                continue;
            }
            if let Some(old) = old {
                if ix.same_key_packed(old, values) {
                    continue;
                }
            }
            // Single-column keys are probed in place, without a copy.
            let mut buf = Vec::new();
            let key = ix.key_ref(values, &mut buf);
            let Some(posting) = ix.get(&key) else {
                continue;
            };
            for &rid in posting {
                if Some(rid) == self_row {
                    continue;
                }
                let Some(row) = data.row(rid) else { continue };
                for v in row.versions() {
                    if !ix.has_key(&v.row, key) {
                        continue;
                    }
                    if v.xmin != me && self.is_active(v.xmin) {
                        return UniqueCheck::Wait(v.xmin);
                    }
                    if v.xmax == 0 {
                        return UniqueCheck::Violation(
                            AionError::new(
                                SqlState::UNIQUE_VIOLATION,
                                format!(
                                    "duplicate key value violates unique constraint \"{}\"",
                                    ix.def.name
                                ),
                            )
                            .with_detail(format!(
                                "Key ({})=({}) already exists.",
                                ix.column_list(&data.def),
                                ix.value_list(values)
                            )),
                        );
                    }
                    if v.xmax != me && self.is_active(v.xmax) {
                        return UniqueCheck::Wait(v.xmax);
                    }
                    // Deleted by us or by a committed transaction: dead.
                }
            }
        }
        UniqueCheck::Ok
    }

    fn maybe_vacuum(&self, data: &mut TableData) {
        if data.dead_hint > VACUUM_MIN_DEAD && data.dead_hint as usize > data.slots.len() / 4 {
            data.vacuum(self.horizon());
        }
    }

    // ------------------------------------------------------------------- DML

    pub(crate) fn insert_impl(
        &self,
        txn: TxnId,
        table: TableId,
        rows: &RowBatch,
        ids: &mut RVec<RowId>,
    ) -> DbResult<()> {
        // The table lock first: the table may be dropped while we wait.
        let ctx = self.write_ctx(txn, table)?;
        let cell = self.table(table)?;
        let n = rows.len();
        let first = ids.len();
        ids.reserve(n);
        let mut i = 0;
        let result = loop {
            let mut wait_on = None;
            let step: DbResult<()> = (|| {
                let mut data = write(&cell.data);
                if rows.width() != data.width() && n > 0 {
                    return Err(width_mismatch(rows.width(), data.width()));
                }
                let has_unique = data.indexes.iter().any(|ix| ix.def.unique);
                while i < n {
                    let Some(values) = rows.row(i) else { break };
                    if has_unique {
                        match self.unique_check(&data, txn, values, None, None) {
                            UniqueCheck::Ok => {}
                            UniqueCheck::Wait(x) => {
                                wait_on = Some(x);
                                return Ok(());
                            }
                            UniqueCheck::Violation(e) => return Err(e),
                        }
                    }
                    let row = PackedRow::new(values);
                    data.try_charge(version_bytes(&row))?;
                    let id = data.push_row(
                        values,
                        Version {
                            xmin: txn,
                            xmax: 0,
                            cmin: ctx.cid,
                            cmax: 0,
                            row,
                        },
                    );
                    ids.push(id);
                    i += 1;
                }
                Ok(())
            })();
            if let Err(e) = step {
                break Err(e);
            }
            match wait_on {
                Some(x) => {
                    if let Err(e) = self.wait_for_txn(txn, x, &self.stmt_wait(txn)) {
                        break Err(e);
                    }
                }
                None => break Ok(()),
            }
        };
        // Recorded whatever happened: a failed batch's earlier rows must
        // still go away on rollback.
        let new = &ids[first..];
        self.record(
            txn,
            new.iter().map(|&row| Undo::Inserted { table, row }),
            Some((table, new.len() as i64)),
        );
        result
    }

    pub(crate) fn update_impl(
        &self,
        txn: TxnId,
        table: TableId,
        row_ids: &[RowId],
        rows: &RowBatch,
    ) -> DbResult<u64> {
        // The table lock first: the table may be dropped while we wait.
        let ctx = self.write_ctx(txn, table)?;
        let cell = self.table(table)?;
        if rows.len() != row_ids.len() {
            return Err(AionError::internal(format!(
                "update got {} row ids but {} rows",
                row_ids.len(),
                rows.len()
            )));
        }
        let gone = self.lock_for_write(txn, table, row_ids)?;
        let horizon = self.horizon();
        let mut done: Vec<RowId> = Vec::new();
        let mut i = 0;
        let result = loop {
            let mut wait_on = None;
            let step: DbResult<()> = (|| {
                let mut data = write(&cell.data);
                if rows.width() != data.width() && !row_ids.is_empty() {
                    return Err(width_mismatch(rows.width(), data.width()));
                }
                while i < row_ids.len() {
                    let rid = row_ids[i];
                    let Some(values) = rows.row(i) else { break };
                    if gone[i] {
                        i += 1;
                        continue;
                    }
                    let Some(r) = data.row(rid) else {
                        i += 1;
                        continue;
                    };
                    // Deleted, or already changed by this very statement
                    // (PostgreSQL ignores such a second update).
                    if r.head.xmax != 0 || (r.head.xmin == txn && r.head.cmin == ctx.cid) {
                        i += 1;
                        continue;
                    }
                    match self.unique_check(&data, txn, values, Some(rid), Some(&r.head.row)) {
                        UniqueCheck::Ok => {}
                        UniqueCheck::Wait(x) => {
                            wait_on = Some(x);
                            return Ok(());
                        }
                        UniqueCheck::Violation(e) => return Err(e),
                    }
                    let row = PackedRow::new(values);
                    data.try_charge(version_bytes(&row))?;
                    let new = Version {
                        xmin: txn,
                        xmax: 0,
                        cmin: ctx.cid,
                        cmax: 0,
                        row,
                    };
                    let Some(r) = data.row_mut(rid) else { break };
                    let mut old = std::mem::replace(&mut r.head, new);
                    old.xmax = txn;
                    old.cmax = ctx.cid;
                    r.older.push(old);
                    let prunable = r.older.iter().any(|v| v.xmax != 0 && v.xmax < horizon);
                    data.index_version(values, rid);
                    if prunable {
                        data.prune_row(rid, horizon);
                    }
                    data.dead_hint += 1;
                    done.push(rid);
                    i += 1;
                }
                self.maybe_vacuum(&mut data);
                Ok(())
            })();
            if let Err(e) = step {
                break Err(e);
            }
            match wait_on {
                Some(x) => {
                    if let Err(e) = self.wait_for_txn(txn, x, &self.stmt_wait(txn)) {
                        break Err(e);
                    }
                }
                None => break Ok(()),
            }
        };
        let count = done.len() as u64;
        self.record(
            txn,
            done.into_iter().map(|row| Undo::Updated { table, row }),
            None,
        );
        result.map(|_| count)
    }

    pub(crate) fn delete_impl(
        &self,
        txn: TxnId,
        table: TableId,
        row_ids: &[RowId],
    ) -> DbResult<u64> {
        // The table lock first: the table may be dropped while we wait.
        let ctx = self.write_ctx(txn, table)?;
        let cell = self.table(table)?;
        let gone = self.lock_for_write(txn, table, row_ids)?;
        let mut done: Vec<RowId> = Vec::new();
        {
            let mut data = write(&cell.data);
            for (i, &rid) in row_ids.iter().enumerate() {
                if gone[i] {
                    continue;
                }
                let Some(r) = data.row_mut(rid) else { continue };
                if r.head.xmax != 0 || (r.head.xmin == txn && r.head.cmin == ctx.cid) {
                    continue;
                }
                r.head.xmax = txn;
                r.head.cmax = ctx.cid;
                data.dead_hint += 1;
                done.push(rid);
            }
            self.maybe_vacuum(&mut data);
        }
        let count = done.len() as u64;
        self.record(
            txn,
            done.into_iter().map(|row| Undo::Deleted { table, row }),
            Some((table, -(count as i64))),
        );
        Ok(count)
    }

    // ----------------------------------------------------------------- scans

    fn cursor(
        &self,
        cell: Arc<TableCell>,
        vis: Visibility,
        request: &ScanRequest,
        source: Source,
    ) -> DbResult<RowCursorBox> {
        let (proj, width) = {
            let data = read(&cell.data);
            let width = request_width(&data, request)?;
            let proj: Option<Vec<usize>> = (!request.projection.is_empty())
                .then(|| request.projection.iter().map(|&c| c as usize).collect());
            (proj, width)
        };
        Ok(guarded_cursor(TableCursor {
            cell,
            vis,
            proj,
            with_row_ids: request.with_row_ids,
            width,
            source,
        }))
    }

    pub(crate) fn scan_impl(
        &self,
        txn: TxnId,
        table: TableId,
        request: &ScanRequest,
    ) -> DbResult<RowCursorBox> {
        let cell = self.table(table)?;
        let vis = self.cursor_ctx(txn, table, request.latest)?;
        let source = match &request.row_ids {
            ROption::RSome(ids) => Source::Rows {
                ids: ids.to_vec(),
                pos: 0,
            },
            ROption::RNone => Source::Seq { next: 0 },
        };
        self.cursor(cell, vis, request, source)
    }

    pub(crate) fn fetch_impl(
        &self,
        txn: TxnId,
        table: TableId,
        index: IndexId,
        key: &[Value],
        request: &ScanRequest,
        out: &mut RowBatch,
    ) -> DbResult<()> {
        let cell = self.table_cached(table)?;
        let (vis, data) = if txn == AUTOCOMMIT_READ {
            // The read lock first: see `autocommit_ctx`.
            let data = read(&cell.data);
            (self.autocommit_ctx(table, false)?, data)
        } else {
            let vis = self.read_ctx(txn, table, request.latest)?;
            (vis, read(&cell.data))
        };
        let ix = data
            .index_pos(index)
            .map(|p| &data.indexes[p])
            .ok_or_else(|| undefined_index(index))?;
        if key.len() != ix.cols.len() {
            return Err(AionError::internal(format!(
                "fetch key has {} columns but index \"{}\" has {}",
                key.len(),
                ix.def.name,
                ix.cols.len()
            )));
        }
        let proj = request.projection.as_slice();
        let width = request_width(&data, request)?;
        if out.width() != width {
            return Err(AionError::internal(format!(
                "fetch output has {} columns but the request returns {width}",
                out.width()
            )));
        }
        // `=` with NULL is never true.
        if key.iter().any(Value::is_null) {
            return Ok(());
        }
        let key = KeyRef::of(key);
        let Some(posting) = ix.get(&key) else {
            return Ok(());
        };
        for &id in posting {
            if let Some(v) = visible_with_key(&data, ix, id, key, &vis) {
                let cols = (!proj.is_empty()).then(|| proj.iter().map(|&c| c as usize));
                emit_version(out, id, v, cols, request.with_row_ids);
            }
        }
        Ok(())
    }

    pub(crate) fn index_scan_impl(
        &self,
        txn: TxnId,
        table: TableId,
        index: IndexId,
        query: &IndexQuery,
        request: &ScanRequest,
        reverse: bool,
    ) -> DbResult<RowCursorBox> {
        let cell = self.table(table)?;
        let ncols = {
            let data = read(&cell.data);
            let pos = data
                .index_pos(index)
                .ok_or_else(|| undefined_index(index))?;
            data.indexes[pos].cols.len()
        };
        let vis = self.cursor_ctx(txn, table, request.latest)?;
        let with_sentinel = |v: &[Value]| -> Box<[Value]> {
            v.iter()
                .cloned()
                .chain(std::iter::once(sentinel()))
                .collect()
        };
        let too_long = |n: usize| {
            AionError::internal(format!(
                "index scan key has {n} columns but the index has {ncols}"
            ))
        };
        let range = |lo, hi, null_prefix| Source::IndexRange {
            index,
            lo,
            hi,
            reverse,
            null_prefix,
            after: None,
            done: false,
        };
        let source = match query {
            IndexQuery::All => range(Bound::Unbounded, Bound::Unbounded, 0),
            IndexQuery::Eq(vals) if vals.is_empty() => range(Bound::Unbounded, Bound::Unbounded, 0),
            IndexQuery::Eq(vals) => {
                if vals.len() > ncols {
                    return Err(too_long(vals.len()));
                }
                if vals.iter().any(Value::is_null) {
                    // `=` with NULL is never true.
                    Source::Empty
                } else if vals.len() == ncols {
                    Source::IndexEq {
                        index,
                        key: vals.to_vec().into_boxed_slice(),
                        after: None,
                        done: false,
                    }
                } else {
                    range(
                        Bound::Included(vals.to_vec().into_boxed_slice()),
                        Bound::Included(with_sentinel(vals)),
                        0,
                    )
                }
            }
            IndexQuery::Range {
                lower,
                lower_inclusive,
                upper,
                upper_inclusive,
            } => {
                let lower = lower.as_ref().into_option().filter(|v| !v.is_empty());
                let upper = upper.as_ref().into_option().filter(|v| !v.is_empty());
                let mut null_prefix = 0;
                let mut has_null = false;
                for v in lower.iter().chain(upper.iter()) {
                    if v.len() > ncols {
                        return Err(too_long(v.len()));
                    }
                    null_prefix = null_prefix.max(v.len());
                    has_null |= v.iter().any(Value::is_null);
                }
                if has_null {
                    Source::Empty
                } else {
                    let lo = match lower {
                        None => Bound::Unbounded,
                        Some(v) if *lower_inclusive => {
                            Bound::Included(v.to_vec().into_boxed_slice())
                        }
                        Some(v) => Bound::Excluded(with_sentinel(v)),
                    };
                    let hi = match upper {
                        None => Bound::Unbounded,
                        Some(v) if *upper_inclusive => Bound::Included(with_sentinel(v)),
                        Some(v) => Bound::Excluded(v.to_vec().into_boxed_slice()),
                    };
                    range(lo, hi, null_prefix)
                }
            }
            IndexQuery::Knn { .. } | IndexQuery::Neighbors { .. } => {
                return Err(AionError::feature_not_supported(
                    "btree indexes of the in_memory backend answer equality and range queries only",
                ))
            }
        };
        self.cursor(cell, vis, request, source)
    }

    // ------------------------------------------------------------------- DDL

    pub(crate) fn create_table_impl(&self, txn: TxnId, def: &TableDef) -> DbResult<()> {
        check_width(def)?;
        {
            let mut tables = self.tables_mut();
            if tables.contains_key(&def.id) {
                return Err(AionError::new(
                    SqlState::DUPLICATE_TABLE,
                    format!("relation \"{}\" already exists", def.name),
                ));
            }
            tables.insert(
                def.id,
                Arc::new(TableCell {
                    id: def.id,
                    data: RwLock::new(TableData::new(def.clone(), 1, Arc::clone(&self.inner.mem))),
                }),
            );
        }
        self.record(txn, [Undo::CreatedTable { table: def.id }], None);
        Ok(())
    }

    pub(crate) fn drop_table_impl(&self, txn: TxnId, table: TableId) -> DbResult<()> {
        self.lock_table(txn, table, true)?;
        let cell = self
            .tables_mut()
            .remove(&table)
            .ok_or_else(|| undefined_table(table))?;
        self.record(txn, [Undo::DroppedTable { cell }], None);
        Ok(())
    }

    pub(crate) fn truncate_impl(&self, txn: TxnId, table: TableId) -> DbResult<()> {
        // Locked first: the table may be dropped while we wait.
        self.lock_table(txn, table, true)?;
        let cell = self.table(table)?;
        let old = {
            let mut data = write(&cell.data);
            let mut fresh = TableData::new(
                data.def.clone(),
                data.next_row_id(),
                Arc::clone(&self.inner.mem),
            );
            for ix in &data.indexes {
                fresh
                    .indexes
                    .push(Index::new(ix.def.clone(), data.width())?);
            }
            std::mem::replace(&mut *data, fresh)
        };
        {
            let mut g = lock(&self.inner.mgr);
            if let Some(st) = g.active.get_mut(&txn) {
                // Our own earlier inserts went with the old contents.
                st.deltas.remove(table);
            }
        }
        self.record(
            txn,
            [Undo::Replaced {
                table,
                old: Box::new(old),
            }],
            None,
        );
        Ok(())
    }

    pub(crate) fn alter_table_impl(
        &self,
        txn: TxnId,
        old_def: &TableDef,
        new: &TableDef,
        fill: &Value,
    ) -> DbResult<()> {
        check_width(new)?;
        self.lock_table(txn, old_def.id, true)?;
        let cell = self.table(old_def.id)?;
        let old = {
            let mut data = write(&cell.data);
            let old_cols = &data.def.columns;
            // Same width: renames and type changes keep positions. Otherwise
            // columns are matched by name; unmatched new ones get `fill`.
            let map: Vec<Option<usize>> = if old_cols.len() == new.columns.len() {
                (0..new.columns.len()).map(Some).collect()
            } else {
                new.columns
                    .iter()
                    .map(|c| old_cols.iter().position(|o| o.name == c.name))
                    .collect()
            };
            let convert = |vals: &[Value]| -> Box<[Value]> {
                map.iter()
                    .map(|m| match m {
                        Some(i) => vals.get(*i).cloned().unwrap_or(Value::Null),
                        None => fill.clone(),
                    })
                    .collect()
            };
            let mut fresh = TableData::new(new.clone(), data.base, Arc::clone(&self.inner.mem));
            let mut bytes = 0;
            for slot in &data.slots {
                fresh.slots.push(slot.as_ref().map(|r| {
                    let mut conv = |v: &Version| {
                        let row = PackedRow::new(&convert(&v.row.values()));
                        bytes += version_bytes(&row);
                        Version {
                            xmin: v.xmin,
                            xmax: v.xmax,
                            cmin: v.cmin,
                            cmax: v.cmax,
                            row,
                        }
                    };
                    let head = conv(&r.head);
                    let older = r.older.iter().map(conv).collect();
                    crate::table::LogicalRow { head, older }
                }));
            }
            fresh.charge(bytes);
            // Indexes follow their columns; one on a dropped column goes,
            // as in PostgreSQL.
            for ix in &data.indexes {
                let cols: Option<Vec<u32>> = ix
                    .cols
                    .iter()
                    .map(|&c| map.iter().position(|m| *m == Some(c)).map(|p| p as u32))
                    .collect();
                if let Some(cols) = cols {
                    let mut def = ix.def.clone();
                    def.columns = RVec::from(cols);
                    let mut nix = Index::new(def, new.columns.len())?;
                    let mut added = 0;
                    for (i, slot) in fresh.slots.iter().enumerate() {
                        if let Some(r) = slot {
                            for v in r.versions() {
                                added += nix.add(&v.row.values(), fresh.base + i as u64);
                            }
                        }
                    }
                    fresh.charge(added);
                    fresh.indexes.push(nix);
                }
            }
            fresh
                .live
                .store(data.live.load(AtOrd::Relaxed), AtOrd::Relaxed);
            std::mem::replace(&mut *data, fresh)
        };
        self.record(
            txn,
            [Undo::Replaced {
                table: old_def.id,
                old: Box::new(old),
            }],
            None,
        );
        Ok(())
    }

    pub(crate) fn create_index_impl(
        &self,
        txn: TxnId,
        def: &IndexDef,
        table: &TableDef,
    ) -> DbResult<()> {
        if def.method.as_str() != "btree" {
            return Err(AionError::feature_not_supported(format!(
                "access method \"{}\" is not maintained by the in_memory storage backend",
                def.method
            )));
        }
        self.lock_table(txn, table.id, true)?;
        let cell = self.table(table.id)?;
        {
            let mut data = write(&cell.data);
            if data.index_pos(def.id).is_some() {
                return Err(AionError::new(
                    SqlState::DUPLICATE_TABLE,
                    format!("relation \"{}\" already exists", def.name),
                ));
            }
            let mut ix = Index::new(def.clone(), data.width())?;
            let mut added = 0;
            for (i, slot) in data.slots.iter().enumerate() {
                if let Some(r) = slot {
                    for v in r.versions() {
                        added += ix.add(&v.row.values(), data.base + i as u64);
                    }
                }
            }
            if def.unique {
                self.check_unique_build(&data, &ix, txn)?;
            }
            data.charge(added);
            data.indexes.push(ix);
        }
        self.record(
            txn,
            [Undo::CreatedIndex {
                table: table.id,
                index: def.id,
            }],
            None,
        );
        Ok(())
    }

    /// A new unique index fails when two rows' newest versions share a
    /// non-null key and neither is deleted by a committed transaction.
    fn check_unique_build(&self, data: &TableData, ix: &Index, me: TxnId) -> DbResult<()> {
        let active: Vec<TxnId> = lock(&self.inner.mgr).active.keys().copied().collect();
        let alive = |x: TxnId| x == 0 || x == me || active.binary_search(&x).is_ok();
        for (key, posting) in ix.range(Bound::Unbounded, Bound::Unbounded, false) {
            if posting.len() < 2 || key.prefix_has_null(usize::MAX) {
                continue;
            }
            let live = posting
                .iter()
                .filter(|&&rid| {
                    data.row(rid).is_some_and(|r| {
                        ix.has_key(&r.head.row, key) && (alive(r.head.xmax) && r.head.xmax != me)
                    })
                })
                .count();
            if live > 1 {
                let values: Vec<String> = key
                    .to_values()
                    .iter()
                    .map(|v| v.to_pg_text().unwrap_or_else(|| "null".into()))
                    .collect();
                return Err(AionError::new(
                    SqlState::UNIQUE_VIOLATION,
                    format!("could not create unique index \"{}\"", ix.def.name),
                )
                .with_detail(format!(
                    "Key ({})=({}) is duplicated.",
                    ix.column_list(&data.def),
                    values.join(", ")
                )));
            }
        }
        Ok(())
    }

    pub(crate) fn drop_index_impl(
        &self,
        txn: TxnId,
        table: TableId,
        index: IndexId,
    ) -> DbResult<()> {
        self.lock_table(txn, table, true)?;
        let cell = self.table(table)?;
        let ix = {
            let mut data = write(&cell.data);
            let pos = data
                .index_pos(index)
                .ok_or_else(|| undefined_index(index))?;
            data.indexes.remove(pos)
        };
        self.record(
            txn,
            [Undo::DroppedIndex {
                table,
                index: Box::new(ix),
            }],
            None,
        );
        Ok(())
    }

    pub(crate) fn stats_impl(&self, txn: TxnId, table: TableId) -> DbResult<TableStats> {
        let cell = self.table(table)?;
        let own = if txn == 0 {
            0
        } else {
            lock(&self.inner.mgr)
                .active
                .get(&txn)
                .and_then(|st| st.deltas.get(table))
                .unwrap_or(0)
        };
        let data = read(&cell.data);
        let live = data.live.load(AtOrd::Relaxed) + own;
        Ok(TableStats {
            row_count: live.max(0) as u64,
            total_bytes: data.bytes,
        })
    }
}

fn undefined_index(id: IndexId) -> AionError {
    AionError::new(
        SqlState::UNDEFINED_OBJECT,
        format!("index with OID {id} does not exist"),
    )
}

fn r<T>(x: DbResult<T>) -> AResult<T> {
    RResult::from(x)
}

impl StorageBackend for MemoryBackend {
    fn info(&self) -> AResult<BackendInfo> {
        r(Ok(BackendInfo {
            persistent: false,
            mvcc: true,
            max_isolation: IsolationLevel::Serializable,
            index_methods: RVec::from(vec![RString::from("btree")]),
            autocommit_reads: true,
        }))
    }

    fn open(&self, options: &StorageOptions) -> AResult<()> {
        self.inner
            .mem
            .limit
            .store(options.memory_limit_bytes, AtOrd::Relaxed);
        if let ROption::RSome(dir) = &options.data_dir {
            aiondb_sdk::log::info!(
                "in_memory storage keeps nothing on disk; data directory {dir} is not used"
            );
        }
        r(Ok(()))
    }

    fn begin(&self, isolation: IsolationLevel, _read_only: bool) -> AResult<TxnId> {
        r(Ok(self.begin_impl(isolation, false, &LockWait::default())))
    }

    fn begin_with_statement(
        &self,
        isolation: IsolationLevel,
        _read_only: bool,
        wait: &LockWait,
    ) -> AResult<TxnId> {
        r(Ok(self.begin_impl(isolation, true, wait)))
    }

    fn fetch(
        &self,
        txn: TxnId,
        table: TableId,
        index: IndexId,
        key: RSlice<'_, Value>,
        request: &ScanRequest,
        out: &mut RowBatch,
    ) -> AResult<()> {
        r(self.fetch_impl(txn, table, index, key.as_slice(), request, out))
    }

    fn begin_statement(&self, txn: TxnId, wait: &LockWait) -> AResult<()> {
        r(self.begin_statement_impl(txn, wait))
    }

    fn commit(&self, txn: TxnId) -> AResult<()> {
        r(self.commit_impl(txn))
    }

    fn rollback(&self, txn: TxnId) -> AResult<()> {
        self.rollback_impl(txn);
        r(Ok(()))
    }

    fn savepoint(&self, txn: TxnId, name: RStr<'_>) -> AResult<()> {
        r(self.savepoint_impl(txn, name.as_str()))
    }

    fn rollback_to_savepoint(&self, txn: TxnId, name: RStr<'_>) -> AResult<()> {
        r(self.rollback_to_savepoint_impl(txn, name.as_str()))
    }

    fn release_savepoint(&self, txn: TxnId, name: RStr<'_>) -> AResult<()> {
        r(self.release_savepoint_impl(txn, name.as_str()))
    }

    fn create_table(&self, txn: TxnId, table: &TableDef) -> AResult<()> {
        r(self.create_table_impl(txn, table))
    }

    fn alter_table(&self, txn: TxnId, old: &TableDef, new: &TableDef, fill: &Value) -> AResult<()> {
        r(self.alter_table_impl(txn, old, new, fill))
    }

    fn drop_table(&self, txn: TxnId, table: TableId) -> AResult<()> {
        r(self.drop_table_impl(txn, table))
    }

    fn truncate(&self, txn: TxnId, table: TableId) -> AResult<()> {
        r(self.truncate_impl(txn, table))
    }

    fn create_index(&self, txn: TxnId, index: &IndexDef, table: &TableDef) -> AResult<()> {
        r(self.create_index_impl(txn, index, table))
    }

    fn drop_index(&self, txn: TxnId, table: TableId, index: IndexId) -> AResult<()> {
        r(self.drop_index_impl(txn, table, index))
    }

    fn insert(
        &self,
        txn: TxnId,
        table: TableId,
        rows: &RowBatch,
        ids: &mut RVec<RowId>,
    ) -> AResult<()> {
        r(self.insert_impl(txn, table, rows, ids))
    }

    fn lock_row(
        &self,
        txn: TxnId,
        table: TableId,
        row: RowId,
        exclusive: bool,
        wait: &LockWait,
    ) -> AResult<LockOutcome> {
        r(self.lock_row_impl(txn, table, row, exclusive, wait))
    }

    fn update(
        &self,
        txn: TxnId,
        table: TableId,
        row_ids: RSlice<'_, RowId>,
        rows: &RowBatch,
    ) -> AResult<u64> {
        r(self.update_impl(txn, table, row_ids.as_slice(), rows))
    }

    fn delete(&self, txn: TxnId, table: TableId, row_ids: RSlice<'_, RowId>) -> AResult<u64> {
        r(self.delete_impl(txn, table, row_ids.as_slice()))
    }

    fn scan(&self, txn: TxnId, table: TableId, request: &ScanRequest) -> AResult<RowCursorBox> {
        r(self.scan_impl(txn, table, request))
    }

    fn index_scan(
        &self,
        txn: TxnId,
        table: TableId,
        index: IndexId,
        query: &IndexQuery,
        request: &ScanRequest,
        reverse: bool,
    ) -> AResult<RowCursorBox> {
        r(self.index_scan_impl(txn, table, index, query, request, reverse))
    }

    fn stats(&self, txn: TxnId, table: TableId) -> AResult<TableStats> {
        r(self.stats_impl(txn, table))
    }

    fn checkpoint(&self) -> AResult<()> {
        r(Ok(()))
    }

    fn close(&self) -> AResult<()> {
        r(Ok(()))
    }
    /// Nothing is persisted: the catalog lives only in the kernel.
    fn log_catalog(
        &self,
        _txn: TxnId,
        _entries: RSlice<'_, aiondb_sdk::capability::CatalogEntry>,
    ) -> AResult<()> {
        r(Ok(()))
    }

    fn recovered_catalog(&self) -> AResult<RVec<aiondb_sdk::capability::CatalogEntry>> {
        r(Ok(RVec::new()))
    }
}
