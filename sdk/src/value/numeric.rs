//! `numeric`: conversion between the base-10000 layout and decimal text,
//! rounding, and typmod enforcement.
//!
//! Arithmetic on the layout directly is left to the engine; here every
//! operation goes through a plain decimal digit string, which is simple and
//! fast enough for I/O.

// `DbResult` carries the whole `AionError` by design (it crosses the plugin
// boundary unchanged), so the large-`Err` lint does not apply here.

use std::fmt;

use abi_stable::std_types::RVec;

use crate::error::{AionError, DbResult, SqlState};

use super::{Numeric, NumericKind};

/// Largest display scale PostgreSQL accepts.
const MAX_DSCALE: i64 = 0x3FFF;

/// Why a numeric literal was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumericParseError {
    Syntax,
    Overflow,
}

impl Numeric {
    pub fn zero() -> Numeric {
        Numeric {
            kind: NumericKind::Finite,
            negative: false,
            digits: RVec::new(),
            weight: 0,
            dscale: 0,
        }
    }

    fn special(kind: NumericKind) -> Numeric {
        Numeric {
            kind,
            ..Numeric::zero()
        }
    }

    pub fn nan() -> Numeric {
        Numeric::special(NumericKind::NaN)
    }

    pub fn infinity(negative: bool) -> Numeric {
        Numeric::special(if negative {
            NumericKind::NegInf
        } else {
            NumericKind::PosInf
        })
    }

    pub fn is_finite(&self) -> bool {
        self.kind == NumericKind::Finite
    }

    pub fn is_zero(&self) -> bool {
        self.is_finite() && self.digits.is_empty()
    }

    pub fn from_i64(v: i64) -> Numeric {
        let digits: Vec<u8> = v
            .unsigned_abs()
            .to_string()
            .bytes()
            .map(|b| b - b'0')
            .collect();
        // Integers always fit the weight range, so this cannot fail.
        Numeric::from_decimal(v < 0, &digits, 0, 0).unwrap_or_else(|_| Numeric::zero())
    }

    /// Nearest `f64`; NaN and the infinities map to their float namesakes.
    pub fn to_f64(&self) -> f64 {
        match self.kind {
            NumericKind::NaN => f64::NAN,
            NumericKind::PosInf => f64::INFINITY,
            NumericKind::NegInf => f64::NEG_INFINITY,
            NumericKind::Finite => {
                let (digits, exp) = self.to_decimal();
                if digits.is_empty() {
                    return 0.0;
                }
                let mut s = String::with_capacity(digits.len() + 12);
                if self.negative {
                    s.push('-');
                }
                s.extend(digits.iter().map(|d| (b'0' + d) as char));
                s.push('e');
                s.push_str(&exp.to_string());
                s.parse().unwrap_or(f64::NAN)
            }
        }
    }

    /// Parses PostgreSQL numeric literal syntax (surrounding whitespace,
    /// sign, exponent, `NaN`, `Infinity`, `inf`).
    pub fn parse(s: &str) -> Option<Numeric> {
        parse_numeric(s).ok()
    }

    /// Decimal digits without leading or trailing zeros, and the power of
    /// ten of the last one. Zero gives no digits.
    pub(crate) fn to_decimal(&self) -> (Vec<u8>, i64) {
        let mut digits = Vec::with_capacity(self.digits.len() * 4);
        for &g in self.digits.iter() {
            let g = g.min(9999);
            digits.extend_from_slice(&[
                (g / 1000) as u8,
                (g / 100 % 10) as u8,
                (g / 10 % 10) as u8,
                (g % 10) as u8,
            ]);
        }
        let n = self.digits.len() as i64;
        let mut exp = 4 * (self.weight as i64 - (n - 1));
        let lead = digits.iter().take_while(|&&d| d == 0).count();
        digits.drain(..lead);
        while digits.last() == Some(&0) {
            digits.pop();
            exp += 1;
        }
        (digits, exp)
    }

