//! Plan-shape tests against a real kernel catalog.

use crate::shared::plan_statement;
use aiondb_kernel::catalog::KernelCatalog;
use aiondb_sdk::abi_stable::sabi_trait::TD_Opaque;
use aiondb_sdk::abi_stable::std_types::{RArc, RBox};
use aiondb_sdk::plan::{ExprKind, IndexProbe, JoinMethod, Operator, SpecialFunc};
use aiondb_sdk::prelude::*;
use aiondb_sdk::syscat::{SysCx, SysFunc};
use sqlparser::dialect::PostgreSqlDialect;

struct Funcs;
impl FunctionSet for Funcs {
    fn functions(&self) -> AResult<RVec<FunctionSignature>> {
        let f = |id, name: &str, args: Vec<DataType>, returns| FunctionSignature {
            id,
            name: name.into(),
            args: RVec::from(args),
            variadic: false,
            returns,
            volatility: Volatility::Immutable,
            strict: true,
        };
        ROk(RVec::from(vec![
            f(0, "upper", vec![DataType::TEXT], DataType::TEXT),
            f(1, "abs", vec![DataType::INT4], DataType::INT4),
            f(2, "abs", vec![DataType::FLOAT8], DataType::FLOAT8),
            f(3, "length", vec![DataType::TEXT], DataType::INT4),
        ]))
    }
    fn call(&self, _id: u32, _args: RSlice<'_, Value>) -> AResult<Value> {
        ROk(Value::Null)
    }
}

fn col(name: &str, t: DataType) -> ColumnDef {
    ColumnDef {
        name: name.into(),
        data_type: t,
        nullable: true,
        default_expr: ROption::RNone,
        identity: Identity::None,
    }
}

fn setup() -> Services {
    let cat = Catalog_TO::from_ptr(RArc::new(KernelCatalog::new()), TD_Opaque);
    let public = cat
        .schema_by_name("public".into())
        .into_option()
        .map(|s| s.id)
        .unwrap_or(2200);
    let mk = |name: &str, cols: Vec<ColumnDef>, constraints: Vec<ConstraintDef>| {
        let t = TableDef {
            id: 0,
            schema: public,
            name: name.into(),
            kind: RelationKind::Table,
            columns: RVec::from(cols),
            constraints: RVec::from(constraints),
            storage_backend: "in_memory".into(),
            view_sql: ROption::RNone,
        };
        cat.apply(CatalogChange::CreateTable(t))
            .into_result()
            .map(|a| a.id)
            .unwrap_or(0)
    };
    let mut idcol = col("id", DataType::INT4);
    idcol.nullable = false;
    let t = mk(
        "t",
        vec![
            idcol.clone(),
            col("name", DataType::TEXT),
            col("v", DataType::INT4),
        ],
        vec![ConstraintDef {
            name: "t_v_check".into(),
            kind: ConstraintKind::Check {
                expr: "v > 0".into(),
            },
        }],
    );
    let mut defcol = col("n", DataType::INT4);
    defcol.default_expr = ROption::RSome("42".into());
    let u = mk(
        "u",
        vec![idcol.clone(), col("t_id", DataType::INT4), defcol],
        vec![],
    );
    for (i, name) in ["a", "b", "c", "d", "e", "f"].iter().enumerate() {
        let _ = i;
        mk(name, vec![idcol.clone(), col("x", DataType::INT4)], vec![]);
    }
    for (tid, name) in [(t, "t_pkey"), (u, "u_pkey")] {
        let _ = cat.apply(CatalogChange::CreateIndex(IndexDef {
            id: 0,
            table: tid,
            name: name.into(),
            method: "btree".into(),
            columns: RVec::from(vec![0u32]),
            unique: true,
            options: RVec::new(),
        }));
    }
    let _ = cat.apply(CatalogChange::CreateIndex(IndexDef {
        id: 0,
        table: u,
        name: "u_t_id".into(),
        method: "btree".into(),
        columns: RVec::from(vec![1u32]),
        unique: false,
        options: RVec::new(),
    }));
    let parser = aiondb_sdk::capability::Parser_TO::from_ptr(
        RBox::new(crate::ddl::tests::TestParser),
        TD_Opaque,
    );
    let funcs = aiondb_sdk::capability::FunctionSet_TO::from_ptr(RBox::new(Funcs), TD_Opaque);
    Services {
        catalog: RArc::new(cat),
        parser: RArc::new(parser),
        storages: RVec::new(),
        default_storage: "in_memory".into(),
        functions: RVec::from(vec![FunctionsHandle {
            key: "core".into(),
            set: RArc::new(funcs),
        }]),
    }
}

