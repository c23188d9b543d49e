//! Comparison and hashing: SQL comparison (`sql_cmp`), the total order used
//! by sorts, btree keys, grouping and DISTINCT (`sort_cmp`), and a hash
//! consistent with it (`hash_value`).
//!
//! Text compares byte-wise, which is PostgreSQL's "C" collation; a
//! database created with a linguistic collation orders text differently.
//! `timestamptz` and `timestamp` compare by their microsecond counts, which
//! matches PostgreSQL when the session time zone is UTC.

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

use super::json::{parse_json, Json};
use super::numeric::parse_numeric;
use super::{ArrayValue, ExtPayload, Interval, Numeric, Value, USECS_PER_DAY};

/// `date` as a timestamp (midnight), keeping the infinities infinite.
#[inline]
pub(crate) fn date_to_micros(d: i32) -> i64 {
    match d {
        i32::MAX => i64::MAX,
        i32::MIN => i64::MIN,
        _ => d as i64 * USECS_PER_DAY,
    }
}

/// PostgreSQL's float order: NaN equals NaN and sorts after every other
/// value, -0 equals 0.
#[inline]
pub(crate) fn cmp_f64(a: f64, b: f64) -> Ordering {
    match a.partial_cmp(&b) {
        Some(o) => o,
        None => a.is_nan().cmp(&b.is_nan()),
    }
}

/// `interval_cmp_value`: months count as 30 days, days as 24 hours.
#[inline]
pub(crate) fn interval_span(iv: &Interval) -> i128 {
    iv.micros as i128 + (iv.days as i128 + iv.months as i128 * 30) * USECS_PER_DAY as i128
}

/// Numeric value of the numeric-category variants, as the widest common
/// representation needed to compare two of them.
enum Num<'a> {
    Int(i64),
    Float(f64),
    Dec(&'a Numeric),
}

#[inline]
fn as_num(v: &Value) -> Option<Num<'_>> {
    Some(match v {
        Value::Int2(x) => Num::Int(*x as i64),
        Value::Int4(x) => Num::Int(*x as i64),
        Value::Int8(x) => Num::Int(*x),
        Value::Float4(x) => Num::Float(*x as f64),
        Value::Float8(x) => Num::Float(*x),
        Value::Numeric(n) => Num::Dec(n),
        _ => return None,
    })
}

fn cmp_num(a: Num<'_>, b: Num<'_>) -> Ordering {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => x.cmp(&y),
        // PostgreSQL casts the other side to float8 when a float is involved.
        (Num::Float(x), Num::Float(y)) => cmp_f64(x, y),
        (Num::Float(x), Num::Int(y)) => cmp_f64(x, y as f64),
        (Num::Int(x), Num::Float(y)) => cmp_f64(x as f64, y),
        (Num::Float(x), Num::Dec(y)) => cmp_f64(x, y.to_f64()),
        (Num::Dec(x), Num::Float(y)) => cmp_f64(x.to_f64(), y),
        (Num::Dec(x), Num::Dec(y)) => x.cmp_value(y),
        (Num::Int(x), Num::Dec(y)) => Numeric::from_i64(x).cmp_value(y),
        (Num::Dec(x), Num::Int(y)) => x.cmp_value(&Numeric::from_i64(y)),
    }
}

#[inline]
fn as_timestamp(v: &Value) -> Option<i64> {
    match v {
        Value::Date(d) => Some(date_to_micros(*d)),
        Value::Timestamp(t) | Value::TimestampTz(t) => Some(*t),
        _ => None,
    }
}

