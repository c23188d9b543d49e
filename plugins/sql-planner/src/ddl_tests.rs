//! Planning tests for DDL against a real kernel catalog. Plans that create
//! objects are applied to the catalog by a minimal stand-in for the
//! executor so later statements can refer to them.

use aiondb_kernel::catalog::KernelCatalog;
use aiondb_sdk::abi_stable::sabi_trait::TD_Opaque;
use aiondb_sdk::abi_stable::std_types::{RArc, RBox};
use aiondb_sdk::plan::{DdlAction, Operator};
use aiondb_sdk::plugin::ParserBox;
use aiondb_sdk::prelude::*;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser as SqlParser;

/// Stands in for the parser plugin (which the planner may not depend on):
/// sqlparser's AST shipped through the SDK's generic tree encoding, the
/// schema the planner decodes.
pub(crate) struct TestParser;

impl aiondb_sdk::capability::Parser for TestParser {
    fn parse(&self, sql: RStr<'_>) -> AResult<RVec<SyntaxTree>> {
        use aiondb_sdk::syntax::generic::{encode_json, SCHEMA_SQLPARSER};
        let stmts = match SqlParser::parse_sql(&PostgreSqlDialect {}, sql.as_str()) {
            Ok(s) => s,
            Err(e) => return RErr(AionError::new(SqlState::SYNTAX_ERROR, e.to_string())),
        };
        let mut out = RVec::new();
        for st in stmts {
            match serde_json::to_value(&st) {
                Ok(v) => out.push(encode_json(&v, sql.as_str(), SCHEMA_SQLPARSER)),
                Err(e) => return RErr(AionError::internal(e.to_string())),
            }
        }
        ROk(out)
    }
}

pub(crate) fn test_services() -> Services {
    let catalog: CatalogRef = Catalog_TO::from_ptr(RArc::new(KernelCatalog::new()), TD_Opaque);
    let parser: ParserBox =
        aiondb_sdk::capability::Parser_TO::from_ptr(RBox::new(TestParser), TD_Opaque);
    Services {
        catalog: RArc::new(catalog),
        parser: RArc::new(parser),
        storages: RVec::new(),
        default_storage: RString::from("in_memory"),
        functions: RVec::new(),
    }
}

pub(crate) fn test_ctx() -> PlanContext {
    PlanContext {
        search_path: RVec::from(vec![RString::from("\"$user\""), RString::from("public")]),
        user: RString::from("app"),
        database: RString::from("db"),
        param_types: RVec::new(),
    }
}

struct Db {
    s: Services,
    ctx: PlanContext,
}

impl Db {
    fn new() -> Db {
        Db {
            s: test_services(),
            ctx: test_ctx(),
        }
    }

    fn plan(&self, sql: &str) -> DbResult<Plan> {
        let stmt = SqlParser::parse_sql(&PostgreSqlDialect {}, sql)
            .map_err(|e| AionError::new(SqlState::SYNTAX_ERROR, e.to_string()))?
            .pop()
            .ok_or_else(|| AionError::internal("no statement"))?;
        let mut p = crate::shared::Planning {
            ctx: &self.ctx,
            services: &self.s,
            builder: crate::shared::PlanBuilder::new(),
        };
        super::plan_ddl(&mut p, &stmt)?.ok_or_else(|| AionError::internal("not DDL"))
    }

    fn action(&self, sql: &str) -> DdlAction {
        let p = self.plan(sql).unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        assert!(p.writes);
        match &p.nodes[p.root as usize].op {
            Operator::Ddl(a) => a.clone(),
            other => panic!("{sql}: not DDL: {other:?}"),
        }
    }

    fn err(&self, sql: &str) -> (String, String) {
        let e = self.plan(sql).expect_err(sql);
        (e.sqlstate.as_str().to_string(), e.message.to_string())
    }

