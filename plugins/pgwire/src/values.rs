//! Values on the wire: PostgreSQL's text and binary (`typsend` /
//! `typreceive`) formats for every built-in type.
//!
//! Text goes through the SDK's `write_text_with` / `parse_text_with`, so the
//! wire and SQL casts agree. Binary formats are written here; decoding
//! checks every length, because the bytes come straight from the client.

use std::cell::RefCell;

use aiondb_sdk::abi_stable::std_types::RVec;
use aiondb_sdk::error::{AionError, DbResult, SqlState};
use aiondb_sdk::types::{DataType, TypeId};
use aiondb_sdk::value::{
    parse_text_with, write_text_with, ArrayDim, ArrayValue, ExtPayload, ExtValue, FormatOptions,
    Interval, Numeric, NumericKind, Value, DATE_MAX_DAYS, DATE_MIN_DAYS, TIMESTAMP_MAX_MICROS,
    TIMESTAMP_MIN_MICROS, USECS_PER_DAY,
};

const INVALID_BINARY_REPRESENTATION: SqlState = SqlState::new(b"22P03");
const CHARACTER_NOT_IN_REPERTOIRE: SqlState = SqlState::new(b"22021");
const DATA_EXCEPTION: SqlState = SqlState::new(b"22000");

/// PostgreSQL's MAXDIM.
const MAX_ARRAY_DIMS: i32 = 6;
/// NUMERIC_MAX_PRECISION + NUMERIC_MAX_RESULT_SCALE: the most base-10000
/// digits numeric_recv accepts.
const MAX_NUMERIC_DIGITS: i16 = 3000;

const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_PINF: u16 = 0xD000;
const NUMERIC_NINF: u16 = 0xF000;

fn binary_format() -> AionError {
    AionError::new(
        INVALID_BINARY_REPRESENTATION,
        "incorrect binary data format in bind parameter",
    )
}

fn bad_binary(message: &str) -> AionError {
    AionError::new(INVALID_BINARY_REPRESENTATION, message)
}

fn out_of_range(what: &str) -> AionError {
    AionError::new(
        SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
        format!("{what} out of range"),
    )
}

fn datetime_out_of_range(what: &str) -> AionError {
    AionError::new(
        SqlState::DATETIME_FIELD_OVERFLOW,
        format!("{what} out of range"),
    )
}

fn mismatch(v: &Value, ty: &DataType) -> AionError {
    let have = v
        .data_type()
        .map_or_else(|| "NULL".to_string(), |t| t.to_string());
    AionError::new(
        SqlState::DATATYPE_MISMATCH,
        format!("cannot send a value of type {have} as {ty}"),
    )
}

// ---------------------------------------------------------------------------
// Text.

thread_local! {
    /// Scratch for `write_text_with`, which writes to a `String`: reused so
    /// that encoding a result set does not allocate once per value.
    static SCRATCH: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Scratch strings above this size are dropped after use rather than kept
/// for the life of the thread.
const SCRATCH_KEEP: usize = 64 * 1024;

/// Appends the PostgreSQL text output of `v`. NULL appends nothing: it is
/// sent out of band as length -1.
pub fn encode_text(v: &Value, opts: &FormatOptions, out: &mut Vec<u8>) {
    match v {
        Value::Null => {}
        Value::Bool(b) => out.push(if *b { b't' } else { b'f' }),
        Value::Int2(i) => write_int(i64::from(*i), out),
        Value::Int4(i) => write_int(i64::from(*i), out),
        Value::Int8(i) => write_int(*i, out),
        Value::Text(s) | Value::Json(s) | Value::Jsonb(s) => out.extend_from_slice(s.as_bytes()),
        _ => SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut s) => {
                s.clear();
                write_text_with(v, opts, &mut s);
                out.extend_from_slice(s.as_bytes());
                if s.capacity() > SCRATCH_KEEP {
                    *s = String::new();
                }
            }
            // Only reachable if write_text_with re-entered us; stay correct.
            Err(_) => {
                let mut s = String::new();
                write_text_with(v, opts, &mut s);
                out.extend_from_slice(s.as_bytes());
            }
        }),
    }
}

fn write_int(v: i64, out: &mut Vec<u8>) {
    if v < 0 {
        out.push(b'-');
    }
    let mut buf = [0u8; 20];
    out.extend_from_slice(aiondb_sdk::value::decimal(v.unsigned_abs(), &mut buf));
}

/// Checks that client text is UTF-8 without NUL bytes, as PostgreSQL's
/// encoding verification does for a UTF8 database.
fn check_utf8(bytes: &[u8]) -> DbResult<&str> {
    let bad = |b: &[u8]| {
        let hex: Vec<String> = b.iter().map(|x| format!("0x{x:02x}")).collect();
        AionError::new(
            CHARACTER_NOT_IN_REPERTOIRE,
            format!(
                "invalid byte sequence for encoding \"UTF8\": {}",
                hex.join(" ")
            ),
        )
    };
    let s = std::str::from_utf8(bytes).map_err(|e| {
        let start = e.valid_up_to();
        let len = e.error_len().unwrap_or(bytes.len() - start);
        bad(&bytes[start..start + len])
    })?;
    if s.as_bytes().contains(&0) {
        return Err(bad(&[0]));
    }
    Ok(s)
}

/// Parses a text-format parameter or COPY field of type `ty`.
pub fn decode_text(bytes: &[u8], ty: &DataType, opts: &FormatOptions) -> DbResult<Value> {
    parse_text_with(*ty, check_utf8(bytes)?, opts)
}

// ---------------------------------------------------------------------------
// Binary send.

fn int_of(v: &Value) -> Option<i64> {
    v.as_i64()
}

