//! `json` / `jsonb` operators: `->`, `->>`, `#>`, `#>>`, `@>`, `<@`, `?`
//! and `jsonb || jsonb`.
//!
//! `json` keeps its text verbatim, so its operators return the exact
//! source text of the selected value, as PostgreSQL does; `jsonb` works
//! on the parsed document.

// `DbResult` carries the whole `AionError` by design (it crosses the plugin
// boundary unchanged), so the large-`Err` lint does not apply here.

use abi_stable::std_types::RString;

use crate::error::DbResult;

use super::compare::cmp_json;
use super::json::{normalize_jsonb, parse_json, write_jsonb, Json};
use super::ops::BinaryOp;
use super::Value;

/// One step of a path: an object key or an array index (from the end
/// when negative).
enum Step<'a> {
    Key(&'a str),
    Index(i64),
}

fn step_of(v: &Value) -> Option<Step<'_>> {
    match v {
        Value::Text(s) => Some(Step::Key(s)),
        Value::Int2(_) | Value::Int4(_) | Value::Int8(_) => v.as_i64().map(Step::Index),
        _ => None,
    }
}

/// Evaluates a json operator; `Ok(None)` when the operand types have no
/// such operator. Operands are non-null.
pub(crate) fn eval(op: BinaryOp, l: &Value, r: &Value) -> DbResult<Option<Value>> {
    let (doc, is_jsonb) = match l {
        Value::Json(s) => (s.as_str(), false),
        Value::Jsonb(s) => (s.as_str(), true),
        _ => return Ok(None),
    };
    Ok(Some(match op {
        BinaryOp::JsonGet | BinaryOp::JsonGetText => {
            let Some(step) = step_of(r) else {
                return Ok(None);
            };
            let as_text = op == BinaryOp::JsonGetText;
            if is_jsonb {
                let j = parse_json(doc, true)?;
                // jsonb stores a bare scalar as a one-element array, so
                // `-> 0` and `-> -1` find it (but `#>` does not).
                if let (true, Step::Index(0 | -1)) = (is_scalar(&j), &step) {
                    return Ok(Some(jsonb_result(Some(&j), as_text)));
                }
                jsonb_result(get(&j, &step), as_text)
            } else {
                json_result(raw_get(doc, &step), as_text)?
            }
        }
        BinaryOp::JsonPath | BinaryOp::JsonPathText => {
            let Value::Array(path) = r else {
                return Ok(None);
            };
            let as_text = op == BinaryOp::JsonPathText;
            if path.elements.iter().any(Value::is_null) {
                return Ok(Some(Value::Null));
            }
            let steps = path.elements.iter().map(|e| match e {
                Value::Text(s) => s.as_str(),
                _ => "",
            });
            if is_jsonb {
                let j = parse_json(doc, true)?;
                let mut cur = Some(&j);
                for s in steps {
                    cur = cur.and_then(|c| match c {
                        Json::Array(_) => s
                            .trim()
                            .parse::<i64>()
                            .ok()
                            .and_then(|i| get(c, &Step::Index(i))),
                        _ => get(c, &Step::Key(s)),
                    });
                }
                jsonb_result(cur, as_text)
            } else {
                let mut cur = Some(doc.trim_matches(|c: char| c.is_ascii_whitespace()));
                for s in steps {
                    cur = cur.and_then(|c| {
                        if c.starts_with('[') {
                            s.trim()
                                .parse::<i64>()
                                .ok()
                                .and_then(|i| raw_get(c, &Step::Index(i)))
                        } else {
                            raw_get(c, &Step::Key(s))
                        }
                    });
                }
                json_result(cur, as_text)?
            }
        }
        BinaryOp::Contains | BinaryOp::ContainedBy => {
            let Value::Jsonb(other) = r else {
                return Ok(None);
            };
            if !is_jsonb {
                return Ok(None);
            }
            let a = parse_json(doc, true)?;
            let b = parse_json(other, true)?;
            let (outer, inner) = if op == BinaryOp::Contains {
                (&a, &b)
            } else {
                (&b, &a)
            };
            Value::Bool(top_contains(outer, inner))
        }
        BinaryOp::JsonExists => {
            let (Value::Text(key), true) = (r, is_jsonb) else {
                return Ok(None);
            };
            let j = parse_json(doc, true)?;
            Value::Bool(match &j {
                Json::Object(m) => m.iter().any(|(k, _)| k == key.as_str()),
                Json::Array(items) => items
                    .iter()
                    .any(|i| matches!(i, Json::String(s) if s == key.as_str())),
                Json::String(s) => s == key.as_str(),
                _ => false,
            })
        }
        _ => return Ok(None),
    }))
}

