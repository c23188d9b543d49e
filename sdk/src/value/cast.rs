//! Casts between built-in types with PostgreSQL's rules (`pg_cast` plus
//! the automatic I/O conversions to and from the string types).

// `DbResult` carries the whole `AionError` by design (it crosses the plugin
// boundary unchanged), so the large-`Err` lint does not apply here.

use abi_stable::std_types::{RString, RVec};

use crate::error::{AionError, DbResult, SqlState};
use crate::types::{DataType, TypeId};

use super::compare::date_to_micros;
use super::format::FormatOptions;
use super::json::{normalize_jsonb, parse_json, Json};
use super::{
    datetime, parse_text_with, write_text_with, ArrayValue, Interval, Numeric, Value, USECS_PER_DAY,
};

/// The context a cast happens in, as PostgreSQL's `castcontext`:
/// implicit (in expressions), assignment (INSERT/UPDATE targets),
/// explicit (`CAST`, `::`). Each context allows what the previous ones do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CoercionKind {
    Implicit,
    Assignment,
    Explicit,
}

pub(crate) fn cannot_cast(from: &str, to: &DataType) -> AionError {
    AionError::new(
        SqlState::new(b"42846"),
        format!("cannot cast type {from} to {to}"),
    )
}

pub(crate) fn int_out_of_range(to: TypeId) -> AionError {
    let name = match to {
        TypeId::Int2 => "smallint",
        TypeId::Int8 => "bigint",
        _ => "integer",
    };
    AionError::new(
        SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
        format!("{name} out of range"),
    )
}

pub(crate) fn float_overflow() -> AionError {
    AionError::new(
        SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
        "value out of range: overflow",
    )
}

pub(crate) fn float_underflow() -> AionError {
    AionError::new(
        SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
        "value out of range: underflow",
    )
}

fn is_string(t: TypeId) -> bool {
    matches!(t, TypeId::Text | TypeId::Varchar | TypeId::Char)
}

/// Casts involving the system-catalog types (`oid`, `name`, `"char"`,
/// `reg*`), as `pg_cast` has them.
fn system_cast_context(from: TypeId, to: TypeId) -> Option<CoercionKind> {
    use CoercionKind::*;
    use TypeId::*;
    let string = |t: TypeId| matches!(t, Text | Varchar | Char);
    Some(match (from, to) {
        (Name, t) | (t, Name) if string(t) => Implicit,
        (InternalChar, t) if string(t) => Implicit,
        (t, InternalChar) if string(t) => Assignment,
        (Int2 | Int4 | Int8, t) if t.is_oid_like() => Implicit,
        (f, t) if f.is_oid_like() && t.is_oid_like() => Implicit,
        (f, Int4 | Int8) if f.is_oid_like() => Assignment,
        (f, t) if f.is_oid_like() && string(t) => Assignment,
        (f, t) if string(f) && t.is_oid_like() => Explicit,
        (InternalChar, Int4) | (Int4, InternalChar) => Explicit,
        _ => return None,
    })
}

/// `pg_cast.castcontext` between distinct built-in scalar types, `None`
/// when PostgreSQL has no such cast. I/O conversions to the string types
/// are assignment casts and from them explicit, as PostgreSQL adds them.
fn cast_context(from: TypeId, to: TypeId) -> Option<CoercionKind> {
    use CoercionKind::*;
    use TypeId::*;
    if from == to {
        return Some(Implicit);
    }
    if TypeId::SYSTEM.contains(&from) || TypeId::SYSTEM.contains(&to) {
        return system_cast_context(from, to);
    }
    Some(match (from, to) {
        (Text | Varchar | Char, Text | Varchar | Char) => Implicit,
        (Int2, Int4 | Int8 | Float4 | Float8 | Numeric) => Implicit,
        (Int4, Int8 | Float4 | Float8 | Numeric) => Implicit,
        (Int8, Float4 | Float8 | Numeric) => Implicit,
        (Float4, Float8) => Implicit,
        (Numeric, Float4 | Float8) => Implicit,
        (Int4 | Int8 | Float4 | Float8 | Numeric, Int2) => Assignment,
        (Int8 | Float4 | Float8 | Numeric, Int4) => Assignment,
        (Float4 | Float8 | Numeric, Int8) => Assignment,
        (Float4 | Float8, Numeric) => Assignment,
        (Float8, Float4) => Assignment,
        (Int4, Bool) | (Bool, Int4) => Explicit,
        (Date, Timestamp | TimestampTz) => Implicit,
        (Timestamp, TimestampTz) => Implicit,
        (Timestamp | TimestampTz, Date | Time) => Assignment,
        (TimestampTz, Timestamp) => Assignment,
        (Time, Interval) => Implicit,
        (Interval, Time) => Assignment,
        (Json, Jsonb) | (Jsonb, Json) => Assignment,
        (Jsonb, Bool | Int2 | Int4 | Int8 | Float4 | Float8 | Numeric) => Explicit,
        (Unknown | Any | Ext(_), _) | (_, Unknown | Any | Ext(_)) => return None,
        (_, Text | Varchar | Char) => Assignment,
        (Text | Varchar | Char, _) => Explicit,
        _ => return None,
    })
}

