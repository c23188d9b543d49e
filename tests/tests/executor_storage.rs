//! Executor tests against the real in-memory storage backend and the
//! kernel catalog, with hand-built plans (no planner needed). They live in
//! the integration crate because they combine two plugins.

use aiondb_integration_tests::engine::{self, ctx};
use aiondb_sdk::abi_stable::std_types::ROption::{RNone, RSome};
use aiondb_sdk::abi_stable::std_types::RVec;
use aiondb_sdk::plan::*;
use aiondb_sdk::prelude::*;
use aiondb_sdk::value::ops::BinaryOp;

struct Env {
    services: Services,
    exec: engine::Executor,
    txn: TxnId,
}

/// Plan builder.
#[derive(Default)]
struct PB {
    plan: Plan,
}

const I4: DataType = DataType::INT4;

impl PB {
    fn e(&mut self, kind: ExprKind, ty: DataType) -> ExprRef {
        self.plan.exprs.push(Expr {
            kind,
            data_type: ty,
        });
        self.plan.exprs.len() as u32 - 1
    }
    fn c(&mut self, v: Value) -> ExprRef {
        let ty = v.data_type().unwrap_or(DataType::UNKNOWN);
        self.e(ExprKind::Const(v), ty)
    }
    fn i(&mut self, v: i32) -> ExprRef {
        self.c(Value::Int4(v))
    }
    fn col(&mut self, column: u32) -> ExprRef {
        self.e(ExprKind::Column { input: 0, column }, DataType::UNKNOWN)
    }
    fn bin(&mut self, op: BinaryOp, l: ExprRef, r: ExprRef) -> ExprRef {
        self.e(
            ExprKind::Binary {
                op,
                left: l,
                right: r,
            },
            DataType::BOOL,
        )
    }
    fn node(&mut self, op: Operator, inputs: Vec<NodeRef>, width: usize) -> NodeRef {
        self.plan.nodes.push(PlanNode {
            op,
            inputs: inputs.into(),
            est_rows: 10.0,
            est_cost: 1.0,
            output: vec![I4; width].into(),
        });
        self.plan.nodes.len() as u32 - 1
    }
    fn values(&mut self, rows: Vec<Vec<Value>>) -> NodeRef {
        let width = rows.first().map(|r| r.len()).unwrap_or(0);
        let rows: Vec<RVec<ExprRef>> = rows
            .into_iter()
            .map(|r| r.into_iter().map(|v| self.c(v)).collect::<Vec<_>>().into())
            .collect();
        self.node(Operator::Values { rows: rows.into() }, vec![], width)
    }
}

fn col(name: &str, ty: DataType, nullable: bool) -> ColumnDef {
    ColumnDef {
        name: name.into(),
        data_type: ty,
        nullable,
        default_expr: RNone,
        identity: Identity::None,
    }
}

impl Env {
    fn new() -> Env {
        let services = engine::services();
        let txn = services
            .storage("in_memory")
            .unwrap()
            .begin(IsolationLevel::ReadCommitted, false)
            .unwrap();
        Env {
            services,
            exec: engine::Executor::new(),
            txn,
        }
    }

    fn storage(&self) -> &aiondb_sdk::plugin::StorageBackendBox {
        self.services.storage("in_memory").unwrap()
    }

    fn create(
        &self,
        name: &str,
        columns: Vec<ColumnDef>,
        constraints: Vec<ConstraintDef>,
        pk: Option<Vec<u32>>,
    ) -> TableDef {
        let mut def = TableDef {
            id: 0,
            schema: 2200,
            name: name.into(),
            kind: RelationKind::Table,
            columns: columns.into(),
            constraints: constraints.into(),
            storage_backend: "in_memory".into(),
            view_sql: RNone,
        };
        let applied = self
            .services
            .catalog
            .apply(CatalogChange::CreateTable(def.clone()))
            .unwrap();
        def.id = applied.id;
        self.storage().create_table(self.txn, &def).unwrap();
        if let Some(cols) = pk {
            let mut idx = IndexDef {
                id: 0,
                table: def.id,
                name: format!("{name}_pkey").into(),
                method: "btree".into(),
                columns: cols.into(),
                unique: true,
                options: RVec::new(),
            };
            idx.id = self
                .services
                .catalog
                .apply(CatalogChange::CreateIndex(idx.clone()))
                .unwrap()
                .id;
            self.storage().create_index(self.txn, &idx, &def).unwrap();
        }
        def
    }

