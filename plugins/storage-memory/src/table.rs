//! Table contents: logical rows with their version chains, and the btree
//! indexes over them.

use std::cmp::Ordering;
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering as AtOrd};
use std::sync::{Arc, RwLock};

use aiondb_sdk::capability::{RowId, TxnId};
use aiondb_sdk::catalog::{IndexDef, TableDef, TableId};
use aiondb_sdk::error::{AionError, DbResult, SqlState};
use aiondb_sdk::value::{ExtPayload, Value};

use crate::intkeys::IntKeys;
use crate::keys::{key_cmp, probe, IndexKey, KeyRef};
use crate::row::PackedRow;
use crate::txn::Snapshot;

/// One version of a logical row.
pub(crate) struct Version {
    pub xmin: TxnId,
    /// 0 while live.
    pub xmax: TxnId,
    pub cmin: u32,
    pub cmax: u32,
    pub row: PackedRow,
}

impl Version {
    /// PostgreSQL's MVCC rule: created by a transaction the snapshot sees
    /// (or by us in an earlier statement) and not deleted the same way.
    #[inline]
    pub fn visible(&self, me: TxnId, cid: u32, snap: &Snapshot) -> bool {
        let created = if self.xmin == me {
            self.cmin < cid
        } else {
            snap.sees(self.xmin)
        };
        if !created {
            return false;
        }
        if self.xmax == 0 {
            return true;
        }
        let deleted = if self.xmax == me {
            self.cmax < cid
        } else {
            snap.sees(self.xmax)
        };
        !deleted
    }
}

/// A row id's versions: the newest inline (no allocation for rows that
/// were never updated), older ones oldest first.
pub(crate) struct LogicalRow {
    pub head: Version,
    pub older: Older,
}

/// Older versions of a row: one pointer while there are none (most rows
/// are never updated), so a row slot stays small.
// A boxed Vec is a thin pointer: that is the point here.
#[allow(clippy::box_collection)]
#[derive(Default)]
pub(crate) struct Older(Option<Box<Vec<Version>>>);

impl Older {
    #[inline]
    pub fn iter(&self) -> std::slice::Iter<'_, Version> {
        self.0.as_deref().map_or(&[][..], Vec::as_slice).iter()
    }

    pub fn push(&mut self, v: Version) {
        self.0.get_or_insert_with(Default::default).push(v);
    }

    pub fn pop(&mut self) -> Option<Version> {
        let v = self.0.as_mut()?.pop();
        if self.0.as_ref().is_some_and(|o| o.is_empty()) {
            self.0 = None;
        }
        v
    }

    pub fn take(&mut self) -> Vec<Version> {
        self.0.take().map(|b| *b).unwrap_or_default()
    }
}

impl From<Vec<Version>> for Older {
    fn from(v: Vec<Version>) -> Self {
        Older((!v.is_empty()).then(|| Box::new(v)))
    }
}

impl FromIterator<Version> for Older {
    fn from_iter<I: IntoIterator<Item = Version>>(iter: I) -> Self {
        iter.into_iter().collect::<Vec<_>>().into()
    }
}

impl LogicalRow {
    #[inline]
    pub fn visible(&self, me: TxnId, cid: u32, snap: &Snapshot) -> Option<&Version> {
        if self.head.visible(me, cid, snap) {
            return Some(&self.head);
        }
        self.older.iter().rev().find(|v| v.visible(me, cid, snap))
    }

    pub fn versions(&self) -> impl Iterator<Item = &Version> {
        std::iter::once(&self.head).chain(self.older.iter())
    }
}

/// Row ids of one key.
pub(crate) enum Posting {
    One(RowId),
    /// Boxed: keeps a posting at 16 bytes, so btree leaves (mostly `One`)
    /// stay small and point probes touch fewer cache lines.
    #[allow(clippy::box_collection)]
    Many(Box<Vec<RowId>>),
}