fn get<'a>(j: &'a Json, step: &Step<'_>) -> Option<&'a Json> {
    match (j, step) {
        (Json::Object(m), Step::Key(k)) => m.iter().rev().find(|(mk, _)| mk == k).map(|(_, v)| v),
        (Json::Array(items), Step::Index(i)) => {
            let n = items.len() as i64;
            let i = if *i < 0 { n + i } else { *i };
            if (0..n).contains(&i) {
                items.get(i as usize)
            } else {
                None
            }
        }
        _ => None,
    }
}

fn jsonb_result(j: Option<&Json>, as_text: bool) -> Value {
    match j {
        None => Value::Null,
        Some(Json::Null) if as_text => Value::Null,
        Some(Json::String(s)) if as_text => Value::text(s.as_str()),
        Some(j) => {
            let mut out = String::new();
            write_jsonb(j, &mut out);
            if as_text {
                Value::text(out)
            } else {
                Value::Jsonb(RString::from(out))
            }
        }
    }
}

fn json_result(raw: Option<&str>, as_text: bool) -> DbResult<Value> {
    let Some(raw) = raw else {
        return Ok(Value::Null);
    };
    if !as_text {
        return Ok(Value::Json(RString::from(raw)));
    }
    Ok(match raw.as_bytes().first() {
        Some(b'"') => match parse_json(raw, false)? {
            Json::String(s) => Value::text(s),
            _ => Value::text(raw),
        },
        Some(b'n') if raw == "null" => Value::Null,
        _ => Value::text(raw),
    })
}

// ----------------------------------------------------- raw json scanning

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// End of the string literal starting at `i` (on its opening quote).
fn skip_string(b: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// End of the (already validated) JSON value starting at `i`.
fn skip_value(b: &[u8], i: usize) -> usize {
    match b.get(i) {
        Some(b'"') => skip_string(b, i),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = skip_string(b, j);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            b.len()
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            {
                j += 1;
            }
            j
        }
    }
}

/// The source text of a member or element of the json value `doc`.
/// Duplicate keys: the last one wins, as in PostgreSQL.
fn raw_get<'a>(doc: &'a str, step: &Step<'_>) -> Option<&'a str> {
    let b = doc.as_bytes();
    let mut i = skip_ws(b, 0);
    match (b.get(i), step) {
        (Some(b'{'), Step::Key(key)) => {
            i += 1;
            let mut found = None;
            loop {
                i = skip_ws(b, i);
                if b.get(i) != Some(&b'"') {
                    return found;
                }
                let kend = skip_string(b, i);
                let k = &doc[i..kend];
                // Keys without escapes compare directly.
                let matches = if k.contains('\\') {
                    matches!(parse_json(k, false), Ok(Json::String(s)) if s == *key)
                } else {
                    k.get(1..k.len().saturating_sub(1)) == Some(*key)
                };
                i = skip_ws(b, kend);
                i = skip_ws(b, i + 1);
                let vend = skip_value(b, i);
                if matches {
                    found = Some(&doc[i..vend]);
                }
                i = skip_ws(b, vend);
                if b.get(i) != Some(&b',') {
                    return found;
                }
                i += 1;
            }
        }
        (Some(b'['), Step::Index(idx)) => {
            i += 1;
            let mut elems = Vec::new();
            loop {
                i = skip_ws(b, i);
                if matches!(b.get(i), None | Some(b']')) {
                    break;
                }
                let vend = skip_value(b, i);
                elems.push(&doc[i..vend]);
                i = skip_ws(b, vend);
                if b.get(i) != Some(&b',') {
                    break;
                }
                i += 1;
            }
            let n = elems.len() as i64;
            let k = if *idx < 0 { n + idx } else { *idx };
            if (0..n).contains(&k) {
                Some(elems[k as usize])
            } else {
                None
            }
        }
        _ => None,
    }
}

// ------------------------------------------------------------ containment

fn is_scalar(j: &Json) -> bool {
    !matches!(j, Json::Array(_) | Json::Object(_))
}

