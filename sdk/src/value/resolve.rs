//! Operator resolution and common-type selection for the planner,
//! following PostgreSQL's rules for the built-in operators: an untyped
//! literal takes the other operand's type, numeric operands promote along
//! int2 < int4 < int8 < numeric < float4 < float8 (any float with a
//! non-float goes to float8, as PostgreSQL's preferred type wins), string
//! types compare as text, `date` with `timestamp` as `timestamp`.

use crate::types::{DataType, TypeId};

use super::cast::{can_coerce, CoercionKind};
use super::ops::{BinaryOp, UnaryOp};

const fn s(id: TypeId) -> DataType {
    DataType::scalar(id)
}

const BOOL: DataType = s(TypeId::Bool);
const TEXT: DataType = s(TypeId::Text);
const INT4: DataType = s(TypeId::Int4);
const FLOAT8: DataType = s(TypeId::Float8);
const INTERVAL: DataType = s(TypeId::Interval);

fn num_rank(t: &DataType) -> Option<u8> {
    if t.is_array {
        return None;
    }
    Some(match t.id {
        TypeId::Int2 => 0,
        TypeId::Int4 => 1,
        TypeId::Int8 => 2,
        // oid and the reg* types compare as (unsigned) integers.
        t if t.is_oid_like() => 2,
        TypeId::Numeric => 3,
        TypeId::Float4 => 4,
        TypeId::Float8 => 5,
        _ => return None,
    })
}

fn is_int(t: &DataType) -> bool {
    num_rank(t).is_some_and(|r| r <= 2)
}

fn is_string(t: &DataType) -> bool {
    !t.is_array
        && matches!(
            t.id,
            TypeId::Text | TypeId::Varchar | TypeId::Char | TypeId::Name | TypeId::InternalChar
        )
}

fn is_unknown(t: &DataType) -> bool {
    t.id == TypeId::Unknown && !t.is_array
}

fn plain(t: &DataType) -> DataType {
    DataType { typmod: -1, ..*t }
}

/// The arithmetic result type of two numeric-category operands.
fn numeric_result(l: &DataType, r: &DataType) -> Option<DataType> {
    let (a, b) = (num_rank(l)?, num_rank(r)?);
    let id = match (a, b) {
        (4, 4) => TypeId::Float4,
        _ if a >= 4 || b >= 4 => TypeId::Float8,
        _ => match a.max(b) {
            0 => TypeId::Int2,
            1 => TypeId::Int4,
            2 => TypeId::Int8,
            _ => TypeId::Numeric,
        },
    };
    Some(s(id))
}

/// Operator resolution for the planner: given operand types (either may be
/// `TypeId::Unknown` for an untyped literal or parameter), returns (type to
/// cast the left operand to, type to cast the right operand to, result
/// type), or `None` when PostgreSQL has no such operator.
pub fn resolve_binary(
    op: BinaryOp,
    l: &DataType,
    r: &DataType,
) -> Option<(DataType, DataType, DataType)> {
    use BinaryOp::*;
    // oid and the reg* types only compare: PostgreSQL has no arithmetic
    // on them.
    let oid_like = |t: &DataType| !t.is_array && t.id.is_oid_like();
    if (oid_like(l) || oid_like(r))
        && matches!(
            op,
            Add | Sub | Mul | Div | Mod | Pow | BitAnd | BitOr | BitXor | ShiftLeft | ShiftRight
        )
    {
        return None;
    }
    let (lu, ru) = (is_unknown(l), is_unknown(r));
    if lu && ru {
        return match op {
            BinaryOp::Add
            | BinaryOp::Sub
            | BinaryOp::Mul
            | BinaryOp::Div
            | BinaryOp::Mod
            | BinaryOp::Pow
            | BinaryOp::BitAnd
            | BinaryOp::BitOr
            | BinaryOp::BitXor
            | BinaryOp::ShiftLeft
            | BinaryOp::ShiftRight
            | BinaryOp::JsonGet
            | BinaryOp::JsonGetText
            | BinaryOp::JsonPath
            | BinaryOp::JsonPathText
            | BinaryOp::Contains
            | BinaryOp::ContainedBy
            | BinaryOp::JsonExists
            | BinaryOp::Overlap => None,
            BinaryOp::Concat => Some((TEXT, TEXT, TEXT)),
            _ => Some((TEXT, TEXT, BOOL)),
        };
    }
    if lu || ru {
        // An unknown operand first assumes the other side's type; when no
        // operator takes that pair, the unique candidate (if any) wins.
        let known = if lu { r } else { l };
        let guess = plain(known);
        let (nl, nr) = if lu { (guess, *r) } else { (*l, guess) };
        if let Some(res) = resolve_known(op, &nl, &nr) {
            return Some(res);
        }
        let alt = unknown_candidate(op, known, lu)?;
        let (nl, nr) = if lu { (alt, *r) } else { (*l, alt) };
        return resolve_known(op, &nl, &nr);
    }
    resolve_known(op, l, r)
}

