//! Date/time functions. Functions over `timestamptz` work in the calling
//! session's TimeZone (set per call by `call_in`; UTC for plain `call`).

use std::cell::RefCell;

use aiondb_sdk::prelude::*;
use aiondb_sdk::value::{
    days_to_ymd, ymd_to_days, Interval, Numeric, DATE_MAX_DAYS, DATE_MIN_DAYS,
    PG_EPOCH_MICROS_FROM_UNIX, TIMESTAMP_MAX_MICROS, TIMESTAMP_MIN_MICROS, USECS_PER_DAY,
    USECS_PER_HOUR, USECS_PER_MINUTE, USECS_PER_SEC,
};

use aiondb_sdk::value::TimeZone;

use crate::num::Dec;
use crate::ty::*;
use crate::{arg, err, float, int, interval, numeric, text, wrong_args, Def};

pub(crate) const DEFS: &[Def] = &[
    Def::new("date_part", &[TEXT, TS], F8, date_part),
    Def::new("date_part", &[TEXT, TSTZ], F8, date_part).stable(),
    Def::new("date_part", &[TEXT, DATE], F8, date_part),
    Def::new("date_part", &[TEXT, IV], F8, date_part),
    Def::new("date_part", &[TEXT, TIME], F8, date_part),
    Def::new("extract", &[TEXT, TS], NUM, extract),
    Def::new("extract", &[TEXT, TSTZ], NUM, extract).stable(),
    Def::new("extract", &[TEXT, DATE], NUM, extract),
    Def::new("extract", &[TEXT, IV], NUM, extract),
    Def::new("extract", &[TEXT, TIME], NUM, extract),
    Def::new("date_trunc", &[TEXT, TS], TS, date_trunc),
    Def::new("date_trunc", &[TEXT, TSTZ], TSTZ, date_trunc).stable(),
    Def::new("date_trunc", &[TEXT, IV], IV, date_trunc),
    Def::new("make_date", &[I4, I4, I4], DATE, make_date),
    Def::new("make_time", &[I4, I4, F8], TIME, make_time),
    Def::new(
        "make_timestamp",
        &[I4, I4, I4, I4, I4, F8],
        TS,
        make_timestamp,
    ),
    Def::new(
        "make_timestamptz",
        &[I4, I4, I4, I4, I4, F8],
        TSTZ,
        make_timestamptz,
    )
    .stable(),
    // make_interval's parameters all default to 0; one overload per arity
    // stands in for the defaults.
    Def::new("make_interval", &[], IV, make_interval),
    Def::new("make_interval", &[I4], IV, make_interval),
    Def::new("make_interval", &[I4, I4], IV, make_interval),
    Def::new("make_interval", &[I4, I4, I4], IV, make_interval),
    Def::new("make_interval", &[I4, I4, I4, I4], IV, make_interval),
    Def::new("make_interval", &[I4, I4, I4, I4, I4], IV, make_interval),
    Def::new(
        "make_interval",
        &[I4, I4, I4, I4, I4, I4],
        IV,
        make_interval,
    ),
    Def::new(
        "make_interval",
        &[I4, I4, I4, I4, I4, I4, F8],
        IV,
        make_interval,
    ),
    Def::new("age", &[TS, TS], IV, age),
    Def::new("age", &[TSTZ, TSTZ], IV, age),
    Def::new("justify_days", &[IV], IV, justify_days),
    Def::new("justify_hours", &[IV], IV, justify_hours),
    Def::new("justify_interval", &[IV], IV, justify_interval),
    Def::new("to_char", &[TS, TEXT], TEXT, to_char).stable(),
    Def::new("to_char", &[TSTZ, TEXT], TEXT, to_char).stable(),
    Def::new("to_char", &[DATE, TEXT], TEXT, to_char).stable(),
    Def::new("to_char", &[IV, TEXT], TEXT, to_char).stable(),
    Def::new("to_char", &[NUM, TEXT], TEXT, to_char).stable(),
    Def::new("to_char", &[I4, TEXT], TEXT, to_char).stable(),
    Def::new("to_char", &[I8, TEXT], TEXT, to_char).stable(),
    Def::new("to_char", &[F8, TEXT], TEXT, to_char).stable(),
    Def::new("to_date", &[TEXT, TEXT], DATE, to_date).stable(),
    Def::new("to_timestamp", &[TEXT, TEXT], TSTZ, to_timestamp_text).stable(),
    Def::new("to_timestamp", &[F8], TSTZ, to_timestamp_float),
    Def::new("isfinite", &[DATE], BOOL, isfinite),
    Def::new("isfinite", &[TS], BOOL, isfinite),
    Def::new("isfinite", &[TSTZ], BOOL, isfinite),
    Def::new("isfinite", &[IV], BOOL, isfinite),
];

// ------------------------------------------------------------ broken-down time

/// A timestamp split into fields; `year` is astronomical (0 = 1 BC).
#[derive(Clone, Copy, Debug)]
struct Tm {
    year: i32,
    mon: u32,
    mday: u32,
    hour: i64,
    min: i64,
    sec: i64,
    usec: i64,
    days: i32,
}

thread_local! {
    /// The calling session's TimeZone setting and the zone it names.
    /// Parsed once per distinct setting, not per call.
    static ZONE: RefCell<(String, TimeZone)> = RefCell::new(("UTC".to_string(), TimeZone::utc()));
}

/// Makes `name` (a validated TimeZone setting) the zone of the calls this
/// thread makes next.
pub(crate) fn set_zone(name: &str) {
    ZONE.with(|z| {
        let mut z = z.borrow_mut();
        if z.0 != name {
            // The session only stores names it validated; anything else
            // reads as UTC rather than failing every call.
            z.1 = TimeZone::parse(name).unwrap_or_else(|_| TimeZone::utc());
            z.0.clear();
            z.0.push_str(name);
        }
    })
}

fn with_zone<R>(f: impl FnOnce(&TimeZone) -> R) -> R {
    ZONE.with(|z| f(&z.borrow().1))
}

/// Local wall-clock microseconds of a `timestamptz` in the session zone.
fn local_of(utc: i64) -> i64 {
    with_zone(|z| z.utc_to_local(utc))
}

/// The `timestamptz` of a local wall-clock time in the session zone.
fn utc_of(local: i64) -> i64 {
    with_zone(|z| z.local_to_utc(local))
}

fn tm_from_micros(t: i64) -> Tm {
    let days = t.div_euclid(USECS_PER_DAY) as i32;
    let tod = t.rem_euclid(USECS_PER_DAY);
    let (year, mon, mday) = days_to_ymd(days);
    Tm {
        year,
        mon,
        mday,
        hour: tod / USECS_PER_HOUR,
        min: tod / USECS_PER_MINUTE % 60,
        sec: tod / USECS_PER_SEC % 60,
        usec: tod % USECS_PER_SEC,
        days,
    }
}

impl Tm {
    fn tod(&self) -> i64 {
        ((self.hour * 60 + self.min) * 60 + self.sec) * USECS_PER_SEC + self.usec
    }

    /// 0 = Sunday.
    fn dow(&self) -> i64 {
        (self.days as i64 + 6).rem_euclid(7)
    }

    fn doy(&self) -> i64 {
        self.days as i64 - ymd_to_days(self.year, 1, 1).unwrap_or(self.days) as i64 + 1
    }

    /// ISO 8601 (year, week).
    fn iso_week(&self) -> (i32, i64) {
        iso_week(self.year, self.days)
    }
}

fn iso_week(year: i32, days: i32) -> (i32, i64) {
    // Monday of ISO week 1 of `y`: the week holding January 4th.
    let week1 = |y: i32| {
        let jan4 = ymd_to_days(y, 1, 4).unwrap_or(0) as i64;
        let isodow = (jan4 + 5).rem_euclid(7) + 1;
        jan4 - (isodow - 1)
    };
    let d = days as i64;
    let mut y = year;
    if d < week1(y) {
        y -= 1;
    } else if d >= week1(y + 1) {
        y += 1;
    }
    (y, (d - week1(y)) / 7 + 1)
}