    /// Builds a finite numeric from decimal digits meaning
    /// `digits × 10^exp`. Leading and trailing zeros are allowed.
    pub(crate) fn from_decimal(
        negative: bool,
        digits: &[u8],
        exp: i64,
        dscale: u16,
    ) -> Result<Numeric, NumericParseError> {
        let start = digits.iter().take_while(|&&d| d == 0).count();
        let mut end = digits.len();
        while end > start && digits[end - 1] == 0 {
            end -= 1;
        }
        let trimmed = &digits[start..end];
        if trimmed.is_empty() {
            return Ok(Numeric {
                dscale,
                ..Numeric::zero()
            });
        }
        let mut exp = exp + (digits.len() - end) as i64;
        // Align to a base-10000 boundary by appending zeros on the right.
        let pad_right = exp.rem_euclid(4) as usize;
        exp -= pad_right as i64;
        let total = trimmed.len() + pad_right;
        let pad_left = (4 - total % 4) % 4;
        let mut buf = Vec::with_capacity(pad_left + total);
        buf.resize(pad_left, 0u8);
        buf.extend_from_slice(trimmed);
        buf.resize(pad_left + total, 0u8);
        let groups: Vec<u16> = buf
            .chunks(4)
            .map(|c| c.iter().fold(0u16, |acc, &d| acc * 10 + d as u16))
            .collect();
        let weight = groups.len() as i64 - 1 + exp / 4;
        if weight > i16::MAX as i64 || weight < i16::MIN as i64 {
            return Err(NumericParseError::Overflow);
        }
        Ok(Numeric {
            kind: NumericKind::Finite,
            negative,
            digits: RVec::from(groups),
            weight: weight as i16,
            dscale,
        })
    }

    /// Rounds half away from zero to `scale` decimal places (negative
    /// scales round to tens, hundreds, ...), setting the display scale.
    pub fn round_to_scale(&self, scale: i32) -> Numeric {
        if !self.is_finite() {
            return self.clone();
        }
        let dscale = scale.clamp(0, MAX_DSCALE as i32) as u16;
        let (digits, exp) = self.to_decimal();
        let scale = scale as i64;
        if digits.is_empty() || -exp <= scale {
            let mut n = self.clone();
            n.dscale = dscale;
            return n;
        }
        // Number of leading digits that survive: those worth >= 10^-scale.
        let keep = digits.len() as i64 + exp + scale;
        if keep < 0 {
            return Numeric {
                dscale,
                ..Numeric::zero()
            };
        }
        let keep = keep as usize;
        let mut kept: Vec<u8> = digits[..keep].to_vec();
        if digits.get(keep).is_some_and(|&d| d >= 5) {
            let mut i = kept.len();
            loop {
                if i == 0 {
                    kept.insert(0, 1);
                    break;
                }
                i -= 1;
                if kept[i] == 9 {
                    kept[i] = 0;
                } else {
                    kept[i] += 1;
                    break;
                }
            }
        }
        Numeric::from_decimal(self.negative, &kept, -scale, dscale).unwrap_or_else(|_| self.clone())
    }

    /// Applies a `numeric(p, s)` type modifier the way PostgreSQL's
    /// `numeric()` coercion does: round to `s`, then reject values needing
    /// more than `p - s` integer digits.
    pub fn apply_typmod(&self, typmod: i32) -> DbResult<Numeric> {
        if typmod < 4 {
            return Ok(self.clone());
        }
        let t = typmod - 4;
        let precision = (t >> 16) & 0xffff;
        // The scale is an 11-bit signed field (negative scales are allowed).
        let scale = ((t & 0x7ff) ^ 0x400) - 0x400;
        let overflow = || {
            AionError::new(
                SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
                "numeric field overflow",
            )
        };
        match self.kind {
            NumericKind::NaN => return Ok(self.clone()),
            NumericKind::PosInf | NumericKind::NegInf => {
                return Err(overflow().with_detail(format!(
                "A field with precision {precision}, scale {scale} cannot hold an infinite value."
            )))
            }
            NumericKind::Finite => {}
        }
        let rounded = self.round_to_scale(scale);
        let (digits, exp) = rounded.to_decimal();
        let max_int_digits = (precision - scale) as i64;
        if !digits.is_empty() && digits.len() as i64 + exp > max_int_digits {
            let bound = if max_int_digits > 0 {
                format!("10^{max_int_digits}")
            } else {
                "1".to_string()
            };
            return Err(overflow().with_detail(format!(
                "A field with precision {precision}, scale {scale} must round to an absolute value less than {bound}."
            )));
        }
        Ok(rounded)
    }
}

