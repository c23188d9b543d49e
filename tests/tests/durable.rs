//! The durable backend through the embedded API: everything committed is
//! there after reopening (tables, rows, indexes, constraints, sequences,
//! views, roles), nothing rolled back is, and the data
//! directory's manifest is enforced.

use std::path::{Path, PathBuf};

use aiondb_embedded::{Connection, Database};

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aiondb-durable-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn open(dir: &Path) -> Database {
    Database::open_with(dir, &[("AIONDB_ALLOW_UNENCRYPTED_STORAGE", "true")])
        .unwrap_or_else(|e| panic!("open {}: {e}", dir.display()))
}

fn rows(c: &mut Connection, sql: &str) -> Vec<Vec<Option<String>>> {
    c.execute(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .to_text()
}

fn flat(c: &mut Connection, sql: &str) -> String {
    rows(c, sql)
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|v| v.unwrap_or_else(|| "NULL".into()))
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect::<Vec<_>>()
        .join(";")
}

#[test]
fn committed_work_survives_reopening_and_rolled_back_work_does_not() {
    let dir = fresh_dir("reopen");
    {
        let db = open(&dir);
        let mut c = db.connect_anonymous("main", "t").expect("connect");
        c.execute_batch(
            "CREATE SCHEMA app;
             CREATE TABLE app.parent (id serial PRIMARY KEY, name text UNIQUE NOT NULL,
                                      score numeric(6,2) DEFAULT 1.5 CHECK (score >= 0));
             CREATE TABLE app.child (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                                     parent int REFERENCES app.parent(id) ON DELETE CASCADE,
                                     tags text[], at timestamptz);
             CREATE INDEX child_parent ON app.child (parent);
             CREATE SEQUENCE app.counter INCREMENT BY 5 START WITH 100;
             INSERT INTO app.parent (name, score) VALUES ('a', 1), ('b', 2), ('c', 3);
             INSERT INTO app.child (parent, tags, at) VALUES (1, '{x,y}', '2024-01-02 03:04:05+00'),
                                                   (2, NULL, NULL), (3, '{}', NULL);
             UPDATE app.parent SET score = score * 10 WHERE name = 'b';
             DELETE FROM app.parent WHERE name = 'c';
             CREATE VIEW app.v AS SELECT p.name, count(ch.id) AS n FROM app.parent p
                                  LEFT JOIN app.child ch ON ch.parent = p.id GROUP BY p.name;
             CREATE ROLE reader LOGIN PASSWORD 'Secr3t-Passw0rd!' CONNECTION LIMIT 4;
             ALTER TABLE app.parent ADD COLUMN note text DEFAULT 'n/a';
             SELECT nextval('app.counter'); SELECT nextval('app.counter');
             ANALYZE app.parent;",
        )
        .expect("setup");
        // Rolled back: a table, rows and a role.
        c.execute_batch(
            "BEGIN; CREATE TABLE app.gone (x int); INSERT INTO app.parent (name) VALUES ('rolled');
             CREATE ROLE ghost; ROLLBACK;",
        )
        .expect("rolled back work");
        // A savepoint keeps only what was not rolled back to.
        c.execute_batch(
            "BEGIN; INSERT INTO app.parent (name) VALUES ('kept'); SAVEPOINT s;
             INSERT INTO app.parent (name) VALUES ('undone'); ROLLBACK TO s;
             INSERT INTO app.parent (name) VALUES ('after'); COMMIT;",
        )
        .expect("savepoints");
    }
    {
        let db = open(&dir);
        let mut c = db.connect_anonymous("main", "t").expect("connect");
        assert_eq!(
            flat(
                &mut c,
                "SELECT id, name, score, note FROM app.parent ORDER BY id"
            ),
            "1|a|1.00|n/a;2|b|20.00|n/a;5|kept|1.50|n/a;7|after|1.50|n/a"
        );
        assert_eq!(
            flat(
                &mut c,
                "SELECT id, parent, tags, at FROM app.child ORDER BY id"
            ),
            "1|1|{x,y}|2024-01-02 03:04:05+00;2|2|NULL|NULL"
        );
        assert_eq!(
            flat(&mut c, "SELECT * FROM app.v ORDER BY name"),
            "a|1;after|0;b|1;kept|0"
        );
        // Sequences resume after what was handed out (gaps allowed, never
        // a repeat); serial and identity columns too.
        let next: i64 = flat(&mut c, "SELECT nextval('app.counter')")
            .parse()
            .expect("int");
        assert!(next > 105, "sequence went back to {next}");
        c.execute("INSERT INTO app.parent (name) VALUES ('new')")
            .expect("serial continues");
        let id: i64 = flat(&mut c, "SELECT id FROM app.parent WHERE name = 'new'")
            .parse()
            .expect("int");
        assert!(id > 7, "serial repeated an id: {id}");
        // Constraints and indexes are enforced after recovery.
        let e = c
            .execute("INSERT INTO app.parent (name) VALUES ('a')")
            .expect_err("unique");
        assert_eq!(e.sqlstate.to_string(), "23505");
        let e = c
            .execute("INSERT INTO app.parent (name, score) VALUES ('neg', -1)")
            .expect_err("check");
        assert_eq!(e.sqlstate.to_string(), "23514");
        let e = c
            .execute("INSERT INTO app.child (parent) VALUES (999)")
            .expect_err("fk");
        assert_eq!(e.sqlstate.to_string(), "23503");
        let plan = flat(&mut c, "EXPLAIN SELECT * FROM app.child WHERE parent = 2");
        assert!(plan.contains("child_parent"), "{plan}");
        c.execute("DELETE FROM app.parent WHERE name = 'a'")
            .expect("cascade");
        assert_eq!(flat(&mut c, "SELECT count(*) FROM app.child"), "1");
        // Roles and what was rolled back.
        assert_eq!(
            flat(&mut c, "SELECT rolname, rolcanlogin, rolconnlimit FROM pg_roles WHERE rolname IN ('reader', 'ghost')"),
            "reader|t|4"
        );
        let e = c.execute("SELECT * FROM app.gone").expect_err("gone");
        assert_eq!(e.sqlstate.to_string(), "42P01");
        c.execute("DROP VIEW app.v").expect("drop view");
        c.execute("DROP TABLE app.child").expect("drop table");
    }
    {
        let db = open(&dir);
        let mut c = db.connect_anonymous("main", "t").expect("connect");
        assert_eq!(
            flat(&mut c, "SELECT name FROM app.parent ORDER BY id"),
            "b;kept;after;new"
        );
        assert_eq!(
            c.execute("SELECT * FROM app.child")
                .expect_err("dropped")
                .sqlstate
                .to_string(),
            "42P01"
        );
        assert_eq!(
            c.execute("SELECT * FROM app.v")
                .expect_err("dropped")
                .sqlstate
                .to_string(),
            "42P01"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn many_transactions_and_a_checkpoint_in_between() {
    let dir = fresh_dir("checkpoint");
    {
        let db = Database::open_with(
            &dir,
            &[
                ("AIONDB_ALLOW_UNENCRYPTED_STORAGE", "true"),
                ("AIONDB_STORAGE_DURABLE_WAL_COMMIT_POLICY", "every:16"),
                ("AIONDB_STORAGE_DURABLE_WAL_SEGMENT_BYTES", "1048576"),
            ],
        )
        .expect("open");
        let mut c = db.connect_anonymous("main", "t").expect("connect");
        c.execute("CREATE TABLE kv (k int PRIMARY KEY, v text)")
            .expect("create");
        let ins = c
            .prepare("INSERT INTO kv VALUES ($1, $2)")
            .expect("prepare");
        for i in 0..3000 {
            c.query(
                &ins,
                &[
                    aiondb_embedded::Value::Int4(i),
                    aiondb_embedded::Value::text("x".repeat(200)),
                ],
            )
            .expect("insert");
        }
        c.execute("UPDATE kv SET v = 'even' WHERE k % 2 = 0")
            .expect("update");
        c.execute("DELETE FROM kv WHERE k >= 2500").expect("delete");
    }
    // More than one segment was written and then retired by the shutdown
    // checkpoint.
    let segments = std::fs::read_dir(dir.join("wal")).expect("wal").count();
    assert!(
        segments <= 2,
        "{segments} segments left after the checkpoint"
    );
    assert_eq!(
        std::fs::read_dir(dir.join("snapshots"))
            .expect("snapshots")
            .count(),
        1
    );
    {
        let db = open(&dir);
        let mut c = db.connect_anonymous("main", "t").expect("connect");
        assert_eq!(
            flat(
                &mut c,
                "SELECT count(*), count(*) FILTER (WHERE v = 'even'), max(k) FROM kv"
            ),
            "2500|1250|2499"
        );
        c.execute("INSERT INTO kv VALUES (1, 'dup')")
            .expect_err("the primary key index came back");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn manifest_rules() {
    let dir = fresh_dir("manifest");
    drop(open(&dir));
    let manifest = dir.join("AIONDB_MANIFEST");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    assert!(text.contains("format_version=1"), "{text}");
    // Missing manifest with storage files: refused, pointing to upgrade.
    std::fs::remove_file(&manifest).expect("rm");
    let e = Database::open_with(&dir, &[("AIONDB_ALLOW_UNENCRYPTED_STORAGE", "true")])
        .err()
        .expect("refused");
    assert!(e.message.contains("no storage manifest"), "{}", e.message);
    let hint = e.hint().map(|h| h.to_string()).unwrap_or_default();
    assert!(hint.contains("aiondb upgrade"), "{hint}");
    // A tampered manifest is unreadable.
    std::fs::write(
        &manifest,
        text.replace("format_version=1", "format_version=2"),
    )
    .expect("write");
    let e = Database::open_with(&dir, &[("AIONDB_ALLOW_UNENCRYPTED_STORAGE", "true")])
        .err()
        .expect("refused");
    assert!(e.message.contains("unreadable"), "{}", e.message);
    assert_eq!(e.sqlstate.to_string(), "XX001");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_memory_limit_is_a_clean_error_and_loses_nothing() {
    let dir = fresh_dir("memory");
    {
        let db = Database::open_with(
            &dir,
            &[
                ("AIONDB_ALLOW_UNENCRYPTED_STORAGE", "true"),
                ("AIONDB_STORAGE_MEMORY_LIMIT_BYTES", "16777216"),
            ],
        )
        .expect("open");
        let mut c = db.connect_anonymous("main", "t").expect("connect");
        c.execute("CREATE TABLE big (id int PRIMARY KEY, pad text)")
            .expect("create");
        let mut committed = 0;
        let err = loop {
            let sql = format!(
                "INSERT INTO big SELECT g, repeat('x', 1000) FROM generate_series({}, {}) g",
                committed + 1,
                committed + 1000
            );
            match c.execute(&sql) {
                Ok(_) => committed += 1000,
                Err(e) => break e,
            }
            assert!(committed < 1_000_000, "the limit was never reached");
        };
        assert_eq!(err.sqlstate.to_string(), "53200", "{}", err.message);
        assert!(committed > 0);
        // The database keeps working after the refusal.
        c.execute("DELETE FROM big WHERE id > 1000")
            .expect("delete");
        assert_eq!(flat(&mut c, "SELECT count(*) FROM big"), "1000");
    }
    let db = open(&dir);
    let mut c = db.connect_anonymous("main", "t").expect("connect");
    assert_eq!(
        flat(&mut c, "SELECT count(*), max(id) FROM big"),
        "1000|1000"
    );
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
}
