//! PostgreSQL text input and output for every built-in type.
//!
//! Output matches `psql` with default settings (DateStyle ISO, MDY;
//! TimeZone UTC; IntervalStyle postgres; extra_float_digits 1;
//! bytea_output hex). Input follows each type's input function, including
//! its error messages and SQLSTATEs.

// `DbResult` carries the whole `AionError` by design (it crosses the plugin
// boundary unchanged), so the large-`Err` lint does not apply here.

use abi_stable::std_types::{RString, RVec};

use crate::error::{AionError, DbResult, SqlState};
use crate::types::{DataType, TypeId};

use super::format::FormatOptions;
use super::{datetime, float, json, numeric, ArrayDim, ArrayValue, ExtPayload, Numeric, Value};

/// C `isspace` in the C locale, which PostgreSQL's input functions use.
pub(crate) fn is_pg_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{b}' | '\u{c}')
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_hex(bytes: &[u8], out: &mut String) {
    out.reserve(2 + bytes.len() * 2);
    out.push_str("\\x");
    for &b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
}

/// Appends the PostgreSQL text representation of `value` to `out`, as a
/// session with TimeZone UTC and DateStyle ISO prints it.
/// NULL writes nothing (callers send NULL out of band).
pub fn write_text(value: &Value, out: &mut String) {
    write_text_with(value, FormatOptions::utc(), out)
}

/// Appends the PostgreSQL text representation of `value` to `out` with
/// the session's TimeZone and DateStyle.
pub fn write_text_with(value: &Value, opts: &FormatOptions, out: &mut String) {
    match value {
        Value::Null => {}
        Value::Bool(b) => out.push(if *b { 't' } else { 'f' }),
        Value::Int2(v) => out.push_str(&v.to_string()),
        Value::Int4(v) => out.push_str(&v.to_string()),
        Value::Int8(v) => out.push_str(&v.to_string()),
        Value::Float4(v) => float::write_f32(*v, out),
        Value::Float8(v) => float::write_f64(*v, out),
        Value::Numeric(n) => out.push_str(&n.to_string()),
        Value::Text(s) | Value::Json(s) | Value::Jsonb(s) => out.push_str(s),
        Value::Bytea(b) => push_hex(b, out),
        Value::Date(d) => datetime::write_date_with(*d, opts.date_style, out),
        Value::Time(t) => datetime::write_time(*t, out),
        Value::Timestamp(t) => datetime::write_timestamp_with(*t, false, opts, out),
        Value::TimestampTz(t) => datetime::write_timestamp_with(*t, true, opts, out),
        Value::Interval(iv) => datetime::write_interval(iv, out),
        Value::Uuid(u) => {
            for (i, b) in u.iter().enumerate() {
                if matches!(i, 4 | 6 | 8 | 10) {
                    out.push('-');
                }
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
        }
        Value::Array(a) => write_array(a, opts, out),
        Value::Ext(e) => match &e.payload {
            ExtPayload::Bytes(b) => push_hex(b, out),
            // pgvector's `[1,2.5,3]`, each element printed like float4.
            ExtPayload::Floats(v) => {
                out.push('[');
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    float::write_f32(*x, out);
                }
                out.push(']');
            }
        },
    }
}

/// Whether an array element must be double-quoted to read back the same.
fn needs_quotes(s: &str) -> bool {
    s.is_empty()
        || s.eq_ignore_ascii_case("NULL")
        || s.chars()
            .any(|c| matches!(c, '{' | '}' | ',' | '"' | '\\') || is_pg_space(c))
}

fn write_array(a: &ArrayValue, opts: &FormatOptions, out: &mut String) {
    let dims: Vec<ArrayDim> = a
        .dims
        .iter()
        .copied()
        .filter(|_| !a.elements.is_empty())
        .collect();
    if dims.is_empty() || dims.iter().any(|d| d.len <= 0) {
        out.push_str("{}");
        return;
    }
    if dims.iter().any(|d| d.lower != 1) {
        for d in &dims {
            let upper = d.lower as i64 + d.len as i64 - 1;
            out.push_str(&format!("[{}:{}]", d.lower, upper));
        }
        out.push('=');
    }
    let mut idx = 0;
    write_array_level(&a.elements, &dims, 0, &mut idx, opts, out);
}

