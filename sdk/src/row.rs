//! Schemas and row batches. Batches are row-major and flat: one allocation
//! per batch, never one per row.

use abi_stable::{
    std_types::{RString, RVec},
    StableAbi,
};

use crate::types::DataType;
use crate::value::Value;

/// A named, typed output or table column.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct Field {
    pub name: RString,
    pub data_type: DataType,
    pub nullable: bool,
}

impl Field {
    pub fn new(name: impl Into<String>, data_type: DataType, nullable: bool) -> Self {
        Field {
            name: RString::from(name.into()),
            data_type,
            nullable,
        }
    }
}

/// The shape of a result or batch.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Default)]
pub struct Schema {
    pub fields: RVec<Field>,
}

impl Schema {
    pub fn new(fields: Vec<Field>) -> Self {
        Schema {
            fields: RVec::from(fields),
        }
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Index of the first field with this name (case-sensitive, names are
    /// already folded by the parser).
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name.as_str() == name)
    }
}

/// A batch of rows of equal width, stored row-major in one vector.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Default)]
pub struct RowBatch {
    width: u32,
    values: RVec<Value>,
}

impl RowBatch {
    /// An empty batch for rows of `width` columns.
    pub fn new(width: usize) -> Self {
        RowBatch {
            width: width as u32,
            values: RVec::new(),
        }
    }

    /// An empty batch with room for `rows` rows.
    pub fn with_capacity(width: usize, rows: usize) -> Self {
        RowBatch {
            width: width as u32,
            values: RVec::with_capacity(width * rows),
        }
    }

    pub fn width(&self) -> usize {
        self.width as usize
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.values.len().checked_div(self.width()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Appends one row.
    ///
    /// # Panics
    /// If the row does not have exactly `width` values: that is a bug in the
    /// caller, not bad input.
    pub fn push_row<I: IntoIterator<Item = Value>>(&mut self, row: I) {
        let before = self.values.len();
        // Reserved up front: RVec's `extend` grows one value at a time.
        self.values.reserve(self.width());
        self.values.extend(row);
        assert_eq!(
            self.values.len() - before,
            self.width(),
            "row width does not match batch width"
        );
    }

    /// Appends every row of `other`, moving its values (an empty batch
    /// takes `other`'s buffer whole).
    ///
    /// # Panics
    /// If the widths differ: a bug in the caller, as with `push_row`.
    pub fn append(&mut self, other: RowBatch) {
        assert_eq!(self.width, other.width, "batch widths differ");
        if self.values.is_empty() {
            self.values = other.values;
        } else {
            self.values.reserve(other.values.len());
            self.values.extend(other.values);
        }
    }

    /// The row at `index`.
    pub fn row(&self, index: usize) -> Option<&[Value]> {
        let w = self.width();
        self.values.get(index * w..(index + 1) * w)
    }

    /// The row at `index`, mutable (lets a consumer move values out
    /// instead of cloning them).
    pub fn row_mut(&mut self, index: usize) -> Option<&mut [Value]> {
        let w = self.width();
        self.values.get_mut(index * w..(index + 1) * w)
    }

    /// Iterates over the rows as slices.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = &[Value]> + '_ {
        // chunks_exact panics on 0; a zero-width batch has no rows to show.
        self.values.chunks_exact(self.width().max(1))
    }

    pub fn clear(&mut self) {
        self.values.clear();
    }

    /// Empties the batch and sets a new width, keeping the allocation
    /// (operators reuse one batch across executions).
    pub fn reset(&mut self, width: usize) {
        self.values.clear();
        self.width = width as u32;
    }

    /// Values the batch can hold without reallocating.
    pub fn capacity(&self) -> usize {
        self.values.capacity()
    }

    /// All values, row-major.
    pub fn values(&self) -> &[Value] {
        &self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_moves_rows() {
        let mut a = RowBatch::new(1);
        let mut b = RowBatch::new(1);
        b.push_row([Value::Int4(1)]);
        a.append(b.clone());
        a.append(b);
        assert_eq!(a.values(), &[Value::Int4(1), Value::Int4(1)]);
    }

    #[test]
    fn batch_rows() {
        let mut b = RowBatch::new(2);
        b.push_row([Value::Int4(1), Value::text("a")]);
        b.push_row([Value::Int4(2), Value::Null]);
        assert_eq!(b.len(), 2);
        assert_eq!(b.row(1), Some(&[Value::Int4(2), Value::Null][..]));
        assert_eq!(b.rows().count(), 2);
        assert!(b.row(2).is_none());
    }
}
