//! Date, time, timestamp and interval text I/O (DateStyle ISO, MDY;
//! TimeZone UTC; IntervalStyle postgres).

// `DbResult` carries the whole `AionError` by design (it crosses the plugin
// boundary unchanged), so the large-`Err` lint does not apply here.

use crate::error::{AionError, DbResult, SqlState};

use super::format::{
    abbreviation_offset, DateOrder, DateOutput, DateStyle, FormatOptions, TimeZone,
};
use super::text::is_pg_space;
use super::{Interval, PG_EPOCH_DAYS_FROM_UNIX};

pub const USECS_PER_SEC: i64 = 1_000_000;
pub const USECS_PER_MINUTE: i64 = 60 * USECS_PER_SEC;
pub const USECS_PER_HOUR: i64 = 60 * USECS_PER_MINUTE;
pub const USECS_PER_DAY: i64 = 24 * USECS_PER_HOUR;

/// Earliest date: 4714-11-24 BC, Julian day 0.
pub const DATE_MIN_DAYS: i32 = -2_451_545;
/// Latest date: 5874897-12-31.
pub const DATE_MAX_DAYS: i32 = 2_145_031_948;
/// Latest timestamp: 294276-12-31 23:59:59.999999.
pub const TIMESTAMP_MAX_MICROS: i64 = 9_223_371_331_199_999_999;
pub const TIMESTAMP_MIN_MICROS: i64 = DATE_MIN_DAYS as i64 * USECS_PER_DAY;

/// Largest time zone displacement PostgreSQL accepts (15:59:59).
const MAX_TZ_DISP_SECS: i32 = 15 * 3600 + 59 * 60 + 59;

/// Splits days since 2000-01-01 into a proleptic Gregorian
/// (astronomical year, month, day); year 0 is 1 BC.
pub fn days_to_ymd(days_since_2000: i32) -> (i32, u32, u32) {
    // Shift to an era-based count starting 0000-03-01 so leap days fall at
    // the end of each year.
    let z = days_since_2000 as i64 + PG_EPOCH_DAYS_FROM_UNIX as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y as i32, m, d)
}

/// Days since 2000-01-01 of a proleptic Gregorian date (astronomical
/// year), or `None` when the month or day is invalid or the result does
/// not fit.
pub fn ymd_to_days(y: i32, m: u32, d: u32) -> Option<i32> {
    let days = ymd_to_days_i64(y as i64, m, d)?;
    i32::try_from(days).ok()
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

fn ymd_to_days_i64(y: i64, m: u32, d: u32) -> Option<i64> {
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468 - PG_EPOCH_DAYS_FROM_UNIX as i64)
}

// ---------------------------------------------------------------- output

fn shown_year(y: i32) -> i64 {
    if y <= 0 {
        1 - y as i64
    } else {
        y as i64
    }
}

/// A date in the DateStyle's layout (without the BC suffix).
fn push_date_fields(out: &mut String, style: DateStyle, y: i32, m: u32, d: u32) {
    let yy = shown_year(y);
    let dmy = style.order == DateOrder::Dmy;
    let text = match style.output {
        DateOutput::Iso => format!("{yy:04}-{m:02}-{d:02}"),
        DateOutput::Sql if dmy => format!("{d:02}/{m:02}/{yy:04}"),
        DateOutput::Sql => format!("{m:02}/{d:02}/{yy:04}"),
        DateOutput::German => format!("{d:02}.{m:02}.{yy:04}"),
        DateOutput::Postgres if dmy => format!("{d:02}-{m:02}-{yy:04}"),
        DateOutput::Postgres => format!("{m:02}-{d:02}-{yy:04}"),
    };
    out.push_str(&text);
}

/// `date_out` in any DateStyle.
pub fn write_date_with(days: i32, style: DateStyle, out: &mut String) {
    match days {
        i32::MAX => out.push_str("infinity"),
        i32::MIN => out.push_str("-infinity"),
        _ => {
            let (y, m, d) = days_to_ymd(days);
            push_date_fields(out, style, y, m, d);
            if y <= 0 {
                out.push_str(" BC");
            }
        }
    }
}

/// Seconds with trailing zeros of the fraction dropped, as PostgreSQL does.
fn push_seconds(out: &mut String, secs: i64, frac_us: i64) {
    out.push_str(&format!("{secs:02}"));
    if frac_us != 0 {
        let f = format!("{frac_us:06}");
        out.push('.');
        out.push_str(f.trim_end_matches('0'));
    }
}

fn push_hms(out: &mut String, micros: i64) {
    let h = micros / USECS_PER_HOUR;
    let m = micros / USECS_PER_MINUTE % 60;
    let s = micros / USECS_PER_SEC % 60;
    out.push_str(&format!("{h:02}:{m:02}:"));
    push_seconds(out, s, micros % USECS_PER_SEC);
}

pub fn write_time(micros: i64, out: &mut String) {
    push_hms(out, micros.max(0));
}

/// A zone displacement as PostgreSQL prints it: `+00`, `-05`, `+05:30`,
/// `-04:56:02`.
pub fn push_offset(out: &mut String, secs_east: i32) {
    let sign = if secs_east < 0 { '-' } else { '+' };
    let a = secs_east.unsigned_abs();
    let (h, m, s) = (a / 3600, a / 60 % 60, a % 60);
    out.push_str(&format!("{sign}{h:02}"));
    if m != 0 || s != 0 {
        out.push_str(&format!(":{m:02}"));
    }
    if s != 0 {
        out.push_str(&format!(":{s:02}"));
    }
}

