//! `numeric`: conversion between the base-10000 layout and decimal text,
//! rounding, and typmod enforcement.
//!
//! Arithmetic on the layout directly is left to the engine; here every
//! operation goes through a plain decimal digit string, which is simple and
//! fast enough for I/O.

// `DbResult` carries the whole `AionError` by design (it crosses the plugin
// boundary unchanged), so the large-`Err` lint does not apply here.

use std::cmp::Ordering;
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

// ------------------------------------------------------------ arithmetic
//
// Arithmetic works on the base-10000 digits directly, as PostgreSQL does:
// add/sub/mul are exact, division computes guard digits past the wanted
// scale and then rounds half away from zero.

const NBASE: u32 = 10_000;
/// PostgreSQL's NUMERIC_MIN_SIG_DIGITS: division and powers keep at least
/// this many significant digits.
const MIN_SIG_DIGITS: i32 = 16;
/// NUMERIC_MAX_DISPLAY_SCALE.
const MAX_DISPLAY_SCALE: i32 = 1000;

fn numeric_overflow() -> AionError {
    AionError::new(
        SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
        "value overflows numeric format",
    )
}

pub(crate) fn division_by_zero() -> AionError {
    AionError::new(SqlState::DIVISION_BY_ZERO, "division by zero")
}

/// Builds a finite numeric from MSB-first base-10000 digits (leading and
/// trailing zero digits allowed) whose first digit has weight `weight`.
fn from_digits(negative: bool, digits: &[u32], weight: i64, dscale: u16) -> DbResult<Numeric> {
    let start = digits.iter().take_while(|&&d| d == 0).count();
    let mut end = digits.len();
    while end > start && digits[end - 1] == 0 {
        end -= 1;
    }
    if start == end {
        return Ok(Numeric {
            dscale,
            ..Numeric::zero()
        });
    }
    let weight = weight - start as i64;
    if weight > i16::MAX as i64 {
        return Err(numeric_overflow());
    }
    if weight < i16::MIN as i64 {
        // Too small to represent: rounds to zero at any displayable scale.
        return Ok(Numeric {
            dscale,
            ..Numeric::zero()
        });
    }
    Ok(Numeric {
        kind: NumericKind::Finite,
        negative,
        digits: digits[start..end].iter().map(|&d| d as u16).collect(),
        weight: weight as i16,
        dscale,
    })
}

/// Compares absolute values of two finite numerics.
fn cmp_abs(a: &Numeric, b: &Numeric) -> Ordering {
    match (a.digits.is_empty(), b.digits.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Less,
        (false, true) => return Ordering::Greater,
        _ => {}
    }
    a.weight
        .cmp(&b.weight)
        .then_with(|| a.digits.as_slice().cmp(b.digits.as_slice()))
}

/// `|a| + |b|` or `|a| - |b|` (requires `|a| >= |b|` for subtraction), as
/// MSB-first digits and the weight of the first one.
fn add_sub_abs(a: &Numeric, b: &Numeric, subtract: bool) -> (Vec<u32>, i64) {
    let (wa, wb) = (a.weight as i64, b.weight as i64);
    let low_a = wa - a.digits.len() as i64 + 1;
    let low_b = wb - b.digits.len() as i64 + 1;
    let top = wa.max(wb) + 1;
    let low = low_a.min(low_b);
    let n = (top - low + 1) as usize;
    let mut res = vec![0i32; n];
    // Position of weight w in `res` (MSB-first).
    let idx = |w: i64| (top - w) as usize;
    for (i, &d) in a.digits.iter().enumerate() {
        res[idx(wa - i as i64)] += d as i32;
    }
    let sign = if subtract { -1 } else { 1 };
    for (i, &d) in b.digits.iter().enumerate() {
        res[idx(wb - i as i64)] += sign * d as i32;
    }
    let mut carry = 0i32;
    for d in res.iter_mut().rev() {
        let v = *d + carry;
        carry = v.div_euclid(NBASE as i32);
        *d = v.rem_euclid(NBASE as i32);
    }
    (res.into_iter().map(|d| d as u32).collect(), top)
}

