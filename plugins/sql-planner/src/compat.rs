//! Stand-ins for the SDK's SQL value semantics (branch `values`) until they
//! land on main; same signatures, minimal coverage.

use aiondb_sdk::prelude::*;
use aiondb_sdk::value::ops::{BinaryOp, UnaryOp};
use aiondb_sdk::value::{parse_text, write_text};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoercionKind {
    Implicit,
    Assignment,
    Explicit,
}

fn numeric_rank(t: TypeId) -> Option<u8> {
    Some(match t {
        TypeId::Int2 => 1,
        TypeId::Int4 => 2,
        TypeId::Int8 => 3,
        TypeId::Numeric => 4,
        TypeId::Float4 => 5,
        TypeId::Float8 => 6,
        _ => return None,
    })
}

fn is_text(t: TypeId) -> bool {
    matches!(t, TypeId::Text | TypeId::Varchar | TypeId::Char)
}

pub fn common_type(types: &[DataType]) -> Option<DataType> {
    let mut acc: Option<DataType> = None;
    for t in types {
        if t.id == TypeId::Unknown {
            continue;
        }
        acc = Some(match acc {
            None => *t,
            Some(a) if a.id == t.id && a.is_array == t.is_array => {
                if a.typmod == t.typmod {
                    a
                } else {
                    DataType { typmod: -1, ..a }
                }
            }
            Some(a) if a.is_array != t.is_array => return None,
            Some(a) => match (numeric_rank(a.id), numeric_rank(t.id)) {
                (Some(x), Some(y)) => {
                    if x >= y {
                        DataType::scalar(a.id)
                    } else {
                        DataType::scalar(t.id)
                    }
                }
                _ if is_text(a.id) && is_text(t.id) => DataType::TEXT,
                _ if matches!(a.id, TypeId::Timestamp | TypeId::TimestampTz | TypeId::Date)
                    && matches!(t.id, TypeId::Timestamp | TypeId::TimestampTz | TypeId::Date) =>
                {
                    if a.id == TypeId::TimestampTz || t.id == TypeId::TimestampTz {
                        DataType::TIMESTAMPTZ
                    } else {
                        DataType::TIMESTAMP
                    }
                }
                _ => return None,
            },
        });
    }
    Some(acc.unwrap_or(DataType::TEXT))
}

pub fn can_coerce(from: &DataType, to: &DataType, kind: CoercionKind) -> bool {
    if from.id == TypeId::Unknown || to.id == TypeId::Any || from.id == to.id {
        return from.is_array == to.is_array || from.id == TypeId::Unknown || to.id == TypeId::Any;
    }
    if from.is_array || to.is_array {
        return false;
    }
    if let (Some(a), Some(b)) = (numeric_rank(from.id), numeric_rank(to.id)) {
        return a <= b || kind != CoercionKind::Implicit;
    }
    if is_text(from.id) && is_text(to.id) {
        return true;
    }
    if matches!(
        (from.id, to.id),
        (TypeId::Date, TypeId::Timestamp)
            | (TypeId::Date, TypeId::TimestampTz)
            | (TypeId::Timestamp, TypeId::TimestampTz)
    ) {
        return true;
    }
    if matches!(
        (from.id, to.id),
        (TypeId::Json, TypeId::Jsonb) | (TypeId::Jsonb, TypeId::Json)
    ) && kind != CoercionKind::Implicit
    {
        return true;
    }
    if kind == CoercionKind::Explicit {
        return true;
    }
    kind == CoercionKind::Assignment && is_text(to.id)
}

