//! The PostgreSQL wire surface against real clients: `psql` (simple
//! query protocol) and Python's psycopg 3 (extended protocol, text and
//! binary parameters and results), both talking to the `aiondb` binary.
//!
//! The clients come with PostgreSQL (`.ci/run` installs them). Without
//! them a local run skips these tests with a message; under CI it fails.

use std::process::Command;

use aiondb_integration_tests::wire::*;

#[test]
fn psql_runs_a_session_script() {
    if !have("psql", &["--version"]) {
        return;
    }
    let server = Server::start(&[]);
    let out = server.psql(
        PASSWORD,
        "CREATE TABLE t (id int PRIMARY KEY, name text, amount numeric(10,2));
INSERT INTO t VALUES (1, 'one', 1.5), (2, 'two', NULL), (3, 'three', -2.25);
SELECT id, name, amount FROM t ORDER BY id;
SELECT count(*), sum(amount) FROM t;
BEGIN;
UPDATE t SET name = 'uno' WHERE id = 1;
ROLLBACK;
SELECT name FROM t WHERE id = 1;
BEGIN; DELETE FROM t WHERE id = 3; COMMIT;
SELECT count(*) FROM t;
\\set VERBOSITY verbose
INSERT INTO t VALUES (1, 'dup', 0);
SELECT 1/0;
SELEC oops;
SELECT 'still' || ' here';
SHOW TimeZone;
SET TimeZone = 'Europe/Paris';
SELECT TIMESTAMPTZ '2024-01-01 12:00:00+00';
",
    );
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    let expected = "1|one|1.50\n2|two|\n3|three|-2.25\n3|-0.75\none\n2\nstill here\nUTC\n2024-01-01 13:00:00+01\n";
    assert_eq!(stdout, expected, "stderr:\n{stderr}");
    assert!(
        stderr.contains("ERROR:  23505: duplicate key value violates unique constraint \"t_pkey\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("DETAIL:  Key (id)=(1) already exists."),
        "{stderr}"
    );
    assert!(
        stderr.contains("ERROR:  22012: division by zero"),
        "{stderr}"
    );
    assert!(stderr.contains("ERROR:  42601: syntax error"), "{stderr}");
}

#[test]
fn wrong_password_and_unknown_user_get_the_same_error() {
    if !have("psql", &["--version"]) {
        return;
    }
    let server = Server::start(&[("AIONDB_PGWIRE_AUTH_FAILURE_BACKOFF_MS", "50")]);
    let wrong = server.psql("not-the-password", "SELECT 1;\n");
    assert!(!wrong.status.success());
    let wrong_err = text(&wrong.stderr);
    assert!(
        wrong_err.contains("password authentication failed for user \"admin\""),
        "{wrong_err}"
    );
    let unknown = Command::new("psql")
        .args([
            &format!(
                "host=127.0.0.1 port={} user=nobody password=x dbname=aiondb",
                server.port
            ),
            "-X",
            "-c",
            "SELECT 1",
        ])
        .output()
        .expect("psql");
    assert!(!unknown.status.success());
    let unknown_err = text(&unknown.stderr);
    assert!(
        unknown_err.contains("password authentication failed for user \"nobody\""),
        "{unknown_err}"
    );
    // The right password still works afterwards.
    let ok = server.psql(PASSWORD, "SELECT 40 + 2;\n");
    assert_eq!(text(&ok.stdout), "42\n", "{}", text(&ok.stderr));
}

#[test]
fn psycopg_extended_protocol_round_trips_types_in_text_and_binary() {
    if !have("python3", &["-c", "import psycopg"]) {
        return;
    }
    let server = Server::start(&[]);
    let script = r#"
import sys, datetime, decimal, uuid
import psycopg
conn = psycopg.connect(sys.argv[1], autocommit=True)
cur = conn.cursor()
cur.execute("CREATE TABLE kv (id int PRIMARY KEY, v text, f float8, d date, ts timestamp, n numeric, b bytea, u uuid, ok boolean)")
row = (1, "héllo", 1.25, datetime.date(2024, 2, 29), datetime.datetime(2024, 1, 2, 3, 4, 5, 123456),
       decimal.Decimal("-12345.6789"), b"\x00\x01\xff", uuid.UUID("12345678-1234-5678-1234-567812345678"), True)
cur.execute("INSERT INTO kv VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", row)
cur.execute("INSERT INTO kv VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", (2, None, None, None, None, None, None, None, None))
for binary in (False, True):
    c = conn.cursor(binary=binary)
    c.execute("SELECT * FROM kv WHERE id = %s", (1,))
    got = c.fetchone()
    assert got == row, (binary, got)
    c.execute("SELECT * FROM kv WHERE id = %s", (2,))
    assert c.fetchone() == (2,) + (None,) * 8
    c.execute("SELECT id FROM kv WHERE id > %s ORDER BY id", (0,))
    assert c.fetchall() == [(1,), (2,)]
try:
    cur.execute("INSERT INTO kv (id) VALUES (%s)", (1,))
    raise SystemExit("duplicate accepted")
except psycopg.errors.UniqueViolation as e:
    assert e.sqlstate == "23505", e.sqlstate
with conn.transaction():
    cur.execute("UPDATE kv SET v = %s WHERE id = %s", ("changed", 2))
cur.execute("SELECT v FROM kv WHERE id = 2")
assert cur.fetchone() == ("changed",)
try:
    with conn.transaction():
        cur.execute("UPDATE kv SET v = 'lost' WHERE id = 2")
        raise RuntimeError("roll back")
except RuntimeError:
    pass
cur.execute("SELECT v FROM kv WHERE id = 2")
assert cur.fetchone() == ("changed",)
print("ok")
"#;
    let out = server.python(script);
    assert_eq!(
        text(&out.stdout).trim(),
        "ok",
        "stderr:\n{}",
        text(&out.stderr)
    );
}

#[test]
fn roles_in_the_catalog_log_in_with_scram() {
    if !have("python3", &["-c", "import psycopg"]) {
        return;
    }
    let server = Server::start(&[("AIONDB_PGWIRE_AUTH_FAILURE_BACKOFF_MS", "10")]);
    let script = r#"
import sys, threading
import psycopg
admin = sys.argv[1]
base = admin.rsplit(" user=", 1)[0]
def conn(user, password):
    return psycopg.connect(f"{base} user={user} password={password} dbname=aiondb", autocommit=True)
def state(fn):
    try:
        fn()
        return "ok"
    except psycopg.Error as e:
        if e.sqlstate:
            return e.sqlstate
        # Failed connections carry only libpq's message.
        for text, code in [("password authentication failed", "28P01"),
                           ("not permitted to log in", "28000"),
                           ("too many connections for role", "53300")]:
            if text in str(e):
                return code
        return str(e)
def after_exit(fn):
    # A closed connection's slot frees when its server side has ended,
    # a moment after the client's close returns (in PostgreSQL too: the
    # backend exits asynchronously).
    import time
    for _ in range(100):
        r = state(fn)
        if r != "53300":
            return r
        time.sleep(0.02)
    return r
with psycopg.connect(admin, autocommit=True) as a:
    a.execute("CREATE ROLE alice LOGIN PASSWORD 'Alice-pw1'")
    a.execute("CREATE ROLE ghost PASSWORD 'Ghost-pw1'")
    a.execute("CREATE ROLE old LOGIN PASSWORD 'Old-pw1' VALID UNTIL '2001-01-01 00:00:00+00'")
    a.execute("CREATE USER capped PASSWORD 'Capped-pw1' CONNECTION LIMIT 1")
    with conn("alice", "Alice-pw1") as c:
        print("user", c.execute("SELECT current_user").fetchone()[0])
        print("create", state(lambda: c.execute("CREATE ROLE mallory")))
        print("alter other", state(lambda: c.execute("ALTER ROLE capped CONNECTION LIMIT 5")))
        print("self superuser", state(lambda: c.execute("ALTER ROLE alice SUPERUSER")))
        print("drop", state(lambda: c.execute("DROP ROLE capped")))
        print("own password", state(lambda: c.execute("ALTER ROLE alice PASSWORD 'Alice-pw2'")))
    print("old password", state(lambda: conn("alice", "Alice-pw1").close()))
    print("new password", state(lambda: conn("alice", "Alice-pw2").close()))
    print("nologin", state(lambda: conn("ghost", "Ghost-pw1").close()))
    print("expired", state(lambda: conn("old", "Old-pw1").close()))
    first = conn("capped", "Capped-pw1")
    print("second", state(lambda: conn("capped", "Capped-pw1").close()))
    first.close()
    print("after close", after_exit(lambda: conn("capped", "Capped-pw1").close()))
    print("admin uncapped", after_exit(lambda: [conn("capped", "Capped-pw1")] and None))
    a.execute("ALTER ROLE alice RENAME TO alicia")
    print("renamed old name", state(lambda: conn("alice", "Alice-pw2").close()))
    print("renamed new name", state(lambda: conn("alicia", "Alice-pw2").close()))
    a.execute("DROP ROLE alicia")
    print("dropped", state(lambda: conn("alicia", "Alice-pw2").close()))
    print("drop self", state(lambda: a.execute("DROP ROLE admin")))
"#;
    let out = server.python(script);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let expected = "user alice
create 42501
alter other 42501
self superuser 42501
drop 42501
own password ok
old password 28P01
new password ok
nologin 28000
expired 28P01
second 53300
after close ok
admin uncapped ok
renamed old name 28P01
renamed new name ok
dropped 28P01
drop self 55006
";
    assert_eq!(stdout, expected, "{}", text(&out.stderr));
}

/// Extended-protocol statements up to a Sync share one implicit
/// transaction: psycopg's pipeline mode shows it (a failed batch leaves
/// nothing behind; what an earlier Sync committed stays).
#[test]
fn pipelined_statements_share_an_implicit_transaction_until_sync() {
    if !have("python3", &["-c", "import psycopg"]) {
        return;
    }
    let script = r#"
import sys, psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as c:
    c.execute("DROP TABLE IF EXISTS pipe_t")
    c.execute("CREATE TABLE pipe_t (id int PRIMARY KEY)")
    try:
        with c.pipeline() as p:
            c.execute("INSERT INTO pipe_t VALUES (1)")
            c.execute("INSERT INTO pipe_t VALUES (2)")
            c.execute("INSERT INTO pipe_t VALUES (1)")
            c.execute("INSERT INTO pipe_t VALUES (3)")
    except psycopg.Error as e:
        print("error", e.sqlstate)
    print("after failed batch", c.execute("SELECT count(*) FROM pipe_t").fetchone()[0])
    with c.pipeline() as p:
        c.execute("INSERT INTO pipe_t VALUES (10)")
        p.sync()
        c.execute("INSERT INTO pipe_t VALUES (11)")
    print("after good batch", c.execute("SELECT count(*) FROM pipe_t").fetchone()[0])
    try:
        with c.pipeline() as p:
            c.execute("INSERT INTO pipe_t VALUES (20)")
            p.sync()
            c.execute("INSERT INTO pipe_t VALUES (10)")
    except psycopg.Error as e:
        print("error", e.sqlstate)
    print("synced part kept", c.execute("SELECT count(*) FROM pipe_t").fetchone()[0])
    c.execute("DROP TABLE pipe_t")
"#;
    let expected =
        "error 23505\nafter failed batch 0\nafter good batch 2\nerror 23505\nsynced part kept 3\n";
    let server = Server::start(&[]);
    let out = server.python(script);
    assert_eq!(text(&out.stdout), expected, "{}", text(&out.stderr));
    // The same script gives the same output on PostgreSQL.
    if let Some(reference) = reference_pg() {
        let out = Command::new("python3")
            .args(["-c", script, &format!("{reference} dbname=postgres")])
            .output()
            .expect("python3");
        assert_eq!(text(&out.stdout), expected, "{}", text(&out.stderr));
    }
}

/// SQL DEALLOCATE drops statements the extended protocol prepared (one
/// namespace, as in PostgreSQL; psycopg sends `DEALLOCATE ALL` after a
/// rollback of a connection with prepared statements).
#[test]
fn deallocate_drops_protocol_prepared_statements() {
    if !have("python3", &["-c", "import psycopg"]) {
        return;
    }
    let script = r#"
import sys, psycopg
from psycopg import pq
with psycopg.connect(sys.argv[1], autocommit=True) as c:
    pg = c.pgconn
    def state(r):
        return r.error_field(pq.DiagnosticField.SQLSTATE).decode() if r.status == pq.ExecStatus.FATAL_ERROR else "ok"
    print("prepare", state(pg.prepare(b"s1", b"SELECT 1")))
    print("again", state(pg.prepare(b"s1", b"SELECT 2")))
    print("run", state(pg.exec_prepared(b"s1", [])))
    print("deallocate", state(pg.exec_(b"DEALLOCATE s1")))
    print("run gone", state(pg.exec_prepared(b"s1", [])))
    print("deallocate gone", state(pg.exec_(b"DEALLOCATE PREPARE s1")))
    print("reuse name", state(pg.prepare(b"s1", b"SELECT 3")))
    print("second", state(pg.prepare(b"s2", b"SELECT 4")))
    print("deallocate all", state(pg.exec_(b"DEALLOCATE ALL")))
    print("run s2", state(pg.exec_prepared(b"s2", [])))
"#;
    let expected = "prepare ok\nagain 42P05\nrun ok\ndeallocate ok\nrun gone 26000\ndeallocate gone 26000\nreuse name ok\nsecond ok\ndeallocate all ok\nrun s2 26000\n";
    let server = Server::start(&[]);
    let out = server.python(script);
    assert_eq!(text(&out.stdout), expected, "{}", text(&out.stderr));
    if let Some(reference) = reference_pg() {
        let out = Command::new("python3")
            .args(["-c", script, &format!("{reference} dbname=postgres")])
            .output()
            .expect("python3");
        assert_eq!(text(&out.stdout), expected, "{}", text(&out.stderr));
    }
}