    fn apply(&self, c: CatalogChange) -> u64 {
        self.s.catalog.apply(c).into_result().unwrap().id
    }

    /// Plans and applies catalog-only effects of a statement.
    fn run(&self, sql: &str) {
        match self.action(sql) {
            DdlAction::CreateTable {
                mut table,
                sequences,
                indexes,
                ..
            } => {
                let seq_ids: Vec<u64> = sequences
                    .into_iter()
                    .map(|s| self.apply(CatalogChange::CreateSequence(s)))
                    .collect();
                let id = self.apply(CatalogChange::CreateTable(table.clone()));
                table.id = id;
                let _ = seq_ids;
                for c in table.constraints.iter_mut() {
                    if let ConstraintKind::ForeignKey { ref_table, .. } = &mut c.kind {
                        if *ref_table == 0 {
                            *ref_table = id;
                        }
                    }
                }
                self.apply(CatalogChange::AlterTable(table));
                for mut i in indexes {
                    i.table = id;
                    self.apply(CatalogChange::CreateIndex(i));
                }
            }
            DdlAction::CreateSchema { schema, .. } => {
                self.apply(CatalogChange::CreateSchema(schema));
            }
            DdlAction::CreateIndex { index, .. } => {
                self.apply(CatalogChange::CreateIndex(index));
            }
            DdlAction::CreateSequence { sequence, .. } => {
                self.apply(CatalogChange::CreateSequence(sequence));
            }
            DdlAction::CreateView { view, .. } => {
                self.apply(CatalogChange::CreateTable(view));
            }
            DdlAction::AlterTable {
                new,
                create_indexes,
                drop_indexes,
                ..
            } => {
                for i in drop_indexes {
                    self.apply(CatalogChange::DropIndex { id: i });
                }
                self.apply(CatalogChange::AlterTable(new.clone()));
                for mut i in create_indexes {
                    i.table = new.id;
                    self.apply(CatalogChange::CreateIndex(i));
                }
            }
            other => panic!("cannot apply {other:?}"),
        }
    }

    fn table(&self, name: &str) -> TableDef {
        self.s
            .catalog
            .table_by_name(2200, RStr::from_str(name))
            .into_option()
            .unwrap_or_else(|| panic!("no table {name}"))
    }
}

fn create(a: DdlAction) -> (TableDef, Vec<SequenceDef>, Vec<IndexDef>) {
    match a {
        DdlAction::CreateTable {
            table,
            sequences,
            indexes,
            ..
        } => (table, sequences.into_vec(), indexes.into_vec()),
        other => panic!("not CREATE TABLE: {other:?}"),
    }
}

fn names(t: &TableDef) -> Vec<String> {
    t.constraints.iter().map(|c| c.name.to_string()).collect()
}

#[test]
fn create_table_columns_and_types() {
    let db = Db::new();
    let p = db
        .plan("CREATE TABLE t (a int, b varchar(10) NOT NULL, c numeric(10,2) DEFAULT 0, d int[], e timestamptz, f char(3), g text NULL, h bigint, i double precision, j jsonb, k uuid, l date, m boolean)")
        .unwrap();
    assert_eq!(p.command.as_str(), "CREATE TABLE");
    assert!(p.writes);
    let Operator::Ddl(a) = &p.nodes[p.root as usize].op else {
        panic!()
    };
    let (t, seqs, idx) = create(a.clone());
    assert!(seqs.is_empty() && idx.is_empty());
    assert_eq!(t.name.as_str(), "t");
    assert_eq!(t.schema, 2200);
    assert_eq!(t.storage_backend.as_str(), "in_memory");
    let types: Vec<String> = t.columns.iter().map(|c| c.data_type.to_string()).collect();
    assert_eq!(
        types,
        [
            "integer",
            "character varying(10)",
            "numeric(10,2)",
            "integer[]",
            "timestamp with time zone",
            "character(3)",
            "text",
            "bigint",
            "double precision",
            "jsonb",
            "uuid",
            "date",
            "boolean"
        ]
    );
    assert!(t.columns[0].nullable);
    assert!(!t.columns[1].nullable);
    assert_eq!(
        t.columns[2].default_expr.as_ref().map(|s| s.as_str()),
        ROption::RSome("0")
    );
}