/// Whether PostgreSQL allows this cast in this context (pg_cast
/// castcontext rules; Unknown -> anything is always allowed; Any accepts
/// everything).
pub fn can_coerce(from: &DataType, to: &DataType, kind: CoercionKind) -> bool {
    if from.id == TypeId::Unknown || to.id == TypeId::Any || from.id == TypeId::Any {
        return true;
    }
    match (from.is_array, to.is_array) {
        (false, false) => {
            if from.id == to.id {
                return true;
            }
            cast_context(from.id, to.id).is_some_and(|c| c <= kind)
        }
        (true, true) => from.id == to.id || cast_context(from.id, to.id).is_some_and(|c| c <= kind),
        // Arrays print to and parse from text like any other type.
        (true, false) => is_string(to.id) && kind >= CoercionKind::Assignment,
        (false, true) => is_string(from.id) && kind == CoercionKind::Explicit,
    }
}

/// Name of a value's type for error messages.
fn value_type_name(v: &Value) -> String {
    v.data_type()
        .map_or_else(|| "unknown".to_string(), |t| t.to_string())
}

/// Text form of a value as a cast to text produces it (`boolean` prints
/// `true`/`false` there, unlike its output function).
pub(crate) fn to_text(v: &Value, out: &mut String) {
    to_text_with(v, FormatOptions::utc(), out)
}

pub(crate) fn to_text_with(v: &Value, opts: &FormatOptions, out: &mut String) {
    match v {
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        _ => write_text_with(v, opts, out),
    }
}

fn is_datetime(t: TypeId) -> bool {
    matches!(
        t,
        TypeId::Date | TypeId::Time | TypeId::Timestamp | TypeId::TimestampTz
    )
}

/// Whether a cast's result can depend on the session's TimeZone or
/// DateStyle, so it must run at execution rather than be folded into a
/// cached plan: date/time text input and output, and conversions between
/// timestamptz and the zone-less types.
pub fn cast_uses_format_options(from: &DataType, to: &DataType) -> bool {
    let (f, t) = (from.id, to.id);
    let from_text = is_string(f) || f == TypeId::Unknown;
    (from_text && is_datetime(t))
        || (is_string(t) && is_datetime(f) && f != TypeId::Time)
        || matches!(
            (f, t),
            (TypeId::Date | TypeId::Timestamp, TypeId::TimestampTz)
                | (
                    TypeId::TimestampTz,
                    TypeId::Date | TypeId::Time | TypeId::Timestamp
                )
        )
}

/// Whether reading the literal `input` as type `ty` can give a different
/// value under another TimeZone or DateStyle (a timestamptz without an
/// explicit zone, `01/02/03`, `now`, `today`), so a planner must not
/// fold it into a cached plan.
pub fn text_input_uses_format_options(ty: &DataType, input: &str) -> bool {
    if !is_datetime(ty.id) {
        return false;
    }
    if ty.is_array {
        return true;
    }
    datetime::input_uses_format_options(ty.id, input)
}

/// Applies a `varchar(n)` / `char(n)` length: explicit casts truncate,
/// other contexts fail unless only spaces would be cut.
fn apply_length(s: &str, to: &DataType, kind: CoercionKind) -> DbResult<Value> {
    let pad = to.id == TypeId::Char;
    if to.typmod < 4 {
        return Ok(Value::text(s));
    }
    let max = (to.typmod - 4) as usize;
    // Byte length bounds the char count: the common short string needs
    // no counting.
    let len = if s.len() <= max {
        s.chars().count()
    } else {
        let cut = s.char_indices().nth(max).map(|(i, _)| i);
        match cut {
            None => s.chars().count(),
            Some(cut) => {
                if kind != CoercionKind::Explicit && s[cut..].chars().any(|c| c != ' ') {
                    return Err(AionError::new(
                        SqlState::STRING_DATA_RIGHT_TRUNCATION,
                        format!(
                            "value too long for type {}({max})",
                            if pad {
                                "character"
                            } else {
                                "character varying"
                            }
                        ),
                    ));
                }
                return Ok(Value::text(&s[..cut]));
            }
        }
    };
    if pad && len < max {
        let mut out = String::with_capacity(s.len() + max - len);
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', max - len));
        return Ok(Value::text(out));
    }
    Ok(Value::text(s))
}

