//! TimeZone and DateStyle behaviour checked against PostgreSQL 15.
//! `pg_format_cases.tsv` (from `pg_format_gen.py`) holds
//! `zone<TAB>datestyle<TAB>type<TAB>input<TAB>expected` lines; a type
//! `a>b` means `('input'::a)::b`; `expected` is the output text or
//! `ERROR <sqlstate>`.

use super::*;
use crate::types::{DataType, TypeId};

fn ty(name: &str) -> DataType {
    match name.strip_suffix("[]") {
        Some(b) => DataType::array_of(TypeId::from_sql_name(b).expect("type")),
        None => DataType::scalar(TypeId::from_sql_name(name).expect("type")),
    }
}

fn run_case(opts: &FormatOptions, types: &str, input: &str) -> Result<String, String> {
    let (src, dst) = match types.split_once('>') {
        Some((a, b)) => (ty(a), Some(ty(b))),
        None => (ty(types), None),
    };
    let mut v = parse_text_with(src, input, opts).map_err(|e| e.sqlstate.to_string())?;
    if let Some(dst) = dst {
        v = cast_with(&v, &dst, CoercionKind::Explicit, opts)
            .map_err(|e| e.sqlstate.to_string())?;
    }
    let mut out = String::new();
    write_text_with(&v, opts, &mut out);
    Ok(out)
}

#[test]
fn postgres_format_cases() {
    let mut failures = Vec::new();
    let mut n = 0;
    for line in include_str!("pg_format_cases.tsv").lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let [zone, style, types, input, expected] = f[..] else {
            panic!("bad line {line}");
        };
        let opts = FormatOptions::from_settings(zone, style).expect("settings");
        let got = match run_case(&opts, types, input) {
            Ok(s) => s,
            Err(code) => format!("ERROR {code}"),
        };
        n += 1;
        if got != expected {
            failures.push(format!(
                "{zone} | {style} | {types} '{input}': got {got:?}, want {expected:?}"
            ));
        }
    }
    assert!(n > 3000);
    assert!(
        failures.is_empty(),
        "{} of {n} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn time_zone_settings_as_postgres_shows_them() {
    // Values and SHOW output recorded from PostgreSQL 15.
    for (set, show) in [
        ("UTC", "UTC"),
        ("utc", "UTC"),
        ("america/new_york", "America/New_York"),
        ("Asia/Kolkata", "Asia/Kolkata"),
        ("EST5EDT", "EST5EDT"),
        ("+02:00", "+02:00"),
        ("-5", "<-05>+05"),
        ("5", "<+05>-05"),
        ("5.5", "<+05:30>-05:30"),
        ("GMT+3", "GMT+3"),
        ("Foo+3", "FOO+3"),
        ("<+03>-3", "<+03>-3"),
        ("Etc/GMT+3", "Etc/GMT+3"),
        ("zulu", "Zulu"),
        ("GMT", "GMT"),
    ] {
        let tz = TimeZone::parse(set).unwrap_or_else(|e| panic!("{set}: {e}"));
        assert_eq!(tz.name(), show, "SET TimeZone = '{set}'");
    }
    for bad in ["Mars/Base", "XYZ", "", "America/New York", "Z"] {
        let e = TimeZone::parse(bad).expect_err(bad);
        assert_eq!(e.sqlstate.to_string(), "22023");
        assert_eq!(
            e.message.as_str(),
            format!("invalid value for parameter \"TimeZone\": \"{bad}\"")
        );
    }
}

