//! A Rust client (the `postgres` crate) against the `aiondb` binary:
//! every built-in type in binary (parameters and results) and text, checked
//! byte for byte against the reference PostgreSQL 15; prepared statements,
//! transactions and server errors with their SQLSTATE; COPY in and out.

use std::error::Error;

use aiondb_integration_tests::wire::*;
use postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};
use postgres::{Client, NoTls, SimpleQueryMessage};

/// A value as raw wire bytes, in either direction.
#[derive(Debug, Clone, PartialEq)]
struct Raw(Option<Vec<u8>>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(Raw(Some(raw.to_vec())))
    }
    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(Raw(None))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

impl ToSql for Raw {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match &self.0 {
            Some(b) => {
                out.extend_from_slice(b);
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    to_sql_checked!();
}

/// `(type, literal)`: every built-in type, with the edge cases clients
/// trip over (signs, special floats, infinities, NULL-free arrays).
const CASES: &[(&str, &str)] = &[
    ("bool", "true"),
    ("bool", "false"),
    ("int2", "-32768"),
    ("int4", "2147483647"),
    ("int8", "-9223372036854775808"),
    ("float4", "1.5"),
    ("float4", "-Infinity"),
    ("float8", "3.141592653589793"),
    ("float8", "NaN"),
    ("float8", "-0"),
    ("numeric", "0"),
    ("numeric", "-12345678901234567890.000123"),
    ("numeric", "0.00001"),
    ("numeric", "NaN"),
    ("numeric(10,2)", "3.14159"),
    ("text", "héllo, wörld"),
    ("text", ""),
    ("varchar(5)", "abc"),
    ("char(5)", "ab"),
    ("bytea", "\\x00ff10"),
    ("date", "2024-02-29"),
    ("date", "infinity"),
    ("time", "23:59:59.999999"),
    ("timestamp", "2024-01-01 12:34:56.789"),
    ("timestamp", "-infinity"),
    ("timestamptz", "2024-06-30 23:00:00+02"),
    ("interval", "1 year 2 mons 3 days 04:05:06.5"),
    ("interval", "-7 days"),
    ("uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
    ("json", "{\"b\": [1, 2], \"a\": null}"),
    ("jsonb", "{\"b\": [1, 2], \"a\": null}"),
    ("int4[]", "{1,2,3}"),
    ("text[]", "{a,\"b c\",\"\"}"),
    ("float8[]", "{1.5,-2}"),
];

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn connect(conninfo: &str) -> Client {
    let mut c = Client::connect(conninfo, NoTls).expect("connect");
    c.batch_execute("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'")
        .expect("settings");
    c
}

/// Text (simple query) and binary (extended query) results of each case,
/// plus the binary result of sending the reference's binary value back as
/// a parameter.
fn observe(c: &mut Client, reference_binary: Option<&[Raw]>) -> Vec<String> {
    let mut out = Vec::new();
    for (i, (ty, lit)) in CASES.iter().enumerate() {
        let sql = format!("SELECT {}::{ty}", quote(lit));
        let text = match c.simple_query(&sql) {
            Ok(msgs) => msgs
                .iter()
                .find_map(|m| match m {
                    SimpleQueryMessage::Row(r) => Some(format!("{:?}", r.get(0))),
                    _ => None,
                })
                .unwrap_or_else(|| "no row".into()),
            Err(e) => format!("error {e}"),
        };
        let binary = match c.query_one(&sql, &[]) {
            Ok(row) => format!("{:?}", row.get::<_, Raw>(0)),
            Err(e) => format!("error {e}"),
        };
        let param = match reference_binary.and_then(|r| r.get(i)) {
            Some(v) => match c.query_one(&format!("SELECT $1::{ty}"), &[v]) {
                Ok(row) => format!("{:?}", row.get::<_, Raw>(0)),
                Err(e) => format!("error {e}"),
            },
            None => String::new(),
        };
        out.push(format!(
            "{ty} {lit}: text {text} binary {binary} param {param}"
        ));
    }
    out
}

fn reference_binary(c: &mut Client) -> Vec<Raw> {
    CASES
        .iter()
        .map(|(ty, lit)| {
            c.query_one(&format!("SELECT {}::{ty}", quote(lit)), &[])
                .map(|r| r.get::<_, Raw>(0))
                .unwrap_or(Raw(None))
        })
        .collect()
}

#[test]
fn every_builtin_type_matches_postgresql_in_text_and_binary() {
    let Some(reference) = reference_pg() else {
        return;
    };
    let server = Server::start(&[]);
    let mut pg = connect(&format!("{reference} dbname=postgres"));
    let mut aion = connect(&server.conninfo(PASSWORD));
    let binary = reference_binary(&mut pg);
    let expected = observe(&mut pg, Some(&binary));
    let got = observe(&mut aion, Some(&binary));
    let diffs: Vec<String> = expected
        .iter()
        .zip(&got)
        .filter(|(e, g)| e != g)
        .map(|(e, g)| format!("postgres: {e}\naiondb:   {g}"))
        .collect();
    assert!(diffs.is_empty(), "{}", diffs.join("\n\n"));
}

#[test]
fn prepared_statements_transactions_and_errors() {
    if !have("psql", &["--version"]) {
        return;
    }
    let server = Server::start(&[]);
    let mut c = connect(&server.conninfo(PASSWORD));
    c.batch_execute(
        "CREATE TABLE acct (id int PRIMARY KEY, owner text NOT NULL, balance bigint CHECK (balance >= 0))",
    )
    .expect("create");
    let insert = c
        .prepare("INSERT INTO acct VALUES ($1, $2, $3)")
        .expect("prepare insert");
    assert_eq!(insert.params(), &[Type::INT4, Type::TEXT, Type::INT8]);
    for (id, owner, balance) in [(1, "ann", 100i64), (2, "bob", 50), (3, "cy", 0)] {
        assert_eq!(
            c.execute(&insert, &[&id, &owner, &balance])
                .expect("insert"),
            1
        );
    }
    let by_owner = c
        .prepare("SELECT id, balance FROM acct WHERE owner = $1")
        .expect("prepare select");
    let row = c.query_one(&by_owner, &[&"bob"]).expect("select");
    assert_eq!((row.get::<_, i32>(0), row.get::<_, i64>(1)), (2, 50));

    // A committed transfer and a rolled-back one.
    let mut t = c.transaction().expect("begin");
    t.execute("UPDATE acct SET balance = balance - 30 WHERE id = 1", &[])
        .expect("debit");
    t.execute("UPDATE acct SET balance = balance + 30 WHERE id = 2", &[])
        .expect("credit");
    t.commit().expect("commit");
    let mut t = c.transaction().expect("begin");
    t.execute("DELETE FROM acct", &[]).expect("delete");
    t.rollback().expect("rollback");
    let total: i64 = c
        .query_one("SELECT sum(balance)::int8 FROM acct", &[])
        .expect("sum")
        .get(0);
    assert_eq!(total, 150);
    let balances: Vec<i64> = c
        .query("SELECT balance FROM acct ORDER BY id", &[])
        .expect("balances")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(balances, vec![70, 80, 0]);

    // Server errors carry their SQLSTATE.
    let code = |r: Result<u64, postgres::Error>| {
        r.err()
            .and_then(|e| e.code().map(|c| c.code().to_string()))
            .unwrap_or_else(|| "ok".into())
    };
    assert_eq!(code(c.execute(&insert, &[&1, &"dup", &1i64])), "23505");
    assert_eq!(code(c.execute(&insert, &[&9, &"neg", &-1i64])), "23514");
    assert_eq!(code(c.execute("SELECT 1 / 0", &[])), "22012");
    assert_eq!(code(c.execute("SELECT * FROM missing", &[])), "42P01");
    let mut t = c.transaction().expect("begin");
    assert_eq!(code(t.execute("SELECT 1 / 0", &[])), "22012");
    assert_eq!(code(t.execute("SELECT 1", &[])), "25P02");
    t.rollback().expect("rollback");
    // NULL parameters and results.
    let none: Option<i64> = None;
    let row = c
        .query_one("SELECT $1::int8 IS NULL, $1::int8", &[&none])
        .expect("null");
    assert!(row.get::<_, bool>(0));
    assert_eq!(row.get::<_, Option<i64>>(1), None);
}

#[test]
fn copy_in_and_out() {
    if !have("psql", &["--version"]) {
        return;
    }
    use std::io::{Read, Write};
    let server = Server::start(&[]);
    let mut c = connect(&server.conninfo(PASSWORD));
    c.batch_execute("CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(8,2))")
        .expect("create");
    let mut w = c
        .copy_in("COPY items FROM STDIN WITH (FORMAT csv, HEADER true)")
        .expect("copy in");
    w.write_all(b"id,name,price\n1,apple,0.50\n2,\"pear, green\",\n3,fig,2.25\n")
        .expect("write");
    assert_eq!(w.finish().expect("finish"), 3);
    let mut out = String::new();
    c.copy_out("COPY (SELECT * FROM items ORDER BY id) TO STDOUT")
        .expect("copy out")
        .read_to_string(&mut out)
        .expect("read");
    assert_eq!(out, "1\tapple\t0.50\n2\tpear, green\t\\N\n3\tfig\t2.25\n");
    // A bad row loads nothing and reports its line.
    let mut w = c.copy_in("COPY items FROM STDIN").expect("copy in");
    w.write_all(b"4\tplum\t1\n5\tkiwi\tnot-a-number\n")
        .expect("write");
    let err = w.finish().expect_err("bad row");
    let db = err.as_db_error().expect("server error");
    assert_eq!(db.code().code(), "22P02");
    assert!(
        db.where_().is_some_and(|w| w.contains("line 2")),
        "{:?}",
        db.where_()
    );
    let n: i64 = c
        .query_one("SELECT count(*) FROM items", &[])
        .expect("count")
        .get(0);
    assert_eq!(n, 3);
}
