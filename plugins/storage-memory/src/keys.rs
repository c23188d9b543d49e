//! Index keys: a total order over values (NULLs last, numbers by value
//! across widths) and the key types the btree maps are built on.
//!
//! `key_cmp` is private to this backend until the SDK's `sort_cmp` lands;
//! swapping it only needs the body of `value_cmp` to change (the range
//! sentinel is handled before it is called).

use std::borrow::Borrow;
use std::cmp::Ordering;

use aiondb_sdk::abi_stable::std_types::RVec;
use aiondb_sdk::value::{ArrayValue, ExtPayload, ExtValue, Numeric, NumericKind, Value};

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

/// Rank of a value's comparison class; values of different classes never
/// meet in a well-typed index, but the order must still be total.
fn class(v: &Value) -> u8 {
    match v {
        Value::Bool(_) => 0,
        Value::Int2(_)
        | Value::Int4(_)
        | Value::Int8(_)
        | Value::Float4(_)
        | Value::Float8(_)
        | Value::Numeric(_) => 1,
        Value::Text(_) | Value::Json(_) | Value::Jsonb(_) => 2,
        Value::Bytea(_) => 3,
        Value::Date(_) | Value::Timestamp(_) | Value::TimestampTz(_) => 4,
        Value::Time(_) => 5,
        Value::Interval(_) => 6,
        Value::Uuid(_) => 7,
        Value::Array(_) => 8,
        Value::Ext(_) => 9,
        Value::Null => 10,
    }
}

fn value_cmp(a: &Value, b: &Value) -> Ordering {
    use Value::*;
    match (a, b) {
        (Null, Null) => Ordering::Equal,
        (Null, _) => Ordering::Greater,
        (_, Null) => Ordering::Less,
        (Bool(x), Bool(y)) => x.cmp(y),
        (Text(x), Text(y)) | (Json(x), Json(y)) | (Jsonb(x), Jsonb(y)) => {
            x.as_str().cmp(y.as_str())
        }
        (Bytea(x), Bytea(y)) => x.as_slice().cmp(y.as_slice()),
        (Time(x), Time(y)) => x.cmp(y),
        (Interval(x), Interval(y)) => interval_span(x).cmp(&interval_span(y)),
        (Uuid(x), Uuid(y)) => x.cmp(y),
        (Array(x), Array(y)) => array_cmp(x, y),
        (Ext(x), Ext(y)) => ext_cmp(x, y),
        _ => {
            let (ca, cb) = (class(a), class(b));
            if ca != cb {
                return ca.cmp(&cb);
            }
            match ca {
                1 => number_cmp(a, b),
                4 => time_point(a).cmp(&time_point(b)),
                2 => a.as_str().unwrap_or("").cmp(b.as_str().unwrap_or("")),
                _ => Ordering::Equal,
            }
        }
    }
}

/// Dates, timestamps and timestamptz on one axis (microseconds).
fn time_point(v: &Value) -> i128 {
    match v {
        Value::Date(d) => *d as i128 * 86_400_000_000,
        Value::Timestamp(t) | Value::TimestampTz(t) => *t as i128,
        _ => 0,
    }
}

/// PostgreSQL compares intervals by their span with 30-day months.
fn interval_span(i: &aiondb_sdk::value::Interval) -> i128 {
    (i.months as i128 * 30 + i.days as i128) * 86_400_000_000 + i.micros as i128
}