impl Posting {
    pub fn as_slice(&self) -> &[RowId] {
        match self {
            Posting::One(r) => std::slice::from_ref(r),
            Posting::Many(v) => v,
        }
    }

    /// A posting of row ids already sorted and distinct.
    pub fn from_sorted(mut rows: Vec<RowId>) -> Posting {
        match rows.as_slice() {
            &[only] => Posting::One(only),
            _ => {
                rows.shrink_to_fit();
                Posting::Many(Box::new(rows))
            }
        }
    }

    /// Adds `row`, keeping row ids sorted (scans resume after a row id).
    pub fn add(&mut self, row: RowId) {
        match self {
            Posting::One(r) if *r == row => {}
            Posting::One(r) => {
                let r = *r;
                *self = Posting::Many(Box::new(vec![r.min(row), r.max(row)]));
            }
            Posting::Many(v) => {
                if let Err(pos) = v.binary_search(&row) {
                    v.insert(pos, row);
                }
            }
        }
    }

    /// Removes `row`; true when the posting is now empty.
    pub fn remove(&mut self, row: RowId) -> bool {
        match self {
            Posting::One(r) => *r == row,
            Posting::Many(v) => {
                v.retain(|&r| r != row);
                match v.as_slice() {
                    [] => true,
                    [only] => {
                        *self = Posting::One(*only);
                        false
                    }
                    _ => false,
                }
            }
        }
    }
}

pub(crate) struct Index {
    pub def: IndexDef,
    pub cols: Vec<usize>,
    pub map: BTreeMap<IndexKey, Posting>,
    /// Unique one-column indexes also keep their integer keys in an array
    /// or hash table (see `IntKeys`): a primary-key probe then costs one
    /// cache miss or none instead of a btree descent. Holds exactly the
    /// `IndexKey::Int` entries of `map`.
    ints: Option<IntKeys>,
}

impl Index {
    pub fn new(def: IndexDef, width: usize) -> DbResult<Index> {
        let cols: Vec<usize> = def.columns.iter().map(|&c| c as usize).collect();
        if let Some(&bad) = cols.iter().find(|&&c| c >= width) {
            return Err(AionError::new(
                SqlState::UNDEFINED_COLUMN,
                format!(
                    "column {} of index \"{}\" does not exist",
                    bad + 1,
                    def.name
                ),
            ));
        }
        let ints = (def.unique && cols.len() == 1).then(IntKeys::default);
        Ok(Index {
            def,
            cols,
            map: BTreeMap::new(),
            ints,
        })
    }

    /// `values`' key borrowed in place when it is one column; otherwise
    /// copied into `buf`.
    #[inline]
    pub fn key_ref<'a>(&self, values: &'a [Value], buf: &'a mut Vec<Value>) -> KeyRef<'a> {
        if let [c] = self.cols[..] {
            return KeyRef::of(std::slice::from_ref(&values[c]));
        }
        buf.clear();
        buf.extend(self.cols.iter().map(|&c| values[c].clone()));
        KeyRef::of(buf)
    }

    /// Whether the packed `row` agrees with `values` on this index's
    /// columns.
    pub fn same_key_packed(&self, row: &PackedRow, values: &[Value]) -> bool {
        self.cols
            .iter()
            .all(|&c| key_cmp(&row.get(c), &values[c]) == Ordering::Equal)
    }

    /// Whether the packed `row` has exactly `key` (a full key or a
    /// prefix). Integer and text columns compare in place.
    #[inline]
    pub fn has_key(&self, row: &PackedRow, key: KeyRef<'_>) -> bool {
        (0..key.len().min(self.cols.len())).all(|i| {
            let c = self.cols[i];
            match key {
                KeyRef::Int(k) => {
                    if let Some(x) = row.int(c) {
                        return x == k;
                    }
                }
                KeyRef::Vals(vals) => {
                    if let (Some(Value::Text(k)), Some(x)) = (vals.get(i), row.text(c)) {
                        return k.as_str() == x;
                    }
                }
            }
            key.component_eq(i, &row.get(c))
        })
    }

