//! `json` validation and `jsonb` normalisation.

// `DbResult` carries the whole `AionError` by design (it crosses the plugin
// boundary unchanged), so the large-`Err` lint does not apply here.

use crate::error::{AionError, DbResult, SqlState};

use super::numeric::parse_numeric;

/// A parsed JSON document. Object members keep input order until
/// normalised.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    /// The number as written (validated against the JSON grammar).
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

fn syntax(detail: impl Into<String>) -> AionError {
    AionError::new(
        SqlState::INVALID_TEXT_REPRESENTATION,
        "invalid input syntax for type json",
    )
    .with_detail(detail)
}

struct Parser<'a> {
    b: &'a [u8],
    s: &'a str,
    i: usize,
    /// `jsonb` cannot store `\u0000`; `json` keeps text verbatim and can.
    jsonb: bool,
}

/// Parses a JSON document; `jsonb` selects jsonb's stricter escape rules.
pub fn parse_json(input: &str, jsonb: bool) -> DbResult<Json> {
    let mut p = Parser {
        b: input.as_bytes(),
        s: input,
        i: 0,
        jsonb,
    };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i != p.b.len() {
        return Err(p.token_error());
    }
    Ok(v)
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn token_error(&self) -> AionError {
        if self.i >= self.b.len() {
            return syntax("The input string ended unexpectedly.");
        }
        // Report the offending token up to the next delimiter.
        let rest = &self.s[self.i..];
        let end = rest
            .char_indices()
            .find(|(k, c)| *k > 0 && (c.is_whitespace() || ",:[]{}\"".contains(*c)))
            .map_or(rest.len(), |(k, _)| k);
        syntax(format!(
            "Token \"{}\" is invalid.",
            &rest[..end.max(1).min(rest.len())]
        ))
    }

    fn value(&mut self, depth: usize) -> DbResult<Json> {
        if depth > 6400 {
            return Err(AionError::new(
                SqlState::PROGRAM_LIMIT_EXCEEDED,
                "stack depth limit exceeded",
            ));
        }
        match self.b.get(self.i) {
            None => Err(self.token_error()),
            Some(b'{') => {
                self.i += 1;
                let mut members = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Json::Object(members));
                }
                loop {
                    self.ws();
                    if self.b.get(self.i) != Some(&b'"') {
                        return Err(self.token_error());
                    }
                    let k = self.string()?;
                    self.ws();
                    if self.b.get(self.i) != Some(&b':') {
                        return Err(self.token_error());
                    }
                    self.i += 1;
                    self.ws();
                    let v = self.value(depth + 1)?;
                    members.push((k, v));
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Object(members));
                        }
                        _ => return Err(self.token_error()),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Json::Array(items));
                }
                loop {
                    self.ws();
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Array(items));
                        }
                        _ => return Err(self.token_error()),
                    }
                }
            }
            Some(b'"') => Ok(Json::String(self.string()?)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => {
                for (word, v) in [
                    ("true", Json::Bool(true)),
                    ("false", Json::Bool(false)),
                    ("null", Json::Null),
                ] {
                    if self.s[self.i..].starts_with(word) {
                        let after = self.b.get(self.i + word.len());
                        if !matches!(after, Some(c) if c.is_ascii_alphanumeric() || *c == b'_') {
                            self.i += word.len();
                            return Ok(v);
                        }
                    }
                }
                Err(self.token_error())
            }
        }
    }

    fn number(&mut self) -> DbResult<Json> {
        let start = self.i;
        let b = self.b;
        let digits = |i: &mut usize| {
            let s = *i;
            while *i < b.len() && b[*i].is_ascii_digit() {
                *i += 1;
            }
            *i - s
        };
        let mut i = self.i;
        if b[i] == b'-' {
            i += 1;
        }
        let int_start = i;
        let n = digits(&mut i);
        let mut ok = n > 0 && !(n > 1 && b[int_start] == b'0');
        if ok && b.get(i) == Some(&b'.') {
            i += 1;
            ok = digits(&mut i) > 0;
        }
        if ok && matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            ok = digits(&mut i) > 0;
        }
        // A number must end at a delimiter, not run into letters.
        if ok
            && b.get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'_')
        {
            ok = false;
        }
        if !ok {
            return Err(self.token_error());
        }
        self.i = i;
        Ok(Json::Number(self.s[start..i].to_string()))
    }

    fn hex4(&mut self) -> DbResult<u32> {
        let h = self
            .s
            .get(self.i..self.i + 4)
            .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
            .ok_or_else(|| syntax("\"\\u\" must be followed by four hexadecimal digits."))?;
        let v = u32::from_str_radix(h, 16).map_err(|_| syntax("invalid \\u escape"))?;
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> DbResult<String> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let rest = &self.s[self.i..];
            let stop = rest.find(['"', '\\']).unwrap_or(rest.len());
            let chunk = &rest[..stop];
            if let Some(c) = chunk.bytes().find(|c| *c < 0x20) {
                return Err(syntax(format!(
                    "Character with value 0x{c:02x} must be escaped."
                )));
            }
            out.push_str(chunk);
            self.i += stop;
            match self.b.get(self.i) {
                None => return Err(syntax("The input string ended unexpectedly.")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                _ => {}
            }
            self.i += 1;
            let esc = self.b.get(self.i).copied();
            self.i += 1;
            match esc {
                Some(b'"') => out.push('"'),
                Some(b'\\') => out.push('\\'),
                Some(b'/') => out.push('/'),
                Some(b'b') => out.push('\u{8}'),
                Some(b'f') => out.push('\u{c}'),
                Some(b'n') => out.push('\n'),
                Some(b'r') => out.push('\r'),
                Some(b't') => out.push('\t'),
                Some(b'u') => {
                    let mut cp = self.hex4()?;
                    let is_surrogate = (0xD800..0xE000).contains(&cp);
                    if is_surrogate && !self.jsonb {
                        // json keeps its text verbatim; only jsonb must
                        // decode the escape into a character.
                        continue;
                    }
                    if (0xD800..0xDC00).contains(&cp) {
                        // A high surrogate must be followed by a low one.
                        if !self.s[self.i..].starts_with("\\u") {
                            return Err(syntax(
                                "Unicode high surrogate must not follow a high surrogate.",
                            ));
                        }
                        self.i += 2;
                        let lo = self.hex4()?;
                        if !(0xDC00..0xE000).contains(&lo) {
                            return Err(syntax(
                                "Unicode low surrogate must follow a high surrogate.",
                            ));
                        }
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    } else if (0xDC00..0xE000).contains(&cp) {
                        return Err(syntax(
                            "Unicode low surrogate must follow a high surrogate.",
                        ));
                    }
                    if cp == 0 && self.jsonb {
                        return Err(AionError::new(
                            SqlState::new(b"22P05"),
                            "unsupported Unicode escape sequence",
                        )
                        .with_detail("\\u0000 cannot be converted to text."));
                    }
                    out.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                }
                _ => {
                    self.i -= 1;
                    return Err(syntax(format!(
                        "Escape sequence \"\\{}\" is invalid.",
                        self.s[self.i..].chars().next().unwrap_or(' ')
                    )));
                }
            }
        }
    }
}