/// Appends the binary send format of `v` as type `ty`. Integers are
/// widened or narrowed to `ty` (22003 if they do not fit); other
/// mismatches are 42804. NULL has no binary form and is an error: callers
/// send it as length -1.
pub fn encode_binary(v: &Value, ty: &DataType, out: &mut Vec<u8>) -> DbResult<()> {
    if ty.is_array {
        return match v {
            Value::Array(a) => encode_array(a, ty, out),
            _ => Err(mismatch(v, ty)),
        };
    }
    match (ty.id, v) {
        (_, Value::Null) => {
            return Err(AionError::internal(
                "NULL has no binary form; it is sent as length -1",
            ))
        }
        // No declared type: send the value as its own type.
        (TypeId::Unknown | TypeId::Any, _) => {
            return match v.data_type() {
                Some(t) if !matches!(t.id, TypeId::Unknown | TypeId::Any) => {
                    encode_binary(v, &t, out)
                }
                _ => Err(mismatch(v, ty)),
            };
        }
        (TypeId::Bool, Value::Bool(b)) => out.push(u8::from(*b)),
        (TypeId::Int2, _) if int_of(v).is_some() => {
            let i = int_of(v).unwrap_or_default();
            let i = i16::try_from(i).map_err(|_| out_of_range("smallint"))?;
            out.extend_from_slice(&i.to_be_bytes());
        }
        (TypeId::Int4, _) if int_of(v).is_some() => {
            let i = int_of(v).unwrap_or_default();
            let i = i32::try_from(i).map_err(|_| out_of_range("integer"))?;
            out.extend_from_slice(&i.to_be_bytes());
        }
        (TypeId::Int8, _) if int_of(v).is_some() => {
            out.extend_from_slice(&int_of(v).unwrap_or_default().to_be_bytes());
        }
        (TypeId::Float4, _) => {
            let f = match v {
                Value::Float4(f) => *f,
                Value::Float8(f) => {
                    let n = *f as f32;
                    if n.is_infinite() && f.is_finite() {
                        return Err(out_of_range("value"));
                    }
                    n
                }
                _ => match int_of(v) {
                    Some(i) => i as f32,
                    None => return Err(mismatch(v, ty)),
                },
            };
            out.extend_from_slice(&f.to_bits().to_be_bytes());
        }
        (TypeId::Float8, _) => {
            let f = match v {
                Value::Float4(f) => f64::from(*f),
                Value::Float8(f) => *f,
                _ => match int_of(v) {
                    Some(i) => i as f64,
                    None => return Err(mismatch(v, ty)),
                },
            };
            out.extend_from_slice(&f.to_bits().to_be_bytes());
        }
        (TypeId::Numeric, Value::Numeric(n)) => encode_numeric(n, out)?,
        (TypeId::Numeric, _) if int_of(v).is_some() => {
            encode_numeric(&Numeric::from_i64(int_of(v).unwrap_or_default()), out)?
        }
        // oid and the reg* types: an unsigned 32-bit integer.
        (t, _) if t.is_oid_like() && int_of(v).is_some() => {
            let i = int_of(v).unwrap_or_default();
            let i = u32::try_from(i).map_err(|_| out_of_range("OID"))?;
            out.extend_from_slice(&i.to_be_bytes());
        }
        // For text-like types the binary format is the text itself.
        (
            TypeId::Text
            | TypeId::Varchar
            | TypeId::Char
            | TypeId::Json
            | TypeId::Name
            | TypeId::InternalChar
            | TypeId::RegClass
            | TypeId::RegType
            | TypeId::RegProc
            | TypeId::RegNamespace
            | TypeId::RegRole,
            Value::Text(s) | Value::Json(s) | Value::Jsonb(s),
        ) => out.extend_from_slice(s.as_bytes()),
        (TypeId::Jsonb, Value::Text(s) | Value::Json(s) | Value::Jsonb(s)) => {
            // jsonb's binary format: a version byte, then the text.
            out.push(1);
            out.extend_from_slice(s.as_bytes());
        }
        (TypeId::Bytea, Value::Bytea(b)) => out.extend_from_slice(b),
        (TypeId::Date, Value::Date(d)) => out.extend_from_slice(&d.to_be_bytes()),
        (TypeId::Time, Value::Time(t))
        | (TypeId::Timestamp, Value::Timestamp(t))
        | (TypeId::TimestampTz, Value::TimestampTz(t)) => out.extend_from_slice(&t.to_be_bytes()),
        (TypeId::Interval, Value::Interval(iv)) => {
            out.extend_from_slice(&iv.micros.to_be_bytes());
            out.extend_from_slice(&iv.days.to_be_bytes());
            out.extend_from_slice(&iv.months.to_be_bytes());
        }
        (TypeId::Uuid, Value::Uuid(u)) => out.extend_from_slice(u),
        (TypeId::Ext(_), Value::Ext(e)) => match &e.payload {
            ExtPayload::Bytes(b) => out.extend_from_slice(b),
            // pgvector's vector_send: dimensions, an unused word, then
            // float4 elements.
            ExtPayload::Floats(f) => {
                let dim = u16::try_from(f.len()).map_err(|_| {
                    AionError::new(
                        SqlState::PROGRAM_LIMIT_EXCEEDED,
                        "vector has too many dimensions to send",
                    )
                })?;
                out.reserve(4 + 4 * f.len());
                out.extend_from_slice(&dim.to_be_bytes());
                out.extend_from_slice(&0u16.to_be_bytes());
                for x in f.iter() {
                    out.extend_from_slice(&x.to_bits().to_be_bytes());
                }
            }
        },
        _ => return Err(mismatch(v, ty)),
    }
    Ok(())
}

fn encode_numeric(n: &Numeric, out: &mut Vec<u8>) -> DbResult<()> {
    let (sign, finite) = match n.kind {
        NumericKind::Finite if n.negative => (NUMERIC_NEG, true),
        NumericKind::Finite => (NUMERIC_POS, true),
        NumericKind::NaN => (NUMERIC_NAN, false),
        NumericKind::PosInf => (NUMERIC_PINF, false),
        NumericKind::NegInf => (NUMERIC_NINF, false),
    };
    if !finite {
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&sign.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        return Ok(());
    }
    let ndigits = i16::try_from(n.digits.len()).map_err(|_| out_of_range("numeric value"))?;
    out.extend_from_slice(&ndigits.to_be_bytes());
    out.extend_from_slice(&n.weight.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&n.dscale.to_be_bytes());
    for d in n.digits.iter() {
        out.extend_from_slice(&d.to_be_bytes());
    }
    Ok(())
}

fn encode_array(a: &ArrayValue, ty: &DataType, out: &mut Vec<u8>) -> DbResult<()> {
    let elem_ty = if matches!(ty.id, TypeId::Unknown | TypeId::Any) {
        DataType::scalar(a.element_type)
    } else {
        DataType {
            is_array: false,
            ..*ty
        }
    };
    let count = a.dims.iter().try_fold(1usize, |acc, d| {
        acc.checked_mul(usize::try_from(d.len).ok()?)
    });
    let consistent = if a.dims.is_empty() {
        a.elements.is_empty()
    } else {
        count == Some(a.elements.len())
    };
    if !consistent {
        return Err(AionError::internal(
            "array dimensions do not match its element count",
        ));
    }
    let has_null = a.elements.iter().any(Value::is_null);
    out.extend_from_slice(&(a.dims.len() as i32).to_be_bytes());
    out.extend_from_slice(&i32::from(has_null).to_be_bytes());
    out.extend_from_slice(&elem_ty.id.oid().to_be_bytes());
    for d in a.dims.iter() {
        out.extend_from_slice(&d.len.to_be_bytes());
        out.extend_from_slice(&d.lower.to_be_bytes());
    }
    for e in a.elements.iter() {
        if e.is_null() {
            out.extend_from_slice(&(-1i32).to_be_bytes());
            continue;
        }
        let at = out.len();
        out.extend_from_slice(&[0; 4]);
        encode_binary(e, &elem_ty, out)?;
        let len = i32::try_from(out.len() - at - 4).map_err(|_| {
            AionError::new(SqlState::PROGRAM_LIMIT_EXCEEDED, "array element too large")
        })?;
        out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Binary receive.

/// Bounds-checked reader over a binary value.
struct Cursor<'a> {
    buf: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> DbResult<&'a [u8]> {
        if n > self.buf.len() {
            return Err(binary_format());
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> DbResult<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn i16(&mut self) -> DbResult<i16> {
        self.array().map(i16::from_be_bytes)
    }

    fn u16(&mut self) -> DbResult<u16> {
        self.array().map(u16::from_be_bytes)
    }

    fn i32(&mut self) -> DbResult<i32> {
        self.array().map(i32::from_be_bytes)
    }

    fn u32(&mut self) -> DbResult<u32> {
        self.array().map(u32::from_be_bytes)
    }

    fn i64(&mut self) -> DbResult<i64> {
        self.array().map(i64::from_be_bytes)
    }

    fn end(&self) -> DbResult<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(binary_format())
        }
    }
}

