//! Evaluation of the built-in operators with PostgreSQL semantics and
//! errors. The planner's constant folding and the executor both call
//! [`eval_binary`] / [`eval_unary`], so they always agree.
//!
//! Operands normally arrive already cast to the types
//! [`super::resolve_binary`] chose; mixed numeric operands are still
//! accepted and promoted (int2 < int4 < int8 < numeric < float8).
//! `timestamptz` arithmetic treats the session time zone as UTC.

// `DbResult` carries the whole `AionError` by design (it crosses the plugin
// boundary unchanged), so the large-`Err` lint does not apply here.

use std::cmp::Ordering;

use abi_stable::std_types::{RString, RVec};

use crate::error::{AionError, DbResult, SqlState};
use crate::types::TypeId;

use super::cast::{float_overflow, float_underflow, int_out_of_range, to_text, to_text_with};
use super::compare::{date_to_micros, sql_cmp};
use super::datetime::{
    days_to_ymd, ymd_to_days, DATE_MAX_DAYS, DATE_MIN_DAYS, TIMESTAMP_MAX_MICROS,
    TIMESTAMP_MIN_MICROS,
};
use super::format::FormatOptions;
use super::like::{like_match, regex_match};
use super::numeric::division_by_zero;
use super::ops::{BinaryOp, UnaryOp};
use super::{jsonops, ArrayDim, ArrayValue, Interval, Numeric, Value, USECS_PER_DAY};

fn undefined_op(op: BinaryOp, l: &Value, r: &Value) -> AionError {
    let name = |v: &Value| {
        v.data_type()
            .map_or_else(|| "unknown".to_string(), |t| t.to_string())
    };
    AionError::new(
        SqlState::UNDEFINED_FUNCTION,
        format!(
            "operator does not exist: {} {} {}",
            name(l),
            op.symbol(),
            name(r)
        ),
    )
}

fn datetime_error(msg: &str) -> AionError {
    AionError::new(SqlState::DATETIME_FIELD_OVERFLOW, msg)
}

fn interval_overflow() -> AionError {
    datetime_error("interval out of range")
}

/// Evaluate a built-in binary operator with PostgreSQL semantics and
/// errors. NULL in -> NULL out, except IsDistinctFrom / IsNotDistinctFrom
/// (never NULL).
pub fn eval_binary(op: BinaryOp, l: &Value, r: &Value) -> DbResult<Value> {
    match op {
        BinaryOp::IsDistinctFrom | BinaryOp::IsNotDistinctFrom => {
            let distinct = match (l.is_null(), r.is_null()) {
                (true, true) => false,
                (true, false) | (false, true) => true,
                _ => {
                    sql_cmp(l, r).ok_or_else(|| undefined_op(BinaryOp::Eq, l, r))?
                        != Ordering::Equal
                }
            };
            return Ok(Value::Bool(distinct == (op == BinaryOp::IsDistinctFrom)));
        }
        _ => {}
    }
    if l.is_null() || r.is_null() {
        return Ok(Value::Null);
    }
    match op {
        BinaryOp::Eq
        | BinaryOp::NotEq
        | BinaryOp::Lt
        | BinaryOp::LtEq
        | BinaryOp::Gt
        | BinaryOp::GtEq => {
            let o = sql_cmp(l, r).ok_or_else(|| undefined_op(op, l, r))?;
            Ok(Value::Bool(match op {
                BinaryOp::Eq => o == Ordering::Equal,
                BinaryOp::NotEq => o != Ordering::Equal,
                BinaryOp::Lt => o == Ordering::Less,
                BinaryOp::LtEq => o != Ordering::Greater,
                BinaryOp::Gt => o == Ordering::Greater,
                _ => o != Ordering::Less,
            }))
        }
        BinaryOp::Sub if matches!(l, Value::Jsonb(_)) => {
            let Value::Jsonb(doc) = l else {
                return Err(undefined_op(op, l, r));
            };
            jsonops::jsonb_delete(doc, r)?.ok_or_else(|| undefined_op(op, l, r))
        }
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => {
            arith(op, l, r)
        }
        BinaryOp::Pow => pow(l, r),
        BinaryOp::Concat => concat(l, r),
        BinaryOp::Like | BinaryOp::NotLike | BinaryOp::ILike | BinaryOp::NotILike => {
            let (Value::Text(s), Value::Text(p)) = (l, r) else {
                return Err(undefined_op(op, l, r));
            };
            let ci = matches!(op, BinaryOp::ILike | BinaryOp::NotILike);
            let hit = like_match(s, p, ci, Some('\\'))?;
            Ok(Value::Bool(
                hit == matches!(op, BinaryOp::Like | BinaryOp::ILike),
            ))
        }
        BinaryOp::RegexMatch
        | BinaryOp::RegexIMatch
        | BinaryOp::NotRegexMatch
        | BinaryOp::NotRegexIMatch => {
            let (Value::Text(s), Value::Text(p)) = (l, r) else {
                return Err(undefined_op(op, l, r));
            };
            let ci = matches!(op, BinaryOp::RegexIMatch | BinaryOp::NotRegexIMatch);
            let hit = regex_match(s, p, ci)?;
            Ok(Value::Bool(
                hit == matches!(op, BinaryOp::RegexMatch | BinaryOp::RegexIMatch),
            ))
        }
        BinaryOp::BitAnd
        | BinaryOp::BitOr
        | BinaryOp::BitXor
        | BinaryOp::ShiftLeft
        | BinaryOp::ShiftRight => bitop(op, l, r),
        BinaryOp::JsonGet
        | BinaryOp::JsonGetText
        | BinaryOp::JsonPath
        | BinaryOp::JsonPathText
        | BinaryOp::JsonExists => jsonops::eval(op, l, r).and_then(|v| match v {
            Some(v) => Ok(v),
            None => Err(undefined_op(op, l, r)),
        }),
        BinaryOp::Contains | BinaryOp::ContainedBy | BinaryOp::Overlap => match (l, r) {
            (Value::Array(a), Value::Array(b)) => Ok(Value::Bool(match op {
                BinaryOp::Contains => array_contains(a, b),
                BinaryOp::ContainedBy => array_contains(b, a),
                _ => array_overlap(a, b),
            })),
            _ => jsonops::eval(op, l, r).and_then(|v| v.ok_or_else(|| undefined_op(op, l, r))),
        },
        BinaryOp::IsDistinctFrom | BinaryOp::IsNotDistinctFrom => Ok(Value::Null),
    }
}