fn ctx() -> PlanContext {
    PlanContext {
        search_path: RVec::from(vec![RString::from("public")]),
        user: "u".into(),
        database: "db".into(),
        param_types: RVec::new(),
    }
}

fn plan(sql: &str) -> DbResult<Plan> {
    let services = setup();
    let stmts = sqlparser::parser::Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .map_err(|e| AionError::new(SqlState::SYNTAX_ERROR, e.to_string()))?;
    plan_statement(&ctx(), &services, &stmts[0])
}

fn ok(sql: &str) -> Plan {
    match plan(sql) {
        Ok(p) => p,
        Err(e) => panic!("{sql}: {e}"),
    }
}

fn code(sql: &str) -> String {
    match plan(sql) {
        Ok(_) => "ok".into(),
        Err(e) => e.sqlstate.as_str().to_string(),
    }
}

fn ops(p: &Plan) -> Vec<&Operator> {
    p.nodes.iter().map(|n| &n.op).collect()
}

fn out_types(p: &Plan) -> Vec<DataType> {
    p.output.fields.iter().map(|f| f.data_type).collect()
}

fn names(p: &Plan) -> Vec<String> {
    p.output.fields.iter().map(|f| f.name.to_string()).collect()
}

#[test]
fn binding_errors_have_sqlstates() {
    assert_eq!(code("SELECT * FROM nope"), "42P01");
    assert_eq!(code("SELECT nope FROM t"), "42703");
    assert_eq!(code("SELECT id FROM t, u"), "42702");
    assert_eq!(code("SELECT name, count(*) FROM t"), "42803");
    assert_eq!(code("SELECT id + 'x'::text FROM t"), "42883");
    assert_eq!(code("SELECT nosuch(1)"), "42883");
    assert_eq!(code("SELECT 1 FROM t WHERE count(*) > 1"), "42803");
    assert_eq!(code("SELECT x.id FROM t"), "42P01");
    assert_eq!(code("SELECT 1 WHERE 1"), "42804");
}

#[test]
fn result_types_follow_postgres() {
    let p = ok("SELECT count(*), sum(v), avg(v), min(name), 1, 1.5, 'a', 10000000000 FROM t");
    assert_eq!(
        out_types(&p),
        vec![
            DataType::INT8,
            DataType::INT8,
            DataType::NUMERIC,
            DataType::TEXT,
            DataType::INT4,
            DataType::NUMERIC,
            DataType::TEXT,
            DataType::INT8
        ]
    );
    assert_eq!(
        names(&p),
        vec!["count", "sum", "avg", "min", "?column?", "?column?", "?column?", "?column?"]
    );
    let p = ok("SELECT id AS k, t.name, v::int8, upper(name), abs(-1), abs(1.5::float8) FROM t");
    assert_eq!(names(&p), vec!["k", "name", "v", "upper", "abs", "abs"]);
    assert_eq!(out_types(&p)[2], DataType::INT8);
    assert_eq!(out_types(&p)[5], DataType::FLOAT8);
    let p = ok("SELECT '1'::varchar(3), CAST(2 AS numeric(5,2)), CASE WHEN v > 1 THEN 1 ELSE 2.5 END FROM t");
    assert_eq!(out_types(&p)[0], DataType::varchar(3));
    assert_eq!(out_types(&p)[1], DataType::numeric(5, 2));
    assert_eq!(out_types(&p)[2], DataType::NUMERIC);
}

#[test]
fn prefix_operators_and_negative_literals() {
    // The minus folds into the literal: -2147483648 is an integer.
    let p = ok(
        "SELECT -2147483648, (-2147483648), -2147483649, -9223372036854775808, @ -5, @ 1.5::float8",
    );
    assert_eq!(
        out_types(&p),
        vec![
            DataType::INT4,
            DataType::INT4,
            DataType::INT8,
            DataType::INT8,
            DataType::INT4,
            DataType::FLOAT8
        ]
    );
    assert_eq!(names(&p)[4], "?column?");
    let p = ok("SELECT -(-2147483648), - -5");
    assert_eq!(out_types(&p), vec![DataType::INT8, DataType::INT4]);
    assert_eq!(code("SELECT @ 'x'::text"), "42883");
    assert_eq!(code("SELECT |/ 'x'::text"), "42883");
}

#[test]
fn untyped_operands_of_json_operators() {
    let p = ok("SELECT '{}'::jsonb #> '{a,b}', '{}'::jsonb #>> '{a}', '{}'::jsonb @> '{}', '{}'::jsonb - 'a', '{}'::jsonb -> 'a'");
    let j = DataType::JSONB;
    assert_eq!(out_types(&p), vec![j, DataType::TEXT, DataType::BOOL, j, j]);
    assert_eq!(code("SELECT '{}'::json - 'a'"), "42883");
}

