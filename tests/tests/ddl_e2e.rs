//! End-to-end DDL tests: SQL parsed by sqlparser, planned by the planner
//! plugin crate, executed by the executor plugin against the kernel catalog
//! and the in-memory storage backend, one transaction per statement.
//! Expected messages were checked against PostgreSQL 15. They live in the
//! integration crate because they combine three plugins.

use aiondb_integration_tests::engine;
use aiondb_sdk::abi_stable::std_types::RVec;
use aiondb_sdk::prelude::*;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser as SqlParser;

struct Db {
    services: Services,
    exec: engine::Executor,
}

type Rows = Vec<Vec<String>>;

impl Db {
    fn new() -> Db {
        Db {
            services: engine::services(),
            exec: engine::Executor::new(),
        }
    }

    fn storage(&self) -> &aiondb_sdk::plugin::StorageBackendBox {
        self.services.storage("in_memory").unwrap()
    }

    /// Runs one statement in its own transaction; rows as text.
    fn exec(&self, sql: &str) -> DbResult<Rows> {
        self.exec_then(sql, true)
    }

    fn exec_then(&self, sql: &str, commit: bool) -> DbResult<Rows> {
        let stmt = SqlParser::parse_sql(&PostgreSqlDialect {}, sql)
            .map_err(|e| AionError::new(SqlState::SYNTAX_ERROR, e.to_string()))?
            .pop()
            .ok_or_else(|| AionError::internal("no statement"))?;
        let pctx = PlanContext {
            search_path: RVec::from(vec![RString::from("\"$user\""), RString::from("public")]),
            user: "app".into(),
            database: "db".into(),
            param_types: RVec::new(),
        };
        let plan = aiondb_plugin_sql_planner::plan_statement(&pctx, &self.services, &stmt)?;
        let st = self.storage();
        let txn = st
            .begin(IsolationLevel::ReadCommitted, false)
            .into_result()?;
        st.begin_statement(txn, &Default::default()).into_result()?;
        let mut ctx = engine::ctx();
        ctx.txn = txn;
        let run = || -> DbResult<Rows> {
            let mut cursor = self.exec.execute(&ctx, &self.services, &plan, &[])?;
            let mut rows = Vec::new();
            while let ROption::RSome(b) = cursor.next_batch(0).into_result()? {
                for r in b.rows() {
                    rows.push(
                        r.iter()
                            .map(|v| v.to_pg_text().unwrap_or_else(|| "NULL".into()))
                            .collect(),
                    );
                }
            }
            Ok(rows)
        };
        match run() {
            Ok(rows) => {
                if commit {
                    st.commit(txn).into_result()?;
                } else {
                    st.rollback(txn).into_result()?;
                }
                Ok(rows)
            }
            Err(e) => {
                let _ = st.rollback(txn);
                Err(e)
            }
        }
    }

    fn ok(&self, sql: &str) -> Rows {
        self.exec(sql).unwrap_or_else(|e| panic!("{sql}: {e:?}"))
    }

    fn err(&self, sql: &str) -> AionError {
        match self.exec(sql) {
            Ok(rows) => panic!("{sql}: expected an error, got {rows:?}"),
            Err(e) => e,
        }
    }

    fn code(&self, sql: &str) -> (String, String) {
        let e = self.err(sql);
        (e.sqlstate.as_str().to_string(), e.message.to_string())
    }

    fn query(&self, sql: &str) -> Vec<String> {
        self.ok(sql).into_iter().map(|r| r.join("|")).collect()
    }

    fn table(&self, name: &str) -> Option<TableDef> {
        self.services
            .catalog
            .table_by_name(2200, RStr::from_str(name))
            .into_option()
    }
}

