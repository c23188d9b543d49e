//! Transactions: ids, snapshots, undo logs, row locks, the wait-for graph
//! and the SERIALIZABLE read/write bookkeeping. Everything here lives under
//! one mutex that is only ever taken after (never before) a table lock.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use aiondb_sdk::capability::{IsolationLevel, LockWait, RowId, TxnId};
use aiondb_sdk::catalog::TableId;
use aiondb_sdk::error::{AionError, DbResult, SqlState};

use crate::table::{Index, TableCell, TableData};

/// Which transactions a statement treats as committed.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// Every id below this was finished when the snapshot was taken.
    pub xmin: TxnId,
    /// Ids at or above this had not started.
    pub xmax: TxnId,
    /// Ids in `[xmin, xmax)` still in progress then, sorted.
    pub active: Vec<TxnId>,
}

impl Snapshot {
    /// Whether `x`'s writes are visible: it finished before the snapshot.
    /// Aborted transactions remove their writes before they finish, so a
    /// finished writer found in a version is a committed one.
    #[inline]
    pub fn sees(&self, x: TxnId) -> bool {
        x < self.xmin || (x < self.xmax && self.active.binary_search(&x).is_err())
    }
}

/// A change to undo on rollback, newest last.
pub(crate) enum Undo {
    Inserted {
        table: TableId,
        row: RowId,
    },
    Updated {
        table: TableId,
        row: RowId,
    },
    Deleted {
        table: TableId,
        row: RowId,
    },
    CreatedTable {
        table: TableId,
    },
    DroppedTable {
        cell: Arc<TableCell>,
    },
    /// TRUNCATE and ALTER TABLE swap the whole table contents.
    Replaced {
        table: TableId,
        old: Box<TableData>,
    },
    CreatedIndex {
        table: TableId,
        index: u64,
    },
    DroppedIndex {
        table: TableId,
        index: Box<Index>,
    },
}

impl Undo {
    /// Live-row count change this entry caused.
    pub fn delta(&self) -> Option<(TableId, i64)> {
        match self {
            Undo::Inserted { table, .. } => Some((*table, 1)),
            Undo::Deleted { table, .. } => Some((*table, -1)),
            _ => None,
        }
    }
}

/// A transaction's locked tables: the first inline, so a one-table
/// transaction (the common autocommit write) allocates nothing for it.
#[derive(Default)]
pub(crate) struct TableSet {
    first: Option<TableId>,
    more: Vec<TableId>,
}

impl TableSet {
    pub fn contains(&self, t: TableId) -> bool {
        self.first == Some(t) || self.more.contains(&t)
    }

    pub fn push(&mut self, t: TableId) {
        if self.first.is_none() {
            self.first = Some(t);
        } else {
            self.more.push(t);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = TableId> + '_ {
        self.first.into_iter().chain(self.more.iter().copied())
    }

    pub fn clear(&mut self) {
        self.first = None;
        self.more.clear();
    }
}

pub(crate) struct Ssi {
    pub start_seq: u64,
    pub reads: HashSet<TableId>,
    pub writes: HashSet<TableId>,
    /// Some concurrent transaction has a rw-antidependency on us.
    pub in_conflict: bool,
    /// We have a rw-antidependency on some concurrent transaction.
    pub out_conflict: bool,
}

pub(crate) struct SsiCommitted {
    pub commit_seq: u64,
    pub reads: HashSet<TableId>,
    pub writes: HashSet<TableId>,
    pub in_conflict: bool,
    pub out_conflict: bool,
}

pub(crate) struct TxnState {
    pub isolation: IsolationLevel,
    pub snapshot: Arc<Snapshot>,
    /// RR/SERIALIZABLE: the first statement's snapshot is kept.
    pub snapshot_fixed: bool,
    pub cid: u32,
    pub undo: Vec<Undo>,
    /// Name, undo length and lock count when the savepoint was set.
    pub savepoints: Vec<(String, usize, usize)>,
    pub locks: Vec<(TableId, RowId)>,
    /// Tables this transaction holds a lock on (see `Mgr::table_locks`).
    pub table_locks: TableSet,
    /// The running statement's bounds for waits whose call carries none.
    pub wait: LockWait,
    pub waiting_for: Option<TxnId>,
    pub ssi: Option<Ssi>,
    /// Live-row count changes to publish at commit.
    pub deltas: Deltas,
}

/// Live-row count changes per table. A transaction touches few tables, so
/// a short list beats a hash map (no hashing, no allocation until the
/// first write).
#[derive(Default)]
pub(crate) struct Deltas(Vec<(TableId, i64)>);

impl Deltas {
    pub fn clear(&mut self) {
        self.0.clear();
    }

