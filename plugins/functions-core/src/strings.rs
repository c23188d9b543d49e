//! String functions: character-based (UTF-8) like PostgreSQL.

use std::cell::RefCell;

use aiondb_sdk::ident::quote_ident;
use aiondb_sdk::prelude::*;
use aiondb_sdk::value::ArrayValue;
use regex::Regex;

use crate::ty::*;
use crate::{arg, bytea, err, int, int4, int4_result, text, to_text, Def};

pub(crate) const DEFS: &[Def] = &[
    Def::new("length", &[TEXT], I4, length),
    Def::new("length", &[BYTEA], I4, octet_length),
    Def::new("char_length", &[TEXT], I4, length),
    Def::new("character_length", &[TEXT], I4, length),
    Def::new("octet_length", &[TEXT], I4, octet_length),
    Def::new("octet_length", &[BYTEA], I4, octet_length),
    Def::new("bit_length", &[TEXT], I4, bit_length),
    Def::new("bit_length", &[BYTEA], I4, bit_length),
    // char(n): the length ignores the padding, the byte count keeps it.
    Def::new("length", &[BPCHAR], I4, bpchar_length),
    Def::new("char_length", &[BPCHAR], I4, bpchar_length),
    Def::new("character_length", &[BPCHAR], I4, bpchar_length),
    Def::new("octet_length", &[BPCHAR], I4, octet_length),
    Def::new("lower", &[TEXT], TEXT, lower),
    Def::new("upper", &[TEXT], TEXT, upper),
    Def::new("initcap", &[TEXT], TEXT, initcap),
    Def::new("substr", &[TEXT, I4], TEXT, substr),
    Def::new("substr", &[TEXT, I4, I4], TEXT, substr),
    Def::new("substring", &[TEXT, I4], TEXT, substr),
    Def::new("substring", &[TEXT, I4, I4], TEXT, substr),
    Def::new("strpos", &[TEXT, TEXT], I4, strpos),
    // `POSITION(sub IN s)` is `position(s, sub)`, as in PostgreSQL.
    Def::new("position", &[TEXT, TEXT], I4, strpos),
    Def::new("replace", &[TEXT, TEXT, TEXT], TEXT, replace),
    Def::new("translate", &[TEXT, TEXT, TEXT], TEXT, translate),
    Def::new("btrim", &[TEXT], TEXT, btrim),
    Def::new("btrim", &[TEXT, TEXT], TEXT, btrim),
    Def::new("ltrim", &[TEXT], TEXT, ltrim),
    Def::new("ltrim", &[TEXT, TEXT], TEXT, ltrim),
    Def::new("rtrim", &[TEXT], TEXT, rtrim),
    Def::new("rtrim", &[TEXT, TEXT], TEXT, rtrim),
    Def::new("lpad", &[TEXT, I4], TEXT, lpad),
    Def::new("lpad", &[TEXT, I4, TEXT], TEXT, lpad),
    Def::new("rpad", &[TEXT, I4], TEXT, rpad),
    Def::new("rpad", &[TEXT, I4, TEXT], TEXT, rpad),
    Def::new("left", &[TEXT, I4], TEXT, left),
    Def::new("right", &[TEXT, I4], TEXT, right),
    Def::new("repeat", &[TEXT, I4], TEXT, repeat),
    Def::new("reverse", &[TEXT], TEXT, reverse),
    Def::new("split_part", &[TEXT, TEXT, I4], TEXT, split_part),
    Def::new("concat", &[ANY], TEXT, concat)
        .variadic()
        .lax()
        .stable(),
    Def::new("concat_ws", &[TEXT, ANY], TEXT, concat_ws)
        .variadic()
        .lax()
        .stable(),
    Def::new("format", &[TEXT], TEXT, format).lax().stable(),
    Def::new("format", &[TEXT, ANY], TEXT, format)
        .variadic()
        .lax()
        .stable(),
    Def::new("md5", &[TEXT], TEXT, md5_fn),
    Def::new("md5", &[BYTEA], TEXT, md5_fn),
    Def::new("sha256", &[BYTEA], BYTEA, sha256_fn),
    Def::new("to_hex", &[I4], TEXT, to_hex32),
    Def::new("to_hex", &[I8], TEXT, to_hex64),
    Def::new("ascii", &[TEXT], I4, ascii),
    Def::new("chr", &[I4], TEXT, chr),
    Def::new("starts_with", &[TEXT, TEXT], BOOL, starts_with),
    Def::new("quote_ident", &[TEXT], TEXT, quote_ident_fn),
    Def::new("quote_literal", &[TEXT], TEXT, quote_literal_fn),
    Def::new("quote_literal", &[ANY], TEXT, quote_literal_fn).stable(),
    Def::new("quote_nullable", &[TEXT], TEXT, quote_nullable_fn).lax(),
    Def::new("quote_nullable", &[ANY], TEXT, quote_nullable_fn)
        .lax()
        .stable(),
    Def::new("regexp_replace", &[TEXT, TEXT, TEXT], TEXT, regexp_replace),
    Def::new(
        "regexp_replace",
        &[TEXT, TEXT, TEXT, TEXT],
        TEXT,
        regexp_replace,
    ),
    Def::new("regexp_match", &[TEXT, TEXT], TEXTARR, regexp_match),
    Def::new("regexp_match", &[TEXT, TEXT, TEXT], TEXTARR, regexp_match),
    Def::new("encode", &[BYTEA, TEXT], TEXT, encode),
    Def::new("decode", &[TEXT, TEXT], BYTEA, decode),
];