const DAY_NAMES: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTH_NAMES: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `timestamp_out` / `timestamptz_out`: timestamptz is shown in the
/// session zone, in the DateStyle's layout.
pub fn write_timestamp_with(micros: i64, with_tz: bool, opts: &FormatOptions, out: &mut String) {
    match micros {
        i64::MAX => return out.push_str("infinity"),
        i64::MIN => return out.push_str("-infinity"),
        _ => {}
    }
    let zone = &opts.time_zone;
    let offset = if with_tz {
        zone.offset_at_utc(micros)
    } else {
        0
    };
    let local = micros.saturating_add(offset as i64 * USECS_PER_SEC);
    let days = local.div_euclid(USECS_PER_DAY);
    let tod = local.rem_euclid(USECS_PER_DAY);
    let (y, m, d) = days_to_ymd(days as i32);
    let style = opts.date_style;
    if style.output == DateOutput::Postgres {
        let dow = DAY_NAMES[(days + 6).rem_euclid(7) as usize];
        let mon = MONTH_NAMES[(m - 1) as usize];
        if style.order == DateOrder::Dmy {
            out.push_str(&format!("{dow} {d:02} {mon} "));
        } else {
            out.push_str(&format!("{dow} {mon} {d:02} "));
        }
        push_hms(out, tod);
        out.push_str(&format!(" {:04}", shown_year(y)));
    } else {
        push_date_fields(out, style, y, m, d);
        out.push(' ');
        push_hms(out, tod);
    }
    if with_tz {
        if style.output == DateOutput::Iso {
            push_offset(out, offset);
        } else {
            out.push(' ');
            out.push_str(&zone.abbreviation_at_utc(micros));
        }
    }
    if y <= 0 {
        out.push_str(" BC");
    }
}

/// IntervalStyle `postgres`.
pub fn write_interval(iv: &Interval, out: &mut String) {
    let start = out.len();
    let mut is_before = false;
    let mut is_zero = true;
    let mut part = |out: &mut String, value: i64, unit: &str| {
        if value == 0 {
            return;
        }
        if !is_zero {
            out.push(' ');
        }
        if is_before && value > 0 {
            out.push('+');
        }
        out.push_str(&format!("{value} {unit}"));
        if value != 1 {
            out.push('s');
        }
        is_before = value < 0;
        is_zero = false;
    };
    let years = iv.months as i64 / 12;
    let mons = iv.months as i64 % 12;
    part(out, years, "year");
    part(out, mons, "mon");
    part(out, iv.days as i64, "day");
    let has_prefix = out.len() > start;
    if iv.micros != 0 || !has_prefix {
        let neg = iv.micros < 0;
        let abs = iv.micros.unsigned_abs();
        if has_prefix {
            out.push(' ');
        }
        if neg {
            out.push('-');
        } else if has_prefix && (iv.days < 0 || (iv.days == 0 && iv.months < 0)) {
            out.push('+');
        }
        let us = USECS_PER_SEC as u64;
        let h = abs / (USECS_PER_HOUR as u64);
        let m = abs / (USECS_PER_MINUTE as u64) % 60;
        let s = abs / us % 60;
        out.push_str(&format!("{h:02}:{m:02}:"));
        push_seconds(out, s as i64, (abs % us) as i64);
    }
}

// ----------------------------------------------------------------- input

/// Which datetime input function is running; decides messages and which
/// fields are required.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DtKind {
    Date,
    Time,
    Timestamp,
    TimestampTz,
}

impl DtKind {
    fn name(self) -> &'static str {
        match self {
            DtKind::Date => "date",
            DtKind::Time => "time",
            DtKind::Timestamp => "timestamp",
            DtKind::TimestampTz => "timestamp with time zone",
        }
    }
}

fn bad_format(kind: DtKind, input: &str) -> AionError {
    AionError::new(
        SqlState::INVALID_DATETIME_FORMAT,
        format!("invalid input syntax for type {}: \"{input}\"", kind.name()),
    )
}

