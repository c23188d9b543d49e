//! Array functions (polymorphic: `anyarray` arguments are `Any` arrays).

use aiondb_sdk::prelude::*;
use aiondb_sdk::value::{write_text, ArrayDim, ArrayValue, Numeric};

use crate::num::Dec;
use crate::ty::*;
use crate::{arg, array, err, int, int4_result, text, wrong_args, Def};

pub(crate) const DEFS: &[Def] = &[
    Def::new("array_length", &[ANYARRAY, I4], I4, array_length),
    Def::new("array_upper", &[ANYARRAY, I4], I4, array_upper),
    Def::new("array_lower", &[ANYARRAY, I4], I4, array_lower),
    Def::new("array_ndims", &[ANYARRAY], I4, array_ndims),
    Def::new("array_dims", &[ANYARRAY], TEXT, array_dims),
    Def::new("cardinality", &[ANYARRAY], I4, cardinality),
    Def::new("array_append", &[ANYARRAY, ANY], ANYARRAY, array_append).lax(),
    Def::new("array_prepend", &[ANY, ANYARRAY], ANYARRAY, array_prepend).lax(),
    Def::new("array_cat", &[ANYARRAY, ANYARRAY], ANYARRAY, array_cat).lax(),
    Def::new("array_position", &[ANYARRAY, ANY], I4, array_position).lax(),
    Def::new("array_position", &[ANYARRAY, ANY, I4], I4, array_position).lax(),
    Def::new("array_positions", &[ANYARRAY, ANY], I4ARR, array_positions).lax(),
    Def::new("array_remove", &[ANYARRAY, ANY], ANYARRAY, array_remove).lax(),
    Def::new(
        "array_replace",
        &[ANYARRAY, ANY, ANY],
        ANYARRAY,
        array_replace,
    )
    .lax(),
    Def::new("array_to_string", &[ANYARRAY, TEXT], TEXT, array_to_string).stable(),
    Def::new(
        "array_to_string",
        &[ANYARRAY, TEXT, TEXT],
        TEXT,
        array_to_string,
    )
    .lax()
    .stable(),
    Def::new("string_to_array", &[TEXT, TEXT], TEXTARR, string_to_array).lax(),
    Def::new(
        "string_to_array",
        &[TEXT, TEXT, TEXT],
        TEXTARR,
        string_to_array,
    )
    .lax(),
];

/// Dimensions of a non-empty array (empty arrays have none).
fn dims(a: &ArrayValue) -> &[ArrayDim] {
    if a.elements.is_empty() {
        &[]
    } else {
        a.dims.as_slice()
    }
}

fn dim_arg(a: &[Value]) -> DbResult<Option<ArrayDim>> {
    let arr = array(a, 0)?;
    let d = int(a, 1)?;
    Ok(usize::try_from(d - 1)
        .ok()
        .and_then(|i| dims(arr).get(i))
        .copied())
}

fn opt_i4(v: Option<i64>) -> DbResult<Value> {
    Ok(match v {
        Some(n) => Value::Int4(n as i32),
        None => Value::Null,
    })
}

fn array_length(a: &[Value]) -> DbResult<Value> {
    opt_i4(dim_arg(a)?.map(|d| d.len as i64))
}

fn array_upper(a: &[Value]) -> DbResult<Value> {
    opt_i4(dim_arg(a)?.map(|d| d.lower as i64 + d.len as i64 - 1))
}

fn array_lower(a: &[Value]) -> DbResult<Value> {
    opt_i4(dim_arg(a)?.map(|d| d.lower as i64))
}

fn array_ndims(a: &[Value]) -> DbResult<Value> {
    let n = dims(array(a, 0)?).len();
    opt_i4((n > 0).then_some(n as i64))
}

fn array_dims(a: &[Value]) -> DbResult<Value> {
    let d = dims(array(a, 0)?);
    if d.is_empty() {
        return Ok(Value::Null);
    }
    let mut s = String::new();
    for x in d {
        s.push_str(&format!(
            "[{}:{}]",
            x.lower,
            x.lower as i64 + x.len as i64 - 1
        ));
    }
    Ok(Value::text(s))
}

fn cardinality(a: &[Value]) -> DbResult<Value> {
    int4_result(array(a, 0)?.elements.len())
}

/// An optional (possibly NULL) array argument.
fn opt_array(a: &[Value], i: usize) -> DbResult<Option<&ArrayValue>> {
    match arg(a, i)? {
        Value::Null => Ok(None),
        Value::Array(arr) => Ok(Some(arr)),
        _ => Err(wrong_args()),
    }
}

fn elem_type(arr: Option<&ArrayValue>, elem: &Value) -> TypeId {
    arr.map(|a| a.element_type)
        .or_else(|| elem.type_id())
        .unwrap_or(TypeId::Text)
}

fn one_dim_check(arr: &ArrayValue) -> DbResult<()> {
    if dims(arr).len() > 1 {
        return Err(err(
            b"2202E",
            "argument must be empty or one-dimensional array",
        ));
    }
    Ok(())
}