/// Full numeric literal parser, distinguishing syntax errors from overflow.
pub(crate) fn parse_numeric(s: &str) -> Result<Numeric, NumericParseError> {
    let t = s.trim_matches(super::text::is_pg_space);
    let lower = t.to_ascii_lowercase();
    match lower.as_str() {
        "nan" => return Ok(Numeric::nan()),
        "infinity" | "+infinity" | "inf" | "+inf" => return Ok(Numeric::infinity(false)),
        "-infinity" | "-inf" => return Ok(Numeric::infinity(true)),
        _ => {}
    }
    let b = t.as_bytes();
    let mut i = 0;
    let mut negative = false;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        negative = b[i] == b'-';
        i += 1;
    }
    let mut digits = Vec::with_capacity(b.len());
    let mut frac_digits: i64 = 0;
    let mut seen_point = false;
    while i < b.len() {
        match b[i] {
            c @ b'0'..=b'9' => {
                digits.push(c - b'0');
                if seen_point {
                    frac_digits += 1;
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => break,
        }
        i += 1;
    }
    if digits.is_empty() {
        return Err(NumericParseError::Syntax);
    }
    let mut exp10: i64 = 0;
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        let mut eneg = false;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            eneg = b[i] == b'-';
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            // Saturate: anything this large overflows later anyway.
            exp10 = (exp10 * 10 + (b[i] - b'0') as i64).min(1 << 40);
            i += 1;
        }
        if i == start {
            return Err(NumericParseError::Syntax);
        }
        if eneg {
            exp10 = -exp10;
        }
    }
    if i != b.len() {
        return Err(NumericParseError::Syntax);
    }
    let dscale = (frac_digits - exp10).max(0);
    if dscale > MAX_DSCALE {
        return Err(NumericParseError::Overflow);
    }
    let n = Numeric::from_decimal(negative, &digits, exp10 - frac_digits, dscale as u16)?;
    // PostgreSQL never stores a negative zero.
    Ok(if n.digits.is_empty() {
        Numeric {
            negative: false,
            ..n
        }
    } else {
        n
    })
}

impl fmt::Display for Numeric {
    /// PostgreSQL's `numeric_out`: plain notation with exactly `dscale`
    /// fractional digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            NumericKind::NaN => return f.write_str("NaN"),
            NumericKind::PosInf => return f.write_str("Infinity"),
            NumericKind::NegInf => return f.write_str("-Infinity"),
            NumericKind::Finite => {}
        }
        let (digits, exp) = self.to_decimal();
        // Zero has no digits; its exponent is meaningless.
        let exp = if digits.is_empty() { 0 } else { exp };
        let mut s = String::with_capacity(digits.len() + self.dscale as usize + 4);
        if self.negative && !digits.is_empty() {
            s.push('-');
        }
        let ch = |d: &u8| (b'0' + d) as char;
        let point = digits.len() as i64 + exp;
        if point <= 0 {
            s.push('0');
        } else if exp >= 0 {
            s.extend(digits.iter().map(ch));
            s.push_str(&"0".repeat(exp as usize));
        } else {
            s.extend(digits[..point as usize].iter().map(ch));
        }
        if self.dscale > 0 {
            s.push('.');
            let mut frac = String::with_capacity(self.dscale as usize);
            if exp < 0 {
                if point < 0 {
                    frac.push_str(&"0".repeat((-point) as usize));
                }
                let from = point.max(0) as usize;
                frac.extend(digits[from..].iter().map(ch));
            }
            let want = self.dscale as usize;
            if frac.len() > want {
                frac.truncate(want);
            } else {
                let pad = want - frac.len();
                frac.push_str(&"0".repeat(pad));
            }
            s.push_str(&frac);
        }
        f.write_str(&s)
    }
}