fn field_overflow(input: &str) -> AionError {
    AionError::new(
        SqlState::DATETIME_FIELD_OVERFLOW,
        format!("date/time field value out of range: \"{input}\""),
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Special {
    Epoch,
    Infinity,
    NegInfinity,
    Now,
    Today,
    Tomorrow,
    Yesterday,
    Allballs,
}

/// A number as written: value and digit count (2-digit years are special).
#[derive(Clone, Copy)]
struct Num {
    value: i64,
    len: usize,
}

#[derive(Clone, Copy)]
enum DatePart {
    Num(Num),
    Month(u32),
}

#[derive(Default)]
struct Fields {
    date: Option<(i64, u32, u32)>,
    /// Time of day in microseconds (may reach 24:00:00 plus leap second).
    time: Option<i64>,
    /// Hour as written, for AM/PM adjustment.
    hour: Option<i64>,
    tz_secs: Option<i32>,
    /// A zone named in the input; its offset depends on the date.
    tz_zone: Option<TimeZone>,
    bc: bool,
    ampm: Option<bool>,
    special: Option<Special>,
    /// Loose numbers and month names of textual dates like `Jan 15 2024`.
    loose: Vec<DatePart>,
}

fn month_from_name(w: &str) -> Option<u32> {
    const NAMES: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    if w == "sept" {
        return Some(9);
    }
    NAMES
        .iter()
        .position(|n| *n == w || (w.len() == 3 && n.starts_with(w)))
        .map(|i| i as u32 + 1)
}

/// Years written with at most two digits mean 1970..2069.
fn adjust_year(n: Num, bc: bool) -> i64 {
    if n.len <= 2 && !bc {
        if n.value < 70 {
            n.value + 2000
        } else {
            n.value + 1900
        }
    } else {
        n.value
    }
}

fn read_digits(b: &[u8], i: &mut usize) -> Option<Num> {
    let start = *i;
    let mut v: i64 = 0;
    while *i < b.len() && b[*i].is_ascii_digit() {
        v = v.saturating_mul(10).saturating_add((b[*i] - b'0') as i64);
        *i += 1;
    }
    (*i > start).then_some(Num {
        value: v,
        len: *i - start,
    })
}

/// Reads `.ddd` (the dot already consumed) as microseconds, rounded.
fn read_fraction_us(b: &[u8], i: &mut usize) -> i64 {
    let start = *i;
    while *i < b.len() && b[*i].is_ascii_digit() {
        *i += 1;
    }
    let digits = &b[start..*i];
    let mut us: i64 = 0;
    for k in 0..6 {
        us = us * 10 + digits.get(k).map_or(0, |d| (d - b'0') as i64);
    }
    if digits.get(6).is_some_and(|&d| d >= b'5') {
        us += 1;
    }
    us
}

/// Parses `H:M[:S[.f]]` starting at a digit; returns microseconds and hour.
fn read_time(b: &[u8], i: &mut usize) -> Option<(i64, i64, i64, i64, i64)> {
    let h = read_digits(b, i)?;
    if b.get(*i) != Some(&b':') {
        return None;
    }
    *i += 1;
    // PostgreSQL reads a dangling colon ("12:") as zero minutes.
    let m = match read_digits(b, i) {
        Some(m) => m,
        None if !matches!(b.get(*i), Some(c) if !is_pg_space(*c as char)) => {
            Num { value: 0, len: 0 }
        }
        None => return None,
    };
    let mut s = 0;
    let mut us = 0;
    if b.get(*i) == Some(&b':') {
        *i += 1;
        s = read_digits(b, i)?.value;
        if b.get(*i) == Some(&b'.') {
            *i += 1;
            us = read_fraction_us(b, i);
        }
    } else if b.get(*i) == Some(&b'.') {
        return None;
    }
    Some((h.value, m.value, s, us, 0))
}

fn time_micros(input: &str, h: i64, m: i64, s: i64, us: i64) -> DbResult<i64> {
    if !(0..=24).contains(&h) || !(0..=59).contains(&m) || !(0..=60).contains(&s) {
        return Err(field_overflow(input));
    }
    let total = h * USECS_PER_HOUR + m * USECS_PER_MINUTE + s * USECS_PER_SEC + us;
    if total > USECS_PER_DAY {
        return Err(field_overflow(input));
    }
    Ok(total)
}

/// Parses a numeric zone offset after its sign; returns seconds east.
fn read_tz_offset(b: &[u8], i: &mut usize) -> Option<i32> {
    let first = read_digits(b, i)?;
    let (mut h, mut m, mut s) = (first.value, 0, 0);
    match first.len {
        3 => {
            h = first.value / 100;
            m = first.value % 100;
        }
        1 | 2 => {
            if b.get(*i) == Some(&b':') {
                *i += 1;
                m = read_digits(b, i)?.value;
                if b.get(*i) == Some(&b':') {
                    *i += 1;
                    s = read_digits(b, i)?.value;
                }
            }
        }
        4 => {
            h = first.value / 100;
            m = first.value % 100;
        }
        6 => {
            h = first.value / 10000;
            m = first.value / 100 % 100;
            s = first.value % 100;
        }
        _ => return None,
    }
    if m > 59 || s > 59 || h > 99 {
        return None;
    }
    Some((h * 3600 + m * 60 + s) as i32)
}

/// Splits trimmed text `s` into fields; errors quote the original `input`.
fn tokenize_datetime(kind: DtKind, s: &str, input: &str, order: DateOrder) -> DbResult<Fields> {
    let lower = s.to_ascii_lowercase();
    let b = lower.as_bytes();
    let mut f = Fields::default();
    let mut i = 0;
    let bad = || bad_format(kind, input);
    while i < b.len() {
        let c = b[i];
        if is_pg_space(c as char) || c == b',' {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() {
            let save = i;
            let n = read_digits(b, &mut i).ok_or_else(bad)?;
            match b.get(i).copied() {
                Some(b':') => {
                    if f.time.is_some() {
                        return Err(bad());
                    }
                    i = save;
                    let (h, m, s, us, _) = read_time(b, &mut i).ok_or_else(bad)?;
                    f.hour = Some(h);
                    f.time = Some(time_micros(input, h, m, s, us)?);
                }
                Some(sep @ (b'-' | b'/' | b'.'))
                    if b.get(i + 1).is_some_and(|x| x.is_ascii_alphanumeric()) =>
                {
                    if f.date.is_some() {
                        return Err(bad());
                    }
                    i += 1;
                    let p2 = read_date_part(b, &mut i).ok_or_else(bad)?;
                    if b.get(i) != Some(&sep) {
                        return Err(bad());
                    }
                    i += 1;
                    let p3 = read_date_part(b, &mut i).ok_or_else(bad)?;
                    f.date = Some(resolve_separated(DatePart::Num(n), p2, p3, order, input)?);
                }
                _ => {
                    if n.len == 8 && f.date.is_none() {
                        f.date = Some((
                            n.value / 10000,
                            (n.value / 100 % 100) as u32,
                            (n.value % 100) as u32,
                        ));
                    } else if n.len == 6
                        && (f.date.is_some() || kind == DtKind::Time)
                        && f.time.is_none()
                    {
                        let (h, m, s) = (n.value / 10000, n.value / 100 % 100, n.value % 100);
                        f.hour = Some(h);
                        let mut us = 0;
                        if b.get(i) == Some(&b'.') {
                            i += 1;
                            us = read_fraction_us(b, &mut i);
                        }
                        f.time = Some(time_micros(input, h, m, s, us)?);
                    } else if n.len == 6 && f.date.is_none() {
                        let y = Num {
                            value: n.value / 10000,
                            len: 2,
                        };
                        f.date = Some((
                            adjust_year(y, false),
                            (n.value / 100 % 100) as u32,
                            (n.value % 100) as u32,
                        ));
                    } else {
                        f.loose.push(DatePart::Num(n));
                    }
                }
            }
            continue;
        }
        if c.is_ascii_alphabetic() {
            let start = i;
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            let word = &lower[start..i];
            // ISO 8601 `T` between date and time (or before a bare time).
            if word == "t" && b.get(i).is_some_and(|x| x.is_ascii_digit()) {
                continue;
            }
            // `2024-Feb-15` style: a month name followed by separators.
            if let Some(mo) = month_from_name(word) {
                if let Some(&sep @ (b'-' | b'/')) = b.get(i) {
                    i += 1;
                    let p2 = read_date_part(b, &mut i).ok_or_else(bad)?;
                    if b.get(i) != Some(&sep) {
                        return Err(bad());
                    }
                    i += 1;
                    let p3 = read_date_part(b, &mut i).ok_or_else(bad)?;
                    if f.date.is_some() {
                        return Err(bad());
                    }
                    f.date = Some(resolve_separated(
                        DatePart::Month(mo),
                        p2,
                        p3,
                        order,
                        input,
                    )?);
                } else {
                    f.loose.push(DatePart::Month(mo));
                }
                continue;
            }
            // An IANA zone name such as `America/New_York`.
            if b.get(i) == Some(&b'/') {
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'/' | b'_' | b'-' | b'+'))
                {
                    i += 1;
                }
                let zone = TimeZone::lookup(&s[start..i]).ok_or_else(bad)?;
                if f.tz_secs.is_some() || f.tz_zone.is_some() {
                    return Err(bad());
                }
                f.tz_zone = Some(zone);
                continue;
            }
            if let Some(secs) = abbreviation_offset(word) {
                if f.tz_secs.is_some() || f.tz_zone.is_some() {
                    return Err(bad());
                }
                f.tz_secs = Some(secs);
                continue;
            }
            match word {
                // Day-of-week names are accepted and ignored.
                "sun" | "sunday" | "mon" | "monday" | "tue" | "tues" | "tuesday" | "wed"
                | "wednesday" | "thu" | "thur" | "thurs" | "thursday" | "fri" | "friday"
                | "sat" | "saturday" => {}
                "bc" => f.bc = true,
                "ad" => {}
                "am" => f.ampm = Some(false),
                "pm" => f.ampm = Some(true),
                "z" | "zulu" | "utc" | "gmt" | "ut" => {
                    if f.tz_secs.is_some() {
                        return Err(bad());
                    }
                    f.tz_secs = Some(0);
                }
                "epoch" => set_special(&mut f, Special::Epoch).ok_or_else(bad)?,
                "infinity" => set_special(&mut f, Special::Infinity).ok_or_else(bad)?,
                "now" => set_special(&mut f, Special::Now).ok_or_else(bad)?,
                "today" => set_special(&mut f, Special::Today).ok_or_else(bad)?,
                "tomorrow" => set_special(&mut f, Special::Tomorrow).ok_or_else(bad)?,
                "yesterday" => set_special(&mut f, Special::Yesterday).ok_or_else(bad)?,
                "allballs" => set_special(&mut f, Special::Allballs).ok_or_else(bad)?,
                "on" | "at" => {}
                _ => return Err(bad()),
            }
            continue;
        }
        if c == b'+' || c == b'-' {
            if lower[i + 1..].starts_with("infinity") && c == b'-' {
                i += 1 + "infinity".len();
                set_special(&mut f, Special::NegInfinity).ok_or_else(bad)?;
                continue;
            }
            if !b.get(i + 1).is_some_and(|x| x.is_ascii_digit()) || f.tz_secs.is_some() {
                return Err(bad());
            }
            i += 1;
            let secs = read_tz_offset(b, &mut i).ok_or_else(bad)?;
            if secs > MAX_TZ_DISP_SECS {
                return Err(AionError::new(
                    SqlState::new(b"22009"),
                    format!("time zone displacement out of range: \"{input}\""),
                ));
            }
            f.tz_secs = Some(if c == b'-' { -secs } else { secs });
            continue;
        }
        return Err(bad());
    }
    resolve_loose(&mut f, kind, order, input)?;
    Ok(f)
}

/// Records a special word; two of them conflict.
fn set_special(f: &mut Fields, sp: Special) -> Option<()> {
    if f.special.is_some() {
        return None;
    }
    f.special = Some(sp);
    Some(())
}

fn read_date_part(b: &[u8], i: &mut usize) -> Option<DatePart> {
    if b.get(*i).is_some_and(|c| c.is_ascii_digit()) {
        return read_digits(b, i).map(DatePart::Num);
    }
    let start = *i;
    while *i < b.len() && b[*i].is_ascii_alphabetic() {
        *i += 1;
    }
    let w = std::str::from_utf8(&b[start..*i]).ok()?;
    month_from_name(w).map(DatePart::Month)
}

/// Assigns date fields one by one as PostgreSQL's `DecodeNumber` does:
/// a first field of three or more digits is the year, otherwise the
/// DateStyle field order decides; a textual month fixes the month.
#[derive(Default)]
struct DateAcc {
    year: Option<Num>,
    month: Option<i64>,
    day: Option<i64>,
    text_month: bool,
}

impl DateAcc {
    fn number(&mut self, n: Num, order: DateOrder) -> Option<()> {
        match (self.year, self.month.is_some(), self.day.is_some()) {
            (None, false, false) => {
                if n.len >= 3 || order == DateOrder::Ymd {
                    self.year = Some(n);
                } else if order == DateOrder::Dmy {
                    self.day = Some(n.value);
                } else {
                    self.month = Some(n.value);
                }
            }
            (Some(_), false, _) | (None, false, true) => self.month = Some(n.value),
            (None, true, false) => {
                if self.text_month && (n.len >= 3 || order == DateOrder::Ymd) {
                    self.year = Some(n);
                } else {
                    self.day = Some(n.value);
                }
            }
            (Some(y), true, false) => {
                // `DD-Mon-YYYY` read in YMD order: the first number was
                // the day after all.
                if self.text_month && n.len >= 3 && y.len <= 2 {
                    self.day = Some(y.value);
                    self.year = Some(n);
                } else {
                    self.day = Some(n.value);
                }
            }
            (None, true, true) => self.year = Some(n),
            (Some(_), true, true) => return None,
        }
        Some(())
    }

    fn month_name(&mut self, m: u32) -> Option<()> {
        if let Some(num) = self.month {
            // A number taken as the month was the day (`15 Jan` in MDY).
            if self.text_month || self.day.is_some() || !(1..=31).contains(&num) {
                return None;
            }
            self.day = Some(num);
        }
        self.month = Some(m as i64);
        self.text_month = true;
        Some(())
    }

    /// The complete date, month and day range-checked (with PostgreSQL's
    /// DateStyle hint); `Ok(None)` when a field is missing.
    fn finish(self, input: &str) -> DbResult<Option<(i64, u32, u32)>> {
        let (Some(y), Some(m), Some(d)) = (self.year, self.month, self.day) else {
            return Ok(None);
        };
        if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
            return Err(field_overflow(input)
                .with_hint("Perhaps you need a different \"datestyle\" setting."));
        }
        // Two-digit years are resolved once BC is known; mark with len.
        Ok(Some((encode_year(y), m as u32, d as u32)))
    }
}

