//! Isolation anomalies through the embedded API with concurrent sessions:
//! what READ COMMITTED, REPEATABLE READ and SERIALIZABLE must prevent, and
//! the errors PostgreSQL gives when they do.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use aiondb_embedded::{Connection, Database, TransactionStatus, Value};

fn db() -> Arc<Database> {
    Arc::new(Database::in_memory().expect("database"))
}

fn conn(db: &Database) -> Connection {
    db.connect_anonymous("iso", "isolation-tests")
        .expect("connect")
}

fn exec(c: &mut Connection, sql: &str) {
    if let Err(e) = c.execute(sql) {
        panic!("{sql}: {e}");
    }
}

fn scalar(c: &mut Connection, sql: &str) -> i64 {
    let r = c.execute(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let row = r.rows().next().unwrap_or_else(|| panic!("{sql}: no row"));
    row.get_i64(0)
        .unwrap_or_else(|| panic!("{sql}: not an integer"))
}

fn sqlstate(c: &mut Connection, sql: &str) -> String {
    match c.execute(sql) {
        Ok(_) => "ok".to_string(),
        Err(e) => e.sqlstate.to_string(),
    }
}

#[test]
fn no_dirty_reads() {
    let db = db();
    let mut a = conn(&db);
    let mut b = conn(&db);
    exec(
        &mut a,
        "CREATE TABLE acct (id int PRIMARY KEY, balance int NOT NULL)",
    );
    exec(&mut a, "INSERT INTO acct VALUES (1, 100)");
    exec(&mut a, "BEGIN");
    exec(&mut a, "UPDATE acct SET balance = 0 WHERE id = 1");
    exec(&mut a, "INSERT INTO acct VALUES (2, 5)");
    // Uncommitted changes are invisible, and the reader does not block.
    assert_eq!(scalar(&mut b, "SELECT balance FROM acct WHERE id = 1"), 100);
    assert_eq!(scalar(&mut b, "SELECT count(*) FROM acct"), 1);
    exec(&mut a, "ROLLBACK");
    assert_eq!(scalar(&mut b, "SELECT balance FROM acct WHERE id = 1"), 100);
    assert_eq!(scalar(&mut b, "SELECT count(*) FROM acct"), 1);
}

#[test]
fn read_committed_sees_commits_between_statements_repeatable_read_does_not() {
    let db = db();
    let mut a = conn(&db);
    let mut b = conn(&db);
    let mut c = conn(&db);
    exec(
        &mut a,
        "CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL)",
    );
    exec(&mut a, "INSERT INTO t VALUES (1, 1)");
    exec(&mut b, "BEGIN ISOLATION LEVEL READ COMMITTED");
    exec(&mut c, "BEGIN ISOLATION LEVEL REPEATABLE READ");
    assert_eq!(scalar(&mut b, "SELECT v FROM t WHERE id = 1"), 1);
    assert_eq!(scalar(&mut c, "SELECT v FROM t WHERE id = 1"), 1);
    exec(&mut a, "UPDATE t SET v = 2 WHERE id = 1");
    assert_eq!(scalar(&mut b, "SELECT v FROM t WHERE id = 1"), 2);
    assert_eq!(scalar(&mut c, "SELECT v FROM t WHERE id = 1"), 1);
    exec(&mut b, "COMMIT");
    exec(&mut c, "COMMIT");
}

/// Two read-modify-write increments racing on one row: a row lock makes the
/// second wait, and READ COMMITTED re-reads the committed row, so no
/// increment is lost.
#[test]
fn no_lost_update_under_read_committed() {
    let db = db();
    let mut setup = conn(&db);
    exec(
        &mut setup,
        "CREATE TABLE counter (id int PRIMARY KEY, n int NOT NULL)",
    );
    exec(&mut setup, "INSERT INTO counter VALUES (1, 0)");
    let threads = 4;
    let per_thread = 50;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let db = db.clone();
            let barrier = barrier.clone();
            thread::spawn(move || {
                let mut c = conn(&db);
                barrier.wait();
                for _ in 0..per_thread {
                    exec(&mut c, "BEGIN");
                    exec(&mut c, "UPDATE counter SET n = n + 1 WHERE id = 1");
                    exec(&mut c, "COMMIT");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("worker");
    }
    assert_eq!(
        scalar(&mut setup, "SELECT n FROM counter WHERE id = 1"),
        (threads * per_thread) as i64
    );
}

/// The same race under REPEATABLE READ: the loser gets 40001 instead of
/// silently overwriting.
#[test]
fn concurrent_update_under_repeatable_read_fails_with_40001() {
    let db = db();
    let mut a = conn(&db);
    let mut b = conn(&db);
    exec(
        &mut a,
        "CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL)",
    );
    exec(&mut a, "INSERT INTO t VALUES (1, 10)");
    exec(&mut a, "BEGIN ISOLATION LEVEL REPEATABLE READ");
    exec(&mut b, "BEGIN ISOLATION LEVEL REPEATABLE READ");
    assert_eq!(scalar(&mut a, "SELECT v FROM t WHERE id = 1"), 10);
    assert_eq!(scalar(&mut b, "SELECT v FROM t WHERE id = 1"), 10);
    exec(&mut a, "UPDATE t SET v = v + 1 WHERE id = 1");
    let db2 = db.clone();
    let waiter = thread::spawn(move || {
        let _keep = db2;
        let code = sqlstate(&mut b, "UPDATE t SET v = v + 1 WHERE id = 1");
        let status = b.transaction_status();
        (code, status)
    });
    thread::sleep(Duration::from_millis(200));
    exec(&mut a, "COMMIT");
    let (code, status) = waiter.join().expect("waiter");
    assert_eq!(code, "40001");
    assert_eq!(status, TransactionStatus::Failed);
    assert_eq!(scalar(&mut a, "SELECT v FROM t WHERE id = 1"), 11);
}

/// Write skew: two doctors each check that someone else is on call and go
/// off call. Under SERIALIZABLE one of them must fail with 40001.
#[test]
fn write_skew_is_prevented_under_serializable() {
    let db = db();
    let mut a = conn(&db);
    let mut b = conn(&db);
    exec(
        &mut a,
        "CREATE TABLE doctors (name text PRIMARY KEY, on_call bool NOT NULL)",
    );
    exec(
        &mut a,
        "INSERT INTO doctors VALUES ('alice', true), ('bob', true)",
    );
    exec(&mut a, "BEGIN ISOLATION LEVEL SERIALIZABLE");
    exec(&mut b, "BEGIN ISOLATION LEVEL SERIALIZABLE");
    assert_eq!(
        scalar(&mut a, "SELECT count(*) FROM doctors WHERE on_call"),
        2
    );
    assert_eq!(
        scalar(&mut b, "SELECT count(*) FROM doctors WHERE on_call"),
        2
    );
    let ra = sqlstate(
        &mut a,
        "UPDATE doctors SET on_call = false WHERE name = 'alice'",
    );
    let rb = sqlstate(
        &mut b,
        "UPDATE doctors SET on_call = false WHERE name = 'bob'",
    );
    let ca = if ra == "ok" {
        sqlstate(&mut a, "COMMIT")
    } else {
        ra
    };
    let cb = if rb == "ok" {
        sqlstate(&mut b, "COMMIT")
    } else {
        rb
    };
    let outcomes = [ca.as_str(), cb.as_str()];
    assert!(
        outcomes.contains(&"40001"),
        "one transaction must fail with 40001, got {outcomes:?}"
    );
    let mut c = conn(&db);
    assert!(scalar(&mut c, "SELECT count(*) FROM doctors WHERE on_call") >= 1);
}

/// The same schedule under REPEATABLE READ shows why SERIALIZABLE exists:
/// both commit (snapshot isolation allows write skew), as in PostgreSQL.
#[test]
fn write_skew_is_possible_under_repeatable_read() {
    let db = db();
    let mut a = conn(&db);
    let mut b = conn(&db);
    exec(
        &mut a,
        "CREATE TABLE doctors (name text PRIMARY KEY, on_call bool NOT NULL)",
    );
    exec(
        &mut a,
        "INSERT INTO doctors VALUES ('alice', true), ('bob', true)",
    );
    exec(&mut a, "BEGIN ISOLATION LEVEL REPEATABLE READ");
    exec(&mut b, "BEGIN ISOLATION LEVEL REPEATABLE READ");
    assert_eq!(
        scalar(&mut a, "SELECT count(*) FROM doctors WHERE on_call"),
        2
    );
    assert_eq!(
        scalar(&mut b, "SELECT count(*) FROM doctors WHERE on_call"),
        2
    );
    exec(
        &mut a,
        "UPDATE doctors SET on_call = false WHERE name = 'alice'",
    );
    exec(
        &mut b,
        "UPDATE doctors SET on_call = false WHERE name = 'bob'",
    );
    exec(&mut a, "COMMIT");
    exec(&mut b, "COMMIT");
    let mut c = conn(&db);
    assert_eq!(
        scalar(&mut c, "SELECT count(*) FROM doctors WHERE on_call"),
        0
    );
}

#[test]
fn deadlock_is_detected_with_40p01() {
    let db = db();
    let mut a = conn(&db);
    let mut b = conn(&db);
    exec(
        &mut a,
        "CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL)",
    );
    exec(&mut a, "INSERT INTO t VALUES (1, 0), (2, 0)");
    exec(&mut a, "BEGIN");
    exec(&mut b, "BEGIN");
    exec(&mut a, "UPDATE t SET v = 1 WHERE id = 1");
    exec(&mut b, "UPDATE t SET v = 2 WHERE id = 2");
    let db2 = db.clone();
    let other = thread::spawn(move || {
        let _keep = db2;
        let code = sqlstate(&mut b, "UPDATE t SET v = 2 WHERE id = 1");
        let _ = b.execute("ROLLBACK");
        code
    });
    thread::sleep(Duration::from_millis(100));
    let mine = sqlstate(&mut a, "UPDATE t SET v = 1 WHERE id = 2");
    let _ = a.execute("ROLLBACK");
    let theirs = other.join().expect("other");
    let codes = [mine.as_str(), theirs.as_str()];
    assert!(
        codes.contains(&"40P01"),
        "expected a deadlock error, got {codes:?}"
    );
}

#[test]
fn lock_timeout_and_statement_timeout() {
    let db = db();
    let mut a = conn(&db);
    let mut b = conn(&db);
    exec(
        &mut a,
        "CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL)",
    );
    exec(&mut a, "INSERT INTO t VALUES (1, 0)");
    exec(&mut a, "BEGIN");
    exec(&mut a, "SELECT v FROM t WHERE id = 1 FOR UPDATE");
    exec(&mut b, "SET lock_timeout = '100ms'");
    assert_eq!(sqlstate(&mut b, "UPDATE t SET v = 1 WHERE id = 1"), "55P03");
    exec(&mut b, "RESET lock_timeout");
    exec(&mut b, "SET statement_timeout = 150");
    assert_eq!(sqlstate(&mut b, "UPDATE t SET v = 1 WHERE id = 1"), "57014");
    exec(&mut a, "COMMIT");
    assert_eq!(sqlstate(&mut b, "UPDATE t SET v = 1 WHERE id = 1"), "ok");
}

#[test]
fn failed_statement_aborts_the_block_until_rollback() {
    let db = db();
    let mut a = conn(&db);
    exec(&mut a, "CREATE TABLE t (id int PRIMARY KEY)");
    exec(&mut a, "BEGIN");
    exec(&mut a, "INSERT INTO t VALUES (1)");
    assert_eq!(sqlstate(&mut a, "INSERT INTO t VALUES (1)"), "23505");
    assert_eq!(a.transaction_status(), TransactionStatus::Failed);
    assert_eq!(sqlstate(&mut a, "SELECT 1"), "25P02");
    let r = a.execute("COMMIT").expect("commit of a failed block");
    assert_eq!(r.tag(), "ROLLBACK");
    assert_eq!(a.transaction_status(), TransactionStatus::Idle);
    assert_eq!(scalar(&mut a, "SELECT count(*) FROM t"), 0);
}

#[test]
fn savepoints_undo_part_of_a_block() {
    let db = db();
    let mut a = conn(&db);
    exec(&mut a, "CREATE TABLE t (id int PRIMARY KEY)");
    exec(&mut a, "BEGIN");
    exec(&mut a, "INSERT INTO t VALUES (1)");
    exec(&mut a, "SAVEPOINT s1");
    exec(&mut a, "INSERT INTO t VALUES (2)");
    assert_eq!(sqlstate(&mut a, "INSERT INTO t VALUES (2)"), "23505");
    exec(&mut a, "ROLLBACK TO SAVEPOINT s1");
    assert_eq!(a.transaction_status(), TransactionStatus::InBlock);
    exec(&mut a, "INSERT INTO t VALUES (3)");
    exec(&mut a, "RELEASE s1");
    exec(&mut a, "COMMIT");
    let r = a.execute("SELECT id FROM t ORDER BY id").expect("select");
    let ids: Vec<i64> = r.rows().filter_map(|r| r.get_i64(0)).collect();
    assert_eq!(ids, vec![1, 3]);
}

#[test]
fn multi_statement_string_is_one_implicit_transaction() {
    let db = db();
    let mut a = conn(&db);
    exec(&mut a, "CREATE TABLE t (id int PRIMARY KEY)");
    assert!(a
        .execute("INSERT INTO t VALUES (1); INSERT INTO t VALUES (1)")
        .is_err());
    assert_eq!(scalar(&mut a, "SELECT count(*) FROM t"), 0);
    exec(&mut a, "INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)");
    assert_eq!(scalar(&mut a, "SELECT count(*) FROM t"), 2);
}

/// ROLLBACK TO SAVEPOINT releases the row locks taken after the savepoint
/// and keeps the ones taken before (an upgrade goes back to shared), as in
/// PostgreSQL.
#[test]
fn rollback_to_savepoint_releases_later_row_locks() {
    let db = db();
    let mut a = conn(&db);
    let mut b = conn(&db);
    exec(&mut a, "CREATE TABLE rl (id int PRIMARY KEY, v int)");
    exec(&mut a, "INSERT INTO rl VALUES (1, 0), (2, 0)");
    exec(&mut b, "SET lock_timeout = '100ms'");

    exec(&mut a, "BEGIN");
    exec(&mut a, "SELECT * FROM rl WHERE id = 2 FOR SHARE");
    exec(&mut a, "SAVEPOINT s");
    exec(&mut a, "UPDATE rl SET v = 1 WHERE id = 1");
    exec(&mut a, "SELECT * FROM rl WHERE id = 2 FOR UPDATE");
    // While the savepoint's work stands, both rows are locked.
    assert_eq!(
        sqlstate(&mut b, "UPDATE rl SET v = 9 WHERE id = 1"),
        "55P03"
    );
    assert_eq!(
        sqlstate(&mut b, "SELECT * FROM rl WHERE id = 2 FOR SHARE"),
        "55P03"
    );
    exec(&mut a, "ROLLBACK TO SAVEPOINT s");
    // Row 1's lock is gone; row 2 is share-locked again, not free.
    assert_eq!(sqlstate(&mut b, "UPDATE rl SET v = 9 WHERE id = 1"), "ok");
    assert_eq!(
        sqlstate(&mut b, "SELECT * FROM rl WHERE id = 2 FOR SHARE"),
        "ok"
    );
    assert_eq!(
        sqlstate(&mut b, "UPDATE rl SET v = 9 WHERE id = 2"),
        "55P03"
    );
    exec(&mut a, "COMMIT");
    assert_eq!(sqlstate(&mut b, "UPDATE rl SET v = 9 WHERE id = 2"), "ok");
    assert_eq!(scalar(&mut a, "SELECT sum(v) FROM rl"), 18);
}

/// TRUNCATE and ALTER TABLE hold the table exclusively until their
/// transaction ends (PostgreSQL's ACCESS EXCLUSIVE): they wait for open
/// writers, readers and writers wait for them, and rolling one back loses
/// no other transaction's writes.
#[test]
fn ddl_waits_for_writers_and_its_rollback_loses_nothing() {
    let db = db();
    let mut a = conn(&db);
    let mut b = conn(&db);
    exec(&mut a, "CREATE TABLE tl (id int PRIMARY KEY, v int)");
    exec(
        &mut a,
        "INSERT INTO tl SELECT g, g FROM generate_series(1, 10) g",
    );
    exec(&mut b, "SET lock_timeout = '100ms'");

    // An open writer keeps TRUNCATE and ALTER out.
    exec(&mut a, "BEGIN");
    exec(&mut a, "INSERT INTO tl VALUES (11, 11)");
    assert_eq!(sqlstate(&mut b, "TRUNCATE tl"), "55P03");
    assert_eq!(sqlstate(&mut b, "ALTER TABLE tl ADD COLUMN w int"), "55P03");
    exec(&mut a, "COMMIT");

    // An uncommitted TRUNCATE: readers and writers wait instead of seeing
    // or writing into its replaced contents.
    exec(&mut a, "BEGIN");
    exec(&mut a, "TRUNCATE tl");
    assert_eq!(sqlstate(&mut b, "SELECT count(*) FROM tl"), "55P03");
    assert_eq!(sqlstate(&mut b, "INSERT INTO tl VALUES (12, 12)"), "55P03");

    // A writer that waits goes ahead once the TRUNCATE rolls back, and its
    // row survives.
    let db2 = Arc::clone(&db);
    let writer = thread::spawn(move || {
        let mut c = conn(&db2);
        exec(&mut c, "INSERT INTO tl VALUES (12, 12)");
    });
    thread::sleep(Duration::from_millis(150));
    exec(&mut a, "ROLLBACK");
    writer.join().expect("writer thread");
    assert_eq!(scalar(&mut b, "SELECT count(*) FROM tl"), 12);
    assert_eq!(scalar(&mut b, "SELECT sum(v) FROM tl"), 78);
}

/// A statement that reads one table and writes nothing runs without a
/// storage transaction of its own (an autocommit read). Under an
/// uncommitted TRUNCATE it still waits, as PostgreSQL's readers do: the
/// session runs it again in a transaction, which waits under the
/// statement's bounds and then sees what the TRUNCATE's end left.
#[test]
fn autocommit_reads_wait_for_uncommitted_ddl_under_the_statement_bounds() {
    let db = db();
    let mut a = conn(&db);
    let mut b = conn(&db);
    exec(&mut a, "CREATE TABLE ar (id int PRIMARY KEY, v int)");
    exec(
        &mut a,
        "INSERT INTO ar SELECT g, g FROM generate_series(1, 10) g",
    );
    let point = b
        .prepare("SELECT v FROM ar WHERE id = $1")
        .expect("prepare");
    // Nothing uncommitted is seen, and the next read sees the commit.
    exec(&mut a, "BEGIN");
    exec(&mut a, "UPDATE ar SET v = 100 WHERE id = 3");
    let v = |b: &mut Connection| {
        let r = b.query(&point, &[Value::Int4(3)]).expect("point read");
        let v = r.rows().next().and_then(|row| row.get(0).cloned());
        v
    };
    assert_eq!(v(&mut b), Some(Value::Int4(3)));
    exec(&mut a, "COMMIT");
    assert_eq!(v(&mut b), Some(Value::Int4(100)));

    // Under an uncommitted TRUNCATE, the statement timeout bounds the wait.
    exec(&mut a, "BEGIN");
    exec(&mut a, "TRUNCATE ar");
    exec(&mut b, "SET statement_timeout = '100ms'");
    let err = b.query(&point, &[Value::Int4(3)]).expect_err("times out");
    assert_eq!(err.sqlstate.as_str(), "57014", "{err}");
    assert_eq!(sqlstate(&mut b, "SELECT count(*) FROM ar"), "57014");
    exec(&mut b, "SET statement_timeout = 0");

    // Without bounds it waits, and sees the rows once the TRUNCATE rolls back.
    let db2 = Arc::clone(&db);
    let reader = thread::spawn(move || {
        let mut c = conn(&db2);
        scalar(&mut c, "SELECT count(*) FROM ar")
    });
    thread::sleep(Duration::from_millis(200));
    exec(&mut a, "ROLLBACK");
    // Reading the truncated contents would give 0.
    assert_eq!(reader.join().expect("reader thread"), 10);
    assert_eq!(v(&mut b), Some(Value::Int4(100)));
}