    pub fn add(&mut self, table: TableId, d: i64) {
        match self.0.iter_mut().find(|(t, _)| *t == table) {
            Some((_, x)) => *x += d,
            None => self.0.push((table, d)),
        }
    }

    pub fn remove(&mut self, table: TableId) {
        self.0.retain(|(t, _)| *t != table);
    }

    pub fn get(&self, table: TableId) -> Option<i64> {
        self.0.iter().find(|(t, _)| *t == table).map(|(_, d)| *d)
    }

    pub fn iter(&self) -> impl Iterator<Item = &(TableId, i64)> {
        self.0.iter()
    }
}

#[derive(Default)]
pub(crate) struct LockEntry {
    pub exclusive: Option<TxnId>,
    pub shared: Vec<TxnId>,
}

/// Running transactions by id, sorted. Ids only grow, so a new one goes at
/// the end, and few run at once: one vector beats a btree's node walk at
/// the begin and end of every autocommit statement. Boxed: a state is a
/// few hundred bytes and moves in and out on every statement.
#[derive(Default)]
#[allow(clippy::vec_box)]
pub(crate) struct Active(Vec<(TxnId, Box<TxnState>)>);

type ActiveIter<'a> = std::iter::Map<
    std::slice::Iter<'a, (TxnId, Box<TxnState>)>,
    fn(&'a (TxnId, Box<TxnState>)) -> (&'a TxnId, &'a TxnState),
>;

impl Active {
    #[inline]
    fn pos(&self, id: TxnId) -> Result<usize, usize> {
        // The newest is the usual one asked for.
        match self.0.last() {
            Some((last, _)) if *last == id => Ok(self.0.len() - 1),
            Some((last, _)) if *last < id => Err(self.0.len()),
            _ => self.0.binary_search_by_key(&id, |e| e.0),
        }
    }

    pub fn insert(&mut self, id: TxnId, st: Box<TxnState>) {
        match self.pos(id) {
            Ok(i) => self.0[i].1 = st,
            Err(i) => self.0.insert(i, (id, st)),
        }
    }

    pub fn remove(&mut self, id: &TxnId) -> Option<Box<TxnState>> {
        let i = self.pos(*id).ok()?;
        Some(self.0.remove(i).1)
    }

    #[inline]
    pub fn get(&self, id: &TxnId) -> Option<&TxnState> {
        let i = self.pos(*id).ok()?;
        Some(&self.0[i].1)
    }

    #[inline]
    pub fn get_mut(&mut self, id: &TxnId) -> Option<&mut TxnState> {
        let i = self.pos(*id).ok()?;
        Some(&mut self.0[i].1)
    }

    #[inline]
    pub fn contains_key(&self, id: &TxnId) -> bool {
        self.pos(*id).is_ok()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Ids in ascending order.
    pub fn keys(&self) -> impl Iterator<Item = &TxnId> {
        self.0.iter().map(|e| &e.0)
    }

    pub fn values(&self) -> impl Iterator<Item = &TxnState> {
        self.0.iter().map(|e| &*e.1)
    }

    pub fn iter(&self) -> ActiveIter<'_> {
        self.0.iter().map(|e| (&e.0, &*e.1))
    }
}

impl<'a> IntoIterator for &'a Active {
    type Item = (&'a TxnId, &'a TxnState);
    type IntoIter = ActiveIter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

pub(crate) struct Mgr {
    pub next_txn: TxnId,
    pub active: Active,
    pub locks: HashMap<(TableId, RowId), LockEntry>,
    /// Table locks, held to the end of the transaction: writers share,
    /// DDL that replaces or drops contents (TRUNCATE, ALTER, DROP, index
    /// changes) is exclusive, so rolling it back cannot lose concurrent
    /// writes, and readers wait instead of seeing its uncommitted state.
    /// Entries stay when released (one per table ever written): no
    /// allocation per autocommit write.
    pub table_locks: HashMap<TableId, LockEntry, aiondb_sdk::hash::BuildIdHasher>,
    pub commit_seq: u64,
    pub ssi_committed: Vec<SsiCommitted>,
    /// Threads blocked in a lock wait (ending a transaction only signals
    /// the condvar when someone listens: the signal is a syscall).
    pub waiters: usize,
    /// The last snapshot taken, valid until a transaction that wrote
    /// commits: one that starts later gets an id at or above its xmax
    /// (invisible either way), and one that ends without committing
    /// writes changed nothing a snapshot could see.
    cached_snapshot: Option<Arc<Snapshot>>,
    /// Snapshot xmins of open autocommit-read cursors (one entry each):
    /// they have no transaction in `active`, and vacuum must keep what
    /// they may still read.
    pins: Vec<TxnId>,
}

impl Mgr {
    pub fn new() -> Self {
        Mgr {
            next_txn: 1,
            active: Active::default(),
            locks: HashMap::new(),
            table_locks: HashMap::default(),
            commit_seq: 0,
            ssi_committed: Vec::new(),
            waiters: 0,
            cached_snapshot: None,
            pins: Vec::new(),
        }
    }

    pub fn pin(&mut self, xmin: TxnId) {
        self.pins.push(xmin);
    }

    pub fn unpin(&mut self, xmin: TxnId) {
        if let Some(i) = self.pins.iter().position(|&p| p == xmin) {
            self.pins.swap_remove(i);
        }
    }

    pub fn snapshot(&mut self) -> Arc<Snapshot> {
        if let Some(s) = &self.cached_snapshot {
            return Arc::clone(s);
        }
        let mut snap = Snapshot {
            xmin: 0,
            xmax: 0,
            active: Vec::new(),
        };
        self.fill_snapshot(&mut snap);
        let snap = Arc::new(snap);
        self.cached_snapshot = Some(Arc::clone(&snap));
        snap
    }

    /// The running transactions as of now, into `snap`.
    fn fill_snapshot(&self, snap: &mut Snapshot) {
        snap.active.clear();
        snap.active.extend(self.active.keys().copied());
        snap.xmin = snap.active.first().copied().unwrap_or(self.next_txn);
        snap.xmax = self.next_txn;
    }

    /// `snapshot` into `slot`, leaving it alone when it already holds the
    /// same one (a recycled state of a read-mostly session usually does:
    /// no reference count goes up and down). After a commit, a slot whose
    /// old snapshot nobody else holds (a writing session's recycled state)
    /// gets the new one built in place, without an allocation.
    pub fn snapshot_into(&mut self, slot: &mut Arc<Snapshot>) {
        match &self.cached_snapshot {
            Some(s) if Arc::ptr_eq(s, slot) => {}
            Some(s) => *slot = Arc::clone(s),
            None => match Arc::get_mut(slot) {
                Some(snap) => {
                    self.fill_snapshot(snap);
                    self.cached_snapshot = Some(Arc::clone(slot));
                }
                None => *slot = self.snapshot(),
            },
        }
    }

    /// Call when a transaction's writes become visible (it committed).
    pub fn invalidate_snapshot(&mut self) {
        self.cached_snapshot = None;
    }

    pub fn state(&self, txn: TxnId) -> DbResult<&TxnState> {
        self.active.get(&txn).ok_or_else(|| no_txn(txn))
    }

    pub fn state_mut(&mut self, txn: TxnId) -> DbResult<&mut TxnState> {
        self.active.get_mut(&txn).ok_or_else(|| no_txn(txn))
    }

    /// Oldest xmin of any running snapshot: a version deleted by a
    /// transaction below it is dead to everyone.
    pub fn horizon(&self) -> TxnId {
        self.active
            .values()
            .map(|s| s.snapshot.xmin)
            .chain(self.pins.iter().copied())
            .min()
            .unwrap_or(self.next_txn)
    }

    /// A holder of a lock on `key` that conflicts with `me` taking it.
    pub fn lock_conflict(
        &self,
        key: (TableId, RowId),
        me: TxnId,
        exclusive: bool,
    ) -> Option<TxnId> {
        let e = self.locks.get(&key)?;
        if let Some(x) = e.exclusive {
            if x != me {
                return Some(x);
            }
            return None;
        }
        if exclusive {
            return e.shared.iter().copied().find(|&s| s != me);
        }
        None
    }

    /// Whether `me` already holds a lock at least as strong.
    pub fn holds(&self, key: (TableId, RowId), me: TxnId, exclusive: bool) -> bool {
        match self.locks.get(&key) {
            Some(e) => e.exclusive == Some(me) || (!exclusive && e.shared.contains(&me)),
            None => false,
        }
    }

    /// Grants the lock (the caller checked there is no conflict).
    pub fn grant(&mut self, key: (TableId, RowId), me: TxnId, exclusive: bool) {
        let entry = self.locks.entry(key).or_default();
        let mut newly = false;
        if exclusive {
            if entry.exclusive != Some(me) {
                entry.exclusive = Some(me);
                entry.shared.retain(|&s| s != me);
                newly = true;
            }
        } else if entry.exclusive != Some(me) && !entry.shared.contains(&me) {
            entry.shared.push(me);
            newly = true;
        }
        // An upgrade pushes the key twice; releasing twice is harmless.
        if newly {
            if let Some(st) = self.active.get_mut(&me) {
                st.locks.push(key);
            }
        }
    }

    /// Releases the locks `me` took after a savepoint (`taken`, the tail of
    /// its lock list); a lock it already held before, now upgraded, goes
    /// back to shared.
    pub fn release_since(
        &mut self,
        me: TxnId,
        before: &[(TableId, RowId)],
        taken: &[(TableId, RowId)],
    ) {
        for key in taken {
            let held_before = before.contains(key);
            if let Some(e) = self.locks.get_mut(key) {
                if e.exclusive == Some(me) {
                    e.exclusive = None;
                    if held_before && !e.shared.contains(&me) {
                        e.shared.push(me);
                    }
                }
                if !held_before {
                    e.shared.retain(|&s| s != me);
                }
                if e.exclusive.is_none() && e.shared.is_empty() {
                    self.locks.remove(key);
                }
            }
        }
    }

    /// Takes a table lock for `me` unless another transaction holds a
    /// conflicting one; returns that holder to wait for. Unknown
    /// transactions (bootstrap) lock nothing.
    pub fn lock_table(&mut self, table: TableId, me: TxnId, exclusive: bool) -> Option<TxnId> {
        if !self.active.contains_key(&me) {
            return None;
        }
        let entry = self.table_locks.entry(table).or_default();
        if let Some(x) = entry.exclusive {
            if x != me {
                return Some(x);
            }
            return None;
        }
        if exclusive {
            if let Some(other) = entry.shared.iter().copied().find(|&s| s != me) {
                return Some(other);
            }
            entry.exclusive = Some(me);
        } else if entry.shared.contains(&me) {
            return None;
        } else {
            entry.shared.push(me);
        }
        if let Some(st) = self.active.get_mut(&me) {
            if !st.table_locks.contains(table) {
                st.table_locks.push(table);
            }
        }
        None
    }

    /// Another transaction's exclusive lock on `table`, which a reader must
    /// wait out (readers take no lock of their own).
    #[inline]
    pub fn table_writer(&self, table: TableId, me: TxnId) -> Option<TxnId> {
        self.table_locks
            .get(&table)
            .and_then(|e| e.exclusive)
            .filter(|&x| x != me)
    }

    /// Releases every lock of a finished transaction.
    pub fn release_table_locks(&mut self, me: TxnId, tables: &TableSet) {
        for t in tables.iter() {
            if let Some(e) = self.table_locks.get_mut(&t) {
                if e.exclusive == Some(me) {
                    e.exclusive = None;
                }
                if let Some(p) = e.shared.iter().position(|&s| s == me) {
                    e.shared.swap_remove(p);
                }
            }
        }
    }

    /// Forgets a dropped table's lock entry.
    pub fn forget_table(&mut self, table: TableId) {
        if let Some(e) = self.table_locks.get(&table) {
            if e.exclusive.is_none() && e.shared.is_empty() {
                self.table_locks.remove(&table);
            }
        }
    }

    pub fn release_locks(&mut self, me: TxnId, locks: &[(TableId, RowId)]) {
        for key in locks {
            if let Some(e) = self.locks.get_mut(key) {
                if e.exclusive == Some(me) {
                    e.exclusive = None;
                }
                e.shared.retain(|&s| s != me);
                if e.exclusive.is_none() && e.shared.is_empty() {
                    self.locks.remove(key);
                }
            }
        }
    }

    /// If `me` waiting for its `waiting_for` closes a cycle, the cycle's
    /// edges from `me` on.
    pub fn deadlock_cycle(&self, me: TxnId) -> Option<Vec<(TxnId, TxnId)>> {
        let mut edges = Vec::new();
        let mut cur = me;
        for _ in 0..=self.active.len() {
            let next = self.active.get(&cur)?.waiting_for?;
            edges.push((cur, next));
            if next == me {
                return Some(edges);
            }
            cur = next;
        }
        None
    }

    /// SERIALIZABLE commit check for `me` (table-granularity SSI): records
    /// rw-antidependencies with every concurrent serializable transaction
    /// and refuses the commit when it would leave a pivot (a transaction
    /// with both an incoming and an outgoing rw edge) among committed ones.
    pub fn ssi_commit_check(&mut self, me: TxnId) -> DbResult<()> {
        let Some(mine) = self.active.get(&me).and_then(|s| s.ssi.as_ref()) else {
            return Ok(());
        };
        let mut my_in = mine.in_conflict;
        let mut my_out = mine.out_conflict;
        // (is running, id or index, new in flag, new out flag)
        let mut running_updates: Vec<(TxnId, bool, bool)> = Vec::new();
        let mut committed_updates: Vec<(usize, bool, bool)> = Vec::new();
        let overlaps = |a: &HashSet<TableId>, b: &HashSet<TableId>| a.iter().any(|t| b.contains(t));
        for (&id, st) in &self.active {
            if id == me {
                continue;
            }
            // One that has not read or written yet has no edge with us.
            let Some(u) = st.ssi.as_ref() else { continue };
            let me_to_u = overlaps(&mine.reads, &u.writes);
            let u_to_me = overlaps(&u.reads, &mine.writes);
            if me_to_u || u_to_me {
                my_out |= me_to_u;
                my_in |= u_to_me;
                running_updates.push((id, me_to_u, u_to_me));
            }
        }
        for (i, u) in self.ssi_committed.iter().enumerate() {
            // Committed before our snapshot: we saw its writes, no rw edge.
            if u.commit_seq <= mine.start_seq {
                continue;
            }
            let me_to_u = overlaps(&mine.reads, &u.writes);
            let u_to_me = overlaps(&u.reads, &mine.writes);
            if me_to_u || u_to_me {
                my_out |= me_to_u;
                my_in |= u_to_me;
                if (u.in_conflict || me_to_u) && (u.out_conflict || u_to_me) {
                    return Err(serialization_failure(
                        "Reason code: Canceled on identification as a pivot, during commit attempt.",
                    ));
                }
                committed_updates.push((i, me_to_u, u_to_me));
            }
        }
        if my_in && my_out {
            return Err(serialization_failure(
                "Reason code: Canceled on identification as a pivot, during commit attempt.",
            ));
        }
        for (id, me_to_u, u_to_me) in running_updates {
            if let Some(u) = self.active.get_mut(&id).and_then(|s| s.ssi.as_mut()) {
                u.in_conflict |= me_to_u;
                u.out_conflict |= u_to_me;
            }
        }
        for (i, me_to_u, u_to_me) in committed_updates {
            if let Some(u) = self.ssi_committed.get_mut(i) {
                u.in_conflict |= me_to_u;
                u.out_conflict |= u_to_me;
            }
        }
        if let Some(s) = self.active.get_mut(&me).and_then(|s| s.ssi.as_mut()) {
            s.in_conflict = my_in;
            s.out_conflict = my_out;
        }
        Ok(())
    }

    /// Forgets committed serializable transactions no running one overlaps.
    pub fn prune_ssi(&mut self) {
        // Nothing to prune: skip the walk over every running transaction
        // (the usual case outside SERIALIZABLE).
        if self.ssi_committed.is_empty() {
            return;
        }
        let oldest = self
            .active
            .values()
            .filter_map(|s| s.ssi.as_ref().map(|x| x.start_seq))
            .min();
        match oldest {
            None => self.ssi_committed.clear(),
            Some(start) => self.ssi_committed.retain(|u| u.commit_seq > start),
        }
    }
}

pub(crate) fn no_txn(txn: TxnId) -> AionError {
    AionError::new(
        SqlState::INVALID_TRANSACTION_STATE,
        format!("transaction {txn} is not in progress"),
    )
}

pub(crate) fn serialization_failure(detail: &str) -> AionError {
    AionError::new(
        SqlState::SERIALIZATION_FAILURE,
        "could not serialize access due to read/write dependencies among transactions",
    )
    .with_detail(detail)
    .with_hint("The transaction might succeed if retried.")
}