/// Interprets `a-b-c` / `a/b/c` / `a.b.c`: textual months first, then the
/// numbers in order.
fn resolve_separated(
    p1: DatePart,
    p2: DatePart,
    p3: DatePart,
    order: DateOrder,
    input: &str,
) -> DbResult<(i64, u32, u32)> {
    let mut acc = DateAcc::default();
    let parts = [p1, p2, p3];
    for p in parts {
        if let DatePart::Month(m) = p {
            acc.month_name(m).ok_or_else(|| field_overflow(input))?;
        }
    }
    for p in parts {
        if let DatePart::Num(n) = p {
            acc.number(n, order).ok_or_else(|| field_overflow(input))?;
        }
    }
    acc.finish(input)?.ok_or_else(|| field_overflow(input))
}

/// Keeps the digit count of a year next to its value until BC/AD is
/// known: short years are stored negative-offset so `finish_date` can
/// adjust them.
fn encode_year(n: Num) -> i64 {
    if n.len <= 2 {
        SHORT_YEAR_FLAG + n.value
    } else {
        n.value
    }
}

const SHORT_YEAR_FLAG: i64 = 1 << 40;

/// Date fields written apart (`Jan 15 2024`, `15 01 2024`), in order.
fn resolve_loose(f: &mut Fields, kind: DtKind, order: DateOrder, input: &str) -> DbResult<()> {
    if f.loose.is_empty() {
        return Ok(());
    }
    let bad = || bad_format(kind, input);
    if f.date.is_some() {
        return Err(bad());
    }
    let mut acc = DateAcc::default();
    for p in std::mem::take(&mut f.loose) {
        match p {
            DatePart::Num(n) => acc.number(n, order).ok_or_else(bad)?,
            DatePart::Month(m) => acc.month_name(m).ok_or_else(bad)?,
        }
    }
    f.date = Some(acc.finish(input)?.ok_or_else(bad)?);
    Ok(())
}