/// The type an unknown operand takes when the other side's own type does
/// not work (`timestamp + '1 day'`, `jsonb -> 'key'`, `arr || '{1}'`).
fn unknown_candidate(op: BinaryOp, known: &DataType, unknown_is_left: bool) -> Option<DataType> {
    use BinaryOp::*;
    let id = known.id;
    if known.is_array {
        return None;
    }
    Some(match (op, id) {
        (Add, TypeId::Timestamp | TypeId::TimestampTz | TypeId::Time) => INTERVAL,
        (Sub, TypeId::Timestamp | TypeId::TimestampTz | TypeId::Time) if !unknown_is_left => {
            // PostgreSQL picks `timestamp - timestamp` first; that one
            // already resolved, so this is unreachable for those types.
            INTERVAL
        }
        (Mul | Div, TypeId::Interval) => FLOAT8,
        (Mul, _) if num_rank(known).is_some() => INTERVAL,
        (JsonGet | JsonGetText | JsonExists, TypeId::Json | TypeId::Jsonb) if !unknown_is_left => {
            TEXT
        }
        (Sub, TypeId::Jsonb) if !unknown_is_left => TEXT,
        (JsonPath | JsonPathText, TypeId::Json | TypeId::Jsonb) if !unknown_is_left => {
            DataType::array_of(TypeId::Text)
        }
        (Concat, _) => TEXT,
        _ => return None,
    })
}

fn resolve_known(
    op: BinaryOp,
    l: &DataType,
    r: &DataType,
) -> Option<(DataType, DataType, DataType)> {
    use BinaryOp::*;
    match op {
        Eq | NotEq | Lt | LtEq | Gt | GtEq | IsDistinctFrom | IsNotDistinctFrom => {
            let (a, b) = comparison_types(l, r)?;
            Some((a, b, BOOL))
        }
        Sub if l.id == TypeId::Jsonb && !l.is_array => {
            // `jsonb - text`, `jsonb - integer`, `jsonb - text[]`.
            let key = if r.is_array && is_string(&s(r.id)) {
                DataType::array_of(TypeId::Text)
            } else if is_string(r) {
                TEXT
            } else if matches!(r.id, TypeId::Int2 | TypeId::Int4) && !r.is_array {
                INT4
            } else {
                return None;
            };
            Some((plain(l), key, plain(l)))
        }
        Add | Sub | Mul | Div | Mod => {
            if let Some(res) = numeric_result(l, r) {
                if op == Mod && matches!(res.id, TypeId::Float4 | TypeId::Float8) {
                    return None;
                }
                // Integer widths have cross-type operators: no casts.
                if is_int(l) && is_int(r) {
                    return Some((*l, *r, res));
                }
                return Some((res, res, res));
            }
            datetime_op(op, l, r)
        }
        Pow => {
            let (a, b) = (num_rank(l)?, num_rank(r)?);
            let t = if a >= 4 || b >= 4 || (a < 3 && b < 3) {
                FLOAT8
            } else {
                s(TypeId::Numeric)
            };
            Some((t, t, t))
        }
        Concat => concat_types(l, r),
        Like | NotLike | ILike | NotILike | RegexMatch | RegexIMatch | NotRegexMatch
        | NotRegexIMatch => {
            if is_string(l) && is_string(r) {
                Some((TEXT, TEXT, BOOL))
            } else {
                None
            }
        }
        BitAnd | BitOr | BitXor => {
            if !(is_int(l) && is_int(r)) {
                return None;
            }
            let t = if l.id == r.id {
                plain(l)
            } else {
                numeric_result(l, r)?
            };
            Some((t, t, t))
        }
        ShiftLeft | ShiftRight => {
            if !is_int(l) || !matches!(r.id, TypeId::Int2 | TypeId::Int4) || r.is_array {
                return None;
            }
            Some((plain(l), INT4, plain(l)))
        }
        JsonGet | JsonGetText => {
            if l.is_array || !matches!(l.id, TypeId::Json | TypeId::Jsonb) {
                return None;
            }
            let key = if is_string(r) {
                TEXT
            } else if matches!(r.id, TypeId::Int2 | TypeId::Int4) && !r.is_array {
                INT4
            } else {
                return None;
            };
            let res = if op == JsonGet { plain(l) } else { TEXT };
            Some((plain(l), key, res))
        }
        JsonPath | JsonPathText => {
            if l.is_array || !matches!(l.id, TypeId::Json | TypeId::Jsonb) {
                return None;
            }
            if !(r.is_array && matches!(r.id, TypeId::Text | TypeId::Varchar | TypeId::Char)) {
                return None;
            }
            let res = if op == JsonPath { plain(l) } else { TEXT };
            Some((plain(l), DataType::array_of(TypeId::Text), res))
        }
        JsonExists => {
            if l.id == TypeId::Jsonb && !l.is_array && is_string(r) {
                Some((plain(l), TEXT, BOOL))
            } else {
                None
            }
        }
        Contains | ContainedBy | Overlap => {
            if l.is_array && r.is_array && l.id == r.id {
                return Some((plain(l), plain(r), BOOL));
            }
            if op != Overlap
                && !l.is_array
                && !r.is_array
                && l.id == TypeId::Jsonb
                && r.id == TypeId::Jsonb
            {
                return Some((plain(l), plain(r), BOOL));
            }
            None
        }
    }
}

