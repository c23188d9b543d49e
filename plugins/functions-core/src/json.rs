//! JSON functions. `json` values keep their text verbatim (sub-values are
//! cut out of it, as PostgreSQL does); `jsonb` values are rebuilt through
//! the SDK's normaliser so keys stay sorted and deduplicated.

use aiondb_sdk::prelude::*;
use aiondb_sdk::value::{
    normalize_jsonb, parse_json, write_f64, write_json_string, write_text, ArrayValue, Json,
    NumericKind,
};

use crate::ty::*;
use crate::{arg, boolean, err, int4_result, text, text_array, wrong_args, Def};

pub(crate) const DEFS: &[Def] = &[
    Def::new("to_json", &[ANY], JSON, to_json).stable(),
    Def::new("to_jsonb", &[ANY], JSONB, to_jsonb).stable(),
    Def::new("json_build_object", &[], JSON, json_build_object)
        .lax()
        .stable(),
    Def::new("json_build_object", &[ANY], JSON, json_build_object)
        .variadic()
        .lax()
        .stable(),
    Def::new("jsonb_build_object", &[], JSONB, jsonb_build_object)
        .lax()
        .stable(),
    Def::new("jsonb_build_object", &[ANY], JSONB, jsonb_build_object)
        .variadic()
        .lax()
        .stable(),
    Def::new("json_build_array", &[], JSON, json_build_array)
        .lax()
        .stable(),
    Def::new("json_build_array", &[ANY], JSON, json_build_array)
        .variadic()
        .lax()
        .stable(),
    Def::new("jsonb_build_array", &[], JSONB, jsonb_build_array)
        .lax()
        .stable(),
    Def::new("jsonb_build_array", &[ANY], JSONB, jsonb_build_array)
        .variadic()
        .lax()
        .stable(),
    Def::new("json_array_length", &[JSON], I4, array_length),
    Def::new("jsonb_array_length", &[JSONB], I4, array_length),
    Def::new("json_typeof", &[JSON], TEXT, typeof_fn),
    Def::new("jsonb_typeof", &[JSONB], TEXT, typeof_fn),
    Def::new("json_extract_path", &[JSON, TEXT], JSON, json_extract_path).variadic(),
    Def::new(
        "json_extract_path_text",
        &[JSON, TEXT],
        TEXT,
        json_extract_path_text,
    )
    .variadic(),
    Def::new(
        "jsonb_extract_path",
        &[JSONB, TEXT],
        JSONB,
        jsonb_extract_path,
    )
    .variadic(),
    Def::new(
        "jsonb_extract_path_text",
        &[JSONB, TEXT],
        TEXT,
        jsonb_extract_path_text,
    )
    .variadic(),
    Def::new("jsonb_set", &[JSONB, TEXTARR, JSONB], JSONB, jsonb_set),
    Def::new(
        "jsonb_set",
        &[JSONB, TEXTARR, JSONB, BOOL],
        JSONB,
        jsonb_set,
    ),
    Def::new(
        "jsonb_insert",
        &[JSONB, TEXTARR, JSONB],
        JSONB,
        jsonb_insert,
    ),
    Def::new(
        "jsonb_insert",
        &[JSONB, TEXTARR, JSONB, BOOL],
        JSONB,
        jsonb_insert,
    ),
    Def::new("jsonb_strip_nulls", &[JSONB], JSONB, jsonb_strip_nulls),
    Def::new("jsonb_pretty", &[JSONB], TEXT, jsonb_pretty),
    Def::new("jsonb_object", &[TEXTARR], JSONB, jsonb_object),
    Def::new("jsonb_object", &[TEXTARR, TEXTARR], JSONB, jsonb_object),
];

// ------------------------------------------------------------ value -> JSON text

/// Appends `v` as `to_json` writes it (compact arrays, verbatim json).
pub(crate) fn value_to_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int2(_) | Value::Int4(_) | Value::Int8(_) => write_text(v, out),
        Value::Float4(f) if f.is_finite() => write_text(v, out),
        Value::Float8(f) if f.is_finite() => write_f64(*f, out),
        Value::Numeric(n) if n.kind == NumericKind::Finite => write_text(v, out),
        Value::Json(s) | Value::Jsonb(s) => out.push_str(s),
        Value::Timestamp(t) | Value::TimestampTz(t) if *t == i64::MAX || *t == i64::MIN => {
            write_json_string(&crate::to_text(v), out)
        }
        Value::Timestamp(_) | Value::TimestampTz(_) => {
            // ISO 8601: `T` between date and time, `+00:00` offsets.
            let s = crate::to_text(v);
            let mut s = s.replacen(' ', "T", 1);
            if matches!(v, Value::TimestampTz(_)) {
                if let Some(i) = s.find("+00") {
                    s.replace_range(i..i + 3, "+00:00");
                }
            }
            write_json_string(&s, out)
        }
        Value::Array(a) => array_to_json(a, out),
        _ => write_json_string(&crate::to_text(v), out),
    }
}

