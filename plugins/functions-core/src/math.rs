//! Mathematical functions. Float functions follow PostgreSQL's `float.c`
//! error checks; numeric ones are exact where PostgreSQL is exact (`abs`,
//! `sign`, `ceil`, `floor`, `round`, `trunc`, `mod`, `div`, integer
//! `power`, `sqrt` up to 38 digits) and computed through `f64` for the
//! transcendental ones, displayed with PostgreSQL's result scale.

use std::sync::atomic::{AtomicU64, Ordering};

use aiondb_sdk::prelude::*;
use aiondb_sdk::value::{Numeric, NumericKind};

use crate::num::{from_f64_scaled, is_nan, isqrt, weight, Dec};
use crate::ty::*;
use crate::{arg, err, float, int, numeric, wrong_args, Def};

pub(crate) const DEFS: &[Def] = &[
    Def::new("abs", &[I8], I8, abs),
    Def::new("abs", &[I4], I4, abs),
    Def::new("abs", &[I2], I2, abs),
    Def::new("abs", &[F8], F8, abs),
    Def::new("abs", &[NUM], NUM, abs),
    Def::new("sign", &[F8], F8, sign),
    Def::new("sign", &[NUM], NUM, sign),
    Def::new("ceil", &[F8], F8, ceil_f),
    Def::new("ceil", &[NUM], NUM, ceil_n),
    Def::new("ceiling", &[F8], F8, ceil_f),
    Def::new("ceiling", &[NUM], NUM, ceil_n),
    Def::new("floor", &[F8], F8, floor_f),
    Def::new("floor", &[NUM], NUM, floor_n),
    Def::new("round", &[F8], F8, round_f),
    Def::new("round", &[NUM], NUM, round_n),
    Def::new("round", &[NUM, I4], NUM, round_n),
    Def::new("trunc", &[F8], F8, trunc_f),
    Def::new("trunc", &[NUM], NUM, trunc_n),
    Def::new("trunc", &[NUM, I4], NUM, trunc_n),
    Def::new("sqrt", &[F8], F8, sqrt_f),
    Def::new("sqrt", &[NUM], NUM, sqrt_n),
    Def::new("cbrt", &[F8], F8, cbrt_f),
    Def::new("power", &[F8, F8], F8, power_f),
    Def::new("power", &[NUM, NUM], NUM, power_n),
    Def::new("pow", &[F8, F8], F8, power_f),
    Def::new("pow", &[NUM, NUM], NUM, power_n),
    Def::new("exp", &[F8], F8, exp_f),
    Def::new("exp", &[NUM], NUM, exp_n),
    Def::new("ln", &[F8], F8, ln_f),
    Def::new("ln", &[NUM], NUM, ln_n),
    Def::new("log", &[F8], F8, log10_f),
    Def::new("log", &[NUM], NUM, log10_n),
    Def::new("log", &[NUM, NUM], NUM, log_n),
    Def::new("log10", &[F8], F8, log10_f),
    Def::new("log10", &[NUM], NUM, log10_n),
    Def::new("mod", &[I2, I2], I2, mod_i),
    Def::new("mod", &[I4, I4], I4, mod_i),
    Def::new("mod", &[I8, I8], I8, mod_i),
    Def::new("mod", &[NUM, NUM], NUM, mod_n),
    Def::new("div", &[NUM, NUM], NUM, div_n),
    Def::new("pi", &[], F8, pi),
    Def::new("degrees", &[F8], F8, degrees),
    Def::new("radians", &[F8], F8, radians),
    Def::new("sin", &[F8], F8, sin),
    Def::new("cos", &[F8], F8, cos),
    Def::new("tan", &[F8], F8, tan),
    Def::new("cot", &[F8], F8, cot),
    Def::new("asin", &[F8], F8, asin),
    Def::new("acos", &[F8], F8, acos),
    Def::new("atan", &[F8], F8, atan),
    Def::new("atan2", &[F8, F8], F8, atan2),
    Def::new("gcd", &[I4, I4], I4, gcd),
    Def::new("gcd", &[I8, I8], I8, gcd),
    Def::new("lcm", &[I4, I4], I4, lcm),
    Def::new("lcm", &[I8, I8], I8, lcm),
    Def::new("random", &[], F8, random).volatile(),
    Def::new("width_bucket", &[F8, F8, F8, I4], I4, width_bucket),
    Def::new("gen_random_uuid", &[], UUID, gen_random_uuid).volatile(),
];