/// Applies BC and the two-digit-year rule; returns the astronomical year.
fn finish_year(y: i64, bc: bool) -> i64 {
    let y = if y >= SHORT_YEAR_FLAG {
        adjust_year(
            Num {
                value: y - SHORT_YEAR_FLAG,
                len: 2,
            },
            bc,
        )
    } else {
        y
    };
    if bc {
        1 - y
    } else {
        y
    }
}

fn now_micros() -> i64 {
    let since_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    since_unix - super::PG_EPOCH_MICROS_FROM_UNIX
}

/// Outcome of datetime parsing before conversion to a concrete type.
enum Parsed {
    NegInf,
    PosInf,
    /// Days since 2000-01-01 and microseconds into that day (local, before
    /// the zone shift), and the zone. Kept apart so huge dates cannot
    /// overflow before their range check.
    At(i64, i64, Option<i32>),
}

fn parse_datetime(kind: DtKind, input: &str, opts: &FormatOptions) -> DbResult<(Parsed, Fields)> {
    let order = opts.date_style.order;
    let mut f = tokenize_datetime(kind, input.trim_matches(is_pg_space), input, order)?;
    let bad = || bad_format(kind, input);
    // AM/PM shifts the hour that was written.
    if let (Some(pm), Some(h), Some(t)) = (f.ampm, f.hour, f.time) {
        if !(0..=12).contains(&h) {
            return Err(field_overflow(input));
        }
        let adj = match (pm, h) {
            (true, h) if h < 12 => 12 * USECS_PER_HOUR,
            (false, 12) => -12 * USECS_PER_HOUR,
            _ => 0,
        };
        f.time = Some(t + adj);
    } else if f.ampm.is_some() {
        return Err(bad());
    }
    if let Some(sp) = f.special {
        // Infinities override any other fields, as in PostgreSQL.
        let infinite = matches!(sp, Special::Infinity | Special::NegInfinity);
        if !infinite && (f.date.is_some() || f.time.is_some()) {
            return Err(bad());
        }
        let day = |d: i64| Parsed::At(d, 0, f.tz_secs);
        // `today` and friends are dates in the session zone.
        let today = opts
            .time_zone
            .utc_to_local(now_micros())
            .div_euclid(USECS_PER_DAY);
        let p = match sp {
            Special::Infinity => Parsed::PosInf,
            Special::NegInfinity => Parsed::NegInf,
            Special::Epoch => Parsed::At(-(PG_EPOCH_DAYS_FROM_UNIX as i64), 0, Some(0)),
            Special::Now => {
                let now = now_micros();
                // An instant for timestamptz, the session's wall clock
                // for the other types.
                let (now, tz) = if kind == DtKind::TimestampTz {
                    (now, Some(0))
                } else {
                    (opts.time_zone.utc_to_local(now), None)
                };
                Parsed::At(
                    now.div_euclid(USECS_PER_DAY),
                    now.rem_euclid(USECS_PER_DAY),
                    tz,
                )
            }
            Special::Today => day(today),
            Special::Tomorrow => day(today + 1),
            Special::Yesterday => day(today - 1),
            Special::Allballs => {
                if kind != DtKind::Time {
                    return Err(bad());
                }
                Parsed::At(0, 0, Some(0))
            }
        };
        return Ok((p, f));
    }
    let days = match f.date {
        Some((y, m, d)) => {
            // There is no year 0 (a two-digit "00" means 2000).
            if y == 0 {
                return Err(field_overflow(input));
            }
            let y = finish_year(y, f.bc);
            if !(-10_000_000..=10_000_000).contains(&y) {
                return Err(out_of_range(kind, input));
            }
            let days = ymd_to_days_i64(y, m, d).ok_or_else(|| field_overflow(input))?;
            Some(days)
        }
        None if kind == DtKind::Time => None,
        None => {
            return Err(bad());
        }
    };
    if kind == DtKind::Time && f.time.is_none() {
        return Err(bad());
    }
    Ok((
        Parsed::At(days.unwrap_or(0), f.time.unwrap_or(0), f.tz_secs),
        f,
    ))
}