fn length(a: &[Value]) -> DbResult<Value> {
    match arg(a, 0)? {
        Value::Bytea(b) => int4_result(b.len()),
        _ => int4_result(text(a, 0)?.chars().count()),
    }
}

fn bpchar_length(a: &[Value]) -> DbResult<Value> {
    int4_result(text(a, 0)?.trim_end_matches(' ').chars().count())
}

fn byte_len(a: &[Value]) -> DbResult<usize> {
    Ok(match arg(a, 0)? {
        Value::Bytea(b) => b.len(),
        _ => text(a, 0)?.len(),
    })
}

fn octet_length(a: &[Value]) -> DbResult<Value> {
    int4_result(byte_len(a)?)
}

fn bit_length(a: &[Value]) -> DbResult<Value> {
    int4_result(byte_len(a)? * 8)
}

/// PostgreSQL maps case one character at a time (`towupper`), so `ß`
/// stays `ß` rather than becoming `SS`.
fn map_chars(s: &str, f: fn(char) -> Option<char>) -> String {
    s.chars().map(|c| f(c).unwrap_or(c)).collect()
}

fn single<I: Iterator<Item = char>>(mut it: I) -> Option<char> {
    let c = it.next()?;
    it.next().is_none().then_some(c)
}

fn to_upper(c: char) -> Option<char> {
    single(c.to_uppercase())
}

fn to_lower(c: char) -> Option<char> {
    single(c.to_lowercase())
}

fn lower(a: &[Value]) -> DbResult<Value> {
    Ok(Value::text(map_chars(text(a, 0)?, to_lower)))
}

fn upper(a: &[Value]) -> DbResult<Value> {
    Ok(Value::text(map_chars(text(a, 0)?, to_upper)))
}

fn initcap(a: &[Value]) -> DbResult<Value> {
    let s = text(a, 0)?;
    let mut out = String::with_capacity(s.len());
    let mut in_word = false;
    for c in s.chars() {
        out.push(if in_word { to_lower(c) } else { to_upper(c) }.unwrap_or(c));
        in_word = c.is_alphanumeric();
    }
    Ok(Value::text(out))
}

/// Byte offset of the `n`th character (0-based), or the string length.
fn char_offset(s: &str, n: usize) -> usize {
    s.char_indices().nth(n).map_or(s.len(), |(i, _)| i)
}

/// Characters `[from, to)` (0-based, clamped).
fn char_slice(s: &str, from: usize, to: usize) -> &str {
    let start = char_offset(s, from);
    let rest = &s[start..];
    &rest[..char_offset(rest, to.saturating_sub(from))]
}

fn substr(a: &[Value]) -> DbResult<Value> {
    let s = text(a, 0)?;
    let start = int(a, 1)?;
    // 1-based start; characters before position 1 do not exist but still
    // count against the length, as in PostgreSQL.
    let end = if a.len() > 2 {
        let count = int(a, 2)?;
        if count < 0 {
            return Err(err(b"22011", "negative substring length not allowed"));
        }
        start + count
    } else {
        i64::MAX
    };
    let from = start.max(1) - 1;
    if end <= 1 || end - 1 <= from {
        return Ok(Value::text(""));
    }
    Ok(Value::text(char_slice(
        s,
        from as usize,
        (end - 1) as usize,
    )))
}