#[test]
fn create_insert_and_constraints() {
    let db = Db::new();
    db.ok("CREATE TABLE p (id serial PRIMARY KEY, code text UNIQUE, qty int CHECK (qty >= 0) DEFAULT 1)");
    db.ok("INSERT INTO p (code) VALUES ('a'), ('b')");
    assert_eq!(
        db.query("SELECT id, code, qty FROM p ORDER BY id"),
        ["1|a|1", "2|b|1"]
    );
    let e = db.err("INSERT INTO p (code) VALUES ('a')");
    assert_eq!(e.sqlstate.as_str(), "23505");
    let e = db.err("INSERT INTO p (code, qty) VALUES ('z', -1)");
    assert_eq!(e.sqlstate.as_str(), "23514");
    assert_eq!(
        e.message.as_str(),
        "new row for relation \"p\" violates check constraint \"p_qty_check\""
    );
    assert_eq!(
        db.code("CREATE TABLE p (x int)"),
        ("42P07".into(), "relation \"p\" already exists".into())
    );
    db.ok("CREATE TABLE IF NOT EXISTS p (x int)");
    assert_eq!(db.table("p").unwrap().columns.len(), 3);
    // The serial sequence exists and is owned by p.id.
    let seq = db
        .services
        .catalog
        .sequence_by_name(2200, RStr::from_str("p_id_seq"))
        .into_option()
        .unwrap();
    assert_eq!(
        seq.owned_by.into_option().unwrap().table,
        db.table("p").unwrap().id
    );
    db.ok("CREATE TABLE c (id int PRIMARY KEY, p_id int REFERENCES p ON DELETE CASCADE)");
    db.ok("INSERT INTO c VALUES (1, 1)");
    let e = db.err("INSERT INTO c VALUES (2, 99)");
    assert_eq!(e.sqlstate.as_str(), "23503");
    assert_eq!(
        e.message.as_str(),
        "insert or update on table \"c\" violates foreign key constraint \"c_p_id_fkey\""
    );
    // Self-referencing foreign key gets the new table's id.
    db.ok("CREATE TABLE tree (id int PRIMARY KEY, parent int REFERENCES tree)");
    db.ok("INSERT INTO tree VALUES (1, NULL)");
    db.ok("INSERT INTO tree VALUES (2, 1)");
    assert_eq!(
        db.err("INSERT INTO tree VALUES (3, 7)").sqlstate.as_str(),
        "23503"
    );
}

#[test]
fn drop_with_dependencies() {
    let db = Db::new();
    db.ok("CREATE TABLE p (id int PRIMARY KEY)");
    db.ok("CREATE TABLE c (a int REFERENCES p)");
    let e = db.err("DROP TABLE p");
    assert_eq!(e.sqlstate.as_str(), "2BP01");
    assert_eq!(
        e.message.as_str(),
        "cannot drop table p because other objects depend on it"
    );
    assert_eq!(
        e.detail(),
        Some("constraint c_a_fkey on table c depends on table p")
    );
    assert_eq!(
        e.hint(),
        Some("Use DROP ... CASCADE to drop the dependent objects too.")
    );
    db.ok("DROP TABLE p CASCADE");
    assert!(db.table("p").is_none());
    assert!(db.table("c").unwrap().constraints.is_empty());
    db.ok("INSERT INTO c VALUES (5)");
    // Dropping both at once needs no CASCADE.
    db.ok("CREATE TABLE p2 (id int PRIMARY KEY)");
    db.ok("CREATE TABLE c2 (a int REFERENCES p2)");
    db.ok("DROP TABLE c2, p2");
    assert!(db.table("p2").is_none() && db.table("c2").is_none());
    // Owned sequences go with their table.
    db.ok("CREATE TABLE s (id serial)");
    db.ok("DROP TABLE s");
    assert!(db
        .services
        .catalog
        .sequence_by_name(2200, RStr::from_str("s_id_seq"))
        .is_none());
    db.ok("DROP TABLE IF EXISTS s");
    assert_eq!(
        db.code("DROP TABLE s"),
        ("42P01".into(), "table \"s\" does not exist".into())
    );
    // Sequences.
    db.ok("CREATE SEQUENCE q");
    db.ok("DROP SEQUENCE q");
    assert!(db
        .services
        .catalog
        .sequence_by_name(2200, RStr::from_str("q"))
        .is_none());
}

#[test]
fn schemas() {
    let db = Db::new();
    db.ok("CREATE SCHEMA s");
    assert_eq!(db.code("CREATE SCHEMA s").0, "42P06");
    db.ok("CREATE SCHEMA IF NOT EXISTS s");
    db.ok("CREATE TABLE s.items (k int, v text)");
    db.ok("INSERT INTO s.items VALUES (1, 'one')");
    assert_eq!(db.query("SELECT k, v FROM s.items"), ["1|one"]);
    let e = db.err("DROP SCHEMA s");
    assert_eq!(e.sqlstate.as_str(), "2BP01");
    assert_eq!(
        e.message.as_str(),
        "cannot drop schema s because other objects depend on it"
    );
    db.ok("DROP SCHEMA s CASCADE");
    assert!(db
        .services
        .catalog
        .schema_by_name(RStr::from_str("s"))
        .is_none());
    db.ok("DROP SCHEMA IF EXISTS s");
    assert_eq!(db.code("DROP SCHEMA s").0, "3F000");
}