/// Evaluate a built-in unary operator (NULL in -> NULL out).
pub fn eval_unary(op: UnaryOp, v: &Value) -> DbResult<Value> {
    let bad = || {
        AionError::new(
            SqlState::UNDEFINED_FUNCTION,
            format!(
                "operator does not exist: {} {}",
                match op {
                    UnaryOp::Neg => "-",
                    UnaryOp::Not => "NOT",
                    UnaryOp::BitNot => "~",
                },
                v.data_type()
                    .map_or_else(|| "unknown".to_string(), |t| t.to_string())
            ),
        )
    };
    Ok(match (op, v) {
        (_, Value::Null) => Value::Null,
        (UnaryOp::Not, Value::Bool(b)) => Value::Bool(!b),
        (UnaryOp::Neg, Value::Int2(x)) => Value::Int2(
            x.checked_neg()
                .ok_or_else(|| int_out_of_range(TypeId::Int2))?,
        ),
        (UnaryOp::Neg, Value::Int4(x)) => Value::Int4(
            x.checked_neg()
                .ok_or_else(|| int_out_of_range(TypeId::Int4))?,
        ),
        (UnaryOp::Neg, Value::Int8(x)) => Value::Int8(
            x.checked_neg()
                .ok_or_else(|| int_out_of_range(TypeId::Int8))?,
        ),
        (UnaryOp::Neg, Value::Float4(x)) => Value::Float4(-x),
        (UnaryOp::Neg, Value::Float8(x)) => Value::Float8(-x),
        (UnaryOp::Neg, Value::Numeric(n)) => Value::Numeric(n.neg()),
        (UnaryOp::Neg, Value::Interval(iv)) => Value::Interval(Interval {
            months: iv.months.checked_neg().ok_or_else(interval_overflow)?,
            days: iv.days.checked_neg().ok_or_else(interval_overflow)?,
            micros: iv.micros.checked_neg().ok_or_else(interval_overflow)?,
        }),
        (UnaryOp::BitNot, Value::Int2(x)) => Value::Int2(!x),
        (UnaryOp::BitNot, Value::Int4(x)) => Value::Int4(!x),
        (UnaryOp::BitNot, Value::Int8(x)) => Value::Int8(!x),
        _ => return Err(bad()),
    })
}

// ------------------------------------------------------------ arithmetic

