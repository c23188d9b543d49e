//! Session settings that change how date/time values are read and printed:
//! `TimeZone` and `DateStyle`, as PostgreSQL interprets them.
//!
//! These are plain Rust types (not ABI-stable): each side of the plugin
//! boundary builds its own from the setting strings it receives.

use std::sync::OnceLock;

use crate::error::{AionError, DbResult, SqlState};

use super::PG_EPOCH_MICROS_FROM_UNIX;

/// How text input and output of dates and times behave.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct FormatOptions {
    pub time_zone: TimeZone,
    pub date_style: DateStyle,
}

impl FormatOptions {
    /// Builds options from the values of the `TimeZone` and `DateStyle`
    /// settings; errors are PostgreSQL's 22023 for an invalid value.
    pub fn from_settings(time_zone: &str, date_style: &str) -> DbResult<FormatOptions> {
        Ok(FormatOptions {
            time_zone: TimeZone::parse(time_zone)?,
            date_style: DateStyle::parse(date_style, DateStyle::default())?,
        })
    }

    /// UTC with DateStyle ISO, MDY: what `write_text`/`parse_text` use.
    pub fn utc() -> &'static FormatOptions {
        static UTC: OnceLock<FormatOptions> = OnceLock::new();
        UTC.get_or_init(FormatOptions::default)
    }
}

fn invalid_value(name: &str, value: &str) -> AionError {
    AionError::new(
        SqlState::INVALID_PARAMETER_VALUE,
        format!("invalid value for parameter \"{name}\": \"{value}\""),
    )
}

// ------------------------------------------------------------- DateStyle

/// The output half of DateStyle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DateOutput {
    #[default]
    Iso,
    Sql,
    Postgres,
    German,
}

/// The field order half of DateStyle: how `01/02/03` is read (and the
/// order of day and month in SQL and Postgres output).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DateOrder {
    #[default]
    Mdy,
    Dmy,
    Ymd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DateStyle {
    pub output: DateOutput,
    pub order: DateOrder,
}

impl DateStyle {
    /// Parses a DateStyle setting the way PostgreSQL's `SET DateStyle`
    /// does: a comma-separated list of an output style and/or a field
    /// order; the part not given is kept from `current` (`German` alone
    /// implies DMY; `DEFAULT` means ISO, MDY).
    pub fn parse(value: &str, current: DateStyle) -> DbResult<DateStyle> {
        let bad = || invalid_value("DateStyle", value);
        let mut style = current;
        let (mut have_output, mut have_order, mut conflict) = (false, false, false);
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Ok(current);
        }
        for item in trimmed.split(',').map(str::trim) {
            if item.is_empty() || item.contains(char::is_whitespace) {
                return Err(bad().with_detail("List syntax is invalid."));
            }
            let word = item.to_ascii_lowercase();
            let output = match word.as_str() {
                "iso" => Some(DateOutput::Iso),
                "sql" => Some(DateOutput::Sql),
                "postgres" => Some(DateOutput::Postgres),
                "german" => Some(DateOutput::German),
                _ => None,
            };
            let order = match word.as_str() {
                "ymd" => Some(DateOrder::Ymd),
                "dmy" | "euro" | "european" => Some(DateOrder::Dmy),
                "mdy" | "us" | "noneuro" | "noneuropean" => Some(DateOrder::Mdy),
                _ => None,
            };
            if let Some(o) = output {
                conflict |= have_output && style.output != o;
                style.output = o;
                have_output = true;
                // German implies DMY unless an order is given explicitly.
                if o == DateOutput::German && !have_order {
                    style.order = DateOrder::Dmy;
                }
            } else if let Some(o) = order {
                conflict |= have_order && style.order != o;
                style.order = o;
                have_order = true;
            } else if word == "default" {
                style.output = DateOutput::Iso;
                have_output = true;
                if !have_order {
                    style.order = DateOrder::Mdy;
                }
            } else {
                return Err(bad().with_detail(format!("Unrecognized key word: \"{word}\".")));
            }
        }
        if conflict {
            return Err(bad().with_detail("Conflicting \"datestyle\" specifications."));
        }
        Ok(style)
    }

    /// The value as `SHOW DateStyle` prints it (`ISO, MDY`).
    pub fn name(&self) -> String {
        let out = match self.output {
            DateOutput::Iso => "ISO",
            DateOutput::Sql => "SQL",
            DateOutput::Postgres => "Postgres",
            DateOutput::German => "German",
        };
        let order = match self.order {
            DateOrder::Mdy => "MDY",
            DateOrder::Dmy => "DMY",
            DateOrder::Ymd => "YMD",
        };
        format!("{out}, {order}")
    }
}