/// `@>` at the top level: a top-level array also contains a bare scalar.
fn top_contains(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Array(items), s) if is_scalar(s) => items.iter().any(|i| scalar_eq(i, s)),
        _ => contains(a, b),
    }
}

fn scalar_eq(a: &Json, b: &Json) -> bool {
    is_scalar(a) && is_scalar(b) && cmp_json(a, b).is_eq()
}

fn contains(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Object(am), Json::Object(bm)) => bm.iter().all(|(k, bv)| {
            am.iter()
                .rev()
                .find(|(ak, _)| ak == k)
                .is_some_and(|(_, av)| {
                    if is_scalar(bv) {
                        scalar_eq(av, bv)
                    } else {
                        contains(av, bv)
                    }
                })
        }),
        (Json::Array(ai), Json::Array(bi)) => bi.iter().all(|bv| {
            ai.iter().any(|av| {
                if is_scalar(bv) {
                    scalar_eq(av, bv)
                } else {
                    contains(av, bv)
                }
            })
        }),
        (x, y) if is_scalar(x) && is_scalar(y) => scalar_eq(x, y),
        _ => false,
    }
}

/// `jsonb || jsonb`: objects merge (right wins), arrays concatenate, and
/// anything else is wrapped into an array first.
pub(crate) fn jsonb_concat(a: &str, b: &str) -> DbResult<Value> {
    let x = parse_json(a, true)?;
    let y = parse_json(b, true)?;
    let merged = match (x, y) {
        (Json::Object(mut m), Json::Object(n)) => {
            for (k, v) in n {
                match m.iter_mut().find(|(mk, _)| *mk == k) {
                    Some(slot) => slot.1 = v,
                    None => m.push((k, v)),
                }
            }
            Json::Object(m)
        }
        (Json::Array(mut p), Json::Array(q)) => {
            p.extend(q);
            Json::Array(p)
        }
        (Json::Array(mut p), v) => {
            p.push(v);
            Json::Array(p)
        }
        (v, Json::Array(mut q)) => {
            q.insert(0, v);
            Json::Array(q)
        }
        (u, v) => Json::Array(vec![u, v]),
    };
    let mut out = String::new();
    write_jsonb(&merged, &mut out);
    // Re-normalise: merged object keys must be re-sorted.
    Ok(Value::Jsonb(RString::from(normalize_jsonb(&out)?)))
}

/// `jsonb - text`, `jsonb - integer`, `jsonb - text[]`: drops object keys
/// or matching string elements, or the array element at an index (from the
/// end when negative). `Ok(None)` when the right operand has no such
/// operator.
pub(crate) fn jsonb_delete(doc: &str, r: &Value) -> DbResult<Option<Value>> {
    use crate::error::{AionError, SqlState};
    let j = parse_json(doc, true)?;
    if is_scalar(&j) {
        return Err(AionError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            "cannot delete from scalar",
        ));
    }
    let keys: Vec<&str> = match r {
        Value::Text(k) => vec![k.as_str()],
        Value::Array(a) => a
            .elements
            .iter()
            .filter_map(|e| match e {
                Value::Text(k) => Some(k.as_str()),
                _ => None,
            })
            .collect(),
        Value::Int2(_) | Value::Int4(_) | Value::Int8(_) => {
            let Json::Array(mut items) = j else {
                return Err(AionError::new(
                    SqlState::INVALID_PARAMETER_VALUE,
                    "cannot delete from object using integer index",
                ));
            };
            let i = r.as_i64().unwrap_or(0);
            let n = items.len() as i64;
            let at = if i < 0 { n + i } else { i };
            if (0..n).contains(&at) {
                items.remove(at as usize);
            }
            return Ok(Some(jsonb_result(Some(&Json::Array(items)), false)));
        }
        _ => return Ok(None),
    };
    let out = match j {
        Json::Object(m) => Json::Object(
            m.into_iter()
                .filter(|(k, _)| !keys.contains(&k.as_str()))
                .collect(),
        ),
        Json::Array(items) => Json::Array(
            items
                .into_iter()
                .filter(|i| !matches!(i, Json::String(s) if keys.contains(&s.as_str())))
                .collect(),
        ),
        other => other,
    };
    Ok(Some(jsonb_result(Some(&out), false)))
}
