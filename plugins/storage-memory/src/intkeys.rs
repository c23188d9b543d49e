//! Integer keys of a unique one-column index, kept beside its btree for
//! point probes.
//!
//! Keys that are mostly consecutive (serial and identity columns, the usual
//! primary keys) live in a plain array indexed by `key - base`: a probe is
//! one read of 8 bytes, and a table of a few hundred thousand rows keeps
//! the whole array in the L2 cache. Once the keys get sparse (fewer than
//! half the slots would be used) they move to a hash table for good.
//!
//! While dense, the array is also the index's order for integer keys: the
//! btree then holds none of them (an insert skips a btree descent), and
//! range scans read the array between their bounds. Going sparse hands
//! every key to the btree as well (see `Index::add`).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Bound;

use aiondb_sdk::capability::RowId;

use crate::keys::KeyRef;
use crate::table::Posting;

/// No row has the key.
const EMPTY: RowId = RowId::MAX;
/// Several rows have the key (dead versions wait for vacuum); they are in
/// `many`.
const MANY: RowId = RowId::MAX - 1;
/// Slots allowed beyond twice the keys (8 KiB), so a small table stays an
/// array whatever order its keys arrive in.
const SLACK: u64 = 1024;

type IntMap<V> = HashMap<i64, V, BuildHasherDefault<IntHasher>>;

pub(crate) enum IntKeys {
    Dense {
        base: i64,
        slots: Vec<RowId>,
        /// Slots that are not `EMPTY`.
        used: u64,
        many: IntMap<Vec<RowId>>,
    },
    Sparse(IntMap<Posting>),
}

/// Whether `used` keys spread over `lo..=hi` are dense enough for an array.
fn dense_enough(used: u64, lo: i64, hi: i64) -> bool {
    let span = (i128::from(hi) - i128::from(lo) + 1) as u128;
    span <= 2 * u128::from(used) + u128::from(SLACK)
}

impl Default for IntKeys {
    fn default() -> Self {
        IntKeys::Dense {
            base: 0,
            slots: Vec::new(),
            used: 0,
            many: IntMap::default(),
        }
    }
}

/// The keys of a dense array between two positions, from either end.
pub(crate) struct DenseIter<'a> {
    base: i64,
    slots: &'a [RowId],
    many: &'a IntMap<Vec<RowId>>,
    front: usize,
    back: usize,
}

impl<'a> DenseIter<'a> {
    fn rows(&self, i: usize) -> Option<&'a [RowId]> {
        match self.slots.get(i)? {
            &EMPTY => None,
            &MANY => self.many.get(&(self.base + i as i64)).map(Vec::as_slice),
            r => Some(std::slice::from_ref(r)),
        }
    }

    /// The next key upwards (`back` false) or downwards, with its rows.
    pub fn step(&mut self, back: bool) -> Option<(i64, &'a [RowId])> {
        while self.front < self.back {
            let i = if back {
                self.back -= 1;
                self.back
            } else {
                self.front += 1;
                self.front - 1
            };
            if let Some(rows) = self.rows(i) {
                return Some((self.base + i as i64, rows));
            }
        }
        None
    }
}