fn out_of_range(kind: &str) -> AionError {
    err(b"22003", format!("{kind} out of range"))
}

fn overflow() -> AionError {
    err(b"22003", "value out of range: overflow")
}

fn underflow() -> AionError {
    err(b"22003", "value out of range: underflow")
}

/// PostgreSQL's float result checks: an infinite result from finite input
/// overflows, a zero result from non-zero input underflows.
fn checked(r: f64, input_inf: bool, may_be_zero: bool) -> DbResult<Value> {
    if r.is_infinite() && !input_inf {
        return Err(overflow());
    }
    if r == 0.0 && !may_be_zero {
        return Err(underflow());
    }
    Ok(Value::Float8(r))
}

fn num(n: Numeric) -> DbResult<Value> {
    Ok(Value::Numeric(n))
}

fn abs(a: &[Value]) -> DbResult<Value> {
    Ok(match arg(a, 0)? {
        Value::Int2(v) => Value::Int2(v.checked_abs().ok_or_else(|| out_of_range("smallint"))?),
        Value::Int4(v) => Value::Int4(v.checked_abs().ok_or_else(|| out_of_range("integer"))?),
        Value::Int8(v) => Value::Int8(v.checked_abs().ok_or_else(|| out_of_range("bigint"))?),
        Value::Float8(f) => Value::Float8(f.abs()),
        Value::Float4(f) => Value::Float4(f.abs()),
        Value::Numeric(n) => {
            let mut n = n.clone();
            match n.kind {
                NumericKind::NegInf => n.kind = NumericKind::PosInf,
                _ => n.negative = false,
            }
            Value::Numeric(n)
        }
        _ => return Err(wrong_args()),
    })
}

fn sign(a: &[Value]) -> DbResult<Value> {
    Ok(match arg(a, 0)? {
        Value::Numeric(n) => Value::Numeric(match n.kind {
            NumericKind::NaN => Numeric::nan(),
            NumericKind::PosInf => Numeric::from_i64(1),
            NumericKind::NegInf => Numeric::from_i64(-1),
            NumericKind::Finite if n.is_zero() => Numeric::zero(),
            NumericKind::Finite => Numeric::from_i64(if n.negative { -1 } else { 1 }),
        }),
        _ => {
            let f = float(a, 0)?;
            Value::Float8(if f > 0.0 {
                1.0
            } else if f < 0.0 {
                -1.0
            } else {
                0.0
            })
        }
    })
}

fn ceil_f(a: &[Value]) -> DbResult<Value> {
    Ok(Value::Float8(float(a, 0)?.ceil()))
}

fn floor_f(a: &[Value]) -> DbResult<Value> {
    Ok(Value::Float8(float(a, 0)?.floor()))
}

/// `rint()`: halves go to the even neighbour.
fn round_f(a: &[Value]) -> DbResult<Value> {
    Ok(Value::Float8(float(a, 0)?.round_ties_even()))
}

fn trunc_f(a: &[Value]) -> DbResult<Value> {
    Ok(Value::Float8(float(a, 0)?.trunc()))
}

fn ceil_floor(a: &[Value], up: bool) -> DbResult<Value> {
    let n = numeric(a, 0)?;
    if !n.is_finite() {
        return num(n.clone());
    }
    let (mut d, dropped) = Dec::from_numeric(n).trunc(0);
    if dropped && (up != n.negative) {
        d.bump();
        d.neg = n.negative;
    }
    num(d.to_numeric())
}

fn ceil_n(a: &[Value]) -> DbResult<Value> {
    ceil_floor(a, true)
}

fn floor_n(a: &[Value]) -> DbResult<Value> {
    ceil_floor(a, false)
}

fn scale_arg(a: &[Value]) -> DbResult<i32> {
    Ok(if a.len() > 1 {
        int(a, 1)?.clamp(-2000, 2000) as i32
    } else {
        0
    })
}

fn round_n(a: &[Value]) -> DbResult<Value> {
    let n = numeric(a, 0)?;
    num(n.round_to_scale(scale_arg(a)?))
}

fn trunc_n(a: &[Value]) -> DbResult<Value> {
    let n = numeric(a, 0)?;
    if !n.is_finite() {
        return num(n.clone());
    }
    num(Dec::from_numeric(n).trunc(scale_arg(a)?).0.to_numeric())
}