#[test]
fn create_table_errors() {
    let db = Db::new();
    assert_eq!(
        db.err("CREATE TABLE t (a nosuchtype)"),
        ("42704".into(), "type \"nosuchtype\" does not exist".into())
    );
    assert_eq!(
        db.err("CREATE TABLE t (a int, a text)"),
        (
            "42701".into(),
            "column \"a\" specified more than once".into()
        )
    );
    assert_eq!(
        db.err("CREATE TABLE t (a int PRIMARY KEY, b int PRIMARY KEY)"),
        (
            "42P16".into(),
            "multiple primary keys for table \"t\" are not allowed".into()
        )
    );
    assert_eq!(
        db.err("CREATE TABLE nosuch.t (a int)"),
        ("3F000".into(), "schema \"nosuch\" does not exist".into())
    );
    assert_eq!(
        db.err("CREATE TABLE t (a int, PRIMARY KEY (b))"),
        (
            "42703".into(),
            "column \"b\" named in key does not exist".into()
        )
    );
    assert_eq!(
        db.err("CREATE TABLE t (a int, b int DEFAULT a)"),
        (
            "0A000".into(),
            "cannot use column reference in DEFAULT expression".into()
        )
    );
    assert_eq!(
        db.err("CREATE TABLE t (a int DEFAULT true)"),
        (
            "42804".into(),
            "column \"a\" is of type integer but default expression is of type boolean".into()
        )
    );
    db.run("CREATE TABLE t (a int)");
    assert_eq!(
        db.err("CREATE TABLE t (x int)"),
        ("42P07".into(), "relation \"t\" already exists".into())
    );
    // IF NOT EXISTS plans (the executor skips it).
    assert!(matches!(
        db.action("CREATE TABLE IF NOT EXISTS t (x nosuchtype)"),
        DdlAction::CreateTable {
            if_not_exists: true,
            ..
        }
    ));
}

#[test]
fn primary_key_unique_and_check_names() {
    let db = Db::new();
    let (t, _, idx) = create(db.action(
        "CREATE TABLE c (a int UNIQUE CHECK (a > 0), b int, id int PRIMARY KEY, CHECK (a > b), CHECK (b > 0), CHECK (1 > 0), CONSTRAINT named CHECK (a <> b), CHECK (a > 1), UNIQUE (a, b))",
    ));
    // PostgreSQL 15 names these c_a_check, c_check, c_b_check, c_check1,
    // named, c_a_check1, c_pkey, c_a_key, c_a_b_key.
    assert_eq!(
        names(&t),
        [
            "c_a_check",
            "c_check",
            "c_b_check",
            "c_check1",
            "named",
            "c_a_check1",
            "c_a_key",
            "c_pkey",
            "c_a_b_key"
        ]
    );
    let pk = t.columns.iter().find(|c| c.name.as_str() == "id").unwrap();
    assert!(!pk.nullable, "PRIMARY KEY implies NOT NULL");
    let idx_names: Vec<&str> = idx.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(idx_names, ["c_a_key", "c_pkey", "c_a_b_key"]);
    assert!(idx
        .iter()
        .all(|i| i.unique && i.method.as_str() == "btree" && i.table == 0));
    assert_eq!(idx[1].columns.as_slice(), &[2]);
    assert_eq!(idx[2].columns.as_slice(), &[0, 1]);
    let ConstraintKind::Check { expr } = &t.constraints[1].kind else {
        panic!()
    };
    assert_eq!(expr.as_str(), "a > b");
    // Table-level PRIMARY KEY and explicit names.
    let (t, _, idx) = create(db.action(
        "CREATE TABLE m (a int, b int, CONSTRAINT m_pk PRIMARY KEY (a, b), CONSTRAINT u1 UNIQUE (b))",
    ));
    assert_eq!(names(&t), ["m_pk", "u1"]);
    assert!(!t.columns[0].nullable && !t.columns[1].nullable);
    assert_eq!(idx[0].name.as_str(), "m_pk");
}

