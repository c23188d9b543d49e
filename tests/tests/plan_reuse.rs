//! Prepared statements rerun many times: the executor keeps their compiled
//! operators between executions, so every rerun must behave exactly like a
//! first run (parameters, transactions, errors, catalog changes).

use aiondb_embedded::{Connection, Database, Value};

fn setup() -> (Database, Connection) {
    let db = Database::in_memory().expect("db");
    let mut c = db.connect_anonymous("main", "plan_reuse").expect("connect");
    for sql in [
        "CREATE TABLE kv (id int PRIMARY KEY, v text NOT NULL, n int NOT NULL)",
        "INSERT INTO kv SELECT g, 'v' || g, g % 10 FROM generate_series(1, 100) g",
    ] {
        c.execute(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    (db, c)
}

/// An empty database with one limit set, and a connection to it.
fn with_limit(key: &str, value: &str) -> (Database, Connection) {
    let db = Database::with_settings(&[("AIONDB_EPHEMERAL", "true"), (key, value)]).expect("db");
    let c = db.connect_anonymous("main", "plan_reuse").expect("connect");
    (db, c)
}

fn ints(c: &mut Connection, st: &aiondb_embedded::Statement, p: &[Value]) -> Vec<Vec<i64>> {
    c.query(st, p)
        .expect("query")
        .rows()
        .map(|r| (0..r.values().len()).filter_map(|i| r.get_i64(i)).collect())
        .collect()
}

#[test]
fn reruns_see_new_parameters_and_rows() {
    let (_db, mut c) = setup();
    let sel = c
        .prepare("SELECT n FROM kv WHERE id = $1")
        .expect("prepare");
    let ins = c
        .prepare("INSERT INTO kv VALUES ($1, $2, $3)")
        .expect("prepare");
    for i in 1..=50 {
        assert_eq!(
            ints(&mut c, &sel, &[Value::Int4(i)]),
            vec![vec![i64::from(i % 10)]]
        );
    }
    assert!(ints(&mut c, &sel, &[Value::Int4(1000)]).is_empty());
    c.query(&ins, &[Value::Int4(1000), Value::text("x"), Value::Int4(7)])
        .expect("insert");
    assert_eq!(ints(&mut c, &sel, &[Value::Int4(1000)]), vec![vec![7]]);
    // A duplicate fails, and the next run works again.
    let e = c
        .query(&ins, &[Value::Int4(1000), Value::text("x"), Value::Int4(7)])
        .expect_err("duplicate");
    assert_eq!(e.sqlstate.as_str(), "23505");
    c.query(&ins, &[Value::Int4(1001), Value::text("y"), Value::Int4(8)])
        .expect("insert after a failure");
    // NOT NULL is still checked on a rerun.
    let e = c
        .query(&ins, &[Value::Int4(1002), Value::Null, Value::Int4(8)])
        .expect_err("not null");
    assert_eq!(e.sqlstate.as_str(), "23502");
}

#[test]
fn reruns_inside_transactions_follow_visibility() {
    let (_db, mut c) = setup();
    let sel = c
        .prepare("SELECT count(*) FROM kv WHERE id >= $1")
        .expect("p");
    let ins = c.prepare("INSERT INTO kv VALUES ($1, 'x', 0)").expect("p");
    assert_eq!(ints(&mut c, &sel, &[Value::Int4(1)]), vec![vec![100]]);
    c.execute("BEGIN").expect("begin");
    c.query(&ins, &[Value::Int4(500)]).expect("insert");
    assert_eq!(ints(&mut c, &sel, &[Value::Int4(1)]), vec![vec![101]]);
    c.execute("ROLLBACK").expect("rollback");
    assert_eq!(ints(&mut c, &sel, &[Value::Int4(1)]), vec![vec![100]]);
    // A read-only transaction refuses the cached INSERT plan.
    c.execute("BEGIN READ ONLY").expect("begin");
    let e = c.query(&ins, &[Value::Int4(501)]).expect_err("read only");
    assert_eq!(e.sqlstate.as_str(), "25006");
    c.execute("ROLLBACK").expect("rollback");
    c.query(&ins, &[Value::Int4(501)]).expect("insert");
}

#[test]
fn reruns_of_limits_sorts_joins_and_aggregates() {
    let (_db, mut c) = setup();
    let top = c
        .prepare("SELECT id FROM kv WHERE n = $1 ORDER BY id DESC LIMIT $2")
        .expect("p");
    for _ in 0..3 {
        assert_eq!(
            ints(&mut c, &top, &[Value::Int4(3), Value::Int8(2)]),
            vec![vec![93], vec![83]]
        );
        assert_eq!(
            ints(&mut c, &top, &[Value::Int4(4), Value::Int8(1)]),
            vec![vec![94]]
        );
    }
    let join = c
        .prepare(
            "SELECT a.n, count(*) FROM kv a JOIN kv b ON a.n = b.n WHERE a.id <= $1 GROUP BY a.n ORDER BY a.n",
        )
        .expect("p");
    for _ in 0..3 {
        assert_eq!(
            ints(&mut c, &join, &[Value::Int4(2)]),
            vec![vec![1, 10], vec![2, 10]]
        );
    }
    // A runtime error in one run does not poison the next.
    let div = c
        .prepare("SELECT 100 / n FROM kv WHERE id = $1")
        .expect("p");
    assert_eq!(
        c.query(&div, &[Value::Int4(10)])
            .expect_err("division by zero")
            .sqlstate
            .as_str(),
        "22012"
    );
    assert_eq!(ints(&mut c, &div, &[Value::Int4(5)]), vec![vec![20]]);
}

#[test]
fn catalog_changes_replan_cached_statements() {
    let (_db, mut c) = setup();
    let sel = c.prepare("SELECT * FROM kv WHERE id = $1").expect("p");
    assert_eq!(
        c.query(&sel, &[Value::Int4(1)]).expect("q").columns().len(),
        3
    );
    c.execute("ALTER TABLE kv ADD COLUMN extra int DEFAULT 5")
        .expect("alter");
    let r = c.query(&sel, &[Value::Int4(1)]).expect("q");
    assert_eq!(r.rows().next().and_then(|row| row.get_i64(3)), Some(5));
    c.execute("DROP TABLE kv").expect("drop");
    let e = c.query(&sel, &[Value::Int4(1)]).expect_err("dropped");
    assert_eq!(e.sqlstate.as_str(), "42P01");
}

#[test]
fn reruns_of_data_modifying_ctes_modify_every_time() {
    let (_db, mut c) = setup();
    // Unreferenced and referenced twice: each run deletes its row once.
    let del = c
        .prepare(
            "WITH d AS (DELETE FROM kv WHERE id = $1 RETURNING n) SELECT count(*) FROM d a, d b",
        )
        .expect("prepare");
    let quiet = c
        .prepare("WITH d AS (DELETE FROM kv WHERE id = $1) SELECT 1")
        .expect("prepare");
    let count = c.prepare("SELECT count(*) FROM kv").expect("prepare");
    for i in 1..=5 {
        assert_eq!(ints(&mut c, &del, &[Value::Int4(i)]), vec![vec![1]]);
        assert_eq!(ints(&mut c, &quiet, &[Value::Int4(i + 50)]), vec![vec![1]]);
        assert_eq!(
            ints(&mut c, &count, &[]),
            vec![vec![100 - 2 * i64::from(i)]]
        );
    }
    assert_eq!(ints(&mut c, &del, &[Value::Int4(1)]), vec![vec![0]]);
}

/// A kept INSERT ... RETURNING hands back its rows on every run (they no
/// longer travel through a cursor), and a failed check leaves nothing
/// behind for the next run.
#[test]
fn reruns_of_insert_returning_return_their_rows() {
    let (_db, mut c) = setup();
    let ins = c
        .prepare("INSERT INTO kv VALUES ($1, $2, $3) RETURNING id, n * 2")
        .expect("prepare");
    for i in 0..5 {
        let r = c
            .query(
                &ins,
                &[Value::Int4(500 + i), Value::text("r"), Value::Int4(i)],
            )
            .expect("insert returning");
        assert_eq!(r.tag(), "INSERT 0 1");
        let rows: Vec<Vec<i64>> = r
            .rows()
            .map(|row| (0..2).filter_map(|j| row.get_i64(j)).collect())
            .collect();
        assert_eq!(rows, vec![vec![i64::from(500 + i), i64::from(2 * i)]]);
    }
    let e = c
        .query(&ins, &[Value::Int4(600), Value::Null, Value::Int4(1)])
        .expect_err("not null");
    assert_eq!(e.sqlstate.as_str(), "23502");
    let r = c
        .query(&ins, &[Value::Int4(601), Value::text("s"), Value::Int4(3)])
        .expect("insert after a failed check");
    assert_eq!(r.len(), 1);
    let count = c
        .execute("SELECT count(*) FROM kv WHERE id >= 500")
        .expect("count");
    let n = count.rows().next().and_then(|row| row.get_i64(0));
    assert_eq!(n, Some(6));
}

/// Point selects by primary key read straight into the result on reruns;
/// misses, NULL keys, the result byte limit and a dropped column must
/// behave as on the first run.
#[test]
fn reruns_of_point_selects_keep_limits_and_misses() {
    let (_db, mut c) = with_limit("AIONDB_LIMITS_MAX_RESULT_BYTES", "2000");
    c.execute("CREATE TABLE kv (id int PRIMARY KEY, v text NOT NULL, n int NOT NULL)")
        .expect("create");
    c.execute("INSERT INTO kv SELECT g, repeat('x', g * 10), g FROM generate_series(1, 300) g")
        .expect("load");
    let sel = c
        .prepare("SELECT v, n FROM kv WHERE id = $1")
        .expect("prepare");
    for round in 0..3 {
        for id in [1, 150, 7] {
            let r = c.query(&sel, &[Value::Int4(id)]).expect("point");
            let rows: Vec<_> = r.rows().collect();
            assert_eq!(rows.len(), 1, "round {round}, id {id}");
            assert_eq!(rows[0].get_i64(1), Some(i64::from(id)));
            assert_eq!(rows[0].get_str(0).map(str::len), Some(id as usize * 10));
        }
        assert_eq!(c.query(&sel, &[Value::Int4(301)]).expect("miss").len(), 0);
        assert_eq!(c.query(&sel, &[Value::Null]).expect("null key").len(), 0);
        // 2500 bytes of text is over the 2000-byte result limit.
        let e = c
            .query(&sel, &[Value::Int4(250)])
            .expect_err("over the byte limit");
        assert_eq!(e.sqlstate.as_str(), "54000");
    }
    c.execute("ALTER TABLE kv DROP COLUMN v").expect("alter");
    let e = c.query(&sel, &[Value::Int4(1)]).expect_err("v is gone");
    assert_eq!(e.sqlstate.as_str(), "42703");
}

/// Range and full scans of kept plans take the storage's batches whole on
/// reruns: rows, order, NULL bounds, results over several batches and the
/// result row limit must behave as on the first run.
#[test]
fn reruns_of_range_and_full_scans_keep_rows_and_limits() {
    let (_db, mut c) = setup();
    c.execute("INSERT INTO kv SELECT g, 'w' || g, g % 10 FROM generate_series(101, 5000) g")
        .expect("load");
    let range = c
        .prepare("SELECT id, n FROM kv WHERE id >= $1 AND id < $2")
        .expect("prepare");
    let down = c
        .prepare("SELECT id FROM kv WHERE id > $1 ORDER BY id DESC")
        .expect("prepare");
    let all = c.prepare("SELECT id FROM kv").expect("prepare");
    for round in 0..3 {
        let got = ints(&mut c, &range, &[Value::Int4(10), Value::Int4(14)]);
        assert_eq!(
            got,
            (10..14).map(|i| vec![i, i % 10]).collect::<Vec<_>>(),
            "round {round}"
        );
        assert!(ints(&mut c, &range, &[Value::Null, Value::Int4(14)]).is_empty());
        assert!(ints(&mut c, &range, &[Value::Int4(20), Value::Int4(10)]).is_empty());
        let got = ints(&mut c, &down, &[Value::Int4(4997)]);
        assert_eq!(got, vec![vec![5000], vec![4999], vec![4998]]);
        // Several storage batches.
        let mut ids: Vec<i64> = ints(&mut c, &all, &[]).into_iter().map(|r| r[0]).collect();
        ids.sort_unstable();
        assert_eq!(ids, (1..=5000).collect::<Vec<_>>(), "round {round}");
    }

    let (_db, mut c) = with_limit("AIONDB_LIMITS_MAX_RESULT_ROWS", "50");
    c.execute("CREATE TABLE kv (id int PRIMARY KEY, n int)")
        .expect("create");
    c.execute("INSERT INTO kv SELECT g, g FROM generate_series(1, 2000) g")
        .expect("load");
    let range = c
        .prepare("SELECT id, n FROM kv WHERE id >= $1 AND id < $2")
        .expect("prepare");
    let all = c.prepare("SELECT id FROM kv").expect("prepare");
    for _ in 0..3 {
        assert_eq!(
            ints(&mut c, &range, &[Value::Int4(1), Value::Int4(51)]).len(),
            50
        );
        let e = c
            .query(&range, &[Value::Int4(1), Value::Int4(52)])
            .expect_err("51 rows");
        assert_eq!(e.sqlstate.as_str(), "54000");
        let e = c.query(&all, &[]).expect_err("2000 rows");
        assert_eq!(e.sqlstate.as_str(), "54000");
    }
}