/// Operand types for a comparison, or `None` when incomparable.
fn comparison_types(l: &DataType, r: &DataType) -> Option<(DataType, DataType)> {
    if l.is_array || r.is_array {
        // `anyarray = anyarray` needs identical element types.
        if !(l.is_array && r.is_array && l.id == r.id && comparable_scalar(l)) {
            return None;
        }
        return Some((plain(l), plain(r)));
    }
    if l.id == TypeId::Char && r.id == TypeId::Char {
        // bpchar comparisons ignore the padding: compare as text (the
        // char(n)-to-text conversion strips it).
        return Some((TEXT, TEXT));
    }
    if l.id == r.id {
        return comparable_scalar(l).then_some((*l, *r));
    }
    if let (Some(a), Some(b)) = (num_rank(l), num_rank(r)) {
        // int2/int4/int8 and float4/float8 have cross-type operators.
        if (a <= 2 && b <= 2) || (a >= 4 && b >= 4) {
            return Some((*l, *r));
        }
        let t = numeric_result(l, r)?;
        return Some((t, t));
    }
    if is_string(l) && is_string(r) {
        return Some((TEXT, TEXT));
    }
    let dt = |t: &DataType| matches!(t.id, TypeId::Date | TypeId::Timestamp | TypeId::TimestampTz);
    if dt(l) && dt(r) {
        let t = if l.id == TypeId::TimestampTz || r.id == TypeId::TimestampTz {
            s(TypeId::TimestampTz)
        } else {
            s(TypeId::Timestamp)
        };
        return Some((t, t));
    }
    None
}

fn comparable_scalar(t: &DataType) -> bool {
    !matches!(t.id, TypeId::Json | TypeId::Unknown | TypeId::Any)
}

fn concat_types(l: &DataType, r: &DataType) -> Option<(DataType, DataType, DataType)> {
    match (l.is_array, r.is_array) {
        (true, true) => {
            let e = common_type(&[s(l.id), s(r.id)])?;
            let a = DataType::array_of(e.id);
            Some((a, a, a))
        }
        (true, false) => {
            can_coerce(r, &s(l.id), CoercionKind::Implicit).then_some(())?;
            let a = DataType::array_of(l.id);
            Some((a, s(l.id), a))
        }
        (false, true) => {
            can_coerce(l, &s(r.id), CoercionKind::Implicit).then_some(())?;
            let a = DataType::array_of(r.id);
            Some((s(r.id), a, a))
        }
        (false, false) => {
            if l.id == TypeId::Bytea && r.id == TypeId::Bytea {
                return Some((*l, *r, *l));
            }
            if l.id == TypeId::Jsonb && r.id == TypeId::Jsonb {
                return Some((*l, *r, *l));
            }
            // `textcat`, `textanycat`, `anytextcat`: one side must be a
            // string; the other goes through its output function.
            if is_string(l) || is_string(r) {
                return Some((TEXT, TEXT, TEXT));
            }
            None
        }
    }
}