/// Integer width rank: 0 int2, 1 int4, 2 int8.
#[inline]
fn int_of(v: &Value) -> Option<(i64, u8)> {
    match v {
        Value::Int2(x) => Some((*x as i64, 0)),
        Value::Int4(x) => Some((*x as i64, 1)),
        Value::Int8(x) => Some((*x, 2)),
        _ => None,
    }
}

fn arith(op: BinaryOp, l: &Value, r: &Value) -> DbResult<Value> {
    // Fast path: integers of any widths, computed in the wider one.
    if let (Some((a, wa)), Some((b, wb))) = (int_of(l), int_of(r)) {
        return int_arith(op, a, b, wa.max(wb));
    }
    match (l, r) {
        (Value::Float8(a), Value::Float8(b)) => return float8_arith(op, *a, *b, l, r),
        (Value::Float4(a), Value::Float4(b)) => return float4_arith(op, *a, *b, l, r),
        _ => {}
    }
    if let (Some(a), Some(b)) = (num_of(l), num_of(r)) {
        return match (a, b) {
            (Num::F(a), Num::F(b)) | (Num::F(a), Num::N(_, b)) | (Num::N(_, a), Num::F(b)) => {
                float8_arith(op, a, b, l, r)
            }
            (Num::N(a, _), Num::N(b, _)) => {
                let (a, b) = (a.into_numeric(), b.into_numeric());
                Ok(Value::Numeric(match op {
                    BinaryOp::Add => a.add(&b)?,
                    BinaryOp::Sub => a.sub(&b)?,
                    BinaryOp::Mul => a.mul(&b)?,
                    BinaryOp::Div => a.div(&b)?,
                    _ => a.modulo(&b)?,
                }))
            }
        };
    }
    datetime_arith(op, l, r)?.ok_or_else(|| undefined_op(op, l, r))
}

/// A numeric-category operand: exact (int or numeric, with the float8
/// value for mixing with floats) or float.
enum Num<'a> {
    N(Exact<'a>, f64),
    F(f64),
}

enum Exact<'a> {
    Int(i64),
    Dec(&'a Numeric),
}

impl Exact<'_> {
    fn into_numeric(self) -> Numeric {
        match self {
            Exact::Int(i) => Numeric::from_i64(i),
            Exact::Dec(n) => n.clone(),
        }
    }
}

fn num_of(v: &Value) -> Option<Num<'_>> {
    Some(match v {
        Value::Int2(x) => Num::N(Exact::Int(*x as i64), *x as f64),
        Value::Int4(x) => Num::N(Exact::Int(*x as i64), *x as f64),
        Value::Int8(x) => Num::N(Exact::Int(*x), *x as f64),
        Value::Numeric(n) => Num::N(Exact::Dec(n), n.to_f64()),
        Value::Float4(x) => Num::F(*x as f64),
        Value::Float8(x) => Num::F(*x),
        _ => return None,
    })
}

#[inline]
fn int_arith(op: BinaryOp, a: i64, b: i64, width: u8) -> DbResult<Value> {
    let ty = match width {
        0 => TypeId::Int2,
        1 => TypeId::Int4,
        _ => TypeId::Int8,
    };
    let v = match op {
        BinaryOp::Add => a.checked_add(b),
        BinaryOp::Sub => a.checked_sub(b),
        BinaryOp::Mul => a.checked_mul(b),
        BinaryOp::Div => {
            if b == 0 {
                return Err(division_by_zero());
            }
            // i64::MIN / -1 overflows; narrower widths are checked below.
            a.checked_div(b)
        }
        _ => {
            if b == 0 {
                return Err(division_by_zero());
            }
            // PostgreSQL defines MIN % -1 as 0 rather than overflowing.
            Some(if b == -1 { 0 } else { a % b })
        }
    };
    let v = v.ok_or_else(|| int_out_of_range(ty))?;
    match width {
        0 => i16::try_from(v)
            .map(Value::Int2)
            .map_err(|_| int_out_of_range(ty)),
        1 => i32::try_from(v)
            .map(Value::Int4)
            .map_err(|_| int_out_of_range(ty)),
        _ => Ok(Value::Int8(v)),
    }
}

/// PostgreSQL's `float_overflow_error` / `float_underflow_error` checks.
#[inline]
fn check_float(res: f64, a: f64, b: f64, zero_ok: bool) -> DbResult<f64> {
    if res.is_infinite() && !a.is_infinite() && !b.is_infinite() {
        return Err(float_overflow());
    }
    if res == 0.0 && !zero_ok {
        return Err(float_underflow());
    }
    Ok(res)
}