    fn run(&self, mut pb: PB, root: NodeRef) -> DbResult<(Vec<Vec<Value>>, u64)> {
        pb.plan.root = root;
        let w = pb.plan.nodes[root as usize].output.len();
        pb.plan.output = Schema::new(
            (0..w)
                .map(|i| Field::new(format!("c{i}"), DataType::INT4, true))
                .collect(),
        );
        self.storage()
            .begin_statement(self.txn, &Default::default())
            .into_result()?;
        let mut c = ctx();
        c.txn = self.txn;
        let mut cur = self.exec.execute(&c, &self.services, &pb.plan, &[])?;
        let mut out = Vec::new();
        while let Some(b) = cur.next_batch(0).into_result()?.into_option() {
            for r in b.rows() {
                out.push(r.to_vec());
            }
        }
        let n = cur.rows_affected().into_result()?;
        Ok((out, n))
    }

    fn insert(&self, t: &TableDef, rows: Vec<Vec<Value>>) -> DbResult<u64> {
        let mut pb = PB::default();
        let v = pb.values(rows);
        let i = pb.node(
            Operator::Insert {
                table: t.id,
                checks: RVec::new(),
                on_conflict: RNone,
                returning: RVec::new(),
            },
            vec![v],
            0,
        );
        self.run(pb, i).map(|r| r.1)
    }

    fn scan_all(&self, t: &TableDef) -> Vec<Vec<Value>> {
        let mut pb = PB::default();
        let s = pb.node(
            Operator::SeqScan {
                table: t.id,
                projection: (0..t.columns.len() as u32).collect::<Vec<_>>().into(),
                filter: RNone,
                with_row_id: false,
                lock: RowLockMode::None,
            },
            vec![],
            t.columns.len(),
        );
        let c0 = pb.col(0);
        let so = pb.node(
            Operator::Sort {
                keys: vec![SortKey {
                    expr: c0,
                    descending: false,
                    nulls_first: false,
                }]
                .into(),
            },
            vec![s],
            t.columns.len(),
        );
        self.run(pb, so).unwrap().0
    }
}

fn i(v: i32) -> Value {
    Value::Int4(v)
}

#[test]
fn insert_scan_filter_index() {
    let env = Env::new();
    let t = env.create(
        "t",
        vec![
            col("id", DataType::INT4, false),
            col("name", DataType::TEXT, true),
        ],
        vec![],
        Some(vec![0]),
    );
    let n = env
        .insert(
            &t,
            (1..=5)
                .map(|k| vec![i(k), Value::text(format!("n{k}"))])
                .collect(),
        )
        .unwrap();
    assert_eq!(n, 5);
    // SELECT name FROM t WHERE id > 3 (filter on a column not projected).
    let mut pb = PB::default();
    let (c0, three) = (pb.col(0), pb.i(3));
    let f = pb.bin(BinaryOp::Gt, c0, three);
    let s = pb.node(
        Operator::SeqScan {
            table: t.id,
            projection: vec![1].into(),
            filter: RSome(f),
            with_row_id: false,
            lock: RowLockMode::None,
        },
        vec![],
        1,
    );
    let mut rows = env.run(pb, s).unwrap().0;
    rows.sort_by(|a, b| aiondb_sdk::value::sort_cmp(&a[0], &b[0]));
    assert_eq!(rows, vec![vec![Value::text("n4")], vec![Value::text("n5")]]);
    // Index Eq probe.
    let mut pb = PB::default();
    let k = pb.i(2);
    let s = pb.node(
        Operator::IndexScan {
            table: t.id,
            index: env.services.catalog.indexes_of(t.id)[0].id,
            probe: IndexProbe::Eq(vec![k].into()),
            projection: vec![1, 0].into(),
            filter: RNone,
            with_row_id: true,
            lock: RowLockMode::None,
            reverse: false,
        },
        vec![],
        3,
    );
    let rows = env.run(pb, s).unwrap().0;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], Value::text("n2"));
    assert_eq!(rows[0][1], i(2));
    // Duplicate key from storage.
    let err = env.insert(&t, vec![vec![i(1), Value::Null]]).unwrap_err();
    assert_eq!(err.sqlstate.as_str(), "23505");
}