/// SQL comparison of two values (either may be NULL -> None). Values of
/// different but comparable types compare by value (int2/int4/int8/numeric/
/// float mixes, text/varchar/char, date/timestamp/timestamptz).
/// Incomparable types -> None.
pub fn sql_cmp(a: &Value, b: &Value) -> Option<Ordering> {
    Some(match (a, b) {
        (Value::Null, _) | (_, Value::Null) => return None,
        // Fast paths first: same-type scalars.
        (Value::Int4(x), Value::Int4(y)) => x.cmp(y),
        (Value::Int8(x), Value::Int8(y)) => x.cmp(y),
        (Value::Text(x), Value::Text(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Float8(x), Value::Float8(y)) => cmp_f64(*x, *y),
        (Value::Float4(x), Value::Float4(y)) => cmp_f64(*x as f64, *y as f64),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Bytea(x), Value::Bytea(y)) => x.as_slice().cmp(y.as_slice()),
        (Value::Uuid(x), Value::Uuid(y)) => x.cmp(y),
        (Value::Date(x), Value::Date(y)) => x.cmp(y),
        (Value::Time(x), Value::Time(y)) => x.cmp(y),
        (Value::Interval(x), Value::Interval(y)) => interval_span(x).cmp(&interval_span(y)),
        (Value::Jsonb(x), Value::Jsonb(y)) => {
            if x == y {
                Ordering::Equal
            } else {
                cmp_jsonb_text(x, y)?
            }
        }
        (Value::Array(x), Value::Array(y)) => cmp_arrays(x, y)?,
        (Value::Ext(x), Value::Ext(y)) if x.type_oid == y.type_oid => {
            match (&x.payload, &y.payload) {
                (ExtPayload::Bytes(p), ExtPayload::Bytes(q)) => p.as_slice().cmp(q.as_slice()),
                (ExtPayload::Floats(p), ExtPayload::Floats(q)) => {
                    let n = p.len().min(q.len());
                    (0..n)
                        .map(|i| cmp_f64(p[i] as f64, q[i] as f64))
                        .find(|o| o.is_ne())
                        .unwrap_or_else(|| p.len().cmp(&q.len()))
                }
                _ => return None,
            }
        }
        _ => {
            if let (Some(x), Some(y)) = (as_num(a), as_num(b)) {
                cmp_num(x, y)
            } else if let (Some(x), Some(y)) = (as_timestamp(a), as_timestamp(b)) {
                x.cmp(&y)
            } else {
                return None;
            }
        }
    })
}

/// `array_cmp`: element by element (NULL elements after non-null ones and
/// equal to each other), then the element count, then the dimensions.
fn cmp_arrays(x: &ArrayValue, y: &ArrayValue) -> Option<Ordering> {
    for (p, q) in x.elements.iter().zip(y.elements.iter()) {
        let o = match (p.is_null(), q.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => sql_cmp(p, q)?,
        };
        if o.is_ne() {
            return Some(o);
        }
    }
    Some(
        x.elements
            .len()
            .cmp(&y.elements.len())
            .then_with(|| x.dims.len().cmp(&y.dims.len()))
            .then_with(|| {
                x.dims
                    .iter()
                    .zip(y.dims.iter())
                    .map(|(a, b)| a.len.cmp(&b.len).then(a.lower.cmp(&b.lower)))
                    .find(|o| o.is_ne())
                    .unwrap_or(Ordering::Equal)
            }),
    )
}

fn cmp_jsonb_text(x: &str, y: &str) -> Option<Ordering> {
    let a = parse_json(x, true).ok()?;
    let b = parse_json(y, true).ok()?;
    Some(cmp_json(&a, &b))
}

