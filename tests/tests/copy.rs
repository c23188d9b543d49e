//! COPY FROM STDIN / TO STDOUT over the wire (psql scripts and `\copy`,
//! psycopg 3's `cursor.copy()`) and through the embedded API: text and CSV
//! formats, PostgreSQL's errors with their CONTEXT line, and that a bad
//! row loads nothing.

use aiondb_embedded::Database;
use aiondb_integration_tests::wire::{have, text, Server, PASSWORD};

/// The expected output is what PostgreSQL 15 prints for the same script.
#[test]
fn psql_copy_script_matches_postgresql() {
    if !have("psql", &["--version"]) {
        return;
    }
    let server = Server::start(&[]);
    let out = server.psql(
        PASSWORD,
        "CREATE TABLE ct (a int NOT NULL, b text, c date);
COPY ct FROM STDIN;
1\thello\t2020-01-02
2\t\\N\t\\N
3\ttab\\there\\\\\t2021-03-04
\\.
COPY ct FROM STDIN WITH (FORMAT csv, HEADER true);
a,b,c
4,\"he said \"\"hi\"\"\",2020-01-02
5,,
6,\"\",
\\.
COPY ct TO STDOUT;
COPY ct TO STDOUT WITH (FORMAT csv, HEADER);
COPY ct (b, a) TO STDOUT WITH CSV;
\\set VERBOSITY verbose
COPY ct FROM STDIN;
7\tok\t2020-01-01
x\tbad\t2020-01-01
\\.
COPY ct FROM STDIN;
8\ta
\\.
COPY ct FROM STDIN;
9\ta\t2020-01-01\textra
\\.
SELECT count(*) FROM ct;
CREATE TABLE cd (id int PRIMARY KEY, v text DEFAULT 'dflt', n int);
\\copy cd (id, n) from stdin with csv
1,10
2,20
\\.
COPY cd (n, id) FROM STDIN;
30\t3
\\.
COPY (SELECT id, v, n FROM cd ORDER BY id) TO STDOUT WITH (FORMAT csv, FORCE_QUOTE (id, v, n));
BEGIN;
COPY cd FROM STDIN;
4\tfour\t40
\\.
SELECT count(*) FROM cd;
ROLLBACK;
SELECT count(*) FROM cd;
COPY cd FROM '/tmp/nothing';
",
    );
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    let expected = "1\thello\t2020-01-02
2\t\\N\t\\N
3\ttab\\there\\\\\t2021-03-04
4\the said \"hi\"\t2020-01-02
5\t\\N\t\\N
6\t\t\\N
a,b,c
1,hello,2020-01-02
2,,
3,tab\there\\,2021-03-04
4,\"he said \"\"hi\"\"\",2020-01-02
5,,
6,\"\",
hello,1
,2
tab\there\\,3
\"he said \"\"hi\"\"\",4
,5
\"\",6
6
\"1\",\"dflt\",\"10\"
\"2\",\"dflt\",\"20\"
\"3\",\"dflt\",\"30\"
4
3
";
    assert_eq!(stdout, expected, "stderr:\n{stderr}");
    for want in [
        "ERROR:  22P02: invalid input syntax for type integer: \"x\"\nCONTEXT:  COPY ct, line 2, column a: \"x\"",
        "ERROR:  22P04: missing data for column \"c\"\nCONTEXT:  COPY ct, line 1: \"8\ta\"",
        "ERROR:  22P04: extra data after last expected column\nCONTEXT:  COPY ct, line 1: \"9\ta\t2020-01-01\textra\"",
        "ERROR:  0A000: COPY to or from a file",
    ] {
        assert!(stderr.contains(want), "missing {want:?} in:\n{stderr}");
    }
}

const PSYCOPG_COPY: &str = r#"
import sys, datetime, decimal
import psycopg

conn = psycopg.connect(sys.argv[1], autocommit=True)
cur = conn.cursor()
cur.execute("CREATE TABLE pc (id int PRIMARY KEY, name text, amount numeric(10,2), at timestamp)")

# Text format, rows as psycopg writes them (escapes included).
with cur.copy("COPY pc (id, name, amount, at) FROM STDIN") as cp:
    for i in range(1, 2001):
        at = None if i % 10 == 0 else datetime.datetime(2024, 1, 1, 12, 0, 0) + datetime.timedelta(minutes=i)
        cp.write_row((i, f"name {i}\t\\x\n", decimal.Decimal(i) / 4, at))
print("copied", cur.rowcount)
cur.execute("SELECT count(*), sum(amount), count(at), max(name) FROM pc")
print("loaded", cur.fetchone())
cur.execute("SELECT name, at FROM pc WHERE id = 7")
print("row7", cur.fetchone())

# CSV with a header, written raw.
with cur.copy("COPY pc (id, name, amount) FROM STDIN WITH (FORMAT csv, HEADER true)") as cp:
    cp.write("id,name,amount\n3001,\"a,b \"\"q\"\"\",1.5\n3002,,\n3003,\"\",2\n")