fn sqrt_f(a: &[Value]) -> DbResult<Value> {
    let f = float(a, 0)?;
    if f < 0.0 {
        return Err(err(
            b"2201F",
            "cannot take square root of a negative number",
        ));
    }
    Ok(Value::Float8(f.sqrt()))
}

fn cbrt_f(a: &[Value]) -> DbResult<Value> {
    Ok(Value::Float8(float(a, 0)?.cbrt()))
}

fn sqrt_n(a: &[Value]) -> DbResult<Value> {
    let n = numeric(a, 0)?;
    if n.negative && !n.is_zero() && !is_nan(n) {
        return Err(err(
            b"2201F",
            "cannot take square root of a negative number",
        ));
    }
    if !n.is_finite() {
        return num(n.clone());
    }
    // PostgreSQL: 16 significant digits, at least the input's scale.
    let sweight = (weight(n) + 1) * 4 / 2 - 1;
    let rscale = (16 - sweight).max(n.dscale as i32).clamp(0, 1000);
    let d = Dec::from_numeric(n);
    // isqrt of the radicand scaled to rscale + 1 digits, then round.
    if let Some(x) = d.to_i128_at(2 * (rscale + 1)) {
        let r = isqrt(x);
        let rounded = Dec::from_i128(r, rscale + 1);
        let n = rounded.to_numeric().round_to_scale(rscale);
        return num(n);
    }
    num(from_f64_scaled(n.to_f64().sqrt(), rscale)?)
}

fn power_f(a: &[Value]) -> DbResult<Value> {
    let (x, y) = (float(a, 0)?, float(a, 1)?);
    if x == 0.0 && y < 0.0 {
        return Err(err(
            b"2201F",
            "zero raised to a negative power is undefined",
        ));
    }
    if x < 0.0 && y.fract() != 0.0 && y.is_finite() {
        return Err(err(
            b"2201F",
            "a negative number raised to a non-integer power yields a complex result",
        ));
    }
    let r = x.powf(y);
    checked(
        r,
        x.is_infinite() || y.is_infinite(),
        x == 0.0 || y.is_infinite(),
    )
}

fn exp_f(a: &[Value]) -> DbResult<Value> {
    let x = float(a, 0)?;
    let r = x.exp();
    if x.is_nan() {
        return Ok(Value::Float8(x));
    }
    checked(r, x.is_infinite(), x == f64::NEG_INFINITY)
}

fn log_check(x: f64) -> DbResult<()> {
    if x == 0.0 {
        return Err(err(b"2201E", "cannot take logarithm of zero"));
    }
    if x < 0.0 {
        return Err(err(b"2201E", "cannot take logarithm of a negative number"));
    }
    Ok(())
}

fn ln_f(a: &[Value]) -> DbResult<Value> {
    let x = float(a, 0)?;
    log_check(x)?;
    Ok(Value::Float8(x.ln()))
}

fn log10_f(a: &[Value]) -> DbResult<Value> {
    let x = float(a, 0)?;
    log_check(x)?;
    Ok(Value::Float8(x.log10()))
}

fn numeric_log_check(n: &Numeric) -> DbResult<()> {
    if n.is_zero() {
        return Err(err(b"2201E", "cannot take logarithm of zero"));
    }
    if n.negative || n.kind == NumericKind::NegInf {
        return Err(err(b"2201E", "cannot take logarithm of a negative number"));
    }
    Ok(())
}

/// PostgreSQL's `estimate_ln_dweight`: the decimal weight of `ln(n)`.
fn ln_dweight(n: &Numeric) -> i32 {
    let v = n.to_f64();
    if (0.9..=1.1).contains(&v) {
        let d = (v - 1.0).abs();
        if d == 0.0 {
            0
        } else {
            d.log10().floor() as i32
        }
    } else {
        let mut l = v.ln();
        if !l.is_finite() {
            l = (weight(n) as f64 * 4.0) * std::f64::consts::LN_10;
        }
        if l == 0.0 {
            0
        } else {
            l.abs().log10() as i32
        }
    }
}

fn exp_n(a: &[Value]) -> DbResult<Value> {
    let n = numeric(a, 0)?;
    match n.kind {
        NumericKind::NaN | NumericKind::PosInf => return num(n.clone()),
        NumericKind::NegInf => return num(Numeric::zero()),
        NumericKind::Finite => {}
    }
    let x = n.to_f64();
    let val = x * std::f64::consts::LOG10_E;
    let rscale = (16 - val as i32).max(n.dscale as i32);
    num(from_f64_scaled(x.exp(), rscale)?)
}

