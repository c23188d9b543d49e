//! Values as they cross the plugin boundary: one ABI-stable enum used
//! natively on both sides, so rows are never serialised between plugins.

mod arith;
mod cast;
pub mod codec;
mod compare;
mod datetime;
mod float;
mod format;
#[cfg(test)]
mod format_tests;
mod json;
mod jsonops;
mod like;
mod numeric;
pub mod ops;
#[cfg(test)]
mod ops_tests;
mod resolve;
#[cfg(test)]
mod tests;
mod text;

use abi_stable::{
    std_types::{RString, RVec},
    StableAbi,
};

use crate::types::{DataType, TypeId};

pub use datetime::{
    days_to_ymd, ymd_to_days, DATE_MAX_DAYS, DATE_MIN_DAYS, TIMESTAMP_MAX_MICROS,
    TIMESTAMP_MIN_MICROS, USECS_PER_DAY, USECS_PER_HOUR, USECS_PER_MINUTE, USECS_PER_SEC,
};
pub use float::{parse_f32, parse_f64, write_f32, write_f64};
pub use format::{DateOrder, DateOutput, DateStyle, FormatOptions, NamedZone, TimeZone};
pub use json::{normalize_jsonb, parse_json, write_json_string, Json};
pub use text::{decimal, parse_text, parse_text_with, write_text, write_text_with};

pub use arith::{eval_binary, eval_binary_with, eval_unary};
pub use cast::{
    can_coerce, cast, cast_uses_format_options, cast_with, text_input_uses_format_options,
    CoercionKind,
};
pub use compare::{hash_value, sort_cmp, sql_cmp};
pub use like::{like_match, regex_match};
pub use ops::{BinaryOp, UnaryOp};
pub use resolve::{common_type, resolve_binary, resolve_unary};

/// Days from 1970-01-01 (Unix epoch) to 2000-01-01 (PostgreSQL epoch).
pub const PG_EPOCH_DAYS_FROM_UNIX: i32 = 10_957;
/// Microseconds from the Unix epoch to the PostgreSQL epoch.
pub const PG_EPOCH_MICROS_FROM_UNIX: i64 = PG_EPOCH_DAYS_FROM_UNIX as i64 * 86_400_000_000;

/// A single SQL value.
///
/// Date and time values use PostgreSQL's internal representation (epoch
/// 2000-01-01, microsecond resolution) so the binary wire format is a copy.
#[repr(u8)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int2(i16),
    Int4(i32),
    Int8(i64),
    Float4(f32),
    Float8(f64),
    Numeric(Numeric),
    /// `text`, `varchar` and `char(n)` values (the column type tells which).
    Text(RString),
    Bytea(RVec<u8>),
    /// Days since 2000-01-01.
    Date(i32),
    /// Microseconds since midnight.
    Time(i64),
    /// Microseconds since 2000-01-01 00:00:00 (no time zone).
    Timestamp(i64),
    /// Microseconds since 2000-01-01 00:00:00 UTC.
    TimestampTz(i64),
    Interval(Interval),
    Uuid([u8; 16]),
    /// `json` keeps the input text verbatim, as PostgreSQL does.
    Json(RString),
    /// `jsonb` text in normalised form.
    Jsonb(RString),
    Array(ArrayValue),
    /// A value of a plugin-registered type.
    Ext(ExtValue),
}

/// An arbitrary-precision decimal in PostgreSQL's layout: base-10000 digits,
/// the weight of the first digit, and the display scale.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct Numeric {
    pub kind: NumericKind,
    pub negative: bool,
    /// Base-10000 digits, most significant first, without leading or
    /// trailing zero digits. Empty means zero.
    pub digits: RVec<u16>,
    /// Power of 10000 of the first digit.
    pub weight: i16,
    /// Number of decimal digits shown after the point.
    pub dscale: u16,
}

#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumericKind {
    Finite,
    NaN,
    PosInf,
    NegInf,
}

/// An interval as PostgreSQL keeps it: months, days and microseconds are
/// separate because their lengths vary.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Interval {
    pub months: i32,
    pub days: i32,
    pub micros: i64,
}

/// A PostgreSQL array: element type, dimensions and elements in row-major
/// order. Elements may be `Value::Null`.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct ArrayValue {
    pub element_type: TypeId,
    pub dims: RVec<ArrayDim>,
    pub elements: RVec<Value>,
}

#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArrayDim {
    pub len: i32,
    /// Lower bound, 1 unless written otherwise.
    pub lower: i32,
}

impl ArrayValue {
    /// A one-dimensional array with lower bound 1.
    pub fn one_dim(element_type: TypeId, elements: Vec<Value>) -> Self {
        let dims = if elements.is_empty() {
            RVec::new()
        } else {
            RVec::from(vec![ArrayDim {
                len: elements.len() as i32,
                lower: 1,
            }])
        };
        ArrayValue {
            element_type,
            dims,
            elements: RVec::from(elements),
        }
    }
}

/// A value of a plugin-registered type, identified by the type's OID.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct ExtValue {
    pub type_oid: u32,
    pub payload: ExtPayload,
}

/// Payload of an extension value. Float vectors get their own variant so a
/// vector index reads them without decoding.
#[repr(u8)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub enum ExtPayload {
    Bytes(RVec<u8>),
    Floats(RVec<f32>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// True only for `Bool(true)`: what WHERE, HAVING and CHECK accept.
    pub fn is_true(&self) -> bool {
        matches!(self, Value::Bool(true))
    }

    /// The natural type of this value, `None` for NULL.
    pub fn type_id(&self) -> Option<TypeId> {
        Some(match self {
            Value::Null => return None,
            Value::Bool(_) => TypeId::Bool,
            Value::Int2(_) => TypeId::Int2,
            Value::Int4(_) => TypeId::Int4,
            Value::Int8(_) => TypeId::Int8,
            Value::Float4(_) => TypeId::Float4,
            Value::Float8(_) => TypeId::Float8,
            Value::Numeric(_) => TypeId::Numeric,
            Value::Text(_) => TypeId::Text,
            Value::Bytea(_) => TypeId::Bytea,
            Value::Date(_) => TypeId::Date,
            Value::Time(_) => TypeId::Time,
            Value::Timestamp(_) => TypeId::Timestamp,
            Value::TimestampTz(_) => TypeId::TimestampTz,
            Value::Interval(_) => TypeId::Interval,
            Value::Uuid(_) => TypeId::Uuid,
            Value::Json(_) => TypeId::Json,
            Value::Jsonb(_) => TypeId::Jsonb,
            Value::Array(a) => a.element_type,
            Value::Ext(e) => TypeId::Ext(e.type_oid),
        })
    }

    /// The natural data type of this value, `None` for NULL.
    pub fn data_type(&self) -> Option<DataType> {
        let id = self.type_id()?;
        Some(if matches!(self, Value::Array(_)) {
            DataType::array_of(id)
        } else {
            DataType::scalar(id)
        })
    }

    /// Convenience constructor for text values.
    pub fn text(s: impl Into<String>) -> Value {
        Value::Text(RString::from(s.into()))
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) | Value::Json(s) | Value::Jsonb(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// Integer value of any integer type.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int2(v) => Some(*v as i64),
            Value::Int4(v) => Some(*v as i64),
            Value::Int8(v) => Some(*v),
            _ => None,
        }
    }

    /// PostgreSQL text output of the value; `None` for NULL.
    pub fn to_pg_text(&self) -> Option<String> {
        if self.is_null() {
            return None;
        }
        let mut s = String::new();
        write_text(self, &mut s);
        Some(s)
    }
}