fn strpos(a: &[Value]) -> DbResult<Value> {
    let (s, sub) = (text(a, 0)?, text(a, 1)?);
    match s.find(sub) {
        Some(i) => int4_result(s[..i].chars().count() + 1),
        None => Ok(Value::Int4(0)),
    }
}

fn replace(a: &[Value]) -> DbResult<Value> {
    let (s, from, to) = (text(a, 0)?, text(a, 1)?, text(a, 2)?);
    if from.is_empty() {
        return Ok(Value::text(s));
    }
    Ok(Value::text(s.replace(from, to)))
}

fn translate(a: &[Value]) -> DbResult<Value> {
    let (s, from, to) = (text(a, 0)?, text(a, 1)?, text(a, 2)?);
    let to: Vec<char> = to.chars().collect();
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match from.chars().position(|f| f == c) {
            Some(i) => {
                if let Some(t) = to.get(i) {
                    out.push(*t);
                }
            }
            None => out.push(c),
        }
    }
    Ok(Value::text(out))
}

fn trim_set(a: &[Value]) -> DbResult<(&str, Vec<char>)> {
    let s = text(a, 0)?;
    let set = if a.len() > 1 {
        text(a, 1)?.chars().collect()
    } else {
        vec![' ']
    };
    Ok((s, set))
}

fn btrim(a: &[Value]) -> DbResult<Value> {
    let (s, set) = trim_set(a)?;
    Ok(Value::text(s.trim_matches(|c| set.contains(&c))))
}

fn ltrim(a: &[Value]) -> DbResult<Value> {
    let (s, set) = trim_set(a)?;
    Ok(Value::text(s.trim_start_matches(|c| set.contains(&c))))
}

fn rtrim(a: &[Value]) -> DbResult<Value> {
    let (s, set) = trim_set(a)?;
    Ok(Value::text(s.trim_end_matches(|c| set.contains(&c))))
}

/// Shared by `lpad`/`rpad`: the string cut to `len` characters and the
/// fill needed to reach it.
fn pad(a: &[Value], left: bool) -> DbResult<Value> {
    let s = text(a, 0)?;
    let len = int(a, 1)?;
    let fill = if a.len() > 2 { text(a, 2)? } else { " " };
    if len <= 0 {
        return Ok(Value::text(""));
    }
    let len = len as usize;
    let n = s.chars().count();
    if n >= len || fill.is_empty() {
        return Ok(Value::text(char_slice(s, 0, len)));
    }
    if len.saturating_mul(4) > 0x3fff_ffff {
        return Err(err(b"54000", "requested length too large"));
    }
    let padding: String = fill.chars().cycle().take(len - n).collect();
    Ok(Value::text(if left {
        padding + s
    } else {
        format!("{s}{padding}")
    }))
}

fn lpad(a: &[Value]) -> DbResult<Value> {
    pad(a, true)
}

fn rpad(a: &[Value]) -> DbResult<Value> {
    pad(a, false)
}

fn left(a: &[Value]) -> DbResult<Value> {
    let s = text(a, 0)?;
    let n = int(a, 1)?;
    let count = s.chars().count() as i64;
    let take = if n >= 0 {
        n.min(count)
    } else {
        (count + n).max(0)
    };
    Ok(Value::text(char_slice(s, 0, take as usize)))
}

fn right(a: &[Value]) -> DbResult<Value> {
    let s = text(a, 0)?;
    let n = int(a, 1)?;
    let count = s.chars().count() as i64;
    let skip = if n >= 0 {
        (count - n).max(0)
    } else {
        (-n).min(count)
    };
    Ok(Value::text(&s[char_offset(s, skip as usize)..]))
}

fn repeat(a: &[Value]) -> DbResult<Value> {
    let s = text(a, 0)?;
    let n = int(a, 1)?;
    if n <= 0 || s.is_empty() {
        return Ok(Value::text(""));
    }
    // PostgreSQL's limit is the 1 GB varlena size.
    if (s.len() as i64).saturating_mul(n) > 0x3fff_ffff {
        return Err(err(b"54000", "requested length too large"));
    }
    Ok(Value::text(s.repeat(n as usize)))
}