fn float8_arith(op: BinaryOp, a: f64, b: f64, l: &Value, r: &Value) -> DbResult<Value> {
    let v = match op {
        BinaryOp::Add => check_float(a + b, a, b, true)?,
        BinaryOp::Sub => check_float(a - b, a, b, true)?,
        BinaryOp::Mul => check_float(a * b, a, b, a == 0.0 || b == 0.0)?,
        BinaryOp::Div => {
            if b == 0.0 {
                return Err(division_by_zero());
            }
            check_float(a / b, a, b, a == 0.0 || b.is_infinite())?
        }
        _ => return Err(undefined_op(op, l, r)),
    };
    Ok(Value::Float8(v))
}

fn float4_arith(op: BinaryOp, a: f32, b: f32, l: &Value, r: &Value) -> DbResult<Value> {
    let (x, y) = (a as f64, b as f64);
    let v = match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => {
            if b == 0.0 {
                return Err(division_by_zero());
            }
            a / b
        }
        _ => return Err(undefined_op(op, l, r)),
    };
    let zero_ok = match op {
        BinaryOp::Mul => a == 0.0 || b == 0.0,
        BinaryOp::Div => a == 0.0 || b.is_infinite(),
        _ => true,
    };
    check_float(v as f64, x, y, zero_ok)?;
    Ok(Value::Float4(v))
}

fn pow(l: &Value, r: &Value) -> DbResult<Value> {
    let (Some(a), Some(b)) = (num_of(l), num_of(r)) else {
        return Err(undefined_op(BinaryOp::Pow, l, r));
    };
    match (a, b) {
        (Num::N(a, _), Num::N(b, _))
            if matches!(l, Value::Numeric(_)) || matches!(r, Value::Numeric(_)) =>
        {
            Ok(Value::Numeric(a.into_numeric().pow(&b.into_numeric())?))
        }
        (Num::N(_, x) | Num::F(x), Num::N(_, y) | Num::F(y)) => Ok(Value::Float8(dpow(x, y)?)),
    }
}

/// `dpow`: float8 power with PostgreSQL's domain and range errors.
fn dpow(x: f64, y: f64) -> DbResult<f64> {
    let invalid = |m: &str| AionError::new(SqlState::new(b"2201F"), m);
    if x == 0.0 && y < 0.0 {
        return Err(invalid("zero raised to a negative power is undefined"));
    }
    if x < 0.0 && y.is_finite() && y.floor() != y {
        return Err(invalid(
            "a negative number raised to a non-integer power yields a complex result",
        ));
    }
    if x.is_nan() {
        return Ok(if y == 0.0 { 1.0 } else { f64::NAN });
    }
    if y.is_nan() {
        return Ok(if x == 1.0 { 1.0 } else { f64::NAN });
    }
    let v = x.powf(y);
    if v.is_infinite() && x.is_finite() && y.is_finite() {
        return Err(float_overflow());
    }
    if v == 0.0 && x != 0.0 && x.is_finite() && y.is_finite() {
        return Err(float_underflow());
    }
    Ok(v)
}

// --------------------------------------------------------------- bit ops

fn bitop(op: BinaryOp, l: &Value, r: &Value) -> DbResult<Value> {
    let (Some((a, wa)), Some((b, wb))) = (int_of(l), int_of(r)) else {
        return Err(undefined_op(op, l, r));
    };
    if matches!(op, BinaryOp::ShiftLeft | BinaryOp::ShiftRight) {
        // The count is int4; shifts use the C (modulo width) behaviour.
        let n = b as u32;
        let left = op == BinaryOp::ShiftLeft;
        return Ok(match l {
            Value::Int2(x) => {
                let x = *x as i32;
                Value::Int2(if left {
                    x.wrapping_shl(n)
                } else {
                    x.wrapping_shr(n)
                } as i16)
            }
            Value::Int4(x) => Value::Int4(if left {
                x.wrapping_shl(n)
            } else {
                x.wrapping_shr(n)
            }),
            _ => Value::Int8(if left {
                a.wrapping_shl(n)
            } else {
                a.wrapping_shr(n)
            }),
        });
    }
    let v = match op {
        BinaryOp::BitAnd => a & b,
        BinaryOp::BitOr => a | b,
        _ => a ^ b,
    };
    // Both operands fit the wider width, and so does any bitwise result.
    Ok(match wa.max(wb) {
        0 => Value::Int2(v as i16),
        1 => Value::Int4(v as i32),
        _ => Value::Int8(v),
    })
}