#[test]
fn serial_and_identity() {
    let db = Db::new();
    let (t, seqs, _) = create(db.action(
        "CREATE TABLE s (id serial PRIMARY KEY, b bigserial, c smallserial, d int GENERATED ALWAYS AS IDENTITY, e bigint GENERATED BY DEFAULT AS IDENTITY (START WITH 10))",
    ));
    let seq_names: Vec<&str> = seqs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        seq_names,
        ["s_id_seq", "s_b_seq", "s_c_seq", "s_d_seq", "s_e_seq"]
    );
    assert_eq!(t.columns[0].data_type, DataType::INT4);
    assert_eq!(t.columns[1].data_type, DataType::INT8);
    assert_eq!(t.columns[2].data_type, DataType::INT2);
    assert!(t.columns.iter().all(|c| !c.nullable));
    assert_eq!(
        t.columns[0].default_expr.as_ref().map(|s| s.as_str()),
        ROption::RSome("nextval('s_id_seq')")
    );
    assert_eq!(seqs[0].max_value, i32::MAX as i64);
    assert_eq!(seqs[1].max_value, i64::MAX);
    assert_eq!(seqs[2].max_value, i16::MAX as i64);
    assert_eq!(
        seqs[0].owned_by,
        ROption::RSome(OwnedBy {
            table: 0,
            column: 0
        })
    );
    assert_eq!(
        seqs[4].owned_by,
        ROption::RSome(OwnedBy {
            table: 0,
            column: 4
        })
    );
    assert_eq!(t.columns[3].identity, Identity::Always);
    assert_eq!(t.columns[4].identity, Identity::ByDefault);
    assert_eq!(seqs[4].start, 10);
    assert_eq!(
        db.err("CREATE TABLE x (a text GENERATED ALWAYS AS IDENTITY)")
            .0,
        "22023"
    );
    assert_eq!(db.err("CREATE TABLE x (a serial DEFAULT 1)").0, "42601");
    // A taken sequence name gets a number, as in PostgreSQL.
    db.run("CREATE SEQUENCE q_id_seq");
    let (_, seqs, _) = create(db.action("CREATE TABLE q (id serial)"));
    assert_eq!(seqs[0].name.as_str(), "q_id_seq1");
    // In another schema the default names it qualified.
    db.run("CREATE SCHEMA app2");
    let (t, seqs, _) = create(db.action("CREATE TABLE app2.w (id serial)"));
    assert_ne!(t.schema, 2200);
    assert_eq!(seqs[0].schema, t.schema);
    assert_eq!(
        t.columns[0].default_expr.as_ref().map(|s| s.as_str()),
        ROption::RSome("nextval('app2.w_id_seq')")
    );
}

