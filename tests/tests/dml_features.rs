//! Generated columns, short INSERT value lists, FULL JOIN USING, data-
//! modifying CTEs and window-function errors, end to end through the
//! embedded API. Expected values and SQLSTATEs were checked against
//! PostgreSQL 15.

use aiondb_embedded::{Connection, Database};

fn db() -> (Database, Connection) {
    let db = Database::in_memory().expect("db");
    let c = db.connect_anonymous("main", "features").expect("connect");
    (db, c)
}

fn ok(c: &mut Connection, sql: &str) {
    c.execute(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Rows as text, NULL as "NULL", columns joined with '|'.
fn rows(c: &mut Connection, sql: &str) -> Vec<String> {
    let r = c.execute(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    r.to_text()
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|v| v.unwrap_or_else(|| "NULL".into()))
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

/// "SQLSTATE: message" of a failing statement.
fn error(c: &mut Connection, sql: &str) -> String {
    match c.execute(sql) {
        Ok(_) => panic!("{sql} should fail"),
        Err(e) => format!("{}: {}", e.sqlstate, e.message),
    }
}

#[test]
fn stored_generated_columns() {
    let (_db, mut c) = db();
    ok(
        &mut c,
        "CREATE TABLE g (a int PRIMARY KEY, b int GENERATED ALWAYS AS (a * 2) STORED, c text)",
    );
    ok(
        &mut c,
        "INSERT INTO g VALUES (1, DEFAULT, 'x'), (2, DEFAULT, 'y')",
    );
    ok(&mut c, "INSERT INTO g (a, c) SELECT 3, 'z'");
    ok(&mut c, "INSERT INTO g VALUES (4)");
    assert_eq!(
        rows(&mut c, "UPDATE g SET a = a + 10 WHERE a = 4 RETURNING *"),
        ["14|28|NULL"]
    );
    assert_eq!(
        rows(
            &mut c,
            "INSERT INTO g VALUES (1) ON CONFLICT (a) DO UPDATE SET a = excluded.a + 100 RETURNING *"
        ),
        ["101|202|x"]
    );
    assert_eq!(
        rows(&mut c, "SELECT a, b FROM g ORDER BY a"),
        ["2|4", "3|6", "14|28", "101|202"]
    );
    assert_eq!(
        error(&mut c, "INSERT INTO g VALUES (5, 10)"),
        "428C9: cannot insert a non-DEFAULT value into column \"b\""
    );
    assert_eq!(
        error(&mut c, "INSERT INTO g (a, b) SELECT 5, 10"),
        "428C9: cannot insert a non-DEFAULT value into column \"b\""
    );
    assert_eq!(
        error(&mut c, "UPDATE g SET b = 1"),
        "428C9: column \"b\" can only be updated to DEFAULT"
    );
    assert_eq!(
        error(
            &mut c,
            "INSERT INTO g VALUES (2) ON CONFLICT (a) DO UPDATE SET b = 5"
        ),
        "428C9: column \"b\" can only be updated to DEFAULT"
    );
    ok(&mut c, "UPDATE g SET b = DEFAULT, a = a + 1000 WHERE a = 2");
    assert_eq!(
        rows(&mut c, "SELECT a, b FROM g WHERE a > 1000"),
        ["1002|2004"]
    );
    assert_eq!(
        error(
            &mut c,
            "CREATE TABLE g2 (a int, b int GENERATED ALWAYS AS (a * 2) STORED DEFAULT 3)"
        ),
        "42601: both default and generation expression specified for column \"b\" of table \"g2\""
    );
    assert_eq!(
        error(
            &mut c,
            "CREATE TABLE g2 (a int, b int GENERATED ALWAYS AS (b * 2) STORED)"
        ),
        "42P17: cannot use generated column \"b\" in column generation expression"
    );
    assert_eq!(
        error(
            &mut c,
            "CREATE TABLE g2 (a int, b int GENERATED ALWAYS AS (nosuch * 2) STORED)"
        ),
        "42703: column \"nosuch\" does not exist"
    );
}

#[test]
fn insert_without_column_list_fills_leading_columns() {
    let (_db, mut c) = db();
    ok(&mut c, "CREATE TABLE z (a int, b text, c int DEFAULT 5)");
    ok(&mut c, "INSERT INTO z VALUES (1), (2)");
    ok(&mut c, "INSERT INTO z SELECT 7");
    assert_eq!(
        rows(&mut c, "SELECT * FROM z ORDER BY a"),
        ["1|NULL|5", "2|NULL|5", "7|NULL|5"]
    );
    assert_eq!(
        error(&mut c, "INSERT INTO z VALUES (1), (2, 'x')"),
        "42601: VALUES lists must all be the same length"
    );
    assert_eq!(
        error(&mut c, "INSERT INTO z VALUES (1, 'a', 3, 4)"),
        "42601: INSERT has more expressions than target columns"
    );
    assert_eq!(
        error(&mut c, "INSERT INTO z (a, b) VALUES (1)"),
        "42601: INSERT has more target columns than expressions"
    );
}

#[test]
fn full_join_using_merges_the_key() {
    let (_db, mut c) = db();
    ok(&mut c, "CREATE TABLE fa (k int, av text)");
    ok(&mut c, "CREATE TABLE fb (k int, bv text)");
    ok(
        &mut c,
        "INSERT INTO fa VALUES (1, 'a1'), (2, 'a2'), (NULL, 'an')",
    );
    ok(&mut c, "INSERT INTO fb VALUES (2, 'b2'), (3, 'b3')");
    assert_eq!(
        rows(
            &mut c,
            "SELECT * FROM fa FULL JOIN fb USING (k) ORDER BY k, av"
        ),
        ["1|a1|NULL", "2|a2|b2", "3|NULL|b3", "NULL|an|NULL"]
    );
    assert_eq!(
        rows(
            &mut c,
            "SELECT k, fa.k, fb.k FROM fa FULL JOIN fb USING (k) ORDER BY 1, 2"
        ),
        ["1|1|NULL", "2|2|2", "3|NULL|3", "NULL|NULL|NULL"]
    );
    assert_eq!(
        rows(
            &mut c,
            "SELECT count(*) FROM fa FULL JOIN fb USING (k) WHERE k IS NOT NULL"
        ),
        ["3"]
    );
}

#[test]
fn using_columns_come_first_in_star() {
    let (_db, mut c) = db();
    ok(&mut c, "CREATE TABLE ua (x text, k int, y int)");
    ok(&mut c, "CREATE TABLE ub (z text, k int)");
    ok(&mut c, "CREATE TABLE uc (k int, w text)");
    ok(&mut c, "INSERT INTO ua VALUES ('a', 1, 10), ('b', 2, 20)");
    ok(&mut c, "INSERT INTO ub VALUES ('p', 2), ('q', 3)");
    ok(&mut c, "INSERT INTO uc VALUES (2, 'w2')");
    assert_eq!(
        rows(&mut c, "SELECT * FROM ua JOIN ub USING (k)"),
        ["2|b|20|p"]
    );
    assert_eq!(
        rows(&mut c, "SELECT * FROM ua NATURAL JOIN ub"),
        ["2|b|20|p"]
    );
    assert_eq!(
        rows(
            &mut c,
            "SELECT * FROM ua RIGHT JOIN ub USING (k) ORDER BY 1"
        ),
        ["2|b|20|p", "3|NULL|NULL|q"]
    );
    assert_eq!(
        rows(
            &mut c,
            "SELECT ua.*, k FROM ua LEFT JOIN ub USING (k) ORDER BY 1"
        ),
        ["a|1|10|1", "b|2|20|2"]
    );
    assert_eq!(
        rows(
            &mut c,
            "SELECT * FROM ua JOIN ub USING (k) JOIN uc USING (k)"
        ),
        ["2|b|20|p|w2"]
    );
    assert_eq!(
        error(&mut c, "SELECT * FROM ua JOIN ub USING (k, k)"),
        "42701: column name \"k\" appears more than once in USING clause"
    );
}

#[test]
fn data_modifying_ctes() {
    let (_db, mut c) = db();
    ok(&mut c, "CREATE TABLE src (id int, name text)");
    ok(&mut c, "CREATE TABLE dst (id int, name text)");
    ok(
        &mut c,
        "INSERT INTO src VALUES (1, 'a'), (2, 'b'), (5, 'e'), (6, 'f')",
    );
    let mut moved = rows(
        &mut c,
        "WITH m AS (DELETE FROM src WHERE id >= 5 RETURNING id, name) \
         INSERT INTO dst SELECT id, name FROM m RETURNING id, name",
    );
    moved.sort();
    assert_eq!(moved, ["5|e", "6|f"]);
    assert_eq!(rows(&mut c, "SELECT count(*) FROM src"), ["2"]);
    assert_eq!(
        rows(
            &mut c,
            "WITH u AS (UPDATE src SET name = upper(name) RETURNING id) SELECT count(*) FROM u"
        ),
        ["2"]
    );
    assert_eq!(rows(&mut c, "SELECT name FROM src ORDER BY id"), ["A", "B"]);
    assert_eq!(
        rows(
            &mut c,
            "WITH i AS (INSERT INTO src VALUES (9, 'i') RETURNING id * 10 AS x) \
             UPDATE dst SET id = id + (SELECT x FROM i) RETURNING id"
        )
        .len(),
        2
    );
    assert_eq!(rows(&mut c, "SELECT id FROM dst ORDER BY id"), ["95", "96"]);
    assert_eq!(
        error(
            &mut c,
            "WITH d AS (DELETE FROM src WHERE id = 1) SELECT * FROM d"
        ),
        "0A000: WITH query \"d\" does not have a RETURNING clause"
    );
    assert_eq!(
        error(
            &mut c,
            "SELECT * FROM (WITH d AS (DELETE FROM src RETURNING id) SELECT * FROM d) s"
        ),
        "0A000: WITH clause containing a data-modifying statement must be at the top level"
    );
    // Nothing above deleted anything by mistake.
    assert_eq!(rows(&mut c, "SELECT count(*) FROM src"), ["3"]);
}

#[test]
fn cte_name_errors() {
    let (_db, mut c) = db();
    assert_eq!(
        error(
            &mut c,
            "WITH RECURSIVE t(n) AS (SELECT n FROM t UNION ALL SELECT 1) SELECT * FROM t"
        ),
        "42P19: recursive reference to query \"t\" must not appear within its non-recursive term"
    );
    assert_eq!(
        error(
            &mut c,
            "WITH a AS (SELECT 1), a AS (SELECT 2) SELECT * FROM a"
        ),
        "42712: WITH query name \"a\" specified more than once"
    );
}

#[test]
fn window_function_placement_errors() {
    let (_db, mut c) = db();
    ok(&mut c, "CREATE TABLE w (a int, b text)");
    assert_eq!(
        error(&mut c, "SELECT a FROM w WHERE row_number() OVER () = 1"),
        "42P20: window functions are not allowed in WHERE"
    );
    assert_eq!(
        error(&mut c, "SELECT a FROM w GROUP BY row_number() OVER ()"),
        "42P20: window functions are not allowed in GROUP BY"
    );
    assert_eq!(
        error(&mut c, "SELECT sum(row_number() OVER ()) FROM w"),
        "42803: aggregate function calls cannot contain window function calls"
    );
    assert_eq!(
        error(&mut c, "SELECT lower(b) OVER () FROM w"),
        "42809: OVER specified, but lower is not a window function nor an aggregate function"
    );
    assert_eq!(
        error(&mut c, "SELECT nosuch(b) OVER () FROM w"),
        "42883: function nosuch(text) does not exist"
    );
}

#[test]
fn join_estimates_use_distinct_counts() {
    let (_db, mut c) = db();
    for sql in [
        "CREATE TABLE customers (id int PRIMARY KEY, region int NOT NULL)",
        "CREATE TABLE orders (id int PRIMARY KEY, customer int NOT NULL, total int NOT NULL)",
        "CREATE INDEX orders_customer ON orders (customer)",
        "INSERT INTO customers SELECT g, g % 10 FROM generate_series(1, 2000) g",
        "INSERT INTO orders SELECT g, 1 + g % 2000, g % 100 FROM generate_series(1, 20000) g",
        "ANALYZE",
    ] {
        ok(&mut c, sql);
    }
    let plan = rows(
        &mut c,
        "EXPLAIN SELECT c.region, sum(o.total) FROM customers c JOIN orders o ON o.customer = c.id GROUP BY c.region",
    )
    .join("\n");
    assert!(
        plan.contains("HashAggregate") && plan.contains("rows=10 "),
        "{plan}"
    );
    assert!(
        plan.contains("Hash Join") && plan.contains("rows=20000 "),
        "{plan}"
    );
    // A selective outer side probes the index; the probe names the outer column.
    let plan = rows(
        &mut c,
        "EXPLAIN SELECT o.total FROM customers c JOIN orders o ON o.customer = c.id WHERE c.region = 7",
    )
    .join("\n");
    assert!(plan.contains("Nested Loop"), "{plan}");
    assert!(plan.contains("Index Cond: (o.customer = c.id)"), "{plan}");
    assert!(!plan.contains("outer.column"), "{plan}");
}