fn write_array_level(
    elems: &[Value],
    dims: &[ArrayDim],
    level: usize,
    idx: &mut usize,
    opts: &FormatOptions,
    out: &mut String,
) {
    out.push('{');
    for i in 0..dims[level].len {
        if i > 0 {
            out.push(',');
        }
        if level + 1 < dims.len() {
            write_array_level(elems, dims, level + 1, idx, opts, out);
            continue;
        }
        match elems.get(*idx) {
            None | Some(Value::Null) => out.push_str("NULL"),
            Some(v) => {
                let mut s = String::new();
                write_text_with(v, opts, &mut s);
                if needs_quotes(&s) {
                    out.push('"');
                    for c in s.chars() {
                        if c == '"' || c == '\\' {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                    out.push('"');
                } else {
                    out.push_str(&s);
                }
            }
        }
        *idx += 1;
    }
    out.push('}');
}

fn invalid_syntax(type_name: &str, input: &str) -> AionError {
    AionError::new(
        SqlState::INVALID_TEXT_REPRESENTATION,
        format!("invalid input syntax for type {type_name}: \"{input}\""),
    )
}

/// Parses `input` as PostgreSQL's input function for `ty` would in a
/// session with TimeZone UTC and DateStyle ISO, MDY.
pub fn parse_text(ty: DataType, input: &str) -> DbResult<Value> {
    parse_text_with(ty, input, FormatOptions::utc())
}

/// Parses `input` as PostgreSQL's input function for `ty` would with the
/// session's TimeZone and DateStyle.
pub fn parse_text_with(ty: DataType, input: &str, opts: &FormatOptions) -> DbResult<Value> {
    if ty.is_array {
        let elem = DataType {
            is_array: false,
            ..ty
        };
        return parse_array(elem, input, opts).map(Value::Array);
    }
    Ok(match ty.id {
        TypeId::Unknown | TypeId::Any | TypeId::Text => Value::text(input),
        TypeId::Varchar => Value::text(check_length(input, ty.typmod, false)?),
        TypeId::Char => Value::text(check_length(input, ty.typmod, true)?),
        TypeId::Bool => Value::Bool(parse_bool(input)?),
        TypeId::Int2 => {
            let v = parse_int(input, "smallint")?;
            Value::Int2(i16::try_from(v).map_err(|_| int_range(input, "smallint"))?)
        }
        TypeId::Int4 => {
            let v = parse_int(input, "integer")?;
            Value::Int4(i32::try_from(v).map_err(|_| int_range(input, "integer"))?)
        }
        TypeId::Int8 => {
            let v = parse_int(input, "bigint")?;
            Value::Int8(i64::try_from(v).map_err(|_| int_range(input, "bigint"))?)
        }
        TypeId::Float4 => Value::Float4(float::parse_f32(input)?),
        TypeId::Float8 => Value::Float8(float::parse_f64(input)?),
        TypeId::Numeric => Value::Numeric(parse_numeric_text(input, ty.typmod)?),
        TypeId::Bytea => Value::Bytea(RVec::from(parse_bytea(input)?)),
        TypeId::Uuid => Value::Uuid(parse_uuid(input)?),
        TypeId::Date => Value::Date(datetime::parse_date(input, opts)?),
        TypeId::Time => Value::Time(datetime::parse_time(input, ty.typmod, opts)?),
        TypeId::Timestamp => {
            Value::Timestamp(datetime::parse_timestamp(input, false, ty.typmod, opts)?)
        }
        TypeId::TimestampTz => {
            Value::TimestampTz(datetime::parse_timestamp(input, true, ty.typmod, opts)?)
        }
        TypeId::Interval => Value::Interval(datetime::parse_interval(input)?),
        TypeId::Json => {
            json::parse_json(input, false)?;
            Value::Json(RString::from(input))
        }
        TypeId::Jsonb => Value::Jsonb(RString::from(json::normalize_jsonb(input)?)),
        // `name` keeps at most NAMEDATALEN - 1 bytes, cut on a char boundary.
        TypeId::Name => {
            let mut end = input.len().min(63);
            while !input.is_char_boundary(end) {
                end -= 1;
            }
            Value::text(&input[..end])
        }
        // `"char"` keeps the first byte (empty stays empty).
        TypeId::InternalChar => {
            Value::text(input.chars().next().map(String::from).unwrap_or_default())
        }
        t @ (TypeId::Oid
        | TypeId::RegClass
        | TypeId::RegType
        | TypeId::RegProc
        | TypeId::RegNamespace
        | TypeId::RegRole) => {
            let n = parse_int(input, t.sql_name()).map_err(|_| {
                if t == TypeId::Oid {
                    invalid_syntax("oid", input)
                } else {
                    // Names need the catalog: the planner resolves them
                    // before values reach here.
                    AionError::new(
                        SqlState::FEATURE_NOT_SUPPORTED,
                        format!(
                            "{} input of a name needs the catalog: \"{input}\"",
                            t.sql_name()
                        ),
                    )
                }
            })?;
            let n = i64::try_from(n).map_err(|_| int_range(input, "oid"))?;
            super::cast::oid_value(n).map_err(|_| int_range(input, "oid"))?
        }
        TypeId::Ext(_) => {
            return Err(AionError::feature_not_supported(
                "text input of an extension type is provided by the plugin that registered it",
            ))
        }
    })
}

/// `varchar(n)` / `char(n)` input: too-long values are an error unless
/// only spaces are cut off; `char(n)` pads with spaces.
fn check_length(input: &str, typmod: i32, pad: bool) -> DbResult<String> {
    if typmod < 4 {
        return Ok(input.to_string());
    }
    let max = (typmod - 4) as usize;
    let len = input.chars().count();
    if len > max {
        let cut = input
            .char_indices()
            .nth(max)
            .map_or(input.len(), |(i, _)| i);
        if input[cut..].chars().any(|c| c != ' ') {
            let name = if pad {
                "character"
            } else {
                "character varying"
            };
            return Err(AionError::new(
                SqlState::STRING_DATA_RIGHT_TRUNCATION,
                format!("value too long for type {name}({max})"),
            ));
        }
        return Ok(input[..cut].to_string());
    }
    let mut s = input.to_string();
    if pad {
        s.push_str(&" ".repeat(max - len));
    }
    Ok(s)
}

/// `boolin`: any unambiguous prefix of true/false/yes/no, on/off, 1/0.
fn parse_bool(input: &str) -> DbResult<bool> {
    let t = input.trim_matches(is_pg_space).to_ascii_lowercase();
    let prefix_of = |word: &str, min: usize| t.len() >= min && word.starts_with(t.as_str());
    if prefix_of("true", 1) || prefix_of("yes", 1) || prefix_of("on", 2) || t == "1" {
        return Ok(true);
    }
    if prefix_of("false", 1) || prefix_of("no", 1) || prefix_of("off", 2) || t == "0" {
        return Ok(false);
    }
    Err(invalid_syntax("boolean", input))
}

fn int_range(input: &str, name: &str) -> AionError {
    AionError::new(
        SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
        format!("value \"{input}\" is out of range for type {name}"),
    )
}

/// Integer input: optional surrounding whitespace and sign, decimal digits.
/// Returns i128 so each caller checks its own range.
fn parse_int(input: &str, name: &str) -> DbResult<i128> {
    let t = input.trim_matches(is_pg_space);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid_syntax(name, input));
    }
    let mut v: i128 = 0;
    for b in digits.bytes() {
        v = v * 10 + (b - b'0') as i128;
        if v > u64::MAX as i128 {
            return Err(int_range(input, name));
        }
    }
    Ok(if neg { -v } else { v })
}