/// Whether reading `input` as `ty` depends on the session TimeZone or
/// DateStyle (see `cast::text_input_uses_format_options`). Input that
/// fails under every field order is independent: its error is the same.
pub(crate) fn input_uses_format_options(ty: crate::types::TypeId, input: &str) -> bool {
    use crate::types::TypeId;
    let kind = match ty {
        TypeId::Date => DtKind::Date,
        TypeId::Time => DtKind::Time,
        TypeId::Timestamp => DtKind::Timestamp,
        TypeId::TimestampTz => DtKind::TimestampTz,
        _ => return false,
    };
    let s = input.trim_matches(is_pg_space);
    let parse = |order| tokenize_datetime(kind, s, input, order).ok();
    let orders = [DateOrder::Mdy, DateOrder::Dmy, DateOrder::Ymd];
    let parsed: Vec<Option<Fields>> = orders.iter().map(|&o| parse(o)).collect();
    let Some(first) = parsed.iter().flatten().next() else {
        return false;
    };
    if parsed
        .iter()
        .any(|p| p.as_ref().map(|f| f.date) != Some(first.date))
    {
        return true;
    }
    match first.special {
        Some(Special::Infinity | Special::NegInfinity | Special::Epoch | Special::Allballs) => {
            false
        }
        // The clock, and the zone for its date.
        Some(_) => true,
        None => kind == DtKind::TimestampTz && first.tz_secs.is_none() && first.tz_zone.is_none(),
    }
}

fn out_of_range(kind: DtKind, input: &str) -> AionError {
    let what = match kind {
        DtKind::Date => "date",
        _ => "timestamp",
    };
    AionError::new(
        SqlState::DATETIME_FIELD_OVERFLOW,
        format!("{what} out of range: \"{input}\""),
    )
}

/// `date_in`; the DateStyle field order decides `01/02/2024`.
pub fn parse_date(input: &str, opts: &FormatOptions) -> DbResult<i32> {
    let kind = DtKind::Date;
    let (p, _) = parse_datetime(kind, input, opts)?;
    match p {
        Parsed::PosInf => Ok(i32::MAX),
        Parsed::NegInf => Ok(i32::MIN),
        Parsed::At(days, _, _) => {
            if days < DATE_MIN_DAYS as i64 || days > DATE_MAX_DAYS as i64 {
                return Err(out_of_range(kind, input));
            }
            Ok(days as i32)
        }
    }
}

/// Rounds microseconds to `typmod` fractional digits (half away from zero).
fn round_precision(micros: i64, typmod: i32) -> i64 {
    if !(0..6).contains(&typmod) {
        return micros;
    }
    let scale = 10i64.pow(6 - typmod as u32);
    let half = scale / 2;
    if micros >= 0 {
        (micros + half) / scale * scale
    } else {
        -((-micros + half) / scale * scale)
    }
}

/// `time_in`: any date or zone is accepted and ignored.
pub fn parse_time(input: &str, typmod: i32, opts: &FormatOptions) -> DbResult<i64> {
    let (p, f) = parse_datetime(DtKind::Time, input, opts)?;
    match (p, f.time) {
        (Parsed::At(..), Some(t)) => {
            let t = round_precision(t, typmod);
            if t > USECS_PER_DAY {
                return Err(field_overflow(input));
            }
            Ok(t)
        }
        (Parsed::At(_, t, _), None) => Ok(t),
        _ => Err(bad_format(DtKind::Time, input)),
    }
}