fn reverse(a: &[Value]) -> DbResult<Value> {
    Ok(Value::text(text(a, 0)?.chars().rev().collect::<String>()))
}

fn split_part(a: &[Value]) -> DbResult<Value> {
    let (s, delim) = (text(a, 0)?, text(a, 1)?);
    let n = int(a, 2)?;
    if n == 0 {
        return Err(err(b"22023", "field position must not be zero"));
    }
    if s.is_empty() {
        return Ok(Value::text(""));
    }
    let fields: Vec<&str> = if delim.is_empty() {
        vec![s]
    } else {
        s.split(delim).collect()
    };
    let idx = if n > 0 {
        n - 1
    } else {
        fields.len() as i64 + n
    };
    Ok(Value::text(
        usize::try_from(idx)
            .ok()
            .and_then(|i| fields.get(i))
            .copied()
            .unwrap_or(""),
    ))
}

fn concat(a: &[Value]) -> DbResult<Value> {
    let mut out = String::new();
    for v in a {
        aiondb_sdk::value::write_text(v, &mut out);
    }
    Ok(Value::text(out))
}

fn concat_ws(a: &[Value]) -> DbResult<Value> {
    let sep = match arg(a, 0)? {
        Value::Null => return Ok(Value::Null),
        _ => text(a, 0)?,
    };
    let mut out = String::new();
    let mut first = true;
    for v in a[1..].iter().filter(|v| !v.is_null()) {
        if !first {
            out.push_str(sep);
        }
        first = false;
        aiondb_sdk::value::write_text(v, &mut out);
    }
    Ok(Value::text(out))
}

pub(crate) fn quote_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 3);
    if s.contains('\\') {
        out.push('E');
    }
    out.push('\'');
    for c in s.chars() {
        if c == '\'' || c == '\\' {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

fn quote_ident_fn(a: &[Value]) -> DbResult<Value> {
    Ok(Value::text(quote_ident(text(a, 0)?)))
}

fn quote_literal_fn(a: &[Value]) -> DbResult<Value> {
    Ok(Value::text(quote_literal(&to_text(arg(a, 0)?))))
}

fn quote_nullable_fn(a: &[Value]) -> DbResult<Value> {
    let v = arg(a, 0)?;
    Ok(Value::text(if v.is_null() {
        "NULL".to_string()
    } else {
        quote_literal(&to_text(v))
    }))
}

fn format(a: &[Value]) -> DbResult<Value> {
    let fmt = match arg(a, 0)? {
        Value::Null => return Ok(Value::Null),
        _ => text(a, 0)?,
    };
    let params = &a[1..];
    let mut out = String::with_capacity(fmt.len());
    let mut chars = fmt.chars().peekable();
    let mut next_arg = 0usize;
    let too_few = || err(b"22023", "too few arguments for format()");
    let unterminated = || err(b"22023", "unterminated format() type specifier");
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            out.push('%');
            continue;
        }
        // %[position$][flags][width]type
        let mut spec = String::new();
        while let Some(&d) = chars.peek() {
            if d.is_ascii_digit() || d == '$' || d == '-' || d == '*' {
                spec.push(d);
                chars.next();
            } else {
                break;
            }
        }
        let conv = chars.next().ok_or_else(unterminated)?;
        let (pos, rest) = match spec.split_once('$') {
            Some((p, r)) => {
                let p: usize = p.parse().map_err(|_| {
                    err(
                        b"22023",
                        "format specifies argument 0, but arguments are numbered from 1",
                    )
                })?;
                if p == 0 {
                    return Err(err(
                        b"22023",
                        "format specifies argument 0, but arguments are numbered from 1",
                    ));
                }
                (Some(p - 1), r)
            }
            None => (None, spec.as_str()),
        };
        let left_align = rest.starts_with('-');
        let width: usize = rest.trim_start_matches('-').parse().unwrap_or(0);
        if !matches!(conv, 's' | 'I' | 'L') {
            return Err(err(
                b"22023",
                format!("unrecognized format() type specifier \"{conv}\""),
            )
            .with_hint("For a single \"%\" use \"%%\"."));
        }
        let idx = pos.unwrap_or(next_arg);
        next_arg = idx + 1;
        let v = params.get(idx).ok_or_else(too_few)?;
        let piece = match conv {
            's' => to_text(v),
            'I' => {
                if v.is_null() {
                    return Err(err(
                        b"22004",
                        "null values cannot be formatted as an SQL identifier",
                    ));
                }
                quote_ident(&to_text(v))
            }
            _ => {
                if v.is_null() {
                    "NULL".to_string()
                } else {
                    quote_literal(&to_text(v))
                }
            }
        };
        let n = piece.chars().count();
        if n < width && !left_align {
            out.extend(std::iter::repeat_n(' ', width - n));
        }
        out.push_str(&piece);
        if n < width && left_align {
            out.extend(std::iter::repeat_n(' ', width - n));
        }
    }
    Ok(Value::text(out))
}

