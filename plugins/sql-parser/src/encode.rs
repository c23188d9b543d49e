//! Serialises any `Serialize` value straight into the generic syntax-tree
//! encoding of `aiondb_sdk::syntax::generic`, producing the same tree as
//! `encode_json(&serde_json::to_value(v)?)` up to map key order (which the
//! decoder does not depend on), without building the intermediate
//! `serde_json::Value`: parsing is on the simple-query hot path.

use aiondb_sdk::prelude::*;
use aiondb_sdk::syntax::generic::{BOOL, FLOAT, INT, MAP, NULL, SEQ, STRING, UINT};
use aiondb_sdk::syntax::SyntaxKind;
use serde::ser::{self, Serialize};

/// Encodes `value` as a generic tree over `source` with `schema`. Also
/// returns the deepest serde nesting seen, so the caller knows whether
/// dropping the value needs a bigger stack.
pub fn encode<T: Serialize + ?Sized>(
    value: &T,
    source: &str,
    schema: &str,
) -> DbResult<(SyntaxTree, usize)> {
    let mut enc = Encoder {
        tree: SyntaxTree {
            schema: RString::from(schema),
            source: RString::from(source),
            ..SyntaxTree::default()
        },
        pending: Vec::with_capacity(64),
        depth: 0,
        max_depth: 0,
    };
    value.serialize(&mut enc).map_err(|e| e.0)?;
    let root = enc
        .pending
        .pop()
        .ok_or_else(|| AionError::internal("serialiser produced no node"))?;
    enc.tree.root = root;
    let len = u32::try_from(source.len()).unwrap_or(u32::MAX);
    if let Some(n) = enc.tree.nodes.get_mut(root as usize) {
        n.span_len = len;
    }
    Ok((enc.tree, enc.max_depth))
}

/// Builds the arena bottom-up: finished nodes wait in `pending` until the
/// container that owns them ends.
struct Encoder {
    tree: SyntaxTree,
    pending: Vec<u32>,
    depth: usize,
    max_depth: usize,
}

/// Stack kept free before descending one level, and the size of each extra
/// stack segment: serde recursion follows the AST, and a left-deep chain
/// like `1 + 1 + ... + 1` is as deep as it is long. The red zone is large
/// because a debug build's frame for sqlparser's `Expr::serialize` exceeds
/// 64 KiB.
const RED_ZONE: usize = 512 * 1024;
const STACK_SEGMENT: usize = 8 * 1024 * 1024;

impl Encoder {
    /// Serialises a nested value, growing the stack when it runs low.
    fn nested<T: ?Sized + Serialize>(&mut self, value: &T) -> R {
        self.depth += 1;
        self.max_depth = self.max_depth.max(self.depth);
        let r = stacker::maybe_grow(RED_ZONE, STACK_SEGMENT, || value.serialize(&mut *self));
        self.depth -= 1;
        r
    }

    fn leaf(&mut self, kind: SyntaxKind, value: Value) {
        let idx = self.tree.push(kind, value, (0, 0), &[]);
        self.pending.push(idx);
    }

    fn key(&mut self, k: &str) {
        self.leaf(STRING, Value::text(k));
    }

    /// Closes the container opened at `mark`.
    fn close(&mut self, kind: SyntaxKind, mark: usize) {
        let idx = self
            .tree
            .push(kind, Value::Null, (0, 0), &self.pending[mark..]);
        self.pending.truncate(mark);
        self.pending.push(idx);
    }
}

#[derive(Debug)]
pub struct EncodeError(AionError);

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for EncodeError {}

impl ser::Error for EncodeError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        EncodeError(AionError::internal(format!(
            "cannot encode the parsed statement: {msg}"
        )))
    }
}

type R = Result<(), EncodeError>;

/// An open container: where its children start, and for enum variants the
/// mark of the one-key wrapper map to close afterwards.
pub struct Open<'a> {
    enc: &'a mut Encoder,
    mark: usize,
    variant_mark: Option<usize>,
    kind: SyntaxKind,
}

impl Open<'_> {
    fn finish(self) -> R {
        self.enc.close(self.kind, self.mark);
        if let Some(m) = self.variant_mark {
            self.enc.close(MAP, m);
        }
        Ok(())
    }
}

