//! Private exact decimal helpers for `numeric` functions.
//!
//! The SDK's `Numeric` exposes text I/O and rounding only; the rest is done
//! here on a plain decimal mantissa (or `i128` when it fits), which keeps
//! `trunc`/`ceil`/`floor`/`abs`/`mod`/`div` exact.

use aiondb_sdk::prelude::*;
use aiondb_sdk::value::{Numeric, NumericKind};

/// `mantissa × 10^-scale`; `digits` are the mantissa's decimal digits,
/// most significant first, without leading zeros (empty for zero).
#[derive(Clone, Debug)]
pub(crate) struct Dec {
    pub neg: bool,
    pub digits: Vec<u8>,
    pub scale: i32,
}

impl Dec {
    /// A finite numeric as a decimal with its display scale.
    pub fn from_numeric(n: &Numeric) -> Dec {
        let s = n.to_string();
        Dec::from_plain(&s)
    }

    /// Parses plain notation (`-12.340`); other input gives zero.
    pub fn from_plain(s: &str) -> Dec {
        let (neg, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        let digits: Vec<u8> = int
            .bytes()
            .chain(frac.bytes())
            .filter(u8::is_ascii_digit)
            .map(|b| b - b'0')
            .skip_while(|&d| d == 0)
            .collect();
        Dec {
            neg: neg && !digits.is_empty(),
            digits,
            scale: frac.len() as i32,
        }
    }

    /// Plain text with exactly `max(scale, 0)` fractional digits.
    pub fn to_plain(&self) -> String {
        let mut digits: Vec<u8> = self.digits.clone();
        let mut scale = self.scale;
        if scale < 0 {
            digits.extend(std::iter::repeat_n(0, (-scale) as usize));
            scale = 0;
        }
        let scale = scale as usize;
        if digits.len() <= scale {
            let mut v = vec![0u8; scale + 1 - digits.len()];
            v.extend_from_slice(&digits);
            digits = v;
        }
        let point = digits.len() - scale;
        let mut s = String::with_capacity(digits.len() + 2);
        if self.neg && self.digits.iter().any(|&d| d != 0) {
            s.push('-');
        }
        s.extend(digits[..point].iter().map(|d| (b'0' + d) as char));
        if scale > 0 {
            s.push('.');
            s.extend(digits[point..].iter().map(|d| (b'0' + d) as char));
        }
        s
    }

    pub fn to_numeric(&self) -> Numeric {
        Numeric::parse(&self.to_plain()).unwrap_or_else(Numeric::zero)
    }

    /// Truncates towards zero to `s` fractional digits (negative `s` zeroes
    /// integer digits). Returns the result and whether anything non-zero
    /// was dropped.
    pub fn trunc(&self, s: i32) -> (Dec, bool) {
        if s >= self.scale {
            let mut d = self.clone();
            // Pad the mantissa so the display scale becomes `s`.
            if !d.digits.is_empty() {
                d.digits
                    .extend(std::iter::repeat_n(0, (s - self.scale) as usize));
            }
            d.scale = s;
            return (d, false);
        }
        let drop = (self.scale - s) as usize;
        let keep = self.digits.len().saturating_sub(drop);
        let dropped = self.digits[keep..].iter().any(|&d| d != 0);
        let mut digits = self.digits[..keep].to_vec();
        let lead = digits.iter().take_while(|&&d| d == 0).count();
        digits.drain(..lead);
        let out = Dec {
            neg: self.neg && !digits.is_empty(),
            digits,
            scale: s,
        };
        (out, dropped)
    }

    /// Adds one unit in the last place to the magnitude.
    pub fn bump(&mut self) {
        let mut i = self.digits.len();
        loop {
            if i == 0 {
                self.digits.insert(0, 1);
                return;
            }
            i -= 1;
            if self.digits[i] == 9 {
                self.digits[i] = 0;
            } else {
                self.digits[i] += 1;
                return;
            }
        }
    }

    /// The mantissa rescaled to `scale` as an `i128`, if exact and in range.
    pub fn to_i128_at(&self, scale: i32) -> Option<i128> {
        if scale < self.scale {
            return None;
        }
        let mut v: i128 = 0;
        for &d in &self.digits {
            v = v.checked_mul(10)?.checked_add(d as i128)?;
        }
        for _ in 0..(scale - self.scale) {
            v = v.checked_mul(10)?;
        }
        Some(if self.neg { -v } else { v })
    }

    pub fn from_i128(v: i128, scale: i32) -> Dec {
        let digits: Vec<u8> = if v == 0 {
            Vec::new()
        } else {
            v.unsigned_abs()
                .to_string()
                .bytes()
                .map(|b| b - b'0')
                .collect()
        };
        Dec {
            neg: v < 0,
            digits,
            scale,
        }
    }
}

/// Rounds an approximate result to `rscale` fractional digits, the way the
/// numeric result of a transcendental function is displayed.
pub(crate) fn from_f64_scaled(v: f64, rscale: i32) -> DbResult<Numeric> {
    if v.is_nan() {
        return Ok(Numeric::nan());
    }
    if v.is_infinite() {
        return Err(AionError::new(
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            "value overflows numeric format",
        ));
    }
    let rscale = rscale.clamp(0, 1000);
    // f64 carries 17 significant digits; print those and pad the rest.
    let s = format!("{v:.16e}");
    let n = Numeric::parse(&s).unwrap_or_else(Numeric::zero);
    Ok(n.round_to_scale(rscale))
}

/// `numeric` argument kind tests.
pub(crate) fn is_nan(n: &Numeric) -> bool {
    n.kind == NumericKind::NaN
}

/// Base-10000 weight of a finite numeric (PostgreSQL's `weight`).
pub(crate) fn weight(n: &Numeric) -> i32 {
    n.weight as i32
}

/// Integer square root of a non-negative `i128`.
pub(crate) fn isqrt(n: i128) -> i128 {
    if n < 2 {
        return n;
    }
    let mut x = (n as f64).sqrt() as i128;
    // Correct the float estimate.
    while x > 0 && x.checked_mul(x).is_none_or(|sq| sq > n) {
        x -= 1;
    }
    while (x + 1).checked_mul(x + 1).is_some_and(|sq| sq <= n) {
        x += 1;
    }
    x
}