/// `timestamp_in` / `timestamptz_in`: a timestamptz without a zone in
/// the input is a wall-clock time in the session zone.
pub fn parse_timestamp(
    input: &str,
    with_tz: bool,
    typmod: i32,
    opts: &FormatOptions,
) -> DbResult<i64> {
    let kind = if with_tz {
        DtKind::TimestampTz
    } else {
        DtKind::Timestamp
    };
    let (p, f) = parse_datetime(kind, input, opts)?;
    match p {
        Parsed::PosInf => Ok(i64::MAX),
        Parsed::NegInf => Ok(i64::MIN),
        Parsed::At(days, t, tz) => {
            let local = days
                .checked_mul(USECS_PER_DAY)
                .and_then(|d| d.checked_add(t))
                .ok_or_else(|| out_of_range(kind, input))?;
            // A week of margin covers any zone displacement; beyond it
            // the range check below would fail anyway.
            let margin = 7 * USECS_PER_DAY;
            if !(TIMESTAMP_MIN_MICROS - margin..=TIMESTAMP_MAX_MICROS + margin).contains(&local) {
                return Err(out_of_range(kind, input));
            }
            let micros = match (with_tz, tz, &f.tz_zone) {
                (false, _, _) => local,
                (true, Some(secs), _) => local - secs as i64 * USECS_PER_SEC,
                (true, None, Some(zone)) => zone.local_to_utc(local),
                (true, None, None) => opts.time_zone.local_to_utc(local),
            };
            let micros = round_precision(micros, typmod);
            if !(TIMESTAMP_MIN_MICROS..=TIMESTAMP_MAX_MICROS).contains(&micros) {
                return Err(out_of_range(kind, input));
            }
            Ok(micros)
        }
    }
}

// -------------------------------------------------------------- interval

fn interval_syntax(input: &str) -> AionError {
    AionError::new(
        SqlState::INVALID_DATETIME_FORMAT,
        format!("invalid input syntax for type interval: \"{input}\""),
    )
}

fn interval_field_overflow(input: &str) -> AionError {
    AionError::new(
        SqlState::new(b"22015"),
        format!("interval field value out of range: \"{input}\""),
    )
}

fn interval_overflow() -> AionError {
    AionError::new(SqlState::DATETIME_FIELD_OVERFLOW, "interval out of range")
}

/// Accumulates interval fields with enough headroom to detect overflow.
#[derive(Default)]
struct IvAcc {
    months: i128,
    days: i128,
    micros: i128,
    /// Bit set of units already given (PostgreSQL rejects repeats).
    seen: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Micro,
    Milli,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
    Decade,
    Century,
    Millennium,
}

fn unit_from_word(w: &str) -> Option<Unit> {
    Some(match w {
        "microsecond" | "microseconds" | "us" | "usec" | "usecs" | "useconds" => Unit::Micro,
        "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" | "mseconds" => Unit::Milli,
        "second" | "seconds" | "s" | "sec" | "secs" => Unit::Second,
        "minute" | "minutes" | "m" | "min" | "mins" => Unit::Minute,
        "hour" | "hours" | "h" | "hr" | "hrs" => Unit::Hour,
        "day" | "days" | "d" => Unit::Day,
        "week" | "weeks" | "w" => Unit::Week,
        "month" | "months" | "mon" | "mons" => Unit::Month,
        "year" | "years" | "y" | "yr" | "yrs" => Unit::Year,
        "decade" | "decades" | "dec" | "decs" => Unit::Decade,
        "century" | "centuries" | "c" | "cent" => Unit::Century,
        "millennium" | "millennia" | "mil" | "mils" => Unit::Millennium,
        _ => return None,
    })
}

/// A signed decimal number split into integer part and fraction.
#[derive(Clone, Copy)]
struct Dec {
    int: i128,
    frac: f64,
}

impl IvAcc {
    fn mark(&mut self, bit: u32, input: &str) -> DbResult<()> {
        if self.seen & bit != 0 {
            return Err(interval_syntax(input));
        }
        self.seen |= bit;
        Ok(())
    }

    fn add_micros_frac(&mut self, frac: f64, unit_us: i64) {
        // C rint(): ties go to even.
        self.micros += (frac * unit_us as f64).round_ties_even() as i128;
    }

    fn add(&mut self, n: Dec, unit: Unit, input: &str) -> DbResult<()> {
        let field_limit = |v: i128| -> DbResult<()> {
            if v > i32::MAX as i128 || v < i32::MIN as i128 {
                Err(interval_field_overflow(input))
            } else {
                Ok(())
            }
        };
        let bit = 1u32 << (unit as u32);
        self.mark(bit, input)?;
        match unit {
            Unit::Micro | Unit::Milli | Unit::Second | Unit::Minute | Unit::Hour => {
                let us = match unit {
                    Unit::Micro => 1,
                    Unit::Milli => 1_000,
                    Unit::Second => USECS_PER_SEC,
                    Unit::Minute => USECS_PER_MINUTE,
                    _ => USECS_PER_HOUR,
                };
                let v = n.int * us as i128 + (n.frac * us as f64).round_ties_even() as i128;
                if v > i64::MAX as i128 || v < i64::MIN as i128 {
                    return Err(interval_field_overflow(input));
                }
                self.micros += v;
            }
            Unit::Day => {
                field_limit(n.int)?;
                self.days += n.int;
                self.add_micros_frac(n.frac, USECS_PER_DAY);
            }
            Unit::Week => {
                field_limit(n.int)?;
                self.days += n.int * 7;
                let fd = n.frac * 7.0;
                self.days += fd.trunc() as i128;
                self.add_micros_frac(fd.fract(), USECS_PER_DAY);
            }
            Unit::Month => {
                field_limit(n.int)?;
                self.months += n.int;
                let fd = n.frac * 30.0;
                self.days += fd.trunc() as i128;
                self.add_micros_frac(fd.fract(), USECS_PER_DAY);
            }
            Unit::Year | Unit::Decade | Unit::Century | Unit::Millennium => {
                field_limit(n.int)?;
                let years = match unit {
                    Unit::Year => 1,
                    Unit::Decade => 10,
                    Unit::Century => 100,
                    _ => 1000,
                };
                self.months +=
                    n.int * 12 * years + (n.frac * 12.0 * years as f64).round_ties_even() as i128;
            }
        }
        Ok(())
    }