#[test]
fn index_chosen_for_point_query() {
    let p = ok("SELECT name FROM t WHERE id = 1");
    let idx = ops(&p).into_iter().find_map(|o| match o {
        Operator::IndexScan {
            probe: IndexProbe::Eq(v),
            projection,
            ..
        } => Some((v.len(), projection.clone())),
        _ => None,
    });
    let (n, proj) = idx.expect("index scan");
    assert_eq!(n, 1);
    assert_eq!(proj.as_slice(), &[1]);
    // Range probe.
    let p = ok("SELECT name FROM t WHERE id > 5 AND id <= 10");
    assert!(ops(&p).iter().any(|o| matches!(
        o,
        Operator::IndexScan {
            probe: IndexProbe::Range { .. },
            ..
        }
    )));
}

#[test]
fn parameter_types_are_inferred() {
    let p = ok("SELECT name FROM t WHERE id = $1 AND name LIKE $2");
    assert_eq!(p.param_types.as_slice(), &[DataType::INT4, DataType::TEXT]);
    let p = ok("INSERT INTO t (id, name, v) VALUES ($1, $2, $3)");
    assert_eq!(
        p.param_types.as_slice(),
        &[DataType::INT4, DataType::TEXT, DataType::INT4]
    );
    let p = ok("SELECT * FROM t LIMIT $1");
    assert_eq!(p.param_types.as_slice(), &[DataType::INT8]);
}

#[test]
fn equi_join_uses_hash_join() {
    let p = ok("SELECT t.name, a.x FROM t JOIN a ON t.v = a.x WHERE a.x > 3");
    assert!(ops(&p).iter().any(|o| matches!(o, Operator::Join { method: JoinMethod::Hash, left_keys, .. } if left_keys.len() == 1)));
}

#[test]
fn six_table_join_is_planned() {
    let p = ok("SELECT a.id FROM a, b, c, d, e, f WHERE a.x = b.id AND b.x = c.id AND c.x = d.id AND d.x = e.id AND e.x = f.id AND f.x = 1");
    let joins = ops(&p)
        .iter()
        .filter(|o| matches!(o, Operator::Join { .. }))
        .count();
    assert_eq!(joins, 5);
    assert!(ops(&p).iter().all(|o| !matches!(o, Operator::Join { condition: ROption::RNone, left_keys, .. } if left_keys.is_empty())));
    for n in p.nodes.iter() {
        assert!(n.est_rows >= 1.0 || matches!(n.op, Operator::Values { .. }));
    }
}

#[test]
fn queries_of_every_shape_plan() {
    for sql in [
        "SELECT DISTINCT name FROM t ORDER BY name",
        "SELECT DISTINCT ON (v) v, name FROM t ORDER BY v, name DESC",
        "SELECT v, count(*) FROM t GROUP BY v HAVING count(*) > 1 ORDER BY 2 DESC LIMIT 3 OFFSET 1",
        "SELECT v AS k, sum(id) FROM t GROUP BY k",
        "SELECT name, row_number() OVER (PARTITION BY v ORDER BY id), sum(v) OVER () FROM t",
        "SELECT t.*, u.* FROM t LEFT JOIN u ON u.t_id = t.id",
        "SELECT * FROM t FULL JOIN u USING (id)",
        "SELECT * FROM a NATURAL JOIN b",
        "SELECT * FROM t WHERE id IN (SELECT t_id FROM u) AND EXISTS (SELECT 1 FROM u WHERE u.t_id = t.id)",
        "SELECT (SELECT max(n) FROM u WHERE u.t_id = t.id) FROM t",
        "SELECT * FROM (SELECT id, v FROM t) s WHERE s.id = 2",
        "WITH c AS (SELECT id FROM t) SELECT * FROM c JOIN c AS d ON c.id = d.id",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 10) SELECT sum(n) FROM r",
        "SELECT id FROM t UNION SELECT id FROM u ORDER BY 1",
        "SELECT 1, 'a' INTERSECT ALL SELECT 2, 'b'",
        "VALUES (1, 'a'), (2, NULL)",
        "SELECT * FROM generate_series(1, 10) AS g(i) WHERE i % 2 = 0",
        "SELECT * FROM t, LATERAL (SELECT * FROM u WHERE u.t_id = t.id) x",
        "SELECT x FROM unnest(ARRAY[1,2,3]) WITH ORDINALITY AS x",
        "SELECT coalesce(name, 'z'), nullif(v, 0), greatest(1, 2.5), now(), current_date FROM t",
        "SELECT v BETWEEN 1 AND 3, v IN (1, 2, NULL), name ILIKE 'a%', v = ANY(ARRAY[1,2]), v IS NOT DISTINCT FROM 3 FROM t",
        "SELECT * FROM t FOR UPDATE",
        "SELECT string_agg(name, ',' ORDER BY id), count(DISTINCT v), sum(v) FILTER (WHERE v > 1) FROM t",
        "SELECT name FROM t ORDER BY v + 1 DESC NULLS LAST",
        "SELECT array_agg(v)[1] FROM t",
        "SELECT pg_typeof(1)",
        "SELECT upper(name) || length(name) FROM t WHERE upper(name) = $1",
        "SELECT * FROM t ORDER BY id LIMIT 5",
        "EXPLAIN SELECT * FROM t",
        "ANALYZE t",
    ] {
        let _ = ok(sql);
    }
}

