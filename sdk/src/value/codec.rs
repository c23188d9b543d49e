//! A compact binary form of one value: a tag byte, then a little-endian
//! payload. Storage backends pack rows with it (one allocation per row
//! version instead of a value array plus one per string) and the durable
//! backend writes it to pages and the WAL.
//!
//! The format is stable: tags are never renumbered, new kinds get new tags.
//! Decoding checks every length, so a corrupt buffer gives XX001, never a
//! panic.

use abi_stable::std_types::{RString, RVec};

use super::{ArrayDim, ArrayValue, ExtPayload, ExtValue, Interval, Numeric, NumericKind, Value};
use crate::error::{AionError, DbResult, SqlState};
use crate::types::{TypeId, FIRST_EXT_OID};

const NULL: u8 = 0;
const BOOL: u8 = 1;
const INT2: u8 = 2;
const INT4: u8 = 3;
const INT8: u8 = 4;
const FLOAT4: u8 = 5;
const FLOAT8: u8 = 6;
const NUMERIC: u8 = 7;
const TEXT: u8 = 8;
const BYTEA: u8 = 9;
const DATE: u8 = 10;
const TIME: u8 = 11;
const TIMESTAMP: u8 = 12;
const TIMESTAMPTZ: u8 = 13;
const INTERVAL: u8 = 14;
const UUID: u8 = 15;
const JSON: u8 = 16;
const JSONB: u8 = 17;
const ARRAY: u8 = 18;
const EXT_BYTES: u8 = 19;
const EXT_FLOATS: u8 = 20;

fn put_len(out: &mut Vec<u8>, n: usize) {
    // Values are bounded far below 4 GiB by the statement memory limits.
    out.extend_from_slice(&(n as u32).to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, tag: u8, b: &[u8]) {
    out.push(tag);
    put_len(out, b.len());
    out.extend_from_slice(b);
}

/// Appends the binary form of `v` to `out`.
pub fn encode(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(NULL),
        Value::Bool(b) => out.extend_from_slice(&[BOOL, u8::from(*b)]),
        Value::Int2(x) => {
            out.push(INT2);
            out.extend_from_slice(&x.to_le_bytes());
        }
        Value::Int4(x) => {
            out.push(INT4);
            out.extend_from_slice(&x.to_le_bytes());
        }
        Value::Int8(x) => {
            out.push(INT8);
            out.extend_from_slice(&x.to_le_bytes());
        }
        Value::Float4(x) => {
            out.push(FLOAT4);
            out.extend_from_slice(&x.to_bits().to_le_bytes());
        }
        Value::Float8(x) => {
            out.push(FLOAT8);
            out.extend_from_slice(&x.to_bits().to_le_bytes());
        }
        Value::Numeric(n) => {
            out.push(NUMERIC);
            out.push(n.kind as u8);
            out.push(u8::from(n.negative));
            out.extend_from_slice(&n.weight.to_le_bytes());
            out.extend_from_slice(&n.dscale.to_le_bytes());
            put_len(out, n.digits.len());
            for d in n.digits.iter() {
                out.extend_from_slice(&d.to_le_bytes());
            }
        }
        Value::Text(s) => put_bytes(out, TEXT, s.as_bytes()),
        Value::Bytea(b) => put_bytes(out, BYTEA, b),
        Value::Date(d) => {
            out.push(DATE);
            out.extend_from_slice(&d.to_le_bytes());
        }
        Value::Time(t) => {
            out.push(TIME);
            out.extend_from_slice(&t.to_le_bytes());
        }
        Value::Timestamp(t) => {
            out.push(TIMESTAMP);
            out.extend_from_slice(&t.to_le_bytes());
        }
        Value::TimestampTz(t) => {
            out.push(TIMESTAMPTZ);
            out.extend_from_slice(&t.to_le_bytes());
        }
        Value::Interval(iv) => {
            out.push(INTERVAL);
            out.extend_from_slice(&iv.months.to_le_bytes());
            out.extend_from_slice(&iv.days.to_le_bytes());
            out.extend_from_slice(&iv.micros.to_le_bytes());
        }
        Value::Uuid(u) => {
            out.push(UUID);
            out.extend_from_slice(u);
        }
        Value::Json(s) => put_bytes(out, JSON, s.as_bytes()),
        Value::Jsonb(s) => put_bytes(out, JSONB, s.as_bytes()),
        Value::Array(a) => {
            out.push(ARRAY);
            out.extend_from_slice(&a.element_type.oid().to_le_bytes());
            put_len(out, a.dims.len());
            for d in a.dims.iter() {
                out.extend_from_slice(&d.len.to_le_bytes());
                out.extend_from_slice(&d.lower.to_le_bytes());
            }
            put_len(out, a.elements.len());
            for e in a.elements.iter() {
                encode(e, out);
            }
        }
        Value::Ext(e) => match &e.payload {
            ExtPayload::Bytes(b) => {
                out.push(EXT_BYTES);
                out.extend_from_slice(&e.type_oid.to_le_bytes());
                put_len(out, b.len());
                out.extend_from_slice(b);
            }
            ExtPayload::Floats(f) => {
                out.push(EXT_FLOATS);
                out.extend_from_slice(&e.type_oid.to_le_bytes());
                put_len(out, f.len());
                for x in f.iter() {
                    out.extend_from_slice(&x.to_bits().to_le_bytes());
                }
            }
        },
    }
}

