//! The kernel session's plan cache for statements that differ only in
//! literals: results, column types, command tags and errors must be what
//! the uncached path gives. The reference runs each statement behind a
//! nested comment (`/* /* */ */`), which the literal scanner leaves to the
//! parser, so it takes the parse-and-plan path.

use aiondb_embedded::{Connection, Database};

const UNCACHED: &str = "/* /* */ */ ";

/// Everything a client sees of one statement's outcome.
fn outcome(c: &mut Connection, sql: &str) -> String {
    match c.execute(sql) {
        Ok(r) => {
            let cols: Vec<String> = r
                .columns()
                .iter()
                .map(|f| format!("{}:{:?}", f.name, f.data_type))
                .collect();
            format!("{} {:?} {:?}", r.tag(), cols, r.to_text())
        }
        Err(e) => format!("ERROR {} {}", e.sqlstate, e.message),
    }
}

fn setup(c: &mut Connection, table: &str) {
    c.execute(&format!(
        "CREATE TABLE {table} (id int PRIMARY KEY, name text, code varchar(5), born date, \
         big bigint, amount numeric(10,2), small smallint)"
    ))
    .expect("create");
    c.execute(&format!(
        "INSERT INTO {table} VALUES (1, 'x', 'ab', '2020-01-02', 5000000000, 1.50, 3), \
         (2, 'y', 'cd', '2021-03-04', 7, 2.25, 4), (3, 'it''s', 'ef', '1999-12-31', -1, 0, 5)"
    ))
    .expect("insert");
}

fn connection() -> (Database, Connection) {
    let db = Database::in_memory().expect("db");
    let c = db
        .connect_anonymous("main", "literal-cache")
        .expect("connect");
    (db, c)
}

/// A connection to a database with the same table twice, `a` and `b`.
fn twins() -> (Database, Connection) {
    let (db, mut c) = connection();
    setup(&mut c, "a");
    setup(&mut c, "b");
    (db, c)
}

/// Runs `sql` (with `{t}` for the table) cached on table `a` and uncached
/// on table `b` (identical), and asserts both outcomes agree.
fn same(c: &mut Connection, sql: &str) -> String {
    let cached = outcome(c, &sql.replace("{t}", "a"));
    let reference = outcome(c, &format!("{UNCACHED}{}", sql.replace("{t}", "b")));
    assert_eq!(cached, reference, "{sql}");
    cached
}

#[test]
fn literal_varying_statements_match_the_uncached_path() {
    let (_db, mut c) = twins();
    // Each shape runs with several literals: the first plans, the others
    // reuse the plan.
    for id in [
        "1",
        "2",
        "3",
        "4",
        "-1",
        "2147483647",
        "5000000000",
        "1.5",
        "'2'",
    ] {
        same(&mut c, &format!("SELECT name FROM {{t}} WHERE id = {id}"));
        same(&mut c, &format!("SELECT id FROM {{t}} WHERE big = {id}"));
        same(&mut c, &format!("SELECT id FROM {{t}} WHERE amount > {id}"));
        same(&mut c, &format!("SELECT id FROM {{t}} WHERE small < {id}"));
        same(
            &mut c,
            &format!("SELECT id, id * {id} FROM {{t}} WHERE id <> 2"),
        );
    }
    for name in ["'x'", "'y'", "'it''s'", "''", "'$1'", "'--'", "'/*'", "1"] {
        same(&mut c, &format!("SELECT id FROM {{t}} WHERE name = {name}"));
        same(&mut c, &format!("SELECT id FROM {{t}} WHERE code = {name}"));
        same(
            &mut c,
            &format!("SELECT id FROM {{t}} WHERE code <= {name}"),
        );
    }
    // Dates: valid, invalid (22007/22008 as the literal reports it), and a
    // string that is no date at all.
    for d in [
        "'2020-01-02'",
        "'1999-12-31'",
        "'2020-02-30'",
        "'nope'",
        "'2021-03-04'",
    ] {
        same(&mut c, &format!("SELECT id FROM {{t}} WHERE born = {d}"));
        same(&mut c, &format!("SELECT id FROM {{t}} WHERE born >= {d}"));
    }
    // Integer literals whose parameter type does not accept the string.
    for v in ["'1'", "'x'", "'1.5'", "'99999999999'"] {
        same(&mut c, &format!("SELECT name FROM {{t}} WHERE id = {v}"));
        same(&mut c, &format!("SELECT name FROM {{t}} WHERE small = {v}"));
    }
    // Expression typing: int4 arithmetic overflows as int4, int / int
    // truncates, numeric does not.
    for (sql, want) in [
        ("SELECT 1 + 2147483647", "ERROR 22003"),
        ("SELECT 1 + 2147483646", "SELECT 1"),
        ("SELECT 1 + 5000000000", "SELECT 1"),
        ("SELECT 7 / 2", "SELECT 1"),
        ("SELECT 7.0 / 2", "SELECT 1"),
        ("SELECT 7 / 2.0", "SELECT 1"),
        ("SELECT 7 / 0", "ERROR 22012"),
        ("SELECT 7 % 3", "SELECT 1"),
        ("SELECT 'a' || 'b'", "SELECT 1"),
        ("SELECT 'a' = 'a'", "SELECT 1"),
        ("SELECT 'a' < 'b'", "SELECT 1"),
        ("SELECT 2 * -3", "SELECT 1"),
        ("SELECT 2 * -2147483648", "ERROR 22003"),
        ("SELECT 1 = 1.0", "SELECT 1"),
    ] {
        for _ in 0..2 {
            let got = same(&mut c, sql);
            assert!(got.starts_with(want), "{sql}: {got}");
        }
    }
    assert!(same(&mut c, "SELECT 7 / 2").contains("\"3\""));
    assert!(same(&mut c, "SELECT 7.0 / 2").contains("3.5"));
}