/// The first of `0..len` where `pred` holds, for a `pred` that is false
/// and then true.
fn first_true(len: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

impl IntKeys {
    pub fn is_dense(&self) -> bool {
        matches!(self, IntKeys::Dense { .. })
    }

    /// Every key of the hash table and its rows, in no order (none while
    /// dense).
    pub fn sparse_entries(&self) -> impl Iterator<Item = (i64, &[RowId])> {
        let h = match self {
            IntKeys::Sparse(h) => Some(h),
            IntKeys::Dense { .. } => None,
        };
        h.into_iter()
            .flat_map(|h| h.iter().map(|(k, p)| (*k, p.as_slice())))
    }

    /// The keys of the dense array within the bounds (compared in the
    /// index order, so bounds of other numeric types work); `None` once
    /// sparse.
    pub fn dense_range(
        &self,
        lo: Bound<KeyRef<'_>>,
        hi: Bound<KeyRef<'_>>,
    ) -> Option<DenseIter<'_>> {
        let IntKeys::Dense {
            base, slots, many, ..
        } = self
        else {
            return None;
        };
        let key = |i: usize| KeyRef::Int(*base + i as i64);
        let front = first_true(slots.len(), |i| match lo {
            Bound::Unbounded => true,
            Bound::Included(b) => key(i).cmp(b) != Ordering::Less,
            Bound::Excluded(b) => key(i).cmp(b) == Ordering::Greater,
        });
        let back = first_true(slots.len(), |i| match hi {
            Bound::Unbounded => false,
            Bound::Included(b) => key(i).cmp(b) == Ordering::Greater,
            Bound::Excluded(b) => key(i).cmp(b) != Ordering::Less,
        });
        Some(DenseIter {
            base: *base,
            slots,
            many,
            front,
            back: back.max(front),
        })
    }

    /// Row ids under `key`, oldest first.
    #[inline]
    pub fn get(&self, key: i64) -> Option<&[RowId]> {
        match self {
            IntKeys::Dense {
                base, slots, many, ..
            } => {
                let i = usize::try_from(key.checked_sub(*base)?).ok()?;
                match slots.get(i)? {
                    &EMPTY => None,
                    &MANY => many.get(&key).map(Vec::as_slice),
                    r => Some(std::slice::from_ref(r)),
                }
            }
            IntKeys::Sparse(h) => h.get(&key).map(Posting::as_slice),
        }
    }

    pub fn add(&mut self, key: i64, row: RowId) {
        if let IntKeys::Dense {
            base,
            slots,
            used,
            many,
        } = self
        {
            if slots.is_empty() {
                *base = key;
            }
            let hi = (*base).saturating_add(slots.len() as i64).saturating_sub(1);
            let (lo, hi) = (key.min(*base), key.max(hi));
            if !dense_enough(*used + 1, lo, hi) {
                self.go_sparse();
                return self.add(key, row);
            }
            if key < *base {
                // Room below as well, so descending inserts do not move the
                // array every time.
                let room = (slots.len() / 4) as i64;
                let lo = key.saturating_sub(room);
                let lo = if dense_enough(*used + 1, lo, hi) {
                    lo
                } else {
                    key
                };
                let shift = (*base - lo) as usize;
                slots.splice(0..0, std::iter::repeat_n(EMPTY, shift));
                *base = lo;
            }
            let i = (key - *base) as usize;
            if i >= slots.len() {
                slots.resize(i + 1, EMPTY);
            }
            match slots[i] {
                EMPTY => {
                    slots[i] = row;
                    *used += 1;
                }
                MANY => {
                    if let Some(rows) = many.get_mut(&key) {
                        if let Err(pos) = rows.binary_search(&row) {
                            rows.insert(pos, row);
                        }
                    }
                }
                r if r == row => {}
                r => {
                    slots[i] = MANY;
                    many.insert(key, vec![r.min(row), r.max(row)]);
                }
            }
            return;
        }
        if let IntKeys::Sparse(h) = self {
            match h.entry(key) {
                std::collections::hash_map::Entry::Occupied(mut o) => o.get_mut().add(row),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(Posting::One(row));
                }
            }
        }
    }

    pub fn remove(&mut self, key: i64, row: RowId) {
        match self {
            IntKeys::Dense {
                base,
                slots,
                used,
                many,
            } => {
                let Some(i) = key
                    .checked_sub(*base)
                    .and_then(|i| usize::try_from(i).ok())
                    .filter(|&i| i < slots.len())
                else {
                    return;
                };
                match slots[i] {
                    MANY => {
                        let Some(rows) = many.get_mut(&key) else {
                            return;
                        };
                        rows.retain(|&r| r != row);
                        match rows.as_slice() {
                            [] => {
                                many.remove(&key);
                                slots[i] = EMPTY;
                                *used -= 1;
                            }
                            &[only] => {
                                many.remove(&key);
                                slots[i] = only;
                            }
                            _ => {}
                        }
                    }
                    r if r == row => {
                        slots[i] = EMPTY;
                        *used -= 1;
                    }
                    _ => {}
                }
                // A table emptied by deletes gives its array back.
                if *used == 0 {
                    *slots = Vec::new();
                }
            }
            IntKeys::Sparse(h) => {
                if let std::collections::hash_map::Entry::Occupied(mut o) = h.entry(key) {
                    if o.get_mut().remove(row) {
                        o.remove();
                    }
                }
            }
        }
    }

    fn go_sparse(&mut self) {
        let IntKeys::Dense {
            base, slots, many, ..
        } = self
        else {
            return;
        };
        let mut h = IntMap::default();
        h.reserve(slots.len() / 2);
        for (i, &r) in slots.iter().enumerate() {
            let key = *base + i as i64;
            match r {
                EMPTY => {}
                MANY => {
                    if let Some(rows) = many.remove(&key) {
                        h.insert(key, Posting::from_sorted(rows));
                    }
                }
                r => {
                    h.insert(key, Posting::One(r));
                }
            }
        }
        aiondb_sdk::log::debug!(
            "integer index keys are sparse; {} keys move to a hash table",
            h.len()
        );
        *self = IntKeys::Sparse(h);
    }
}

/// Hashing for integer keys: the low bits (the bucket) are the key
/// itself, so ascending ids fill neighbouring buckets (inserts stay in
/// cache); the top 7 bits (hashbrown's tag) come from a multiplication so
/// tags still tell keys apart. SipHash would cost more than the probe.
#[derive(Default)]
pub(crate) struct IntHasher(u64);