/// The number of bytes `encode` appends for `v`.
pub fn encoded_len(v: &Value) -> usize {
    match v {
        Value::Null => 1,
        Value::Bool(_) => 2,
        Value::Int2(_) => 3,
        Value::Int4(_) | Value::Float4(_) | Value::Date(_) => 5,
        Value::Int8(_)
        | Value::Float8(_)
        | Value::Time(_)
        | Value::Timestamp(_)
        | Value::TimestampTz(_) => 9,
        Value::Numeric(n) => 11 + 2 * n.digits.len(),
        Value::Text(s) | Value::Json(s) | Value::Jsonb(s) => 5 + s.len(),
        Value::Bytea(b) => 5 + b.len(),
        Value::Interval(_) => 17,
        Value::Uuid(_) => 17,
        Value::Array(a) => {
            13 + 8 * a.dims.len() + a.elements.iter().map(encoded_len).sum::<usize>()
        }
        Value::Ext(e) => match &e.payload {
            ExtPayload::Bytes(b) => 9 + b.len(),
            ExtPayload::Floats(f) => 9 + 4 * f.len(),
        },
    }
}

fn corrupt(what: &str) -> AionError {
    AionError::new(
        SqlState::DATA_CORRUPTED,
        format!("invalid encoded value: {what}"),
    )
}