// ---------------------------------------------------------------- concat

fn concat(l: &Value, r: &Value) -> DbResult<Value> {
    match (l, r) {
        (Value::Text(a), Value::Text(b)) => {
            let mut s = String::with_capacity(a.len() + b.len());
            s.push_str(a);
            s.push_str(b);
            Ok(Value::Text(RString::from(s)))
        }
        (Value::Bytea(a), Value::Bytea(b)) => {
            let mut v = Vec::with_capacity(a.len() + b.len());
            v.extend_from_slice(a);
            v.extend_from_slice(b);
            Ok(Value::Bytea(RVec::from(v)))
        }
        (Value::Jsonb(a), Value::Jsonb(b)) => jsonops::jsonb_concat(a, b),
        (Value::Array(a), Value::Array(b)) => array_cat(a, b),
        (Value::Array(a), e) => array_push(a, e, false),
        (e, Value::Array(a)) => array_push(a, e, true),
        (Value::Text(_), _) | (_, Value::Text(_)) => {
            // `textanycat` / `anytextcat`: the other side goes through its
            // output function.
            let mut s = String::new();
            to_text(l, &mut s);
            to_text(r, &mut s);
            Ok(Value::Text(RString::from(s)))
        }
        _ => Err(undefined_op(BinaryOp::Concat, l, r)),
    }
}

fn array_err(msg: &str, detail: String) -> AionError {
    AionError::new(SqlState::new(b"2202E"), msg).with_detail(detail)
}

/// `array_cat`: arrays of equal rank join along the first dimension; an
/// array of one rank less is appended as one more slice.
fn array_cat(a: &ArrayValue, b: &ArrayValue) -> DbResult<Value> {
    if b.elements.is_empty() {
        return Ok(Value::Array(a.clone()));
    }
    if a.elements.is_empty() {
        return Ok(Value::Array(ArrayValue {
            element_type: a.element_type,
            ..b.clone()
        }));
    }
    let (na, nb) = (a.dims.len(), b.dims.len());
    let mut dims: Vec<ArrayDim> = a.dims.to_vec();
    if na == nb {
        if a.dims[1..] != b.dims[1..]
            && a.dims[1..]
                .iter()
                .zip(&b.dims[1..])
                .any(|(x, y)| x.len != y.len)
        {
            return Err(array_err(
                "cannot concatenate incompatible arrays",
                "Arrays with differing element dimensions are not compatible for concatenation."
                    .into(),
            ));
        }
        dims[0].len += b.dims[0].len;
    } else if na == nb + 1 {
        if a.dims[1..]
            .iter()
            .zip(b.dims.iter())
            .any(|(x, y)| x.len != y.len)
        {
            return Err(array_err(
                "cannot concatenate incompatible arrays",
                "Arrays with differing dimensions are not compatible for concatenation.".into(),
            ));
        }
        dims[0].len += 1;
    } else if na + 1 == nb {
        if b.dims[1..]
            .iter()
            .zip(a.dims.iter())
            .any(|(x, y)| x.len != y.len)
        {
            return Err(array_err(
                "cannot concatenate incompatible arrays",
                "Arrays with differing dimensions are not compatible for concatenation.".into(),
            ));
        }
        dims = b.dims.to_vec();
        dims[0].len += 1;
        dims[0].lower = b.dims[0].lower - 1;
    } else {
        return Err(array_err(
            "cannot concatenate incompatible arrays",
            format!("Arrays of {na} and {nb} dimensions are not compatible for concatenation."),
        ));
    }
    let mut elements = Vec::with_capacity(a.elements.len() + b.elements.len());
    elements.extend(a.elements.iter().cloned());
    elements.extend(b.elements.iter().cloned());
    Ok(Value::Array(ArrayValue {
        element_type: a.element_type,
        dims: RVec::from(dims),
        elements: RVec::from(elements),
    }))
}

/// `array_append` / `array_prepend` on a one-dimensional array.
fn array_push(a: &ArrayValue, e: &Value, front: bool) -> DbResult<Value> {
    if a.dims.len() > 1 {
        return Err(array_err(
            "argument must be empty or one-dimensional array",
            "Only one-dimensional arrays are supported.".into(),
        ));
    }
    let mut elements = Vec::with_capacity(a.elements.len() + 1);
    let lower = a.dims.first().map_or(1, |d| d.lower);
    if front {
        elements.push(e.clone());
        elements.extend(a.elements.iter().cloned());
    } else {
        elements.extend(a.elements.iter().cloned());
        elements.push(e.clone());
    }
    Ok(Value::Array(ArrayValue {
        element_type: a.element_type,
        dims: RVec::from(vec![ArrayDim {
            len: elements.len() as i32,
            lower,
        }]),
        elements: RVec::from(elements),
    }))
}