#[test]
fn order_by_limit_uses_index() {
    let p = ok("SELECT * FROM t ORDER BY id DESC LIMIT 5");
    assert!(ops(&p).iter().any(|o| matches!(
        o,
        Operator::IndexScan {
            probe: IndexProbe::Full,
            reverse: true,
            ..
        }
    )));
    assert!(!ops(&p).iter().any(|o| matches!(o, Operator::Sort { .. })));
}

#[test]
fn correlated_subquery_uses_outer_column() {
    let p = ok("SELECT (SELECT count(*) FROM u WHERE u.n = t.v) FROM t");
    assert!(p
        .exprs
        .iter()
        .any(|e| matches!(e.kind, ExprKind::OuterColumn { depth: 1, .. })));
}

#[test]
fn index_nested_loop_for_small_outer() {
    let p = ok("SELECT * FROM t JOIN u ON u.t_id = t.id WHERE t.id = 7");
    let lateral_nl = ops(&p).iter().any(|o| {
        matches!(
            o,
            Operator::Join {
                method: JoinMethod::NestedLoop,
                lateral: true,
                ..
            }
        )
    });
    assert!(lateral_nl, "{:?}", ops(&p));
}

#[test]
fn dml_plans() {
    let p = ok("INSERT INTO u (id, t_id) VALUES (1, 2), (3, DEFAULT) RETURNING *");
    assert_eq!(p.command.as_str(), "INSERT");
    assert!(p.writes);
    assert_eq!(names(&p), vec!["id", "t_id", "n"]);
    let Operator::Values { rows } = &p.nodes[p.nodes[p.root as usize].inputs[0] as usize].op else {
        panic!("values")
    };
    assert_eq!(rows[0].len(), 3);
    assert!(matches!(
        p.exprs[rows[0][2] as usize].kind,
        ExprKind::Const(Value::Int4(42))
    ));
    let p = ok("INSERT INTO t VALUES (1, 'a', 2)");
    let Operator::Insert { checks, .. } = &p.nodes[p.root as usize].op else {
        panic!()
    };
    assert_eq!(checks.len(), 1);
    let _ = ok("INSERT INTO t SELECT id, 'x', 1 FROM u");
    let _ = ok("INSERT INTO t VALUES (1, 'a', 2) ON CONFLICT (id) DO UPDATE SET v = excluded.v + t.v WHERE t.v < 10");
    let _ = ok("INSERT INTO t VALUES (1, 'a', 2) ON CONFLICT DO NOTHING");
    assert_eq!(code("INSERT INTO t (id) VALUES (1, 2)"), "42601");
    assert_eq!(code("INSERT INTO t (nope) VALUES (1)"), "42703");
    assert_eq!(code("INSERT INTO t (id) VALUES ('x')"), "22P02");
    let p = ok("UPDATE t SET v = v + 1, name = 'q' WHERE id = 3 RETURNING v");
    let Operator::Update {
        row_id_column,
        assignments,
        recheck,
        ..
    } = &p.nodes[p.root as usize].op
    else {
        panic!()
    };
    assert_eq!(*row_id_column, 3);
    assert_eq!(assignments.len(), 2);
    assert!(recheck.is_some());
    assert_eq!(
        p.nodes[p.nodes[p.root as usize].inputs[0] as usize]
            .output
            .len(),
        4
    );
    let _ = ok("UPDATE t SET v = u.n FROM u WHERE u.t_id = t.id");
    let p = ok("DELETE FROM t WHERE v > 3 RETURNING id");
    assert_eq!(p.command.as_str(), "DELETE");
    let _ = ok("DELETE FROM t USING u WHERE u.t_id = t.id");
}

