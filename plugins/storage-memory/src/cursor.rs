//! Scan cursors. Each `next_batch` takes the table's read lock once and
//! materialises up to `max_rows` visible rows into one `RowBatch`; the
//! snapshot and command id are fixed when the cursor is created, so a
//! statement never sees its own writes even when it interleaves them with
//! fetching.

use std::ops::Bound;
use std::sync::Arc;

use aiondb_sdk::abi_stable::std_types::ROption;
use aiondb_sdk::capability::{RowCursor, RowId, TxnId};
use aiondb_sdk::error::AResult;
use aiondb_sdk::row::{Field, RowBatch, Schema};
use aiondb_sdk::types::DataType;
use aiondb_sdk::value::Value;

use crate::keys::{IndexKey, KeyRef};
use crate::table::{Index, TableCell, TableData, Version};
use crate::txn::Snapshot;
use crate::{keys, read};

/// Rows per batch when the caller leaves it to us.
const DEFAULT_BATCH: usize = 1024;

pub(crate) struct Visibility {
    pub me: TxnId,
    pub cid: u32,
    pub snap: Arc<Snapshot>,
    /// An autocommit-read cursor's hold on its snapshot (see
    /// `MemoryBackend::autocommit_ctx`).
    pub _pin: Option<Pin>,
}

/// Keeps the versions a snapshot with this xmin sees from vacuum until it
/// drops.
pub(crate) struct Pin {
    pub inner: Arc<crate::backend::Inner>,
    pub xmin: TxnId,
}

impl Drop for Pin {
    fn drop(&mut self) {
        crate::lock(&self.inner.mgr).unpin(self.xmin);
    }
}

pub(crate) enum Source {
    /// Sequential scan from this row id on.
    Seq {
        next: RowId,
    },
    /// Explicit row ids, in the caller's order.
    Rows {
        ids: Vec<RowId>,
        pos: usize,
    },
    /// Equality on every index column: one key, probed with a map lookup.
    IndexEq {
        index: u64,
        key: Box<[Value]>,
        /// Last row id emitted (resume point inside the posting).
        after: Option<RowId>,
        done: bool,
    },
    /// A key range in index order.
    IndexRange {
        index: u64,
        lo: Bound<Box<[Value]>>,
        hi: Bound<Box<[Value]>>,
        reverse: bool,
        /// Entries with a NULL in their first `null_prefix` columns are
        /// skipped (a comparison with NULL is never true).
        null_prefix: usize,
        /// Resume point: the key being emitted and the last row id of it.
        after: Option<(IndexKey, RowId)>,
        done: bool,
    },
    Empty,
}

pub(crate) struct TableCursor {
    pub cell: Arc<TableCell>,
    pub vis: Visibility,
    /// Columns to return; `None` = all.
    pub proj: Option<Vec<usize>>,
    pub with_row_ids: bool,
    pub width: usize,
    pub source: Source,
}

pub(crate) fn schema_for(
    data: &TableData,
    proj: &Option<Vec<usize>>,
    with_row_ids: bool,
) -> Schema {
    let cols = &data.def.columns;
    let field = |c: usize| {
        let col = &cols[c];
        Field::new(col.name.as_str(), col.data_type, col.nullable)
    };
    let mut fields: Vec<Field> = match proj {
        Some(p) => p.iter().map(|&c| field(c)).collect(),
        None => (0..cols.len()).map(field).collect(),
    };
    if with_row_ids {
        fields.push(Field::new("rowid", DataType::INT8, false));
    }
    Schema::new(fields)
}

/// Appends version `v` of row `id`: the columns `proj` names (all when
/// `None`), then the row id when asked for.
#[inline]
pub(crate) fn emit_version(
    out: &mut RowBatch,
    id: RowId,
    v: &Version,
    proj: Option<impl Iterator<Item = usize>>,
    with_row_ids: bool,
) {
    let rid = with_row_ids.then(|| Value::Int8(i64::try_from(id).unwrap_or(i64::MAX)));
    v.row.push_into(out, proj, rid);
}