#[test]
fn date_style_settings_as_postgres_shows_them() {
    let d = DateStyle::default();
    let german = DateStyle::parse("German", d).expect("german");
    for (cur, set, show) in [
        (d, "German", "German, DMY"),
        (d, "SQL, MDY", "SQL, MDY"),
        (d, "Postgres", "Postgres, MDY"),
        (d, "euro", "ISO, DMY"),
        (d, "  sql ,  ymd ", "SQL, YMD"),
        (d, "German, MDY", "German, MDY"),
        (d, "", "ISO, MDY"),
        (german, "SQL", "SQL, DMY"),
        (german, "MDY", "German, MDY"),
        (german, "default", "ISO, MDY"),
        (german, "default, ymd", "ISO, YMD"),
    ] {
        let s = DateStyle::parse(set, cur).unwrap_or_else(|e| panic!("{set}: {e}"));
        assert_eq!(s.name(), show, "SET DateStyle = '{set}'");
    }
    for (bad, detail) in [
        ("Klingon", "Unrecognized key word: \"klingon\"."),
        ("ISO, SQL", "Conflicting \"datestyle\" specifications."),
        ("DMY, YMD", "Conflicting \"datestyle\" specifications."),
        ("iso dmy", "List syntax is invalid."),
        ("ISO,", "List syntax is invalid."),
    ] {
        let e = DateStyle::parse(bad, d).expect_err(bad);
        assert_eq!(e.sqlstate.to_string(), "22023");
        assert_eq!(
            e.message.as_str(),
            format!("invalid value for parameter \"DateStyle\": \"{bad}\"")
        );
        assert_eq!(e.detail(), Some(detail));
    }
}

#[test]
fn zone_dependence_of_casts_and_literals() {
    let tz = DataType::scalar(TypeId::TimestampTz);
    let ts = DataType::scalar(TypeId::Timestamp);
    let date = DataType::scalar(TypeId::Date);
    assert!(text_input_uses_format_options(&tz, "2024-01-01 12:00"));
    assert!(!text_input_uses_format_options(&tz, "2024-01-01 12:00+00"));
    assert!(!text_input_uses_format_options(&tz, "2024-01-01 12:00 EST"));
    assert!(!text_input_uses_format_options(&tz, "infinity"));
    assert!(text_input_uses_format_options(&tz, "now"));
    assert!(!text_input_uses_format_options(&ts, "2024-01-01 12:00"));
    assert!(text_input_uses_format_options(&date, "01/02/2024"));
    assert!(!text_input_uses_format_options(&date, "2024-01-02"));
    assert!(text_input_uses_format_options(&date, "today"));
    assert!(!text_input_uses_format_options(&date, "garbage"));
    assert!(!text_input_uses_format_options(&DataType::INT4, "1"));
    assert!(cast_uses_format_options(&ts, &tz));
    assert!(cast_uses_format_options(&tz, &date));
    assert!(cast_uses_format_options(&date, &DataType::TEXT));
    assert!(cast_uses_format_options(&DataType::TEXT, &date));
    assert!(!cast_uses_format_options(&date, &ts));
    assert!(!cast_uses_format_options(&DataType::INT4, &DataType::TEXT));
}

#[test]
fn timestamptz_interval_arithmetic_in_the_session_zone() {
    // Recorded from PostgreSQL 15 with TimeZone America/New_York.
    let opts = FormatOptions::from_settings("America/New_York", "ISO, MDY").expect("opts");
    let tz = |s: &str| parse_text_with(DataType::scalar(TypeId::TimestampTz), s, &opts).expect(s);
    let iv = |s: &str| parse_text(DataType::scalar(TypeId::Interval), s).expect(s);
    for (op, a, b, want) in [
        (
            BinaryOp::Add,
            "2024-03-09 12:00",
            "1 day",
            "2024-03-10 12:00:00-04",
        ),
        (
            BinaryOp::Add,
            "2024-10-15 12:00",
            "1 mon",
            "2024-11-15 12:00:00-05",
        ),
        (
            BinaryOp::Sub,
            "2024-11-04 00:30",
            "1 day",
            "2024-11-03 00:30:00-04",
        ),
        (
            BinaryOp::Add,
            "2024-03-09 12:00",
            "24 hours",
            "2024-03-10 13:00:00-04",
        ),
        (
            BinaryOp::Add,
            "2024-03-09 02:30",
            "1 day",
            "2024-03-10 03:30:00-04",
        ),
    ] {
        let v = eval_binary_with(op, &tz(a), &iv(b), &opts).expect("eval");
        let mut out = String::new();
        write_text_with(&v, &opts, &mut out);
        assert_eq!(out, want, "{a} {op:?} {b}");
    }
    let v = eval_binary_with(
        BinaryOp::Concat,
        &Value::text("at "),
        &tz("2024-07-01 12:00"),
        &opts,
    )
    .expect("concat");
    assert_eq!(v, Value::text("at 2024-07-01 12:00:00-04"));
}
