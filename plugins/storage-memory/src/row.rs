//! Packed row versions: a version's values in one allocation, in the
//! SDK's binary value encoding. A `Box<[Value]>` costs a value array plus
//! one allocation per string; reading a row then chases two or three
//! pointers, each a likely cache miss on a big table. Packed, a point read
//! touches the row slot and one buffer, and rows take a third of the
//! memory.
//!
//! Layout: `u16` column count, one `u32` start offset per column, then the
//! encoded columns back to back (a column ends where the next starts).
//!
//! Rows of up to `INLINE` bytes (most narrow rows) sit inside the version
//! itself: a point read then touches the row slot and nothing else, which
//! saves a dependent cache miss per lookup on a table bigger than the cache.

use std::cell::RefCell;

use aiondb_sdk::row::RowBatch;
use aiondb_sdk::value::{codec, Value};

const COUNT: usize = 2;
const OFF: usize = 4;
/// Inline capacity: with the length byte and the variant tag the row is 48
/// bytes, the size of the heap variant's neighbours in a version.
const INLINE: usize = 46;

pub(crate) enum PackedRow {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Box<[u8]>),
}

thread_local! {
    /// Encoding scratch: small rows are encoded here and copied inline, so
    /// writing one allocates nothing.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl PackedRow {
    pub fn new(values: &[Value]) -> PackedRow {
        let header = COUNT + OFF * values.len();
        if let Some(row) = Self::scalar_inline(values, header) {
            return row;
        }
        let body: usize = values.iter().map(codec::encoded_len).sum();
        if header + body > INLINE {
            let mut buf = Vec::with_capacity(header + body);
            Self::encode(values, header, &mut buf);
            return PackedRow::Heap(buf.into_boxed_slice());
        }
        SCRATCH.with(|s| {
            // A re-entrant call (none exists) would get a fresh buffer
            // instead of a panic.
            let mut own = Vec::new();
            let mut guard = s.try_borrow_mut().ok();
            let scratch = guard.as_deref_mut().unwrap_or(&mut own);
            scratch.clear();
            Self::encode(values, header, scratch);
            let mut buf = [0u8; INLINE];
            buf[..scratch.len()].copy_from_slice(scratch);
            PackedRow::Inline {
                len: scratch.len() as u8,
                buf,
            }
        })
    }

    /// A small row of common scalars, written straight into the inline
    /// buffer; `None` when a value is of another kind or the row does not
    /// fit, and the general path then decides.
    #[inline]
    fn scalar_inline(values: &[Value], header: usize) -> Option<PackedRow> {
        let mut buf = [0u8; INLINE];
        buf.get_mut(..COUNT)?
            .copy_from_slice(&(values.len() as u16).to_le_bytes());
        let mut end = header;
        for (i, v) in values.iter().enumerate() {
            let at = COUNT + OFF * i;
            buf.get_mut(at..at + OFF)?
                .copy_from_slice(&(end as u32).to_le_bytes());
            end += codec::encode_scalar(v, buf.get_mut(end..)?)?;
        }
        Some(PackedRow::Inline {
            len: end as u8,
            buf,
        })
    }

    fn encode(values: &[Value], header: usize, buf: &mut Vec<u8>) {
        // Tables have at most 1600 columns (checked at CREATE/ALTER).
        buf.extend_from_slice(&(values.len() as u16).to_le_bytes());
        buf.resize(header, 0);
        for (i, v) in values.iter().enumerate() {
            let start = buf.len() as u32;
            buf[COUNT + OFF * i..COUNT + OFF * (i + 1)].copy_from_slice(&start.to_le_bytes());
            codec::encode(v, buf);
        }
    }

    #[inline]
    fn bytes(&self) -> &[u8] {
        match self {
            PackedRow::Inline { len, buf } => &buf[..usize::from(*len)],
            PackedRow::Heap(b) => b,
        }
    }

    #[inline]
    pub fn width(&self) -> usize {
        width_of(self.bytes())
    }

    /// Bytes held outside the version (0 for an inline row).
    pub fn size(&self) -> usize {
        match self {
            PackedRow::Inline { .. } => 0,
            PackedRow::Heap(b) => b.len(),
        }
    }

    /// Column `i`'s encoding.
    #[inline]
    fn col(&self, i: usize) -> &[u8] {
        col_of(self.bytes(), i)
    }

    /// Column `i` as a value.
    #[inline]
    pub fn get(&self, i: usize) -> Value {
        decode_col(self.col(i), i)
    }

    /// Appends the columns `proj` (every column when `None`), then
    /// `extra`, to `out` as one row.
    #[inline]
    pub fn push_into(
        &self,
        out: &mut RowBatch,
        proj: Option<impl Iterator<Item = usize>>,
        extra: Option<Value>,
    ) {
        // The slice is worked out once, not per column.
        let b = self.bytes();
        match proj {
            None => {
                let w = width_of(b);
                out.push_row((0..w).map(|i| decode_col(col_of(b, i), i)).chain(extra))
            }
            Some(p) => out.push_row(p.map(|c| decode_col(col_of(b, c), c)).chain(extra)),
        }
    }

    /// Column `i` when it is an integer, read in place.
    #[inline]
    pub fn int(&self, i: usize) -> Option<i64> {
        codec::peek_int(self.col(i))
    }

    /// Column `i` when it is text, borrowed.
    #[inline]
    pub fn text(&self, i: usize) -> Option<&str> {
        codec::peek_text(self.col(i))
    }

    /// Every column, decoded.
    pub fn values(&self) -> Vec<Value> {
        (0..self.width()).map(|i| self.get(i)).collect()
    }
}