#[test]
fn not_null_check_and_fk() {
    let env = Env::new();
    let p = env.create(
        "p",
        vec![col("id", DataType::INT4, false)],
        vec![],
        Some(vec![0]),
    );
    let c = env.create(
        "c",
        vec![
            col("a", DataType::INT4, true),
            col("b", DataType::INT4, false),
        ],
        vec![ConstraintDef {
            name: "c_a_fkey".into(),
            kind: ConstraintKind::ForeignKey {
                columns: vec![0].into(),
                ref_table: p.id,
                ref_columns: vec![0].into(),
                on_delete: ReferentialAction::Cascade,
                on_update: ReferentialAction::NoAction,
            },
        }],
        None,
    );
    let err = env
        .insert(&c, vec![vec![Value::Null, Value::Null]])
        .unwrap_err();
    assert_eq!(err.sqlstate.as_str(), "23502");
    assert_eq!(
        err.message.as_str(),
        "null value in column \"b\" of relation \"c\" violates not-null constraint"
    );
    assert_eq!(err.detail(), Some("Failing row contains (null, null)."));
    let err = env.insert(&c, vec![vec![i(1), i(1)]]).unwrap_err();
    assert_eq!(err.sqlstate.as_str(), "23503");
    assert_eq!(
        err.message.as_str(),
        "insert or update on table \"c\" violates foreign key constraint \"c_a_fkey\""
    );
    assert_eq!(
        err.detail(),
        Some("Key (a)=(1) is not present in table \"p\".")
    );
    env.insert(&p, vec![vec![i(1)], vec![i(2)]]).unwrap();
    env.insert(
        &c,
        vec![
            vec![i(1), i(10)],
            vec![i(2), i(20)],
            vec![Value::Null, i(30)],
        ],
    )
    .unwrap();

    // CHECK (b > 0) through the plan's checks.
    let mut pb = PB::default();
    let v = pb.values(vec![vec![i(1), i(-1)]]);
    let (b, zero) = (pb.col(1), pb.i(0));
    let chk = pb.bin(BinaryOp::Gt, b, zero);
    let ins = pb.node(
        Operator::Insert {
            table: c.id,
            checks: vec![CheckConstraint {
                name: "c_b_check".into(),
                expr: chk,
            }]
            .into(),
            on_conflict: RNone,
            returning: RVec::new(),
        },
        vec![v],
        0,
    );
    let err = env.run(pb, ins).unwrap_err();
    assert_eq!(err.sqlstate.as_str(), "23514");
    assert_eq!(
        err.message.as_str(),
        "new row for relation \"c\" violates check constraint \"c_b_check\""
    );

    // DELETE FROM p WHERE id = 1 cascades to c.
    let mut pb = PB::default();
    let (c0, one) = (pb.col(0), pb.i(1));
    let f = pb.bin(BinaryOp::Eq, c0, one);
    let s = pb.node(
        Operator::SeqScan {
            table: p.id,
            projection: vec![0].into(),
            filter: RSome(f),
            with_row_id: true,
            lock: RowLockMode::None,
        },
        vec![],
        2,
    );
    let d = pb.node(
        Operator::Delete {
            table: p.id,
            row_id_column: 1,
            recheck: RNone,
            returning: RVec::new(),
        },
        vec![s],
        0,
    );
    let (_, n) = env.run(pb, d).unwrap();
    assert_eq!(n, 1);
    let rows = env.scan_all(&c);
    assert_eq!(rows, vec![vec![i(2), i(20)], vec![Value::Null, i(30)]]);
}