/// The version of row `id` visible to `vis`, if it still carries `key` in
/// `ix` (index entries outlive key changes until vacuum).
#[inline]
pub(crate) fn visible_with_key<'a>(
    data: &'a TableData,
    ix: &Index,
    id: RowId,
    key: KeyRef<'_>,
    vis: &Visibility,
) -> Option<&'a Version> {
    data.row(id)
        .and_then(|r| r.visible(vis.me, vis.cid, &vis.snap))
        .filter(|v| ix.has_key(&v.row, key))
}

impl TableCursor {
    #[inline]
    fn emit(&self, out: &mut RowBatch, id: RowId, v: &Version) {
        let proj = self.proj.as_ref().map(|p| p.iter().copied());
        emit_version(out, id, v, proj, self.with_row_ids);
    }

    fn fill(&mut self, out: &mut RowBatch, want: usize) {
        let cell = Arc::clone(&self.cell);
        let data = read(&cell.data);
        let data = &*data;
        let mut source = std::mem::replace(&mut self.source, Source::Empty);
        match &mut source {
            Source::Empty => {}
            Source::Seq { next } => {
                let start = next.saturating_sub(data.base).min(data.slots.len() as u64) as usize;
                let mut i = start;
                while i < data.slots.len() && out.len() < want {
                    if let Some(row) = &data.slots[i] {
                        if let Some(v) = row.visible(self.vis.me, self.vis.cid, &self.vis.snap) {
                            self.emit(out, data.base + i as u64, v);
                        }
                    }
                    i += 1;
                }
                *next = data.base + i as u64;
                if i >= data.slots.len() {
                    source = Source::Empty;
                }
            }
            Source::Rows { ids, pos } => {
                while *pos < ids.len() && out.len() < want {
                    let id = ids[*pos];
                    *pos += 1;
                    if let Some(v) = data
                        .row(id)
                        .and_then(|r| r.visible(self.vis.me, self.vis.cid, &self.vis.snap))
                    {
                        self.emit(out, id, v);
                    }
                }
                if *pos >= ids.len() {
                    source = Source::Empty;
                }
            }
            Source::IndexEq {
                index,
                key,
                after,
                done,
            } => {
                let Some(ix) = data.index_pos(*index).map(|p| &data.indexes[p]) else {
                    self.source = Source::Empty;
                    return;
                };
                let key = KeyRef::of(key);
                if let Some(posting) = ix.get(&key) {
                    let rows = posting;
                    let from = match after {
                        Some(a) => rows.partition_point(|r| r <= a),
                        None => 0,
                    };
                    *done = true;
                    for &id in &rows[from..] {
                        if out.len() >= want {
                            *done = false;
                            break;
                        }
                        *after = Some(id);
                        self.emit_checked(out, data, ix, id, key);
                    }
                } else {
                    *done = true;
                }
                if *done {
                    source = Source::Empty;
                }
            }
            Source::IndexRange {
                index,
                lo,
                hi,
                reverse,
                null_prefix,
                after,
                done,
            } => {
                let Some(ix) = data.index_pos(*index).map(|p| &data.indexes[p]) else {
                    self.source = Source::Empty;
                    return;
                };
                // Finish the key we stopped inside, then move past it.
                if let Some((k, last)) = after.take() {
                    if let Some(posting) = ix.get(&k.as_ref()) {
                        let rows = posting;
                        let rest: Vec<RowId> = if *reverse {
                            rows[..rows.partition_point(|r| r < &last)]
                                .iter()
                                .rev()
                                .copied()
                                .collect()
                        } else {
                            rows[rows.partition_point(|r| r <= &last)..].to_vec()
                        };
                        for id in rest {
                            if out.len() >= want {
                                break;
                            }
                            *after = Some((k.clone(), id));
                            self.emit_checked(out, data, ix, id, k.as_ref());
                        }
                    }
                    if out.len() >= want && after.is_some() {
                        self.source = source;
                        return;
                    }
                    if *reverse {
                        *hi = Bound::Excluded(k.into_values());
                    } else {
                        *lo = Bound::Excluded(k.into_values());
                    }
                    *after = None;
                }
                if bounds_empty(lo, hi) {
                    *done = true;
                } else {
                    let iter = ix.range(key_bound(lo), key_bound(hi), *reverse);
                    *done = true;
                    'keys: for (k, rows) in iter {
                        if k.prefix_has_null(*null_prefix) {
                            continue;
                        }
                        let mut emit_row = |id: RowId, out: &mut RowBatch| -> bool {
                            if out.len() >= want {
                                return false;
                            }
                            *after = Some((k.to_key(), id));
                            self.emit_checked(out, data, ix, id, k);
                            true
                        };
                        if *reverse {
                            for &id in rows.iter().rev() {
                                if !emit_row(id, out) {
                                    *done = false;
                                    break 'keys;
                                }
                            }
                        } else {
                            for &id in rows {
                                if !emit_row(id, out) {
                                    *done = false;
                                    break 'keys;
                                }
                            }
                        }
                    }
                    // Stopped exactly at a key boundary: the resume logic
                    // above will find no rows left in it and move on.
                }
                if *done {
                    source = Source::Empty;
                }
            }
        }
        self.source = source;
    }

    /// Emits `id` if its visible version still has `key`.
    #[inline]
    fn emit_checked(
        &self,
        out: &mut RowBatch,
        data: &TableData,
        ix: &Index,
        id: RowId,
        key: KeyRef<'_>,
    ) {
        if let Some(v) = visible_with_key(data, ix, id, key, &self.vis) {
            self.emit(out, id, v);
        }
    }
}