/// Rounds microseconds to a time/timestamp precision typmod.
fn round_micros(micros: i64, typmod: i32) -> i64 {
    if !(0..6).contains(&typmod) || micros == i64::MAX || micros == i64::MIN {
        return micros;
    }
    let scale = 10i64.pow(6 - typmod as u32);
    let half = scale / 2;
    if micros >= 0 {
        (micros + half) / scale * scale
    } else {
        -((-micros + half) / scale * scale)
    }
}

fn check_int(v: i64, to: TypeId) -> DbResult<Value> {
    match to {
        TypeId::Int2 => i16::try_from(v)
            .map(Value::Int2)
            .map_err(|_| int_out_of_range(to)),
        TypeId::Int4 => i32::try_from(v)
            .map(Value::Int4)
            .map_err(|_| int_out_of_range(to)),
        _ => Ok(Value::Int8(v)),
    }
}

/// `float8 -> int`: round half to even (`rint`), then range-check.
fn float_to_int(f: f64, to: TypeId) -> DbResult<Value> {
    let r = f.round_ties_even();
    // i64 range check in f64 space: 2^63 is exactly representable.
    if r.is_nan() || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&r) {
        return Err(int_out_of_range(to));
    }
    check_int(r as i64, to)
}

fn numeric_to_int(n: &Numeric, to: TypeId) -> DbResult<Value> {
    if n.is_nan() {
        return Err(AionError::feature_not_supported(format!(
            "cannot convert NaN to {}",
            to.sql_name()
        )));
    }
    if !n.is_finite() {
        return Err(AionError::feature_not_supported(format!(
            "cannot convert infinity to {}",
            to.sql_name()
        )));
    }
    let v = n.to_i64_round().ok_or_else(|| int_out_of_range(to))?;
    check_int(v, to)
}

fn numeric_to_float(n: &Numeric) -> DbResult<f64> {
    let f = n.to_f64();
    if f.is_infinite() && n.is_finite() {
        // PostgreSQL converts through text, so float8in reports it.
        return Err(AionError::new(
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("\"{n}\" is out of range for type double precision"),
        ));
    }
    Ok(f)
}

fn f64_to_f32(f: f64) -> DbResult<f32> {
    let r = f as f32;
    if r.is_infinite() && f.is_finite() {
        return Err(float_overflow());
    }
    if r == 0.0 && f != 0.0 {
        return Err(float_underflow());
    }
    Ok(r)
}

fn to_numeric(n: Numeric, to: &DataType) -> DbResult<Value> {
    Ok(Value::Numeric(n.apply_typmod(to.typmod)?))
}

/// `jsonb -> scalar` casts: only a JSON value of the matching kind converts.
fn jsonb_scalar(s: &str, to: &DataType) -> DbResult<Value> {
    let j = parse_json(s, true)?;
    let kind = match &j {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "numeric",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    };
    let want = if to.id == TypeId::Bool {
        "boolean"
    } else {
        "numeric"
    };
    let bad = || {
        AionError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("cannot cast jsonb {kind} to type {}", to.id.sql_name()),
        )
    };
    if kind != want {
        return Err(bad());
    }
    match j {
        Json::Bool(b) => Ok(Value::Bool(b)),
        Json::Number(n) => {
            let num = Numeric::parse(&n).ok_or_else(bad)?;
            cast(&Value::Numeric(num), to, CoercionKind::Explicit)
        }
        _ => Err(bad()),
    }
}

/// Explicit/implicit/assignment cast of a value to a type (NULL -> NULL),
/// including typmods (varchar(n): explicit cast truncates, assignment
/// errors 22001; numeric(p,s): round to s, 22003 "numeric field overflow").
/// Date/time conversions behave as in a session with TimeZone UTC and
/// DateStyle ISO, MDY.
pub fn cast(v: &Value, to: &DataType, kind: CoercionKind) -> DbResult<Value> {
    cast_with(v, to, kind, FormatOptions::utc())
}