fn ln_n(a: &[Value]) -> DbResult<Value> {
    let n = numeric(a, 0)?;
    if is_nan(n) {
        return num(n.clone());
    }
    numeric_log_check(n)?;
    if !n.is_finite() {
        return num(n.clone());
    }
    let rscale = (16 - ln_dweight(n)).max(n.dscale as i32);
    num(from_f64_scaled(n.to_f64().ln(), rscale)?)
}

fn log10_n(a: &[Value]) -> DbResult<Value> {
    let n = numeric(a, 0)?;
    if is_nan(n) {
        return num(n.clone());
    }
    numeric_log_check(n)?;
    if !n.is_finite() {
        return num(n.clone());
    }
    let rscale = (16 - ln_dweight(n)).max(n.dscale as i32);
    let d = Dec::from_numeric(n);
    // Exact powers of ten have exact logarithms.
    if d.digits.iter().skip(1).all(|&x| x == 0) && d.digits.first() == Some(&1) {
        let e = d.digits.len() as i64 - 1 - d.scale as i64;
        return num(Numeric::from_i64(e).round_to_scale(rscale));
    }
    num(from_f64_scaled(n.to_f64().log10(), rscale)?)
}

fn log_n(a: &[Value]) -> DbResult<Value> {
    let (b, x) = (numeric(a, 0)?, numeric(a, 1)?);
    if is_nan(b) || is_nan(x) {
        return num(Numeric::nan());
    }
    numeric_log_check(b)?;
    numeric_log_check(x)?;
    let lb = b.to_f64().ln();
    if lb == 0.0 {
        return Err(err(b"22012", "division by zero"));
    }
    let rscale = (16 - (ln_dweight(x) - ln_dweight(b)))
        .max(b.dscale as i32)
        .max(x.dscale as i32);
    let r = x.to_f64().ln() / lb;
    // Snap results that are integers up to float noise (log(2, 8) = 3).
    let snapped = if (r - r.round()).abs() < 1e-12 * r.abs().max(1.0) {
        r.round()
    } else {
        r
    };
    num(from_f64_scaled(snapped, rscale)?)
}

fn power_n(a: &[Value]) -> DbResult<Value> {
    let (b, e) = (numeric(a, 0)?, numeric(a, 1)?);
    if is_nan(b) || is_nan(e) {
        // 1 ^ NaN and NaN ^ 0 are 1, as in PostgreSQL.
        let one = Numeric::from_i64(1);
        if (b.is_finite() && Dec::from_numeric(b).to_plain() == "1")
            || (e.is_finite() && e.is_zero())
        {
            return num(one.round_to_scale(16));
        }
        return num(Numeric::nan());
    }
    if !b.is_finite() || !e.is_finite() {
        return num(from_f64_scaled(b.to_f64().powf(e.to_f64()), 0)?);
    }
    if b.is_zero() && e.negative && !e.is_zero() {
        return Err(err(
            b"2201F",
            "zero raised to a negative power is undefined",
        ));
    }
    let ed = Dec::from_numeric(e);
    let (eint, frac) = ed.trunc(0);
    if b.negative && frac {
        return Err(err(
            b"2201F",
            "a negative number raised to a non-integer power yields a complex result",
        ));
    }
    let bd = Dec::from_numeric(b);
    if !frac {
        let rscale = 16.max(b.dscale as i32).max(e.dscale as i32);
        if let Some(v) = exact_int_power(&bd, &eint, rscale) {
            return num(v);
        }
        let r = b.to_f64().powf(e.to_f64());
        return num(from_f64_scaled(r, rscale)?);
    }
    let r = b.to_f64().powf(e.to_f64());
    let val = e.to_f64() * b.to_f64().abs().ln() * std::f64::consts::LOG10_E;
    let rscale = (16 - val as i32).max(b.dscale as i32).max(e.dscale as i32);
    num(from_f64_scaled(r, rscale)?)
}