#[test]
fn foreign_keys() {
    let db = Db::new();
    db.run("CREATE TABLE p (id int PRIMARY KEY, x int UNIQUE, y int, t text)");
    let (t, _, _) = create(db.action(
        "CREATE TABLE c (a int REFERENCES p ON DELETE CASCADE, b int, FOREIGN KEY (b) REFERENCES p (x) ON UPDATE SET NULL ON DELETE RESTRICT, CONSTRAINT fk3 FOREIGN KEY (a) REFERENCES p)",
    ));
    let pid = db.table("p").id;
    assert_eq!(names(&t), ["c_a_fkey", "c_b_fkey", "fk3"]);
    assert_eq!(
        t.constraints[0].kind,
        ConstraintKind::ForeignKey {
            columns: RVec::from(vec![0]),
            ref_table: pid,
            ref_columns: RVec::from(vec![0]),
            on_delete: ReferentialAction::Cascade,
            on_update: ReferentialAction::NoAction,
        }
    );
    assert_eq!(
        t.constraints[1].kind,
        ConstraintKind::ForeignKey {
            columns: RVec::from(vec![1]),
            ref_table: pid,
            ref_columns: RVec::from(vec![1]),
            on_delete: ReferentialAction::Restrict,
            on_update: ReferentialAction::SetNull,
        }
    );
    assert_eq!(
        db.err("CREATE TABLE c2 (a int REFERENCES p (y))"),
        (
            "42830".into(),
            "there is no unique constraint matching given keys for referenced table \"p\"".into()
        )
    );
    db.run("CREATE TABLE nopk (a int)");
    assert_eq!(
        db.err("CREATE TABLE c3 (a int REFERENCES nopk)"),
        (
            "42704".into(),
            "there is no primary key for referenced table \"nopk\"".into()
        )
    );
    assert_eq!(
        db.err("CREATE TABLE c4 (a text REFERENCES p)"),
        (
            "42804".into(),
            "foreign key constraint \"c4_a_fkey\" cannot be implemented".into()
        )
    );
    assert_eq!(
        db.err("CREATE TABLE c5 (a int REFERENCES nosuch)").0,
        "42P01"
    );
    // Self reference: ref_table 0 is fixed up by the executor.
    let (t, _, _) =
        create(db.action("CREATE TABLE tree (id int PRIMARY KEY, parent int REFERENCES tree)"));
    let ConstraintKind::ForeignKey { ref_table, .. } = &t.constraints[1].kind else {
        panic!("{:?}", t.constraints)
    };
    assert_eq!(*ref_table, 0);
}

#[test]
fn drop_statements() {
    let db = Db::new();
    db.run("CREATE TABLE a (x int)");
    db.run("CREATE TABLE b (x int)");
    db.run("CREATE SEQUENCE sq");
    let a = db.table("a").id;
    let b = db.table("b").id;
    let p = db.plan("DROP TABLE a, b CASCADE").unwrap();
    assert_eq!(p.command.as_str(), "DROP TABLE");
    assert!(matches!(
        &p.nodes[p.root as usize].op,
        Operator::Ddl(DdlAction::DropTables { tables, cascade: true }) if tables.as_slice() == [a, b]
    ));
    assert_eq!(
        db.err("DROP TABLE nope"),
        ("42P01".into(), "table \"nope\" does not exist".into())
    );
    assert_eq!(
        db.err("DROP VIEW nope"),
        ("42P01".into(), "view \"nope\" does not exist".into())
    );
    assert_eq!(
        db.err("DROP SEQUENCE nope"),
        ("42P01".into(), "sequence \"nope\" does not exist".into())
    );
    assert_eq!(
        db.err("DROP VIEW a"),
        ("42809".into(), "\"a\" is not a view".into())
    );
    assert_eq!(
        db.err("DROP TABLE sq"),
        ("42809".into(), "\"sq\" is not a table".into())
    );
    assert!(matches!(
        db.action("DROP TABLE IF EXISTS nope, a"),
        DdlAction::DropTables { tables, cascade: false } if tables.as_slice() == [a]
    ));
    assert!(matches!(
        db.action("DROP SEQUENCE sq"),
        DdlAction::DropTables { tables, .. } if tables.len() == 1
    ));
    assert_eq!(
        db.err("DROP INDEX nope"),
        ("42704".into(), "index \"nope\" does not exist".into())
    );
    assert!(matches!(
        db.action("DROP INDEX IF EXISTS nope"),
        DdlAction::DropIndexes { indexes } if indexes.is_empty()
    ));
    db.run("CREATE TABLE k (id int PRIMARY KEY)");
    db.run("CREATE INDEX ON a (x)");
    assert_eq!(
        db.err("DROP INDEX k_pkey"),
        (
            "2BP01".into(),
            "cannot drop index k_pkey because constraint k_pkey on table k requires it".into()
        )
    );
    assert!(matches!(
        db.action("DROP INDEX a_x_idx"),
        DdlAction::DropIndexes { indexes } if indexes.len() == 1
    ));
    assert_eq!(
        db.err("DROP SCHEMA nope"),
        ("3F000".into(), "schema \"nope\" does not exist".into())
    );
    assert!(matches!(
        db.action("DROP SCHEMA IF EXISTS nope CASCADE"),
        DdlAction::DropSchema {
            if_exists: true,
            cascade: true,
            ..
        }
    ));
}