/// A bounds-checked reader over an encoded buffer.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> DbResult<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| corrupt("truncated"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> DbResult<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> DbResult<u8> {
        Ok(self.array::<1>()?[0])
    }

    fn len(&mut self) -> DbResult<usize> {
        let n = u32::from_le_bytes(self.array()?) as usize;
        // Every counted item takes at least one byte: a count beyond what
        // is left is corrupt (and would otherwise pre-allocate wildly).
        if n > self.buf.len() - self.pos {
            return Err(corrupt("length beyond the buffer"));
        }
        Ok(n)
    }

    fn str(&mut self) -> DbResult<&'a str> {
        let n = self.len()?;
        std::str::from_utf8(self.take(n)?).map_err(|_| corrupt("text is not UTF-8"))
    }

    fn value(&mut self, depth: u32) -> DbResult<Value> {
        Ok(match self.u8()? {
            NULL => Value::Null,
            BOOL => match self.u8()? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                _ => return Err(corrupt("bad boolean")),
            },
            INT2 => Value::Int2(i16::from_le_bytes(self.array()?)),
            INT4 => Value::Int4(i32::from_le_bytes(self.array()?)),
            INT8 => Value::Int8(i64::from_le_bytes(self.array()?)),
            FLOAT4 => Value::Float4(f32::from_bits(u32::from_le_bytes(self.array()?))),
            FLOAT8 => Value::Float8(f64::from_bits(u64::from_le_bytes(self.array()?))),
            NUMERIC => {
                let kind = match self.u8()? {
                    0 => NumericKind::Finite,
                    1 => NumericKind::NaN,
                    2 => NumericKind::PosInf,
                    3 => NumericKind::NegInf,
                    _ => return Err(corrupt("bad numeric kind")),
                };
                let negative = self.u8()? != 0;
                let weight = i16::from_le_bytes(self.array()?);
                let dscale = u16::from_le_bytes(self.array()?);
                let n = self.len()?;
                let mut digits = RVec::with_capacity(n);
                for _ in 0..n {
                    digits.push(u16::from_le_bytes(self.array()?));
                }
                Value::Numeric(Numeric {
                    kind,
                    negative,
                    digits,
                    weight,
                    dscale,
                })
            }
            TEXT => Value::Text(RString::from(self.str()?)),
            BYTEA => {
                let n = self.len()?;
                Value::Bytea(RVec::from(self.take(n)?))
            }
            DATE => Value::Date(i32::from_le_bytes(self.array()?)),
            TIME => Value::Time(i64::from_le_bytes(self.array()?)),
            TIMESTAMP => Value::Timestamp(i64::from_le_bytes(self.array()?)),
            TIMESTAMPTZ => Value::TimestampTz(i64::from_le_bytes(self.array()?)),
            INTERVAL => Value::Interval(Interval {
                months: i32::from_le_bytes(self.array()?),
                days: i32::from_le_bytes(self.array()?),
                micros: i64::from_le_bytes(self.array()?),
            }),
            UUID => Value::Uuid(self.array()?),
            JSON => Value::Json(RString::from(self.str()?)),
            JSONB => Value::Jsonb(RString::from(self.str()?)),
            ARRAY => {
                // Arrays nest only as deep as their dimensions; anything
                // deeper is corrupt.
                if depth > 8 {
                    return Err(corrupt("arrays nested too deeply"));
                }
                let oid = u32::from_le_bytes(self.array()?);
                let element_type = type_of_oid(oid)?;
                let nd = self.len()?;
                let mut dims = RVec::with_capacity(nd);
                for _ in 0..nd {
                    dims.push(ArrayDim {
                        len: i32::from_le_bytes(self.array()?),
                        lower: i32::from_le_bytes(self.array()?),
                    });
                }
                let ne = self.len()?;
                let mut elements = RVec::with_capacity(ne);
                for _ in 0..ne {
                    elements.push(self.value(depth + 1)?);
                }
                Value::Array(ArrayValue {
                    element_type,
                    dims,
                    elements,
                })
            }
            EXT_BYTES => {
                let type_oid = u32::from_le_bytes(self.array()?);
                let n = self.len()?;
                Value::Ext(ExtValue {
                    type_oid,
                    payload: ExtPayload::Bytes(RVec::from(self.take(n)?)),
                })
            }
            EXT_FLOATS => {
                let type_oid = u32::from_le_bytes(self.array()?);
                let n = self.len()?;
                let raw = self.take(n.checked_mul(4).ok_or_else(|| corrupt("too long"))?)?;
                let floats: RVec<f32> = raw
                    .chunks_exact(4)
                    .map(|c| f32::from_bits(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                    .collect();
                Value::Ext(ExtValue {
                    type_oid,
                    payload: ExtPayload::Floats(floats),
                })
            }
            t => return Err(corrupt(&format!("unknown tag {t}"))),
        })
    }
}