#[test]
fn writes_and_ddl_invalidation() {
    let (_db, mut c) = twins();
    for (id, delta) in [(1, "-4321"), (2, "17"), (3, "- 5"), (9, "1"), (1, "2.5")] {
        let got = same(
            &mut c,
            &format!("UPDATE {{t}} SET amount = amount + {delta} WHERE id = {id}"),
        );
        assert!(got.starts_with("UPDATE"), "{got}");
        same(
            &mut c,
            &format!("UPDATE {{t}} SET small = small * {delta} WHERE id = {id}"),
        );
        same(
            &mut c,
            &format!("UPDATE {{t}} SET name = 'n{id}' WHERE id = {id}"),
        );
    }
    // Overflow of the smallint column is the assignment's error.
    same(&mut c, "UPDATE {t} SET small = 100000 WHERE id = 2");
    same(&mut c, "UPDATE {t} SET code = 'toolong' WHERE id = 2");
    same(&mut c, "DELETE FROM {t} WHERE id = 3 RETURNING name");
    same(
        &mut c,
        "INSERT INTO {t} SELECT id + 10, name FROM {t} WHERE id = 1",
    );
    same(
        &mut c,
        "INSERT INTO {t} (id) SELECT 20 WHERE 1 = 1 RETURNING id",
    );
    same(&mut c, "INSERT INTO {t} (id) SELECT 21 WHERE 2 = 2");
    assert_eq!(
        outcome(&mut c, "SELECT * FROM a ORDER BY id"),
        outcome(&mut c, "SELECT * FROM b ORDER BY id")
    );
    // Changing a column's type re-plans: the cached int4 comparison on a
    // text column would be wrong.
    same(&mut c, "SELECT id FROM {t} WHERE small = 4");
    c.execute("ALTER TABLE a ALTER COLUMN small TYPE text")
        .expect("alter a");
    c.execute("ALTER TABLE b ALTER COLUMN small TYPE text")
        .expect("alter b");
    let after = same(&mut c, "SELECT id FROM {t} WHERE small = 4");
    assert!(after.starts_with("ERROR 42883"), "{after}");
    let after = same(&mut c, "SELECT id FROM {t} WHERE small = '4'");
    assert!(after.starts_with("SELECT"), "{after}");
    // Dropping a column used by the cached plan.
    same(&mut c, "SELECT id FROM {t} WHERE big = 7");
    c.execute("ALTER TABLE a DROP COLUMN big").expect("drop a");
    c.execute("ALTER TABLE b DROP COLUMN big").expect("drop b");
    let after = same(&mut c, "SELECT id FROM {t} WHERE big = 7");
    assert!(after.starts_with("ERROR 42703"), "{after}");
    // In an aborted transaction the cached statement is refused too.
    c.execute("BEGIN").expect("begin");
    assert!(c.execute("SELECT 1 / 0").is_err());
    let err = outcome(&mut c, "SELECT id FROM a WHERE id = 1");
    assert!(err.starts_with("ERROR 25P02"), "{err}");
    c.execute("ROLLBACK").expect("rollback");
    assert!(outcome(&mut c, "SELECT id FROM a WHERE id = 1").starts_with("SELECT 1"));
}