/// `@>` on arrays: every non-null element of `b` equals some element of
/// `a`; a NULL in `b` never matches.
fn array_contains(a: &ArrayValue, b: &ArrayValue) -> bool {
    b.elements.iter().all(|x| {
        !x.is_null()
            && a.elements
                .iter()
                .any(|y| sql_cmp(x, y) == Some(Ordering::Equal))
    })
}

fn array_overlap(a: &ArrayValue, b: &ArrayValue) -> bool {
    b.elements.iter().any(|x| {
        a.elements
            .iter()
            .any(|y| sql_cmp(x, y) == Some(Ordering::Equal))
    })
}

// ------------------------------------------------------------- date/time

fn date_out_of_range() -> AionError {
    datetime_error("date out of range")
}

fn ts_out_of_range() -> AionError {
    datetime_error("timestamp out of range")
}

fn is_infinite_ts(t: i64) -> bool {
    t == i64::MAX || t == i64::MIN
}

fn check_ts(t: i64) -> DbResult<i64> {
    if (TIMESTAMP_MIN_MICROS..=TIMESTAMP_MAX_MICROS).contains(&t) {
        Ok(t)
    } else {
        Err(ts_out_of_range())
    }
}

fn date_plus_days(d: i32, n: i64) -> DbResult<Value> {
    if d == i32::MAX || d == i32::MIN {
        return Ok(Value::Date(d));
    }
    let v = d as i64 + n;
    if v < DATE_MIN_DAYS as i64 || v > DATE_MAX_DAYS as i64 {
        return Err(date_out_of_range());
    }
    Ok(Value::Date(v as i32))
}

/// `timestamp_pl_interval`: months first (clamping the day to the end of
/// the month), then days, then the time part.
pub(crate) fn ts_plus_interval(t: i64, iv: &Interval) -> DbResult<i64> {
    if is_infinite_ts(t) {
        return Ok(t);
    }
    let mut t = t;
    if iv.months != 0 || iv.days != 0 {
        let days = t.div_euclid(USECS_PER_DAY);
        let tod = t.rem_euclid(USECS_PER_DAY);
        let (mut y, mut m, mut d) = days_to_ymd(days as i32);
        if iv.months != 0 {
            let total = y as i64 * 12 + (m as i64 - 1) + iv.months as i64;
            let ny = total.div_euclid(12);
            y = i32::try_from(ny).map_err(|_| ts_out_of_range())?;
            m = (total.rem_euclid(12) + 1) as u32;
            while d > 28 && ymd_to_days(y, m, d).is_none() {
                d -= 1;
            }
        }
        let base = ymd_to_days(y, m, d).ok_or_else(ts_out_of_range)? as i64 + iv.days as i64;
        t = base
            .checked_mul(USECS_PER_DAY)
            .and_then(|x| x.checked_add(tod))
            .ok_or_else(ts_out_of_range)?;
    }
    t = t.checked_add(iv.micros).ok_or_else(ts_out_of_range)?;
    check_ts(t)
}

/// `timestamptz_pl_interval`: months and days move the wall clock in the
/// session zone (so `+ 1 day` across a DST change keeps the local time),
/// the time part moves the instant.
fn tstz_plus_interval(t: i64, iv: &Interval, opts: &FormatOptions) -> DbResult<i64> {
    if is_infinite_ts(t) {
        return Ok(t);
    }
    let mut t = t;
    if iv.months != 0 || iv.days != 0 {
        let zone = &opts.time_zone;
        let calendar = Interval { micros: 0, ..*iv };
        let local = ts_plus_interval(zone.utc_to_local(t), &calendar)?;
        t = zone.local_to_utc(local);
    }
    t = t.checked_add(iv.micros).ok_or_else(ts_out_of_range)?;
    check_ts(t)
}