// -------------------------------------------------------------- TimeZone

/// The session time zone.
#[derive(Clone, Debug)]
pub enum TimeZone {
    /// A constant displacement from UTC.
    Fixed {
        /// Seconds east of Greenwich (ISO sign).
        secs_east: i32,
        /// What SQL, Postgres and German styles print after the time.
        abbrev: String,
        /// What SHOW prints.
        name: String,
    },
    /// A zone of the IANA database, with daylight saving and history.
    Named(NamedZone),
}

/// A zone of the IANA time zone database.
#[derive(Clone, Debug)]
pub struct NamedZone {
    name: String,
    tz: jiff::tz::TimeZone,
}

impl NamedZone {
    /// The canonical spelling of the zone's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl PartialEq for TimeZone {
    fn eq(&self, other: &TimeZone) -> bool {
        match (self, other) {
            (
                TimeZone::Fixed {
                    secs_east: a,
                    abbrev: x,
                    ..
                },
                TimeZone::Fixed {
                    secs_east: b,
                    abbrev: y,
                    ..
                },
            ) => a == b && x == y,
            (TimeZone::Named(a), TimeZone::Named(b)) => a.name == b.name,
            _ => false,
        }
    }
}

impl Default for TimeZone {
    fn default() -> TimeZone {
        TimeZone::utc()
    }
}

fn tzdb() -> &'static jiff::tz::TimeZoneDatabase {
    static DB: OnceLock<jiff::tz::TimeZoneDatabase> = OnceLock::new();
    DB.get_or_init(jiff::tz::TimeZoneDatabase::bundled)
}

/// Seconds in 400 Gregorian years: calendars (and so DST rules) repeat.
const SECS_PER_400_YEARS: i64 = 146_097 * 86_400;

/// Unix seconds of a PostgreSQL-epoch microsecond count, floored.
fn unix_secs(pg_micros: i64) -> i64 {
    pg_micros.div_euclid(1_000_000) + PG_EPOCH_MICROS_FROM_UNIX / 1_000_000
}