#[test]
fn point_query_plans_fast() {
    let services = setup();
    let stmts = sqlparser::parser::Parser::parse_sql(
        &PostgreSqlDialect {},
        "SELECT name FROM t WHERE id = $1",
    )
    .unwrap_or_default();
    let start = std::time::Instant::now();
    for _ in 0..100 {
        let _ = plan_statement(&ctx(), &services, &stmts[0]);
    }
    // Debug builds are slow; this guards against accidental exhaustive search.
    assert!(start.elapsed().as_millis() < 2000);
}

/// Services with two 20k-row tables `big1`, `big2` (id primary key, x),
/// statistics as ANALYZE would leave them.
fn setup_big() -> Services {
    let services = setup();
    let cat = &services.catalog;
    let public = cat
        .schema_by_name("public".into())
        .into_option()
        .map(|s| s.id)
        .unwrap_or(2200);
    for name in ["big1", "big2"] {
        let mut idcol = col("id", DataType::INT4);
        idcol.nullable = false;
        let t = TableDef {
            id: 0,
            schema: public,
            name: name.into(),
            kind: RelationKind::Table,
            columns: RVec::from(vec![idcol, col("x", DataType::INT4)]),
            constraints: RVec::new(),
            storage_backend: "in_memory".into(),
            view_sql: ROption::RNone,
        };
        let tid = cat
            .apply(CatalogChange::CreateTable(t))
            .into_result()
            .map(|a| a.id)
            .unwrap_or(0);
        let _ = cat.apply(CatalogChange::CreateIndex(IndexDef {
            id: 0,
            table: tid,
            name: format!("{name}_pkey").as_str().into(),
            method: "btree".into(),
            columns: RVec::from(vec![0u32]),
            unique: true,
            options: RVec::new(),
        }));
        let cs = |nd: f64| ColumnStatistics {
            n_distinct: nd,
            null_fraction: 0.0,
            min: Value::Null,
            max: Value::Null,
        };
        cat.set_table_stats(
            tid,
            TableStatistics {
                row_count: 20000.0,
                columns: RVec::from(vec![cs(20000.0), cs(100.0)]),
            },
        );
    }
    services
}

fn plan_big(sql: &str) -> Plan {
    let services = setup_big();
    let stmts = match sqlparser::parser::Parser::parse_sql(&PostgreSqlDialect {}, sql) {
        Ok(s) => s,
        Err(e) => panic!("{sql}: {e}"),
    };
    match plan_statement(&ctx(), &services, &stmts[0]) {
        Ok(p) => p,
        Err(e) => panic!("{sql}: {e}"),
    }
}

fn join_methods(p: &Plan) -> Vec<JoinMethod> {
    ops(p)
        .iter()
        .filter_map(|o| match o {
            Operator::Join { method, .. } => Some(*method),
            _ => None,
        })
        .collect()
}

#[test]
fn order_by_join_key_uses_merge_join_over_pkey_scans() {
    let p = plan_big(
        "SELECT big1.id, big2.x FROM big1 JOIN big2 ON big1.id = big2.id ORDER BY big1.id",
    );
    assert_eq!(join_methods(&p), vec![JoinMethod::Merge], "{:?}", ops(&p));
    let full_scans = ops(&p)
        .iter()
        .filter(|o| {
            matches!(
                o,
                Operator::IndexScan {
                    probe: IndexProbe::Full,
                    reverse: false,
                    ..
                }
            )
        })
        .count();
    assert_eq!(full_scans, 2, "{:?}", ops(&p));
    assert!(!ops(&p).iter().any(|o| matches!(o, Operator::Sort { .. })));
    // Its estimated cost is below the hash join plus a Sort on top.
    let cost = |p: &Plan| p.node(p.root).map(|n| (n.est_cost, n.est_rows));
    let hash = plan_big("SELECT big1.id, big2.x FROM big1 JOIN big2 ON big1.id = big2.id");
    let (Some((merge_cost, _)), Some((hash_cost, rows))) = (cost(&p), cost(&hash)) else {
        panic!("no root node");
    };
    let sorted_hash = hash_cost + crate::optimizer::sort_node_cost(rows);
    assert!(
        merge_cost < sorted_hash,
        "merge {merge_cost} vs hash+sort {sorted_hash}"
    );
}