#[test]
fn alter_table_end_to_end() {
    let db = Db::new();
    db.ok("CREATE TABLE t (id int PRIMARY KEY, name text NOT NULL, score int)");
    db.ok("INSERT INTO t VALUES (1, 'a', NULL), (2, 'b', 5)");
    db.ok("ALTER TABLE t ADD COLUMN flag boolean DEFAULT true");
    assert_eq!(
        db.query("SELECT id, flag FROM t ORDER BY id"),
        ["1|t", "2|t"]
    );
    db.ok("ALTER TABLE t ADD COLUMN note text");
    assert_eq!(
        db.query("SELECT id, note FROM t ORDER BY id"),
        ["1|NULL", "2|NULL"]
    );
    assert_eq!(
        db.code("ALTER TABLE t ADD COLUMN z int NOT NULL"),
        (
            "23502".into(),
            "column \"z\" of relation \"t\" contains null values".into()
        )
    );
    assert_eq!(db.table("t").unwrap().columns.len(), 5);
    db.ok("ALTER TABLE t DROP COLUMN note");
    assert_eq!(db.code("SELECT note FROM t").0, "42703");
    db.ok("ALTER TABLE t RENAME COLUMN name TO label");
    assert_eq!(
        db.query("SELECT id, label FROM t ORDER BY id"),
        ["1|a", "2|b"]
    );
    assert_eq!(
        db.code("ALTER TABLE t ALTER COLUMN score SET NOT NULL"),
        (
            "23502".into(),
            "column \"score\" of relation \"t\" contains null values".into()
        )
    );
    db.ok("UPDATE t SET score = 0 WHERE score IS NULL");
    db.ok("ALTER TABLE t ALTER COLUMN score SET NOT NULL");
    assert_eq!(
        db.err("INSERT INTO t (id, label) VALUES (3, 'c')")
            .sqlstate
            .as_str(),
        "23502"
    );
    db.ok("ALTER TABLE t ALTER COLUMN score SET DEFAULT 7");
    db.ok("INSERT INTO t (id, label) VALUES (3, 'c')");
    assert_eq!(db.query("SELECT score FROM t WHERE id = 3"), ["7"]);
    assert_eq!(
        db.code("ALTER TABLE t ADD CONSTRAINT pos CHECK (score > 0)"),
        (
            "23514".into(),
            "check constraint \"pos\" of relation \"t\" is violated by some row".into()
        )
    );
    db.ok("ALTER TABLE t ADD CONSTRAINT nonneg CHECK (score >= 0)");
    assert_eq!(db.err("UPDATE t SET score = -1").sqlstate.as_str(), "23514");
    db.ok("ALTER TABLE t DROP CONSTRAINT nonneg");
    db.ok("UPDATE t SET score = -1 WHERE id = 3");
    let e = db.err("ALTER TABLE t ADD CONSTRAINT uq UNIQUE (flag)");
    assert_eq!(e.sqlstate.as_str(), "23505");
    assert_eq!(e.message.as_str(), "could not create unique index \"uq\"");
    assert_eq!(e.detail(), Some("Key (flag)=(t) is duplicated."));
    db.ok("ALTER TABLE t ADD CONSTRAINT uq UNIQUE (label)");
    assert_eq!(
        db.err("INSERT INTO t (id, label) VALUES (9, 'a')")
            .sqlstate
            .as_str(),
        "23505"
    );
    // Foreign key validation.
    db.ok("CREATE TABLE r (x int)");
    db.ok("INSERT INTO r VALUES (1), (42)");
    let e = db.err("ALTER TABLE r ADD FOREIGN KEY (x) REFERENCES t (id)");
    assert_eq!(e.sqlstate.as_str(), "23503");
    assert_eq!(
        e.detail(),
        Some("Key (x)=(42) is not present in table \"t\".")
    );
    db.ok("DELETE FROM r WHERE x = 42");
    db.ok("ALTER TABLE r ADD FOREIGN KEY (x) REFERENCES t (id)");
    assert_eq!(
        db.err("INSERT INTO r VALUES (77)").sqlstate.as_str(),
        "23503"
    );
    // Type change through a cast.
    db.ok("ALTER TABLE t ALTER COLUMN score TYPE bigint");
    assert_eq!(db.table("t").unwrap().columns[2].data_type, DataType::INT8);
    assert_eq!(
        db.query("SELECT score FROM t ORDER BY id"),
        ["0", "5", "-1"]
    );
    // Rename table.
    db.ok("ALTER TABLE t RENAME TO t2");
    assert_eq!(db.code("SELECT * FROM t").0, "42P01");
    assert_eq!(db.query("SELECT count(*) FROM t2"), ["3"]);
    // Dropping a column drops its index and moves later indexes.
    db.ok("CREATE TABLE w (a int, b int, c int)");
    db.ok("CREATE INDEX w_c_idx ON w (c)");
    db.ok("CREATE INDEX w_a_idx ON w (a)");
    db.ok("INSERT INTO w VALUES (1, 2, 3)");
    db.ok("ALTER TABLE w DROP COLUMN a");
    let w = db.table("w").unwrap();
    let idx = db.services.catalog.indexes_of(w.id);
    assert_eq!(idx.len(), 1);
    assert_eq!(idx[0].name.as_str(), "w_c_idx");
    assert_eq!(idx[0].columns.as_slice(), &[1]);
    assert_eq!(db.query("SELECT b, c FROM w WHERE c = 3"), ["2|3"]);
}