    pub fn key_has_null(&self, values: &[Value]) -> bool {
        self.cols.iter().any(|&c| values[c].is_null())
    }

    /// The posting of `key`. Integer keys are probed as owned keys: the
    /// btree's comparisons then inline instead of going through two
    /// `dyn KeyView` calls each.
    #[inline]
    pub fn get(&self, key: &KeyRef<'_>) -> Option<&[RowId]> {
        match key {
            KeyRef::Int(i) => match &self.ints {
                Some(h) => h.get(*i),
                None => self.map.get(&IndexKey::Int(*i)).map(Posting::as_slice),
            },
            KeyRef::Vals(_) => self.map.get(probe(key)).map(Posting::as_slice),
        }
    }

    #[inline]
    fn get_mut(&mut self, key: &KeyRef<'_>) -> Option<&mut Posting> {
        match key {
            KeyRef::Int(i) => self.map.get_mut(&IndexKey::Int(*i)),
            KeyRef::Vals(_) => self.map.get_mut(probe(key)),
        }
    }

    /// Adds the entry; returns the bytes it added.
    pub fn add(&mut self, values: &[Value], row: RowId) -> u64 {
        let mut buf = Vec::new();
        let key = self.key_ref(values, &mut buf);
        // An integer key costs nothing to own: one descent via the entry
        // API (inserts mostly add new keys).
        if let KeyRef::Int(i) = key {
            if let Some(h) = &mut self.ints {
                h.add(i, row);
            }
            return match self.map.entry(IndexKey::Int(i)) {
                Entry::Occupied(mut o) => {
                    o.get_mut().add(row);
                    0
                }
                Entry::Vacant(v) => {
                    v.insert(Posting::One(row));
                    key_bytes(key)
                }
            };
        }
        // Probed first: most updates keep the key, and owning a
        // multi-value key allocates.
        if let Some(p) = self.get_mut(&key) {
            p.add(row);
            return 0;
        }
        let bytes = key_bytes(key);
        self.map.insert(key.to_key(), Posting::One(row));
        bytes
    }

    /// Removes the entry for `row` under `values`' key; returns bytes freed.
    pub fn remove(&mut self, values: &[Value], row: RowId) -> u64 {
        let mut buf = Vec::new();
        let key = self.key_ref(values, &mut buf);
        if let (KeyRef::Int(i), Some(h)) = (key, &mut self.ints) {
            h.remove(i, row);
        }
        let empty = match self.get_mut(&key) {
            Some(p) => p.remove(row),
            None => false,
        };
        if empty {
            self.map.remove(probe(&key));
            return key_bytes(key);
        }
        0
    }