fn hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(H[(b >> 4) as usize] as char);
        s.push(H[(b & 15) as usize] as char);
    }
    s
}

fn bytes_arg(a: &[Value]) -> DbResult<&[u8]> {
    match arg(a, 0)? {
        Value::Bytea(b) => Ok(b.as_slice()),
        _ => Ok(text(a, 0)?.as_bytes()),
    }
}

fn md5_fn(a: &[Value]) -> DbResult<Value> {
    Ok(Value::text(hex(&md5(bytes_arg(a)?))))
}

fn sha256_fn(a: &[Value]) -> DbResult<Value> {
    Ok(Value::Bytea(RVec::from(sha256(bytea(a, 0)?).to_vec())))
}

/// MD5 (RFC 1321), for `md5()`; not for security.
pub(crate) fn md5(input: &[u8]) -> [u8; 16] {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    let k: Vec<u32> = (0..64)
        .map(|i| ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32)
        .collect();
    let mut h: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    let mut msg = input.to_vec();
    let bit_len = (input.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_le_bytes());
    for chunk in msg.chunks(64) {
        let m: Vec<u32> = chunk
            .chunks(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let [mut a, mut b, mut c, mut d] = h;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(S[i]));
        }
        h[0] = h[0].wrapping_add(a);
        h[1] = h[1].wrapping_add(b);
        h[2] = h[2].wrapping_add(c);
        h[3] = h[3].wrapping_add(d);
    }
    let mut out = [0u8; 16];
    for (i, w) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// SHA-256 (FIPS 180-4).
pub(crate) fn sha256(input: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = input.to_vec();
    let bit_len = (input.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 64];
        for (i, c) in chunk.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let mut v = h;
        for i in 0..64 {
            let s1 = v[4].rotate_right(6) ^ v[4].rotate_right(11) ^ v[4].rotate_right(25);
            let ch = (v[4] & v[5]) ^ (!v[4] & v[6]);
            let t1 = v[7]
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = v[0].rotate_right(2) ^ v[0].rotate_right(13) ^ v[0].rotate_right(22);
            let maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
            let t2 = s0.wrapping_add(maj);
            v = [
                t1.wrapping_add(t2),
                v[0],
                v[1],
                v[2],
                v[3].wrapping_add(t1),
                v[4],
                v[5],
                v[6],
            ];
        }
        for (x, y) in h.iter_mut().zip(v) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (i, w) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
    }
    out
}

fn to_hex32(a: &[Value]) -> DbResult<Value> {
    Ok(Value::text(format!("{:x}", int(a, 0)? as i32 as u32)))
}

fn to_hex64(a: &[Value]) -> DbResult<Value> {
    Ok(Value::text(format!("{:x}", int(a, 0)? as u64)))
}

fn ascii(a: &[Value]) -> DbResult<Value> {
    Ok(Value::Int4(
        text(a, 0)?.chars().next().map_or(0, |c| c as i32),
    ))
}

fn chr(a: &[Value]) -> DbResult<Value> {
    let n = int4(a, 0)?;
    if n < 0 {
        return Err(err(b"22023", "character number must be positive"));
    }
    if n == 0 {
        return Err(err(b"54000", "null character not permitted"));
    }
    match char::from_u32(n as u32) {
        Some(c) => Ok(Value::text(c.to_string())),
        None => Err(err(
            b"54000",
            format!("requested character too large for encoding: {n}"),
        )),
    }
}

fn starts_with(a: &[Value]) -> DbResult<Value> {
    Ok(Value::Bool(text(a, 0)?.starts_with(text(a, 1)?)))
}

// ------------------------------------------------------------ regular expressions

struct ReFlags {
    global: bool,
    icase: bool,
    newline: bool,
}