/// Exactly `N` bytes, or 22P03.
fn exact<const N: usize>(bytes: &[u8]) -> DbResult<[u8; N]> {
    bytes.try_into().map_err(|_| binary_format())
}

/// Parses a binary-format parameter or COPY field of type `ty`.
///
/// Extension types come back as a `Bytes` payload; the plugin that owns
/// the type knows its layout (see [`decode_vector_binary`] for
/// pgvector-style float vectors).
pub fn decode_binary(bytes: &[u8], ty: &DataType) -> DbResult<Value> {
    if ty.is_array {
        return decode_array(bytes, ty);
    }
    Ok(match ty.id {
        TypeId::Bool => Value::Bool(exact::<1>(bytes)?[0] != 0),
        TypeId::Int2 => Value::Int2(i16::from_be_bytes(exact(bytes)?)),
        TypeId::Int4 => Value::Int4(i32::from_be_bytes(exact(bytes)?)),
        TypeId::Int8 => Value::Int8(i64::from_be_bytes(exact(bytes)?)),
        TypeId::Float4 => Value::Float4(f32::from_bits(u32::from_be_bytes(exact(bytes)?))),
        TypeId::Float8 => Value::Float8(f64::from_bits(u64::from_be_bytes(exact(bytes)?))),
        TypeId::Numeric => Value::Numeric(decode_numeric(bytes, ty.typmod)?),
        // Binary text is the text itself; parse_text applies varchar(n) /
        // char(n) lengths and validates json.
        TypeId::Unknown
        | TypeId::Text
        | TypeId::Varchar
        | TypeId::Char
        | TypeId::Json
        | TypeId::Name
        | TypeId::InternalChar => parse_text_with(*ty, check_utf8(bytes)?, FormatOptions::utc())?,
        TypeId::Oid
        | TypeId::RegClass
        | TypeId::RegType
        | TypeId::RegProc
        | TypeId::RegNamespace
        | TypeId::RegRole => Value::Int8(u32::from_be_bytes(exact(bytes)?) as i64),
        TypeId::Jsonb => match bytes.split_first() {
            Some((1, text)) => parse_text_with(*ty, check_utf8(text)?, FormatOptions::utc())?,
            Some((v, _)) => {
                return Err(bad_binary(&format!("unsupported jsonb version number {v}")))
            }
            None => return Err(binary_format()),
        },
        TypeId::Bytea => Value::Bytea(RVec::from(bytes)),
        TypeId::Date => {
            let d = i32::from_be_bytes(exact(bytes)?);
            let infinite = d == i32::MIN || d == i32::MAX;
            if !infinite && !(DATE_MIN_DAYS..=DATE_MAX_DAYS).contains(&d) {
                return Err(datetime_out_of_range("date"));
            }
            Value::Date(d)
        }
        TypeId::Time => {
            let t = i64::from_be_bytes(exact(bytes)?);
            if !(0..=USECS_PER_DAY).contains(&t) {
                return Err(datetime_out_of_range("time"));
            }
            Value::Time(round_to_typmod(t, ty.typmod))
        }
        TypeId::Timestamp | TypeId::TimestampTz => {
            let t = i64::from_be_bytes(exact(bytes)?);
            let t = if t == i64::MIN || t == i64::MAX {
                t
            } else {
                let r = round_to_typmod(t, ty.typmod);
                if !(TIMESTAMP_MIN_MICROS..=TIMESTAMP_MAX_MICROS).contains(&r) {
                    return Err(datetime_out_of_range("timestamp"));
                }
                r
            };
            if ty.id == TypeId::Timestamp {
                Value::Timestamp(t)
            } else {
                Value::TimestampTz(t)
            }
        }
        TypeId::Interval => {
            let b: [u8; 16] = exact(bytes)?;
            let mut c = Cursor { buf: &b };
            Value::Interval(Interval {
                micros: c.i64()?,
                days: c.i32()?,
                months: c.i32()?,
            })
        }
        TypeId::Uuid => Value::Uuid(exact(bytes)?),
        TypeId::Ext(oid) => Value::Ext(ExtValue {
            type_oid: oid,
            payload: ExtPayload::Bytes(RVec::from(bytes)),
        }),
        TypeId::Any => {
            return Err(AionError::new(
                SqlState::DATATYPE_MISMATCH,
                "cannot receive a value of a pseudo-type",
            ))
        }
    })
}

/// Rounds microseconds to the fractional-second precision of a
/// `time(p)` / `timestamp(p)` modifier, as PostgreSQL's receive functions do.
fn round_to_typmod(t: i64, typmod: i32) -> i64 {
    if !(0..6).contains(&typmod) {
        return t;
    }
    let scale = 10i64.pow(6 - typmod as u32);
    let offset = scale / 2;
    // Rounds half away from zero; magnitudes are far below i64::MAX here
    // except near the range ends, so saturate rather than overflow.
    let r = t.unsigned_abs().saturating_add(offset as u64) / scale as u64 * scale as u64;
    let r = i64::try_from(r).unwrap_or(i64::MAX);
    if t >= 0 {
        r
    } else {
        -r
    }
}