fn type_of_oid(oid: u32) -> DbResult<TypeId> {
    if oid >= FIRST_EXT_OID {
        return Ok(TypeId::Ext(oid));
    }
    if oid == TypeId::Any.oid() {
        return Ok(TypeId::Any);
    }
    TypeId::from_oid(oid).ok_or_else(|| corrupt(&format!("unknown element type {oid}")))
}

/// Decodes the value at the front of `buf`; returns it and the number of
/// bytes it took.
pub fn decode(buf: &[u8]) -> DbResult<(Value, usize)> {
    let mut r = Reader { buf, pos: 0 };
    let v = r.value(0)?;
    Ok((v, r.pos))
}

/// The integer an encoded `int2`/`int4`/`int8` holds, without decoding
/// anything else (index probes compare integer keys this way).
#[inline]
pub fn peek_int(buf: &[u8]) -> Option<i64> {
    match *buf.first()? {
        INT2 => Some(i64::from(i16::from_le_bytes(
            buf.get(1..3)?.try_into().ok()?,
        ))),
        INT4 => Some(i64::from(i32::from_le_bytes(
            buf.get(1..5)?.try_into().ok()?,
        ))),
        INT8 => Some(i64::from_le_bytes(buf.get(1..9)?.try_into().ok()?)),
        _ => None,
    }
}

