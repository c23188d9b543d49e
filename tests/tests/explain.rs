//! EXPLAIN shows the plan the optimizer chose: index scans for selective
//! predicates, hash/merge/nested-loop joins, and real row counts under
//! EXPLAIN ANALYZE. Statistics come from ANALYZE.

use aiondb_embedded::{Connection, Database};

fn setup() -> (Database, Connection) {
    let db = Database::in_memory().expect("db");
    let mut c = db.connect_anonymous("main", "explain").expect("connect");
    for sql in [
        "CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, region int NOT NULL)",
        "CREATE TABLE orders (id int PRIMARY KEY, customer int NOT NULL REFERENCES customers(id), total int NOT NULL)",
        "CREATE INDEX orders_customer ON orders (customer)",
        "INSERT INTO customers SELECT g, 'c' || g, g % 10 FROM generate_series(1, 2000) g",
        "INSERT INTO orders SELECT g, 1 + g % 2000, g % 100 FROM generate_series(1, 20000) g",
        "ANALYZE",
    ] {
        c.execute(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    (db, c)
}

fn plan_text(c: &mut Connection, sql: &str) -> String {
    let r = c
        .execute(&format!("EXPLAIN {sql}"))
        .unwrap_or_else(|e| panic!("EXPLAIN {sql}: {e}"));
    assert_eq!(r.columns()[0].name.as_str(), "QUERY PLAN");
    r.rows()
        .filter_map(|row| row.get_str(0).map(str::to_string))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn primary_key_lookup_uses_the_index() {
    let (_db, mut c) = setup();
    let p = plan_text(&mut c, "SELECT name FROM customers WHERE id = 42");
    assert!(
        p.contains("Index Scan using customers_pkey on customers"),
        "{p}"
    );
    let p = plan_text(
        &mut c,
        "SELECT name FROM customers WHERE id BETWEEN 10 AND 20",
    );
    assert!(
        p.contains("customers_pkey"),
        "range predicate should use the index:\n{p}"
    );
    let p = plan_text(&mut c, "SELECT name FROM customers WHERE region = 3");
    assert!(p.contains("Seq Scan on customers"), "{p}");
}

#[test]
fn equi_join_of_large_inputs_is_a_hash_or_merge_join() {
    let (_db, mut c) = setup();
    let p = plan_text(
        &mut c,
        "SELECT c.region, sum(o.total) FROM customers c JOIN orders o ON o.customer = c.id GROUP BY c.region",
    );
    assert!(p.contains("Hash Join") || p.contains("Merge Join"), "{p}");
}

#[test]
fn selective_outer_side_uses_a_nested_loop_with_the_inner_index() {
    let (_db, mut c) = setup();
    let p = plan_text(
        &mut c,
        "SELECT o.total FROM customers c JOIN orders o ON o.customer = c.id WHERE c.id = 7",
    );
    assert!(p.contains("Nested Loop"), "{p}");
    assert!(p.contains("orders_customer"), "{p}");
}

#[test]
fn explain_analyze_reports_actual_rows() {
    let (_db, mut c) = setup();
    let p = plan_text(
        &mut c,
        "ANALYZE SELECT count(*) FROM orders WHERE total < 10",
    );
    assert!(p.contains("actual"), "{p}");
    assert!(p.contains("rows=2000"), "2000 orders have total < 10:\n{p}");
    assert!(p.contains("Execution Time"), "{p}");
}

#[test]
fn six_way_join_is_planned_and_correct() {
    let db = Database::in_memory().expect("db");
    let mut c = db.connect_anonymous("main", "join6").expect("connect");
    for i in 1..=6 {
        c.execute(&format!("CREATE TABLE j{i} (id int PRIMARY KEY, next int)"))
            .expect("create");
        c.execute(&format!(
            "INSERT INTO j{i} SELECT g, g FROM generate_series(1, {}) g",
            100 * i
        ))
        .expect("insert");
    }
    c.execute("ANALYZE").expect("analyze");
    let sql = "SELECT count(*) FROM j6, j5, j4, j3, j2, j1 \
               WHERE j1.next = j2.id AND j2.next = j3.id AND j3.next = j4.id \
               AND j4.next = j5.id AND j5.next = j6.id";
    let r = c.execute(sql).expect("6-way join");
    assert_eq!(r.rows().next().and_then(|r| r.get_i64(0)), Some(100));
    let p = plan_text(&mut c, sql);
    assert!(!p.contains("Nested Loop\n") || p.contains("Index"), "{p}");
}

/// Rows as (id, rest-as-text) for order-insensitive comparison.
fn result_rows(c: &mut Connection, sql: &str) -> Vec<(i64, Vec<Option<String>>)> {
    let r = c.execute(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    r.rows()
        .map(|row| {
            let id = row.get_i64(0).unwrap_or(i64::MIN);
            let rest = (1..row.values().len())
                .map(|i| {
                    row.get(i)
                        .filter(|v| !v.is_null())
                        .map(|v| format!("{v:?}"))
                })
                .collect();
            (id, rest)
        })
        .collect()
}

#[test]
fn order_by_join_key_uses_a_merge_join_with_the_hash_join_result() {
    let db = Database::in_memory().expect("db");
    let mut c = db.connect_anonymous("main", "merge").expect("connect");
    for sql in [
        "CREATE TABLE ma (id int PRIMARY KEY, v int)",
        "CREATE TABLE mb (id int PRIMARY KEY, w text)",
        // Inserted out of key order so only the index delivers key order.
        "INSERT INTO ma SELECT (g * 7919) % 20011, g % 13 FROM generate_series(1, 20000) g",
        "INSERT INTO mb SELECT (g * 104729) % 20011 + 3, 'w' || g FROM generate_series(1, 20000) g",
        "ANALYZE",
    ] {
        c.execute(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    for (join, sql) in [
        (
            "JOIN",
            "SELECT ma.id, ma.v, mb.w FROM ma JOIN mb ON ma.id = mb.id",
        ),
        (
            "LEFT JOIN",
            "SELECT ma.id, ma.v, mb.w FROM ma LEFT JOIN mb ON ma.id = mb.id",
        ),
    ] {
        let ordered = format!("{sql} ORDER BY ma.id");
        let p = plan_text(&mut c, &ordered);
        assert!(
            p.contains("Merge Join") || p.contains("Merge Left Join"),
            "{join}:\n{p}"
        );
        assert!(
            !p.contains("Sort"),
            "the merge join delivers ORDER BY ma.id:\n{p}"
        );
        assert!(p.contains("ma_pkey") && p.contains("mb_pkey"), "{p}");
        let hp = plan_text(&mut c, sql);
        assert!(
            hp.contains("Hash"),
            "without ORDER BY a hash join is cheaper:\n{hp}"
        );
        let merged = result_rows(&mut c, &ordered);
        let mut hashed = result_rows(&mut c, sql);
        hashed.sort_by_key(|r| r.0);
        assert!(merged.len() > 1000, "{join}: {} rows", merged.len());
        assert_eq!(
            merged, hashed,
            "{join}: merge result differs from hash result"
        );
    }
}

#[test]
fn data_modifying_ctes_show_as_cte_subplans() {
    let (_db, mut c) = setup();
    c.execute("CREATE TABLE archive (id int, total int)")
        .expect("create");
    let p = plan_text(
        &mut c,
        "WITH d AS (DELETE FROM orders WHERE total = 1 RETURNING id, total), \
         e AS (DELETE FROM orders WHERE total = 2) \
         INSERT INTO archive SELECT id, total FROM d",
    );
    let lines: Vec<&str> = p.lines().collect();
    assert!(lines[0].starts_with("Insert on archive"), "{p}");
    assert_eq!(lines[1].trim(), "CTE d", "{p}");
    assert!(
        lines[2].trim_start().starts_with("->  Delete on orders"),
        "{p}"
    );
    assert!(p.contains("\n  CTE e\n"), "{p}");
    assert!(p.contains("CTE Scan on d"), "{p}");
    // Plain EXPLAIN runs nothing.
    let r = c.execute("SELECT count(*) FROM orders").expect("count");
    assert_eq!(r.rows().next().and_then(|r| r.get_i64(0)), Some(20000));
    let p = plan_text(
        &mut c,
        "ANALYZE WITH d AS (DELETE FROM orders WHERE total = 3 RETURNING id) \
         SELECT count(*) FROM d a JOIN d b ON a.id = b.id",
    );
    assert!(p.starts_with("Aggregate") || p.contains("Aggregate"), "{p}");
    assert!(p.contains("CTE d"), "{p}");
    assert!(
        p.contains("rows=200 loops=1"),
        "200 rows deleted once:\n{p}"
    );
}

/// Relations keep the names the query gave them, as PostgreSQL prints
/// them: `Seq Scan on orders o`, conditions qualified with the alias.
#[test]
fn aliases_name_scans_and_qualify_conditions() {
    let (_db, mut c) = setup();
    let p = plan_text(
        &mut c,
        "SELECT c.name, o.total FROM customers c JOIN orders o ON o.customer = c.id WHERE c.region = 3",
    );
    assert!(p.contains("on customers c"), "{p}");
    assert!(p.contains("on orders o"), "{p}");
    assert!(p.contains("c.id") && p.contains("o.customer"), "{p}");
    assert!(!p.contains("customers.id"), "{p}");
    let p = plan_text(&mut c, "SELECT x.name FROM customers AS x WHERE x.id = 7");
    assert!(
        p.contains("Index Scan using customers_pkey on customers x"),
        "{p}"
    );
    // Without an alias the table name stands alone.
    let p = plan_text(&mut c, "SELECT name FROM customers WHERE id = 7");
    assert!(p.contains("on customers  (cost="), "{p}");
}