fn is_leap(y: i32) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i32, m: u32) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Julian day number of a date.
fn julian(days: i32) -> i64 {
    days as i64 + 2_451_545
}

// ------------------------------------------------------------ extract / date_part

/// Canonical unit names, with PostgreSQL's accepted spellings.
fn unit(name: &str) -> Option<&'static str> {
    Some(match name.to_lowercase().as_str() {
        "microsecond" | "microseconds" | "us" | "usec" | "usecs" | "useconds" => "microseconds",
        "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" | "mseconds" => "milliseconds",
        "second" | "seconds" | "s" | "sec" | "secs" => "second",
        "minute" | "minutes" | "m" | "min" | "mins" => "minute",
        "hour" | "hours" | "h" | "hr" | "hrs" => "hour",
        "day" | "days" | "d" => "day",
        "week" | "weeks" | "w" => "week",
        "month" | "months" | "mon" | "mons" => "month",
        "quarter" | "qtr" => "quarter",
        "year" | "years" | "y" | "yr" | "yrs" => "year",
        "decade" | "decades" | "dec" | "decs" => "decade",
        "century" | "centuries" | "c" | "cent" => "century",
        "millennium" | "millennia" | "mil" | "mils" => "millennium",
        "dow" => "dow",
        "isodow" => "isodow",
        "doy" => "doy",
        "epoch" => "epoch",
        "julian" | "j" => "julian",
        "isoyear" => "isoyear",
        "timezone" => "timezone",
        "timezone_h" | "timezone_hour" => "timezone_hour",
        "timezone_m" | "timezone_minute" => "timezone_minute",
        _ => return None,
    })
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Date(_) => "date",
        Value::Time(_) => "time without time zone",
        Value::Timestamp(_) => "timestamp without time zone",
        Value::TimestampTz(_) => "timestamp with time zone",
        Value::Interval(_) => "interval",
        _ => "unknown",
    }
}

fn not_recognized(field: &str, v: &Value) -> AionError {
    err(
        b"22023",
        format!(
            "unit \"{}\" not recognized for type {}",
            field.to_lowercase(),
            type_name(v)
        ),
    )
}

fn not_supported(field: &str, v: &Value) -> AionError {
    err(
        b"0A000",
        format!(
            "unit \"{}\" not supported for type {}",
            field.to_lowercase(),
            type_name(v)
        ),
    )
}

/// An extracted field: an exact decimal `mantissa × 10^-scale`, an
/// infinity, or NULL.
enum Part {
    Exact(i128, i32),
    Inf(bool),
    Null,
}

fn decade(y: i64) -> i64 {
    if y >= 0 {
        y / 10
    } else {
        -((8 - (y - 1)) / 10)
    }
}

fn century(y: i64) -> i64 {
    if y > 0 {
        (y + 99) / 100
    } else {
        -((99 - (y - 1)) / 100)
    }
}

fn millennium(y: i64) -> i64 {
    if y > 0 {
        (y + 999) / 1000
    } else {
        -((999 - (y - 1)) / 1000)
    }
}

/// Fields shared by dates and timestamps.
fn date_fields(u: &str, tm: &Tm) -> Option<Part> {
    let y = tm.year as i64;
    let ex = |v: i64| Some(Part::Exact(v as i128, 0));
    match u {
        "day" => ex(tm.mday as i64),
        "month" => ex(tm.mon as i64),
        "quarter" => ex((tm.mon as i64 - 1) / 3 + 1),
        "week" => ex(tm.iso_week().1),
        "year" => ex(if y > 0 { y } else { y - 1 }),
        "decade" => ex(decade(y)),
        "century" => ex(century(y)),
        "millennium" => ex(millennium(y)),
        "isoyear" => {
            let iy = tm.iso_week().0 as i64;
            ex(if iy > 0 { iy } else { iy - 1 })
        }
        "dow" => ex(tm.dow()),
        "isodow" => ex(if tm.dow() == 0 { 7 } else { tm.dow() }),
        "doy" => ex(tm.doy()),
        _ => None,
    }
}

/// Whether a field of an infinite date/timestamp is itself infinite
/// (monotonic fields) rather than NULL.
fn infinite_field(u: &str) -> bool {
    matches!(
        u,
        "year" | "decade" | "century" | "millennium" | "julian" | "isoyear" | "epoch"
    )
}

fn extract_part(field: &str, v: &Value) -> DbResult<Part> {
    let u = unit(field).ok_or_else(|| not_recognized(field, v))?;
    match v {
        Value::Date(d) => {
            if matches!(
                u,
                "hour"
                    | "minute"
                    | "second"
                    | "milliseconds"
                    | "microseconds"
                    | "timezone"
                    | "timezone_hour"
                    | "timezone_minute"
            ) {
                return Err(not_supported(field, v));
            }
            if *d == i32::MAX || *d == i32::MIN {
                return Ok(if infinite_field(u) {
                    Part::Inf(*d == i32::MIN)
                } else {
                    Part::Null
                });
            }
            let tm = tm_from_micros(*d as i64 * USECS_PER_DAY);
            if let Some(p) = date_fields(u, &tm) {
                return Ok(p);
            }
            match u {
                "julian" => Ok(Part::Exact(julian(*d) as i128, 0)),
                "epoch" => Ok(Part::Exact(
                    (*d as i128 * 86_400) + (PG_EPOCH_MICROS_FROM_UNIX / USECS_PER_SEC) as i128,
                    0,
                )),
                _ => Err(not_recognized(field, v)),
            }
        }
        Value::Timestamp(t) | Value::TimestampTz(t) => {
            let tz = matches!(v, Value::TimestampTz(_));
            if u.starts_with("timezone") && !tz {
                return Err(not_supported(field, v));
            }
            if *t == i64::MAX || *t == i64::MIN {
                return Ok(if infinite_field(u) {
                    Part::Inf(*t == i64::MIN)
                } else {
                    Part::Null
                });
            }
            let tm = tm_from_micros(if tz { local_of(*t) } else { *t });
            if let Some(p) = date_fields(u, &tm) {
                return Ok(p);
            }
            let offset = if tz {
                with_zone(|z| z.offset_at_utc(*t)) as i128
            } else {
                0
            };
            let secs_us = (tm.sec * USECS_PER_SEC + tm.usec) as i128;
            Ok(match u {
                "microseconds" => Part::Exact(secs_us, 0),
                "milliseconds" => Part::Exact(secs_us, 3),
                "second" => Part::Exact(secs_us, 6),
                "minute" => Part::Exact(tm.min as i128, 0),
                "hour" => Part::Exact(tm.hour as i128, 0),
                "timezone" => Part::Exact(offset, 0),
                "timezone_hour" => Part::Exact(offset / 3600, 0),
                "timezone_minute" => Part::Exact(offset / 60 % 60, 0),
                "epoch" => Part::Exact((*t as i128) + PG_EPOCH_MICROS_FROM_UNIX as i128, 6),
                "julian" => {
                    // date2j + tod / USECS_PER_DAY at numeric division scale.
                    let tod = tm.tod() as i128;
                    let w1 = if tod == 0 {
                        0
                    } else {
                        (tod.ilog10() as i32) / 4
                    };
                    let first = if tod == 0 {
                        0
                    } else {
                        tod / 10i128.pow(4 * w1 as u32)
                    };
                    let mut qweight = w1 - 2;
                    if first < 864 {
                        qweight -= 1;
                    }
                    let rscale = (16 - qweight * 4).clamp(0, 30);
                    let denom = USECS_PER_DAY as i128;
                    let scaled = tod * 10i128.pow(rscale as u32);
                    let q = (scaled + denom / 2) / denom;
                    Part::Exact(
                        julian(tm.days) as i128 * 10i128.pow(rscale as u32) + q,
                        rscale,
                    )
                }
                _ => return Err(not_recognized(field, v)),
            })
        }
        Value::Time(t) => {
            let secs_us = (t % USECS_PER_MINUTE) as i128;
            Ok(match u {
                "microseconds" => Part::Exact(secs_us, 0),
                "milliseconds" => Part::Exact(secs_us, 3),
                "second" => Part::Exact(secs_us, 6),
                "minute" => Part::Exact((t / USECS_PER_MINUTE % 60) as i128, 0),
                "hour" => Part::Exact((t / USECS_PER_HOUR) as i128, 0),
                "epoch" => Part::Exact(*t as i128, 6),
                "day" | "week" | "month" | "quarter" | "year" | "decade" | "century"
                | "millennium" | "dow" | "isodow" | "doy" | "julian" | "isoyear" | "timezone"
                | "timezone_hour" | "timezone_minute" => return Err(not_supported(field, v)),
                _ => return Err(not_recognized(field, v)),
            })
        }
        Value::Interval(iv) => {
            let years = (iv.months / 12) as i128;
            let secs_us = (iv.micros % USECS_PER_MINUTE) as i128;
            Ok(match u {
                "microseconds" => Part::Exact(secs_us, 0),
                "milliseconds" => Part::Exact(secs_us, 3),
                "second" => Part::Exact(secs_us, 6),
                "minute" => Part::Exact((iv.micros / USECS_PER_MINUTE % 60) as i128, 0),
                "hour" => Part::Exact((iv.micros / USECS_PER_HOUR) as i128, 0),
                "day" => Part::Exact(iv.days as i128, 0),
                "month" => Part::Exact((iv.months % 12) as i128, 0),
                "quarter" => Part::Exact(((iv.months % 12) / 3 + 1) as i128, 0),
                "year" => Part::Exact(years, 0),
                "decade" => Part::Exact(years / 10, 0),
                "century" => Part::Exact(years / 100, 0),
                "millennium" => Part::Exact(years / 1000, 0),
                "epoch" => {
                    let secs = 31_557_600i128 * years
                        + 2_592_000i128 * (iv.months % 12) as i128
                        + 86_400i128 * iv.days as i128;
                    Part::Exact(secs * 1_000_000 + iv.micros as i128, 6)
                }
                "week" | "dow" | "isodow" | "doy" | "julian" | "isoyear" | "timezone"
                | "timezone_hour" | "timezone_minute" => return Err(not_supported(field, v)),
                _ => return Err(not_recognized(field, v)),
            })
        }
        _ => Err(wrong_args()),
    }
}