fn array_append(a: &[Value]) -> DbResult<Value> {
    let arr = opt_array(a, 0)?;
    let elem = arg(a, 1)?;
    let ty = elem_type(arr, elem);
    let Some(arr) = arr else {
        return Ok(Value::Array(ArrayValue::one_dim(ty, vec![elem.clone()])));
    };
    one_dim_check(arr)?;
    let lower = dims(arr).first().map_or(1, |d| d.lower);
    let mut elems = arr.elements.to_vec();
    elems.push(elem.clone());
    Ok(Value::Array(with_lower(ty, elems, lower)))
}

fn with_lower(ty: TypeId, elems: Vec<Value>, lower: i32) -> ArrayValue {
    let mut out = ArrayValue::one_dim(ty, elems);
    if let Some(d) = out.dims.first_mut() {
        d.lower = lower;
    }
    out
}

fn array_prepend(a: &[Value]) -> DbResult<Value> {
    let elem = arg(a, 0)?;
    let arr = opt_array(a, 1)?;
    let ty = elem_type(arr, elem);
    let Some(arr) = arr else {
        return Ok(Value::Array(ArrayValue::one_dim(ty, vec![elem.clone()])));
    };
    one_dim_check(arr)?;
    // PostgreSQL keeps the original lower bound.
    let lower = dims(arr).first().map_or(1, |d| d.lower);
    let mut elems = Vec::with_capacity(arr.elements.len() + 1);
    elems.push(elem.clone());
    elems.extend(arr.elements.iter().cloned());
    Ok(Value::Array(with_lower(ty, elems, lower)))
}

fn array_cat(a: &[Value]) -> DbResult<Value> {
    let (x, y) = (opt_array(a, 0)?, opt_array(a, 1)?);
    let (x, y) = match (x, y) {
        (None, None) => return Ok(Value::Null),
        (Some(x), None) => return Ok(Value::Array(x.clone())),
        (None, Some(y)) => return Ok(Value::Array(y.clone())),
        (Some(x), Some(y)) => (x, y),
    };
    if x.elements.is_empty() {
        return Ok(Value::Array(y.clone()));
    }
    if y.elements.is_empty() {
        return Ok(Value::Array(x.clone()));
    }
    let (dx, dy) = (dims(x), dims(y));
    let mut elems = x.elements.to_vec();
    elems.extend(y.elements.iter().cloned());
    let mut out_dims: Vec<ArrayDim> = dx.to_vec();
    if dx.len() == dy.len() {
        // Same rank: stack along the first dimension.
        if dx[1..]
            .iter()
            .map(|d| d.len)
            .ne(dy[1..].iter().map(|d| d.len))
        {
            return Err(incompatible(dx.len(), dy.len()));
        }
        out_dims[0].len += dy[0].len;
    } else if dx.len() == dy.len() + 1 {
        if dx[1..].iter().map(|d| d.len).ne(dy.iter().map(|d| d.len)) {
            return Err(incompatible(dx.len(), dy.len()));
        }
        out_dims[0].len += 1;
    } else if dy.len() == dx.len() + 1 {
        if dy[1..].iter().map(|d| d.len).ne(dx.iter().map(|d| d.len)) {
            return Err(incompatible(dx.len(), dy.len()));
        }
        out_dims = dy.to_vec();
        out_dims[0].len += 1;
    } else {
        return Err(incompatible(dx.len(), dy.len()));
    }
    Ok(Value::Array(ArrayValue {
        element_type: x.element_type,
        dims: RVec::from(out_dims),
        elements: RVec::from(elems),
    }))
}

fn incompatible(nx: usize, ny: usize) -> AionError {
    err(b"2202E", "cannot concatenate incompatible arrays").with_detail(format!(
        "Arrays with differing dimensions are not compatible for concatenation. ({nx} and {ny} dimensions)"
    ))
}

/// `IS NOT DISTINCT FROM` for array elements of one type.
pub(crate) fn same(x: &Value, y: &Value) -> bool {
    match (x, y) {
        (Value::Numeric(a), Value::Numeric(b)) => numeric_eq(a, b),
        (Value::Float8(a), Value::Float8(b)) => a == b || (a.is_nan() && b.is_nan()),
        _ => x == y,
    }
}

fn numeric_eq(a: &Numeric, b: &Numeric) -> bool {
    if !a.is_finite() || !b.is_finite() {
        return a.kind == b.kind;
    }
    let (x, y) = (Dec::from_numeric(a), Dec::from_numeric(b));
    let strip = |d: &Dec| {
        let mut digits = d.digits.clone();
        let mut scale = d.scale;
        while digits.last() == Some(&0) {
            digits.pop();
            scale -= 1;
        }
        (d.neg, digits, if d.digits.is_empty() { 0 } else { scale })
    };
    strip(&x) == strip(&y)
}