fn parse_flags(flags: &str) -> DbResult<ReFlags> {
    let mut f = ReFlags {
        global: false,
        icase: false,
        newline: false,
    };
    for c in flags.chars() {
        match c {
            'g' => f.global = true,
            'i' => f.icase = true,
            'c' => f.icase = false,
            'n' | 'm' => f.newline = true,
            's' => f.newline = false,
            _ => {
                return Err(err(
                    b"22023",
                    format!("invalid regular expression option: \"{c}\""),
                ))
            }
        }
    }
    Ok(f)
}

thread_local! {
    /// Recently compiled patterns: a query usually applies one pattern to
    /// every row.
    static RE_CACHE: RefCell<Vec<(String, bool, bool, Regex)>> = const { RefCell::new(Vec::new()) };
}

fn compile(pattern: &str, f: &ReFlags) -> DbResult<Regex> {
    let hit = RE_CACHE.with(|c| {
        c.borrow()
            .iter()
            .find(|(p, i, n, _)| p == pattern && *i == f.icase && *n == f.newline)
            .map(|e| e.3.clone())
    });
    if let Some(re) = hit {
        return Ok(re);
    }
    // PostgreSQL's default (non newline-sensitive) lets `.` match newlines.
    let re = regex::RegexBuilder::new(pattern)
        .case_insensitive(f.icase)
        .dot_matches_new_line(!f.newline)
        .multi_line(f.newline)
        .build()
        .map_err(|e| {
            let msg = e.to_string();
            let last = msg.lines().last().unwrap_or("").trim();
            let last = last.strip_prefix("error: ").unwrap_or(last);
            err(b"2201B", format!("invalid regular expression: {last}"))
        })?;
    RE_CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= 16 {
            c.remove(0);
        }
        c.push((pattern.to_string(), f.icase, f.newline, re.clone()));
    });
    Ok(re)
}

fn regexp_replace(a: &[Value]) -> DbResult<Value> {
    let (s, pattern, repl) = (text(a, 0)?, text(a, 1)?, text(a, 2)?);
    let flags = parse_flags(if a.len() > 3 { text(a, 3)? } else { "" })?;
    let re = compile(pattern, &flags)?;
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for caps in re.captures_iter(s) {
        let Some(m) = caps.get(0) else { continue };
        out.push_str(&s[last..m.start()]);
        // `\1`..`\9` and `\&` insert groups; `\\` is a backslash.
        let mut it = repl.chars().peekable();
        while let Some(c) = it.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match it.peek().copied() {
                Some(d @ '1'..='9') => {
                    it.next();
                    let g = d as usize - '0' as usize;
                    if let Some(gm) = caps.get(g) {
                        out.push_str(gm.as_str());
                    }
                }
                Some('&') => {
                    it.next();
                    out.push_str(m.as_str());
                }
                Some('\\') => {
                    it.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            }
        }
        last = m.end();
        if !flags.global {
            break;
        }
    }
    out.push_str(&s[last..]);
    Ok(Value::text(out))
}

fn regexp_match(a: &[Value]) -> DbResult<Value> {
    let (s, pattern) = (text(a, 0)?, text(a, 1)?);
    let flags = parse_flags(if a.len() > 2 { text(a, 2)? } else { "" })?;
    if flags.global {
        return Err(err(
            b"22023",
            "regexp_match() does not support the \"global\" option",
        )
        .with_hint("Use the regexp_matches function instead."));
    }
    let re = compile(pattern, &flags)?;
    let Some(caps) = re.captures(s) else {
        return Ok(Value::Null);
    };
    let elems: Vec<Value> = if caps.len() == 1 {
        vec![Value::text(caps.get(0).map_or("", |m| m.as_str()))]
    } else {
        (1..caps.len())
            .map(|i| caps.get(i).map_or(Value::Null, |m| Value::text(m.as_str())))
            .collect()
    };
    Ok(Value::Array(ArrayValue::one_dim(TypeId::Text, elems)))
}

// ------------------------------------------------------------ encode/decode

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn unknown_encoding(name: &str) -> AionError {
    err(b"22023", format!("unrecognized encoding: \"{name}\""))
}