fn extract(a: &[Value]) -> DbResult<Value> {
    Ok(match extract_part(text(a, 0)?, arg(a, 1)?)? {
        Part::Exact(m, s) => Value::Numeric(Dec::from_i128(m, s).to_numeric()),
        Part::Inf(neg) => Value::Numeric(Numeric::infinity(neg)),
        Part::Null => Value::Null,
    })
}

fn date_part(a: &[Value]) -> DbResult<Value> {
    Ok(match extract_part(text(a, 0)?, arg(a, 1)?)? {
        Part::Exact(m, s) => Value::Float8(if s == 0 {
            m as f64
        } else {
            // Exact decimal to nearest double.
            format!("{m}e-{s}").parse().unwrap_or(f64::NAN)
        }),
        Part::Inf(neg) => Value::Float8(if neg {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        }),
        Part::Null => Value::Null,
    })
}

// ------------------------------------------------------------ date_trunc

fn trunc_tm(u: &str, tm: &Tm) -> Option<i64> {
    let ymd = |y: i32, m: u32, d: u32| ymd_to_days(y, m, d).map(|d| d as i64 * USECS_PER_DAY);
    let day0 = tm.days as i64 * USECS_PER_DAY;
    let y = tm.year;
    Some(match u {
        "microseconds" => day0 + tm.tod(),
        "milliseconds" => day0 + tm.tod() / 1000 * 1000,
        "second" => day0 + tm.tod() / USECS_PER_SEC * USECS_PER_SEC,
        "minute" => day0 + tm.tod() / USECS_PER_MINUTE * USECS_PER_MINUTE,
        "hour" => day0 + tm.hour * USECS_PER_HOUR,
        "day" => day0,
        "week" => (tm.days as i64 - (tm.dow() + 6) % 7) * USECS_PER_DAY,
        "month" => ymd(y, tm.mon, 1)?,
        "quarter" => ymd(y, (tm.mon - 1) / 3 * 3 + 1, 1)?,
        "year" => ymd(y, 1, 1)?,
        "decade" => ymd(y.div_euclid(10) * 10, 1, 1)?,
        "century" => {
            let c = if y > 0 {
                (y + 99) / 100
            } else {
                -((99 - (y - 1)) / 100)
            };
            let start = if c > 0 {
                (c - 1) * 100 + 1
            } else {
                c * 100 + 1
            };
            ymd(start, 1, 1)?
        }
        "millennium" => {
            let m = if y > 0 {
                (y + 999) / 1000
            } else {
                -((999 - (y - 1)) / 1000)
            };
            let start = if m > 0 {
                (m - 1) * 1000 + 1
            } else {
                m * 1000 + 1
            };
            ymd(start, 1, 1)?
        }
        _ => return None,
    })
}

fn date_trunc(a: &[Value]) -> DbResult<Value> {
    let field = text(a, 0)?;
    let v = arg(a, 1)?;
    let bad = || {
        err(
            b"22023",
            format!(
                "unit \"{}\" not recognized for type {}",
                field.to_lowercase(),
                type_name(v)
            ),
        )
    };
    let u = unit(field).ok_or_else(bad)?;
    match v {
        Value::Timestamp(t) | Value::TimestampTz(t) => {
            if *t == i64::MAX || *t == i64::MIN {
                return Ok(v.clone());
            }
            Ok(if matches!(v, Value::Timestamp(_)) {
                Value::Timestamp(trunc_tm(u, &tm_from_micros(*t)).ok_or_else(bad)?)
            } else {
                // Truncated in local time, as PostgreSQL does.
                let r = trunc_tm(u, &tm_from_micros(local_of(*t))).ok_or_else(bad)?;
                Value::TimestampTz(utc_of(r))
            })
        }
        Value::Interval(iv) => {
            let mut out = *iv;
            let t = iv.micros;
            let years = iv.months / 12;
            match u {
                "microseconds" => {}
                "milliseconds" => out.micros = t / 1000 * 1000,
                "second" => out.micros = t / USECS_PER_SEC * USECS_PER_SEC,
                "minute" => out.micros = t / USECS_PER_MINUTE * USECS_PER_MINUTE,
                "hour" => out.micros = t / USECS_PER_HOUR * USECS_PER_HOUR,
                "day" => out.micros = 0,
                "month" => {
                    out.micros = 0;
                    out.days = 0;
                }
                "quarter" => {
                    out = Interval {
                        months: years * 12 + (iv.months % 12) / 3 * 3,
                        days: 0,
                        micros: 0,
                    }
                }
                "year" | "decade" | "century" | "millennium" => {
                    let unit_years = match u {
                        "year" => 1,
                        "decade" => 10,
                        "century" => 100,
                        _ => 1000,
                    };
                    out = Interval {
                        months: years / unit_years * unit_years * 12,
                        days: 0,
                        micros: 0,
                    }
                }
                "week" => {
                    return Err(
                        err(b"0A000", "unit \"week\" not supported for type interval")
                            .with_detail("Months usually have fractional weeks."),
                    )
                }
                _ => return Err(bad()),
            }
            Ok(Value::Interval(out))
        }
        _ => Err(wrong_args()),
    }
}