fn parse_numeric_text(input: &str, typmod: i32) -> DbResult<Numeric> {
    match numeric::parse_numeric(input) {
        Ok(n) => n.apply_typmod(typmod),
        Err(numeric::NumericParseError::Syntax) => Err(invalid_syntax("numeric", input)),
        Err(numeric::NumericParseError::Overflow) => Err(AionError::new(
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            "value overflows numeric format",
        )),
    }
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// `byteain`: `\x` hex (whitespace between pairs allowed) or escape format.
fn parse_bytea(input: &str) -> DbResult<Vec<u8>> {
    let b = input.as_bytes();
    if let Some(hex) = input.strip_prefix("\\x") {
        let h = hex.as_bytes();
        let mut out = Vec::with_capacity(h.len() / 2);
        let mut i = 0;
        while i < h.len() {
            if is_pg_space(h[i] as char) {
                i += 1;
                continue;
            }
            let bad_digit = |pos: usize| {
                let ch = hex[pos..].chars().next().unwrap_or(' ');
                AionError::new(
                    SqlState::INVALID_PARAMETER_VALUE,
                    format!("invalid hexadecimal digit: \"{ch}\""),
                )
            };
            let hi = hex_val(h[i]).ok_or_else(|| bad_digit(i))?;
            let Some(&lo_c) = h.get(i + 1) else {
                return Err(AionError::new(
                    SqlState::INVALID_PARAMETER_VALUE,
                    "invalid hexadecimal data: odd number of digits",
                ));
            };
            let lo = hex_val(lo_c).ok_or_else(|| bad_digit(i + 1))?;
            out.push(hi << 4 | lo);
            i += 2;
        }
        return Ok(out);
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        if b.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
            continue;
        }
        let oct = b.get(i + 1..i + 4).filter(|o| {
            (b'0'..=b'3').contains(&o[0]) && o[1..].iter().all(|c| (b'0'..=b'7').contains(c))
        });
        match oct {
            Some(o) => {
                out.push((o[0] - b'0') << 6 | (o[1] - b'0') << 3 | (o[2] - b'0'));
                i += 4;
            }
            None => {
                return Err(AionError::new(
                    SqlState::INVALID_TEXT_REPRESENTATION,
                    "invalid input syntax for type bytea",
                ))
            }
        }
    }
    Ok(out)
}