#[test]
fn serial_column_added_to_filled_table() {
    let db = Db::new();
    db.ok("CREATE TABLE t (v text)");
    db.ok("INSERT INTO t VALUES ('a'), ('b')");
    db.ok("ALTER TABLE t ADD COLUMN id serial");
    let mut ids = db.query("SELECT id FROM t");
    ids.sort();
    assert_eq!(ids, ["1", "2"]);
    db.ok("INSERT INTO t (v) VALUES ('c')");
    assert_eq!(db.query("SELECT id FROM t WHERE v = 'c'"), ["3"]);
}

#[test]
fn indexes_truncate_views_analyze() {
    let db = Db::new();
    db.ok("CREATE TABLE t (id serial, label text)");
    db.ok("INSERT INTO t (label) VALUES ('a'), ('a'), ('b')");
    let e = db.err("CREATE UNIQUE INDEX t_label_uq ON t (label)");
    assert_eq!(e.sqlstate.as_str(), "23505");
    assert_eq!(
        e.message.as_str(),
        "could not create unique index \"t_label_uq\""
    );
    db.ok("CREATE INDEX t_label_idx ON t (label)");
    assert_eq!(db.code("CREATE INDEX t_label_idx ON t (label)").0, "42P07");
    db.ok("CREATE INDEX IF NOT EXISTS t_label_idx ON t (label)");
    assert_eq!(db.query("SELECT count(*) FROM t WHERE label = 'a'"), ["2"]);
    db.ok("DROP INDEX t_label_idx");
    assert_eq!(db.code("DROP INDEX t_label_idx").0, "42704");
    db.ok("DROP INDEX IF EXISTS t_label_idx");

    db.ok("ANALYZE t");
    let stats = db
        .services
        .catalog
        .table_stats(db.table("t").unwrap().id)
        .into_option()
        .unwrap();
    assert_eq!(stats.row_count, 3.0);
    assert_eq!(stats.columns[1].n_distinct, 2.0);
    assert_eq!(stats.columns[0].min, Value::Int4(1));
    assert_eq!(stats.columns[0].max, Value::Int4(3));
    assert_eq!(stats.columns[1].null_fraction, 0.0);

    db.ok("TRUNCATE t RESTART IDENTITY");
    assert_eq!(db.query("SELECT count(*) FROM t"), ["0"]);
    db.ok("INSERT INTO t (label) VALUES ('x')");
    assert_eq!(db.query("SELECT id FROM t"), ["1"]);
    db.ok("TRUNCATE TABLE t");
    db.ok("INSERT INTO t (label) VALUES ('y')");
    assert_eq!(db.query("SELECT id FROM t"), ["2"]);

    db.ok("CREATE TABLE base (k int, v text)");
    db.ok("INSERT INTO base VALUES (1, 'one'), (2, 'two')");
    db.ok("CREATE VIEW vv AS SELECT k + 1 AS k1, v FROM base");
    let v = db.table("vv").unwrap();
    assert_eq!(v.kind, RelationKind::View);
    assert_eq!(v.columns.len(), 2);
    assert_eq!(v.columns[0].name.as_str(), "k1");
    assert_eq!(
        db.query("SELECT k1, v FROM vv ORDER BY k1"),
        ["2|one", "3|two"]
    );
    assert_eq!(db.code("CREATE VIEW vv AS SELECT 1 AS x").0, "42P07");
    db.ok("CREATE OR REPLACE VIEW vv AS SELECT k + 1 AS k1, v, k FROM base");
    assert_eq!(db.table("vv").unwrap().columns.len(), 3);
    let e = db.err("DROP TABLE base");
    assert_eq!(e.sqlstate.as_str(), "2BP01");
    assert_eq!(e.detail(), Some("view vv depends on table base"));
    db.ok("ALTER TABLE base RENAME TO base2");
    assert_eq!(db.query("SELECT k1 FROM vv ORDER BY k1"), ["2", "3"]);
    db.ok("ALTER TABLE base2 RENAME TO base");
    db.ok("DROP VIEW vv");
    db.ok("CREATE TABLE copy AS SELECT k * 10 AS k10, v FROM base");
    assert_eq!(
        db.query("SELECT k10, v FROM copy ORDER BY k10"),
        ["10|one", "20|two"]
    );
}