// ------------------------------------------------------------ constructors

fn date_range(y: i64, m: i64, d: i64) -> AionError {
    err(
        b"22008",
        format!("date field value out of range: {y}-{m:02}-{d:02}"),
    )
}

/// Days of a civil date (negative years are BC), checked like `make_date`.
fn civil_days(y: i64, m: i64, d: i64) -> DbResult<i32> {
    if y == 0 {
        return Err(date_range(y, m, d));
    }
    let astro = if y < 0 { y + 1 } else { y };
    let days = i32::try_from(astro)
        .ok()
        .zip(u32::try_from(m).ok())
        .zip(u32::try_from(d).ok())
        .and_then(|((y, m), d)| ymd_to_days(y, m, d))
        .ok_or_else(|| date_range(y, m, d))?;
    if !(DATE_MIN_DAYS..=DATE_MAX_DAYS).contains(&days) {
        return Err(err(
            b"22008",
            format!("date out of range: \"{y}-{m:02}-{d:02}\""),
        ));
    }
    Ok(days)
}

fn time_micros(h: i64, mi: i64, sec: f64) -> DbResult<i64> {
    let bad = || {
        err(
            b"22008",
            format!("time field value out of range: {h}:{mi:02}:{sec:02}"),
        )
    };
    if !(0..=23).contains(&h) || !(0..=59).contains(&mi) || !(0.0..=60.0).contains(&sec) {
        return Err(bad());
    }
    let us = (sec * 1e6).round() as i64;
    let t = (h * 60 + mi) * USECS_PER_MINUTE + us;
    if t > USECS_PER_DAY {
        return Err(bad());
    }
    Ok(t)
}

fn make_date(a: &[Value]) -> DbResult<Value> {
    Ok(Value::Date(civil_days(int(a, 0)?, int(a, 1)?, int(a, 2)?)?))
}

fn make_time(a: &[Value]) -> DbResult<Value> {
    Ok(Value::Time(time_micros(
        int(a, 0)?,
        int(a, 1)?,
        float(a, 2)?,
    )?))
}

fn make_ts(a: &[Value]) -> DbResult<i64> {
    let days = civil_days(int(a, 0)?, int(a, 1)?, int(a, 2)?)?;
    let (h, mi, s) = (int(a, 3)?, int(a, 4)?, float(a, 5)?);
    // make_timestamp allows 60 seconds (rolls into the next minute) but
    // not a 24:00 time.
    if !(0..=23).contains(&h) || !(0..=59).contains(&mi) || !(0.0..=60.0).contains(&s) {
        return Err(err(
            b"22008",
            format!("time field value out of range: {h}:{mi:02}:{s:02}"),
        ));
    }
    let t = days as i64 * USECS_PER_DAY + time_micros(h, mi, s)?;
    if !(TIMESTAMP_MIN_MICROS..=TIMESTAMP_MAX_MICROS).contains(&t) {
        return Err(err(b"22008", "timestamp out of range"));
    }
    Ok(t)
}

fn make_timestamp(a: &[Value]) -> DbResult<Value> {
    Ok(Value::Timestamp(make_ts(a)?))
}

fn make_timestamptz(a: &[Value]) -> DbResult<Value> {
    Ok(Value::TimestampTz(utc_of(make_ts(a)?)))
}

fn iv_overflow() -> AionError {
    err(b"22008", "interval out of range")
}

fn make_interval(a: &[Value]) -> DbResult<Value> {
    let get = |i: usize| -> DbResult<i64> {
        if i < a.len() {
            int(a, i)
        } else {
            Ok(0)
        }
    };
    let secs = if a.len() > 6 { float(a, 6)? } else { 0.0 };
    if secs.is_nan() || secs.is_infinite() {
        return Err(iv_overflow());
    }
    let months = get(0)? * 12 + get(1)?;
    let days = get(2)? * 7 + get(3)?;
    let micros = (get(4)? * 3600 + get(5)? * 60) as f64 * 1e6 + (secs * 1e6).round();
    if micros.abs() > i64::MAX as f64 {
        return Err(iv_overflow());
    }
    Ok(Value::Interval(Interval {
        months: i32::try_from(months).map_err(|_| iv_overflow())?,
        days: i32::try_from(days).map_err(|_| iv_overflow())?,
        micros: micros as i64,
    }))
}

fn ts_arg(a: &[Value], i: usize) -> DbResult<i64> {
    match arg(a, i)? {
        Value::Timestamp(t) | Value::TimestampTz(t) => Ok(*t),
        Value::Date(d) => Ok(*d as i64 * USECS_PER_DAY),
        _ => Err(wrong_args()),
    }
}

fn age(a: &[Value]) -> DbResult<Value> {
    let (mut t1, mut t2) = (ts_arg(a, 0)?, ts_arg(a, 1)?);
    if [t1, t2].iter().any(|t| *t == i64::MAX || *t == i64::MIN) {
        return Err(err(b"22008", "interval out of range"));
    }
    // age(timestamptz, timestamptz) subtracts local field by field.
    if matches!(arg(a, 0)?, Value::TimestampTz(_)) {
        t1 = local_of(t1);
        t2 = local_of(t2);
    }
    let (a1, a2) = (tm_from_micros(t1), tm_from_micros(t2));
    let mut f = [
        a1.usec - a2.usec,
        a1.sec - a2.sec,
        a1.min - a2.min,
        a1.hour - a2.hour,
        a1.mday as i64 - a2.mday as i64,
        a1.mon as i64 - a2.mon as i64,
        a1.year as i64 - a2.year as i64,
    ];
    let neg = t1 < t2;
    if neg {
        f.iter_mut().for_each(|x| *x = -*x);
    }
    let [mut us, mut sec, mut min, mut hour, mut mday, mut mon, mut year] = f;
    while us < 0 {
        us += USECS_PER_SEC;
        sec -= 1;
    }
    while sec < 0 {
        sec += 60;
        min -= 1;
    }
    while min < 0 {
        min += 60;
        hour -= 1;
    }
    while hour < 0 {
        hour += 24;
        mday -= 1;
    }
    while mday < 0 {
        // Borrow the length of the month of the earlier timestamp.
        let base = if neg { a1 } else { a2 };
        mday += days_in_month(base.year, base.mon);
        mon -= 1;
    }
    while mon < 0 {
        mon += 12;
        year -= 1;
    }
    let sign = if neg { -1 } else { 1 };
    let months = sign * (year * 12 + mon);
    let days = sign * mday;
    let micros = sign * (((hour * 60 + min) * 60 + sec) * USECS_PER_SEC + us);
    Ok(Value::Interval(Interval {
        months: i32::try_from(months).map_err(|_| iv_overflow())?,
        days: i32::try_from(days).map_err(|_| iv_overflow())?,
        micros,
    }))
}

fn justify_hours(a: &[Value]) -> DbResult<Value> {
    let mut iv = interval(a, 0)?;
    let whole = iv.micros / USECS_PER_DAY;
    iv.micros -= whole * USECS_PER_DAY;
    iv.days = iv
        .days
        .checked_add(i32::try_from(whole).map_err(|_| iv_overflow())?)
        .ok_or_else(iv_overflow)?;
    if iv.days > 0 && iv.micros < 0 {
        iv.micros += USECS_PER_DAY;
        iv.days -= 1;
    } else if iv.days < 0 && iv.micros > 0 {
        iv.micros -= USECS_PER_DAY;
        iv.days += 1;
    }
    Ok(Value::Interval(iv))
}

fn justify_days(a: &[Value]) -> DbResult<Value> {
    let mut iv = interval(a, 0)?;
    let whole = iv.days / 30;
    iv.days -= whole * 30;
    iv.months = iv.months.checked_add(whole).ok_or_else(iv_overflow)?;
    if iv.months > 0 && iv.days < 0 {
        iv.days += 30;
        iv.months -= 1;
    } else if iv.months < 0 && iv.days > 0 {
        iv.days -= 30;
        iv.months += 1;
    }
    Ok(Value::Interval(iv))
}