fn decode_numeric(bytes: &[u8], typmod: i32) -> DbResult<Numeric> {
    let mut c = Cursor { buf: bytes };
    let ndigits = c.i16()?;
    let weight = c.i16()?;
    let sign = c.u16()?;
    let dscale = c.u16()?;
    if !(0..=MAX_NUMERIC_DIGITS).contains(&ndigits) {
        return Err(bad_binary("invalid length in external \"numeric\" value"));
    }
    let negative = match sign {
        NUMERIC_POS => false,
        NUMERIC_NEG => true,
        NUMERIC_NAN => return special(Numeric::nan(), &mut c, ndigits),
        NUMERIC_PINF => return special(Numeric::infinity(false), &mut c, ndigits),
        NUMERIC_NINF => return special(Numeric::infinity(true), &mut c, ndigits),
        _ => return Err(bad_binary("invalid sign in external \"numeric\" value")),
    };
    if dscale & 0x3FFF != dscale {
        return Err(bad_binary("invalid scale in external \"numeric\" value"));
    }
    let mut digits = Vec::with_capacity(ndigits as usize);
    for _ in 0..ndigits {
        let d = c.i16()?;
        if !(0..10_000).contains(&d) {
            return Err(bad_binary("invalid digit in external \"numeric\" value"));
        }
        digits.push(d as u16);
    }
    c.end()?;

    // Digits beyond dscale would be invisible; PostgreSQL truncates them.
    let mut weight = i32::from(weight);
    let frac_groups = (i32::from(dscale) + 3) / 4;
    let max_len = weight + frac_groups + 1;
    if max_len <= 0 {
        digits.clear();
    } else if (max_len as usize) <= digits.len() {
        digits.truncate(max_len as usize);
        let partial = dscale % 4;
        if partial != 0 {
            let p = 10u16.pow(4 - u32::from(partial));
            if let Some(last) = digits.last_mut() {
                *last = *last / p * p;
            }
        }
    }
    // Our Numeric has no leading or trailing zero digits.
    let lead = digits.iter().take_while(|&&d| d == 0).count();
    digits.drain(..lead);
    weight -= lead as i32;
    while digits.last() == Some(&0) {
        digits.pop();
    }
    let n = if digits.is_empty() {
        Numeric {
            dscale,
            ..Numeric::zero()
        }
    } else {
        Numeric {
            kind: NumericKind::Finite,
            negative,
            digits: RVec::from(digits),
            weight: i16::try_from(weight).map_err(|_| out_of_range("numeric value"))?,
            dscale,
        }
    };
    n.apply_typmod(typmod)
}

/// NaN and the infinities carry no digits worth reading; the length must
/// still match what the header announced.
fn special(n: Numeric, c: &mut Cursor<'_>, ndigits: i16) -> DbResult<Numeric> {
    c.take(2 * ndigits as usize)?;
    c.end()?;
    Ok(n)
}

fn decode_array(bytes: &[u8], ty: &DataType) -> DbResult<Value> {
    let mut c = Cursor { buf: bytes };
    let ndim = c.i32()?;
    let flags = c.i32()?;
    let elem_oid = c.u32()?;
    if ndim < 0 {
        return Err(bad_binary(&format!("invalid number of dimensions: {ndim}")));
    }
    if ndim > MAX_ARRAY_DIMS {
        return Err(AionError::new(
            SqlState::PROGRAM_LIMIT_EXCEEDED,
            format!(
                "number of array dimensions ({ndim}) exceeds the maximum allowed ({MAX_ARRAY_DIMS})"
            ),
        ));
    }
    if flags != 0 && flags != 1 {
        return Err(bad_binary("invalid array flags"));
    }
    let elem_ty = if matches!(ty.id, TypeId::Unknown | TypeId::Any) {
        let id = TypeId::from_oid(elem_oid).ok_or_else(|| {
            AionError::new(
                SqlState::DATATYPE_MISMATCH,
                format!("binary data has unknown array element type {elem_oid}"),
            )
        })?;
        DataType::scalar(id)
    } else {
        DataType {
            is_array: false,
            ..*ty
        }
    };
    if elem_oid != elem_ty.id.oid() {
        return Err(AionError::new(
            SqlState::DATATYPE_MISMATCH,
            format!(
                "binary data has array element type {elem_oid} instead of expected {} ({})",
                elem_ty.id.oid(),
                elem_ty.id.sql_name()
            ),
        ));
    }
    let mut dims = Vec::with_capacity(ndim as usize);
    let mut count: usize = 1;
    for _ in 0..ndim {
        let len = c.i32()?;
        let lower = c.i32()?;
        if len < 0 {
            return Err(bad_binary("invalid array dimensions"));
        }
        if len > 0 && lower.checked_add(len - 1).is_none() {
            return Err(AionError::new(
                SqlState::PROGRAM_LIMIT_EXCEEDED,
                "integer out of range",
            ));
        }
        count = count.saturating_mul(len as usize);
        dims.push(ArrayDim { len, lower });
    }
    if ndim == 0 || count == 0 {
        c.end()?;
        return Ok(Value::Array(ArrayValue {
            element_type: elem_ty.id,
            dims: RVec::new(),
            elements: RVec::new(),
        }));
    }
    // Every element takes at least its 4-byte length: a count the body
    // cannot hold is rejected before anything is allocated for it.
    if count > c.buf.len() / 4 {
        return Err(binary_format());
    }
    let mut elements = Vec::with_capacity(count);
    for _ in 0..count {
        let len = c.i32()?;
        elements.push(match len {
            -1 => Value::Null,
            n if n < 0 => return Err(bad_binary("insufficient data left in message")),
            n => {
                let b = c
                    .take(n as usize)
                    .map_err(|_| bad_binary("insufficient data left in message"))?;
                decode_binary(b, &elem_ty)?
            }
        });
    }
    c.end()?;
    Ok(Value::Array(ArrayValue {
        element_type: elem_ty.id,
        dims: RVec::from(dims),
        elements: RVec::from(elements),
    }))
}