/// `base ^ exp` for an integer exponent, exact when it fits an `i128`.
fn exact_int_power(base: &Dec, exp: &Dec, rscale: i32) -> Option<Numeric> {
    let e = exp.to_i128_at(0)?;
    if e.unsigned_abs() > 200 {
        return None;
    }
    let e_abs = e.unsigned_abs() as u32;
    let m = base.to_i128_at(base.scale)?;
    let p = m.checked_pow(e_abs)?;
    let pscale = base.scale.checked_mul(e_abs as i32)?;
    if e >= 0 {
        return Some(
            Dec::from_i128(p, pscale)
                .to_numeric()
                .round_to_scale(rscale),
        );
    }
    if p == 0 {
        return None;
    }
    // 1 / (p × 10^-pscale) to rscale + 1 digits, then round.
    let shift = rscale + 1 + pscale;
    let mut num: i128 = 1;
    for _ in 0..shift {
        num = num.checked_mul(10)?;
    }
    let q = num / p;
    Some(
        Dec::from_i128(q, rscale + 1)
            .to_numeric()
            .round_to_scale(rscale),
    )
}

fn mod_i(a: &[Value]) -> DbResult<Value> {
    let (x, y) = (int(a, 0)?, int(a, 1)?);
    if y == 0 {
        return Err(err(b"22012", "division by zero"));
    }
    // i64::MIN % -1 overflows in Rust; the answer is 0.
    let r = if y == -1 { 0 } else { x % y };
    Ok(match arg(a, 0)? {
        Value::Int2(_) => Value::Int2(r as i16),
        Value::Int4(_) => Value::Int4(r as i32),
        _ => Value::Int8(r),
    })
}

/// Both operands as `i128` mantissas at a common scale.
fn common_scale(x: &Numeric, y: &Numeric) -> Option<(i128, i128, i32)> {
    let (dx, dy) = (Dec::from_numeric(x), Dec::from_numeric(y));
    let s = dx.scale.max(dy.scale);
    Some((dx.to_i128_at(s)?, dy.to_i128_at(s)?, s))
}

fn mod_n(a: &[Value]) -> DbResult<Value> {
    let (x, y) = (numeric(a, 0)?, numeric(a, 1)?);
    if is_nan(x) || is_nan(y) {
        return num(Numeric::nan());
    }
    if y.is_zero() {
        return Err(err(b"22012", "division by zero"));
    }
    if !x.is_finite() {
        return num(Numeric::nan());
    }
    if !y.is_finite() {
        return num(x.clone());
    }
    let dscale = x.dscale.max(y.dscale) as i32;
    match common_scale(x, y) {
        Some((mx, my, s)) => num(Dec::from_i128(mx % my, s)
            .to_numeric()
            .round_to_scale(dscale)),
        None => num(from_f64_scaled(x.to_f64() % y.to_f64(), dscale)?),
    }
}

fn div_n(a: &[Value]) -> DbResult<Value> {
    let (x, y) = (numeric(a, 0)?, numeric(a, 1)?);
    if is_nan(x) || is_nan(y) {
        return num(Numeric::nan());
    }
    if y.is_zero() {
        return Err(err(b"22012", "division by zero"));
    }
    if !x.is_finite() || !y.is_finite() {
        return num(from_f64_scaled((x.to_f64() / y.to_f64()).trunc(), 0)?);
    }
    match common_scale(x, y) {
        Some((mx, my, _)) => num(Dec::from_i128(mx / my, 0).to_numeric()),
        None => num(from_f64_scaled((x.to_f64() / y.to_f64()).trunc(), 0)?),
    }
}

fn pi(_: &[Value]) -> DbResult<Value> {
    Ok(Value::Float8(std::f64::consts::PI))
}

fn degrees(a: &[Value]) -> DbResult<Value> {
    Ok(Value::Float8(float(a, 0)?.to_degrees()))
}

fn radians(a: &[Value]) -> DbResult<Value> {
    Ok(Value::Float8(float(a, 0)?.to_radians()))
}

fn trig(a: &[Value], f: fn(f64) -> f64, domain: fn(f64) -> bool) -> DbResult<Value> {
    let x = float(a, 0)?;
    if x.is_nan() {
        return Ok(Value::Float8(x));
    }
    if !domain(x) {
        return Err(err(b"22003", "input is out of range"));
    }
    Ok(Value::Float8(f(x)))
}

fn sin(a: &[Value]) -> DbResult<Value> {
    trig(a, f64::sin, f64::is_finite)
}

fn cos(a: &[Value]) -> DbResult<Value> {
    trig(a, f64::cos, f64::is_finite)
}