fn justify_interval(a: &[Value]) -> DbResult<Value> {
    let mut iv = interval(a, 0)?;
    let (mut months, mut days, mut time) = (iv.months as i64, iv.days as i64, iv.micros);
    if (days > 0 && time > 0) || (days < 0 && time < 0) {
        let wm = days / 30;
        days -= wm * 30;
        months += wm;
    }
    let wd = time / USECS_PER_DAY;
    time -= wd * USECS_PER_DAY;
    days += wd;
    let wm = days / 30;
    days -= wm * 30;
    months += wm;
    if months > 0 && (days < 0 || (days == 0 && time < 0)) {
        days += 30;
        months -= 1;
    } else if months < 0 && (days > 0 || (days == 0 && time > 0)) {
        days -= 30;
        months += 1;
    }
    if days > 0 && time < 0 {
        time += USECS_PER_DAY;
        days -= 1;
    } else if days < 0 && time > 0 {
        time -= USECS_PER_DAY;
        days += 1;
    }
    iv.months = i32::try_from(months).map_err(|_| iv_overflow())?;
    iv.days = i32::try_from(days).map_err(|_| iv_overflow())?;
    iv.micros = time;
    Ok(Value::Interval(iv))
}

fn isfinite(a: &[Value]) -> DbResult<Value> {
    Ok(Value::Bool(match arg(a, 0)? {
        Value::Date(d) => *d != i32::MAX && *d != i32::MIN,
        Value::Timestamp(t) | Value::TimestampTz(t) => *t != i64::MAX && *t != i64::MIN,
        Value::Interval(_) => true,
        _ => return Err(wrong_args()),
    }))
}

fn to_timestamp_float(a: &[Value]) -> DbResult<Value> {
    let f = float(a, 0)?;
    if f.is_nan() {
        return Err(err(b"22008", "timestamp cannot be NaN"));
    }
    if f.is_infinite() {
        return Ok(Value::TimestampTz(if f > 0.0 {
            i64::MAX
        } else {
            i64::MIN
        }));
    }
    let us = (f * 1e6).round() - PG_EPOCH_MICROS_FROM_UNIX as f64;
    if !(TIMESTAMP_MIN_MICROS as f64..TIMESTAMP_MAX_MICROS as f64).contains(&us) {
        return Err(err(
            b"22008",
            format!(
                "timestamp out of range: \"{}\"",
                crate::to_text(&Value::Float8(f))
            ),
        ));
    }
    Ok(Value::TimestampTz(us as i64))
}

// ------------------------------------------------------------ to_char

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Template patterns, longest first so prefixes do not shadow them.
const PATTERNS: &[&str] = &[
    "A.D.", "A.M.", "B.C.", "P.M.", "a.d.", "a.m.", "b.c.", "p.m.", "Y,YYY", "MONTH", "Month",
    "month", "HH24", "HH12", "IYYY", "YYYY", "IDDD", "DAY", "Day", "day", "DDD", "IYY", "YYY",
    "MON", "Mon", "mon", "AD", "AM", "BC", "CC", "DD", "DY", "Dy", "dy", "HH", "ID", "IW", "IY",
    "MI", "MM", "MS", "OF", "PM", "Q", "RM", "rm", "SSSS", "SS", "TZ", "tz", "US", "WW", "W", "YY",
    "ad", "am", "bc", "pm", "D", "I", "J", "Y",
];

/// Which value to_char formats.
/// Zone fields of a `timestamptz` for to_char: abbreviation and offset
/// east of UTC in seconds.
struct ZoneFields {
    abbrev: String,
    offset: i32,
}

enum DtSrc {
    Ts { tm: Tm, tz: Option<ZoneFields> },
    Iv(Interval),
}

/// `+HH` or `+HH:MM`, as to_char's `OF` prints an offset.
fn offset_text(secs_east: i32) -> String {
    let sign = if secs_east < 0 { '-' } else { '+' };
    let a = secs_east.unsigned_abs();
    let (h, m) = (a / 3600, a / 60 % 60);
    if m == 0 {
        format!("{sign}{h:02}")
    } else {
        format!("{sign}{h:02}:{m:02}")
    }
}

/// `tm` and zone fields of a `timestamptz` in the session zone.
fn tz_src(utc: i64) -> DtSrc {
    with_zone(|z| DtSrc::Ts {
        tm: tm_from_micros(z.utc_to_local(utc)),
        tz: Some(ZoneFields {
            abbrev: z.abbreviation_at_utc(utc),
            offset: z.offset_at_utc(utc),
        }),
    })
}

fn ordinal_suffix(n: i64, upper: bool) -> &'static str {
    let s = if (11..=13).contains(&(n % 100)) {
        "th"
    } else {
        match n % 10 {
            1 => "st",
            2 => "nd",
            3 => "rd",
            _ => "th",
        }
    };
    if upper {
        match s {
            "st" => "ST",
            "nd" => "ND",
            "rd" => "RD",
            _ => "TH",
        }
    } else {
        s
    }
}

fn case_like(word: &str, pat: &str) -> String {
    if pat
        .chars()
        .all(|c| c.is_ascii_uppercase() || !c.is_alphabetic())
    {
        word.to_uppercase()
    } else if pat
        .chars()
        .all(|c| c.is_ascii_lowercase() || !c.is_alphabetic())
    {
        word.to_lowercase()
    } else {
        word.to_string()
    }
}