/// Parses pgvector's binary format (`u16` dimensions, `u16` unused = 0,
/// then big-endian `f32`s) into a `Floats` value of type `ty`, checking
/// `vector(n)`'s dimension count when `ty` has one.
pub fn decode_vector_binary(bytes: &[u8], ty: &DataType) -> DbResult<Value> {
    let mut c = Cursor { buf: bytes };
    let dim = c.u16()?;
    let unused = c.u16()?;
    if unused != 0 {
        return Err(bad_binary(&format!(
            "expected unused to be 0, not {unused}"
        )));
    }
    if dim == 0 {
        return Err(AionError::new(
            DATA_EXCEPTION,
            "vector must have at least 1 dimension",
        ));
    }
    if ty.typmod > 0 && ty.typmod != i32::from(dim) {
        return Err(AionError::new(
            DATA_EXCEPTION,
            format!("expected {} dimensions, not {dim}", ty.typmod),
        ));
    }
    let mut v = Vec::with_capacity(usize::from(dim).min(c.buf.len() / 4));
    for _ in 0..dim {
        let x = f32::from_bits(c.u32()?);
        if x.is_nan() {
            return Err(AionError::new(DATA_EXCEPTION, "NaN not allowed in vector"));
        }
        if x.is_infinite() {
            return Err(AionError::new(
                DATA_EXCEPTION,
                "infinite value not allowed in vector",
            ));
        }
        v.push(x);
    }
    c.end()?;
    Ok(Value::Ext(ExtValue {
        type_oid: ty.id.oid(),
        payload: ExtPayload::Floats(RVec::from(v)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aiondb_sdk::abi_stable::std_types::RString;
    use aiondb_sdk::value::parse_text;
    use bytes::BytesMut;
    use fallible_iterator::FallibleIterator;
    use postgres_protocol::types as pt;
    use postgres_protocol::IsNull;

    fn text_value(s: &str) -> Value {
        Value::Text(RString::from(s))
    }

    fn enc(v: &Value, ty: &DataType) -> Vec<u8> {
        let mut out = Vec::new();
        encode_binary(v, ty, &mut out).unwrap();
        out
    }

    /// Value equality that treats NaN floats as equal to themselves.
    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Float4(x), Value::Float4(y)) => x.to_bits() == y.to_bits(),
            (Value::Float8(x), Value::Float8(y)) => x.to_bits() == y.to_bits(),
            (Value::Array(x), Value::Array(y)) => {
                x.element_type == y.element_type
                    && x.dims == y.dims
                    && x.elements.len() == y.elements.len()
                    && x.elements
                        .iter()
                        .zip(y.elements.iter())
                        .all(|(a, b)| same(a, b))
            }
            _ => a == b,
        }
    }

    fn round_trip(v: &Value, ty: &DataType) -> Vec<u8> {
        let bytes = enc(v, ty);
        let back = decode_binary(&bytes, ty).unwrap_or_else(|e| panic!("{v:?} as {ty}: {e}"));
        assert!(same(&back, v), "{v:?} as {ty}: got {back:?}");
        bytes
    }

    fn num(s: &str) -> Value {
        parse_text(DataType::NUMERIC, s).unwrap()
    }

    fn samples() -> Vec<(Value, DataType)> {
        let t = |id| DataType::scalar(id);
        vec![
            (Value::Bool(true), DataType::BOOL),
            (Value::Bool(false), DataType::BOOL),
            (Value::Int2(i16::MIN), DataType::INT2),
            (Value::Int2(-2), DataType::INT2),
            (Value::Int4(i32::MAX), DataType::INT4),
            (Value::Int4(-123456), DataType::INT4),
            (Value::Int8(i64::MIN), DataType::INT8),
            (Value::Float4(1.5), DataType::FLOAT4),
            (Value::Float4(f32::NAN), DataType::FLOAT4),
            (Value::Float4(f32::NEG_INFINITY), DataType::FLOAT4),
            (Value::Float8(-0.0), DataType::FLOAT8),
            (Value::Float8(f64::INFINITY), DataType::FLOAT8),
            (Value::Float8(1e-300), DataType::FLOAT8),
            (num("0"), DataType::NUMERIC),
            (num("0.000"), DataType::NUMERIC),
            (num("1"), DataType::NUMERIC),
            (num("-1"), DataType::NUMERIC),
            (num("12345.678"), DataType::NUMERIC),
            (num("-12345.678"), DataType::NUMERIC),
            (num("0.0001"), DataType::NUMERIC),
            (num("-0.5"), DataType::NUMERIC),
            (num("100000000"), DataType::NUMERIC),
            (num("1e-20"), DataType::NUMERIC),
            (num("98765432109876543210.0123456789"), DataType::NUMERIC),
            (num("NaN"), DataType::NUMERIC),
            (num("Infinity"), DataType::NUMERIC),
            (num("-Infinity"), DataType::NUMERIC),
            (text_value("héllo wörld"), DataType::TEXT),
            (text_value(""), DataType::TEXT),
            (text_value("abc"), DataType::varchar(5)),
            (text_value("ab   "), t(TypeId::Char).with_typmod(9)),
            (Value::Json(" {\"a\": [1, 2]} ".into()), t(TypeId::Json)),
            (
                parse_text(DataType::JSONB, "{\"b\": 1, \"a\": [true, null]}").unwrap(),
                DataType::JSONB,
            ),
            (
                Value::Bytea(RVec::from(vec![0, 255, 0, 1])),
                DataType::BYTEA,
            ),
            (Value::Bytea(RVec::new()), DataType::BYTEA),
            (Value::Date(0), DataType::DATE),
            (Value::Date(-730_000), DataType::DATE),
            (Value::Date(i32::MAX), DataType::DATE),
            (Value::Date(i32::MIN), DataType::DATE),
            (Value::Time(0), t(TypeId::Time)),
            (Value::Time(USECS_PER_DAY), t(TypeId::Time)),
            (Value::Time(45_296_789_012), t(TypeId::Time)),
            (Value::Timestamp(-1), DataType::TIMESTAMP),
            (Value::Timestamp(i64::MAX), DataType::TIMESTAMP),
            (Value::TimestampTz(789_000_000_123), DataType::TIMESTAMPTZ),
            (Value::TimestampTz(i64::MIN), DataType::TIMESTAMPTZ),
            (
                Value::Interval(Interval {
                    months: -14,
                    days: 3,
                    micros: -4_000_000,
                }),
                t(TypeId::Interval),
            ),
            (Value::Uuid(*b"0123456789abcdef"), DataType::UUID),
            (
                Value::Array(ArrayValue::one_dim(
                    TypeId::Int4,
                    vec![Value::Int4(1), Value::Null, Value::Int4(-3)],
                )),
                DataType::array_of(TypeId::Int4),
            ),
            (
                Value::Array(ArrayValue {
                    element_type: TypeId::Text,
                    dims: RVec::from(vec![
                        ArrayDim { len: 2, lower: 1 },
                        ArrayDim { len: 2, lower: -3 },
                    ]),
                    elements: RVec::from(vec![
                        text_value("a"),
                        text_value("b,c"),
                        Value::Null,
                        text_value(""),
                    ]),
                }),
                DataType::array_of(TypeId::Text),
            ),
            (
                Value::Array(ArrayValue::one_dim(
                    TypeId::Numeric,
                    vec![num("1.5"), num("NaN"), Value::Null, num("-0.001")],
                )),
                DataType::array_of(TypeId::Numeric),
            ),
            (
                Value::Array(ArrayValue::one_dim(TypeId::Float8, vec![])),
                DataType::array_of(TypeId::Float8),
            ),
            (
                Value::Array(ArrayValue::one_dim(
                    TypeId::Uuid,
                    vec![Value::Uuid([7; 16]), Value::Null],
                )),
                DataType::array_of(TypeId::Uuid),
            ),
        ]
    }

    #[test]
    fn round_trips() {
        for (v, ty) in samples() {
            round_trip(&v, &ty);
        }
    }

    #[test]
    fn every_builtin_has_a_sample() {
        let s = samples();
        for t in TypeId::BUILTINS {
            assert!(s.iter().any(|(_, ty)| ty.id == t), "{t:?}");
        }
    }

    /// Fixed-size and structured encodings: no prefix and no extension of a
    /// valid encoding decodes.
    #[test]
    fn truncated_and_oversized() {
        for (v, ty) in samples() {
            let bytes = enc(&v, &ty);
            let free_form = matches!(
                ty.id,
                TypeId::Text | TypeId::Varchar | TypeId::Char | TypeId::Bytea
            ) && !ty.is_array;
            if free_form {
                continue;
            }
            for cut in 0..bytes.len() {
                // A json prefix can itself be valid json text.
                if matches!(ty.id, TypeId::Json | TypeId::Jsonb) && !ty.is_array {
                    break;
                }
                assert!(
                    decode_binary(&bytes[..cut], &ty).is_err(),
                    "{v:?} cut at {cut}"
                );
            }
            let mut longer = bytes.clone();
            longer.push(0);
            let r = decode_binary(&longer, &ty);
            assert!(r.is_err(), "{v:?} with a trailing byte: {r:?}");
        }
        let e = decode_binary(&[0, 0, 0], &DataType::INT4).unwrap_err();
        assert_eq!(e.sqlstate.as_str(), "22P03");
        assert_eq!(
            e.message.as_str(),
            "incorrect binary data format in bind parameter"
        );
    }

    #[test]
    fn garbage_never_panics() {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut types: Vec<DataType> = TypeId::BUILTINS
            .iter()
            .flat_map(|&t| [DataType::scalar(t), DataType::array_of(t)])
            .collect();
        types.push(DataType::numeric(5, 2));
        for ty in &types {
            for _ in 0..300 {
                let len = (next() % 40) as usize;
                let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                let _ = decode_binary(&bytes, ty);
            }
            // Valid headers with hostile counts.
            for (v, _) in samples().into_iter().filter(|(_, t)| t == ty) {
                let bytes = enc(&v, ty);
                for i in 0..bytes.len() {
                    let mut b = bytes.clone();
                    b[i] = 0xff;
                    let _ = decode_binary(&b, ty);
                    b[i] = 0x7f;
                    let _ = decode_binary(&b, ty);
                }
            }
        }
    }

    #[test]
    fn matches_postgres_protocol_encoders() {
        fn pp(f: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
            let mut b = BytesMut::new();
            f(&mut b);
            b.to_vec()
        }
        let t = |id| DataType::scalar(id);
        assert_eq!(
            enc(&Value::Bool(true), &DataType::BOOL),
            pp(|b| pt::bool_to_sql(true, b))
        );
        assert_eq!(
            enc(&Value::Int2(-300), &DataType::INT2),
            pp(|b| pt::int2_to_sql(-300, b))
        );
        assert_eq!(
            enc(&Value::Int4(-7), &DataType::INT4),
            pp(|b| pt::int4_to_sql(-7, b))
        );
        assert_eq!(
            enc(&Value::Int8(1 << 40), &DataType::INT8),
            pp(|b| pt::int8_to_sql(1 << 40, b))
        );
        assert_eq!(
            enc(&Value::Float4(-2.25), &DataType::FLOAT4),
            pp(|b| pt::float4_to_sql(-2.25, b))
        );
        assert_eq!(
            enc(&Value::Float8(std::f64::consts::PI), &DataType::FLOAT8),
            pp(|b| pt::float8_to_sql(std::f64::consts::PI, b))
        );
        assert_eq!(
            enc(&text_value("straße"), &DataType::TEXT),
            pp(|b| pt::text_to_sql("straße", b))
        );
        assert_eq!(
            enc(&Value::Bytea(RVec::from(vec![1, 2])), &DataType::BYTEA),
            pp(|b| pt::bytea_to_sql(&[1, 2], b))
        );
        assert_eq!(
            enc(&Value::Date(-5), &DataType::DATE),
            pp(|b| pt::date_to_sql(-5, b))
        );
        assert_eq!(
            enc(&Value::Time(3_600_000_000), &t(TypeId::Time)),
            pp(|b| pt::time_to_sql(3_600_000_000, b))
        );
        assert_eq!(
            enc(&Value::Timestamp(-42), &DataType::TIMESTAMP),
            pp(|b| pt::timestamp_to_sql(-42, b))
        );
        assert_eq!(
            enc(&Value::TimestampTz(42), &DataType::TIMESTAMPTZ),
            pp(|b| pt::timestamp_to_sql(42, b))
        );
        assert_eq!(
            enc(&Value::Uuid([9; 16]), &DataType::UUID),
            pp(|b| pt::uuid_to_sql([9; 16], b))
        );
        // Readers agree too.
        assert_eq!(
            pt::int4_from_sql(&enc(&Value::Int4(99), &DataType::INT4)).unwrap(),
            99
        );
        assert_eq!(
            pt::timestamp_from_sql(&enc(&Value::Timestamp(-9), &DataType::TIMESTAMP)).unwrap(),
            -9
        );

        // Arrays: a 2x2 int8 array with a NULL and lower bounds 1 and 0.
        let ours = enc(
            &Value::Array(ArrayValue {
                element_type: TypeId::Int8,
                dims: RVec::from(vec![
                    ArrayDim { len: 2, lower: 1 },
                    ArrayDim { len: 2, lower: 0 },
                ]),
                elements: RVec::from(vec![
                    Value::Int8(1),
                    Value::Null,
                    Value::Int8(-1),
                    Value::Int8(i64::MAX),
                ]),
            }),
            &DataType::array_of(TypeId::Int8),
        );
        let theirs = pp(|b| {
            pt::array_to_sql(
                [
                    pt::ArrayDimension {
                        len: 2,
                        lower_bound: 1,
                    },
                    pt::ArrayDimension {
                        len: 2,
                        lower_bound: 0,
                    },
                ],
                20,
                [Some(1i64), None, Some(-1), Some(i64::MAX)],
                |e, buf| {
                    Ok(match e {
                        Some(v) => {
                            pt::int8_to_sql(v, buf);
                            IsNull::No
                        }
                        None => IsNull::Yes,
                    })
                },
                b,
            )
            .unwrap()
        });
        assert_eq!(ours, theirs);
        let parsed = pt::array_from_sql(&ours).unwrap();
        assert!(parsed.has_nulls());
        assert_eq!(parsed.element_type(), 20);
        let dims: Vec<_> = parsed.dimensions().collect().unwrap();
        assert_eq!(dims.len(), 2);
        let values: Vec<Option<&[u8]>> = parsed.values().collect().unwrap();
        assert_eq!(values.len(), 4);
        assert!(values[1].is_none());
    }

    #[test]
    fn numeric_bytes() {
        // 12345.678 = 1|2345.6780 (base 10000), weight 1, dscale 3.
        let b = enc(&num("12345.678"), &DataType::NUMERIC);
        let want: Vec<u8> = [3i16, 1, 0, 3, 1, 2345, 6780]
            .iter()
            .flat_map(|x| x.to_be_bytes())
            .collect();
        assert_eq!(b, want);
        let b = enc(&num("-0.5"), &DataType::NUMERIC);
        assert_eq!(b, [0, 1, 0xff, 0xff, 0x40, 0, 0, 1, 0x13, 0x88]);
        for (s, sign) in [
            ("NaN", 0xC000u16),
            ("Infinity", 0xD000),
            ("-Infinity", 0xF000),
        ] {
            let b = enc(&num(s), &DataType::NUMERIC);
            let mut want = vec![0, 0, 0, 0];
            want.extend_from_slice(&sign.to_be_bytes());
            want.extend_from_slice(&[0, 0]);
            assert_eq!(b, want, "{s}");
        }
    }

    fn numeric_wire(ndigits: i16, weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&ndigits.to_be_bytes());
        b.extend_from_slice(&weight.to_be_bytes());
        b.extend_from_slice(&sign.to_be_bytes());
        b.extend_from_slice(&dscale.to_be_bytes());
        for d in digits {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b
    }

    #[test]
    fn numeric_receive_normalises_and_validates() {
        let dec = |b: &[u8]| decode_binary(b, &DataType::NUMERIC);
        // Leading and trailing zero digits, as some drivers send them.
        let v = dec(&numeric_wire(4, 2, 0, 2, &[0, 12, 3400, 0])).unwrap();
        assert_eq!(v, num("123400.00"));
        // Digits hidden by dscale are truncated: 1.23456 with dscale 2.
        let v = dec(&numeric_wire(3, 0, 0, 2, &[1, 2345, 6000])).unwrap();
        assert_eq!(v, num("1.23"));
        // Negative zero is zero.
        let v = dec(&numeric_wire(1, 0, 0x4000, 1, &[0])).unwrap();
        assert_eq!(v, num("0.0"));
        // typmod applies.
        let v = decode_binary(
            &numeric_wire(2, 0, 0, 3, &[1, 2350]),
            &DataType::numeric(5, 1),
        )
        .unwrap();
        assert_eq!(v, num("1.2"));
        let e =
            decode_binary(&numeric_wire(1, 1, 0, 0, &[1]), &DataType::numeric(3, 0)).unwrap_err();
        assert_eq!(e.sqlstate.as_str(), "22003");
        // Invalid: digit >= 10000, negative digit, bad sign, bad dscale,
        // negative count, count beyond the body.
        for b in [
            numeric_wire(1, 0, 0, 0, &[10000]),
            numeric_wire(1, 0, 0, 0, &[-1]),
            numeric_wire(1, 0, 0x8000, 0, &[1]),
            numeric_wire(1, 0, 0, 0x4000, &[1]),
            numeric_wire(-1, 0, 0, 0, &[]),
            numeric_wire(5, 0, 0, 0, &[1]),
            numeric_wire(3001, 0, 0, 0, &[]),
        ] {
            let e = dec(&b).unwrap_err();
            assert_eq!(e.sqlstate.as_str(), "22P03", "{b:?}: {e}");
        }
        // NaN with digits is accepted as NaN (PostgreSQL ignores them).
        assert_eq!(
            dec(&numeric_wire(1, 0, 0xC000, 0, &[5])).unwrap(),
            num("NaN")
        );
    }

    #[test]
    fn integer_widths_follow_the_declared_type() {
        assert_eq!(enc(&Value::Int4(7), &DataType::INT8), 7i64.to_be_bytes());
        assert_eq!(
            enc(&Value::Int2(-7), &DataType::INT4),
            (-7i32).to_be_bytes()
        );
        assert_eq!(
            enc(&Value::Int8(300), &DataType::INT2),
            300i16.to_be_bytes()
        );
        let mut out = Vec::new();
        let e = encode_binary(&Value::Int8(1 << 40), &DataType::INT4, &mut out).unwrap_err();
        assert_eq!(e.sqlstate.as_str(), "22003");
        let e = encode_binary(&Value::Int4(40000), &DataType::INT2, &mut out).unwrap_err();
        assert_eq!(e.message.as_str(), "smallint out of range");
        assert_eq!(
            enc(&Value::Int4(3), &DataType::FLOAT8),
            3f64.to_bits().to_be_bytes()
        );
        assert_eq!(
            enc(&Value::Int8(-5), &DataType::NUMERIC),
            enc(&num("-5"), &DataType::NUMERIC)
        );
        // Elements of an int8[] column holding int4 values.
        let a = Value::Array(ArrayValue::one_dim(TypeId::Int4, vec![Value::Int4(1)]));
        let b = enc(&a, &DataType::array_of(TypeId::Int8));
        assert_eq!(
            decode_binary(&b, &DataType::array_of(TypeId::Int8)).unwrap(),
            Value::Array(ArrayValue::one_dim(TypeId::Int8, vec![Value::Int8(1)]))
        );
        // Mismatches and NULL are errors, not garbage.
        let e = encode_binary(&text_value("x"), &DataType::INT4, &mut out).unwrap_err();
        assert_eq!(e.sqlstate.as_str(), "42804");
        assert!(encode_binary(&Value::Null, &DataType::INT4, &mut out).is_err());
        assert!(
            encode_binary(&Value::Int4(1), &DataType::array_of(TypeId::Int4), &mut out).is_err()
        );
        // No declared type: the value's own.
        assert_eq!(
            enc(&Value::Int2(1), &DataType::UNKNOWN),
            enc(&Value::Int2(1), &DataType::INT2)
        );
    }

    #[test]
    fn ext_values() {
        let vt = DataType::scalar(TypeId::Ext(16400)).with_typmod(3);
        let v = Value::Ext(ExtValue {
            type_oid: 16400,
            payload: ExtPayload::Floats(RVec::from(vec![1.0, -2.5, 0.0])),
        });
        let b = enc(&v, &vt);
        let mut want = vec![0, 3, 0, 0];
        for x in [1.0f32, -2.5, 0.0] {
            want.extend_from_slice(&x.to_be_bytes());
        }
        assert_eq!(b, want);
        assert_eq!(decode_vector_binary(&b, &vt).unwrap(), v);
        assert!(decode_vector_binary(&b[..b.len() - 1], &vt).is_err());
        assert!(decode_vector_binary(&b, &vt.with_typmod(4)).is_err());
        let mut nan = b.clone();
        nan[4..8].copy_from_slice(&f32::NAN.to_be_bytes());
        assert!(decode_vector_binary(&nan, &vt).is_err());
        assert!(decode_vector_binary(&[0, 0, 0, 0], &vt.with_typmod(-1)).is_err());
        assert!(decode_vector_binary(&[0, 1, 0, 1, 0, 0, 0, 0], &vt).is_err());

        let bt = DataType::scalar(TypeId::Ext(16500));
        let v = Value::Ext(ExtValue {
            type_oid: 16500,
            payload: ExtPayload::Bytes(RVec::from(vec![1, 2, 3])),
        });
        assert_eq!(round_trip(&v, &bt), [1, 2, 3]);
    }

    #[test]
    fn array_validation() {
        let ty = DataType::array_of(TypeId::Int4);
        let header = |ndim: i32, flags: i32, oid: u32| {
            let mut b = Vec::new();
            b.extend_from_slice(&ndim.to_be_bytes());
            b.extend_from_slice(&flags.to_be_bytes());
            b.extend_from_slice(&oid.to_be_bytes());
            b
        };
        // Empty array.
        assert_eq!(
            decode_binary(&header(0, 0, 23), &ty).unwrap(),
            Value::Array(ArrayValue::one_dim(TypeId::Int4, vec![]))
        );
        // Wrong element type.
        let e = decode_binary(&header(0, 0, 25), &ty).unwrap_err();
        assert_eq!(e.sqlstate.as_str(), "42804");
        // Bad flags, negative and too many dimensions.
        assert!(decode_binary(&header(0, 2, 23), &ty).is_err());
        assert!(decode_binary(&header(-1, 0, 23), &ty).is_err());
        assert!(decode_binary(&header(7, 0, 23), &ty).is_err());
        // A count the body cannot hold.
        let mut b = header(2, 0, 23);
        for _ in 0..2 {
            b.extend_from_slice(&i32::MAX.to_be_bytes());
            b.extend_from_slice(&1i32.to_be_bytes());
        }
        assert!(decode_binary(&b, &ty).is_err());
        // Lower bound overflow.
        let mut b = header(1, 0, 23);
        b.extend_from_slice(&2i32.to_be_bytes());
        b.extend_from_slice(&i32::MAX.to_be_bytes());
        b.extend_from_slice(&[0; 16]);
        assert!(decode_binary(&b, &ty).is_err());
        // Element length -2, and an element of the wrong width.
        for (len, body) in [(-2i32, &[][..]), (2, &[0, 1][..])] {
            let mut b = header(1, 0, 23);
            b.extend_from_slice(&1i32.to_be_bytes());
            b.extend_from_slice(&1i32.to_be_bytes());
            b.extend_from_slice(&len.to_be_bytes());
            b.extend_from_slice(body);
            assert!(decode_binary(&b, &ty).is_err(), "len {len}");
        }
        // Unknown declared type: the element OID decides.
        let v = Value::Array(ArrayValue::one_dim(TypeId::Text, vec![text_value("x")]));
        let b = enc(&v, &DataType::array_of(TypeId::Text));
        assert_eq!(
            decode_binary(&b, &DataType::array_of(TypeId::Unknown)).unwrap(),
            v
        );
        // Inconsistent dims are refused on output.
        let bad = Value::Array(ArrayValue {
            element_type: TypeId::Int4,
            dims: RVec::from(vec![ArrayDim { len: 3, lower: 1 }]),
            elements: RVec::from(vec![Value::Int4(1)]),
        });
        assert!(encode_binary(&bad, &ty, &mut Vec::new()).is_err());
    }

    #[test]
    fn datetime_receive_checks() {
        let e = decode_binary(&(DATE_MAX_DAYS + 1).to_be_bytes(), &DataType::DATE).unwrap_err();
        assert_eq!(e.sqlstate.as_str(), "22008");
        let t = DataType::scalar(TypeId::Time);
        assert!(decode_binary(&(-1i64).to_be_bytes(), &t).is_err());
        assert!(decode_binary(&(USECS_PER_DAY + 1).to_be_bytes(), &t).is_err());
        assert!(decode_binary(
            &(TIMESTAMP_MAX_MICROS + 1).to_be_bytes(),
            &DataType::TIMESTAMP
        )
        .is_err());
        // timestamp(0) rounds half away from zero.
        let ts0 = DataType::TIMESTAMP.with_typmod(0);
        assert_eq!(
            decode_binary(&1_500_000i64.to_be_bytes(), &ts0).unwrap(),
            Value::Timestamp(2_000_000)
        );
        assert_eq!(
            decode_binary(&(-1_500_000i64).to_be_bytes(), &ts0).unwrap(),
            Value::Timestamp(-2_000_000)
        );
        assert_eq!(
            decode_binary(&1_234_567i64.to_be_bytes(), &t.with_typmod(2)).unwrap(),
            Value::Time(1_230_000)
        );
    }

    #[test]
    fn text_like_binary_receive() {
        // varchar(n) and json validation apply as for text input.
        let e = decode_binary(b"abcdef", &DataType::varchar(3)).unwrap_err();
        assert_eq!(e.sqlstate.as_str(), "22001");
        assert!(decode_binary(b"{", &DataType::scalar(TypeId::Json)).is_err());
        assert!(decode_binary(b"\x02{}", &DataType::JSONB).is_err());
        assert!(decode_binary(b"", &DataType::JSONB).is_err());
        let e = decode_binary(b"a\xffb", &DataType::TEXT).unwrap_err();
        assert_eq!(e.sqlstate.as_str(), "22021");
        assert!(decode_binary(b"a\0b", &DataType::TEXT).is_err());
        assert_eq!(
            decode_binary(b"\x01", &DataType::BOOL).unwrap(),
            Value::Bool(true)
        );
    }

    #[test]
    fn text_format() {
        let o = FormatOptions::utc();
        let mut out = Vec::new();
        for (v, want) in [
            (Value::Int2(-32768), "-32768"),
            (Value::Int4(0), "0"),
            (Value::Int8(i64::MIN), "-9223372036854775808"),
            (Value::Int8(i64::MAX), "9223372036854775807"),
            (Value::Bool(false), "f"),
            (text_value("x y"), "x y"),
            (num("-12.50"), "-12.50"),
            (Value::Float8(0.1), "0.1"),
            (Value::Bytea(RVec::from(vec![0xde, 0xad])), "\\xdead"),
            (Value::Date(0), "2000-01-01"),
            (
                Value::Array(ArrayValue::one_dim(
                    TypeId::Text,
                    vec![text_value("a b"), Value::Null],
                )),
                "{\"a b\",NULL}",
            ),
        ] {
            out.clear();
            encode_text(&v, o, &mut out);
            assert_eq!(std::str::from_utf8(&out).unwrap(), want);
            // And text input reads it back.
            if let Some(ty) = v.data_type() {
                let back = decode_text(&out, &ty, o).unwrap();
                assert_eq!(back, v, "{want}");
            }
        }
        // NULL writes nothing; appends keep what was there.
        out = b"ab".to_vec();
        encode_text(&Value::Null, o, &mut out);
        encode_text(&Value::Int4(5), o, &mut out);
        assert_eq!(out, b"ab5");
        let e = decode_text(b"\xc3\x28", &DataType::TEXT, o).unwrap_err();
        assert_eq!(e.sqlstate.as_str(), "22021");
        assert_eq!(
            e.message.as_str(),
            "invalid byte sequence for encoding \"UTF8\": 0xc3"
        );
        assert!(decode_text(b"12x", &DataType::INT4, o).is_err());
    }
}