#[test]
fn insert_values_match_the_uncached_path() {
    let (_db, mut c) = twins();
    // The same shape with several literals: the first plans, the others
    // reuse the plan; each value takes its column's type.
    for (id, name, born, big, amount, small) in [
        ("10", "'p'", "'2001-02-03'", "1", "1.5", "2"),
        ("11", "'it''s'", "'1999-01-01'", "-5000000000", "-3", "-7"),
        ("12", "'12'", "'2020-02-29'", "7", "100", "0"),
    ] {
        let got = same(
            &mut c,
            &format!(
                "INSERT INTO {{t}} (id, name, born, big, amount, small) \
                 VALUES ({id}, {name}, {born}, {big}, {amount}, {small}) RETURNING *"
            ),
        );
        assert!(got.starts_with("INSERT 0 1"), "{got}");
    }
    // Several rows; a number into a text column; NULL and DEFAULT.
    same(
        &mut c,
        "INSERT INTO {t} VALUES (20, 'a', 'x', NULL, 1, 2.5, 3), (21, 5, DEFAULT, '2000-01-01', -2, 0, 1)",
    );
    // Each literal's own error, as the uncached path reports it.
    for bad in [
        "INSERT INTO {t} (id, born) VALUES (30, 'not a date')",
        "INSERT INTO {t} (id, small) VALUES (31, 100000)",
        "INSERT INTO {t} (id, code) VALUES (32, 'toolong')",
        "INSERT INTO {t} (id, amount) VALUES (33, 123456789.5)",
        "INSERT INTO {t} (id, name) VALUES ('x', 'y')",
        "INSERT INTO {t} (id) VALUES (3000000000)",
    ] {
        let got = same(&mut c, bad);
        assert!(got.starts_with("ERROR"), "{bad}: {got}");
    }
    same(
        &mut c,
        "INSERT INTO {t} (id, name) VALUES (40, 'x') ON CONFLICT (id) DO UPDATE SET name = 'z'",
    );
    same(
        &mut c,
        "INSERT INTO {t} (id, name) VALUES (40, 'x') ON CONFLICT (id) DO UPDATE SET name = 'w'",
    );
    assert_eq!(
        outcome(&mut c, "SELECT * FROM a ORDER BY id"),
        outcome(&mut c, "SELECT * FROM b ORDER BY id")
    );
}

#[test]
fn transaction_commands_from_the_cache() {
    let (_db, mut c) = connection();
    c.execute("CREATE TABLE t (a int)").expect("create");
    // BEGIN/END/ROLLBACK plans come from the cache after the first time:
    // each must still do its job.
    for i in 0..3 {
        c.execute("BEGIN").expect("begin");
        c.execute(&format!("INSERT INTO t VALUES ({i})"))
            .expect("insert");
        c.execute("END").expect("end");
        c.execute("BEGIN").expect("begin");
        c.execute("INSERT INTO t VALUES (100)").expect("insert");
        c.execute("ROLLBACK").expect("rollback");
        c.execute("begin isolation level repeatable read")
            .expect("begin rr");
        let level = c
            .execute("SHOW transaction_isolation")
            .expect("show")
            .to_text();
        assert_eq!(level, vec![vec![Some("repeatable read".to_string())]]);
        c.execute("COMMIT").expect("commit");
    }
    let rows = c
        .execute("SELECT a FROM t ORDER BY a")
        .expect("select")
        .to_text();
    assert_eq!(
        rows,
        vec![
            vec![Some("0".to_string())],
            vec![Some("1".to_string())],
            vec![Some("2".to_string())]
        ]
    );
    // COMMIT outside a block warns, as the first time.
    let r = c.execute("COMMIT").expect("commit");
    assert_eq!(r.tag(), "COMMIT");
}