/// Parses and normalises `jsonb` input: keys sorted (shorter first, then
/// bytewise), duplicate keys keep the last value, numbers in numeric form.
pub fn normalize_jsonb(input: &str) -> DbResult<String> {
    let v = parse_json(input, true)?;
    let mut out = String::with_capacity(input.len());
    write_jsonb(&normalize(v), &mut out);
    Ok(out)
}

fn normalize(v: Json) -> Json {
    match v {
        Json::Array(items) => Json::Array(items.into_iter().map(normalize).collect()),
        Json::Object(members) => {
            let mut sorted: Vec<(String, Json)> = Vec::with_capacity(members.len());
            // Stable sort keeps input order among equal keys; the last wins.
            let mut members: Vec<(usize, (String, Json))> =
                members.into_iter().enumerate().collect();
            members.sort_by(|(ia, (a, _)), (ib, (b, _))| {
                (a.len(), a.as_bytes(), ia).cmp(&(b.len(), b.as_bytes(), ib))
            });
            for (_, (k, v)) in members {
                let v = normalize(v);
                match sorted.last_mut() {
                    Some((lk, lv)) if *lk == k => *lv = v,
                    _ => sorted.push((k, v)),
                }
            }
            Json::Object(sorted)
        }
        Json::Number(n) => Json::Number(parse_numeric(&n).map(|num| num.to_string()).unwrap_or(n)),
        other => other,
    }
}

/// Writes a JSON string literal with PostgreSQL's escaping.
pub fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `jsonb_out` layout: `", "` between elements and `": "` after keys.
pub fn write_jsonb(v: &Json, out: &mut String) {
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