fn encode(a: &[Value]) -> DbResult<Value> {
    let (b, how) = (bytea(a, 0)?, text(a, 1)?);
    let out = match how.to_ascii_lowercase().as_str() {
        "hex" => hex(b),
        "base64" => {
            let mut s = String::with_capacity(b.len() * 4 / 3 + 4);
            let mut line = 0;
            for chunk in b.chunks(3) {
                // PostgreSQL breaks base64 output into 76-character lines.
                if line >= 76 {
                    s.push('\n');
                    line = 0;
                }
                let n = (chunk[0] as u32) << 16
                    | (chunk.get(1).copied().unwrap_or(0) as u32) << 8
                    | chunk.get(2).copied().unwrap_or(0) as u32;
                for k in 0..4 {
                    if k <= chunk.len() {
                        s.push(B64[((n >> (18 - 6 * k)) & 63) as usize] as char);
                    } else {
                        s.push('=');
                    }
                }
                line += 4;
            }
            s
        }
        "escape" => {
            let mut s = String::with_capacity(b.len());
            for &c in b {
                match c {
                    b'\\' => s.push_str("\\\\"),
                    0 | 0x80..=0xff => s.push_str(&format!("\\{c:03o}")),
                    c => s.push(c as char),
                }
            }
            s
        }
        _ => return Err(unknown_encoding(how)),
    };
    Ok(Value::text(out))
}

fn hex_digit(c: u8) -> DbResult<u8> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(err(
            b"22023",
            format!("invalid hexadecimal digit: \"{}\"", c as char),
        )),
    }
}

fn decode(a: &[Value]) -> DbResult<Value> {
    let (s, how) = (text(a, 0)?, text(a, 1)?);
    let bytes = s.as_bytes();
    let out = match how.to_ascii_lowercase().as_str() {
        "hex" => {
            let mut out = Vec::with_capacity(bytes.len() / 2);
            let mut i = 0;
            while i < bytes.len() {
                if matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r') {
                    i += 1;
                    continue;
                }
                let hi = hex_digit(bytes[i])?;
                let lo = match bytes.get(i + 1) {
                    Some(&c) => hex_digit(c)?,
                    None => {
                        return Err(err(
                            b"22023",
                            "invalid hexadecimal data: odd number of digits",
                        ))
                    }
                };
                out.push(hi << 4 | lo);
                i += 2;
            }
            out
        }
        "base64" => {
            let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
            let mut acc: u32 = 0;
            let mut n = 0;
            let mut pad = 0;
            for &c in bytes {
                let v = match c {
                    b' ' | b'\t' | b'\n' | b'\r' => continue,
                    b'=' => {
                        pad += 1;
                        continue;
                    }
                    _ if pad > 0 => {
                        return Err(err(
                            b"22023",
                            "unexpected \"=\" while decoding base64 sequence",
                        ))
                    }
                    b'A'..=b'Z' => c - b'A',
                    b'a'..=b'z' => c - b'a' + 26,
                    b'0'..=b'9' => c - b'0' + 52,
                    b'+' => 62,
                    b'/' => 63,
                    _ => {
                        return Err(err(
                            b"22023",
                            format!(
                                "invalid symbol \"{}\" found while decoding base64 sequence",
                                c as char
                            ),
                        ))
                    }
                };
                acc = acc << 6 | v as u32;
                n += 1;
                if n == 4 {
                    out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
                    acc = 0;
                    n = 0;
                }
            }
            if (n + pad) % 4 != 0 || (n == 1) {
                return Err(err(b"22023", "invalid base64 end sequence").with_hint(
                    "Input data is missing padding, is truncated, or is otherwise corrupted.",
                ));
            }
            match n {
                2 => out.push((acc >> 4) as u8),
                3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
                _ => {}
            }
            out
        }
        "escape" => {
            let mut out = Vec::with_capacity(bytes.len());
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] != b'\\' {
                    out.push(bytes[i]);
                    i += 1;
                } else if bytes.get(i + 1) == Some(&b'\\') {
                    out.push(b'\\');
                    i += 2;
                } else if let Some(o) = bytes.get(i + 1..i + 4).filter(|o| {
                    (b'0'..=b'3').contains(&o[0])
                        && o[1..].iter().all(|d| (b'0'..=b'7').contains(d))
                }) {
                    out.push((o[0] - b'0') << 6 | (o[1] - b'0') << 3 | (o[2] - b'0'));
                    i += 4;
                } else {
                    return Err(err(b"22P02", "invalid input syntax for type bytea"));
                }
            }
            out
        }
        _ => return Err(unknown_encoding(how)),
    };
    Ok(Value::Bytea(RVec::from(out)))
}