fn tan(a: &[Value]) -> DbResult<Value> {
    trig(a, f64::tan, f64::is_finite)
}

fn cot(a: &[Value]) -> DbResult<Value> {
    trig(a, |x| 1.0 / x.tan(), f64::is_finite)
}

fn asin(a: &[Value]) -> DbResult<Value> {
    trig(a, f64::asin, |x| (-1.0..=1.0).contains(&x))
}

fn acos(a: &[Value]) -> DbResult<Value> {
    trig(a, f64::acos, |x| (-1.0..=1.0).contains(&x))
}

fn atan(a: &[Value]) -> DbResult<Value> {
    trig(a, f64::atan, |_| true)
}

fn atan2(a: &[Value]) -> DbResult<Value> {
    Ok(Value::Float8(float(a, 0)?.atan2(float(a, 1)?)))
}

fn int_result(a: &[Value], v: i128) -> DbResult<Value> {
    Ok(match arg(a, 0)? {
        Value::Int4(_) | Value::Int2(_) => {
            Value::Int4(i32::try_from(v).map_err(|_| out_of_range("integer"))?)
        }
        _ => Value::Int8(i64::try_from(v).map_err(|_| out_of_range("bigint"))?),
    })
}

fn gcd_u(mut x: u128, mut y: u128) -> u128 {
    while y != 0 {
        (x, y) = (y, x % y);
    }
    x
}

fn gcd(a: &[Value]) -> DbResult<Value> {
    let (x, y) = (int(a, 0)?, int(a, 1)?);
    let g = gcd_u(x.unsigned_abs() as u128, y.unsigned_abs() as u128);
    int_result(a, g as i128)
}

fn lcm(a: &[Value]) -> DbResult<Value> {
    let (x, y) = (int(a, 0)?, int(a, 1)?);
    if x == 0 || y == 0 {
        return int_result(a, 0);
    }
    let g = gcd_u(x.unsigned_abs() as u128, y.unsigned_abs() as u128);
    let l = (x.unsigned_abs() as u128 / g) * y.unsigned_abs() as u128;
    int_result(a, l as i128)
}

/// Process-wide generator state: SplitMix64 seeded from the clock and a
/// counter. Not cryptographic.
static RNG: AtomicU64 = AtomicU64::new(0);

pub(crate) fn next_random() -> u64 {
    if RNG.load(Ordering::Relaxed) == 0 {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x1234_5678, |d| d.as_nanos() as u64)
            ^ (std::process::id() as u64).rotate_left(32);
        let _ = RNG.compare_exchange(0, seed | 1, Ordering::Relaxed, Ordering::Relaxed);
    }
    let mut z = RNG
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn random(_: &[Value]) -> DbResult<Value> {
    Ok(Value::Float8(
        (next_random() >> 11) as f64 / (1u64 << 53) as f64,
    ))
}

/// A version 4 UUID from the non-cryptographic generator above.
fn gen_random_uuid(_: &[Value]) -> DbResult<Value> {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&next_random().to_le_bytes());
    b[8..].copy_from_slice(&next_random().to_le_bytes());
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    Ok(Value::Uuid(b))
}

fn width_bucket(a: &[Value]) -> DbResult<Value> {
    let (x, lo, hi) = (float(a, 0)?, float(a, 1)?, float(a, 2)?);
    let n = int(a, 3)?;
    if n <= 0 {
        return Err(err(b"2201G", "count must be greater than zero"));
    }
    if lo == hi {
        return Err(err(b"2201G", "lower bound cannot equal upper bound"));
    }
    if x.is_nan() || lo.is_nan() || hi.is_nan() {
        return Err(err(
            b"2201G",
            "operand, lower bound, and upper bound cannot be NaN",
        ));
    }
    if !lo.is_finite() || !hi.is_finite() {
        return Err(err(b"2201G", "lower and upper bounds must be finite"));
    }
    let nf = n as f64;
    let r = if lo < hi {
        if x < lo {
            0
        } else if x >= hi {
            n + 1
        } else {
            ((nf * ((x - lo) / (hi - lo))) as i64 + 1).min(n)
        }
    } else if x > lo {
        0
    } else if x <= hi {
        n + 1
    } else {
        ((nf * ((lo - x) / (lo - hi))) as i64 + 1).min(n)
    };
    Ok(Value::Int4(
        i32::try_from(r).map_err(|_| out_of_range("integer"))?,
    ))
}
