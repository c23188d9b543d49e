//! Private stand-ins for the SDK's SQL value semantics (`sql_cmp`,
//! `eval_binary`, `cast`, ...) until they land on main. Same signatures;
//! minimal coverage (integers, floats, numeric via f64, text, bool, NULL) so
//! the executor compiles and its tests run. Replace the `use` in
//! `shared.rs` with `aiondb_sdk::value::*` once the real ones exist.

use std::cmp::Ordering;
use std::hash::Hasher;

use aiondb_sdk::error::{AionError, DbResult, SqlState};
use aiondb_sdk::types::{DataType, TypeId};
use aiondb_sdk::value::ops::{BinaryOp, UnaryOp};
use aiondb_sdk::value::{Numeric, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoercionKind {
    Implicit,
    Assignment,
    Explicit,
}

enum Num {
    I(i64),
    F(f64),
}

fn num(v: &Value) -> Option<Num> {
    Some(match v {
        Value::Int2(x) => Num::I(*x as i64),
        Value::Int4(x) => Num::I(*x as i64),
        Value::Int8(x) => Num::I(*x),
        Value::Float4(x) => Num::F(*x as f64),
        Value::Float8(x) => Num::F(*x),
        Value::Numeric(n) => Num::F(n.to_f64()),
        _ => return None,
    })
}

fn rank(v: &Value) -> u8 {
    match v {
        Value::Int2(_) | Value::Int4(_) | Value::Int8(_) => 1,
        Value::Float4(_) | Value::Float8(_) => 2,
        Value::Numeric(_) => 3,
        _ => 0,
    }
}

pub fn sql_cmp(a: &Value, b: &Value) -> Option<Ordering> {
    if a.is_null() || b.is_null() {
        return None;
    }
    match (num(a), num(b)) {
        (Some(Num::I(x)), Some(Num::I(y))) => return Some(x.cmp(&y)),
        (Some(x), Some(y)) => {
            let f = |n: Num| match n {
                Num::I(i) => i as f64,
                Num::F(f) => f,
            };
            return f(x).partial_cmp(&f(y)).or(Some(Ordering::Equal));
        }
        _ => {}
    }
    Some(match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Text(x), Value::Text(y)) => x.as_str().cmp(y.as_str()),
        (Value::Date(x), Value::Date(y)) => x.cmp(y),
        (Value::Timestamp(x), Value::Timestamp(y)) => x.cmp(y),
        (Value::TimestampTz(x), Value::TimestampTz(y)) => x.cmp(y),
        (Value::Time(x), Value::Time(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (p, q) in x.elements.iter().zip(y.elements.iter()) {
                match sort_cmp(p, q) {
                    Ordering::Equal => {}
                    o => return Some(o),
                }
            }
            x.elements.len().cmp(&y.elements.len())
        }
        _ => format!("{a:?}").cmp(&format!("{b:?}")),
    })
}

pub fn sort_cmp(a: &Value, b: &Value) -> Ordering {
    match (a.is_null(), b.is_null()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => sql_cmp(a, b).unwrap_or(Ordering::Equal),
    }
}

pub fn hash_value<H: Hasher>(v: &Value, state: &mut H) {
    match num(v) {
        Some(Num::I(i)) => state.write_i64(i),
        Some(Num::F(f)) => {
            if f.fract() == 0.0 && f.abs() < 9e15 {
                state.write_i64(f as i64)
            } else {
                state.write_u64(f.to_bits())
            }
        }
        None => match v {
            Value::Null => state.write_u8(0),
            Value::Text(s) => state.write(s.as_bytes()),
            Value::Array(a) => {
                for e in a.elements.iter() {
                    hash_value(e, state)
                }
            }
            other => state.write(format!("{other:?}").as_bytes()),
        },
    }
}

fn overflow(t: &str) -> AionError {
    AionError::new(
        SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
        format!("{t} out of range"),
    )
}

fn int_result(v: i64, l: &Value, r: &Value) -> DbResult<Value> {
    let wide = matches!(l, Value::Int8(_)) || matches!(r, Value::Int8(_));
    if wide {
        Ok(Value::Int8(v))
    } else if matches!(l, Value::Int4(_)) || matches!(r, Value::Int4(_)) {
        i32::try_from(v)
            .map(Value::Int4)
            .map_err(|_| overflow("integer"))
    } else {
        i16::try_from(v)
            .map(Value::Int2)
            .map_err(|_| overflow("smallint"))
    }
}

fn float_result(f: f64, l: &Value, r: &Value) -> Value {
    if rank(l) == 3 || rank(r) == 3 {
        Numeric::parse(&format!("{f}"))
            .map(Value::Numeric)
            .unwrap_or(Value::Float8(f))
    } else {
        Value::Float8(f)
    }
}