#[inline]
fn width_of(b: &[u8]) -> usize {
    usize::from(u16::from_le_bytes([b[0], b[1]]))
}

#[inline]
fn start_of(b: &[u8], i: usize) -> usize {
    let p = COUNT + OFF * i;
    // One bounds check for the four bytes (a bad offset is a bug here:
    // only `new` writes these buffers).
    let word: [u8; 4] = b[p..p + 4].try_into().unwrap_or([0; 4]);
    u32::from_le_bytes(word) as usize
}

/// Column `i`'s encoding in the packed bytes `b` (a column ends where the
/// next starts).
#[inline]
fn col_of(b: &[u8], i: usize) -> &[u8] {
    let start = start_of(b, i);
    let end = if i + 1 < width_of(b) {
        start_of(b, i + 1)
    } else {
        b.len()
    };
    &b[start..end]
}

/// Column `i`'s value, from its encoding `col`.
#[inline]
fn decode_col(col: &[u8], i: usize) -> Value {
    if let Some(v) = codec::decode_scalar(col) {
        return v;
    }
    match codec::decode(col) {
        Ok((v, _)) => v,
        // Only `new` writes these buffers, from valid values, and they
        // never leave memory: a failure here is a bug in this file.
        Err(e) => panic!("packed row column {i} does not decode: {}", e.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_read_back_by_position_and_in_order() {
        let vals = vec![
            Value::Int4(7),
            Value::text("seven"),
            Value::Null,
            Value::Int8(-9),
            Value::Float8(0.25),
        ];
        let p = PackedRow::new(&vals);
        assert_eq!(p.width(), 5);
        for (i, v) in vals.iter().enumerate() {
            assert_eq!(&p.get(i), v);
        }
        assert_eq!(p.values(), vals);
        let mut all = RowBatch::new(vals.len() + 1);
        p.push_into(
            &mut all,
            None::<std::ops::Range<usize>>,
            Some(Value::Int8(1)),
        );
        assert_eq!(&all.values()[..vals.len()], &vals[..]);
        let mut some = RowBatch::new(2);
        p.push_into(&mut some, Some([3, 1].into_iter()), None);
        assert_eq!(some.values(), &[Value::Int8(-9), Value::text("seven")]);
        assert_eq!(p.int(0), Some(7));
        assert_eq!(p.int(1), None);
        assert_eq!(p.text(1), Some("seven"));
        assert_eq!(p.int(3), Some(-9));
        let empty = PackedRow::new(&[]);
        assert_eq!(empty.width(), 0);
        let mut none = RowBatch::new(0);
        empty.push_into(&mut none, None::<std::ops::Range<usize>>, None);
        assert!(none.values().is_empty());
    }

    #[test]
    fn small_rows_inline_and_big_rows_on_the_heap_read_the_same() {
        for n in [0usize, 1, 20, 30, 31, 32, 200] {
            let vals = vec![
                Value::Int4(n as i32),
                Value::text("x".repeat(n)),
                Value::Null,
            ];
            let p = PackedRow::new(&vals);
            assert_eq!(p.values(), vals, "text of {n} bytes");
            assert_eq!(p.text(1).map(str::len), Some(n));
            let inline = matches!(p, PackedRow::Inline { .. });
            // 14 header bytes, 5 + 5 + n + 1 of values.
            assert_eq!(inline, 25 + n <= INLINE, "text of {n} bytes");
            assert_eq!(p.size() == 0, inline);
        }
        assert_eq!(std::mem::size_of::<PackedRow>(), 48);
    }

    #[test]
    fn scalar_rows_pack_byte_for_byte_as_the_general_encoder_does() {
        let rows = [
            vec![],
            vec![Value::Null],
            vec![Value::Int4(-1), Value::text("payload"), Value::Int4(6)],
            vec![Value::Bool(true), Value::Int2(3), Value::Float4(0.5)],
            vec![Value::Date(1), Value::Time(2), Value::TimestampTz(-3)],
            // Kinds the shortcut declines, alone and among scalars.
            vec![Value::Int4(1), Value::Uuid([7; 16])],
            vec![Value::Bytea(vec![1, 2, 3].into())],
            // Exactly full, one byte over, and more columns than fit.
            vec![Value::text("x".repeat(INLINE - 11))],
            vec![Value::text("x".repeat(INLINE - 10))],
            vec![Value::Null; 12],
        ];
        for vals in rows {
            let header = COUNT + OFF * vals.len();
            let mut general = Vec::new();
            PackedRow::encode(&vals, header, &mut general);
            let fast = PackedRow::scalar_inline(&vals, header);
            let all_scalar = vals
                .iter()
                .all(|v| !matches!(v, Value::Uuid(_) | Value::Bytea(_)));
            assert_eq!(
                fast.is_some(),
                all_scalar && general.len() <= INLINE,
                "{vals:?}"
            );
            if let Some(p) = fast {
                assert_eq!(p.bytes(), &general[..], "{vals:?}");
            }
            let p = PackedRow::new(&vals);
            assert_eq!(p.bytes(), &general[..], "{vals:?}");
            assert_eq!(p.values(), vals);
        }
    }
}