#[test]
fn schemas_indexes_sequences_truncate() {
    let db = Db::new();
    let p = db.plan("CREATE SCHEMA s1").unwrap();
    assert_eq!(p.command.as_str(), "CREATE SCHEMA");
    db.run("CREATE SCHEMA s1");
    assert_eq!(
        db.err("CREATE SCHEMA s1"),
        ("42P06".into(), "schema \"s1\" already exists".into())
    );
    assert!(matches!(
        db.action("CREATE SCHEMA IF NOT EXISTS s1"),
        DdlAction::CreateSchema {
            if_not_exists: true,
            ..
        }
    ));
    db.run("CREATE TABLE t (a int, b text)");
    let DdlAction::CreateIndex { index, .. } =
        db.action("CREATE UNIQUE INDEX ON t USING btree (a, b DESC)")
    else {
        panic!()
    };
    assert_eq!(index.name.as_str(), "t_a_b_idx");
    assert!(index.unique);
    assert_eq!(index.columns.as_slice(), &[0, 1]);
    db.run("CREATE INDEX ON t (b)");
    let DdlAction::CreateIndex { index, .. } = db.action("CREATE INDEX ON t (b)") else {
        panic!()
    };
    assert_eq!(index.name.as_str(), "t_b_idx1");
    assert_eq!(db.err("CREATE INDEX t_b_idx ON t (a)").0, "42P07");
    assert!(matches!(
        db.action("CREATE INDEX IF NOT EXISTS t_b_idx ON t (a)"),
        DdlAction::CreateIndex {
            if_not_exists: true,
            ..
        }
    ));
    assert_eq!(db.err("CREATE INDEX ON t (lower(b))").0, "0A000");
    assert_eq!(db.err("CREATE INDEX ON t (zz)").0, "42703");

    let DdlAction::CreateSequence { sequence, .. } =
        db.action("CREATE SEQUENCE sq INCREMENT BY 2 MINVALUE 1 MAXVALUE 100 START WITH 5 CYCLE")
    else {
        panic!()
    };
    assert_eq!(
        (
            sequence.start,
            sequence.increment,
            sequence.min_value,
            sequence.max_value,
            sequence.cycle
        ),
        (5, 2, 1, 100, true)
    );
    let DdlAction::CreateSequence { sequence, .. } = db.action("CREATE SEQUENCE sd INCREMENT -1")
    else {
        panic!()
    };
    assert_eq!(
        (sequence.start, sequence.min_value, sequence.max_value),
        (-1, i64::MIN, -1)
    );
    assert_eq!(db.err("CREATE SEQUENCE sz INCREMENT 0").0, "22023");
    assert_eq!(
        db.err("CREATE SEQUENCE sz MINVALUE 10 MAXVALUE 5").1,
        "MINVALUE (10) must be less than MAXVALUE (5)"
    );
    let DdlAction::CreateSequence { sequence, .. } = db.action("CREATE SEQUENCE so OWNED BY t.b")
    else {
        panic!()
    };
    assert_eq!(
        sequence.owned_by,
        ROption::RSome(OwnedBy {
            table: db.table("t").id,
            column: 1
        })
    );

    db.run("CREATE TABLE p (id int PRIMARY KEY)");
    db.run("CREATE TABLE c (p int REFERENCES p)");
    let p = db.plan("TRUNCATE TABLE t RESTART IDENTITY").unwrap();
    assert_eq!(p.command.as_str(), "TRUNCATE TABLE");
    assert!(matches!(
        &p.nodes[p.root as usize].op,
        Operator::Ddl(DdlAction::Truncate { restart_identity: true, tables }) if tables.len() == 1
    ));
    let e = db.plan("TRUNCATE p").unwrap_err();
    assert_eq!(e.sqlstate.as_str(), "0A000");
    assert_eq!(
        e.message.as_str(),
        "cannot truncate a table referenced in a foreign key constraint"
    );
    assert!(matches!(
        db.action("TRUNCATE p, c"),
        DdlAction::Truncate { tables, .. } if tables.len() == 2
    ));
    assert!(matches!(
        db.action("TRUNCATE p CASCADE"),
        DdlAction::Truncate { tables, .. } if tables.len() == 2
    ));

    let p = db.plan("ANALYZE t").unwrap();
    assert_eq!(p.command.as_str(), "ANALYZE");
    assert!(matches!(
        &p.nodes[p.root as usize].op,
        Operator::Analyze { tables } if tables.as_slice() == [db.table("t").id]
    ));
    let p = db.plan("ANALYZE").unwrap();
    assert!(matches!(
        &p.nodes[p.root as usize].op,
        Operator::Analyze { tables } if tables.is_empty()
    ));
}

