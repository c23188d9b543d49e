//! Index keys: a total order over values (NULLs last, numbers by value
//! across widths) and the key types the btree maps are built on.
//!
//! `key_cmp` is private to this backend until the SDK's `sort_cmp` lands;
//! swapping it only needs the body of `value_cmp` to change (the range
//! sentinel is handled before it is called).

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::ops::Bound;

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

/// An index key as stored in the btree. A key of one integer (the common
/// primary key) is held inline, so a btree descent compares machine
/// integers instead of chasing a pointer per comparison; anything else is
/// a boxed list of values. `Vals` never holds a single integer (see
/// [`KeyRef::of`]), so each key has one form.
#[derive(Clone, Debug)]
pub(crate) enum IndexKey {
    Int(i64),
    /// Boxed twice so the key stays 16 bytes (small btree nodes).
    Vals(Box<Box<[Value]>>),
}

/// A borrowed key, in the same canonical form, for lookups without
/// allocating.
#[derive(Clone, Copy, Debug)]
pub(crate) enum KeyRef<'a> {
    Int(i64),
    Vals(&'a [Value]),
}

#[inline]
fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Int2(x) => Some(i64::from(*x)),
        Value::Int4(x) => Some(i64::from(*x)),
        Value::Int8(x) => Some(*x),
        _ => None,
    }
}

impl<'a> KeyRef<'a> {
    #[inline]
    pub fn of(values: &'a [Value]) -> KeyRef<'a> {
        match values {
            [v] => match int_of(v) {
                Some(i) => KeyRef::Int(i),
                None => KeyRef::Vals(values),
            },
            _ => KeyRef::Vals(values),
        }
    }

    #[inline]
    pub fn cmp(self, other: KeyRef<'_>) -> Ordering {
        match (self, other) {
            (KeyRef::Int(a), KeyRef::Int(b)) => a.cmp(&b),
            (KeyRef::Int(a), KeyRef::Vals(b)) => keys_cmp(&[Value::Int8(a)], b),
            (KeyRef::Vals(a), KeyRef::Int(b)) => keys_cmp(a, &[Value::Int8(b)]),
            (KeyRef::Vals(a), KeyRef::Vals(b)) => keys_cmp(a, b),
        }
    }

    /// Whether component `i` equals `v` (the index order's equality).
    #[inline]
    pub fn component_eq(self, i: usize, v: &Value) -> bool {
        match self {
            KeyRef::Int(k) => {
                i == 0
                    && match int_of(v) {
                        Some(x) => x == k,
                        None => key_cmp(v, &Value::Int8(k)) == Ordering::Equal,
                    }
            }
            KeyRef::Vals(vals) => vals
                .get(i)
                .is_some_and(|k| key_cmp(v, k) == Ordering::Equal),
        }
    }

    pub fn len(self) -> usize {
        match self {
            KeyRef::Int(_) => 1,
            KeyRef::Vals(v) => v.len(),
        }
    }

    /// Whether one of the first `n` components is NULL.
    pub fn prefix_has_null(self, n: usize) -> bool {
        match self {
            KeyRef::Int(_) => false,
            KeyRef::Vals(v) => v[..n.min(v.len())].iter().any(Value::is_null),
        }
    }

    pub fn to_values(self) -> Box<[Value]> {
        match self {
            KeyRef::Int(i) => Box::new([Value::Int8(i)]),
            KeyRef::Vals(v) => v.into(),
        }
    }

    pub fn to_key(self) -> IndexKey {
        match self {
            KeyRef::Int(i) => IndexKey::Int(i),
            KeyRef::Vals(v) => IndexKey::Vals(Box::new(v.into())),
        }
    }
}

impl IndexKey {
    #[cfg(test)]
    pub fn from_values(values: Box<[Value]>) -> IndexKey {
        match KeyRef::of(&values) {
            KeyRef::Int(i) => IndexKey::Int(i),
            KeyRef::Vals(_) => IndexKey::Vals(Box::new(values)),
        }
    }

    #[inline]
    pub fn as_ref(&self) -> KeyRef<'_> {
        match self {
            IndexKey::Int(i) => KeyRef::Int(*i),
            IndexKey::Vals(v) => KeyRef::Vals(v),
        }
    }

    pub fn into_values(self) -> Box<[Value]> {
        match self {
            IndexKey::Int(i) => Box::new([Value::Int8(i)]),
            IndexKey::Vals(v) => *v,
        }
    }
}

/// What the btree compares: stored keys and borrowed probes alike
/// (`BTreeMap` lookups borrow the stored key as `dyn KeyView`).
pub(crate) trait KeyView {
    fn view(&self) -> KeyRef<'_>;
}

impl KeyView for IndexKey {
    #[inline]
    fn view(&self) -> KeyRef<'_> {
        self.as_ref()
    }
}

impl KeyView for KeyRef<'_> {
    #[inline]
    fn view(&self) -> KeyRef<'_> {
        *self
    }
}

/// A probe for `BTreeMap::get`/`range`.
#[inline]
pub(crate) fn probe<'a>(k: &'a KeyRef<'a>) -> &'a (dyn KeyView + 'a) {
    k
}

/// A bound of borrowed keys as the btree's `range` takes it.
pub(crate) fn dyn_bound<'a>(b: &'a Bound<KeyRef<'a>>) -> Bound<&'a (dyn KeyView + 'a)> {
    match b {
        Bound::Included(k) => Bound::Included(probe(k)),
        Bound::Excluded(k) => Bound::Excluded(probe(k)),
        Bound::Unbounded => Bound::Unbounded,
    }
}

impl<'a> Borrow<dyn KeyView + 'a> for IndexKey {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.view().cmp(other.view()) == Ordering::Equal
    }
}
impl Eq for dyn KeyView + '_ {}
impl PartialOrd for dyn KeyView + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for dyn KeyView + '_ {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        self.view().cmp(other.view())
    }
}

impl PartialEq for IndexKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_ref().cmp(other.as_ref()) == Ordering::Equal
    }
}
impl Eq for IndexKey {}
impl PartialOrd for IndexKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for IndexKey {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_ref().cmp(other.as_ref())
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
    fn inline_integer_keys_order_like_values() {
        let keys = [
            IndexKey::from_values(Box::new([Value::Int4(-3)])),
            IndexKey::from_values(Box::new([Value::Int8(2)])),
            IndexKey::from_values(Box::new([Value::Float8(2.5)])),
            IndexKey::from_values(Box::new([Value::Int2(3)])),
            IndexKey::from_values(Box::new([Value::Null])),
        ];
        assert!(matches!(keys[1], IndexKey::Int(2)));
        assert!(matches!(keys[2], IndexKey::Vals(_)));
        for w in keys.windows(2) {
            assert_eq!(w[0].cmp(&w[1]), Ordering::Less);
            assert_eq!(w[1].cmp(&w[0]), Ordering::Greater);
        }
        let upper = [Value::Int4(2), sentinel()];
        assert_eq!(KeyRef::of(&upper).cmp(keys[1].as_ref()), Ordering::Greater);
        assert_eq!(KeyRef::of(&upper).cmp(keys[2].as_ref()), Ordering::Less);
        let mut map = std::collections::BTreeMap::new();
        for (i, k) in keys.iter().enumerate() {
            map.insert(k.clone(), i);
        }
        let p = [Value::Int4(2)];
        assert_eq!(map.get(probe(&KeyRef::of(&p))), Some(&1));
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
