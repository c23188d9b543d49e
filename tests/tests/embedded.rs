//! The embedded API: typed rows, command tags, prepared statements,
//! settings, limits from `AIONDB_LIMITS_*`, and `Database::open` refusing
//! unencrypted storage unless told otherwise.

use aiondb_embedded::{DataType, Database, TransactionStatus, Value};

fn sqlstate<T>(r: Result<T, aiondb_embedded::AionError>) -> String {
    match r {
        Ok(_) => "ok".to_string(),
        Err(e) => e.sqlstate.to_string(),
    }
}

#[test]
fn command_tags_typed_rows_and_prepared_statements() {
    let db = Database::in_memory().expect("db");
    let mut c = db
        .connect_anonymous("main", "embedded-test")
        .expect("connect");
    let r = c
        .execute("CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, price numeric(8,2), added date)")
        .expect("create");
    assert_eq!(r.tag(), "CREATE TABLE");
    let r = c
        .execute("INSERT INTO items (name, price, added) VALUES ('pen', 1.5, '2024-02-29'), ('ink', NULL, NULL)")
        .expect("insert");
    assert_eq!(r.tag(), "INSERT 0 2");
    assert_eq!(r.rows_affected(), 2);

    let ins = c
        .prepare("INSERT INTO items (name, price) VALUES ($1, $2) RETURNING id")
        .expect("prepare insert");
    assert_eq!(ins.param_types()[0], DataType::TEXT);
    assert_eq!(ins.param_types()[1].id, aiondb_embedded::TypeId::Numeric);
    let r = c
        .query(&ins, &[Value::text("pad"), Value::Null])
        .expect("insert with params");
    assert_eq!(r.tag(), "INSERT 0 1");
    assert_eq!(r.rows().next().and_then(|row| row.get_i64(0)), Some(3));

    let sel = c
        .prepare("SELECT id, name, price, added FROM items WHERE id <= $1 ORDER BY id")
        .expect("prepare select");
    assert_eq!(sel.param_types()[0].id, aiondb_embedded::TypeId::Int4);
    let r = c.query(&sel, &[Value::Int4(2)]).expect("select");
    assert_eq!(r.tag(), "SELECT 2");
    let names: Vec<&str> = r.columns().iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["id", "name", "price", "added"]);
    let text = r.to_text();
    assert_eq!(
        text[0],
        vec![
            Some("1".to_string()),
            Some("pen".to_string()),
            Some("1.50".to_string()),
            Some("2024-02-29".to_string())
        ]
    );
    assert_eq!(text[1][2], None);
    let first = r.rows().next().expect("row");
    assert_eq!(first.get_str(1), Some("pen"));
    assert!(r.rows().nth(1).expect("second").is_null(3));

    let r = c
        .execute("UPDATE items SET price = price * 2 WHERE price IS NOT NULL")
        .expect("update");
    assert_eq!(r.tag(), "UPDATE 1");
    let r = c
        .execute("DELETE FROM items WHERE name = 'ink'")
        .expect("delete");
    assert_eq!(r.tag(), "DELETE 1");
    // Prepared statements survive DDL: they are re-planned.
    c.execute("ALTER TABLE items ADD COLUMN stock int DEFAULT 0")
        .expect("alter");
    let r = c
        .query(&sel, &[Value::Int4(10)])
        .expect("select after alter");
    assert_eq!(r.len(), 2);
}

#[test]
fn errors_carry_sqlstate_and_leave_the_session_usable() {
    let db = Database::in_memory().expect("db");
    let mut c = db.connect_anonymous("main", "errors").expect("connect");
    assert_eq!(sqlstate(c.execute("SELEC 1")), "42601");
    assert_eq!(sqlstate(c.execute("SELECT * FROM missing")), "42P01");
    assert_eq!(sqlstate(c.execute("SELECT 1/0")), "22012");
    assert_eq!(sqlstate(c.execute("SELECT 2147483647::int4 + 1")), "22003");
    assert_eq!(c.transaction_status(), TransactionStatus::Idle);
    let r = c.execute("SELECT 1 + 1").expect("still usable");
    assert_eq!(r.rows().next().and_then(|r| r.get_i64(0)), Some(2));
}