print("csv", cur.rowcount)
cur.execute("SELECT id, name, amount FROM pc WHERE id > 3000 ORDER BY id")
print("csvrows", cur.fetchall())

# COPY TO, text format, parsed back by psycopg.
with cur.copy("COPY (SELECT id, name, amount FROM pc WHERE id IN (1, 3001, 3002) ORDER BY id) TO STDOUT") as cp:
    cp.set_types(["int4", "text", "numeric"])
    print("out", list(cp.rows()))
# COPY TO, CSV, raw bytes.
with cur.copy("COPY pc (id, name) TO STDOUT WITH (FORMAT csv, HEADER)") as cp:
    data = b"".join(bytes(b) for b in cp)
lines = data.decode().split("\n")
print("csvout", lines[0], len(data) > 0, "3001,\"a,b \"\"q\"\"\"" in lines)

# A bad row fails the whole COPY: nothing of it is loaded.
try:
    with cur.copy("COPY pc (id, name) FROM STDIN") as cp:
        cp.write("4001\tok\n4002\tok\nnotanumber\tbad\n4004\tok\n")
    print("no error")
except psycopg.Error as e:
    print("bad", e.sqlstate, e.diag.message_primary, "|", e.diag.context)
cur.execute("SELECT count(*) FROM pc WHERE id > 4000")
print("after bad", cur.fetchone()[0])

# A duplicate key also rolls back the rows before it.
try:
    with cur.copy("COPY pc (id) FROM STDIN") as cp:
        cp.write("5001\n5002\n1\n")
except psycopg.Error as e:
    print("dup", e.sqlstate)
cur.execute("SELECT count(*) FROM pc WHERE id > 5000")
print("after dup", cur.fetchone()[0])

# The client gives up: CopyFail.
class Boom(Exception):
    pass
try:
    with cur.copy("COPY pc (id) FROM STDIN") as cp:
        cp.write("6001\n")
        raise Boom("client gave up")
except Boom:
    pass
except psycopg.Error as e:
    print("fail-err", e.sqlstate)
cur.execute("SELECT count(*) FROM pc WHERE id > 6000")
print("after fail", cur.fetchone()[0])

# Inside a transaction block, a failed COPY aborts the block.
conn.autocommit = False
with conn.cursor() as c2:
    try:
        with c2.copy("COPY pc (id) FROM STDIN") as cp:
            cp.write("7001\nx\n")
    except psycopg.Error as e:
        print("txn", e.sqlstate, conn.info.transaction_status.name)
    conn.rollback()
    with c2.copy("COPY pc (id) FROM STDIN") as cp:
        cp.write("7001\n7002\n")
    conn.commit()
    c2.execute("SELECT count(*) FROM pc WHERE id > 7000")
    print("txn rows", c2.fetchone()[0])
"#;

#[test]
fn psycopg_copy_from_and_to() {
    if !have("python3", &["-c", "import psycopg"]) {
        return;
    }
    let server = Server::start(&[]);
    let out = server.python(PSYCOPG_COPY);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let expected = "copied 2000
loaded (2000, Decimal('500250.00'), 1800, 'name 999\\t\\\\x\\n')
row7 ('name 7\\t\\\\x\\n', datetime.datetime(2024, 1, 1, 12, 7))
csv 3
csvrows [(3001, 'a,b \"q\"', Decimal('1.50')), (3002, None, None), (3003, '', Decimal('2.00'))]
out [(1, 'name 1\\t\\\\x\\n', Decimal('0.25')), (3001, 'a,b \"q\"', Decimal('1.50')), (3002, None, None)]
csvout id,name True True
bad 22P02 invalid input syntax for type integer: \"notanumber\" | COPY pc, line 3, column id: \"notanumber\"
after bad 0
dup 23505
after dup 0
after fail 0
txn 22P02 INERROR
txn rows 2
";
    assert_eq!(stdout, expected, "stderr:\n{stderr}");
}

#[test]
fn embedded_copy_from_stdin() {
    let db = Database::in_memory().expect("db");
    let mut c = db.connect_anonymous("app", "copy-test").expect("connect");
    c.execute("CREATE TABLE e (id int PRIMARY KEY, v text)")
        .expect("create");
    let mut data = String::new();
    for i in 1..=1000 {
        data.push_str(&format!("{i}\tv{i}\n"));
    }
    let r = c
        .copy_from_stdin("COPY e FROM STDIN", data.as_bytes())
        .expect("copy");
    assert_eq!(r.tag(), "COPY 1000");
    let err = c
        .copy_from_stdin("COPY e FROM STDIN", b"2001\tx\n2002\n")
        .expect_err("short row");
    assert_eq!(err.sqlstate.as_str(), "22P04");
    let n = c.execute("SELECT count(*) FROM e").expect("count");
    assert_eq!(n.rows().next().and_then(|r| r.get_i64(0)), Some(1000));
}