/// Adds two finite numerics with signs.
fn add_finite(a: &Numeric, b: &Numeric, b_negative: bool) -> DbResult<Numeric> {
    let dscale = a.dscale.max(b.dscale);
    if a.negative == b_negative {
        let (d, w) = add_sub_abs(a, b, false);
        return from_digits(a.negative, &d, w, dscale);
    }
    match cmp_abs(a, b) {
        Ordering::Equal => Ok(Numeric {
            dscale,
            ..Numeric::zero()
        }),
        Ordering::Greater => {
            let (d, w) = add_sub_abs(a, b, true);
            from_digits(a.negative, &d, w, dscale)
        }
        Ordering::Less => {
            let (d, w) = add_sub_abs(b, a, true);
            from_digits(b_negative, &d, w, dscale)
        }
    }
}

/// Quotient of LSB-first base-10000 integers (`v` has a nonzero top
/// digit), by Knuth's algorithm D.
fn div_big(u: &[u32], v: &[u32]) -> Vec<u32> {
    let n = v.len();
    if u.len() < n {
        return Vec::new();
    }
    if n == 1 {
        let d = v[0] as u64;
        let mut q = vec![0u32; u.len()];
        let mut rem = 0u64;
        for i in (0..u.len()).rev() {
            let cur = rem * NBASE as u64 + u[i] as u64;
            q[i] = (cur / d) as u32;
            rem = cur % d;
        }
        return q;
    }
    let base = NBASE as i64;
    // Normalise so the divisor's top digit is at least base / 2.
    let f = base / (v[n - 1] as i64 + 1);
    let scale = |x: &[u32], extra: bool| {
        let mut out = Vec::with_capacity(x.len() + 1);
        let mut carry = 0i64;
        for &d in x {
            let t = d as i64 * f + carry;
            out.push(t % base);
            carry = t / base;
        }
        if extra {
            out.push(carry);
        }
        out
    };
    let mut un = scale(u, true);
    let vn = scale(v, false);
    let m = u.len() - n;
    let mut q = vec![0u32; m + 1];
    for j in (0..=m).rev() {
        let num = un[j + n] * base + un[j + n - 1];
        let mut qhat = num / vn[n - 1];
        let mut rhat = num % vn[n - 1];
        while qhat >= base || qhat * vn[n - 2] > rhat * base + un[j + n - 2] {
            qhat -= 1;
            rhat += vn[n - 1];
            if rhat >= base {
                break;
            }
        }
        let mut borrow = 0i64;
        let mut carry = 0i64;
        for i in 0..n {
            let p = qhat * vn[i] + carry;
            carry = p / base;
            let t = un[i + j] - borrow - p % base;
            borrow = i64::from(t < 0);
            un[i + j] = t.rem_euclid(base);
        }
        let t = un[j + n] - borrow - carry;
        un[j + n] = t.rem_euclid(base);
        if t < 0 {
            qhat -= 1;
            let mut c = 0i64;
            for i in 0..n {
                let s = un[i + j] + vn[i] + c;
                un[i + j] = s % base;
                c = s / base;
            }
            un[j + n] = (un[j + n] + c) % base;
        }
        q[j] = qhat as u32;
    }
    q
}

/// `a / b` for finite nonzero `b`, truncated to `frac_digits` base-10000
/// digits after the point: MSB-first digits and the first one's weight.
fn div_trunc_digits(a: &Numeric, b: &Numeric, frac_digits: i64) -> (Vec<u32>, i64) {
    if a.digits.is_empty() {
        return (Vec::new(), 0);
    }
    // a = A * NBASE^ea, b = B * NBASE^eb with A, B integers.
    let ea = a.weight as i64 - a.digits.len() as i64 + 1;
    let eb = b.weight as i64 - b.digits.len() as i64 + 1;
    // floor(A * NBASE^s / B) has exponent ea - eb - s = -frac_digits.
    let s = ea - eb + frac_digits;
    let mut u: Vec<u32> = a.digits.iter().rev().map(|&d| d as u32).collect();
    let mut v: Vec<u32> = b.digits.iter().rev().map(|&d| d as u32).collect();
    if s >= 0 {
        u.splice(0..0, std::iter::repeat_n(0, s as usize));
    } else {
        v.splice(0..0, std::iter::repeat_n(0, (-s) as usize));
    }
    let mut q = div_big(&u, &v);
    q.reverse();
    let w = q.len() as i64 - 1 - frac_digits;
    (q, w)
}