fn array_to_json(a: &ArrayValue, out: &mut String) {
    let dims: Vec<i32> = if a.elements.is_empty() {
        Vec::new()
    } else {
        a.dims.iter().map(|d| d.len).collect()
    };
    if dims.is_empty() {
        out.push_str("[]");
        return;
    }
    let mut idx = 0;
    array_level(a, &dims, 0, &mut idx, out);
}

fn array_level(a: &ArrayValue, dims: &[i32], level: usize, idx: &mut usize, out: &mut String) {
    out.push('[');
    for i in 0..dims[level] {
        if i > 0 {
            out.push(',');
        }
        if level + 1 < dims.len() {
            array_level(a, dims, level + 1, idx, out);
        } else {
            value_to_json(a.elements.get(*idx).unwrap_or(&Value::Null), out);
            *idx += 1;
        }
    }
    out.push(']');
}

fn json_value(s: String) -> Value {
    Value::Json(RString::from(s))
}

fn jsonb_value(s: &str) -> DbResult<Value> {
    Ok(Value::Jsonb(RString::from(normalize_jsonb(s)?)))
}

fn to_json(a: &[Value]) -> DbResult<Value> {
    let mut s = String::new();
    value_to_json(arg(a, 0)?, &mut s);
    Ok(json_value(s))
}

fn to_jsonb(a: &[Value]) -> DbResult<Value> {
    let mut s = String::new();
    value_to_json(arg(a, 0)?, &mut s);
    jsonb_value(&s)
}

fn build_object(a: &[Value], fname: &str) -> DbResult<String> {
    if !a.len().is_multiple_of(2) {
        return Err(
            err(b"22023", "argument list must have even number of elements").with_hint(format!(
                "The arguments of {fname}() must consist of alternating keys and values."
            )),
        );
    }
    let mut out = String::from("{");
    for (i, pair) in a.chunks(2).enumerate() {
        let key = &pair[0];
        if key.is_null() {
            return Err(
                err(b"22023", format!("argument {} cannot be null", 2 * i + 1))
                    .with_hint("Object keys should be text."),
            );
        }
        if matches!(key, Value::Array(_) | Value::Json(_) | Value::Jsonb(_)) {
            return Err(err(
                b"22023",
                "key value must be scalar, not array, composite, or json",
            ));
        }
        if i > 0 {
            out.push_str(", ");
        }
        write_json_string(&crate::to_text(key), &mut out);
        out.push_str(" : ");
        value_to_json(&pair[1], &mut out);
    }
    out.push('}');
    Ok(out)
}

fn build_array(a: &[Value]) -> String {
    let mut out = String::from("[");
    for (i, v) in a.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        value_to_json(v, &mut out);
    }
    out.push(']');
    out
}

fn json_build_object(a: &[Value]) -> DbResult<Value> {
    Ok(json_value(build_object(a, "json_build_object")?))
}

fn jsonb_build_object(a: &[Value]) -> DbResult<Value> {
    jsonb_value(&build_object(a, "jsonb_build_object")?)
}

fn json_build_array(a: &[Value]) -> DbResult<Value> {
    Ok(json_value(build_array(a)))
}

fn jsonb_build_array(a: &[Value]) -> DbResult<Value> {
    jsonb_value(&build_array(a))
}

// ------------------------------------------------------------ reading JSON text

/// Raw JSON text of a `json` or `jsonb` argument.
fn json_text(a: &[Value], i: usize) -> DbResult<&str> {
    match arg(a, i)? {
        Value::Json(s) | Value::Jsonb(s) => Ok(s.as_str()),
        _ => Err(wrong_args()),
    }
}

fn bad_json() -> AionError {
    err(b"22P02", "invalid input syntax for type json")
}