#[test]
fn settings_set_show_reset() {
    let db = Database::in_memory().expect("db");
    let mut c = db
        .connect_anonymous("main", "settings-app")
        .expect("connect");
    let show = |c: &mut aiondb_embedded::Connection, name: &str| {
        let r = c.execute(&format!("SHOW {name}")).expect("show");
        let value = r
            .rows()
            .next()
            .and_then(|r| r.get_str(0).map(str::to_string));
        value
    };
    assert_eq!(
        show(&mut c, "application_name").as_deref(),
        Some("settings-app")
    );
    c.execute("SET search_path = app, public").expect("set");
    assert_eq!(show(&mut c, "search_path").as_deref(), Some("app, public"));
    c.execute("SET statement_timeout = '5s'")
        .expect("set timeout");
    assert_eq!(show(&mut c, "statement_timeout").as_deref(), Some("5s"));
    c.execute("RESET statement_timeout").expect("reset");
    assert_eq!(show(&mut c, "statement_timeout").as_deref(), Some("0"));
    assert_eq!(sqlstate(c.execute("SET no_such_setting = 1")), "42704");
    assert_eq!(sqlstate(c.execute("SHOW no_such_setting")), "42704");
    // SET inside a rolled-back block reverts; SET LOCAL reverts at commit.
    c.execute("BEGIN").expect("begin");
    c.execute("SET application_name = 'inside'").expect("set");
    c.execute("ROLLBACK").expect("rollback");
    assert_eq!(
        show(&mut c, "application_name").as_deref(),
        Some("settings-app")
    );
    c.execute("BEGIN").expect("begin");
    c.execute("SET LOCAL application_name = 'local'")
        .expect("set local");
    assert_eq!(show(&mut c, "application_name").as_deref(), Some("local"));
    c.execute("COMMIT").expect("commit");
    assert_eq!(
        show(&mut c, "application_name").as_deref(),
        Some("settings-app")
    );
    // Schemas on the search path resolve unqualified names.
    c.execute("CREATE SCHEMA app").expect("schema");
    c.execute("SET search_path = app").expect("set");
    c.execute("CREATE TABLE t (x int)").expect("create in app");
    c.execute("INSERT INTO app.t VALUES (7)")
        .expect("insert qualified");
    let r = c.execute("SELECT x FROM t").expect("select unqualified");
    assert_eq!(r.rows().next().and_then(|r| r.get_i64(0)), Some(7));
}

#[test]
fn limits_from_settings_are_clean_errors() {
    let db = Database::with_settings(&[
        ("AIONDB_EPHEMERAL", "true"),
        ("AIONDB_LIMITS_MAX_RESULT_ROWS", "100"),
        ("AIONDB_LIMITS_RECURSIVE_CTE_MAX_ITERATIONS", "50"),
        ("AIONDB_LIMITS_STATEMENT_MEMORY_BYTES", "8388608"),
    ])
    .expect("db");
    let mut c = db.connect_anonymous("main", "limits").expect("connect");
    assert!(c.execute("SELECT * FROM generate_series(1, 100)").is_ok());
    let e = c
        .execute("SELECT * FROM generate_series(1, 101)")
        .expect_err("too many rows");
    assert_eq!(e.sqlstate.to_string(), "54000");
    let e = c
        .execute("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r")
        .expect_err("runaway recursion");
    assert_eq!(e.sqlstate.to_string(), "54000");
    let e = c
        .execute("SELECT string_agg(repeat('x', 1000), ',') FROM generate_series(1, 100000)")
        .expect_err("memory");
    assert_eq!(e.sqlstate.to_string(), "53200");
    // The session survives every one of them.
    assert!(c.execute("SELECT 1").is_ok());
}

#[test]
fn open_refuses_an_unencrypted_directory_unless_allowed() {
    let dir = std::env::temp_dir().join(format!("aiondb-open-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // This machine's temporary directory is not on dm-crypt.
    let err = match Database::open(&dir) {
        Ok(_) => panic!("open must refuse an unencrypted directory"),
        Err(e) => e,
    };
    assert!(
        err.message.contains("not on an encrypted filesystem"),
        "{}",
        err.message
    );
    let hint = err.hint().map(|h| h.to_string()).unwrap_or_default();
    assert!(
        hint.contains("AIONDB_ALLOW_UNENCRYPTED_STORAGE=true"),
        "{hint}"
    );
    assert!(hint.contains("--allow-unencrypted-storage"), "{hint}");
    assert!(!dir.exists(), "nothing may be written");
    let db = Database::open_with(&dir, &[("AIONDB_ALLOW_UNENCRYPTED_STORAGE", "true")])
        .expect("allowed explicitly");
    drop(db);
    assert!(dir.join("AIONDB_MANIFEST").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ddl_is_transactional() {
    let db = Database::in_memory().expect("db");
    let mut c = db.connect_anonymous("main", "ddl-txn").expect("connect");
    c.execute("CREATE TABLE keep (id int PRIMARY KEY)")
        .expect("create");
    c.execute("INSERT INTO keep VALUES (1)").expect("insert");
    c.execute("BEGIN").expect("begin");
    c.execute("CREATE TABLE gone (id int)")
        .expect("create in block");
    c.execute("INSERT INTO gone VALUES (1)")
        .expect("insert in block");
    c.execute("DROP TABLE keep").expect("drop in block");
    c.execute("ROLLBACK").expect("rollback");
    assert_eq!(sqlstate(c.execute("SELECT * FROM gone")), "42P01");
    let r = c.execute("SELECT id FROM keep").expect("keep survives");
    assert_eq!(r.len(), 1);
    // A savepoint undoes only the DDL after it.
    c.execute("BEGIN").expect("begin");
    c.execute("CREATE TABLE a (x int)").expect("a");
    c.execute("SAVEPOINT s").expect("savepoint");
    c.execute("CREATE TABLE b (x int)").expect("b");
    c.execute("ROLLBACK TO SAVEPOINT s").expect("rollback to");
    c.execute("COMMIT").expect("commit");
    assert!(c.execute("SELECT * FROM a").is_ok());
    assert_eq!(sqlstate(c.execute("SELECT * FROM b")), "42P01");
    // The same name can be created again after a rolled-back CREATE.
    c.execute("BEGIN; CREATE TABLE again (x int); ROLLBACK")
        .expect("batch");
    c.execute("CREATE TABLE again (x int)")
        .expect("create again");
}