/// `cast` in a session with the given TimeZone and DateStyle: text
/// input and output of dates and times, and conversions between
/// timestamptz and date, time and timestamp, use them.
pub fn cast_with(
    v: &Value,
    to: &DataType,
    kind: CoercionKind,
    opts: &FormatOptions,
) -> DbResult<Value> {
    if v.is_null() || matches!(to.id, TypeId::Unknown | TypeId::Any) {
        return Ok(v.clone());
    }
    if to.is_array {
        let elem = DataType {
            is_array: false,
            ..*to
        };
        return match v {
            Value::Array(a) => {
                let mut elements = Vec::with_capacity(a.elements.len());
                for e in a.elements.iter() {
                    elements.push(cast_with(e, &elem, kind, opts)?);
                }
                Ok(Value::Array(ArrayValue {
                    element_type: to.id,
                    dims: a.dims.clone(),
                    elements: RVec::from(elements),
                }))
            }
            Value::Text(s) => parse_text_with(*to, s, opts),
            _ => Err(cannot_cast(&value_type_name(v), to)),
        };
    }
    let t = to.id;
    match (v, t) {
        // Fast identity paths.
        (Value::Int4(_), TypeId::Int4)
        | (Value::Int8(_), TypeId::Int8)
        | (Value::Int2(_), TypeId::Int2)
        | (Value::Float8(_), TypeId::Float8)
        | (Value::Float4(_), TypeId::Float4)
        | (Value::Bool(_), TypeId::Bool)
        | (Value::Bytea(_), TypeId::Bytea)
        | (Value::Uuid(_), TypeId::Uuid)
        | (Value::Date(_), TypeId::Date)
        | (Value::Interval(_), TypeId::Interval)
        | (Value::Json(_), TypeId::Json)
        | (Value::Jsonb(_), TypeId::Jsonb) => Ok(v.clone()),
        (Value::Text(_), TypeId::Text) => Ok(v.clone()),
        (Value::Text(s), TypeId::Varchar | TypeId::Char) => apply_length(s, to, kind),
        (Value::Array(_), TypeId::Text | TypeId::Varchar | TypeId::Char) => {
            let mut s = String::new();
            to_text_with(v, opts, &mut s);
            apply_length(&s, to, kind)
        }
        (Value::Array(_), _) => Err(cannot_cast(&value_type_name(v), to)),
        (Value::Text(s), _) => parse_text_with(*to, s, opts),
        (Value::Ext(e), TypeId::Ext(oid)) if e.type_oid == oid => Ok(v.clone()),
        (Value::Ext(_), _) | (_, TypeId::Ext(_)) => Err(cannot_cast(&value_type_name(v), to)),
        (_, TypeId::Text | TypeId::Varchar | TypeId::Char) => {
            let mut s = String::new();
            to_text_with(v, opts, &mut s);
            apply_length(&s, to, kind)
        }
        // Integers.
        (Value::Int2(x), _) => int_to(*x as i64, v, to),
        (Value::Int4(x), TypeId::Bool) => Ok(Value::Bool(*x != 0)),
        (Value::Int4(x), _) => int_to(*x as i64, v, to),
        (Value::Int8(x), _) => int_to(*x, v, to),
        (Value::Bool(b), TypeId::Int4) => Ok(Value::Int4(*b as i32)),
        // Floats.
        (Value::Float4(f), _) => float_to(*f as f64, true, v, to),
        (Value::Float8(f), _) => float_to(*f, false, v, to),
        (Value::Numeric(n), _) => match t {
            TypeId::Int2 | TypeId::Int4 | TypeId::Int8 => numeric_to_int(n, t),
            TypeId::Float8 => Ok(Value::Float8(numeric_to_float(n)?)),
            TypeId::Float4 => Ok(Value::Float4(f64_to_f32(numeric_to_float(n)?)?)),
            TypeId::Numeric if to.typmod < 4 => Ok(v.clone()),
            TypeId::Numeric => Ok(Value::Numeric(n.apply_typmod(to.typmod)?)),
            _ => Err(cannot_cast("numeric", to)),
        },
        // Date and time.
        (Value::Date(d), TypeId::Timestamp | TypeId::TimestampTz) => {
            let m = date_to_micros(*d);
            if m != i64::MAX && m != i64::MIN && m > datetime::TIMESTAMP_MAX_MICROS {
                return Err(AionError::new(
                    SqlState::DATETIME_FIELD_OVERFLOW,
                    "date out of range for timestamp",
                ));
            }
            Ok(if t == TypeId::Timestamp {
                Value::Timestamp(m)
            } else {
                // Midnight in the session zone.
                Value::TimestampTz(check_tz_range(opts.time_zone.local_to_utc(m))?)
            })
        }
        (Value::Timestamp(m), TypeId::TimestampTz) => Ok(Value::TimestampTz(round_micros(
            check_tz_range(opts.time_zone.local_to_utc(*m))?,
            to.typmod,
        ))),
        (Value::TimestampTz(m), TypeId::Timestamp | TypeId::Date | TypeId::Time) => {
            // The wall clock in the session zone.
            let local = opts.time_zone.utc_to_local(*m);
            let local = if matches!(local, i64::MAX | i64::MIN) || local == *m {
                local
            } else {
                check_tz_range(local)?
            };
            cast_with(&Value::Timestamp(local), to, kind, opts)
        }
        (Value::Timestamp(m) | Value::TimestampTz(m), _) => match t {
            TypeId::Timestamp => Ok(Value::Timestamp(round_micros(*m, to.typmod))),
            TypeId::TimestampTz => Ok(Value::TimestampTz(round_micros(*m, to.typmod))),
            TypeId::Date => Ok(Value::Date(match *m {
                i64::MAX => i32::MAX,
                i64::MIN => i32::MIN,
                m => m.div_euclid(USECS_PER_DAY) as i32,
            })),
            TypeId::Time => {
                if *m == i64::MAX || *m == i64::MIN {
                    return Err(AionError::new(
                        SqlState::DATETIME_FIELD_OVERFLOW,
                        "timestamp out of range",
                    ));
                }
                Ok(Value::Time(round_micros(
                    m.rem_euclid(USECS_PER_DAY),
                    to.typmod,
                )))
            }
            _ => Err(cannot_cast(&value_type_name(v), to)),
        },
        (Value::Time(m), TypeId::Time) => Ok(Value::Time(round_micros(*m, to.typmod))),
        (Value::Time(m), TypeId::Interval) => Ok(Value::Interval(Interval {
            months: 0,
            days: 0,
            micros: *m,
        })),
        // `interval_time`: only the time part, wrapped into one day.
        (Value::Interval(iv), TypeId::Time) => Ok(Value::Time(iv.micros.rem_euclid(USECS_PER_DAY))),
        (Value::Json(s), TypeId::Jsonb) => Ok(Value::Jsonb(RString::from(normalize_jsonb(s)?))),
        (Value::Jsonb(s), TypeId::Json) => Ok(Value::Json(s.clone())),
        (
            Value::Jsonb(s),
            TypeId::Bool
            | TypeId::Int2
            | TypeId::Int4
            | TypeId::Int8
            | TypeId::Float4
            | TypeId::Float8
            | TypeId::Numeric,
        ) => jsonb_scalar(s, to),
        _ => Err(cannot_cast(&value_type_name(v), to)),
    }
}