#[test]
fn order_by_right_key_of_inner_join_is_also_satisfied() {
    let p = plan_big("SELECT big1.x FROM big1 JOIN big2 ON big1.id = big2.id ORDER BY big2.id");
    assert_eq!(join_methods(&p), vec![JoinMethod::Merge], "{:?}", ops(&p));
    assert!(!ops(&p).iter().any(|o| matches!(o, Operator::Sort { .. })));
}

#[test]
fn join_without_useful_order_stays_hash() {
    // No ORDER BY: reading both tables through their indexes does not pay.
    let p = plan_big("SELECT big1.id, big2.x FROM big1 JOIN big2 ON big1.id = big2.id");
    assert_eq!(join_methods(&p), vec![JoinMethod::Hash], "{:?}", ops(&p));
    // ORDER BY something else than the key keeps the Sort above a hash join.
    let p =
        plan_big("SELECT big1.id, big2.x FROM big1 JOIN big2 ON big1.id = big2.id ORDER BY big2.x");
    assert_eq!(join_methods(&p), vec![JoinMethod::Hash], "{:?}", ops(&p));
    assert!(ops(&p).iter().any(|o| matches!(o, Operator::Sort { .. })));
    // Descending order is not what the merge delivers.
    let p =
        plan_big("SELECT big1.id FROM big1 JOIN big2 ON big1.id = big2.id ORDER BY big1.id DESC");
    assert!(ops(&p).iter().any(|o| matches!(o, Operator::Sort { .. })));
}

#[test]
fn left_join_order_by_left_key_drops_the_sort() {
    let p = plan_big(
        "SELECT big1.id, big2.x FROM big1 LEFT JOIN big2 ON big1.id = big2.id ORDER BY big1.id",
    );
    assert_eq!(join_methods(&p), vec![JoinMethod::Merge], "{:?}", ops(&p));
    assert!(!ops(&p).iter().any(|o| matches!(o, Operator::Sort { .. })));
    // NULLS FIRST is not the merge output's order: the Sort stays.
    let p = plan_big(
        "SELECT big1.id, big2.x FROM big1 LEFT JOIN big2 ON big1.id = big2.id ORDER BY big1.id NULLS FIRST",
    );
    assert!(ops(&p).iter().any(|o| matches!(o, Operator::Sort { .. })));
}

#[test]
fn data_modifying_ctes_run_under_with_dml() {
    // Unreferenced: still planned, under a WithDml root.
    let p = ok("WITH d AS (DELETE FROM t WHERE v > 5) SELECT 1");
    assert!(p.writes);
    let Operator::WithDml { ctes } = &p.nodes[p.root as usize].op else {
        panic!("WithDml root")
    };
    assert_eq!(ctes.len(), 1);
    assert_eq!(ctes[0].name.as_str(), "d");
    let root = &p.nodes[p.root as usize];
    assert!(matches!(
        p.nodes[root.inputs[1] as usize].op,
        Operator::Delete { .. }
    ));
    // Referenced twice: two scans of the one worktable, one Delete.
    let p = ok("WITH d AS (DELETE FROM t RETURNING id) SELECT * FROM d a JOIN d b ON a.id = b.id");
    let Operator::WithDml { ctes } = &p.nodes[p.root as usize].op else {
        panic!("WithDml root")
    };
    let wt = ctes[0].worktable;
    let scans = ops(&p)
        .into_iter()
        .filter(|o| matches!(o, Operator::WorkTableScan { worktable } if *worktable == wt))
        .count();
    assert_eq!(scans, 2);
    let deletes = ops(&p)
        .into_iter()
        .filter(|o| matches!(o, Operator::Delete { .. }))
        .count();
    assert_eq!(deletes, 1);
    // A DML main statement keeps its root; WithDml becomes its input.
    let p = ok("WITH d AS (DELETE FROM t RETURNING id) INSERT INTO u (id) SELECT id FROM d");
    let root = &p.nodes[p.root as usize];
    assert!(matches!(root.op, Operator::Insert { .. }));
    assert!(matches!(
        p.nodes[root.inputs[0] as usize].op,
        Operator::WithDml { .. }
    ));
    // Errors as in PostgreSQL.
    assert_eq!(
        code("WITH d AS (DELETE FROM t WHERE v > 5) SELECT * FROM d"),
        "0A000"
    );
    assert_eq!(
        code("SELECT * FROM (WITH d AS (DELETE FROM t RETURNING id) SELECT * FROM d) s"),
        "0A000"
    );
    // Plain queries get no WithDml.
    let p = ok("WITH c AS (SELECT id FROM t) SELECT * FROM c");
    assert!(!ops(&p)
        .iter()
        .any(|o| matches!(o, Operator::WithDml { .. })));
}

// ------------------------------------------------------------ system catalog