/// [`eval_binary`] in a session with the given TimeZone and DateStyle:
/// `text || date/time` prints the value as the session does, and
/// timestamptz plus or minus an interval counts days and months in the
/// session zone.
pub fn eval_binary_with(
    op: BinaryOp,
    l: &Value,
    r: &Value,
    opts: &FormatOptions,
) -> DbResult<Value> {
    use BinaryOp::{Add, Concat, Sub};
    let is_dt = |v: &Value| {
        matches!(
            v,
            Value::Date(_) | Value::Timestamp(_) | Value::TimestampTz(_)
        )
    };
    match (op, l, r) {
        (Add, Value::TimestampTz(t), Value::Interval(iv))
        | (Add, Value::Interval(iv), Value::TimestampTz(t)) => {
            Ok(Value::TimestampTz(tstz_plus_interval(*t, iv, opts)?))
        }
        (Sub, Value::TimestampTz(t), Value::Interval(iv)) => Ok(Value::TimestampTz(
            tstz_plus_interval(*t, &neg_interval(iv)?, opts)?,
        )),
        (Concat, Value::Text(_), v) | (Concat, v, Value::Text(_)) if is_dt(v) => {
            let mut s = String::new();
            to_text_with(l, opts, &mut s);
            to_text_with(r, opts, &mut s);
            Ok(Value::Text(RString::from(s)))
        }
        _ => eval_binary(op, l, r),
    }
}

fn neg_interval(iv: &Interval) -> DbResult<Interval> {
    Ok(Interval {
        months: iv.months.checked_neg().ok_or_else(interval_overflow)?,
        days: iv.days.checked_neg().ok_or_else(interval_overflow)?,
        micros: iv.micros.checked_neg().ok_or_else(interval_overflow)?,
    })
}

/// `timestamp - timestamp`: the difference in days and time
/// (`interval_justify_hours` of the microsecond difference).
fn ts_diff(a: i64, b: i64) -> DbResult<Interval> {
    if is_infinite_ts(a) || is_infinite_ts(b) {
        return Err(datetime_error("cannot subtract infinite timestamps"));
    }
    let diff = a.checked_sub(b).ok_or_else(interval_overflow)?;
    let mut days = diff / USECS_PER_DAY;
    let mut micros = diff % USECS_PER_DAY;
    if days > 0 && micros < 0 {
        micros += USECS_PER_DAY;
        days -= 1;
    } else if days < 0 && micros > 0 {
        micros -= USECS_PER_DAY;
        days += 1;
    }
    Ok(Interval {
        months: 0,
        days: days as i32,
        micros,
    })
}

fn interval_add(a: &Interval, b: &Interval) -> DbResult<Interval> {
    Ok(Interval {
        months: a
            .months
            .checked_add(b.months)
            .ok_or_else(interval_overflow)?,
        days: a.days.checked_add(b.days).ok_or_else(interval_overflow)?,
        micros: a
            .micros
            .checked_add(b.micros)
            .ok_or_else(interval_overflow)?,
    })
}

/// `TSROUND`: round to microsecond precision in seconds.
fn tsround(x: f64) -> f64 {
    (x * 1e6).round_ties_even() / 1e6
}

/// `interval_mul` / `interval_div`: fractional months spill into days
/// (30 per month) and fractional days into seconds.
fn interval_scale(iv: &Interval, factor: f64, divide: bool) -> DbResult<Interval> {
    let apply = |x: f64| if divide { x / factor } else { x * factor };
    if divide && factor == 0.0 {
        return Err(division_by_zero());
    }
    let fits_i32 = |x: f64| !x.is_nan() && x <= i32::MAX as f64 && x >= i32::MIN as f64;
    let m = apply(iv.months as f64);
    if !fits_i32(m) {
        return Err(interval_overflow());
    }
    let months = m as i32;
    let d = apply(iv.days as f64);
    if !fits_i32(d) {
        return Err(interval_overflow());
    }
    let mut days = d as i32;
    let month_rem_days = tsround((m - months as f64) * 30.0);
    let mut sec_rem =
        tsround((d - days as f64 + month_rem_days - (month_rem_days as i32) as f64) * 86_400.0);
    if sec_rem.abs() >= 86_400.0 {
        let whole = (sec_rem / 86_400.0) as i32;
        days += whole;
        sec_rem -= whole as f64 * 86_400.0;
    }
    days += month_rem_days as i32;
    let t = (apply(iv.micros as f64) + sec_rem * 1e6).round_ties_even();
    if t.is_nan() || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&t) {
        return Err(interval_overflow());
    }
    Ok(Interval {
        months,
        days,
        micros: t as i64,
    })
}