/// PostgreSQL's `select_div_scale`.
fn div_scale(a: &Numeric, b: &Numeric) -> i32 {
    let (w1, f1) = a.digits.first().map_or((0, 0), |&d| (a.weight as i32, d));
    let (w2, f2) = b.digits.first().map_or((0, 0), |&d| (b.weight as i32, d));
    let mut qweight = w1 - w2;
    if f1 <= f2 {
        qweight -= 1;
    }
    (MIN_SIG_DIGITS - qweight * 4)
        .max(a.dscale as i32)
        .max(b.dscale as i32)
        .clamp(0, MAX_DISPLAY_SCALE)
}

impl Numeric {
    /// PostgreSQL's numeric order: -Infinity < finite < Infinity < NaN,
    /// and NaN equals NaN. Display scale does not matter (1.0 = 1), which
    /// is why this is not `Ord` (the derived `Eq` is structural).
    pub fn cmp_value(&self, other: &Numeric) -> Ordering {
        let rank = |n: &Numeric| match n.kind {
            NumericKind::NegInf => 0,
            NumericKind::Finite => 1,
            NumericKind::PosInf => 2,
            NumericKind::NaN => 3,
        };
        let (ra, rb) = (rank(self), rank(other));
        if ra != 1 || rb != 1 {
            return ra.cmp(&rb);
        }
        let neg_a = self.negative && !self.digits.is_empty();
        let neg_b = other.negative && !other.digits.is_empty();
        match (neg_a, neg_b) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => cmp_abs(self, other),
            (true, true) => cmp_abs(other, self),
        }
    }
}

impl Numeric {
    fn sign(&self) -> i32 {
        match self.kind {
            NumericKind::PosInf => 1,
            NumericKind::NegInf => -1,
            NumericKind::NaN => 0,
            NumericKind::Finite if self.digits.is_empty() => 0,
            NumericKind::Finite if self.negative => -1,
            NumericKind::Finite => 1,
        }
    }

    pub fn is_nan(&self) -> bool {
        self.kind == NumericKind::NaN
    }

    pub fn neg(&self) -> Numeric {
        match self.kind {
            NumericKind::NaN => self.clone(),
            NumericKind::PosInf => Numeric::infinity(true),
            NumericKind::NegInf => Numeric::infinity(false),
            NumericKind::Finite => Numeric {
                negative: !self.negative && !self.digits.is_empty(),
                ..self.clone()
            },
        }
    }

    pub fn abs(&self) -> Numeric {
        match self.kind {
            NumericKind::NegInf => Numeric::infinity(false),
            _ => Numeric {
                negative: false,
                ..self.clone()
            },
        }
    }

    pub fn add(&self, other: &Numeric) -> DbResult<Numeric> {
        self.add_signed(other, false)
    }

    pub fn sub(&self, other: &Numeric) -> DbResult<Numeric> {
        self.add_signed(other, true)
    }

    fn add_signed(&self, other: &Numeric, flip: bool) -> DbResult<Numeric> {
        let other_sign = if flip { -other.sign() } else { other.sign() };
        match (self.kind, other.kind) {
            (NumericKind::Finite, NumericKind::Finite) => {
                add_finite(self, other, other.negative != flip)
            }
            (NumericKind::NaN, _) | (_, NumericKind::NaN) => Ok(Numeric::nan()),
            (NumericKind::Finite, _) => Ok(Numeric::infinity(other_sign < 0)),
            (_, NumericKind::Finite) => Ok(self.clone()),
            _ if self.sign() == other_sign => Ok(self.clone()),
            _ => Ok(Numeric::nan()),
        }
    }