/// `uuid_in`: 32 hex digits, optionally braced, with an optional hyphen
/// after any group of four digits.
fn parse_uuid(input: &str) -> DbResult<[u8; 16]> {
    let bad = || invalid_syntax("uuid", input);
    let b = input.as_bytes();
    let braced = b.first() == Some(&b'{');
    let mut i = usize::from(braced);
    let mut out = [0u8; 16];
    for (k, byte) in out.iter_mut().enumerate() {
        let hi = b.get(i).and_then(|&c| hex_val(c)).ok_or_else(bad)?;
        let lo = b.get(i + 1).and_then(|&c| hex_val(c)).ok_or_else(bad)?;
        *byte = hi << 4 | lo;
        i += 2;
        if k % 2 == 1 && k < 15 && b.get(i) == Some(&b'-') {
            i += 1;
        }
    }
    if braced {
        if b.get(i) != Some(&b'}') {
            return Err(bad());
        }
        i += 1;
    }
    if i != b.len() {
        return Err(bad());
    }
    Ok(out)
}

// ------------------------------------------------------------------ arrays

const MAX_DIMS: usize = 6;

fn malformed(input: &str, detail: &str) -> AionError {
    AionError::new(
        SqlState::INVALID_TEXT_REPRESENTATION,
        format!("malformed array literal: \"{input}\""),
    )
    .with_detail(detail)
}

/// Nested array literal before element conversion.
enum Node {
    List(Vec<Node>),
    /// Element text; `None` for an unquoted NULL.
    Elem(Option<String>),
}

struct ArrayParser<'a> {
    s: &'a str,
    i: usize,
    input: &'a str,
}