/// A cursor over JSON text that can skip whole values, so `json` results
/// are cut verbatim from their input.
struct Scan<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Scan<'a> {
    fn ws(&mut self) {
        let b = self.s.as_bytes();
        while self.i < b.len() && matches!(b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.as_bytes().get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn skip_string(&mut self) -> DbResult<&'a str> {
        let b = self.s.as_bytes();
        let start = self.i;
        self.i += 1;
        while self.i < b.len() {
            match b[self.i] {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    return Ok(&self.s[start..self.i]);
                }
                _ => self.i += 1,
            }
        }
        Err(bad_json())
    }

    /// Skips one value, returning its text.
    fn value(&mut self) -> DbResult<&'a str> {
        let c = self.peek().ok_or_else(bad_json)?;
        let start = self.i;
        match c {
            b'"' => {
                self.skip_string()?;
            }
            b'{' | b'[' => {
                let close = if c == b'{' { b'}' } else { b']' };
                self.i += 1;
                if !self.eat(close) {
                    loop {
                        if c == b'{' {
                            if self.peek() != Some(b'"') {
                                return Err(bad_json());
                            }
                            self.skip_string()?;
                            if !self.eat(b':') {
                                return Err(bad_json());
                            }
                        }
                        self.value()?;
                        if self.eat(close) {
                            break;
                        }
                        if !self.eat(b',') {
                            return Err(bad_json());
                        }
                    }
                }
            }
            _ => {
                let b = self.s.as_bytes();
                while self.i < b.len() && !b",]} \t\r\n:".contains(&b[self.i]) {
                    self.i += 1;
                }
                if self.i == start {
                    return Err(bad_json());
                }
            }
        }
        Ok(&self.s[start..self.i])
    }
}

fn decode_key(raw: &str) -> DbResult<String> {
    match parse_json(raw, false)? {
        Json::String(s) => Ok(s),
        _ => Err(bad_json()),
    }
}

/// The verbatim text of the value at `key` (object) or `key` as an index
/// (array, negative from the end) inside `doc`.
fn step<'a>(doc: &'a str, key: &str) -> DbResult<Option<&'a str>> {
    let mut sc = Scan { s: doc, i: 0 };
    match sc.peek() {
        Some(b'{') => {
            sc.i += 1;
            let mut found = None;
            if !sc.eat(b'}') {
                loop {
                    if sc.peek() != Some(b'"') {
                        return Err(bad_json());
                    }
                    let k = sc.skip_string()?;
                    if !sc.eat(b':') {
                        return Err(bad_json());
                    }
                    let v = sc.value()?;
                    // The last of duplicate keys wins.
                    if decode_key(k)? == key {
                        found = Some(v);
                    }
                    if sc.eat(b'}') {
                        break;
                    }
                    if !sc.eat(b',') {
                        return Err(bad_json());
                    }
                }
            }
            Ok(found)
        }
        Some(b'[') => {
            let Ok(idx) = key.trim().parse::<i64>() else {
                return Ok(None);
            };
            let items = array_items(doc)?;
            let i = if idx < 0 {
                items.len() as i64 + idx
            } else {
                idx
            };
            Ok(usize::try_from(i).ok().and_then(|i| items.get(i)).copied())
        }
        _ => Ok(None),
    }
}

fn array_items(doc: &str) -> DbResult<Vec<&str>> {
    let mut sc = Scan { s: doc, i: 0 };
    let mut items = Vec::new();
    if !sc.eat(b'[') {
        return Err(bad_json());
    }
    if sc.eat(b']') {
        return Ok(items);
    }
    loop {
        items.push(sc.value()?);
        if sc.eat(b']') {
            return Ok(items);
        }
        if !sc.eat(b',') {
            return Err(bad_json());
        }
    }
}

fn array_length(a: &[Value]) -> DbResult<Value> {
    let doc = json_text(a, 0)?;
    let jsonb = matches!(arg(a, 0)?, Value::Jsonb(_));
    match doc.trim_start().as_bytes().first() {
        Some(b'[') => int4_result(array_items(doc)?.len()),
        Some(b'{') if !jsonb => Err(err(b"22023", "cannot get array length of a non-array")),
        Some(b'{') => Err(err(b"22023", "cannot get array length of a non-array")),
        _ => Err(err(b"22023", "cannot get array length of a scalar")),
    }
}

fn kind_of(doc: &str) -> &'static str {
    match doc.trim_start().as_bytes().first() {
        Some(b'{') => "object",
        Some(b'[') => "array",
        Some(b'"') => "string",
        Some(b't' | b'f') => "boolean",
        Some(b'n') => "null",
        _ => "number",
    }
}