    pub fn mul(&self, other: &Numeric) -> DbResult<Numeric> {
        if !self.is_finite() || !other.is_finite() {
            let s = self.sign() * other.sign();
            return Ok(if self.is_nan() || other.is_nan() || s == 0 {
                Numeric::nan()
            } else {
                Numeric::infinity(s < 0)
            });
        }
        // PostgreSQL keeps the exact product, capped at the display limit.
        let dscale = (self.dscale as i32 + other.dscale as i32).min(MAX_DISPLAY_SCALE) as u16;
        let (a, b) = (&self.digits, &other.digits);
        if a.is_empty() || b.is_empty() {
            return Ok(Numeric {
                dscale,
                ..Numeric::zero()
            });
        }
        let mut acc = vec![0u64; a.len() + b.len()];
        for (i, &x) in a.iter().enumerate() {
            for (j, &y) in b.iter().enumerate() {
                acc[i + j + 1] += x as u64 * y as u64;
            }
        }
        let mut carry = 0u64;
        let mut res = vec![0u32; acc.len()];
        for k in (0..acc.len()).rev() {
            let v = acc[k] + carry;
            res[k] = (v % NBASE as u64) as u32;
            carry = v / NBASE as u64;
        }
        let weight = self.weight as i64 + other.weight as i64 + 1;
        let n = from_digits(self.negative != other.negative, &res, weight, dscale)?;
        // Exact products can exceed the display scale limit only at 1000+.
        Ok(
            if (self.dscale as i32 + other.dscale as i32) > MAX_DISPLAY_SCALE {
                n.round_to_scale(dscale as i32)
            } else {
                n
            },
        )
    }

    /// Division with PostgreSQL's result scale (`select_div_scale`).
    pub fn div(&self, other: &Numeric) -> DbResult<Numeric> {
        if other.is_zero() {
            if self.is_nan() {
                return Ok(Numeric::nan());
            }
            return Err(division_by_zero());
        }
        if !self.is_finite() || !other.is_finite() {
            return Ok(match (self.kind, other.kind) {
                (NumericKind::NaN, _) | (_, NumericKind::NaN) => Numeric::nan(),
                (NumericKind::Finite, _) => Numeric::zero(),
                (_, NumericKind::Finite) => Numeric::infinity(self.sign() * other.sign() < 0),
                _ => Numeric::nan(),
            });
        }
        let scale = div_scale(self, other);
        self.div_rounded(other, scale)
    }

    /// `self / other` rounded half away from zero to `scale` digits.
    pub(crate) fn div_rounded(&self, other: &Numeric, scale: i32) -> DbResult<Numeric> {
        let frac = (scale as i64 + 3) / 4 + 1;
        let (d, w) = div_trunc_digits(self, other, frac);
        let q = from_digits(self.negative != other.negative, &d, w, 0)?;
        Ok(q.round_to_scale(scale))
    }

    /// Truncating integer division (`div()`), result scale 0.
    pub fn div_trunc(&self, other: &Numeric) -> DbResult<Numeric> {
        if other.is_zero() {
            return Err(division_by_zero());
        }
        let (d, w) = div_trunc_digits(self, other, 0);
        from_digits(self.negative != other.negative, &d, w, 0)
    }

    /// `%`: the remainder has the sign of the dividend.
    pub fn modulo(&self, other: &Numeric) -> DbResult<Numeric> {
        if other.is_zero() {
            if self.is_nan() {
                return Ok(Numeric::nan());
            }
            return Err(division_by_zero());
        }
        if !self.is_finite() || !other.is_finite() {
            return Ok(match (self.kind, other.kind) {
                (NumericKind::Finite, NumericKind::PosInf | NumericKind::NegInf) => self.clone(),
                _ => Numeric::nan(),
            });
        }
        let q = self.div_trunc(other)?;
        let r = self.sub(&q.mul(other)?)?;
        Ok(Numeric {
            dscale: self.dscale.max(other.dscale),
            ..r
        })
    }

    /// Rounds half away from zero to an integer; `None` when out of range
    /// for `i64` or not finite.
    pub fn to_i64_round(&self) -> Option<i64> {
        if !self.is_finite() {
            return None;
        }
        let r = self.round_to_scale(0);
        if r.digits.is_empty() {
            return Some(0);
        }
        if r.weight < 0 || r.weight > 4 {
            return None;
        }
        let mut v: i128 = 0;
        for k in 0..=r.weight as usize {
            v = v * NBASE as i128 + r.digits.get(k).copied().unwrap_or(0) as i128;
        }
        if r.negative {
            v = -v;
        }
        i64::try_from(v).ok()
    }

