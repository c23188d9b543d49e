//! Packed row versions: a version's values in one allocation, in the
//! SDK's binary value encoding. A `Box<[Value]>` costs a value array plus
//! one allocation per string; reading a row then chases two or three
//! pointers, each a likely cache miss on a big table. Packed, a point read
//! touches the row slot and one buffer, and rows take a third of the
//! memory.
//!
//! Layout: `u16` column count, one `u32` start offset per column, then the
//! encoded columns back to back (a column ends where the next starts).

use aiondb_sdk::value::{codec, Value};

const COUNT: usize = 2;
const OFF: usize = 4;

pub(crate) struct PackedRow(Box<[u8]>);

impl PackedRow {
    pub fn new(values: &[Value]) -> PackedRow {
        let header = COUNT + OFF * values.len();
        let body: usize = values.iter().map(codec::encoded_len).sum();
        let mut buf = Vec::with_capacity(header + body);
        // Tables have at most 1600 columns (checked at CREATE/ALTER).
        buf.extend_from_slice(&(values.len() as u16).to_le_bytes());
        buf.resize(header, 0);
        for (i, v) in values.iter().enumerate() {
            let start = buf.len() as u32;
            buf[COUNT + OFF * i..COUNT + OFF * (i + 1)].copy_from_slice(&start.to_le_bytes());
            codec::encode(v, &mut buf);
        }
        PackedRow(buf.into_boxed_slice())
    }

    #[inline]
    pub fn width(&self) -> usize {
        usize::from(u16::from_le_bytes([self.0[0], self.0[1]]))
    }

    /// Bytes held, header included.
    pub fn size(&self) -> usize {
        self.0.len()
    }

    #[inline]
    fn start(&self, i: usize) -> usize {
        let p = COUNT + OFF * i;
        u32::from_le_bytes([self.0[p], self.0[p + 1], self.0[p + 2], self.0[p + 3]]) as usize
    }

    /// Column `i`'s encoding.
    #[inline]
    fn col(&self, i: usize) -> &[u8] {
        let end = if i + 1 < self.width() {
            self.start(i + 1)
        } else {
            self.0.len()
        };
        &self.0[self.start(i)..end]
    }

    /// Column `i` as a value.
    #[inline]
    pub fn get(&self, i: usize) -> Value {
        match codec::decode(self.col(i)) {
            Ok((v, _)) => v,
            // Only `new` writes these buffers, from valid values, and they
            // never leave memory: a failure here is a bug in this file.
            Err(e) => panic!("packed row column {i} does not decode: {}", e.message),
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

    /// Every column in order (one pass, no offset lookups).
    pub fn iter(&self) -> impl Iterator<Item = Value> + '_ {
        let mut pos = if self.width() == 0 {
            self.0.len()
        } else {
            self.start(0)
        };
        std::iter::from_fn(move || {
            if pos >= self.0.len() {
                return None;
            }
            match codec::decode(&self.0[pos..]) {
                Ok((v, used)) => {
                    pos += used;
                    Some(v)
                }
                Err(e) => panic!("packed row does not decode: {}", e.message),
            }
        })
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
        assert_eq!(p.iter().collect::<Vec<_>>(), vals);
        assert_eq!(p.int(0), Some(7));
        assert_eq!(p.int(1), None);
        assert_eq!(p.text(1), Some("seven"));
        assert_eq!(p.int(3), Some(-9));
        let empty = PackedRow::new(&[]);
        assert_eq!(empty.width(), 0);
        assert_eq!(empty.iter().count(), 0);
    }
}