#[test]
fn alter_table() {
    let db = Db::new();
    db.run("CREATE TABLE t (id int PRIMARY KEY, a int, b text, c int)");
    db.run("CREATE INDEX t_c_idx ON t (c)");
    let t = db.table("t");

    let DdlAction::AlterTable { new, fill, .. } = db.action("ALTER TABLE t ADD COLUMN d int")
    else {
        panic!()
    };
    assert_eq!(new.columns.len(), 5);
    assert!(fill.is_none());
    assert_eq!(
        db.err("ALTER TABLE t ADD COLUMN d int DEFAULT a").0,
        "0A000"
    );
    assert_eq!(
        db.err("ALTER TABLE t DROP COLUMN a, ADD COLUMN z int").0,
        "0A000"
    );
    assert_eq!(
        db.err("ALTER TABLE t ADD COLUMN a int"),
        (
            "42701".into(),
            "column \"a\" of relation \"t\" already exists".into()
        )
    );
    let DdlAction::AlterTable { new, .. } =
        db.action("ALTER TABLE t ADD COLUMN IF NOT EXISTS a int")
    else {
        panic!()
    };
    assert_eq!(new.columns.len(), 4);

    let DdlAction::AlterTable {
        new,
        drop_indexes,
        create_indexes,
        ..
    } = db.action("ALTER TABLE t DROP COLUMN a")
    else {
        panic!()
    };
    assert_eq!(new.columns.len(), 3);
    // t_c_idx moves from column 3 to 2: dropped and created again.
    assert_eq!(drop_indexes.len(), 1);
    assert_eq!(create_indexes.len(), 1);
    assert_eq!(create_indexes[0].name.as_str(), "t_c_idx");
    assert_eq!(create_indexes[0].columns.as_slice(), &[2]);
    assert_eq!(
        db.err("ALTER TABLE t DROP COLUMN zz"),
        (
            "42703".into(),
            "column \"zz\" of relation \"t\" does not exist".into()
        )
    );
    let DdlAction::AlterTable { new, .. } = db.action("ALTER TABLE t DROP COLUMN IF EXISTS zz")
    else {
        panic!()
    };
    assert_eq!(new, t);

    let DdlAction::AlterTable { new, .. } = db.action("ALTER TABLE t RENAME COLUMN a TO a2") else {
        panic!()
    };
    assert_eq!(new.columns[1].name.as_str(), "a2");
    assert_eq!(
        db.err("ALTER TABLE t RENAME COLUMN zz TO y"),
        ("42703".into(), "column \"zz\" does not exist".into())
    );
    let DdlAction::AlterTable { new, .. } = db.action("ALTER TABLE t RENAME TO t2") else {
        panic!()
    };
    assert_eq!(new.name.as_str(), "t2");
    assert_eq!(new.id, t.id);

    let DdlAction::AlterTable { new, .. } =
        db.action("ALTER TABLE t ALTER COLUMN a SET DEFAULT 5, ALTER b SET NOT NULL")
    else {
        panic!()
    };
    assert_eq!(
        new.columns[1].default_expr.as_ref().map(|s| s.as_str()),
        ROption::RSome("5")
    );
    assert!(!new.columns[2].nullable);
    assert_eq!(
        db.err("ALTER TABLE t ALTER COLUMN id DROP NOT NULL"),
        ("42P16".into(), "column \"id\" is in a primary key".into())
    );

    let DdlAction::AlterTable {
        new,
        create_indexes,
        validate_checks,
        ..
    } = db.action("ALTER TABLE t ADD CONSTRAINT a_pos CHECK (a > 0), ADD UNIQUE (b)")
    else {
        panic!()
    };
    assert_eq!(names(&new), ["t_pkey", "a_pos", "t_b_key"]);
    assert_eq!(create_indexes.len(), 1);
    assert_eq!(create_indexes[0].name.as_str(), "t_b_key");
    assert_eq!(create_indexes[0].table, t.id);
    assert_eq!(validate_checks.len(), 1);
    assert_eq!(
        db.err("ALTER TABLE t ADD CONSTRAINT t_pkey CHECK (a > 0)")
            .0,
        "42710"
    );
    assert_eq!(db.err("ALTER TABLE t ADD PRIMARY KEY (a)").0, "42P16");
    assert_eq!(
        db.err("ALTER TABLE t DROP CONSTRAINT zz"),
        (
            "42704".into(),
            "constraint \"zz\" of relation \"t\" does not exist".into()
        )
    );
    let DdlAction::AlterTable {
        new, drop_indexes, ..
    } = db.action("ALTER TABLE t DROP CONSTRAINT t_pkey")
    else {
        panic!()
    };
    assert!(new.constraints.is_empty());
    assert_eq!(drop_indexes.len(), 1);

    db.run("CREATE TABLE r (x int REFERENCES t)");
    let e = db.plan("ALTER TABLE t DROP CONSTRAINT t_pkey").unwrap_err();
    assert_eq!(e.sqlstate.as_str(), "2BP01");
    let e = db.plan("ALTER TABLE t DROP COLUMN id").unwrap_err();
    assert_eq!(e.sqlstate.as_str(), "2BP01");
    let DdlAction::AlterTable {
        validate_foreign_keys,
        new,
        ..
    } = db.action("ALTER TABLE r ADD FOREIGN KEY (x) REFERENCES t (id)")
    else {
        panic!()
    };
    assert!(validate_foreign_keys);
    assert_eq!(names(&new), ["r_x_fkey", "r_x_fkey1"]);

    assert!(matches!(
        db.action("ALTER TABLE IF EXISTS nope ADD COLUMN x int"),
        DdlAction::DropIndexes { indexes } if indexes.is_empty()
    ));
    assert_eq!(db.err("ALTER TABLE nope ADD COLUMN x int").0, "42P01");
}

#[test]
fn name_truncation() {
    let long = "a".repeat(70);
    assert_eq!(super::truncate_name(&long).len(), 63);
    let n = super::make_object_name(&"t".repeat(40), Some(&"c".repeat(40)), "key");
    assert_eq!(n.len(), 63);
    assert!(n.ends_with("_key"));
}