#[test]
fn update_with_returning_and_delete_restrict() {
    let env = Env::new();
    let p = env.create(
        "p",
        vec![
            col("id", DataType::INT4, false),
            col("v", DataType::INT4, true),
        ],
        vec![],
        Some(vec![0]),
    );
    let c = env.create(
        "c",
        vec![col("a", DataType::INT4, true)],
        vec![ConstraintDef {
            name: "c_a_fkey".into(),
            kind: ConstraintKind::ForeignKey {
                columns: vec![0].into(),
                ref_table: p.id,
                ref_columns: vec![0].into(),
                on_delete: ReferentialAction::NoAction,
                on_update: ReferentialAction::NoAction,
            },
        }],
        None,
    );
    env.insert(&p, vec![vec![i(1), i(10)], vec![i(2), i(20)]])
        .unwrap();
    env.insert(&c, vec![vec![i(1)]]).unwrap();
    // UPDATE p SET v = v + 1 RETURNING id, v  (input: id, v, rowid)
    let mut pb = PB::default();
    let s = pb.node(
        Operator::SeqScan {
            table: p.id,
            projection: vec![0, 1].into(),
            filter: RNone,
            with_row_id: true,
            lock: RowLockMode::None,
        },
        vec![],
        3,
    );
    let (v, one) = (pb.col(1), pb.i(1));
    let add = pb.e(
        ExprKind::Binary {
            op: BinaryOp::Add,
            left: v,
            right: one,
        },
        DataType::INT4,
    );
    let (r0, r1) = (pb.col(0), pb.col(1));
    let u = pb.node(
        Operator::Update {
            table: p.id,
            row_id_column: 2,
            assignments: vec![Assignment {
                column: 1,
                value: add,
            }]
            .into(),
            checks: RVec::new(),
            recheck: RNone,
            returning: vec![r0, r1].into(),
        },
        vec![s],
        2,
    );
    let (mut rows, n) = env.run(pb, u).unwrap();
    rows.sort_by(|a, b| aiondb_sdk::value::sort_cmp(&a[0], &b[0]));
    assert_eq!(n, 2);
    assert_eq!(rows, vec![vec![i(1), i(11)], vec![i(2), i(21)]]);
    // DELETE FROM p: row 1 is referenced -> 23503.
    let mut pb = PB::default();
    let s = pb.node(
        Operator::SeqScan {
            table: p.id,
            projection: vec![0, 1].into(),
            filter: RNone,
            with_row_id: true,
            lock: RowLockMode::None,
        },
        vec![],
        3,
    );
    let d = pb.node(
        Operator::Delete {
            table: p.id,
            row_id_column: 2,
            recheck: RNone,
            returning: RVec::new(),
        },
        vec![s],
        0,
    );
    let err = env.run(pb, d).unwrap_err();
    assert_eq!(err.sqlstate.as_str(), "23503");
    assert_eq!(
        err.message.as_str(),
        "update or delete on table \"p\" violates foreign key constraint \"c_a_fkey\" on table \"c\""
    );
    assert_eq!(
        err.detail(),
        Some("Key (id)=(1) is still referenced from table \"c\".")
    );
}

#[test]
fn on_conflict_do_nothing_and_update() {
    let env = Env::new();
    let t = env.create(
        "t",
        vec![
            col("k", DataType::INT4, false),
            col("v", DataType::INT4, true),
        ],
        vec![],
        Some(vec![0]),
    );
    env.insert(&t, vec![vec![i(1), i(1)]]).unwrap();
    let upsert = |action: ConflictAction, pb: &mut PB, v: NodeRef| {
        pb.node(
            Operator::Insert {
                table: t.id,
                checks: RVec::new(),
                on_conflict: RSome(OnConflict {
                    index: RNone,
                    action,
                }),
                returning: RVec::new(),
            },
            vec![v],
            0,
        )
    };
    let mut pb = PB::default();
    let v = pb.values(vec![vec![i(1), i(5)], vec![i(2), i(2)]]);
    let ins = upsert(ConflictAction::DoNothing, &mut pb, v);
    assert_eq!(env.run(pb, ins).unwrap().1, 1);
    // ON CONFLICT (k) DO UPDATE SET v = t.v + excluded.v
    let mut pb = PB::default();
    let v = pb.values(vec![vec![i(1), i(100)]]);
    let (old_v, ex_v) = (pb.col(1), pb.col(3));
    let add = pb.e(
        ExprKind::Binary {
            op: BinaryOp::Add,
            left: old_v,
            right: ex_v,
        },
        DataType::INT4,
    );
    let ins = upsert(
        ConflictAction::DoUpdate {
            assignments: vec![Assignment {
                column: 1,
                value: add,
            }]
            .into(),
            filter: RNone,
        },
        &mut pb,
        v,
    );
    assert_eq!(env.run(pb, ins).unwrap().1, 1);
    assert_eq!(env.scan_all(&t), vec![vec![i(1), i(101)], vec![i(2), i(2)]]);
}