    /// `float8_numeric`: the value printed with 15 significant digits
    /// (`%.15g`), as PostgreSQL does; 6 digits for `real` sources.
    pub fn from_f64_digits(v: f64, sig_digits: usize) -> DbResult<Numeric> {
        if v.is_nan() {
            return Ok(Numeric::nan());
        }
        if v.is_infinite() {
            return Ok(Numeric::infinity(v < 0.0));
        }
        let s = format!("{:.*e}", sig_digits.saturating_sub(1), v);
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        // `%g` drops trailing zeros, which decides the display scale.
        let mant = if mant.contains('.') {
            mant.trim_end_matches('0').trim_end_matches('.')
        } else {
            mant
        };
        parse_numeric(&format!("{mant}e{exp}")).map_err(|_| numeric_overflow())
    }

    /// Integer power by repeated squaring, exact, then rounded to `scale`.
    fn pow_int(&self, exp: i64, scale: i32) -> DbResult<Numeric> {
        if exp == 0 {
            return Ok(Numeric::from_i64(1).round_to_scale(scale));
        }
        let mut base = self.clone();
        let mut e = exp.unsigned_abs();
        let mut acc = Numeric::from_i64(1);
        // Keep intermediate results bounded: round away digits far below
        // the requested scale.
        let guard = scale + 8;
        while e > 0 {
            if e & 1 == 1 {
                acc = acc.mul(&base)?;
                if acc.dscale as i32 > guard {
                    acc = acc.round_to_scale(guard);
                }
            }
            e >>= 1;
            if e > 0 {
                base = base.mul(&base)?;
                if base.dscale as i32 > guard {
                    base = base.round_to_scale(guard);
                }
            }
        }
        if exp < 0 {
            if acc.is_zero() {
                return Err(division_by_zero());
            }
            return Numeric::from_i64(1).div_rounded(&acc, scale);
        }
        Ok(acc.round_to_scale(scale))
    }

    /// `numeric ^ numeric`. Integer exponents are exact; other exponents
    /// go through `f64` (about 15 correct digits, PostgreSQL gives more).
    pub fn pow(&self, exp: &Numeric) -> DbResult<Numeric> {
        if self.is_nan() || exp.is_nan() {
            if self.is_nan() && exp.is_zero()
                || exp.is_nan() && self.cmp_value(&Numeric::from_i64(1)).is_eq()
            {
                return Ok(Numeric::from_i64(1));
            }
            return Ok(Numeric::nan());
        }
        if !self.is_finite() || !exp.is_finite() {
            let v = self.to_f64().powf(exp.to_f64());
            return Numeric::from_f64_digits(v, 15);
        }
        if self.is_zero() && exp.sign() < 0 {
            return Err(AionError::new(
                SqlState::new(b"2201F"),
                "zero raised to a negative power is undefined",
            ));
        }
        let is_int = exp.round_to_scale(0).cmp_value(exp).is_eq();
        if is_int {
            if let Some(e) = exp
                .to_i64_round()
                .filter(|e| e.unsigned_abs() <= i32::MAX as u64)
            {
                let scale = MIN_SIG_DIGITS
                    .max(self.dscale as i32)
                    .clamp(0, MAX_DISPLAY_SCALE);
                return self.pow_int(e, scale);
            }
        }
        if self.sign() < 0 {
            return Err(AionError::new(
                SqlState::new(b"2201F"),
                "a negative number raised to a non-integer power yields a complex result",
            ));
        }
        // Estimate the result's decimal weight to choose the scale as
        // PostgreSQL does: at least 16 significant digits.
        let approx = exp.to_f64() * self.to_f64().ln();
        if !approx.is_finite() || approx > 300_000.0 {
            return Err(numeric_overflow());
        }
        let dweight = (approx * std::f64::consts::LOG10_E).trunc() as i32;
        let scale = (MIN_SIG_DIGITS - dweight)
            .max(self.dscale as i32)
            .max(exp.dscale as i32)
            .clamp(0, MAX_DISPLAY_SCALE);
        if scale + dweight < -(MAX_DISPLAY_SCALE) {
            return Ok(Numeric::zero().round_to_scale(scale));
        }
        let work = scale + dweight.abs() + 24;
        let ln = ln_numeric(self, work)?;
        let y = ln.mul(exp)?.round_to_scale(work);
        Ok(exp_numeric(&y, work)?.round_to_scale(scale))
    }
}