/// A zone shift may push a timestamp just past the supported range.
fn check_tz_range(m: i64) -> DbResult<i64> {
    if m != i64::MAX
        && m != i64::MIN
        && !(datetime::TIMESTAMP_MIN_MICROS..=datetime::TIMESTAMP_MAX_MICROS).contains(&m)
    {
        return Err(AionError::new(
            SqlState::DATETIME_FIELD_OVERFLOW,
            "timestamp out of range",
        ));
    }
    Ok(m)
}

fn int_to(x: i64, v: &Value, to: &DataType) -> DbResult<Value> {
    match to.id {
        TypeId::Int2 | TypeId::Int4 | TypeId::Int8 => check_int(x, to.id),
        TypeId::Float4 => Ok(Value::Float4(x as f32)),
        TypeId::Float8 => Ok(Value::Float8(x as f64)),
        TypeId::Numeric => to_numeric(Numeric::from_i64(x), to),
        t if t.is_oid_like() => oid_value(x),
        _ => Err(cannot_cast(&value_type_name(v), to)),
    }
}

/// An oid from an integer: PostgreSQL wraps negative int4 values around
/// (`-1::oid` is 4294967295); anything outside 32 bits is out of range.
pub(crate) fn oid_value(x: i64) -> DbResult<Value> {
    if (0..=u32::MAX as i64).contains(&x) {
        Ok(Value::Int8(x))
    } else if (i32::MIN as i64..0).contains(&x) {
        Ok(Value::Int8(x + (1i64 << 32)))
    } else {
        Err(AionError::new(
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            "OID out of range",
        ))
    }
}

fn float_to(f: f64, from_f32: bool, v: &Value, to: &DataType) -> DbResult<Value> {
    match to.id {
        TypeId::Int2 | TypeId::Int4 | TypeId::Int8 => float_to_int(f, to.id),
        TypeId::Float4 => Ok(Value::Float4(f64_to_f32(f)?)),
        TypeId::Float8 => Ok(Value::Float8(f)),
        TypeId::Numeric => {
            // float4 -> numeric prints with FLT_DIG digits, float8 DBL_DIG.
            let n = Numeric::from_f64_digits(f, if from_f32 { 6 } else { 15 })?;
            to_numeric(n, to)
        }
        _ => Err(cannot_cast(&value_type_name(v), to)),
    }
}
