//! Table contents: logical rows with their version chains, and the btree
//! indexes over them.

use std::cmp::Ordering;
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering as AtOrd};
use std::sync::{Arc, RwLock};

use aiondb_sdk::capability::{RowId, TxnId};
use aiondb_sdk::catalog::{IndexDef, TableDef, TableId};
use aiondb_sdk::error::{AionError, DbResult, SqlState};
use aiondb_sdk::value::{ExtPayload, Value};

use crate::intkeys::IntKeys;
use crate::keys::{dyn_bound, key_cmp, probe, IndexKey, KeyRef, KeyView};
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
    /// Every key, except the integer keys of a dense `ints`. Private: read
    /// it through `get` and `range`, which see those too.
    map: BTreeMap<IndexKey, Posting>,
    /// Unique one-column indexes also keep their integer keys in an array
    /// or hash table (see `IntKeys`): a primary-key probe then costs one
    /// cache miss or none instead of a btree descent. Holds exactly the
    /// `IndexKey::Int` entries of the index; while it is a dense array,
    /// `map` holds none of them (an insert then skips the btree).
    ints: Option<IntKeys>,
}

/// An index's entries between two bounds in key order (or reversed): the
/// btree's merged with the dense integer keys it does not hold.
pub(crate) struct IndexRange<'a> {
    map: Option<std::collections::btree_map::Range<'a, IndexKey, Posting>>,
    dense: Option<crate::intkeys::DenseIter<'a>>,
    reverse: bool,
    next_map: Option<(KeyRef<'a>, &'a [RowId])>,
    next_int: Option<(i64, &'a [RowId])>,
}