fn typeof_fn(a: &[Value]) -> DbResult<Value> {
    Ok(Value::text(kind_of(json_text(a, 0)?)))
}

fn extract(a: &[Value]) -> DbResult<Option<&str>> {
    let mut doc = json_text(a, 0)?;
    for i in 1..a.len() {
        if a[i].is_null() {
            return Ok(None);
        }
        match step(doc, text(a, i)?)? {
            Some(d) => doc = d,
            None => return Ok(None),
        }
    }
    Ok(Some(doc.trim()))
}

/// The text form of a JSON value: strings unquoted, null as SQL NULL.
fn as_text(doc: &str) -> DbResult<Value> {
    Ok(match parse_json(doc, false)? {
        Json::Null => Value::Null,
        Json::String(s) => Value::text(s),
        _ => Value::text(doc),
    })
}

fn json_extract_path(a: &[Value]) -> DbResult<Value> {
    Ok(extract(a)?.map_or(Value::Null, |d| json_value(d.to_string())))
}

fn json_extract_path_text(a: &[Value]) -> DbResult<Value> {
    extract(a)?.map_or(Ok(Value::Null), as_text)
}

fn jsonb_extract_path(a: &[Value]) -> DbResult<Value> {
    Ok(extract(a)?.map_or(Value::Null, |d| Value::Jsonb(RString::from(d.to_string()))))
}

fn jsonb_extract_path_text(a: &[Value]) -> DbResult<Value> {
    extract(a)?.map_or(Ok(Value::Null), as_text)
}

// ------------------------------------------------------------ jsonb editing

fn jsonb_tree(a: &[Value], i: usize) -> DbResult<Json> {
    parse_json(json_text(a, i)?, true)
}

fn write_jsonb(v: &Json, out: &mut String) {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => out.push_str(n),
        Json::String(s) => write_json_string(s, out),
        Json::Array(items) => {
            out.push('[');
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                write_jsonb(item, out);
            }
            out.push(']');
        }
        Json::Object(members) => {
            out.push('{');
            for (k, (key, val)) in members.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                write_json_string(key, out);
                out.push_str(": ");
                write_jsonb(val, out);
            }
            out.push('}');
        }
    }
}

fn tree_value(t: &Json) -> DbResult<Value> {
    let mut s = String::new();
    write_jsonb(t, &mut s);
    jsonb_value(&s)
}

fn path_index(key: &str, pos: usize) -> DbResult<i64> {
    key.trim().parse::<i64>().map_err(|_| {
        err(
            b"22P02",
            format!("path element at position {pos} is not an integer: \"{key}\""),
        )
    })
}

/// What to do at the end of the path.
#[derive(Clone, Copy)]
enum Edit {
    Set { create: bool },
    Insert { after: bool },
}