impl ArrayParser<'_> {
    fn skip_ws(&mut self) {
        while let Some(c) = self.s[self.i..].chars().next() {
            if !is_pg_space(c) {
                break;
            }
            self.i += c.len_utf8();
        }
    }

    fn peek(&self) -> Option<char> {
        self.s[self.i..].chars().next()
    }

    fn list(&mut self, depth: usize) -> DbResult<Vec<Node>> {
        if depth > MAX_DIMS {
            return Err(AionError::new(
                SqlState::PROGRAM_LIMIT_EXCEEDED,
                format!(
                    "number of array dimensions ({depth}) exceeds the maximum allowed ({MAX_DIMS})"
                ),
            ));
        }
        // The opening brace was consumed by the caller.
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some('}') {
            self.i += 1;
            return Ok(items);
        }
        loop {
            self.skip_ws();
            match self.peek() {
                Some('{') => {
                    self.i += 1;
                    items.push(Node::List(self.list(depth + 1)?));
                }
                Some('"') => {
                    self.i += 1;
                    let mut s = String::new();
                    loop {
                        match self.peek() {
                            None => return Err(malformed(self.input, "Unexpected end of input.")),
                            Some('"') => {
                                self.i += 1;
                                break;
                            }
                            Some('\\') => {
                                self.i += 1;
                                let c = self.peek().ok_or_else(|| {
                                    malformed(self.input, "Unexpected end of input.")
                                })?;
                                s.push(c);
                                self.i += c.len_utf8();
                            }
                            Some(c) => {
                                s.push(c);
                                self.i += c.len_utf8();
                            }
                        }
                    }
                    items.push(Node::Elem(Some(s)));
                }
                Some(',') | Some('}') | None => {
                    return Err(malformed(self.input, "Unexpected \",\" character."));
                }
                Some(_) => {
                    let mut s = String::new();
                    // Length of `s` up to its last escaped or non-space char,
                    // so trailing unescaped whitespace can be dropped.
                    let mut keep = 0;
                    let mut escaped = false;
                    loop {
                        match self.peek() {
                            None => return Err(malformed(self.input, "Unexpected end of input.")),
                            Some(',') | Some('}') => break,
                            Some('{') | Some('"') => {
                                return Err(malformed(self.input, "Unexpected array element."))
                            }
                            Some('\\') => {
                                self.i += 1;
                                let c = self.peek().ok_or_else(|| {
                                    malformed(self.input, "Unexpected end of input.")
                                })?;
                                s.push(c);
                                self.i += c.len_utf8();
                                keep = s.len();
                                escaped = true;
                            }
                            Some(c) => {
                                s.push(c);
                                self.i += c.len_utf8();
                                if !is_pg_space(c) {
                                    keep = s.len();
                                }
                            }
                        }
                    }
                    s.truncate(keep);
                    if !escaped && s.eq_ignore_ascii_case("NULL") {
                        items.push(Node::Elem(None));
                    } else {
                        items.push(Node::Elem(Some(s)));
                    }
                }
            }
            self.skip_ws();
            match self.peek() {
                Some(',') => self.i += 1,
                Some('}') => {
                    self.i += 1;
                    return Ok(items);
                }
                _ => return Err(malformed(self.input, "Unexpected array element.")),
            }
        }
    }
}

/// Collects dimensions of a rectangular nested list, flattening leaves.
fn flatten(
    items: Vec<Node>,
    level: usize,
    dims: &mut Vec<i32>,
    out: &mut Vec<Option<String>>,
    input: &str,
) -> DbResult<()> {
    let inconsistent = || {
        malformed(
            input,
            "Multidimensional arrays must have sub-arrays with matching dimensions.",
        )
    };
    if dims.len() == level {
        dims.push(items.len() as i32);
    } else if dims[level] != items.len() as i32 {
        return Err(inconsistent());
    }
    let is_list = |n: &Node| matches!(n, Node::List(_));
    let lists = items.iter().filter(|n| is_list(n)).count();
    if lists != 0 && lists != items.len() {
        return Err(inconsistent());
    }
    for n in items {
        match n {
            Node::List(sub) => {
                if sub.is_empty() {
                    return Err(inconsistent());
                }
                flatten(sub, level + 1, dims, out, input)?
            }
            Node::Elem(e) => {
                if level + 1 != dims.len() {
                    return Err(inconsistent());
                }
                out.push(e)
            }
        }
    }
    Ok(())
}