fn datetime_op(op: BinaryOp, l: &DataType, r: &DataType) -> Option<(DataType, DataType, DataType)> {
    use TypeId::*;
    if l.is_array || r.is_array {
        return None;
    }
    let (a, b) = (l.id, r.id);
    let ts = s(Timestamp);
    let tstz = s(TimestampTz);
    let res = |x: TypeId, y: TypeId, out: DataType| Some((s(x), s(y), out));
    match op {
        BinaryOp::Add => match (a, b) {
            (Date, Int2 | Int4) => res(Date, Int4, s(Date)),
            (Int2 | Int4, Date) => res(Int4, Date, s(Date)),
            (Date, Interval) => res(Date, Interval, ts),
            (Interval, Date) => res(Interval, Date, ts),
            (Date, Time) => res(Date, Time, ts),
            (Time, Date) => res(Time, Date, ts),
            (Timestamp, Interval) => res(Timestamp, Interval, ts),
            (Interval, Timestamp) => res(Interval, Timestamp, ts),
            (TimestampTz, Interval) => res(TimestampTz, Interval, tstz),
            (Interval, TimestampTz) => res(Interval, TimestampTz, tstz),
            (Interval, Interval) => res(Interval, Interval, INTERVAL),
            (Time, Interval) => res(Time, Interval, s(Time)),
            (Interval, Time) => res(Interval, Time, s(Time)),
            _ => None,
        },
        BinaryOp::Sub => match (a, b) {
            (Date, Int2 | Int4) => res(Date, Int4, s(Date)),
            (Date, Date) => res(Date, Date, INT4),
            (Date, Interval) => res(Date, Interval, ts),
            (Timestamp, Interval) => res(Timestamp, Interval, ts),
            (TimestampTz, Interval) => res(TimestampTz, Interval, tstz),
            (Timestamp, Timestamp) | (Timestamp, Date) | (Date, Timestamp) => {
                res(Timestamp, Timestamp, INTERVAL)
            }
            (TimestampTz, TimestampTz | Timestamp | Date) | (Timestamp | Date, TimestampTz) => {
                res(TimestampTz, TimestampTz, INTERVAL)
            }
            (Interval, Interval) => res(Interval, Interval, INTERVAL),
            (Time, Interval) => res(Time, Interval, s(Time)),
            (Time, Time) => res(Time, Time, INTERVAL),
            _ => None,
        },
        BinaryOp::Mul => match (a, b) {
            (Interval, _) if num_rank(r).is_some() => Some((INTERVAL, FLOAT8, INTERVAL)),
            (_, Interval) if num_rank(l).is_some() => Some((FLOAT8, INTERVAL, INTERVAL)),
            _ => None,
        },
        BinaryOp::Div => match (a, b) {
            (Interval, _) if num_rank(r).is_some() => Some((INTERVAL, FLOAT8, INTERVAL)),
            _ => None,
        },
        _ => None,
    }
}

/// Unary operator resolution: (operand cast, result), or `None` when
/// PostgreSQL has no such operator.
pub fn resolve_unary(op: UnaryOp, t: &DataType) -> Option<(DataType, DataType)> {
    if t.is_array {
        return None;
    }
    match op {
        UnaryOp::Not => matches!(t.id, TypeId::Bool | TypeId::Unknown).then_some((BOOL, BOOL)),
        UnaryOp::Neg => {
            (num_rank(t).is_some() || t.id == TypeId::Interval).then_some((plain(t), plain(t)))
        }
        UnaryOp::BitNot => is_int(t).then_some((plain(t), plain(t))),
    }
}

/// PostgreSQL's type category and whether the type is the category's
/// preferred type.
fn category(t: &DataType) -> (u8, bool) {
    if t.is_array {
        return (b'A', false);
    }
    match t.id {
        TypeId::Bool => (b'B', true),
        TypeId::Int2 | TypeId::Int4 | TypeId::Int8 | TypeId::Numeric | TypeId::Float4 => {
            (b'N', false)
        }
        TypeId::Float8 => (b'N', true),
        TypeId::Varchar | TypeId::Char | TypeId::Name | TypeId::InternalChar => (b'S', false),
        t if t.is_oid_like() => (b'N', false),
        TypeId::Text => (b'S', true),
        TypeId::Date | TypeId::Time | TypeId::Timestamp => (b'D', false),
        TypeId::TimestampTz => (b'D', true),
        TypeId::Interval => (b'T', true),
        TypeId::Unknown => (b'X', false),
        _ => (b'U', false),
    }
}

/// PostgreSQL's `select_common_type` for UNION, CASE, COALESCE, IN lists,
/// VALUES columns: `None` if no common type.
pub fn common_type(types: &[DataType]) -> Option<DataType> {
    let mut known = types.iter().filter(|t| !is_unknown(t));
    let Some(first) = known.next() else {
        return if types.is_empty() { None } else { Some(TEXT) };
    };
    let mut ptype = *first;
    let (pcat, mut preferred) = category(&ptype);
    for t in known {
        if t.id == ptype.id && t.is_array == ptype.is_array {
            continue;
        }
        let (cat, pref) = category(t);
        if cat != pcat {
            return None;
        }
        if !preferred
            && can_coerce(&ptype, t, CoercionKind::Implicit)
            && !can_coerce(t, &ptype, CoercionKind::Implicit)
        {
            ptype = *t;
            preferred = pref;
        }
    }
    // Every input must convert implicitly to the winner.
    if !types
        .iter()
        .all(|t| can_coerce(t, &ptype, CoercionKind::Implicit))
    {
        return None;
    }
    // The typmod survives only when every input agrees on it.
    let same_typmod = types
        .iter()
        .filter(|t| !is_unknown(t))
        .all(|t| t.id == ptype.id && t.typmod == ptype.typmod);
    Some(if same_typmod { ptype } else { plain(&ptype) })
}
