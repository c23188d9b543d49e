//! `real` / `double precision` text I/O with PostgreSQL 12+ semantics
//! (`extra_float_digits` > 0): shortest round-trip digits, `%e`-style
//! exponent when the decimal exponent is < -4 or >= the type's DIG.

// `DbResult` carries the whole `AionError` by design (it crosses the plugin
// boundary unchanged), so the large-`Err` lint does not apply here.

use crate::error::{AionError, DbResult, SqlState};

use super::text::is_pg_space;

/// `DBL_DIG` and `FLT_DIG`: where PostgreSQL switches to exponent notation.
const F64_EXP_LIMIT: i32 = 15;
const F32_EXP_LIMIT: i32 = 6;

pub fn write_f64(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
    } else if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0" } else { "0" });
    } else {
        // Rust's `{:e}` yields the shortest digits that round-trip.
        write_shortest(&format!("{v:e}"), F64_EXP_LIMIT, out);
    }
}

pub fn write_f32(v: f32, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
    } else if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0" } else { "0" });
    } else {
        write_shortest(&format!("{v:e}"), F32_EXP_LIMIT, out);
    }
}

/// Re-lays out Rust's `d.ddde[-]x` shortest form the way PostgreSQL prints.
fn write_shortest(sci: &str, exp_limit: i32, out: &mut String) {
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if neg {
        out.push('-');
    }
    if exp < -4 || exp >= exp_limit {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.unsigned_abs()));
    } else if exp >= 0 {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            out.push_str(&"0".repeat(int_len - digits.len()));
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    } else {
        out.push_str("0.");
        out.push_str(&"0".repeat((-exp - 1) as usize));
        out.push_str(&digits);
    }
}

/// Checks `strtod` syntax that Rust's parser does not share and returns the
/// literal kind, or `None` for a syntax error.
fn float_syntax(t: &str) -> Option<FloatLit> {
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    let lower = unsigned.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity" | "nan") {
        return Some(FloatLit::Special);
    }
    if let Some(hex) = lower.strip_prefix("0x") {
        // strtod accepts hexadecimal; integral forms are what people write.
        if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut v = 0f64;
            for b in hex.bytes() {
                v = v * 16.0 + (b as char).to_digit(16).unwrap_or(0) as f64;
            }
            return Some(FloatLit::Hex(if t.starts_with('-') { -v } else { v }));
        }
        return None;
    }
    let b = unsigned.as_bytes();
    let mut i = 0;
    let mut mantissa_digits = 0;
    let mut nonzero = false;
    let mut point = false;
    while i < b.len() {
        match b[i] {
            b'0'..=b'9' => {
                mantissa_digits += 1;
                nonzero |= b[i] != b'0';
            }
            b'.' if !point => point = true,
            _ => break,
        }
        i += 1;
    }
    if mantissa_digits == 0 {
        return None;
    }
    if i < b.len() {
        if b[i] != b'e' && b[i] != b'E' {
            return None;
        }
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start || i != b.len() {
            return None;
        }
    }
    Some(FloatLit::Decimal { nonzero })
}

enum FloatLit {
    Special,
    Hex(f64),
    Decimal { nonzero: bool },
}

fn syntax_error(type_name: &str, input: &str) -> AionError {
    AionError::new(
        SqlState::INVALID_TEXT_REPRESENTATION,
        format!("invalid input syntax for type {type_name}: \"{input}\""),
    )
}

fn range_error(type_name: &str, trimmed: &str) -> AionError {
    AionError::new(
        SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
        format!("\"{trimmed}\" is out of range for type {type_name}"),
    )
}

/// `float8in`.
pub fn parse_f64(input: &str) -> DbResult<f64> {
    const NAME: &str = "double precision";
    let t = input.trim_matches(is_pg_space);
    let lit = float_syntax(t).ok_or_else(|| syntax_error(NAME, input))?;
    let v = match lit {
        FloatLit::Hex(v) => v,
        FloatLit::Special | FloatLit::Decimal { .. } => {
            t.parse::<f64>().map_err(|_| syntax_error(NAME, input))?
        }
    };
    check_range(v.is_infinite(), v == 0.0, &lit, NAME, t)?;
    Ok(v)
}

/// `float4in`: parsed directly in single precision, as `strtof` does.
pub fn parse_f32(input: &str) -> DbResult<f32> {
    const NAME: &str = "real";
    let t = input.trim_matches(is_pg_space);
    let lit = float_syntax(t).ok_or_else(|| syntax_error(NAME, input))?;
    let v = match lit {
        FloatLit::Hex(v) => v as f32,
        FloatLit::Special | FloatLit::Decimal { .. } => {
            t.parse::<f32>().map_err(|_| syntax_error(NAME, input))?
        }
    };
    check_range(v.is_infinite(), v == 0.0, &lit, NAME, t)?;
    Ok(v)
}

/// Overflow to infinity and underflow to zero are errors, as with ERANGE.
fn check_range(inf: bool, zero: bool, lit: &FloatLit, name: &str, t: &str) -> DbResult<()> {
    let bad = match lit {
        FloatLit::Special => false,
        FloatLit::Hex(_) => inf,
        FloatLit::Decimal { nonzero } => inf || (zero && *nonzero),
    };
    if bad {
        Err(range_error(name, t))
    } else {
        Ok(())
    }
}