impl<'a> Iterator for IndexRange<'a> {
    type Item = (KeyRef<'a>, &'a [RowId]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.next_map.is_none() {
            if let Some(m) = self.map.as_mut() {
                let e = if self.reverse {
                    m.next_back()
                } else {
                    m.next()
                };
                self.next_map = e.map(|(k, p)| (k.as_ref(), p.as_slice()));
            }
        }
        if self.next_int.is_none() {
            if let Some(d) = self.dense.as_mut() {
                self.next_int = d.step(self.reverse);
            }
        }
        let int_first = match (&self.next_map, &self.next_int) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some((k, _)), Some((i, _))) => {
                let o = KeyRef::Int(*i).cmp(*k);
                if self.reverse {
                    o == Ordering::Greater
                } else {
                    o != Ordering::Greater
                }
            }
        };
        if int_first {
            self.next_int.take().map(|(i, r)| (KeyRef::Int(i), r))
        } else {
            self.next_map.take()
        }
    }
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
            KeyRef::Vals(_) => {
                if let Some(p) = self.map.get(probe(key)) {
                    return Some(p.as_slice());
                }
                // A key of another numeric type equal to a dense integer
                // key (the btree would have found it by value too).
                let h = self.ints.as_ref()?;
                let mut it = h.dense_range(Bound::Included(*key), Bound::Included(*key))?;
                it.step(false).map(|(_, rows)| rows)
            }
        }
    }

    /// The entries between `lo` and `hi` in key order (`reverse`: from the
    /// top).
    pub fn range<'a>(
        &'a self,
        lo: Bound<KeyRef<'a>>,
        hi: Bound<KeyRef<'a>>,
        reverse: bool,
    ) -> IndexRange<'a> {
        // `BTreeMap::range` panics on inverted or empty exclusive bounds.
        let empty = match (lo, hi) {
            (Bound::Included(l), Bound::Included(h)) => l.cmp(h) == Ordering::Greater,
            (Bound::Included(l) | Bound::Excluded(l), Bound::Included(h) | Bound::Excluded(h)) => {
                l.cmp(h) != Ordering::Less
            }
            _ => false,
        };
        let map = (!empty).then(|| {
            self.map
                .range::<dyn KeyView, _>((dyn_bound(&lo), dyn_bound(&hi)))
        });
        let dense = match &self.ints {
            Some(h) if !empty => h.dense_range(lo, hi),
            _ => None,
        };
        IndexRange {
            map,
            dense,
            reverse,
            next_map: None,
            next_int: None,
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
                if h.is_dense() {
                    let new = h.get(i).is_none();
                    h.add(i, row);
                    if !h.is_dense() {
                        // Sparse now: the btree takes every integer key,
                        // for ordered scans.
                        for (k, rows) in h.sparse_entries() {
                            self.map
                                .insert(IndexKey::Int(k), Posting::from_sorted(rows.to_vec()));
                        }
                    }
                    return if new { key_bytes(key) } else { 0 };
                }
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
            if h.is_dense() {
                let had = h.get(i).is_some();
                h.remove(i, row);
                return if had && h.get(i).is_none() {
                    key_bytes(key)
                } else {
                    0
                };
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use aiondb_sdk::abi_stable::std_types::RVec;
    use std::collections::BTreeMap;

    fn unique_int_index() -> Index {
        let def = IndexDef {
            id: 1,
            table: 1,
            name: "t_pkey".into(),
            method: "btree".into(),
            columns: RVec::from(vec![0u32]),
            unique: true,
            options: RVec::new(),
        };
        match Index::new(def, 2) {
            Ok(ix) => ix,
            Err(e) => panic!("index: {e}"),
        }
    }

    fn key_ref(b: &Bound<Vec<Value>>) -> Bound<KeyRef<'_>> {
        match b {
            Bound::Included(v) => Bound::Included(KeyRef::of(v)),
            Bound::Excluded(v) => Bound::Excluded(KeyRef::of(v)),
            Bound::Unbounded => Bound::Unbounded,
        }
    }

    /// Range reads agree with a sorted model whether the integer keys sit
    /// in the dense array (and not in the btree) or, once sparse, in the
    /// btree: with NULL keys (in the btree either way), several rows per
    /// key, bounds of other numeric types, and both directions.
    #[test]
    fn integer_ranges_agree_with_a_model() {
        let mut next = crate::xorshift(0x9E37_79B9_7F4A_7C15u64);
        // (spread of keys, step from which one far key in 500 comes, dense
        // at the end): dense throughout, sparse from the start, and dense
        // until a far key moves hundreds of keys into the btree.
        for (spread, far_from, dense_at_end) in [
            (300u64, usize::MAX, true),
            (1 << 40, 0, false),
            (300, 3_000, false),
        ] {
            let mut ix = unique_int_index();
            let mut model: BTreeMap<i64, Vec<RowId>> = BTreeMap::new();
            let mut nulls: Vec<RowId> = Vec::new();
            for step in 0..6_000 {
                let null = next().is_multiple_of(17);
                let k = if step >= far_from && step % 500 == 0 {
                    1 << 35
                } else {
                    (next() % spread) as i64 - 50
                };
                let key = if null {
                    Value::Null
                } else {
                    match i32::try_from(k) {
                        Ok(small) if step % 2 == 1 => Value::Int4(small),
                        _ => Value::Int8(k),
                    }
                };
                let row = next() % 5;
                let values = [key, Value::Int4(0)];
                let rows = if null {
                    &mut nulls
                } else {
                    model.entry(k).or_default()
                };
                if next().is_multiple_of(3) {
                    ix.remove(&values, row);
                    rows.retain(|&r| r != row);
                } else {
                    ix.add(&values, row);
                    if let Err(pos) = rows.binary_search(&row) {
                        rows.insert(pos, row);
                    }
                }
                model.retain(|_, rows| !rows.is_empty());
                if step % 50 != 0 {
                    continue;
                }
                // Bounds: integers, halves as float8, small ints as int2.
                let bound = |r: u64, pick: u64| -> Bound<Vec<Value>> {
                    let v = (r % (spread.min(1 << 20) + 100)) as i64 - 100;
                    let v = match pick % 3 {
                        0 => Value::Int8(v),
                        1 => Value::Float8(v as f64 + 0.5),
                        _ => Value::Int2(v as i16),
                    };
                    match pick % 4 {
                        0 => Bound::Unbounded,
                        1 => Bound::Excluded(vec![v]),
                        _ => Bound::Included(vec![v]),
                    }
                };
                for _ in 0..4 {
                    let (lo, hi) = (bound(next(), next()), bound(next(), next()));
                    let reverse = next().is_multiple_of(2);
                    let (lo_k, hi_k) = (key_ref(&lo), key_ref(&hi));
                    let got: Vec<(Option<i64>, Vec<RowId>)> = ix
                        .range(lo_k, hi_k, reverse)
                        .map(|(k, rows)| {
                            let k = match k {
                                KeyRef::Int(i) => Some(i),
                                KeyRef::Vals(_) => None,
                            };
                            (k, rows.to_vec())
                        })
                        .collect();
                    let null_key = [Value::Null];
                    let inside = |k: KeyRef<'_>| {
                        let above = match lo_k {
                            Bound::Unbounded => true,
                            Bound::Included(b) => k.cmp(b) != Ordering::Less,
                            Bound::Excluded(b) => k.cmp(b) == Ordering::Greater,
                        };
                        let below = match hi_k {
                            Bound::Unbounded => true,
                            Bound::Included(b) => k.cmp(b) != Ordering::Greater,
                            Bound::Excluded(b) => k.cmp(b) == Ordering::Less,
                        };
                        above && below
                    };
                    let mut want: Vec<(Option<i64>, Vec<RowId>)> = model
                        .iter()
                        .filter(|(k, _)| inside(KeyRef::Int(**k)))
                        .map(|(k, rows)| (Some(*k), rows.clone()))
                        .collect();
                    // NULL sorts after every number.
                    if !nulls.is_empty() && inside(KeyRef::Vals(&null_key)) {
                        want.push((None, nulls.clone()));
                    }
                    if reverse {
                        want.reverse();
                    }
                    assert_eq!(got, want, "step {step}: {lo:?}..{hi:?} reverse {reverse}");
                }
                // Point reads, also by a float8 key equal to an integer.
                for k in [-50, 0, 7, 120] {
                    let want = model.get(&k).cloned().unwrap_or_default();
                    let int = ix.get(&KeyRef::Int(k)).map(<[RowId]>::to_vec);
                    assert_eq!(int.unwrap_or_default(), want, "key {k}");
                    let f = [Value::Float8(k as f64)];
                    let float = ix.get(&KeyRef::of(&f)).map(<[RowId]>::to_vec);
                    assert_eq!(float.unwrap_or_default(), want, "key {k} as float8");
                }
            }
            assert_eq!(
                ix.ints.as_ref().is_some_and(IntKeys::is_dense),
                dense_at_end,
                "spread {spread}"
            );
        }
    }
}
