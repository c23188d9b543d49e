//! TimeZone and DateStyle change how a session reads and prints dates
//! and times, as in PostgreSQL (expected values recorded from
//! PostgreSQL 15), including across cached plans and prepared statements.

use aiondb_embedded::{Connection, Database};

fn one(c: &mut Connection, sql: &str) -> Vec<Option<String>> {
    let r = c.execute(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    r.to_text().into_iter().next().unwrap_or_default()
}

fn text(c: &mut Connection, sql: &str) -> String {
    one(c, sql)
        .into_iter()
        .map(|v| v.unwrap_or_else(|| "NULL".into()))
        .collect::<Vec<_>>()
        .join("|")
}

fn run(c: &mut Connection, sql: &str) {
    c.execute(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[test]
fn time_zone_changes_input_output_and_casts() {
    let db = Database::in_memory().expect("db");
    let mut c = db.connect_anonymous("main", "tz-test").expect("connect");
    run(
        &mut c,
        "CREATE TABLE tzt (id int, t timestamptz, ts timestamp, d date)",
    );
    run(&mut c, "SET TIME ZONE 'America/New_York'");
    assert_eq!(text(&mut c, "SHOW timezone"), "America/New_York");
    assert_eq!(c.format_options().time_zone.name(), "America/New_York");
    run(
        &mut c,
        "INSERT INTO tzt VALUES (1, '2024-07-01 12:00', '2024-07-01 12:00', '2024-07-01')",
    );
    run(&mut c, "SET TimeZone = 'UTC'");
    assert_eq!(
        text(&mut c, "SELECT id, t, ts, d FROM tzt"),
        "1|2024-07-01 16:00:00+00|2024-07-01 12:00:00|2024-07-01"
    );
    run(&mut c, "SET TimeZone = 'Asia/Kolkata'");
    assert_eq!(
        text(
            &mut c,
            "SELECT t, ts::timestamptz, d::timestamptz, t::date, t::timestamp, 'at ' || t, \
             t = '2024-07-01 16:00:00+00' FROM tzt"
        ),
        "2024-07-01 21:30:00+05:30|2024-07-01 12:00:00+05:30|2024-07-01 00:00:00+05:30|\
         2024-07-01|2024-07-01 21:30:00|at 2024-07-01 21:30:00+05:30|t"
    );
    assert_eq!(
        text(&mut c, "SELECT t FROM tzt WHERE t = '2024-07-01 21:30'"),
        "2024-07-01 21:30:00+05:30"
    );
    run(&mut c, "SET DateStyle = 'SQL, DMY'");
    run(&mut c, "SET TimeZone = 'Europe/Paris'");
    assert_eq!(
        text(&mut c, "SELECT t, d, ts, t::text FROM tzt"),
        "01/07/2024 18:00:00 CEST|01/07/2024|01/07/2024 12:00:00|01/07/2024 18:00:00 CEST"
    );
    assert_eq!(text(&mut c, "SHOW DateStyle"), "SQL, DMY");
}

#[test]
fn cached_plans_and_prepared_statements_follow_the_settings() {
    let db = Database::in_memory().expect("db");
    let mut c = db.connect_anonymous("main", "tz-test").expect("connect");
    // The same text twice: the second run may come from the plan cache.
    let sql = "SELECT '2024-01-01 12:00'::timestamptz, '01/02/2024'::date";
    assert_eq!(text(&mut c, sql), "2024-01-01 12:00:00+00|2024-01-02");
    assert_eq!(text(&mut c, sql), "2024-01-01 12:00:00+00|2024-01-02");
    run(&mut c, "SET TimeZone = 'America/New_York'");
    run(&mut c, "SET DateStyle = 'ISO, DMY'");
    assert_eq!(text(&mut c, sql), "2024-01-01 12:00:00-05|2024-02-01");
    let p = c
        .prepare("SELECT '2024-07-01 12:00:00+00'::timestamptz")
        .expect("prepare");
    let r = c.query(&p, &[]).expect("run");
    assert_eq!(r.to_text()[0][0].as_deref(), Some("2024-07-01 08:00:00-04"));
    run(&mut c, "SET TimeZone = '+02:00'");
    let r = c.query(&p, &[]).expect("run");
    assert_eq!(r.to_text()[0][0].as_deref(), Some("2024-07-01 10:00:00-02"));
    // A result keeps the settings it was produced under.
    run(&mut c, "SET TimeZone = 'UTC'");
    assert_eq!(r.to_text()[0][0].as_deref(), Some("2024-07-01 10:00:00-02"));
}

#[test]
fn invalid_settings_are_rejected_as_postgres_does() {
    let db = Database::in_memory().expect("db");
    let mut c = db.connect_anonymous("main", "tz-test").expect("connect");
    let e = c
        .execute("SET TimeZone = 'Mars/Base'")
        .expect_err("bad zone");
    assert_eq!(e.sqlstate.to_string(), "22023");
    assert_eq!(
        e.message.as_str(),
        "invalid value for parameter \"TimeZone\": \"Mars/Base\""
    );
    let e = c
        .execute("SET DateStyle = 'Klingon'")
        .expect_err("bad style");
    assert_eq!(e.sqlstate.to_string(), "22023");
    run(&mut c, "SET DateStyle = 'German'");
    assert_eq!(text(&mut c, "SHOW DateStyle"), "German, DMY");
    run(&mut c, "SET DateStyle = 'SQL'");
    assert_eq!(text(&mut c, "SHOW DateStyle"), "SQL, DMY");
    run(&mut c, "SET TimeZone = '-5'");
    assert_eq!(text(&mut c, "SHOW TimeZone"), "<-05>+05");
    run(&mut c, "RESET ALL");
    assert_eq!(text(&mut c, "SHOW DateStyle"), "ISO, MDY");
    assert_eq!(text(&mut c, "SHOW TimeZone"), "UTC");
}

#[test]
fn current_date_and_localtimestamp_use_the_session_zone() {
    let db = Database::in_memory().expect("db");
    let mut c = db.connect_anonymous("main", "tz-test").expect("connect");
    // 14 hours east vs 12 hours west: the local dates always differ.
    run(&mut c, "SET TimeZone = 'Etc/GMT-14'");
    let east = text(
        &mut c,
        "SELECT current_date, localtimestamp::date, now()::date",
    );
    run(&mut c, "SET TimeZone = 'Etc/GMT+12'");
    let west = text(
        &mut c,
        "SELECT current_date, localtimestamp::date, now()::date",
    );
    let e: Vec<&str> = east.split('|').collect();
    let w: Vec<&str> = west.split('|').collect();
    assert!(e[0] == e[1] && e[1] == e[2], "{east}");
    assert!(w[0] == w[1] && w[1] == w[2], "{west}");
    assert_ne!(e[0], w[0]);
}

#[test]
fn mixed_comparisons_and_interval_arithmetic_use_the_session_zone() {
    let db = Database::in_memory().expect("db");
    let mut c = db.connect_anonymous("main", "tz-test").expect("connect");
    run(&mut c, "SET TimeZone = 'America/New_York'");
    assert_eq!(
        text(
            &mut c,
            "SELECT '2024-07-01 12:00'::timestamp = '2024-07-01 16:00+00'::timestamptz, \
             '2024-07-01'::date < '2024-07-01 02:00+00'::timestamptz, \
             '2024-03-09 12:00'::timestamptz + interval '1 day'"
        ),
        "t|f|2024-03-10 12:00:00-04"
    );
}

/// A prepared statement's kept executor state follows SET TimeZone: casts
/// and zone-dependent functions see the new zone on the next execution.
#[test]
fn prepared_statements_follow_set_time_zone() {
    let db = Database::in_memory().expect("db");
    let mut c = db
        .connect_anonymous("main", "tz-prepared")
        .expect("connect");
    run(&mut c, "CREATE TABLE tzp (t timestamptz)");
    run(&mut c, "INSERT INTO tzp VALUES ('2024-07-01 12:00:00+00')");
    let st = c
        .prepare(
            "SELECT extract(timezone FROM t), date_trunc('day', t + interval '11 hours')::text, \
             to_char(t, 'HH24:MI TZ') FROM tzp",
        )
        .expect("prepare");
    let rows = |c: &mut Connection| {
        let r = c.query(&st, &[]).expect("run");
        r.to_text()
            .into_iter()
            .next()
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.unwrap_or_default())
            .collect::<Vec<_>>()
            .join("|")
    };
    // Values recorded from PostgreSQL 15.
    assert_eq!(rows(&mut c), "0|2024-07-01 00:00:00+00|12:00 UTC");
    run(&mut c, "SET TimeZone = 'Asia/Tokyo'");
    assert_eq!(rows(&mut c), "32400|2024-07-02 00:00:00+09|21:00 JST");
    run(&mut c, "SET TimeZone = 'America/Los_Angeles'");
    assert_eq!(rows(&mut c), "-25200|2024-07-01 00:00:00-07|05:00 PDT");
}