fn float_of(v: &Value) -> Option<f64> {
    match num_of(v)? {
        Num::N(_, f) | Num::F(f) => Some(f),
    }
}

fn datetime_arith(op: BinaryOp, l: &Value, r: &Value) -> DbResult<Option<Value>> {
    use BinaryOp::{Add, Div, Mul, Sub};
    Ok(Some(match (op, l, r) {
        (Add, Value::Date(d), n) | (Add, n, Value::Date(d)) if int_of(n).is_some() => {
            date_plus_days(*d, int_of(n).map_or(0, |x| x.0))?
        }
        (Sub, Value::Date(d), n) if int_of(n).is_some() => {
            date_plus_days(*d, -int_of(n).map_or(0, |x| x.0))?
        }
        (Sub, Value::Date(a), Value::Date(b)) => {
            if [*a, *b].iter().any(|d| *d == i32::MAX || *d == i32::MIN) {
                return Err(datetime_error("cannot subtract infinite dates"));
            }
            Value::Int4(a - b)
        }
        (Add, Value::Date(d), Value::Interval(iv)) | (Add, Value::Interval(iv), Value::Date(d)) => {
            Value::Timestamp(ts_plus_interval(date_to_micros(*d), iv)?)
        }
        (Sub, Value::Date(d), Value::Interval(iv)) => {
            Value::Timestamp(ts_plus_interval(date_to_micros(*d), &neg_interval(iv)?)?)
        }
        (Add, Value::Date(d), Value::Time(t)) | (Add, Value::Time(t), Value::Date(d)) => {
            let base = date_to_micros(*d);
            if is_infinite_ts(base) {
                Value::Timestamp(base)
            } else {
                Value::Timestamp(check_ts(base + t)?)
            }
        }
        (Add, Value::Timestamp(t), Value::Interval(iv))
        | (Add, Value::Interval(iv), Value::Timestamp(t)) => {
            Value::Timestamp(ts_plus_interval(*t, iv)?)
        }
        (Sub, Value::Timestamp(t), Value::Interval(iv)) => {
            Value::Timestamp(ts_plus_interval(*t, &neg_interval(iv)?)?)
        }
        (Add, Value::TimestampTz(t), Value::Interval(iv))
        | (Add, Value::Interval(iv), Value::TimestampTz(t)) => {
            Value::TimestampTz(ts_plus_interval(*t, iv)?)
        }
        (Sub, Value::TimestampTz(t), Value::Interval(iv)) => {
            Value::TimestampTz(ts_plus_interval(*t, &neg_interval(iv)?)?)
        }
        (
            Sub,
            Value::Timestamp(a) | Value::TimestampTz(a),
            Value::Timestamp(b) | Value::TimestampTz(b),
        ) => Value::Interval(ts_diff(*a, *b)?),
        (Sub, Value::Date(a), Value::Timestamp(b) | Value::TimestampTz(b)) => {
            Value::Interval(ts_diff(date_to_micros(*a), *b)?)
        }
        (Sub, Value::Timestamp(a) | Value::TimestampTz(a), Value::Date(b)) => {
            Value::Interval(ts_diff(*a, date_to_micros(*b))?)
        }
        (Add, Value::Interval(a), Value::Interval(b)) => Value::Interval(interval_add(a, b)?),
        (Sub, Value::Interval(a), Value::Interval(b)) => {
            Value::Interval(interval_add(a, &neg_interval(b)?)?)
        }
        (Mul, Value::Interval(iv), n) | (Mul, n, Value::Interval(iv)) if float_of(n).is_some() => {
            Value::Interval(interval_scale(iv, float_of(n).unwrap_or(1.0), false)?)
        }
        (Div, Value::Interval(iv), n) if float_of(n).is_some() => {
            Value::Interval(interval_scale(iv, float_of(n).unwrap_or(1.0), true)?)
        }
        (Add, Value::Time(t), Value::Interval(iv)) | (Add, Value::Interval(iv), Value::Time(t)) => {
            Value::Time((t + iv.micros.rem_euclid(USECS_PER_DAY)).rem_euclid(USECS_PER_DAY))
        }
        (Sub, Value::Time(t), Value::Interval(iv)) => {
            Value::Time((t - iv.micros.rem_euclid(USECS_PER_DAY)).rem_euclid(USECS_PER_DAY))
        }
        (Sub, Value::Time(a), Value::Time(b)) => Value::Interval(Interval {
            months: 0,
            days: 0,
            micros: a - b,
        }),
        _ => return Ok(None),
    }))
}