fn edit_path(
    node: &mut Json,
    path: &[Option<&str>],
    level: usize,
    new: &Json,
    edit: Edit,
) -> DbResult<()> {
    let key = path[level].ok_or_else(|| {
        err(
            b"22004",
            format!("path element at position {} is null", level + 1),
        )
    })?;
    let last = level + 1 == path.len();
    match node {
        Json::Object(members) => {
            let pos = members.iter().position(|(k, _)| k == key);
            match (pos, last) {
                (Some(p), false) => edit_path(&mut members[p].1, path, level + 1, new, edit)?,
                (Some(p), true) => match edit {
                    Edit::Set { .. } => members[p].1 = new.clone(),
                    Edit::Insert { .. } => {
                        return Err(err(b"22023", "cannot replace existing key")
                            .with_hint("Try using the function jsonb_set to replace key value."))
                    }
                },
                (None, true) => {
                    if matches!(edit, Edit::Set { create: true } | Edit::Insert { .. }) {
                        members.push((key.to_string(), new.clone()));
                    }
                }
                (None, false) => {}
            }
        }
        Json::Array(items) => {
            let idx = path_index(key, level + 1)?;
            let n = items.len() as i64;
            let i = if idx < 0 { n + idx } else { idx };
            if !last {
                if (0..n).contains(&i) {
                    edit_path(&mut items[i as usize], path, level + 1, new, edit)?;
                }
                return Ok(());
            }
            match edit {
                Edit::Set { create } => {
                    if (0..n).contains(&i) {
                        items[i as usize] = new.clone();
                    } else if create {
                        if i < 0 {
                            items.insert(0, new.clone());
                        } else {
                            items.push(new.clone());
                        }
                    }
                }
                Edit::Insert { after } => {
                    let at = if i < 0 {
                        0
                    } else if i >= n {
                        n
                    } else if after {
                        i + 1
                    } else {
                        i
                    };
                    items.insert(at as usize, new.clone());
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn edit(a: &[Value], edit: Edit) -> DbResult<Value> {
    let mut doc = jsonb_tree(a, 0)?;
    let path = text_array(a, 1)?;
    let new = jsonb_tree(a, 2)?;
    if !matches!(doc, Json::Object(_) | Json::Array(_)) {
        return Err(err(b"22023", "cannot set path in scalar"));
    }
    if path.is_empty() {
        return tree_value(&doc);
    }
    edit_path(&mut doc, &path, 0, &new, edit)?;
    tree_value(&doc)
}

fn jsonb_set(a: &[Value]) -> DbResult<Value> {
    let create = if a.len() > 3 { boolean(a, 3)? } else { true };
    edit(a, Edit::Set { create })
}

fn jsonb_insert(a: &[Value]) -> DbResult<Value> {
    let after = if a.len() > 3 { boolean(a, 3)? } else { false };
    edit(a, Edit::Insert { after })
}

fn strip_nulls(v: &mut Json) {
    match v {
        Json::Object(members) => {
            members.retain(|(_, v)| !matches!(v, Json::Null));
            members.iter_mut().for_each(|(_, v)| strip_nulls(v));
        }
        Json::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

fn jsonb_strip_nulls(a: &[Value]) -> DbResult<Value> {
    let mut doc = jsonb_tree(a, 0)?;
    strip_nulls(&mut doc);
    tree_value(&doc)
}

fn pretty(v: &Json, indent: usize, out: &mut String) {
    let pad = |out: &mut String, n: usize| out.extend(std::iter::repeat_n(' ', 4 * n));
    match v {
        Json::Array(items) => {
            out.push_str("[\n");
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    out.push_str(",\n");
                }
                pad(out, indent + 1);
                pretty(item, indent + 1, out);
            }
            if !items.is_empty() {
                out.push('\n');
            }
            pad(out, indent);
            out.push(']');
        }
        Json::Object(members) => {
            out.push_str("{\n");
            for (k, (key, val)) in members.iter().enumerate() {
                if k > 0 {
                    out.push_str(",\n");
                }
                pad(out, indent + 1);
                write_json_string(key, out);
                out.push_str(": ");
                pretty(val, indent + 1, out);
            }
            if !members.is_empty() {
                out.push('\n');
            }
            pad(out, indent);
            out.push('}');
        }
        scalar => write_jsonb(scalar, out),
    }
}

fn jsonb_pretty(a: &[Value]) -> DbResult<Value> {
    let mut out = String::new();
    pretty(&jsonb_tree(a, 0)?, 0, &mut out);
    Ok(Value::text(out))
}

fn jsonb_object(a: &[Value]) -> DbResult<Value> {
    let keys_arr = crate::array(a, 0)?;
    let pairs: Vec<(Option<&str>, Option<&str>)> = if a.len() > 1 {
        let keys = text_array(a, 0)?;
        let vals = text_array(a, 1)?;
        if keys.len() != vals.len() || keys_arr.dims.len() > 1 {
            return Err(err(b"2202E", "mismatched array dimensions"));
        }
        keys.into_iter().zip(vals).collect()
    } else {
        let flat = text_array(a, 0)?;
        let ndims = if flat.is_empty() {
            0
        } else {
            keys_arr.dims.len()
        };
        match ndims {
            0 => Vec::new(),
            1 if flat.len() % 2 != 0 => {
                return Err(err(b"2202E", "array must have even number of elements"))
            }
            1 => flat.chunks(2).map(|c| (c[0], c[1])).collect(),
            2 if keys_arr.dims[1].len == 2 => flat.chunks(2).map(|c| (c[0], c[1])).collect(),
            2 => return Err(err(b"2202E", "array must have two columns")),
            _ => return Err(err(b"2202E", "wrong number of array subscripts")),
        }
    };
    let mut out = String::from("{");
    for (i, (k, v)) in pairs.iter().enumerate() {
        let k = k.ok_or_else(|| err(b"22004", "null value not allowed for object key"))?;
        if i > 0 {
            out.push_str(", ");
        }
        write_json_string(k, &mut out);
        out.push_str(": ");
        match v {
            Some(v) => write_json_string(v, &mut out),
            None => out.push_str("null"),
        }
    }
    out.push('}');
    jsonb_value(&out)
}
