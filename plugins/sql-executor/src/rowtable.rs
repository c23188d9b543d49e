//! A hash table keyed by rows of values with SQL grouping equality (NULLs
//! equal each other), looked up by borrowed slices so probing never
//! allocates. Used by hash aggregation, DISTINCT, set operations, hash
//! joins and IN (subquery).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use aiondb_sdk::prelude::*;

use crate::ops::rows_equal;
use crate::shared::hash_value;

/// FxHash-style mixing: fast for the many small writes `hash_value` makes.
#[derive(Default)]
pub(crate) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(i as u64)
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(i as u64)
    }
    fn write_i64(&mut self, i: i64) {
        self.write_u64(i as u64)
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64)
    }
}

/// The hash of a key row.
pub(crate) fn hash_row(key: &[Value]) -> u64 {
    let mut h = FxHasher::default();
    for v in key {
        hash_value(v, &mut h);
    }
    // Final avalanche so the low bits used by the table are well mixed.
    let x = h.finish();
    (x ^ (x >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9) ^ (x >> 32)
}

/// Passes a precomputed u64 hash through unchanged.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | *b as u64;
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }
}

type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// Entries `(key, value)` in insertion order, indexed by key hash.
pub(crate) struct RowTable<V> {
    pub index: IdMap<Vec<u32>>,
    pub keys: Vec<Vec<Value>>,
    pub vals: Vec<V>,
}

impl<V> Default for RowTable<V> {
    fn default() -> Self {
        RowTable {
            index: IdMap::default(),
            keys: Vec::new(),
            vals: Vec::new(),
        }
    }
}

impl<V> RowTable<V> {
    pub(crate) fn clear(&mut self) {
        self.index.clear();
        self.keys.clear();
        self.vals.clear();
    }

    /// Position of `key`, if present.
    pub(crate) fn find(&self, key: &[Value]) -> Option<usize> {
        self.find_hashed(hash_row(key), key)
    }

    pub(crate) fn find_hashed(&self, h: u64, key: &[Value]) -> Option<usize> {
        self.index.get(&h).and_then(|list| {
            list.iter()
                .map(|i| *i as usize)
                .find(|i| rows_equal(&self.keys[*i], key))
        })
    }

    /// Appends an entry (the caller checked it is absent when keys must be
    /// unique); returns its position.
    pub(crate) fn push(&mut self, key: Vec<Value>, val: V) -> usize {
        let h = hash_row(&key);
        self.push_hashed(h, key, val)
    }

    pub(crate) fn push_hashed(&mut self, h: u64, key: Vec<Value>, val: V) -> usize {
        let i = self.keys.len();
        self.index.entry(h).or_default().push(i as u32);
        self.keys.push(key);
        self.vals.push(val);
        i
    }

    /// Every position whose key equals `key` (duplicates allowed).
    pub(crate) fn all_matching<'a>(&'a self, key: &'a [Value]) -> impl Iterator<Item = usize> + 'a {
        self.index
            .get(&hash_row(key))
            .into_iter()
            .flat_map(|l| l.iter().map(|i| *i as usize))
            .filter(move |i| rows_equal(&self.keys[*i], key))
    }
}