impl Hasher for IntHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_i64(&mut self, i: i64) {
        let x = i as u64;
        self.0 = x ^ (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) & (0x7F << 57));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(k: &IntKeys, key: i64) -> Vec<RowId> {
        k.get(key).map(<[RowId]>::to_vec).unwrap_or_default()
    }

    #[test]
    fn consecutive_keys_stay_dense_and_read_back() {
        let mut k = IntKeys::default();
        for i in 0..10_000 {
            k.add(i + 100, i as u64);
        }
        assert!(matches!(k, IntKeys::Dense { .. }));
        assert_eq!(rows(&k, 100), vec![0]);
        assert_eq!(rows(&k, 10_099), vec![9_999]);
        assert_eq!(rows(&k, 99), Vec::<RowId>::new());
        assert_eq!(rows(&k, 10_100), Vec::<RowId>::new());
        assert_eq!(rows(&k, i64::MIN), Vec::<RowId>::new());
        assert_eq!(rows(&k, i64::MAX), Vec::<RowId>::new());
    }

    #[test]
    fn descending_and_shuffled_keys_stay_dense() {
        let mut k = IntKeys::default();
        for i in (0..5_000).rev() {
            k.add(i, i as u64);
        }
        for i in 0..5_000u64 {
            let key = 5_000 + ((i * 7919) % 5_000) as i64;
            k.add(key, key as u64);
        }
        assert!(matches!(k, IntKeys::Dense { .. }));
        for key in 0..10_000 {
            assert_eq!(rows(&k, key), vec![key as u64], "key {key}");
        }
    }

    #[test]
    fn several_rows_per_key_and_removal() {
        let mut k = IntKeys::default();
        k.add(5, 10);
        k.add(5, 3);
        k.add(5, 3);
        k.add(6, 11);
        assert_eq!(rows(&k, 5), vec![3, 10]);
        k.remove(5, 10);
        assert_eq!(rows(&k, 5), vec![3]);
        k.remove(5, 3);
        assert_eq!(rows(&k, 5), Vec::<RowId>::new());
        k.remove(5, 3);
        k.remove(1_000_000, 3);
        assert_eq!(rows(&k, 6), vec![11]);
    }

    /// Random adds and removes in several key patterns, checked after every
    /// step against a plain map of sorted row lists.
    #[test]
    fn random_operations_agree_with_a_model() {
        use std::collections::BTreeMap;
        let mut next = crate::xorshift(0x2545_F491_4F6C_DD1Du64);
        // (key range, rows per key range): dense ascending, dense around a
        // negative base, and sparse.
        for (spread, base) in [(200u64, 0i64), (300, -1_000), (1 << 40, 5)] {
            let mut k = IntKeys::default();
            let mut model: BTreeMap<i64, Vec<RowId>> = BTreeMap::new();
            for step in 0..20_000 {
                let key = base + (next() % spread) as i64;
                let row = next() % 4;
                if next().is_multiple_of(3) {
                    k.remove(key, row);
                    if let Some(rows) = model.get_mut(&key) {
                        rows.retain(|&r| r != row);
                        if rows.is_empty() {
                            model.remove(&key);
                        }
                    }
                } else {
                    k.add(key, row);
                    let rows = model.entry(key).or_default();
                    if let Err(pos) = rows.binary_search(&row) {
                        rows.insert(pos, row);
                    }
                }
                if step % 97 == 0 {
                    for probe in [key, key - 1, key + 1, base, base - 1] {
                        let want = model.get(&probe).cloned().unwrap_or_default();
                        assert_eq!(rows(&k, probe), want, "key {probe} at step {step}");
                    }
                }
            }
            for (key, want) in &model {
                assert_eq!(&rows(&k, *key), want, "key {key}");
            }
            let dense = matches!(k, IntKeys::Dense { .. });
            assert_eq!(dense, spread < 1 << 20, "spread {spread}");
        }
    }

    #[test]
    fn sparse_keys_move_to_a_hash_table_with_their_rows() {
        let mut k = IntKeys::default();
        for i in 0..100 {
            k.add(i, i as u64);
        }
        k.add(50, 500);
        k.add(i64::MAX, 7);
        k.add(i64::MIN, 8);
        assert!(matches!(k, IntKeys::Sparse(_)));
        assert_eq!(rows(&k, 50), vec![50, 500]);
        assert_eq!(rows(&k, 99), vec![99]);
        assert_eq!(rows(&k, i64::MAX), vec![7]);
        assert_eq!(rows(&k, i64::MIN), vec![8]);
        k.remove(50, 50);
        assert_eq!(rows(&k, 50), vec![500]);
    }
}
