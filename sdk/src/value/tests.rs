//! Text I/O checked against PostgreSQL 15. `pg_cases.tsv` holds
//! `type<TAB>input<TAB>expected` lines recorded from a real server (input
//! function + output function, TimeZone UTC); `expected` is either the
//! output text or `ERR <sqlstate> <message>`.

use super::*;
use crate::types::{DataType, TypeId};

/// Resolves the type names used in the case table, e.g. `numeric(5,2)`,
/// `bpchar(3)[]`.
fn data_type(name: &str) -> DataType {
    let (base, is_array) = match name.strip_suffix("[]") {
        Some(b) => (b, true),
        None => (name, false),
    };
    let (base, args) = match base.split_once('(') {
        Some((b, rest)) => (b, Some(rest.trim_end_matches(')'))),
        None => (base, None),
    };
    let id = TypeId::from_sql_name(base).unwrap_or_else(|| panic!("unknown type {base}"));
    let typmod = match args {
        None => -1,
        Some(a) => {
            let nums: Vec<i32> = a.split(',').map(|x| x.trim().parse().unwrap()).collect();
            match nums.as_slice() {
                [n] => n + 4,
                [p, s] => ((p << 16) | (s & 0x7ff)) + 4,
                _ => panic!("bad typmod {a}"),
            }
        }
    };
    DataType {
        id,
        typmod,
        is_array,
    }
}

fn render(ty: DataType, input: &str) -> String {
    match parse_text(ty, input) {
        Ok(v) => v.to_pg_text().unwrap_or_else(|| "NULL".into()),
        Err(e) => format!("ERR {} {}", e.sqlstate, e.message),
    }
}

#[test]
fn postgres_recorded_cases() {
    let table = concat!(include_str!("pg_cases.tsv"), include_str!("pg_cases2.tsv"));
    let mut failures = Vec::new();
    let mut n = 0;
    for line in table.lines().filter(|l| !l.is_empty()) {
        let mut parts = line.splitn(3, '\t');
        let (ty, input, expected) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap_or(""),
        );
        n += 1;
        let got = render(data_type(ty), input);
        if got != expected {
            failures.push(format!(
                "{ty} {input:?}\n   want {expected:?}\n    got {got:?}"
            ));
        }
    }
    assert!(n > 400, "case table too small: {n}");
    assert!(
        failures.is_empty(),
        "{} of {n} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn out(v: &Value) -> String {
    v.to_pg_text().unwrap_or_default()
}

#[test]
fn ext_values_print_like_pgvector_and_bytea() {
    use abi_stable::std_types::RVec;
    let floats = Value::Ext(ExtValue {
        type_oid: 16385,
        payload: ExtPayload::Floats(RVec::from(vec![1.0f32, 2.5, 3.0, 1e20, -0.1])),
    });
    assert_eq!(out(&floats), "[1,2.5,3,1e+20,-0.1]");
    let bytes = Value::Ext(ExtValue {
        type_oid: 16386,
        payload: ExtPayload::Bytes(RVec::from(vec![0u8, 0xab, 0x10])),
    });
    assert_eq!(out(&bytes), "\\x00ab10");
    assert_eq!(Value::Null.to_pg_text(), None);
}

#[test]
fn constructed_arrays() {
    use abi_stable::std_types::RVec;
    let a = ArrayValue::one_dim(
        TypeId::Int4,
        vec![Value::Int4(1), Value::Null, Value::Int4(3)],
    );
    assert_eq!(out(&Value::Array(a)), "{1,NULL,3}");
    assert_eq!(
        out(&Value::Array(ArrayValue::one_dim(TypeId::Text, vec![]))),
        "{}"
    );
    let shifted = ArrayValue {
        element_type: TypeId::Text,
        dims: RVec::from(vec![ArrayDim { len: 2, lower: 0 }]),
        elements: RVec::from(vec![Value::text("a b"), Value::text("")]),
    };
    assert_eq!(out(&Value::Array(shifted)), "[0:1]={\"a b\",\"\"}");
}

#[test]
fn constructed_datetimes() {
    assert_eq!(out(&Value::Date(0)), "2000-01-01");
    assert_eq!(out(&Value::Date(i32::MAX)), "infinity");
    assert_eq!(out(&Value::Date(i32::MIN)), "-infinity");
    assert_eq!(out(&Value::Date(-730_119)), "0001-01-01");
    assert_eq!(out(&Value::Date(-730_120)), "0001-12-31 BC");
    assert_eq!(out(&Value::Time(0)), "00:00:00");
    assert_eq!(out(&Value::Time(USECS_PER_DAY)), "24:00:00");
    assert_eq!(out(&Value::Time(45_296_500_000)), "12:34:56.5");
    assert_eq!(out(&Value::Timestamp(-1)), "1999-12-31 23:59:59.999999");
    assert_eq!(out(&Value::TimestampTz(0)), "2000-01-01 00:00:00+00");
    assert_eq!(out(&Value::TimestampTz(i64::MAX)), "infinity");
    let iv = |months, days, micros| {
        out(&Value::Interval(Interval {
            months,
            days,
            micros,
        }))
    };
    assert_eq!(iv(14, 3, 14_706_500_000), "1 year 2 mons 3 days 04:05:06.5");
    assert_eq!(iv(0, -1, 0), "-1 days");
    assert_eq!(iv(0, 0, 0), "00:00:00");
    assert_eq!(iv(0, 1, 0), "1 day");
    assert_eq!(iv(-14, 0, 0), "-1 years -2 mons");
    assert_eq!(iv(0, -1, 7_200_000_000), "-1 days +02:00:00");
    assert_eq!(iv(-1, 0, 1), "-1 mons +00:00:00.000001");
    assert_eq!(iv(0, 0, -1_500_000), "-00:00:01.5");
}