#[test]
fn errors_and_edge_cases() {
    let db = Db::new();
    assert_eq!(
        db.code("CREATE TABLE bad (a int CHECK (zz > 0))").0,
        "42703"
    );
    assert!(db.table("bad").is_none());
    assert_eq!(
        db.code("CREATE TABLE bad (a nosuchtype)"),
        ("42704".into(), "type \"nosuchtype\" does not exist".into())
    );
    db.ok("CREATE TABLE id_t (id int GENERATED ALWAYS AS IDENTITY, v text)");
    db.ok("INSERT INTO id_t (v) VALUES ('a'), ('b')");
    assert_eq!(
        db.query("SELECT id, v FROM id_t ORDER BY id"),
        ["1|a", "2|b"]
    );
    // A sequence used by another table's default: RESTRICT refuses.
    db.ok("CREATE SEQUENCE shared_seq");
    db.ok("CREATE TABLE user_t (id bigint DEFAULT nextval('shared_seq'), v text)");
    db.ok("INSERT INTO user_t (v) VALUES ('x')");
    assert_eq!(db.query("SELECT id FROM user_t"), ["1"]);
    let e = db.err("DROP SEQUENCE shared_seq RESTRICT");
    assert_eq!(e.sqlstate.as_str(), "2BP01");
    assert_eq!(
        e.detail(),
        Some("default value for column id of table user_t depends on sequence shared_seq")
    );
    db.ok("DROP SEQUENCE shared_seq CASCADE");
    assert!(db.table("user_t").unwrap().columns[0]
        .default_expr
        .is_none());
    // Views over views go with CASCADE.
    db.ok("CREATE TABLE b (k int)");
    db.ok("CREATE VIEW v1 AS SELECT k FROM b");
    db.ok("CREATE VIEW v2 AS SELECT k FROM v1");
    let e = db.err("DROP VIEW v1");
    assert_eq!(
        e.message.as_str(),
        "cannot drop view v1 because other objects depend on it"
    );
    db.ok("DROP TABLE b CASCADE");
    assert!(db.table("v1").is_none() && db.table("v2").is_none());
    // Truncating a referenced table needs its referencing tables too.
    db.ok("CREATE TABLE p (id int PRIMARY KEY)");
    db.ok("CREATE TABLE c (p int REFERENCES p)");
    db.ok("INSERT INTO p VALUES (1)");
    db.ok("INSERT INTO c VALUES (1)");
    assert_eq!(db.code("TRUNCATE p").0, "0A000");
    db.ok("TRUNCATE p CASCADE");
    assert_eq!(db.query("SELECT count(*) FROM c"), ["0"]);
    // A failed ALTER leaves the catalog as it was.
    db.ok("INSERT INTO p VALUES (1), (2)");
    db.ok("INSERT INTO c VALUES (1), (1)");
    let before = db.table("c").unwrap();
    assert_eq!(
        db.code("ALTER TABLE c ADD COLUMN s serial, ADD UNIQUE (p)")
            .0,
        "23505"
    );
    assert_eq!(db.table("c").unwrap(), before);
    assert!(db
        .services
        .catalog
        .sequence_by_name(2200, RStr::from_str("c_s_seq"))
        .is_none());
}