fn to_char_datetime(src: &DtSrc, fmt: &str) -> String {
    let (tm, tz, iv) = match src {
        DtSrc::Ts { tm, tz } => (*tm, tz.as_ref(), None),
        DtSrc::Iv(iv) => {
            // Intervals expose their fields through a pseudo-Tm.
            let tm = Tm {
                year: iv.months / 12,
                mon: (iv.months % 12) as u32,
                // Day fields read `iv.days` directly (it may be negative).
                mday: 0,
                hour: iv.micros / USECS_PER_HOUR,
                min: iv.micros / USECS_PER_MINUTE % 60,
                sec: iv.micros / USECS_PER_SEC % 60,
                usec: iv.micros % USECS_PER_SEC,
                days: 0,
            };
            (tm, None, Some(*iv))
        }
    };
    let mut out = String::with_capacity(fmt.len() + 16);
    let mut rest = fmt;
    while !rest.is_empty() {
        // Quoted literal text.
        if let Some(r) = rest.strip_prefix('"') {
            let end = r.find('"').unwrap_or(r.len());
            let mut lit = r[..end].chars().peekable();
            while let Some(c) = lit.next() {
                if c == '\\' && lit.peek().is_some() {
                    if let Some(n) = lit.next() {
                        out.push(n);
                    }
                } else {
                    out.push(c);
                }
            }
            rest = r.get(end + 1..).unwrap_or("");
            continue;
        }
        // Outside quotes only `\"` is an escape; other backslashes print.
        if let Some(r) = rest.strip_prefix("\\\"") {
            out.push('"');
            rest = r;
            continue;
        }
        let fm = rest.starts_with("FM") || rest.starts_with("fm");
        let body = if fm { &rest[2..] } else { rest };
        let Some(pat) = PATTERNS.iter().copied().find(|p| body.starts_with(p)) else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        };
        let mut after = &body[pat.len()..];
        let th = if after.starts_with("TH") {
            after = &after[2..];
            Some(true)
        } else if after.starts_with("th") {
            after = &after[2..];
            Some(false)
        } else {
            None
        };
        rest = after;
        let num = |v: i64, width: usize| {
            if fm {
                v.to_string()
            } else if v < 0 {
                format!("-{:0width$}", -v, width = width)
            } else {
                format!("{v:0width$}")
            }
        };
        let word = |w: &str, pad: usize| {
            let s = case_like(w, pat);
            if fm {
                s
            } else {
                format!("{s:<pad$}")
            }
        };
        let year_shown = if tm.year > 0 || iv.is_some() {
            tm.year as i64
        } else {
            1 - tm.year as i64
        };
        let hour12 = {
            let h = tm.hour % 12;
            if h == 0 {
                12
            } else {
                h
            }
        };
        let pm = tm.hour >= 12;
        let (iso_y, iso_w) = if iv.is_some() {
            (tm.year, 0)
        } else {
            tm.iso_week()
        };
        let mut numeric_val: Option<i64> = None;
        let piece = match pat {
            "HH24" => {
                numeric_val = Some(tm.hour);
                num(tm.hour, 2)
            }
            "HH12" | "HH" => {
                numeric_val = Some(hour12);
                num(hour12, 2)
            }
            "MI" => {
                numeric_val = Some(tm.min);
                num(tm.min, 2)
            }
            "SS" => {
                numeric_val = Some(tm.sec);
                num(tm.sec, 2)
            }
            "SSSS" => num(tm.hour * 3600 + tm.min * 60 + tm.sec, 0),
            "MS" => format!("{:03}", tm.usec / 1000),
            "US" => format!("{:06}", tm.usec),
            "AM" | "PM" => (if pm { "PM" } else { "AM" }).to_string(),
            "am" | "pm" => (if pm { "pm" } else { "am" }).to_string(),
            "A.M." | "P.M." => (if pm { "P.M." } else { "A.M." }).to_string(),
            "a.m." | "p.m." => (if pm { "p.m." } else { "a.m." }).to_string(),
            "AD" | "BC" => (if tm.year > 0 { "AD" } else { "BC" }).to_string(),
            "ad" | "bc" => (if tm.year > 0 { "ad" } else { "bc" }).to_string(),
            "A.D." | "B.C." => (if tm.year > 0 { "A.D." } else { "B.C." }).to_string(),
            "a.d." | "b.c." => (if tm.year > 0 { "a.d." } else { "b.c." }).to_string(),
            "Y,YYY" => format!("{},{:03}", year_shown / 1000, year_shown % 1000),
            "YYYY" => {
                numeric_val = Some(year_shown);
                num(year_shown, 4)
            }
            "YYY" => num(year_shown % 1000, 3),
            "YY" => num(year_shown % 100, 2),
            "Y" => num(year_shown % 10, 1),
            "IYYY" => num(iso_y as i64, 4),
            "IYY" => num(iso_y as i64 % 1000, 3),
            "IY" => num(iso_y as i64 % 100, 2),
            "I" => num(iso_y as i64 % 10, 1),
            "MM" => {
                numeric_val = Some(tm.mon as i64);
                num(tm.mon as i64, 2)
            }
            "MONTH" | "Month" | "month" => match tm.mon {
                1..=12 => word(MONTHS[tm.mon as usize - 1], 9),
                _ => String::new(),
            },
            "MON" | "Mon" | "mon" => match tm.mon {
                1..=12 => case_like(&MONTHS[tm.mon as usize - 1][..3], pat),
                _ => String::new(),
            },
            "DAY" | "Day" | "day" if iv.is_none() => word(DAYS[tm.dow() as usize], 9),
            "DY" | "Dy" | "dy" if iv.is_none() => case_like(&DAYS[tm.dow() as usize][..3], pat),
            "DDD" => {
                let v = if let Some(iv) = iv {
                    iv.days as i64
                } else {
                    tm.doy()
                };
                numeric_val = Some(v);
                num(v, 3)
            }
            "IDDD" => {
                let v = if iv.is_some() {
                    0
                } else {
                    (iso_w - 1) * 7 + if tm.dow() == 0 { 7 } else { tm.dow() }
                };
                num(v, 3)
            }
            "DD" => {
                let v = iv.map_or(tm.mday as i64, |iv| iv.days as i64);
                numeric_val = Some(v);
                // PostgreSQL pads DD like C's `%02d` (the sign counts).
                if fm {
                    v.to_string()
                } else {
                    format!("{v:02}")
                }
            }
            "D" if iv.is_none() => {
                numeric_val = Some(tm.dow() + 1);
                num(tm.dow() + 1, 1)
            }
            "ID" if iv.is_none() => num(if tm.dow() == 0 { 7 } else { tm.dow() }, 1),
            "WW" => num((tm.doy() - 1) / 7 + 1, 2),
            "IW" => num(iso_w, 2),
            "W" => num((tm.mday as i64 - 1) / 7 + 1, 1),
            "Q" => match tm.mon {
                1..=12 => num((tm.mon as i64 - 1) / 3 + 1, 1),
                _ => String::new(),
            },
            "CC" => {
                let y = tm.year as i64;
                let cc = if iv.is_some() {
                    y / 100
                } else if y > 0 {
                    (y + 99) / 100
                } else {
                    -((99 - (y - 1)) / 100)
                };
                num(cc, 2)
            }
            "J" => num(julian(tm.days), 0),
            "TZ" => tz.map(|z| z.abbrev.to_uppercase()).unwrap_or_default(),
            "tz" => tz.map(|z| z.abbrev.to_lowercase()).unwrap_or_default(),
            "OF" => tz.map(|z| offset_text(z.offset)).unwrap_or_default(),
            "RM" | "rm" => {
                const RM: [&str; 12] = [
                    "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII",
                ];
                match tm.mon {
                    1..=12 => word(&case_like(RM[tm.mon as usize - 1], pat), 4),
                    _ => String::new(),
                }
            }
            _ => String::new(),
        };
        out.push_str(&piece);
        if let (Some(upper), Some(v)) = (th, numeric_val.or_else(|| piece.trim().parse().ok())) {
            out.push_str(ordinal_suffix(v, upper));
        }
    }
    out
}