fn one_dim_search(arr: &ArrayValue) -> DbResult<()> {
    if dims(arr).len() > 1 {
        return Err(err(
            b"0A000",
            "searching for elements in multidimensional arrays is not supported",
        ));
    }
    Ok(())
}

fn array_position(a: &[Value]) -> DbResult<Value> {
    let Some(arr) = opt_array(a, 0)? else {
        return Ok(Value::Null);
    };
    one_dim_search(arr)?;
    let needle = arg(a, 1)?;
    let lower = dims(arr).first().map_or(1, |d| d.lower) as i64;
    let start = if a.len() > 2 {
        match arg(a, 2)? {
            Value::Null => {
                return Err(err(b"22004", "initial position must not be null"));
            }
            _ => (int(a, 2)? - lower).max(0) as usize,
        }
    } else {
        0
    };
    Ok(arr
        .elements
        .iter()
        .enumerate()
        .skip(start)
        .find(|(_, e)| same(e, needle))
        .map_or(Value::Null, |(i, _)| Value::Int4((i as i64 + lower) as i32)))
}

fn array_positions(a: &[Value]) -> DbResult<Value> {
    let Some(arr) = opt_array(a, 0)? else {
        return Ok(Value::Null);
    };
    one_dim_search(arr)?;
    let needle = arg(a, 1)?;
    let lower = dims(arr).first().map_or(1, |d| d.lower) as i64;
    let hits: Vec<Value> = arr
        .elements
        .iter()
        .enumerate()
        .filter(|(_, e)| same(e, needle))
        .map(|(i, _)| Value::Int4((i as i64 + lower) as i32))
        .collect();
    Ok(Value::Array(ArrayValue::one_dim(TypeId::Int4, hits)))
}

fn array_remove(a: &[Value]) -> DbResult<Value> {
    let Some(arr) = opt_array(a, 0)? else {
        return Ok(Value::Null);
    };
    if dims(arr).len() > 1 {
        return Err(err(
            b"0A000",
            "removing elements from multidimensional arrays is not supported",
        ));
    }
    let needle = arg(a, 1)?;
    let kept: Vec<Value> = arr
        .elements
        .iter()
        .filter(|e| !same(e, needle))
        .cloned()
        .collect();
    if kept.len() == arr.elements.len() {
        return Ok(Value::Array(arr.clone()));
    }
    let lower = dims(arr).first().map_or(1, |d| d.lower);
    Ok(Value::Array(with_lower(arr.element_type, kept, lower)))
}

fn array_replace(a: &[Value]) -> DbResult<Value> {
    let Some(arr) = opt_array(a, 0)? else {
        return Ok(Value::Null);
    };
    let (from, to) = (arg(a, 1)?, arg(a, 2)?);
    let mut out = arr.clone();
    for e in out.elements.iter_mut() {
        if same(e, from) {
            *e = to.clone();
        }
    }
    Ok(Value::Array(out))
}

fn array_to_string(a: &[Value]) -> DbResult<Value> {
    let Some(arr) = opt_array(a, 0)? else {
        return Ok(Value::Null);
    };
    let delim = match arg(a, 1)? {
        Value::Null => return Ok(Value::Null),
        _ => text(a, 1)?,
    };
    let null_str = match a.get(2) {
        None | Some(Value::Null) => None,
        Some(_) => Some(text(a, 2)?),
    };
    let mut out = String::new();
    let mut first = true;
    for e in arr.elements.iter() {
        let piece = match (e, null_str) {
            (Value::Null, None) => continue,
            (Value::Null, Some(n)) => {
                if !first {
                    out.push_str(delim);
                }
                out.push_str(n);
                first = false;
                continue;
            }
            (v, _) => v,
        };
        if !first {
            out.push_str(delim);
        }
        first = false;
        write_text(piece, &mut out);
    }
    Ok(Value::text(out))
}

fn string_to_array(a: &[Value]) -> DbResult<Value> {
    let s = match arg(a, 0)? {
        Value::Null => return Ok(Value::Null),
        _ => text(a, 0)?,
    };
    let null_str = match a.get(2) {
        None | Some(Value::Null) => None,
        Some(_) => Some(text(a, 2)?),
    };
    let to_val = |p: &str| {
        if null_str == Some(p) {
            Value::Null
        } else {
            Value::text(p)
        }
    };
    let elems: Vec<Value> = if s.is_empty() {
        Vec::new()
    } else {
        match arg(a, 1)? {
            // A NULL delimiter splits into characters.
            Value::Null => s
                .char_indices()
                .map(|(i, c)| to_val(&s[i..i + c.len_utf8()]))
                .collect(),
            _ => {
                let d = text(a, 1)?;
                if d.is_empty() {
                    vec![to_val(s)]
                } else {
                    s.split(d).map(to_val).collect()
                }
            }
        }
    };
    Ok(Value::Array(ArrayValue::one_dim(TypeId::Text, elems)))
}