#[test]
fn rolled_back_create_table_can_be_dropped() {
    // The catalog is not transactional: after a rolled-back CREATE TABLE
    // the catalog still has the table; DROP TABLE must clean it up.
    let db = Db::new();
    db.exec_then("CREATE TABLE t (a int)", false).unwrap();
    assert!(db.table("t").is_some());
    db.ok("DROP TABLE t");
    // Creating it again repairs the leftover entry.
    db.exec_then("CREATE TABLE t (id serial PRIMARY KEY)", false)
        .unwrap();
    db.ok("CREATE TABLE t (id serial PRIMARY KEY)");
    db.ok("INSERT INTO t DEFAULT VALUES");
    assert_eq!(db.query("SELECT id FROM t"), ["1"]);
    db.ok("DROP TABLE t");
    assert!(db.table("t").is_none());
    db.ok("CREATE TABLE t (a int)");
    db.ok("INSERT INTO t VALUES (1)");
    assert_eq!(db.query("SELECT a FROM t"), ["1"]);
}

#[test]
fn drop_column_followed_by_foreign_keys() {
    let db = Db::new();
    db.ok("CREATE TABLE p (a int, id int PRIMARY KEY, code int UNIQUE)");
    db.ok("CREATE TABLE c (pid int REFERENCES p (id), pcode int REFERENCES p (code))");
    db.ok("INSERT INTO p VALUES (0, 1, 10)");
    db.ok("INSERT INTO c VALUES (1, 10)");
    // Dropping an earlier column moves the referenced ones.
    db.ok("ALTER TABLE p DROP COLUMN a");
    let c = db.table("c").unwrap();
    let refs: Vec<Vec<u32>> = c
        .constraints
        .iter()
        .filter_map(|k| match &k.kind {
            ConstraintKind::ForeignKey { ref_columns, .. } => Some(ref_columns.to_vec()),
            _ => None,
        })
        .collect();
    assert_eq!(refs, [vec![0], vec![1]]);
    assert_eq!(
        db.err("INSERT INTO c VALUES (2, 10)").sqlstate.as_str(),
        "23503"
    );
    db.ok("INSERT INTO c VALUES (1, 10)");
    // A referenced column needs CASCADE, which drops the foreign key.
    let e = db.err("ALTER TABLE p DROP COLUMN code");
    assert_eq!(e.sqlstate.as_str(), "2BP01");
    assert_eq!(
        e.message.as_str(),
        "cannot drop column code of table p because other objects depend on it"
    );
    db.ok("ALTER TABLE p DROP COLUMN code CASCADE");
    assert_eq!(db.table("c").unwrap().constraints.len(), 1);
    db.ok("INSERT INTO c VALUES (1, 99)");
}

#[test]
fn renames_of_indexes_and_constraints() {
    let db = Db::new();
    db.ok("CREATE TABLE t (id int PRIMARY KEY, a int CONSTRAINT a_pos CHECK (a > 0))");
    db.ok("CREATE INDEX t_a_idx ON t (a)");
    db.ok("INSERT INTO t VALUES (1, 5)");
    db.ok("ALTER INDEX t_a_idx RENAME TO t_a_idx2");
    let t = db.table("t").unwrap();
    let mut names: Vec<String> = db
        .services
        .catalog
        .indexes_of(t.id)
        .iter()
        .map(|i| i.name.to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["t_a_idx2", "t_pkey"]);
    assert_eq!(db.query("SELECT id FROM t WHERE a = 5"), ["1"]);
    db.ok("ALTER TABLE t RENAME CONSTRAINT t_pkey TO t_pk");
    let t = db.table("t").unwrap();
    assert!(t.constraints.iter().any(|c| c.name.as_str() == "t_pk"));
    assert!(db
        .services
        .catalog
        .indexes_of(t.id)
        .iter()
        .any(|i| i.name.as_str() == "t_pk"));
    let e = db.err("INSERT INTO t VALUES (1, 6)");
    assert_eq!(e.sqlstate.as_str(), "23505");
    db.ok("ALTER TABLE t RENAME CONSTRAINT a_pos TO a_positive");
    let e = db.err("INSERT INTO t VALUES (2, -1)");
    assert_eq!(
        e.message.as_str(),
        "new row for relation \"t\" violates check constraint \"a_positive\""
    );
    assert_eq!(db.code("ALTER INDEX nope RENAME TO x").0, "42P01");
    assert_eq!(
        db.code("ALTER TABLE t RENAME CONSTRAINT nope TO x").0,
        "42704"
    );
    db.ok("COMMENT ON TABLE t IS 'a table'");
}