/// Moves unix seconds into jiff's supported range (years -9999..=9999):
/// the far future repeats the zone's final rule every 400 years; the far
/// past is before any transition, so the earliest instant stands in.
fn clamp_to_jiff(secs: i64) -> jiff::Timestamp {
    let max = jiff::Timestamp::MAX.as_second() - 2 * 86_400;
    let min = jiff::Timestamp::MIN.as_second() + 2 * 86_400;
    let mut s = secs;
    if s > max {
        let cycles = (s - max) / SECS_PER_400_YEARS + 1;
        s -= cycles * SECS_PER_400_YEARS;
    }
    let s = s.max(min);
    jiff::Timestamp::from_second(s).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// Formats a displacement as a POSIX-style name part (`+05`, `-05:30`).
fn hm_text(secs_east: i32) -> String {
    let sign = if secs_east < 0 { '-' } else { '+' };
    let a = secs_east.unsigned_abs();
    let (h, m, s) = (a / 3600, a / 60 % 60, a % 60);
    if s != 0 {
        format!("{sign}{h:02}:{m:02}:{s:02}")
    } else if m != 0 {
        format!("{sign}{h:02}:{m:02}")
    } else {
        format!("{sign}{h:02}")
    }
}

impl TimeZone {
    pub fn utc() -> TimeZone {
        TimeZone::Fixed {
            secs_east: 0,
            abbrev: "UTC".to_string(),
            name: "UTC".to_string(),
        }
    }

    /// Parses a `TimeZone` setting as PostgreSQL does: a number of hours
    /// east of Greenwich (`-5`, `5.5`), an IANA zone name (any case), or a
    /// POSIX-style `NAME+hh[:mm]` whose offset counts hours *west*
    /// (`'+02:00'` is UTC-2).
    pub fn parse(value: &str) -> DbResult<TimeZone> {
        let bad = || invalid_value("TimeZone", value);
        if value.eq_ignore_ascii_case("utc") {
            return Ok(TimeZone::utc());
        }
        if let Some(tz) = Self::parse_hours(value) {
            return Ok(tz);
        }
        if value.is_empty() || value.len() > 255 {
            return Err(bad());
        }
        if let Some(tz) = Self::lookup(value) {
            return Ok(tz);
        }
        Self::parse_posix(value).ok_or_else(bad)
    }

    /// `SET TIME ZONE 5.5`: hours east, as strtod reads the whole string.
    fn parse_hours(value: &str) -> Option<TimeZone> {
        let v = value.trim_start();
        let ok_chars = v
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'));
        if v.is_empty() || !ok_chars {
            return None;
        }
        let hours: f64 = v.parse().ok()?;
        let secs = (hours * 3600.0).round();
        // PostgreSQL rejects more than a week of displacement.
        if !secs.is_finite() || secs.abs() >= 168.0 * 3600.0 {
            return None;
        }
        let secs_east = secs as i32;
        let text = hm_text(secs_east);
        let name = format!("<{text}>{}", hm_text(-secs_east));
        Some(TimeZone::Fixed {
            secs_east,
            abbrev: text,
            name,
        })
    }

    /// An IANA zone name, any case; `None` when the database lacks it.
    pub fn lookup(name: &str) -> Option<TimeZone> {
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'+'))
            || !name.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        {
            return None;
        }
        let tz = tzdb().get(name).ok()?;
        let canonical = tz.iana_name().unwrap_or(name).to_string();
        Some(TimeZone::Named(NamedZone {
            name: canonical,
            tz,
        }))
    }

    /// POSIX `STDoffset` without a daylight part: `GMT+3`, `<+03>-3`,
    /// `+02:00` (empty name). The offset counts hours west.
    fn parse_posix(value: &str) -> Option<TimeZone> {
        let b = value.as_bytes();
        let mut i = 0;
        let abbrev: String;
        if b.first() == Some(&b'<') {
            let end = value.find('>')?;
            abbrev = value[1..end].to_string();
            i = end + 1;
        } else {
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            abbrev = value[..i].to_ascii_uppercase();
        }
        let rest = &value[i..];
        let (neg, digits) = match rest.as_bytes().first() {
            Some(b'-') => (true, &rest[1..]),
            Some(b'+') => (false, &rest[1..]),
            _ => (false, rest),
        };
        let mut parts = digits.split(':');
        let mut field = |max: u32| -> Option<Option<u32>> {
            match parts.next() {
                None => Some(None),
                Some(p)
                    if !p.is_empty() && p.len() <= 3 && p.bytes().all(|c| c.is_ascii_digit()) =>
                {
                    let v: u32 = p.parse().ok()?;
                    (v <= max).then_some(Some(v))
                }
                Some(_) => None,
            }
        };
        let h = field(167)??;
        let m = field(59)?.unwrap_or(0);
        let s = field(59)?.unwrap_or(0);
        if parts.next().is_some() || s != 0 {
            return None;
        }
        let west = (h * 3600 + m * 60) as i32;
        let name = if value.starts_with('<') {
            value.to_string()
        } else {
            format!("{abbrev}{rest}")
        };
        Some(TimeZone::Fixed {
            secs_east: if neg { west } else { -west },
            abbrev,
            name,
        })
    }

    /// What `SHOW TimeZone` prints.
    pub fn name(&self) -> &str {
        match self {
            TimeZone::Fixed { name, .. } => name,
            TimeZone::Named(z) => &z.name,
        }
    }

    /// Seconds east of UTC in effect at a UTC instant (PostgreSQL-epoch
    /// microseconds).
    pub fn offset_at_utc(&self, utc_micros: i64) -> i32 {
        match self {
            TimeZone::Fixed { secs_east, .. } => *secs_east,
            TimeZone::Named(z) => {
                z.tz.to_offset(clamp_to_jiff(unix_secs(utc_micros)))
                    .seconds()
            }
        }
    }

    /// The zone abbreviation in effect at a UTC instant (`EST`, `IST`).
    pub fn abbreviation_at_utc(&self, utc_micros: i64) -> String {
        match self {
            TimeZone::Fixed { abbrev, .. } => abbrev.clone(),
            TimeZone::Named(z) => {
                z.tz.to_offset_info(clamp_to_jiff(unix_secs(utc_micros)))
                    .abbreviation()
                    .to_string()
            }
        }
    }

    /// Seconds east of UTC for a wall-clock time in this zone. In a DST
    /// gap the offset before the transition applies, in an overlap the
    /// one after it (standard time), as PostgreSQL resolves them.
    pub fn offset_at_local(&self, local_micros: i64) -> i32 {
        let z = match self {
            TimeZone::Fixed { secs_east, .. } => return *secs_east,
            TimeZone::Named(z) => z,
        };
        let ts = clamp_to_jiff(unix_secs(local_micros));
        let dt = jiff::tz::Offset::UTC.to_datetime(ts);
        match z.tz.to_ambiguous_timestamp(dt).offset() {
            jiff::tz::AmbiguousOffset::Unambiguous { offset } => offset.seconds(),
            jiff::tz::AmbiguousOffset::Gap { before, .. } => before.seconds(),
            jiff::tz::AmbiguousOffset::Fold { after, .. } => after.seconds(),
        }
    }

    /// Wall-clock microseconds of a UTC instant (infinities unchanged).
    pub fn utc_to_local(&self, utc_micros: i64) -> i64 {
        if utc_micros == i64::MAX || utc_micros == i64::MIN {
            return utc_micros;
        }
        utc_micros.saturating_add(self.offset_at_utc(utc_micros) as i64 * 1_000_000)
    }

    /// The UTC instant of a wall-clock time (infinities unchanged).
    pub fn local_to_utc(&self, local_micros: i64) -> i64 {
        if local_micros == i64::MAX || local_micros == i64::MIN {
            return local_micros;
        }
        local_micros.saturating_sub(self.offset_at_local(local_micros) as i64 * 1_000_000)
    }
}

/// Fixed-offset zone abbreviations PostgreSQL's default
/// `timezone_abbreviations` set accepts in input; seconds east.
pub(crate) fn abbreviation_offset(word: &str) -> Option<i32> {
    let h = match word {
        "est" => -5,
        "edt" => -4,
        "cst" => -6,
        "cdt" => -5,
        "mst" => -7,
        "mdt" => -6,
        "pst" => -8,
        "pdt" => -7,
        "akst" => -9,
        "akdt" => -8,
        "hst" => -10,
        "wet" => 0,
        "cet" => 1,
        "cest" => 2,
        "eet" => 2,
        "eest" => 3,
        "bst" => 1,
        "ist" => 2,
        "msk" => 3,
        "jst" | "kst" => 9,
        "hkt" | "sgt" => 8,
        "aest" => 10,
        "aedt" => 11,
        "nzst" => 12,
        "nzdt" => 13,
        _ => return None,
    };
    Some(h * 3600)
}