/// Numeric `to_char`: digits `9`/`0`, `.`/`D`, `,`/`G`, `S`, `MI`, `PL`,
/// `SG`, `PR`, `FM`.
fn to_char_number(value: &Dec, fmt: &str) -> String {
    if let Some(i) = fmt.to_uppercase().find("EEEE") {
        return to_char_sci(value, &fmt[..i]);
    }
    // Parse the template.
    let mut fm = false;
    let mut int_digits = 0usize;
    let mut frac_digits = 0usize;
    let mut seen_point = false;
    let mut first_zero: Option<usize> = None;
    let mut tokens: Vec<String> = Vec::new();
    let up = fmt.to_uppercase();
    let mut i = 0;
    let b = up.as_bytes();
    while i < b.len() {
        let rest = &up[i..];
        let tok = if rest.starts_with("FM") {
            fm = true;
            i += 2;
            continue;
        } else if ["MI", "PL", "SG", "PR", "TH"]
            .iter()
            .any(|p| rest.starts_with(p))
        {
            rest[..2].to_string()
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            match c {
                '9' | '0' => {
                    if seen_point {
                        frac_digits += 1;
                    } else {
                        if c == '0' && first_zero.is_none() {
                            first_zero = Some(int_digits);
                        }
                        int_digits += 1;
                    }
                }
                '.' | 'D' => seen_point = true,
                _ => {}
            }
            // Keep the original character for literals.
            fmt[i..].chars().next().unwrap_or(c).to_string()
        };
        i += tok.len();
        tokens.push(tok);
    }
    // Round half away from zero to the fraction digits the template shows.
    let mut r = Dec::from_numeric(&value.to_numeric().round_to_scale(frac_digits as i32));
    let neg = value.neg && !r.digits.is_empty();
    r.neg = false;
    let plain = r.to_plain();
    let (int_str, frac_str) = plain.split_once('.').unwrap_or((plain.as_str(), ""));
    let int_str = int_str.trim_start_matches('0');
    let overflow = int_str.len() > int_digits;
    let int_chars: Vec<char> = int_str.chars().collect();
    let mut frac_chars: Vec<char> = frac_str.chars().collect();
    frac_chars.resize(frac_digits, '0');
    // FM drops trailing zeros of `9` fraction positions.
    let mut frac_keep = frac_digits;
    if fm {
        let frac_zero_positions: Vec<bool> = tokens
            .iter()
            .skip_while(|t| *t != "." && *t != "D")
            .filter(|t| *t == "9" || *t == "0")
            .map(|t| t == "0")
            .collect();
        while frac_keep > 0
            && frac_chars[frac_keep - 1] == '0'
            && !frac_zero_positions
                .get(frac_keep - 1)
                .copied()
                .unwrap_or(false)
        {
            frac_keep -= 1;
        }
    }
    let has_sign_token = tokens
        .iter()
        .any(|t| matches!(t.as_str(), "S" | "MI" | "SG" | "PR"));
    let mut out = String::new();
    let mut int_pos = 0usize; // index among integer digit positions
    let mut frac_pos = 0usize;
    let mut in_frac = false;
    let mut started = false; // a significant digit has been printed
    let lead = int_digits.saturating_sub(int_chars.len());
    let zero_from =
        first_zero
            .unwrap_or(usize::MAX)
            .min(if int_chars.is_empty() && frac_digits == 0 {
                int_digits.saturating_sub(1)
            } else {
                usize::MAX
            });
    let mut sign_done = false;
    let sign_char = if neg { '-' } else { ' ' };
    for t in &tokens {
        match t.as_str() {
            "9" | "0" if !in_frac => {
                let digit = if overflow {
                    Some('#')
                } else if int_pos >= lead {
                    Some(int_chars[int_pos - lead])
                } else if int_pos >= zero_from {
                    Some('0')
                } else {
                    None
                };
                match digit {
                    Some(d) => {
                        if !started && !has_sign_token && !sign_done {
                            // The sign goes just before the first digit.
                            if neg || !fm {
                                out.push(sign_char);
                            }
                            sign_done = true;
                        }
                        started = true;
                        out.push(d);
                    }
                    None => {
                        if !fm {
                            out.push(' ');
                        }
                    }
                }
                int_pos += 1;
            }
            "9" | "0" => {
                if frac_pos < frac_keep {
                    out.push(if overflow { '#' } else { frac_chars[frac_pos] });
                }
                frac_pos += 1;
            }
            "." | "D" => {
                if !started && !has_sign_token && !sign_done {
                    if neg || !fm {
                        out.push(sign_char);
                    }
                    sign_done = true;
                }
                in_frac = true;
                out.push('.');
            }
            "," | "G" => {
                if started {
                    out.push(',');
                } else if !fm {
                    out.push(' ');
                }
            }
            "S" => out.push(if neg { '-' } else { '+' }),
            "MI" => {
                if neg {
                    out.push('-');
                } else if !fm {
                    out.push(' ');
                }
            }
            "PL" => {
                if !neg {
                    out.push('+');
                } else if !fm {
                    out.push(' ');
                }
            }
            "SG" => out.push(if neg { '-' } else { '+' }),
            "PR" => {}
            "TH" => {
                // Ordinal suffix, for non-negative integers only.
                if !neg && frac_digits == 0 {
                    let n = int_str.parse::<i64>().unwrap_or(0);
                    out.push_str(ordinal_suffix(n, !fmt.contains("th")));
                }
            }
            lit => out.push_str(lit),
        }
    }
    if !sign_done && !has_sign_token && (neg || !fm) {
        out.insert(0, sign_char);
    }
    if tokens.iter().any(|t| t == "PR") {
        let body = out.trim_start().to_string();
        let pad = out.len() - body.len();
        let body = body.trim_start_matches('-').to_string();
        return if neg {
            format!("{}<{}>", " ".repeat(pad.saturating_sub(1)), body)
        } else {
            format!("{}{} ", " ".repeat(pad), body)
        };
    }
    // The sign sits right before the first digit when S is leading.
    if let Some(first) = tokens.iter().position(|t| t == "S") {
        if first == 0 {
            let sign = out.remove(0);
            let body = out.trim_start();
            let pad = out.len() - body.len();
            return format!("{}{}{}", " ".repeat(pad), sign, body);
        }
    }
    out
}

/// `9.99EEEE`: one integer digit, the template's fraction digits and a
/// signed two-digit exponent.
fn to_char_sci(value: &Dec, mantissa_fmt: &str) -> String {
    let frac = mantissa_fmt.split_once(['.', 'D']).map_or(0, |(_, f)| {
        f.chars().filter(|c| matches!(c, '9' | '0')).count()
    });
    let v: f64 = value.to_plain().parse().unwrap_or(0.0);
    let s = format!("{:.*e}", frac, v.abs());
    let (m, e) = s.split_once('e').unwrap_or((s.as_str(), "0"));
    let e: i64 = e.parse().unwrap_or(0);
    let sign = if value.neg { '-' } else { ' ' };
    let esign = if e < 0 { '-' } else { '+' };
    format!("{sign}{m}e{esign}{:02}", e.abs())
}

fn to_char(a: &[Value]) -> DbResult<Value> {
    let fmt = text(a, 1)?;
    let v = arg(a, 0)?;
    let out = match v {
        Value::Timestamp(t) | Value::TimestampTz(t) => {
            if *t == i64::MAX || *t == i64::MIN {
                return Ok(Value::Null);
            }
            let src = if matches!(v, Value::TimestampTz(_)) {
                tz_src(*t)
            } else {
                DtSrc::Ts {
                    tm: tm_from_micros(*t),
                    tz: None,
                }
            };
            to_char_datetime(&src, fmt)
        }
        Value::Date(d) => {
            if *d == i32::MAX || *d == i32::MIN {
                return Ok(Value::Null);
            }
            // PostgreSQL resolves to_char(date, text) to the timestamptz
            // one: local midnight of that day.
            to_char_datetime(&tz_src(utc_of(*d as i64 * USECS_PER_DAY)), fmt)
        }
        Value::Interval(iv) => to_char_datetime(&DtSrc::Iv(*iv), fmt),
        Value::Numeric(n) => {
            if crate::num::is_nan(n) {
                let fm = fmt.to_uppercase().contains("FM");
                return Ok(Value::text(if fm { "NaN" } else { " NaN" }));
            }
            if !n.is_finite() {
                // Infinity overflows every template.
                let big = Dec::from_plain(&"9".repeat(1000));
                return Ok(Value::text(to_char_number(&big, fmt)));
            }
            to_char_number(&Dec::from_numeric(numeric(a, 0)?), fmt)
        }
        Value::Int2(_) | Value::Int4(_) | Value::Int8(_) => {
            to_char_number(&Dec::from_plain(&int(a, 0)?.to_string()), fmt)
        }
        Value::Float8(f) => {
            // Like PostgreSQL, a double keeps its 15 significant digits.
            let s = format!("{:.*e}", 14, f);
            let n = Numeric::parse(&s).unwrap_or_else(Numeric::zero);
            let plain = n.to_string();
            to_char_number(&Dec::from_plain(&plain), fmt)
        }
        _ => return Err(wrong_args()),
    };
    Ok(Value::text(out))
}

// ------------------------------------------------------------ to_date / to_timestamp

struct Parsed {
    year: Option<i64>,
    mon: Option<i64>,
    mday: Option<i64>,
    hour: i64,
    min: i64,
    sec: i64,
    usec: i64,
    pm: Option<bool>,
    hour12: bool,
}