fn array_cmp(a: &ArrayValue, b: &ArrayValue) -> Ordering {
    for (x, y) in a.elements.iter().zip(b.elements.iter()) {
        match value_cmp(x, y) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    a.elements.len().cmp(&b.elements.len())
}

fn ext_cmp(a: &ExtValue, b: &ExtValue) -> Ordering {
    a.type_oid
        .cmp(&b.type_oid)
        .then_with(|| match (&a.payload, &b.payload) {
            (ExtPayload::Bytes(x), ExtPayload::Bytes(y)) => x.as_slice().cmp(y.as_slice()),
            (ExtPayload::Floats(x), ExtPayload::Floats(y)) => {
                for (p, q) in x.iter().zip(y.iter()) {
                    match p.total_cmp(q) {
                        Ordering::Equal => {}
                        o => return o,
                    }
                }
                x.len().cmp(&y.len())
            }
            (ExtPayload::Bytes(_), ExtPayload::Floats(_)) => Ordering::Less,
            (ExtPayload::Floats(_), ExtPayload::Bytes(_)) => Ordering::Greater,
        })
}

enum Num<'a> {
    Int(i64),
    Float(f64),
    Dec(&'a Numeric),
}

fn as_num(v: &Value) -> Num<'_> {
    match v {
        Value::Int2(x) => Num::Int(*x as i64),
        Value::Int4(x) => Num::Int(*x as i64),
        Value::Int8(x) => Num::Int(*x),
        Value::Float4(x) => Num::Float(*x as f64),
        Value::Float8(x) => Num::Float(*x),
        Value::Numeric(n) => Num::Dec(n),
        _ => Num::Int(0),
    }
}

/// Floats order as PostgreSQL does: NaN equals NaN and sorts above
/// everything else, -0 equals 0.
fn float_cmp(x: f64, y: f64) -> Ordering {
    match (x.is_nan(), y.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
    }
}

fn int_float_cmp(i: i64, f: f64) -> Ordering {
    if f.is_nan() {
        return Ordering::Less;
    }
    // Exact for |i| < 2^53; beyond that the float's own resolution is the
    // limit, and ties are broken by the integer part of the float.
    match float_cmp(i as f64, f) {
        Ordering::Equal if f.abs() < 9.2e18 => (i as i128).cmp(&(f as i128)),
        o => o,
    }
}

fn number_cmp(a: &Value, b: &Value) -> Ordering {
    match (as_num(a), as_num(b)) {
        (Num::Int(x), Num::Int(y)) => x.cmp(&y),
        (Num::Float(x), Num::Float(y)) => float_cmp(x, y),
        (Num::Int(x), Num::Float(y)) => int_float_cmp(x, y),
        (Num::Float(x), Num::Int(y)) => int_float_cmp(y, x).reverse(),
        (Num::Dec(x), Num::Dec(y)) => numeric_cmp(x, y),
        (Num::Dec(x), Num::Int(y)) => numeric_cmp(x, &Numeric::from_i64(y)),
        (Num::Int(x), Num::Dec(y)) => numeric_cmp(&Numeric::from_i64(x), y),
        (Num::Dec(x), Num::Float(y)) => float_cmp(numeric_f64(x), y),
        (Num::Float(x), Num::Dec(y)) => float_cmp(x, numeric_f64(y)),
    }
}

fn numeric_f64(n: &Numeric) -> f64 {
    match n.kind {
        NumericKind::NaN => f64::NAN,
        NumericKind::PosInf => f64::INFINITY,
        NumericKind::NegInf => f64::NEG_INFINITY,
        NumericKind::Finite => n.to_f64(),
    }
}

/// Exact comparison of two numerics: -Inf < finite < +Inf < NaN.
pub(crate) fn numeric_cmp(a: &Numeric, b: &Numeric) -> Ordering {
    fn rank(n: &Numeric) -> u8 {
        match n.kind {
            NumericKind::NegInf => 0,
            NumericKind::Finite => 1,
            NumericKind::PosInf => 2,
            NumericKind::NaN => 3,
        }
    }
    let (ra, rb) = (rank(a), rank(b));
    if ra != 1 || rb != 1 {
        return ra.cmp(&rb);
    }
    // Sign: -1, 0, 1.
    let sign = |n: &Numeric| -> i8 {
        if n.digits.is_empty() {
            0
        } else if n.negative {
            -1
        } else {
            1
        }
    };
    let (sa, sb) = (sign(a), sign(b));
    if sa != sb || sa == 0 {
        return sa.cmp(&sb);
    }
    // Same sign, both non-zero: compare magnitudes. Digits carry no leading
    // or trailing zeros, so weight then digit-wise comparison decides.
    let mag = a
        .weight
        .cmp(&b.weight)
        .then_with(|| a.digits.as_slice().cmp(b.digits.as_slice()));
    if sa < 0 {
        mag.reverse()
    } else {
        mag
    }
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
        assert_eq!(numeric_cmp(&neg, &neg2), Ordering::Less);
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
