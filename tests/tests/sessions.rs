//! State that belongs to one session: `currval`/`lastval` (as in
//! PostgreSQL, each session sees the values it obtained itself), and what
//! happens to a session's open transaction when it goes away.

use aiondb_embedded::{Connection, Database};

fn int(c: &mut Connection, sql: &str) -> i64 {
    let r = c.execute(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let text = r.to_text();
    let v = text
        .first()
        .and_then(|row| row.first().cloned().flatten())
        .unwrap_or_else(|| panic!("{sql}: no value"));
    v.parse()
        .unwrap_or_else(|_| panic!("{sql}: {v} is not an integer"))
}

fn sqlstate(c: &mut Connection, sql: &str) -> String {
    match c.execute(sql) {
        Ok(_) => "ok".into(),
        Err(e) => e.sqlstate.to_string(),
    }
}

#[test]
fn currval_and_lastval_are_per_session() {
    let db = Database::in_memory().expect("db");
    let mut a = db.connect_anonymous("main", "a").expect("connect a");
    let mut b = db.connect_anonymous("main", "b").expect("connect b");
    a.execute("CREATE TABLE items (id serial PRIMARY KEY, name text)")
        .expect("create");
    a.execute("CREATE SEQUENCE other START 100")
        .expect("sequence");

    // Nothing obtained yet in either session.
    assert_eq!(sqlstate(&mut a, "SELECT currval('items_id_seq')"), "55000");
    assert_eq!(sqlstate(&mut b, "SELECT lastval()"), "55000");

    a.execute("INSERT INTO items (name) VALUES ('a1')")
        .expect("insert");
    b.execute("INSERT INTO items (name) VALUES ('b1')")
        .expect("insert");
    a.execute("INSERT INTO items (name) VALUES ('a2')")
        .expect("insert");
    // Each session sees its own last value, not the sequence's.
    assert_eq!(int(&mut a, "SELECT currval('items_id_seq')"), 3);
    assert_eq!(int(&mut b, "SELECT currval('items_id_seq')"), 2);
    assert_eq!(int(&mut b, "SELECT lastval()"), 2);

    // lastval follows the most recent sequence of the session.
    assert_eq!(int(&mut b, "SELECT nextval('other')"), 100);
    assert_eq!(int(&mut b, "SELECT lastval()"), 100);
    assert_eq!(int(&mut a, "SELECT lastval()"), 3);
    assert_eq!(sqlstate(&mut a, "SELECT currval('other')"), "55000");

    // setval(..., true) defines currval; setval(..., false) does not.
    assert_eq!(int(&mut a, "SELECT setval('other', 500)"), 500);
    assert_eq!(int(&mut a, "SELECT currval('other')"), 500);
    assert_eq!(int(&mut a, "SELECT lastval()"), 500);
    let mut c = db.connect_anonymous("main", "c").expect("connect c");
    c.execute("SELECT setval('other', 600, false)")
        .expect("setval");
    assert_eq!(sqlstate(&mut c, "SELECT currval('other')"), "55000");
    assert_eq!(int(&mut c, "SELECT nextval('other')"), 600);

    // A dropped sequence leaves lastval undefined.
    c.execute("DROP SEQUENCE other").expect("drop");
    assert_eq!(sqlstate(&mut c, "SELECT lastval()"), "55000");
    assert_eq!(int(&mut a, "SELECT currval('items_id_seq')"), 3);
}

#[test]
fn a_closed_session_rolls_back_and_releases_its_locks() {
    let db = Database::in_memory().expect("db");
    let mut a = db.connect_anonymous("main", "a").expect("connect a");
    a.execute("CREATE TABLE acct (id int PRIMARY KEY, balance int)")
        .expect("create");
    a.execute("INSERT INTO acct VALUES (1, 100)")
        .expect("insert");
    {
        let mut b = db.connect_anonymous("main", "b").expect("connect b");
        b.execute("BEGIN").expect("begin");
        b.execute("UPDATE acct SET balance = 0 WHERE id = 1")
            .expect("update");
        // b goes away mid-transaction (a client disconnecting).
    }
    // Its update is rolled back and the row lock is free: this would wait
    // forever (here: fail with 55P03) if b's transaction were still open.
    a.execute("SET lock_timeout = '200ms'").expect("set");
    a.execute("UPDATE acct SET balance = balance + 1 WHERE id = 1")
        .expect("row lock was released");
    assert_eq!(int(&mut a, "SELECT balance FROM acct WHERE id = 1"), 101);
}