/// The string an encoded `text` value holds, borrowed.
#[inline]
pub fn peek_text(buf: &[u8]) -> Option<&str> {
    if *buf.first()? != TEXT {
        return None;
    }
    let n = u32::from_le_bytes(buf.get(1..5)?.try_into().ok()?) as usize;
    let bytes = buf.get(5..5usize.checked_add(n)?)?;
    // Short ASCII strings (most keys and labels) skip the general UTF-8
    // validator, which costs several times more on them.
    if bytes.is_ascii() {
        // SAFETY: every ASCII byte sequence is valid UTF-8.
        return Some(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes).ok()
}

/// The value at the start of `buf` when it is one of the common scalar
/// kinds (NULL, booleans, integers, floats, text, dates and times), without
/// the general decoder's error plumbing; `None` for every other kind and for
/// a malformed encoding, which `decode` then reports. Row readers try this
/// first: most columns are of these kinds.
#[inline]
pub fn decode_scalar(buf: &[u8]) -> Option<Value> {
    fn arr<const N: usize>(buf: &[u8]) -> Option<[u8; N]> {
        buf.get(1..1 + N)?.try_into().ok()
    }
    Some(match *buf.first()? {
        NULL => Value::Null,
        BOOL => match *buf.get(1)? {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            _ => return None,
        },
        INT2 => Value::Int2(i16::from_le_bytes(arr(buf)?)),
        INT4 => Value::Int4(i32::from_le_bytes(arr(buf)?)),
        INT8 => Value::Int8(i64::from_le_bytes(arr(buf)?)),
        FLOAT4 => Value::Float4(f32::from_bits(u32::from_le_bytes(arr(buf)?))),
        FLOAT8 => Value::Float8(f64::from_bits(u64::from_le_bytes(arr(buf)?))),
        TEXT => Value::Text(RString::from(peek_text(buf)?)),
        DATE => Value::Date(i32::from_le_bytes(arr(buf)?)),
        TIME => Value::Time(i64::from_le_bytes(arr(buf)?)),
        TIMESTAMP => Value::Timestamp(i64::from_le_bytes(arr(buf)?)),
        TIMESTAMPTZ => Value::TimestampTz(i64::from_le_bytes(arr(buf)?)),
        _ => return None,
    })
}

/// Writes the binary form of `v` at the start of `out` for the common
/// scalar kinds (those `decode_scalar` reads), returning its length; `None`
/// for every other kind and when `out` is too short, where `encode` then
/// serves. Row writers with a fixed buffer try this first: it skips the
/// growable buffer's capacity checks and the length pass.
#[inline]
pub fn encode_scalar(v: &Value, out: &mut [u8]) -> Option<usize> {
    fn put<const N: usize>(out: &mut [u8], tag: u8, payload: [u8; N]) -> Option<usize> {
        let dst = out.get_mut(..1 + N)?;
        dst[0] = tag;
        dst[1..].copy_from_slice(&payload);
        Some(1 + N)
    }
    match v {
        Value::Null => {
            *out.first_mut()? = NULL;
            Some(1)
        }
        Value::Bool(b) => put(out, BOOL, [u8::from(*b)]),
        Value::Int2(x) => put(out, INT2, x.to_le_bytes()),
        Value::Int4(x) => put(out, INT4, x.to_le_bytes()),
        Value::Int8(x) => put(out, INT8, x.to_le_bytes()),
        Value::Float4(x) => put(out, FLOAT4, x.to_bits().to_le_bytes()),
        Value::Float8(x) => put(out, FLOAT8, x.to_bits().to_le_bytes()),
        Value::Date(x) => put(out, DATE, x.to_le_bytes()),
        Value::Time(x) => put(out, TIME, x.to_le_bytes()),
        Value::Timestamp(x) => put(out, TIMESTAMP, x.to_le_bytes()),
        Value::TimestampTz(x) => put(out, TIMESTAMPTZ, x.to_le_bytes()),
        Value::Text(s) => {
            let b = s.as_bytes();
            let len = u32::try_from(b.len()).ok()?;
            let dst = out.get_mut(..5 + b.len())?;
            dst[0] = TEXT;
            dst[1..5].copy_from_slice(&len.to_le_bytes());
            dst[5..].copy_from_slice(b);
            Some(5 + b.len())
        }
        _ => None,
    }
}

/// Whether the encoded value is NULL.
#[inline]
pub fn peek_null(buf: &[u8]) -> bool {
    buf.first() == Some(&NULL)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Value> {
        vec![
            Value::Null,
            Value::Bool(true),
            Value::Bool(false),
            Value::Int2(-7),
            Value::Int4(i32::MIN),
            Value::Int8(i64::MAX),
            Value::Float4(-0.5),
            Value::Float8(f64::NAN),
            Value::Float8(f64::NEG_INFINITY),
            Value::Numeric(Numeric::parse("-12345.678900").unwrap_or_else(Numeric::nan)),
            Value::Numeric(Numeric::nan()),
            Value::text(""),
            Value::text("héllo, wörld"),
            Value::Bytea(RVec::from(vec![0u8, 255, 7])),
            Value::Date(-730_000),
            Value::Time(86_399_999_999),
            Value::Timestamp(-1),
            Value::TimestampTz(1_700_000_000_000_000),
            Value::Interval(Interval {
                months: -3,
                days: 40,
                micros: 5,
            }),
            Value::Uuid([9; 16]),
            Value::Json(RString::from("{\"a\": [1, 2]}")),
            Value::Jsonb(RString::from("{\"a\": [1, 2]}")),
            Value::Array(ArrayValue::one_dim(
                TypeId::Text,
                vec![Value::text("a"), Value::Null, Value::text("c")],
            )),
            Value::Array(ArrayValue::one_dim(TypeId::Int4, vec![])),
            Value::Ext(ExtValue {
                type_oid: 20_000,
                payload: ExtPayload::Floats(RVec::from(vec![1.0f32, -2.5])),
            }),
            Value::Ext(ExtValue {
                type_oid: 20_001,
                payload: ExtPayload::Bytes(RVec::from(vec![1u8, 2, 3])),
            }),
        ]
    }

    #[test]
    fn every_kind_round_trips_and_length_matches() {
        for v in samples() {
            let mut buf = Vec::new();
            encode(&v, &mut buf);
            assert_eq!(buf.len(), encoded_len(&v), "{v:?}");
            let (back, used) = decode(&buf).expect("decodes");
            assert_eq!(used, buf.len());
            match (&v, &back) {
                (Value::Float8(a), Value::Float8(b)) => assert_eq!(a.to_bits(), b.to_bits()),
                _ => assert_eq!(v, back),
            }
        }
    }

    #[test]
    fn scalar_decoding_agrees_with_the_decoder_or_declines() {
        let mut declined = 0;
        for v in samples() {
            let mut buf = Vec::new();
            encode(&v, &mut buf);
            let (full, _) = decode(&buf).expect("decodes");
            match decode_scalar(&buf) {
                Some(Value::Float8(a)) => match full {
                    Value::Float8(b) => assert_eq!(a.to_bits(), b.to_bits()),
                    other => panic!("{other:?} read as a float8"),
                },
                Some(fast) => assert_eq!(fast, full),
                None => declined += 1,
            }
            // A cut-off encoding is declined (or, for NULL, complete).
            if buf.len() > 1 {
                assert!(decode_scalar(&buf[..buf.len() - 1]).is_none(), "{v:?}");
            }
        }
        // Numeric, bytea, interval, uuid, json, arrays and extensions.
        assert!(declined > 0);
        let mut bad_text = Vec::new();
        encode(&Value::text("ab"), &mut bad_text);
        let last = bad_text.len() - 1;
        bad_text[last] = 0xff;
        assert!(decode_scalar(&bad_text).is_none());
    }

    #[test]
    fn scalar_encoding_writes_what_the_encoder_writes_or_declines() {
        let mut declined = 0;
        for v in samples() {
            let mut full = Vec::new();
            encode(&v, &mut full);
            let mut buf = [0xaau8; 64];
            match encode_scalar(&v, &mut buf) {
                Some(n) => {
                    assert_eq!(&buf[..n], &full[..], "{v:?}");
                    // Exactly enough room works, one byte less declines.
                    assert_eq!(encode_scalar(&v, &mut buf[..n]), Some(n));
                    assert_eq!(encode_scalar(&v, &mut buf[..n - 1]), None, "{v:?}");
                }
                None => declined += 1,
            }
        }
        // Numeric, bytea, interval, uuid, json, arrays and extensions.
        assert!(declined > 0);
    }

    #[test]
    fn values_decode_back_to_back() {
        let mut buf = Vec::new();
        let vals = samples();
        for v in &vals {
            encode(v, &mut buf);
        }
        let mut pos = 0;
        for v in &vals {
            let (back, used) = decode(&buf[pos..]).expect("decodes");
            if !matches!(v, Value::Float8(_)) {
                assert_eq!(*v, back);
            }
            pos += used;
        }
        assert_eq!(pos, buf.len());
    }

    #[test]
    fn peeks_read_ints_and_text_in_place() {
        for (v, want) in [
            (Value::Int2(-3), Some(-3)),
            (Value::Int4(70_000), Some(70_000)),
            (Value::Int8(-1 << 40), Some(-1 << 40)),
            (Value::text("1"), None),
        ] {
            let mut buf = Vec::new();
            encode(&v, &mut buf);
            assert_eq!(peek_int(&buf), want);
        }
        let mut buf = Vec::new();
        encode(&Value::text("key"), &mut buf);
        assert_eq!(peek_text(&buf), Some("key"));
        assert!(!peek_null(&buf));
        assert!(peek_null(&[NULL]));
    }

    #[test]
    fn corrupt_buffers_are_errors_not_panics() {
        // Every truncation of every sample, plus unknown tags and lengths
        // pointing past the end.
        for v in samples() {
            let mut buf = Vec::new();
            encode(&v, &mut buf);
            for cut in 0..buf.len() {
                let e = decode(&buf[..cut]).expect_err("truncated input is rejected");
                assert_eq!(e.sqlstate, SqlState::DATA_CORRUPTED);
            }
        }
        for bad in [
            &[200u8][..],
            &[TEXT, 255, 255, 255, 255, b'a'],
            &[TEXT, 2, 0, 0, 0, 0xff, 0xfe],
            &[BOOL, 2],
            &[NUMERIC, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            &[ARRAY, 23, 0, 0, 0, 255, 255, 255, 127],
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
    }
}
