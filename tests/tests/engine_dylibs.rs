//! The whole SQL engine loaded from `.so` files (no bundled plugins) gives
//! the same answers as the statically linked build: one registry, two ways
//! in, and values crossing five separately compiled libraries.

use aiondb_embedded::Database;
use aiondb_integration_tests::*;
use aiondb_kernel::session::SessionOptions;
use aiondb_kernel::Kernel;

const SCRIPT: &[&str] = &[
    "CREATE TABLE t (id serial PRIMARY KEY, name text NOT NULL, score numeric(6,2), seen date)",
    "CREATE INDEX t_name ON t (name)",
    "INSERT INTO t (name, score, seen) VALUES ('ann', 1.5, '2024-01-02'), ('bob', NULL, NULL), ('cid', 99.99, '1999-12-31')",
    "UPDATE t SET score = score * 2 WHERE name = 'ann' RETURNING id, score",
    "SELECT id, upper(name), score, seen + 1 FROM t ORDER BY id",
    "SELECT count(*), sum(score), string_agg(name, ',' ORDER BY name DESC) FROM t",
    "SELECT a.name, b.name FROM t a JOIN t b ON a.id < b.id ORDER BY 1, 2",
    "EXPLAIN SELECT * FROM t WHERE id = 2",
    "DELETE FROM t WHERE score IS NULL RETURNING name",
    "SELECT 1/0",
];

fn run_static() -> Vec<String> {
    let db = Database::in_memory().expect("static database");
    let mut c = db.connect_anonymous("main", "static").expect("connect");
    SCRIPT
        .iter()
        .map(|sql| match c.execute(sql) {
            Ok(r) => format!("{} {:?}", r.tag(), r.to_text()),
            Err(e) => format!("ERROR {}: {}", e.sqlstate, e.message),
        })
        .collect()
}

fn run_dynamic() -> Vec<String> {
    let (config, _) = aiondb_kernel::config::Config::load(
        &[("AIONDB_EPHEMERAL", "true".to_string())],
        Vec::new(),
    )
    .expect("config");
    let kernel = Kernel::builder(config)
        .plugin_file(dylib("aiondb_sql_parser"))
        .plugin_file(dylib("aiondb_sql_planner"))
        .plugin_file(dylib("aiondb_sql_executor"))
        .plugin_file(dylib("aiondb_storage_memory"))
        .plugin_file(dylib("aiondb_functions_core"))
        .build()
        .expect("kernel from .so plugins");
    kernel.start().expect("start");
    let mut s = kernel
        .session(SessionOptions {
            user: "aiondb".into(),
            database: "main".into(),
            application: "dynamic".into(),
        })
        .expect("session");
    let out = SCRIPT
        .iter()
        .map(|sql| match s.execute(sql) {
            Ok(mut rs) => {
                let r = rs.pop().expect("one result");
                let rows: Vec<Vec<Option<String>>> = r
                    .rows
                    .rows()
                    .map(|row| row.iter().map(|v| v.to_pg_text()).collect())
                    .collect();
                format!("{} {:?}", r.tag, rows)
            }
            Err((_, e)) => format!("ERROR {}: {}", e.sqlstate, e.message),
        })
        .collect();
    kernel.shutdown();
    out
}

#[test]
fn engine_from_shared_libraries_matches_the_static_build() {
    let dynamic = run_dynamic();
    let stat = run_static();
    assert_eq!(dynamic, stat);
    assert!(dynamic[4].contains("ANN"), "{}", dynamic[4]);
    assert!(dynamic[9].starts_with("ERROR 22012"), "{}", dynamic[9]);
}