#[test]
fn date_helpers_round_trip() {
    assert_eq!(days_to_ymd(0), (2000, 1, 1));
    assert_eq!(ymd_to_days(2000, 1, 1), Some(0));
    assert_eq!(ymd_to_days(1970, 1, 1), Some(-10_957));
    assert_eq!(ymd_to_days(2024, 2, 29), Some(8_825));
    assert_eq!(ymd_to_days(2023, 2, 29), None);
    assert_eq!(ymd_to_days(1900, 2, 29), None);
    assert_eq!(ymd_to_days(2000, 2, 29), Some(59));
    assert_eq!(ymd_to_days(2024, 13, 1), None);
    assert_eq!(ymd_to_days(2024, 4, 31), None);
    assert_eq!(ymd_to_days(-4713, 11, 24), Some(DATE_MIN_DAYS));
    assert_eq!(ymd_to_days(5_874_897, 12, 31), Some(DATE_MAX_DAYS));
    for d in (DATE_MIN_DAYS..DATE_MAX_DAYS).step_by(9_973) {
        let (y, m, day) = days_to_ymd(d);
        assert_eq!(ymd_to_days(y, m, day), Some(d), "{d}");
    }
    for d in -800_000..800_000 {
        let (y, m, day) = days_to_ymd(d);
        assert_eq!(ymd_to_days(y, m, day), Some(d));
    }
}

#[test]
fn numeric_helpers() {
    for v in [0i64, 1, -1, 9999, 10000, -123_456_789, i64::MAX, i64::MIN] {
        let n = Numeric::from_i64(v);
        assert_eq!(n.to_string(), v.to_string());
        assert_eq!(Numeric::parse(&v.to_string()), Some(n.clone()));
        assert_eq!(n.to_f64(), v as f64);
        // The layout invariant: no leading or trailing zero digits.
        assert_ne!(n.digits.first(), Some(&0));
        assert_ne!(n.digits.last(), Some(&0));
    }
    let n = Numeric::parse("  -12.5000 ").unwrap();
    assert_eq!(n.digits.as_slice(), &[12, 5000]);
    assert_eq!(n.weight, 0);
    assert_eq!(n.dscale, 4);
    assert!(n.negative);
    assert_eq!(n.to_f64(), -12.5);
    assert_eq!(n.round_to_scale(0).to_string(), "-13");
    assert_eq!(
        Numeric::parse("0.0001").map(|n| (n.digits.to_vec(), n.weight)),
        Some((vec![1], -1))
    );
    assert_eq!(Numeric::parse("x"), None);
    assert!(Numeric::parse("NaN").unwrap().to_f64().is_nan());
    assert_eq!(Numeric::parse("-inf").unwrap().to_f64(), f64::NEG_INFINITY);
    assert_eq!(Numeric::zero().to_string(), "0");
}

#[test]
fn typmod_rounding_of_time_and_timestamp() {
    let t = parse_text(
        DataType::scalar(TypeId::Time).with_typmod(2),
        "12:34:56.789",
    )
    .unwrap();
    assert_eq!(out(&t), "12:34:56.79");
    let ts = parse_text(DataType::TIMESTAMP.with_typmod(0), "2024-01-15 12:34:56.5").unwrap();
    assert_eq!(out(&ts), "2024-01-15 12:34:57");
}

#[test]
fn errors_carry_sqlstate() {
    let e = parse_text(DataType::INT4, "abc").unwrap_err();
    assert_eq!(
        e.sqlstate,
        crate::error::SqlState::INVALID_TEXT_REPRESENTATION
    );
    let e = parse_text(DataType::numeric(5, 2), "1234").unwrap_err();
    assert_eq!(e.message.as_str(), "numeric field overflow");
    assert_eq!(
        e.detail().map(|d| d.to_string()).as_deref(),
        Some("A field with precision 5, scale 2 must round to an absolute value less than 10^3.")
    );
    let e = parse_text(DataType::scalar(TypeId::Ext(16400)), "[1,2]").unwrap_err();
    assert_eq!(e.sqlstate, crate::error::SqlState::FEATURE_NOT_SUPPORTED);
}