#[test]
fn explain_text() {
    let env = Env::new();
    let t = env.create(
        "t",
        vec![
            col("a", DataType::INT4, false),
            col("b", DataType::INT8, true),
        ],
        vec![],
        None,
    );
    let mut pb = PB::default();
    let (c0, one) = (pb.col(0), pb.i(1));
    let f = pb.bin(BinaryOp::Gt, c0, one);
    let s = pb.node(
        Operator::SeqScan {
            table: t.id,
            projection: vec![0, 1].into(),
            filter: RSome(f),
            with_row_id: false,
            lock: RowLockMode::None,
        },
        vec![],
        2,
    );
    pb.plan.nodes[s as usize].output = vec![DataType::INT4, DataType::INT8].into();
    pb.plan.nodes[s as usize].est_cost = 1.05;
    pb.plan.nodes[s as usize].est_rows = 5.0;
    let c0 = pb.col(0);
    let so = pb.node(
        Operator::Sort {
            keys: vec![SortKey {
                expr: c0,
                descending: true,
                nulls_first: true,
            }]
            .into(),
        },
        vec![s],
        2,
    );
    let e = pb.node(
        Operator::Explain {
            analyze: false,
            verbose: false,
        },
        vec![so],
        1,
    );
    let rows = env.run(pb, e).unwrap().0;
    let text: Vec<String> = rows
        .iter()
        .map(|r| r[0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(text[0], "Sort  (cost=0.00..1.00 rows=10 width=8)");
    assert_eq!(text[1], "  Sort Key: a DESC");
    assert_eq!(
        text[2],
        "  ->  Seq Scan on t  (cost=0.00..1.05 rows=5 width=12)"
    );
    assert_eq!(text[3], "        Filter: (a > 1)");
}

#[test]
fn dml_inside_a_query_runs_once() {
    // SELECT count(*) FROM (DELETE FROM t WHERE k > 1 RETURNING k)
    let env = Env::new();
    let t = env.create(
        "t",
        vec![col("k", DataType::INT4, false)],
        vec![],
        Some(vec![0]),
    );
    env.insert(&t, vec![vec![i(1)], vec![i(2)], vec![i(3)]])
        .unwrap();
    let mut pb = PB::default();
    let (k, one) = (pb.col(0), pb.i(1));
    let f = pb.bin(BinaryOp::Gt, k, one);
    let s = pb.node(
        Operator::SeqScan {
            table: t.id,
            projection: vec![0].into(),
            filter: RSome(f),
            with_row_id: true,
            lock: RowLockMode::None,
        },
        vec![],
        2,
    );
    let r0 = pb.col(0);
    let d = pb.node(
        Operator::Delete {
            table: t.id,
            row_id_column: 1,
            recheck: RNone,
            returning: vec![r0].into(),
        },
        vec![s],
        1,
    );
    let a = pb.node(
        Operator::Aggregate {
            strategy: AggStrategy::Plain,
            group_by: RVec::new(),
            aggregates: vec![AggCall {
                func: AggFunc::CountStar,
                args: RVec::new(),
                distinct: false,
                filter: RNone,
                order_by: RVec::new(),
                result_type: DataType::INT8,
            }]
            .into(),
        },
        vec![d],
        1,
    );
    let (rows, _) = env.run(pb, a).unwrap();
    assert_eq!(rows, vec![vec![Value::Int8(2)]]);
    assert_eq!(env.scan_all(&t), vec![vec![i(1)]]);
}
