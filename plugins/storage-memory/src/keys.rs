//! Index keys: a total order over values (NULLs last, numbers by value
//! across widths) and the key types the btree maps are built on.
//!
//! `key_cmp` is private to this backend until the SDK's `sort_cmp` lands;
//! swapping it only needs the body of `value_cmp` to change (the range
//! sentinel is handled before it is called).

use std::borrow::Borrow;
use std::cmp::Ordering;

use aiondb_sdk::abi_stable::std_types::RVec;
use aiondb_sdk::value::{ExtPayload, ExtValue, Value};

/// OID of the sentinel value that sorts after every real value (NULL too).
/// Range probes append it to a prefix to mean "just past every key with
/// this prefix"; it is never stored.
const SENTINEL_OID: u32 = u32::MAX;

pub(crate) fn sentinel() -> Value {
    Value::Ext(ExtValue {
        type_oid: SENTINEL_OID,
        payload: ExtPayload::Bytes(RVec::new()),
    })
}

fn is_sentinel(v: &Value) -> bool {
    matches!(v, Value::Ext(e) if e.type_oid == SENTINEL_OID)
}

/// Compares two index key components, sentinel first.
#[inline]
pub(crate) fn key_cmp(a: &Value, b: &Value) -> Ordering {
    // Fast paths for the common key types (btree descents compare a lot).
    match (a, b) {
        (Value::Int4(x), Value::Int4(y)) => return x.cmp(y),
        (Value::Int8(x), Value::Int8(y)) => return x.cmp(y),
        (Value::Text(x), Value::Text(y)) => return x.as_str().cmp(y.as_str()),
        _ => {}
    }
    match (is_sentinel(a), is_sentinel(b)) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => value_cmp(a, b),
    }
}

/// Lexicographic comparison; a proper prefix sorts first.
pub(crate) fn keys_cmp(a: &[Value], b: &[Value]) -> Ordering {
    for (x, y) in a.iter().zip(b.iter()) {
        match key_cmp(x, y) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    a.len().cmp(&b.len())
}

/// Non-sentinel values: the SDK's total order, the same one the executor
/// sorts with, so index order and ORDER BY agree.
#[inline]
fn value_cmp(a: &Value, b: &Value) -> Ordering {
    aiondb_sdk::value::sort_cmp(a, b)
}

/// An index key as stored in the btree.
#[derive(Clone, Debug)]
pub(crate) struct IndexKey(pub Box<[Value]>);

/// A borrowed key, so lookups need no allocation.
#[repr(transparent)]
#[derive(Debug)]
pub(crate) struct KeySlice(pub [Value]);

impl KeySlice {
    pub fn new(values: &[Value]) -> &KeySlice {
        // SAFETY: KeySlice is a repr(transparent) wrapper around [Value], so
        // the two references have the same layout and metadata.
        unsafe { &*(values as *const [Value] as *const KeySlice) }
    }
}

impl Borrow<KeySlice> for IndexKey {
    fn borrow(&self) -> &KeySlice {
        KeySlice::new(&self.0)
    }
}

impl PartialEq for KeySlice {
    fn eq(&self, other: &Self) -> bool {
        keys_cmp(&self.0, &other.0) == Ordering::Equal
    }
}
impl Eq for KeySlice {}
impl PartialOrd for KeySlice {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for KeySlice {
    fn cmp(&self, other: &Self) -> Ordering {
        keys_cmp(&self.0, &other.0)
    }
}

impl PartialEq for IndexKey {
    fn eq(&self, other: &Self) -> bool {
        keys_cmp(&self.0, &other.0) == Ordering::Equal
    }
}
impl Eq for IndexKey {}
impl PartialOrd for IndexKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for IndexKey {
    fn cmp(&self, other: &Self) -> Ordering {
        keys_cmp(&self.0, &other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aiondb_sdk::value::Numeric;

    #[test]
    fn mixed_width_numbers_compare_by_value() {
        assert_eq!(key_cmp(&Value::Int2(3), &Value::Int8(3)), Ordering::Equal);
        assert_eq!(
            key_cmp(&Value::Int4(2), &Value::Float8(2.5)),
            Ordering::Less
        );
        let n = Numeric::parse("2.5").unwrap_or_else(Numeric::zero);
        assert_eq!(
            key_cmp(&Value::Numeric(n.clone()), &Value::Float8(2.5)),
            Ordering::Equal
        );
        assert_eq!(key_cmp(&Value::Numeric(n), &Value::Int4(3)), Ordering::Less);
        let neg = Numeric::parse("-10.5").unwrap_or_else(Numeric::zero);
        let neg2 = Numeric::parse("-2").unwrap_or_else(Numeric::zero);
        assert_eq!(
            key_cmp(&Value::Numeric(neg), &Value::Numeric(neg2)),
            Ordering::Less
        );
        assert_eq!(
            key_cmp(&Value::Float8(f64::NAN), &Value::Float8(1e300)),
            Ordering::Greater
        );
    }

    #[test]
    fn nulls_last_sentinel_after_all() {
        assert_eq!(key_cmp(&Value::Null, &Value::Int4(1)), Ordering::Greater);
        assert_eq!(key_cmp(&sentinel(), &Value::Null), Ordering::Greater);
        assert_eq!(
            keys_cmp(&[Value::Int4(1)], &[Value::Int4(1), Value::Int4(0)]),
            Ordering::Less
        );
    }
}