pub fn eval_binary(op: BinaryOp, l: &Value, r: &Value) -> DbResult<Value> {
    use BinaryOp::*;
    match op {
        IsDistinctFrom | IsNotDistinctFrom => {
            let same = match (l.is_null(), r.is_null()) {
                (true, true) => true,
                (false, false) => sql_cmp(l, r) == Some(Ordering::Equal),
                _ => false,
            };
            return Ok(Value::Bool(same == (op == IsNotDistinctFrom)));
        }
        _ => {}
    }
    if l.is_null() || r.is_null() {
        return Ok(Value::Null);
    }
    if op.is_comparison() {
        let o = sql_cmp(l, r).unwrap_or(Ordering::Equal);
        return Ok(Value::Bool(match op {
            Eq => o == Ordering::Equal,
            NotEq => o != Ordering::Equal,
            Lt => o == Ordering::Less,
            LtEq => o != Ordering::Greater,
            Gt => o == Ordering::Greater,
            _ => o != Ordering::Less,
        }));
    }
    match (op, num(l), num(r)) {
        (Add | Sub | Mul | Div | Mod, Some(Num::I(a)), Some(Num::I(b))) => {
            let v = match op {
                Add => a.checked_add(b),
                Sub => a.checked_sub(b),
                Mul => a.checked_mul(b),
                Div | Mod if b == 0 => {
                    return Err(AionError::new(
                        SqlState::DIVISION_BY_ZERO,
                        "division by zero",
                    ))
                }
                Div => a.checked_div(b),
                _ => a.checked_rem(b),
            };
            match v {
                Some(v) => int_result(v, l, r),
                None => Err(overflow("bigint")),
            }
        }
        (Add | Sub | Mul | Div | Pow, Some(a), Some(b)) => {
            let f = |n: Num| match n {
                Num::I(i) => i as f64,
                Num::F(f) => f,
            };
            let (a, b) = (f(a), f(b));
            let v = match op {
                Add => a + b,
                Sub => a - b,
                Mul => a * b,
                Pow => a.powf(b),
                _ => {
                    if b == 0.0 {
                        return Err(AionError::new(
                            SqlState::DIVISION_BY_ZERO,
                            "division by zero",
                        ));
                    }
                    a / b
                }
            };
            Ok(float_result(v, l, r))
        }
        (Concat, _, _) => {
            let mut s = l.to_pg_text().unwrap_or_default();
            s.push_str(&r.to_pg_text().unwrap_or_default());
            Ok(Value::text(s))
        }
        _ => Err(AionError::new(
            SqlState::UNDEFINED_FUNCTION,
            format!("operator does not exist: {}", op.symbol()),
        )),
    }
}

pub fn eval_unary(op: UnaryOp, v: &Value) -> DbResult<Value> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    match (op, v) {
        (UnaryOp::Neg, Value::Int4(x)) => Ok(Value::Int4(-x)),
        (UnaryOp::Neg, Value::Int8(x)) => Ok(Value::Int8(-x)),
        (UnaryOp::Neg, Value::Float8(x)) => Ok(Value::Float8(-x)),
        (UnaryOp::Not, Value::Bool(b)) => Ok(Value::Bool(!b)),
        _ => Err(AionError::new(
            SqlState::UNDEFINED_FUNCTION,
            "operator does not exist",
        )),
    }
}

pub fn cast(v: &Value, to: &DataType, _kind: CoercionKind) -> DbResult<Value> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    if to.is_array {
        return Ok(v.clone());
    }
    let text = || v.to_pg_text().unwrap_or_default();
    Ok(match (to.id, num(v)) {
        (TypeId::Int2, Some(n)) | (TypeId::Int4, Some(n)) | (TypeId::Int8, Some(n)) => {
            let i = match n {
                Num::I(i) => i,
                Num::F(f) => f.round() as i64,
            };
            match to.id {
                TypeId::Int2 => Value::Int2(i16::try_from(i).map_err(|_| overflow("smallint"))?),
                TypeId::Int4 => Value::Int4(i32::try_from(i).map_err(|_| overflow("integer"))?),
                _ => Value::Int8(i),
            }
        }
        (TypeId::Float8, Some(Num::I(i))) => Value::Float8(i as f64),
        (TypeId::Float8, Some(Num::F(f))) => Value::Float8(f),
        (TypeId::Numeric, Some(Num::I(i))) => Value::Numeric(Numeric::from_i64(i)),
        (TypeId::Text | TypeId::Varchar | TypeId::Char, _) => match v {
            Value::Text(_) => v.clone(),
            _ => Value::text(text()),
        },
        _ => match v {
            Value::Text(s) => aiondb_sdk::value::parse_text(*to, s.as_str())?,
            _ => v.clone(),
        },
    })
}

pub fn like_match(
    s: &str,
    pattern: &str,
    case_insensitive: bool,
    escape: Option<char>,
) -> DbResult<bool> {
    fn rec(s: &[char], p: &[char], esc: Option<char>) -> bool {
        if p.is_empty() {
            return s.is_empty();
        }
        if Some(p[0]) == esc && p.len() > 1 {
            return !s.is_empty() && s[0] == p[1] && rec(&s[1..], &p[2..], esc);
        }
        match p[0] {
            '%' => (0..=s.len()).any(|i| rec(&s[i..], &p[1..], esc)),
            '_' => !s.is_empty() && rec(&s[1..], &p[1..], esc),
            c => !s.is_empty() && s[0] == c && rec(&s[1..], &p[1..], esc),
        }
    }
    let (s, p) = if case_insensitive {
        (s.to_lowercase(), pattern.to_lowercase())
    } else {
        (s.to_string(), pattern.to_string())
    };
    let s: Vec<char> = s.chars().collect();
    let p: Vec<char> = p.chars().collect();
    Ok(rec(&s, &p, escape.or(Some('\\'))))
}