fn parse_by_format(input: &str, fmt: &str) -> DbResult<Parsed> {
    let mut p = Parsed {
        year: None,
        mon: None,
        mday: None,
        hour: 0,
        min: 0,
        sec: 0,
        usec: 0,
        pm: None,
        hour12: false,
    };
    let mut s = input;
    let mut f = fmt;
    while !f.is_empty() {
        let fm = f.starts_with("FM");
        if fm {
            f = &f[2..];
            continue;
        }
        if let Some(r) = f.strip_prefix('"') {
            let end = r.find('"').unwrap_or(r.len());
            for _ in r[..end].chars() {
                let mut it = s.chars();
                it.next();
                s = it.as_str();
            }
            f = r.get(end + 1..).unwrap_or("");
            continue;
        }
        let Some(pat) = PATTERNS.iter().copied().find(|pt| f.starts_with(pt)) else {
            // A separator in the template skips one input character; a
            // space skips any run of spaces.
            let c = f.chars().next().unwrap_or(' ');
            f = &f[c.len_utf8()..];
            if c == ' ' {
                s = s.trim_start();
            } else if let Some(ic) = s.chars().next() {
                if !ic.is_ascii_alphanumeric() || ic == c {
                    s = &s[ic.len_utf8()..];
                }
            }
            continue;
        };
        f = &f[pat.len()..];
        s = s.trim_start();
        let width = match pat {
            "YYYY" | "IYYY" => 4,
            "YYY" | "DDD" | "MS" | "IYY" => 3,
            "US" => 6,
            "Y" | "I" | "D" | "Q" => 1,
            _ => 2,
        };
        let take_int = |s: &mut &str, name: &str, max: usize| take_int(s, f, name, max);
        match pat {
            "YYYY" | "IYYY" => p.year = Some(take_int(&mut s, pat, width)?),
            "YYY" | "YY" | "Y" => {
                let v = take_int(&mut s, pat, width)?;
                p.year = Some(match pat {
                    "YY" if v < 70 => 2000 + v,
                    "YY" => 1900 + v,
                    "YYY" if v < 100 => 2000 + v,
                    "YYY" => 1000 + v,
                    _ => 2000 + v,
                });
            }
            "MM" => p.mon = Some(take_int(&mut s, pat, width)?),
            "DD" => p.mday = Some(take_int(&mut s, pat, width)?),
            "HH24" => p.hour = take_int(&mut s, pat, width)?,
            "HH12" | "HH" => {
                p.hour = take_int(&mut s, pat, width)?;
                p.hour12 = true;
            }
            "MI" => p.min = take_int(&mut s, pat, width)?,
            "SS" => p.sec = take_int(&mut s, pat, width)?,
            "MS" => {
                let start = s;
                let v = take_int(&mut s, pat, width)?;
                let n = start.len() - s.len();
                p.usec += v * 10i64.pow(3u32.saturating_sub(n as u32)) * 1000;
            }
            "US" => {
                let start = s;
                let v = take_int(&mut s, pat, width)?;
                let n = start.len() - s.len();
                p.usec += v * 10i64.pow(6u32.saturating_sub(n as u32));
            }
            "AM" | "PM" | "am" | "pm" | "A.M." | "P.M." | "a.m." | "p.m." => {
                let low = s.to_lowercase();
                let (is_pm, n) = if low.starts_with("p.m.") {
                    (true, 4)
                } else if low.starts_with("a.m.") {
                    (false, 4)
                } else if low.starts_with("pm") {
                    (true, 2)
                } else if low.starts_with("am") {
                    (false, 2)
                } else {
                    return Err(err(
                        b"22007",
                        format!(
                            "invalid value \"{}\" for \"{pat}\"",
                            s.chars().take(2).collect::<String>()
                        ),
                    )
                    .with_detail(
                        "The given value did not match any of the allowed values for this field.",
                    ));
                };
                p.pm = Some(is_pm);
                s = &s[n..];
            }
            "MONTH" | "Month" | "month" | "MON" | "Mon" | "mon" => {
                let low = s.to_lowercase();
                let full = pat.len() > 3;
                let found = MONTHS.iter().enumerate().find_map(|(i, m)| {
                    let m = m.to_lowercase();
                    if full && low.starts_with(&m) {
                        Some((i, m.len()))
                    } else if low.starts_with(&m[..3]) {
                        Some((i, 3))
                    } else {
                        None
                    }
                });
                let (i, n) = found.ok_or_else(|| {
                    err(
                        b"22007",
                        format!(
                            "invalid value \"{}\" for \"{pat}\"",
                            s.chars().take(3).collect::<String>()
                        ),
                    )
                    .with_detail(
                        "The given value did not match any of the allowed values for this field.",
                    )
                })?;
                p.mon = Some(i as i64 + 1);
                s = &s[n..];
            }
            "DAY" | "Day" | "day" | "DY" | "Dy" | "dy" => {
                let n = s.chars().take_while(|c| c.is_alphabetic()).count();
                s = &s[n..];
            }
            _ => {
                return Err(err(
                    b"0A000",
                    format!("formatting field \"{pat}\" is only supported in to_char"),
                ))
            }
        }
    }
    if let Some(pm) = p.pm {
        if p.hour12 || p.hour <= 12 {
            if !(1..=12).contains(&p.hour) {
                return Err(err(
                    b"22008",
                    format!("hour \"{}\" is invalid for the 12-hour clock", p.hour),
                )
                .with_hint("Use the 24-hour clock, or give an hour between 1 and 12."));
            }
            p.hour %= 12;
            if pm {
                p.hour += 12;
            }
        }
    }
    Ok(p)
}

/// Reads an integer field: fixed width when the template runs on without
/// a separator, otherwise up to the next non-digit.
fn take_int(s: &mut &str, f: &str, name: &str, max: usize) -> DbResult<i64> {
    let digits = s
        .chars()
        .enumerate()
        .take_while(|(i, c)| c.is_ascii_digit() || (*i == 0 && *c == '-'))
        .count();
    let glued = f.starts_with(|c: char| c.is_ascii_alphanumeric());
    let n = if glued { digits.min(max) } else { digits };
    let v: i64 = s[..n].parse().map_err(|_| {
        let shown: String = s.chars().take(max.max(1)).collect();
        err(
            b"22007",
            format!("invalid value \"{shown}\" for \"{name}\""),
        )
        .with_detail("Value must be an integer.")
    })?;
    *s = &s[n..];
    Ok(v)
}

fn parsed_days(p: &Parsed, input: &str) -> DbResult<i32> {
    let y = p.year.unwrap_or(1);
    let m = p.mon.unwrap_or(1);
    let d = p.mday.unwrap_or(1);
    let astro = if y <= 0 { y + 1 } else { y };
    i32::try_from(astro)
        .ok()
        .zip(u32::try_from(m).ok())
        .zip(u32::try_from(d).ok())
        .and_then(|((y, m), d)| ymd_to_days(y, m, d))
        .ok_or_else(|| {
            err(
                b"22008",
                format!("date/time field value out of range: \"{input}\""),
            )
        })
}

fn to_date(a: &[Value]) -> DbResult<Value> {
    let (input, fmt) = (text(a, 0)?, text(a, 1)?);
    let p = parse_by_format(input, fmt)?;
    Ok(Value::Date(parsed_days(&p, input)?))
}

fn to_timestamp_text(a: &[Value]) -> DbResult<Value> {
    let (input, fmt) = (text(a, 0)?, text(a, 1)?);
    let p = parse_by_format(input, fmt)?;
    let days = parsed_days(&p, input)?;
    if !(0..=24).contains(&p.hour) || !(0..=59).contains(&p.min) || !(0..=60).contains(&p.sec) {
        return Err(err(
            b"22008",
            format!("date/time field value out of range: \"{input}\""),
        ));
    }
    let t =
        days as i64 * USECS_PER_DAY + ((p.hour * 60 + p.min) * 60 + p.sec) * USECS_PER_SEC + p.usec;
    Ok(Value::TimestampTz(utc_of(t)))
}