fn table_function_names(p: &Plan) -> Vec<String> {
    p.nodes
        .iter()
        .filter_map(|n| match &n.op {
            Operator::TableFunction { call, .. } => Some(call.name.to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn system_relations_plan_as_catalog_scans() {
    let p = ok("SELECT oid, relname, relkind FROM pg_catalog.pg_class");
    assert_eq!(table_function_names(&p), vec!["pg_catalog.pg_class"]);
    assert_eq!(
        out_types(&p),
        vec![
            DataType::scalar(TypeId::Oid),
            DataType::scalar(TypeId::Name),
            DataType::scalar(TypeId::InternalChar)
        ]
    );
    // Unqualified through the search path, and information_schema qualified.
    let p = ok("SELECT nspname FROM pg_namespace");
    assert_eq!(table_function_names(&p), vec!["pg_catalog.pg_namespace"]);
    let p = ok("SELECT table_name FROM information_schema.tables");
    assert_eq!(table_function_names(&p), vec!["information_schema.tables"]);
    // information_schema is not on the search path; user tables still win
    // in their own schema.
    assert_eq!(code("SELECT * FROM tables"), "42P01");
    assert_eq!(code("SELECT * FROM pg_catalog.nope"), "42P01");
    assert_eq!(
        table_function_names(&ok("SELECT * FROM t")),
        Vec::<String>::new()
    );
}

#[test]
fn psql_describe_queries_plan() {
    for sql in [
        "SELECT n.nspname as \"Schema\", c.relname as \"Name\", CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' END as \"Type\", pg_catalog.pg_get_userbyid(c.relowner) as \"Owner\" FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam WHERE c.relkind IN ('r','p','') AND n.nspname <> 'pg_catalog' AND n.nspname !~ '^pg_toast' AND pg_catalog.pg_table_is_visible(c.oid) ORDER BY 1,2",
        "SELECT c.oid, n.nspname, c.relname FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relname OPERATOR(pg_catalog.~) '^(t)$' COLLATE pg_catalog.default AND pg_catalog.pg_table_is_visible(c.oid) ORDER BY 2, 3",
        "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true) FROM pg_catalog.pg_attrdef d WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef), a.attnotnull FROM pg_catalog.pg_attribute a WHERE a.attrelid = '16384' AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        "SELECT conname, conrelid::pg_catalog.regclass AS ontable, pg_catalog.pg_get_constraintdef(oid, true) AS condef FROM pg_catalog.pg_constraint c WHERE confrelid IN (SELECT pg_catalog.pg_partition_ancestors('16384') UNION ALL VALUES ('16384'::pg_catalog.regclass)) AND contype = 'f' AND conparentid = 0 ORDER BY conname",
        "SELECT r.rolname, ARRAY(SELECT b.rolname FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles b ON (m.roleid = b.oid) WHERE m.member = r.oid) as memberof FROM pg_catalog.pg_roles r WHERE r.rolname !~ '^pg_' ORDER BY 1",
    ] {
        ok(sql);
    }
}

#[test]
fn reg_types_convert_through_the_catalog() {
    let p = ok("SELECT 't'::regclass");
    // Result columns of a reg* type leave the plan as text (the name).
    assert_eq!(out_types(&p), vec![DataType::TEXT]);
    let specials: Vec<SpecialFunc> = p
        .exprs
        .iter()
        .filter_map(|e| match &e.kind {
            ExprKind::Special { func, .. } => Some(*func),
            _ => None,
        })
        .collect();
    assert!(specials.contains(&SpecialFunc::Catalog(SysFunc::RegClassIn)));
    assert!(specials.contains(&SpecialFunc::Catalog(SysFunc::RegClassOut)));
    // Compared as an oid, it stays an oid.
    let p = ok("SELECT relname FROM pg_class WHERE oid = 't'::regclass");
    assert_eq!(out_types(&p), vec![DataType::scalar(TypeId::Name)]);
    assert_eq!(
        out_types(&ok("SELECT 23::regtype::oid")),
        vec![DataType::scalar(TypeId::Oid)]
    );
    assert_eq!(code("SELECT format_type(23)"), "42883");
}

#[test]
fn select_list_set_returning_functions_zip() {
    let p = ok("SELECT indexrelid, unnest(indkey) AS attnum, generate_subscripts(indkey, 1) AS ord FROM pg_index");
    assert_eq!(names(&p), vec!["indexrelid", "attnum", "ord"]);
    let funcs = table_function_names(&p);
    assert!(
        funcs.contains(&"rows from(unnest/1/1,generate_subscripts/2/1)".to_string()),
        "{funcs:?}"
    );
    assert_eq!(names(&ok("SELECT unnest(ARRAY[1, 2])")), vec!["unnest"]);
}

fn sys_rows(services: &Services, schema: &str, name: &str) -> Vec<Vec<Value>> {
    let settings = RVec::new();
    let cx = SysCx {
        services,
        user: "alice",
        database: "db",
        search_path: &[RString::from("public")],
        settings: settings.as_slice(),
        session: 7,
    };
    let rel = aiondb_sdk::syscat::lookup_relation(Some(schema), name).unwrap();
    let rows = aiondb_sdk::syscat::rows(rel, &cx);
    for r in &rows {
        assert_eq!(r.len(), rel.schema().fields.len(), "{name} row width");
    }
    rows
}

#[test]
fn catalog_rows_and_functions_follow_the_catalog() {
    let services = setup();
    let t = services
        .catalog
        .table_by_name(2200, "t".into())
        .into_option()
        .unwrap();
    let class = sys_rows(&services, "pg_catalog", "pg_class");
    let find = |n: &str| {
        class
            .iter()
            .find(|r| r[1].as_str() == Some(n))
            .unwrap_or_else(|| panic!("{n} in pg_class"))
    };
    assert_eq!(find("t")[0], Value::Int8(t.id as i64));
    assert_eq!(find("t")[16].as_str(), Some("r"));
    assert_eq!(find("t_pkey")[16].as_str(), Some("i"));
    assert_eq!(find("pg_class")[0], Value::Int8(1259));
    let attrs = sys_rows(&services, "pg_catalog", "pg_attribute");
    let t_attrs: Vec<_> = attrs
        .iter()
        .filter(|r| r[0] == Value::Int8(t.id as i64))
        .map(|r| r[1].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(t_attrs, vec!["id", "name", "v"]);
    let cons = sys_rows(&services, "pg_catalog", "pg_constraint");
    let check = cons
        .iter()
        .find(|r| r[1].as_str() == Some("t_v_check"))
        .unwrap();
    assert_eq!(check[3].as_str(), Some("c"));
    let columns = sys_rows(&services, "information_schema", "columns");
    assert!(columns.iter().any(|r| r[2].as_str() == Some("u")
        && r[3].as_str() == Some("n")
        && r[5].as_str() == Some("42")));

    let settings = RVec::new();
    let cx = SysCx {
        services: &services,
        user: "alice",
        database: "db",
        search_path: &[RString::from("public")],
        settings: settings.as_slice(),
        session: 7,
    };
    let call = |f: SysFunc, args: &[Value]| aiondb_sdk::syscat::call(f, &cx, args);
    let oid = call(SysFunc::RegClassIn, &[Value::text("t")]).unwrap();
    assert_eq!(oid, Value::Int8(t.id as i64));
    assert_eq!(
        call(SysFunc::RegClassOut, std::slice::from_ref(&oid)).unwrap(),
        Value::text("t")
    );
    assert_eq!(
        call(SysFunc::RegClassIn, &[Value::text("nope")])
            .unwrap_err()
            .sqlstate
            .as_str(),
        "42P01"
    );
    assert_eq!(
        call(SysFunc::GetUserById, &[Value::Int8(10)]).unwrap(),
        Value::text("alice")
    );
    assert_eq!(
        call(SysFunc::TableIsVisible, std::slice::from_ref(&oid)).unwrap(),
        Value::Bool(true)
    );
    let pkey = find("t_pkey")[0].clone();
    assert_eq!(
        call(
            SysFunc::GetIndexDef,
            &[pkey, Value::Int4(0), Value::Bool(true)]
        )
        .unwrap(),
        Value::text("CREATE UNIQUE INDEX t_pkey ON public.t USING btree (id)")
    );
    assert_eq!(
        call(
            SysFunc::GetConstraintDef,
            &[check[0].clone(), Value::Bool(true)]
        )
        .unwrap(),
        Value::text("CHECK (v > 0)")
    );
    assert_eq!(
        call(SysFunc::FormatType, &[Value::Int8(1043), Value::Int4(14)]).unwrap(),
        Value::text("character varying(10)")
    );
    assert_eq!(
        call(SysFunc::RegTypeIn, &[Value::text("int4")]).unwrap(),
        Value::Int8(23)
    );
    assert_eq!(
        call(SysFunc::CurrentSchemas, &[Value::Bool(true)]).unwrap(),
        Value::Array(aiondb_sdk::value::ArrayValue::one_dim(
            TypeId::Name,
            vec![Value::text("pg_catalog"), Value::text("public")]
        ))
    );
}