pub fn resolve_binary(
    op: BinaryOp,
    l: &DataType,
    r: &DataType,
) -> Option<(DataType, DataType, DataType)> {
    use BinaryOp::*;
    match op {
        Eq | NotEq | Lt | LtEq | Gt | GtEq | IsDistinctFrom | IsNotDistinctFrom => {
            let c = common_type(&[*l, *r])?;
            Some((c, c, DataType::BOOL))
        }
        Add | Sub | Mul | Div | Mod | Pow => {
            if l.is_array || r.is_array {
                return None;
            }
            match (l.id, r.id, op) {
                (TypeId::Date, TypeId::Int4, Add | Sub) => {
                    return Some((*l, DataType::INT4, DataType::DATE))
                }
                (TypeId::Date, TypeId::Date, Sub) => return Some((*l, *r, DataType::INT4)),
                (
                    TypeId::Timestamp | TypeId::TimestampTz | TypeId::Date,
                    TypeId::Interval,
                    Add | Sub,
                ) => {
                    let t = if l.id == TypeId::Date {
                        DataType::TIMESTAMP
                    } else {
                        *l
                    };
                    return Some((t, *r, t));
                }
                (TypeId::Interval, TypeId::Interval, Add | Sub) => return Some((*l, *r, *l)),
                (TypeId::Timestamp, TypeId::Timestamp, Sub)
                | (TypeId::TimestampTz, TypeId::TimestampTz, Sub) => {
                    return Some((*l, *r, DataType::scalar(TypeId::Interval)))
                }
                _ => {}
            }
            numeric_rank(l.id)?;
            numeric_rank(r.id)?;
            let mut c = common_type(&[*l, *r])?;
            c.typmod = -1;
            if op == Pow && c.id != TypeId::Numeric {
                c = DataType::FLOAT8;
            }
            Some((c, c, c))
        }
        Concat => {
            if l.is_array || r.is_array {
                let c = if l.is_array { *l } else { *r };
                return Some((*l, *r, c));
            }
            if l.id == TypeId::Jsonb && r.id == TypeId::Jsonb {
                return Some((*l, *r, *l));
            }
            Some((DataType::TEXT, DataType::TEXT, DataType::TEXT))
        }
        Like | NotLike | ILike | NotILike | RegexMatch | RegexIMatch | NotRegexMatch
        | NotRegexIMatch => Some((DataType::TEXT, DataType::TEXT, DataType::BOOL)),
        BitAnd | BitOr | BitXor | ShiftLeft | ShiftRight => {
            let c = common_type(&[*l, *r])?;
            matches!(c.id, TypeId::Int2 | TypeId::Int4 | TypeId::Int8).then_some((c, c, c))
        }
        JsonGet | JsonGetText => {
            let key = if matches!(r.id, TypeId::Int2 | TypeId::Int4 | TypeId::Int8) {
                DataType::INT4
            } else {
                DataType::TEXT
            };
            let res = if op == JsonGet { *l } else { DataType::TEXT };
            matches!(l.id, TypeId::Json | TypeId::Jsonb).then_some((*l, key, res))
        }
        JsonPath | JsonPathText => {
            let res = if op == JsonPath { *l } else { DataType::TEXT };
            Some((*l, DataType::array_of(TypeId::Text), res))
        }
        Contains | ContainedBy | Overlap => Some((*l, *l, DataType::BOOL)),
        JsonExists => Some((*l, DataType::TEXT, DataType::BOOL)),
    }
}

pub fn resolve_unary(op: UnaryOp, t: &DataType) -> Option<(DataType, DataType)> {
    match op {
        UnaryOp::Neg => {
            (numeric_rank(t.id).is_some() || t.id == TypeId::Interval).then_some((*t, *t))
        }
        UnaryOp::Not => Some((DataType::BOOL, DataType::BOOL)),
        UnaryOp::BitNot => Some((*t, *t)),
    }
}

/// Constant casts through the text form (constant folding only).
pub fn cast(v: &Value, to: &DataType, _kind: CoercionKind) -> DbResult<Value> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    let mut s = String::new();
    write_text(v, &mut s);
    parse_text(*to, &s)
}

pub fn eval_unary(op: UnaryOp, v: &Value) -> DbResult<Value> {
    Ok(match (op, v) {
        (_, Value::Null) => Value::Null,
        (UnaryOp::Neg, Value::Int4(i)) => Value::Int4(i.checked_neg().ok_or_else(overflow)?),
        (UnaryOp::Neg, Value::Int8(i)) => Value::Int8(i.checked_neg().ok_or_else(overflow)?),
        (UnaryOp::Neg, Value::Int2(i)) => Value::Int2(i.checked_neg().ok_or_else(overflow)?),
        (UnaryOp::Neg, Value::Float8(f)) => Value::Float8(-f),
        (UnaryOp::Neg, Value::Float4(f)) => Value::Float4(-f),
        (UnaryOp::Not, Value::Bool(b)) => Value::Bool(!b),
        _ => return Err(AionError::feature_not_supported("constant folding")),
    })
}

fn overflow() -> AionError {
    AionError::new(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "integer out of range")
}

#[allow(dead_code)]
pub fn eval_binary(_op: BinaryOp, _l: &Value, _r: &Value) -> DbResult<Value> {
    Err(AionError::feature_not_supported("constant folding"))
}