impl Numeric {
    /// The value as `i64` when it is an integer in range (any display
    /// scale), else `None`.
    pub fn to_i64_exact(&self) -> Option<i64> {
        if !self.is_finite() {
            return None;
        }
        if self.digits.is_empty() {
            return Some(0);
        }
        if self.weight < 0 || self.digits.len() > self.weight as usize + 1 {
            return None;
        }
        self.to_i64_round()
    }
}

/// Square root of a positive numeric to `scale` digits (Newton from a
/// float estimate).
fn sqrt_numeric(x: &Numeric, scale: i32) -> DbResult<Numeric> {
    let f = x.to_f64().sqrt();
    let mut y = if f.is_finite() && f > 0.0 {
        Numeric::from_f64_digits(f, 15)?
    } else {
        Numeric::from_i64(1)
    };
    let two = Numeric::from_i64(2);
    for _ in 0..200 {
        let next = y
            .add(&x.div_rounded(&y, scale)?)?
            .div_rounded(&two, scale)?;
        if next.cmp_value(&y).is_eq() {
            break;
        }
        y = next;
    }
    Ok(y)
}

/// Natural logarithm of a positive numeric, to about `scale` digits:
/// square roots bring the argument near 1, then the atanh series.
fn ln_numeric(x: &Numeric, scale: i32) -> DbResult<Numeric> {
    let one = Numeric::from_i64(1);
    let lo = Numeric::parse("0.99").unwrap_or_else(|| one.clone());
    let hi = Numeric::parse("1.01").unwrap_or_else(|| one.clone());
    let mut x = x.clone();
    let mut halvings = 0u32;
    // Each square root halves the logarithm; the final doubling
    // multiplies the error, so keep extra digits for it.
    let work = scale + 12;
    while (x.cmp_value(&lo).is_lt() || x.cmp_value(&hi).is_gt()) && halvings < 200 {
        x = sqrt_numeric(&x, work)?;
        halvings += 1;
    }
    let z = x.sub(&one)?.div_rounded(&x.add(&one)?, work)?;
    let z2 = z.mul(&z)?.round_to_scale(work);
    let mut term = z.clone();
    let mut sum = z;
    let mut k = 1i64;
    loop {
        term = term.mul(&z2)?.round_to_scale(work);
        k += 2;
        let t = term.div_rounded(&Numeric::from_i64(k), work)?;
        if t.is_zero() {
            break;
        }
        sum = sum.add(&t)?;
    }
    let factor = Numeric::from_i64(2i64 << halvings.min(60));
    Ok(sum.mul(&factor)?.round_to_scale(work))
}

/// `e^x` to about `scale` digits: halve the argument until small, sum the
/// Taylor series, then square back.
fn exp_numeric(x: &Numeric, scale: i32) -> DbResult<Numeric> {
    let mut halvings = 0u32;
    let mut y = x.clone();
    let limit = Numeric::parse("0.01").unwrap_or_else(Numeric::zero);
    let two = Numeric::from_i64(2);
    let work = scale + 12;
    while y.abs().cmp_value(&limit).is_gt() && halvings < 200 {
        y = y.div_rounded(&two, work + 4)?;
        halvings += 1;
    }
    let mut sum = Numeric::from_i64(1);
    let mut term = Numeric::from_i64(1);
    for k in 1..1000 {
        term = term.mul(&y)?.div_rounded(&Numeric::from_i64(k), work + 4)?;
        if term.is_zero() {
            break;
        }
        sum = sum.add(&term)?;
    }
    for _ in 0..halvings {
        sum = sum.mul(&sum)?.round_to_scale(work + 4);
    }
    Ok(sum)
}