fn key_bound(b: &Bound<Box<[Value]>>) -> Bound<KeyRef<'_>> {
    match b {
        Bound::Included(k) => Bound::Included(KeyRef::of(k)),
        Bound::Excluded(k) => Bound::Excluded(KeyRef::of(k)),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// BTreeMap::range panics on inverted or empty-exclusive ranges; those
/// select nothing.
fn bounds_empty(lo: &Bound<Box<[Value]>>, hi: &Bound<Box<[Value]>>) -> bool {
    let (l, l_incl) = match lo {
        Bound::Included(k) => (k, true),
        Bound::Excluded(k) => (k, false),
        Bound::Unbounded => return false,
    };
    let (h, h_incl) = match hi {
        Bound::Included(k) => (k, true),
        Bound::Excluded(k) => (k, false),
        Bound::Unbounded => return false,
    };
    match keys::keys_cmp(l, h) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Equal => !(l_incl && h_incl),
        std::cmp::Ordering::Less => false,
    }
}

impl RowCursor for TableCursor {
    fn schema(&self) -> AResult<Schema> {
        // Built on demand: executors know the shape from the plan, and point
        // lookups should not pay for column-name copies.
        let data = read(&self.cell.data);
        aiondb_sdk::abi_stable::std_types::ROk(schema_for(&data, &self.proj, self.with_row_ids))
    }

    fn next_batch(&mut self, max_rows: u32) -> AResult<ROption<RowBatch>> {
        let want = if max_rows == 0 {
            DEFAULT_BATCH
        } else {
            max_rows as usize
        };
        let mut out = RowBatch::new(self.width);
        while out.len() < want && !matches!(self.source, Source::Empty) {
            self.fill(&mut out, want);
        }
        aiondb_sdk::abi_stable::std_types::ROk(if out.is_empty() {
            ROption::RNone
        } else {
            ROption::RSome(out)
        })
    }

    fn rows_affected(&self) -> AResult<u64> {
        aiondb_sdk::abi_stable::std_types::ROk(0)
    }
}