/// Parses `[lb:ub]...=` dimension decorations.
fn parse_dim_decoration(p: &mut ArrayParser<'_>) -> DbResult<Vec<(i32, i32)>> {
    let mut dims = Vec::new();
    let bad = |d: &str| malformed(p.input, d);
    while p.peek() == Some('[') {
        p.i += 1;
        let read_int = |p: &mut ArrayParser<'_>| -> Option<i32> {
            let start = p.i;
            if matches!(p.peek(), Some('+' | '-')) {
                p.i += 1;
            }
            while p.peek().is_some_and(|c| c.is_ascii_digit()) {
                p.i += 1;
            }
            p.s[start..p.i].parse().ok()
        };
        let first = read_int(p)
            .ok_or_else(|| bad("\"[\" must introduce explicitly-specified array dimensions."))?;
        let (lower, upper) = if p.peek() == Some(':') {
            p.i += 1;
            let up = read_int(p).ok_or_else(|| bad("Missing array dimension value."))?;
            (first, up)
        } else {
            (1, first)
        };
        if p.peek() != Some(']') {
            return Err(bad("Missing \"]\" after array dimensions."));
        }
        p.i += 1;
        if upper < lower {
            return Err(AionError::new(
                SqlState::PROGRAM_LIMIT_EXCEEDED,
                "upper bound cannot be less than lower bound",
            ));
        }
        dims.push((lower, upper));
    }
    p.skip_ws();
    if p.peek() != Some('=') {
        return Err(bad("Missing \"=\" after array dimensions."));
    }
    p.i += 1;
    p.skip_ws();
    Ok(dims)
}

/// `array_in`: literal syntax, each element read by the element type's
/// input function (with the column's typmod).
fn parse_array(elem: DataType, input: &str, opts: &FormatOptions) -> DbResult<ArrayValue> {
    let mut p = ArrayParser {
        s: input,
        i: 0,
        input,
    };
    p.skip_ws();
    let explicit = if p.peek() == Some('[') {
        Some(parse_dim_decoration(&mut p)?)
    } else {
        None
    };
    if p.peek() != Some('{') {
        return Err(malformed(
            input,
            "Array value must start with \"{\" or dimension information.",
        ));
    }
    p.i += 1;
    let items = p.list(1)?;
    p.skip_ws();
    if p.i != input.len() {
        return Err(malformed(input, "Junk after closing right brace."));
    }
    let mut dims = Vec::new();
    let mut texts = Vec::new();
    if !items.is_empty() {
        flatten(items, 0, &mut dims, &mut texts, input)?;
    }
    let lowers: Vec<i32> = match &explicit {
        Some(ex) => {
            let matches = ex.len() == dims.len()
                && ex
                    .iter()
                    .zip(&dims)
                    .all(|((lo, up), n)| (*up as i64 - *lo as i64 + 1) == *n as i64);
            if !matches {
                return Err(malformed(
                    input,
                    "Specified array dimensions do not match array contents.",
                ));
            }
            ex.iter().map(|(lo, _)| *lo).collect()
        }
        None => vec![1; dims.len()],
    };
    let mut elements = Vec::with_capacity(texts.len());
    for t in texts {
        elements.push(match t {
            None => Value::Null,
            Some(s) => parse_text_with(elem, &s, opts)?,
        });
    }
    let dims = if elements.is_empty() {
        RVec::new()
    } else {
        dims.iter()
            .zip(lowers)
            .map(|(&len, lower)| ArrayDim { len, lower })
            .collect()
    };
    Ok(ArrayValue {
        element_type: elem.id,
        dims,
        elements: RVec::from(elements),
    })
}

/// The decimal digits of `n`, written into the end of `buf` (no
/// allocation, unlike `to_string`; for hot paths that print counts and
/// integers).
pub fn decimal(n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    let mut rest = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    &buf[i..]
}