/// PostgreSQL's jsonb B-tree order, approximately: by kind (object, then
/// array, boolean, number, string, null from greatest to least; PostgreSQL
/// also puts an empty top-level array first, which this does not), then
/// objects and arrays by member count and then member by member, numbers
/// numerically, strings byte-wise.
pub(crate) fn cmp_json(a: &Json, b: &Json) -> Ordering {
    fn rank(j: &Json) -> u8 {
        match j {
            Json::Null => 0,
            Json::String(_) => 1,
            Json::Number(_) => 2,
            Json::Bool(_) => 3,
            Json::Array(_) => 4,
            Json::Object(_) => 5,
        }
    }
    match (a, b) {
        (Json::Null, Json::Null) => Ordering::Equal,
        (Json::String(x), Json::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Json::Bool(x), Json::Bool(y)) => x.cmp(y),
        (Json::Number(x), Json::Number(y)) => match (parse_numeric(x), parse_numeric(y)) {
            (Ok(p), Ok(q)) => p.cmp_value(&q),
            _ => x.cmp(y),
        },
        (Json::Array(x), Json::Array(y)) => x.len().cmp(&y.len()).then_with(|| {
            x.iter()
                .zip(y)
                .map(|(p, q)| cmp_json(p, q))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        }),
        (Json::Object(x), Json::Object(y)) => x.len().cmp(&y.len()).then_with(|| {
            x.iter()
                .zip(y)
                .map(|((k1, v1), (k2, v2))| {
                    (k1.len(), k1.as_bytes())
                        .cmp(&(k2.len(), k2.as_bytes()))
                        .then_with(|| cmp_json(v1, v2))
                })
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        }),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Rank of a value's type family, used only to order values that SQL
/// cannot compare (so the total order stays total).
fn family_rank(v: &Value) -> u8 {
    match v {
        Value::Null => 255,
        Value::Bool(_) => 0,
        Value::Int2(_)
        | Value::Int4(_)
        | Value::Int8(_)
        | Value::Float4(_)
        | Value::Float8(_)
        | Value::Numeric(_) => 1,
        Value::Text(_) => 2,
        Value::Bytea(_) => 3,
        Value::Date(_) | Value::Timestamp(_) | Value::TimestampTz(_) => 4,
        Value::Time(_) => 5,
        Value::Interval(_) => 6,
        Value::Uuid(_) => 7,
        Value::Json(_) => 8,
        Value::Jsonb(_) => 9,
        Value::Array(_) => 10,
        Value::Ext(_) => 11,
    }
}

/// Total order for ORDER BY, btree keys, GROUP BY and DISTINCT: NULL sorts
/// after every non-null (callers flip for NULLS FIRST / DESC), NaN after
/// every other float and equal to NaN, numerically equal values of
/// different numeric types are Equal, arrays compare element-wise.
pub fn sort_cmp(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Greater,
        (_, Value::Null) => Ordering::Less,
        _ => match sql_cmp(a, b) {
            Some(o) => o,
            None => match (a, b) {
                // `json` has no ordering in SQL; sorting by text keeps
                // DISTINCT and GROUP BY on json usable internally.
                (Value::Json(x), Value::Json(y)) => x.as_bytes().cmp(y.as_bytes()),
                (Value::Ext(x), Value::Ext(y)) => x.type_oid.cmp(&y.type_oid),
                _ => family_rank(a).cmp(&family_rank(b)),
            },
        },
    }
}

/// Hashes a float so that integral values hash like the equal integer.
fn hash_f64<H: Hasher>(x: f64, state: &mut H) {
    if x.is_nan() {
        state.write_u8(3);
    } else if x.fract() == 0.0 && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&x)
    {
        hash_i64(x as i64, state);
    } else {
        state.write_u8(2);
        state.write_u64(x.to_bits());
    }
}

#[inline]
fn hash_i64<H: Hasher>(x: i64, state: &mut H) {
    state.write_u8(1);
    state.write_i64(x);
}

/// Hash consistent with `sort_cmp == Equal` (so 1::int4, 1::int8,
/// 1.0::numeric hash the same; text hashes by content; NULL hashes to a
/// fixed value).
pub fn hash_value<H: Hasher>(v: &Value, state: &mut H) {
    match v {
        Value::Null => state.write_u8(0),
        Value::Int2(x) => hash_i64(*x as i64, state),
        Value::Int4(x) => hash_i64(*x as i64, state),
        Value::Int8(x) => hash_i64(*x, state),
        Value::Float4(x) => hash_f64(*x as f64, state),
        Value::Float8(x) => hash_f64(*x, state),
        Value::Numeric(n) => match n.to_i64_exact() {
            Some(i) => hash_i64(i, state),
            None => hash_f64(n.to_f64(), state),
        },
        Value::Bool(b) => {
            state.write_u8(4);
            state.write_u8(*b as u8);
        }
        Value::Text(s) => {
            state.write_u8(5);
            state.write(s.as_bytes());
            state.write_u8(0xff);
        }
        Value::Bytea(b) => {
            state.write_u8(6);
            state.write(b);
            state.write_u8(0xff);
        }
        Value::Date(d) => {
            state.write_u8(7);
            state.write_i64(date_to_micros(*d));
        }
        Value::Timestamp(t) | Value::TimestampTz(t) => {
            state.write_u8(7);
            state.write_i64(*t);
        }
        Value::Time(t) => {
            state.write_u8(8);
            state.write_i64(*t);
        }
        Value::Interval(iv) => {
            state.write_u8(9);
            state.write_i128(interval_span(iv));
        }
        Value::Uuid(u) => {
            state.write_u8(10);
            state.write(u);
        }
        Value::Json(s) | Value::Jsonb(s) => {
            state.write_u8(11);
            state.write(s.as_bytes());
            state.write_u8(0xff);
        }
        Value::Array(a) => {
            state.write_u8(12);
            state.write_usize(a.elements.len());
            for e in a.elements.iter() {
                hash_value(e, state);
            }
        }
        Value::Ext(e) => {
            state.write_u8(13);
            state.write_u32(e.type_oid);
            match &e.payload {
                ExtPayload::Bytes(b) => b.as_slice().hash(state),
                ExtPayload::Floats(f) => {
                    for x in f.iter() {
                        state.write_u32(x.to_bits());
                    }
                }
            }
        }
    }
}