impl<'a> ser::Serializer for &'a mut Encoder {
    type Ok = ();
    type Error = EncodeError;
    type SerializeSeq = Open<'a>;
    type SerializeTuple = Open<'a>;
    type SerializeTupleStruct = Open<'a>;
    type SerializeTupleVariant = Open<'a>;
    type SerializeMap = Open<'a>;
    type SerializeStruct = Open<'a>;
    type SerializeStructVariant = Open<'a>;

    fn serialize_bool(self, v: bool) -> R {
        self.leaf(BOOL, Value::Bool(v));
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> R {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> R {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> R {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> R {
        self.leaf(INT, Value::Int8(v));
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> R {
        if let Ok(i) = i64::try_from(v) {
            self.serialize_i64(i)
        } else if let Ok(u) = u64::try_from(v) {
            self.serialize_u64(u)
        } else {
            Err(ser::Error::custom("integer out of range"))
        }
    }
    fn serialize_u8(self, v: u8) -> R {
        self.serialize_i64(v.into())
    }
    fn serialize_u16(self, v: u16) -> R {
        self.serialize_i64(v.into())
    }
    fn serialize_u32(self, v: u32) -> R {
        self.serialize_i64(v.into())
    }
    fn serialize_u64(self, v: u64) -> R {
        match i64::try_from(v) {
            Ok(i) => self.serialize_i64(i),
            Err(_) => {
                self.leaf(UINT, Value::text(v.to_string()));
                Ok(())
            }
        }
    }
    fn serialize_u128(self, v: u128) -> R {
        match u64::try_from(v) {
            Ok(u) => self.serialize_u64(u),
            Err(_) => Err(ser::Error::custom("integer out of range")),
        }
    }
    fn serialize_f32(self, v: f32) -> R {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> R {
        // serde_json has no NaN or infinity and writes them as null.
        if v.is_finite() {
            self.leaf(FLOAT, Value::Float8(v));
        } else {
            self.leaf(NULL, Value::Null);
        }
        Ok(())
    }
    fn serialize_char(self, v: char) -> R {
        let mut buf = [0u8; 4];
        self.leaf(STRING, Value::text(&*v.encode_utf8(&mut buf)));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> R {
        self.leaf(STRING, Value::text(v));
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> R {
        let mark = self.pending.len();
        for b in v {
            self.leaf(INT, Value::Int8((*b).into()));
        }
        self.close(SEQ, mark);
        Ok(())
    }
    fn serialize_none(self) -> R {
        self.serialize_unit()
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> R {
        self.nested(value)
    }
    fn serialize_unit(self) -> R {
        self.leaf(NULL, Value::Null);
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> R {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> R {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _name: &'static str, value: &T) -> R {
        self.nested(value)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> R {
        let mark = self.pending.len();
        self.key(variant);
        self.nested(value)?;
        self.close(MAP, mark);
        Ok(())
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Open<'a>, EncodeError> {
        let _ = len;
        let mark = self.pending.len();
        Ok(Open {
            enc: self,
            mark,
            variant_mark: None,
            kind: SEQ,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Open<'a>, EncodeError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Open<'a>, EncodeError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Open<'a>, EncodeError> {
        let variant_mark = self.pending.len();
        self.key(variant);
        let mark = self.pending.len();
        Ok(Open {
            enc: self,
            mark,
            variant_mark: Some(variant_mark),
            kind: SEQ,
        })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Open<'a>, EncodeError> {
        let mark = self.pending.len();
        Ok(Open {
            enc: self,
            mark,
            variant_mark: None,
            kind: MAP,
        })
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Open<'a>, EncodeError> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Open<'a>, EncodeError> {
        let variant_mark = self.pending.len();
        self.key(variant);
        let mark = self.pending.len();
        Ok(Open {
            enc: self,
            mark,
            variant_mark: Some(variant_mark),
            kind: MAP,
        })
    }
}

impl ser::SerializeSeq for Open<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> R {
        self.enc.nested(value)
    }
    fn end(self) -> R {
        self.finish()
    }
}

impl ser::SerializeTuple for Open<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> R {
        self.enc.nested(value)
    }
    fn end(self) -> R {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for Open<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> R {
        self.enc.nested(value)
    }
    fn end(self) -> R {
        self.finish()
    }
}

impl ser::SerializeTupleVariant for Open<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> R {
        self.enc.nested(value)
    }
    fn end(self) -> R {
        self.finish()
    }
}

impl ser::SerializeMap for Open<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> R {
        key.serialize(KeyEncoder(&mut *self.enc))
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> R {
        self.enc.nested(value)
    }
    fn end(self) -> R {
        self.finish()
    }
}

impl ser::SerializeStruct for Open<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> R {
        self.enc.key(key);
        self.enc.nested(value)
    }
    fn end(self) -> R {
        self.finish()
    }
}

impl ser::SerializeStructVariant for Open<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> R {
        self.enc.key(key);
        self.enc.nested(value)
    }
    fn end(self) -> R {
        self.finish()
    }
}

/// Map keys, turned into strings as serde_json does (strings, chars,
/// integers, bools and unit variants); anything else is an error.
struct KeyEncoder<'a>(&'a mut Encoder);

impl KeyEncoder<'_> {
    fn text(self, s: &str) -> R {
        self.0.key(s);
        Ok(())
    }
    fn unsupported(self) -> R {
        Err(ser::Error::custom("map key must be a string"))
    }
}

impl ser::Serializer for KeyEncoder<'_> {
    type Ok = ();
    type Error = EncodeError;
    type SerializeSeq = ser::Impossible<(), EncodeError>;
    type SerializeTuple = ser::Impossible<(), EncodeError>;
    type SerializeTupleStruct = ser::Impossible<(), EncodeError>;
    type SerializeTupleVariant = ser::Impossible<(), EncodeError>;
    type SerializeMap = ser::Impossible<(), EncodeError>;
    type SerializeStruct = ser::Impossible<(), EncodeError>;
    type SerializeStructVariant = ser::Impossible<(), EncodeError>;

    fn serialize_bool(self, v: bool) -> R {
        self.text(if v { "true" } else { "false" })
    }
    fn serialize_i8(self, v: i8) -> R {
        self.text(&v.to_string())
    }
    fn serialize_i16(self, v: i16) -> R {
        self.text(&v.to_string())
    }
    fn serialize_i32(self, v: i32) -> R {
        self.text(&v.to_string())
    }
    fn serialize_i64(self, v: i64) -> R {
        self.text(&v.to_string())
    }
    fn serialize_u8(self, v: u8) -> R {
        self.text(&v.to_string())
    }
    fn serialize_u16(self, v: u16) -> R {
        self.text(&v.to_string())
    }
    fn serialize_u32(self, v: u32) -> R {
        self.text(&v.to_string())
    }
    fn serialize_u64(self, v: u64) -> R {
        self.text(&v.to_string())
    }
    fn serialize_f32(self, _v: f32) -> R {
        self.unsupported()
    }
    fn serialize_f64(self, _v: f64) -> R {
        self.unsupported()
    }
    fn serialize_char(self, v: char) -> R {
        let mut buf = [0u8; 4];
        self.text(v.encode_utf8(&mut buf))
    }
    fn serialize_str(self, v: &str) -> R {
        self.text(v)
    }
    fn serialize_bytes(self, _v: &[u8]) -> R {
        self.unsupported()
    }
    fn serialize_none(self) -> R {
        self.unsupported()
    }
    fn serialize_some<T: ?Sized + Serialize>(self, _value: &T) -> R {
        self.unsupported()
    }
    fn serialize_unit(self) -> R {
        self.unsupported()
    }
    fn serialize_unit_struct(self, _name: &'static str) -> R {
        self.unsupported()
    }
    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> R {
        self.text(variant)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _name: &'static str, value: &T) -> R {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> R {
        self.unsupported()
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, EncodeError> {
        Err(ser::Error::custom("map key must be a string"))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, EncodeError> {
        Err(ser::Error::custom("map key must be a string"))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, EncodeError> {
        Err(ser::Error::custom("map key must be a string"))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, EncodeError> {
        Err(ser::Error::custom("map key must be a string"))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, EncodeError> {
        Err(ser::Error::custom("map key must be a string"))
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, EncodeError> {
        Err(ser::Error::custom("map key must be a string"))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, EncodeError> {
        Err(ser::Error::custom("map key must be a string"))
    }
}