    pub fn column_list(&self, def: &TableDef) -> String {
        self.cols
            .iter()
            .map(|&c| {
                def.columns
                    .get(c)
                    .map(|col| col.name.to_string())
                    .unwrap_or_else(|| format!("column{}", c + 1))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn value_list(&self, values: &[Value]) -> String {
        self.cols
            .iter()
            .map(|&c| values[c].to_pg_text().unwrap_or_else(|| "null".into()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn key_bytes(key: KeyRef<'_>) -> u64 {
    match key {
        KeyRef::Int(_) => 64 + std::mem::size_of::<Value>() as u64,
        KeyRef::Vals(v) => 64 + v.iter().map(value_bytes).sum::<u64>(),
    }
}

/// Approximate heap footprint of a value.
pub(crate) fn value_bytes(v: &Value) -> u64 {
    let base = std::mem::size_of::<Value>() as u64;
    base + match v {
        Value::Text(s) | Value::Json(s) | Value::Jsonb(s) => s.len() as u64,
        Value::Bytea(b) => b.len() as u64,
        Value::Numeric(n) => 2 * n.digits.len() as u64,
        Value::Array(a) => {
            a.elements.iter().map(value_bytes).sum::<u64>() + 8 * a.dims.len() as u64
        }
        Value::Ext(e) => match &e.payload {
            ExtPayload::Bytes(b) => b.len() as u64,
            ExtPayload::Floats(f) => 4 * f.len() as u64,
        },
        _ => 0,
    }
}

pub(crate) fn version_bytes(row: &PackedRow) -> u64 {
    (std::mem::size_of::<Version>() + row.size()) as u64
}

/// Memory shared by every table, checked against `memory_limit_bytes`.
pub(crate) struct MemAccount {
    pub used: AtomicU64,
    pub limit: AtomicU64,
}

impl MemAccount {
    pub fn out_of_memory(&self, request: u64) -> AionError {
        let limit = self.limit.load(AtOrd::Relaxed);
        AionError::new(SqlState::OUT_OF_MEMORY, "out of memory").with_detail(format!(
            "Failed on request of size {request}: the in_memory storage limit of {limit} bytes (memory_limit_bytes) is reached ({} bytes in use).",
            self.used.load(AtOrd::Relaxed)
        ))
    }
}

pub(crate) struct TableData {
    pub def: TableDef,
    /// Row id of `slots[0]`; row ids are never reused, not even by TRUNCATE.
    pub base: RowId,
    pub slots: Vec<Option<LogicalRow>>,
    pub indexes: Vec<Index>,
    pub bytes: u64,
    mem: Arc<MemAccount>,
    /// Committed live rows (planner estimate).
    pub live: AtomicI64,
    /// Versions made dead since the last vacuum.
    pub dead_hint: u64,
}

impl Drop for TableData {
    fn drop(&mut self) {
        self.mem.used.fetch_sub(self.bytes, AtOrd::Relaxed);
    }
}

impl TableData {
    pub fn new(def: TableDef, base: RowId, mem: Arc<MemAccount>) -> TableData {
        TableData {
            def,
            base,
            slots: Vec::new(),
            indexes: Vec::new(),
            bytes: 0,
            mem,
            live: AtomicI64::new(0),
            dead_hint: 0,
        }
    }

    pub fn width(&self) -> usize {
        self.def.columns.len()
    }

    pub fn next_row_id(&self) -> RowId {
        self.base + self.slots.len() as u64
    }

    #[inline]
    pub fn row(&self, id: RowId) -> Option<&LogicalRow> {
        let i = id.checked_sub(self.base)?;
        self.slots.get(usize::try_from(i).ok()?)?.as_ref()
    }

    #[inline]
    pub fn row_mut(&mut self, id: RowId) -> Option<&mut LogicalRow> {
        let i = id.checked_sub(self.base)?;
        self.slots.get_mut(usize::try_from(i).ok()?)?.as_mut()
    }

    /// Charges `n` bytes, failing with 53200 beyond the backend's limit.
    pub fn try_charge(&mut self, n: u64) -> DbResult<()> {
        let limit = self.mem.limit.load(AtOrd::Relaxed);
        let before = self.mem.used.fetch_add(n, AtOrd::Relaxed);
        if limit > 0 && before + n > limit {
            self.mem.used.fetch_sub(n, AtOrd::Relaxed);
            return Err(self.mem.out_of_memory(n));
        }
        self.bytes += n;
        Ok(())
    }

    /// Charges without a limit check (index entries of an admitted row).
    pub fn charge(&mut self, n: u64) {
        self.mem.used.fetch_add(n, AtOrd::Relaxed);
        self.bytes += n;
    }

    pub fn release(&mut self, n: u64) {
        let n = n.min(self.bytes);
        self.mem.used.fetch_sub(n, AtOrd::Relaxed);
        self.bytes -= n;
    }

    /// Adds index entries for a version of `row`.
    pub fn index_version(&mut self, values: &[Value], row: RowId) {
        let mut added = 0;
        for ix in &mut self.indexes {
            added += ix.add(values, row);
        }
        self.charge(added);
    }

    /// Appends a new logical row holding `values`; the caller charged its
    /// bytes.
    pub fn push_row(&mut self, values: &[Value], head: Version) -> RowId {
        let id = self.next_row_id();
        self.index_version(values, id);
        self.slots.push(Some(LogicalRow {
            head,
            older: Older::default(),
        }));
        id
    }

    /// Removes a whole logical row with its index entries.
    pub fn remove_row(&mut self, id: RowId) {
        let Some(i) = id
            .checked_sub(self.base)
            .and_then(|i| usize::try_from(i).ok())
        else {
            return;
        };
        let Some(row) = self.slots.get_mut(i).and_then(Option::take) else {
            return;
        };
        let mut freed = 0;
        for v in row.versions() {
            freed += version_bytes(&v.row);
            let values = v.row.values();
            for ix in &mut self.indexes {
                freed += ix.remove(&values, id);
            }
        }
        self.release(freed);
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
    }

    /// Drops the entries `gone` had in every index unless another version
    /// of the row still carries the same key.
    fn unindex_version(&mut self, id: RowId, gone: &[Value]) -> u64 {
        let mut freed = 0;
        let TableData {
            slots,
            indexes,
            base,
            ..
        } = self;
        let row = id
            .checked_sub(*base)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| slots.get(i))
            .and_then(Option::as_ref);
        for ix in indexes.iter_mut() {
            let still_used = row
                .map(|r| r.versions().any(|v| ix.same_key_packed(&v.row, gone)))
                .unwrap_or(false);
            if !still_used {
                freed += ix.remove(gone, id);
            }
        }
        freed
    }

    /// Undoes an update: the newest version goes, the previous one is live
    /// again.
    pub fn pop_version(&mut self, id: RowId) {
        let Some(row) = self.row_mut(id) else { return };
        let Some(mut prev) = row.older.pop() else {
            return;
        };
        prev.xmax = 0;
        prev.cmax = 0;
        let gone = std::mem::replace(&mut row.head, prev);
        let mut freed = version_bytes(&gone.row);
        freed += self.unindex_version(id, &gone.row.values());
        self.release(freed);
    }

    /// Drops versions of `id` no running transaction can see; removes the
    /// row when its newest version is dead to everyone.
    pub fn prune_row(&mut self, id: RowId, horizon: TxnId) {
        let Some(row) = self.row_mut(id) else { return };
        if row.head.xmax != 0 && row.head.xmax < horizon {
            self.remove_row(id);
            return;
        }
        if !row.older.iter().any(|v| v.xmax != 0 && v.xmax < horizon) {
            return;
        }
        let (dead, keep): (Vec<Version>, Vec<Version>) = row
            .older
            .take()
            .into_iter()
            .partition(|v| v.xmax != 0 && v.xmax < horizon);
        row.older = keep.into();
        let mut freed = 0;
        for v in &dead {
            freed += version_bytes(&v.row);
            freed += self.unindex_version(id, &v.row.values());
        }
        self.release(freed);
    }

    /// Prunes every row (called when enough versions died).
    pub fn vacuum(&mut self, horizon: TxnId) {
        let ids: Vec<RowId> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                s.as_ref().is_some_and(|r| {
                    (r.head.xmax != 0 && r.head.xmax < horizon)
                        || r.older.iter().any(|v| v.xmax != 0 && v.xmax < horizon)
                })
            })
            .map(|(i, _)| self.base + i as u64)
            .collect();
        for id in ids {
            self.prune_row(id, horizon);
        }
        self.dead_hint = 0;
    }

    pub fn index_pos(&self, id: u64) -> Option<usize> {
        self.indexes.iter().position(|ix| ix.def.id == id)
    }
}

pub(crate) struct TableCell {
    pub id: TableId,
    pub data: RwLock<TableData>,
}