    fn finish(self, negate: bool) -> DbResult<Interval> {
        let s = if negate { -1 } else { 1 };
        let months = i32::try_from(self.months * s).map_err(|_| interval_overflow())?;
        let days = i32::try_from(self.days * s).map_err(|_| interval_overflow())?;
        let micros = i64::try_from(self.micros * s).map_err(|_| interval_overflow())?;
        Ok(Interval {
            months,
            days,
            micros,
        })
    }
}

/// Reads `[+-]digits[.digits]`; `None` when no digit is present.
fn read_dec(b: &[u8], i: &mut usize) -> Option<Dec> {
    let mut neg = false;
    if let Some(&c @ (b'+' | b'-')) = b.get(*i) {
        neg = c == b'-';
        *i += 1;
    }
    let start = *i;
    let mut int: i128 = 0;
    while *i < b.len() && b[*i].is_ascii_digit() {
        int = (int * 10 + (b[*i] - b'0') as i128).min(1 << 100);
        *i += 1;
    }
    let mut any = *i > start;
    let mut frac = 0.0;
    if b.get(*i) == Some(&b'.') {
        let fs = *i;
        *i += 1;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        if *i > fs + 1 {
            any = true;
            frac = std::str::from_utf8(&b[fs..*i])
                .ok()
                .and_then(|s| format!("0{s}").parse::<f64>().ok())
                .unwrap_or(0.0);
        }
    }
    if !any {
        return None;
    }
    Some(if neg {
        Dec {
            int: -int,
            frac: -frac,
        }
    } else {
        Dec { int, frac }
    })
}

/// `interval_in` for the postgres and ISO 8601 (`P...`) formats.
pub fn parse_interval(input: &str) -> DbResult<Interval> {
    let lower = input.trim_matches(is_pg_space).to_ascii_lowercase();
    if lower.is_empty() {
        return Err(interval_syntax(input));
    }
    if lower.starts_with('p') {
        return parse_iso_interval(&lower, input);
    }
    let b = lower.as_bytes();
    let mut acc = IvAcc::default();
    let mut pending: Option<Dec> = None;
    let mut ago = false;
    let mut i = 0;
    const TIME_BITS: u32 =
        (1 << Unit::Hour as u32) | (1 << Unit::Minute as u32) | (1 << Unit::Second as u32);
    while i < b.len() {
        let c = b[i];
        if is_pg_space(c as char) || c == b'@' || c == b',' {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() || c == b'+' || c == b'-' || c == b'.' {
            let start = i;
            let n = read_dec(b, &mut i).ok_or_else(|| interval_syntax(input))?;
            if b.get(i) == Some(&b':') {
                // A time field; a number before it is a day count.
                if let Some(d) = pending.take() {
                    acc.add(d, Unit::Day, input)?;
                }
                i = start;
                let neg = b[i] == b'-';
                if b[i] == b'+' || b[i] == b'-' {
                    i += 1;
                }
                let (h, m, s, us, _) =
                    read_time(b, &mut i).ok_or_else(|| interval_syntax(input))?;
                if m > 59 || s > 59 {
                    return Err(interval_field_overflow(input));
                }
                acc.mark(TIME_BITS, input)?;
                let total = h as i128 * USECS_PER_HOUR as i128
                    + (m * USECS_PER_MINUTE + s * USECS_PER_SEC + us) as i128;
                acc.micros += if neg { -total } else { total };
                continue;
            }
            if pending.is_some() {
                return Err(interval_syntax(input));
            }
            pending = Some(n);
            continue;
        }
        if c.is_ascii_alphabetic() {
            let start = i;
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            let w = &lower[start..i];
            if w == "ago" {
                if pending.is_some() {
                    return Err(interval_syntax(input));
                }
                ago = true;
                continue;
            }
            let unit = unit_from_word(w).ok_or_else(|| interval_syntax(input))?;
            let n = pending.take().ok_or_else(|| interval_syntax(input))?;
            acc.add(n, unit, input)?;
            continue;
        }
        return Err(interval_syntax(input));
    }
    if let Some(n) = pending {
        // A trailing bare number counts seconds.
        acc.add(n, Unit::Second, input)?;
    }
    if acc.seen == 0 {
        return Err(interval_syntax(input));
    }
    acc.finish(ago)
}

fn parse_iso_interval(lower: &str, input: &str) -> DbResult<Interval> {
    let b = lower.as_bytes();
    let mut i = 1;
    let mut in_time = false;
    let mut acc = IvAcc::default();
    let mut any = false;
    while i < b.len() {
        if b[i] == b't' {
            if in_time {
                return Err(interval_syntax(input));
            }
            in_time = true;
            i += 1;
            continue;
        }
        let n = read_dec(b, &mut i).ok_or_else(|| interval_syntax(input))?;
        if !in_time && matches!(b.get(i), None | Some(b'-')) && n.frac == 0.0 {
            // ISO 8601 alternative format: P<years>[-<months>[-<days>]].
            acc.add(n, Unit::Year, input)?;
            for unit in [Unit::Month, Unit::Day] {
                if b.get(i) != Some(&b'-') {
                    break;
                }
                i += 1;
                let v = read_dec(b, &mut i).ok_or_else(|| interval_syntax(input))?;
                acc.add(v, unit, input)?;
            }
            any = true;
            continue;
        }
        let unit = match (b.get(i), in_time) {
            (Some(b'y'), false) => Unit::Year,
            (Some(b'm'), false) => Unit::Month,
            (Some(b'w'), false) => Unit::Week,
            (Some(b'd'), false) => Unit::Day,
            (Some(b'h'), true) => Unit::Hour,
            (Some(b'm'), true) => Unit::Minute,
            (Some(b's'), true) => Unit::Second,
            _ => return Err(interval_syntax(input)),
        };
        i += 1;
        acc.add(n, unit, input)?;
        any = true;
    }
    if !any && !in_time {
        return Err(interval_syntax(input));
    }
    acc.finish(false)
}
