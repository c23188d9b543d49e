//! Unit tests over hand-built plans (Values / TableFunction inputs, no
//! storage). Expected values come from PostgreSQL 15.

use aiondb_sdk::abi_stable::sabi_trait::TD_Opaque;
use aiondb_sdk::abi_stable::std_types::ROption::{RNone, RSome};
use aiondb_sdk::abi_stable::std_types::{RArc, RVec};
use aiondb_sdk::plan::*;
use aiondb_sdk::plugin::guarded_parser;
use aiondb_sdk::prelude::*;
use aiondb_sdk::value::ops::BinaryOp;
use aiondb_sdk::value::ArrayValue;

struct NoCatalog;

impl Catalog for NoCatalog {
    fn version(&self) -> u64 {
        1
    }
    fn schemas(&self) -> RVec<SchemaDef> {
        RVec::new()
    }
    fn schema_by_name(&self, name: RStr<'_>) -> ROption<SchemaDef> {
        if name.as_str() == "public" {
            RSome(SchemaDef {
                id: 2,
                name: "public".into(),
                owner: "x".into(),
            })
        } else {
            RNone
        }
    }
    fn table_by_name(&self, _: SchemaId, _: RStr<'_>) -> ROption<TableDef> {
        RNone
    }
    fn table_by_id(&self, _: TableId) -> ROption<TableDef> {
        RNone
    }
    fn tables(&self, _: ROption<SchemaId>) -> RVec<TableDef> {
        RVec::new()
    }
    fn indexes_of(&self, _: TableId) -> RVec<IndexDef> {
        RVec::new()
    }
    fn sequences(&self) -> RVec<SequenceDef> {
        RVec::new()
    }
    fn graph_labels(&self) -> RVec<GraphLabelDef> {
        RVec::new()
    }
    fn apply(&self, _: CatalogChange) -> AResult<ChangeApplied> {
        RErr(AionError::internal("read-only test catalog"))
    }
    fn table_stats(&self, _: TableId) -> ROption<TableStatistics> {
        RNone
    }
    fn set_table_stats(&self, _: TableId, _: TableStatistics) {}
    fn sequence_next(&self, _: u64, _: TableId) -> AResult<i64> {
        ROk(1)
    }
    fn sequence_set(&self, _: u64, _: TableId, _: i64, _: bool) -> AResult<()> {
        ROk(())
    }
    fn sequence_current(&self, _: u64, _: TableId) -> AResult<i64> {
        ROk(1)
    }
    fn sequence_last(&self, _: u64) -> AResult<i64> {
        ROk(1)
    }
    fn sequence_by_name(&self, _: SchemaId, _: RStr<'_>) -> ROption<SequenceDef> {
        RNone
    }
}

struct NoParser;
impl Parser for NoParser {
    fn parse(&self, _: RStr<'_>) -> AResult<RVec<SyntaxTree>> {
        RErr(AionError::internal("no parser in tests"))
    }
}

pub(crate) fn services() -> Services {
    Services {
        catalog: RArc::new(Catalog_TO::from_ptr(RArc::new(NoCatalog), TD_Opaque)),
        parser: RArc::new(guarded_parser(NoParser)),
        storages: RVec::new(),
        default_storage: "in_memory".into(),
        functions: RVec::new(),
    }
}

pub(crate) fn ctx() -> ExecContext {
    ExecContext {
        txn: 1,
        isolation: IsolationLevel::ReadCommitted,
        read_only: false,
        txn_start: 0,
        statement_start: 0,
        deadline_unix_us: 0,
        lock_timeout_ms: 0,
        max_result_rows: 0,
        max_result_bytes: 0,
        memory_limit_bytes: 0,
        max_recursive_rows: 0,
        max_recursive_iterations: 0,
        user: "alice".into(),
        database: "db".into(),
        search_path: vec![RString::from("public")].into(),
        settings: RArc::new(RVec::new()),
        session: 1,
        cancel: Default::default(),
    }
}

/// Plan builder.
#[derive(Default)]
pub(crate) struct PB {
    pub plan: Plan,
}

const I4: DataType = DataType::INT4;

impl PB {
    pub fn e(&mut self, kind: ExprKind, ty: DataType) -> ExprRef {
        self.plan.exprs.push(Expr {
            kind,
            data_type: ty,
        });
        self.plan.exprs.len() as u32 - 1
    }
    pub fn c(&mut self, v: Value) -> ExprRef {
        let ty = v.data_type().unwrap_or(DataType::UNKNOWN);
        self.e(ExprKind::Const(v), ty)
    }
    pub fn i(&mut self, v: i32) -> ExprRef {
        self.c(Value::Int4(v))
    }
    pub fn null(&mut self) -> ExprRef {
        self.e(ExprKind::Const(Value::Null), DataType::UNKNOWN)
    }
    pub fn col(&mut self, c: u32) -> ExprRef {
        self.col_in(0, c)
    }
    pub fn col_in(&mut self, input: u32, column: u32) -> ExprRef {
        self.e(ExprKind::Column { input, column }, DataType::UNKNOWN)
    }
    pub fn bin(&mut self, op: BinaryOp, l: ExprRef, r: ExprRef) -> ExprRef {
        self.e(
            ExprKind::Binary {
                op,
                left: l,
                right: r,
            },
            DataType::BOOL,
        )
    }
    pub fn node(&mut self, op: Operator, inputs: Vec<NodeRef>, width: usize) -> NodeRef {
        self.plan.nodes.push(PlanNode {
            op,
            inputs: inputs.into(),
            est_rows: 10.0,
            est_cost: 1.0,
            output: vec![I4; width].into(),
        });
        self.plan.nodes.len() as u32 - 1
    }
    pub fn values(&mut self, rows: Vec<Vec<Value>>) -> NodeRef {
        let width = rows.first().map(|r| r.len()).unwrap_or(0);
        let rows: Vec<RVec<ExprRef>> = rows
            .into_iter()
            .map(|r| r.into_iter().map(|v| self.c(v)).collect::<Vec<_>>().into())
            .collect();
        self.node(Operator::Values { rows: rows.into() }, vec![], width)
    }
    pub fn ints(&mut self, rows: &[&[Option<i32>]]) -> NodeRef {
        self.values(
            rows.iter()
                .map(|r| {
                    r.iter()
                        .map(|v| v.map(Value::Int4).unwrap_or(Value::Null))
                        .collect()
                })
                .collect(),
        )
    }
    /// Evaluates one expression (SELECT expr).
    pub fn scalar(mut self, e: ExprRef) -> DbResult<Value> {
        let v = self.node(
            Operator::Values {
                rows: vec![RVec::new()].into(),
            },
            vec![],
            0,
        );
        let p = self.node(
            Operator::Project {
                exprs: vec![e].into(),
            },
            vec![v],
            1,
        );
        self.plan.root = p;
        let rows = self.run()?;
        Ok(rows[0][0].clone())
    }
    pub fn run(mut self) -> DbResult<Vec<Vec<Value>>> {
        let root = self.plan.root;
        let w = self.plan.nodes[root as usize].output.len();
        self.plan.output = Schema::new(
            (0..w)
                .map(|i| Field::new(format!("c{i}"), I4, true))
                .collect(),
        );
        let mut cur = crate::shared::execute(&ctx(), &services(), &self.plan, &[])?;
        let mut out = Vec::new();
        while let Some(b) = cur.next_batch(0).into_result()?.into_option() {
            for r in b.rows() {
                out.push(r.to_vec());
            }
        }
        Ok(out)
    }
    pub fn run_root(mut self, root: NodeRef) -> DbResult<Vec<Vec<Value>>> {
        self.plan.root = root;
        self.run()
    }
}

fn b(v: bool) -> Value {
    Value::Bool(v)
}

fn i4(rows: &[Vec<Value>]) -> Vec<Vec<Option<i64>>> {
    rows.iter()
        .map(|r| r.iter().map(|v| v.as_i64()).collect())
        .collect()
}

#[test]
fn three_valued_logic() {
    type Case = (Option<bool>, Option<bool>, Option<bool>, Option<bool>);
    let cases: &[Case] = &[
        (Some(true), None, None, Some(true)),
        (Some(false), None, Some(false), None),
        (None, None, None, None),
        (Some(true), Some(false), Some(false), Some(true)),
    ];
    for (x, y, and, or) in cases {
        let mk = |pb: &mut PB, v: &Option<bool>| match v {
            Some(v) => pb.c(b(*v)),
            None => pb.null(),
        };
        let mut pb = PB::default();
        let (l, r) = (mk(&mut pb, x), mk(&mut pb, y));
        let e = pb.e(ExprKind::And(vec![l, r].into()), DataType::BOOL);
        assert_eq!(pb.scalar(e).unwrap(), and.map(b).unwrap_or(Value::Null));
        let mut pb = PB::default();
        let (l, r) = (mk(&mut pb, x), mk(&mut pb, y));
        let e = pb.e(ExprKind::Or(vec![l, r].into()), DataType::BOOL);
        assert_eq!(pb.scalar(e).unwrap(), or.map(b).unwrap_or(Value::Null));
    }
    let mut pb = PB::default();
    let n = pb.null();
    let e = pb.e(ExprKind::Not(n), DataType::BOOL);
    assert_eq!(pb.scalar(e).unwrap(), Value::Null);
}

#[test]
fn in_list_null_rules() {
    // 1 IN (1, NULL) = t; 2 IN (1, NULL) = NULL; 2 NOT IN (1, 3) = t; NULL IN (1) = NULL
    let run = |arg: Option<i32>, list: &[Option<i32>], negated: bool| {
        let mut pb = PB::default();
        let a = match arg {
            Some(v) => pb.i(v),
            None => pb.null(),
        };
        let l: Vec<ExprRef> = list
            .iter()
            .map(|v| match v {
                Some(v) => pb.i(*v),
                None => pb.null(),
            })
            .collect();
        let e = pb.e(
            ExprKind::InList {
                arg: a,
                list: l.into(),
                negated,
            },
            DataType::BOOL,
        );
        pb.scalar(e).unwrap()
    };
    assert_eq!(run(Some(1), &[Some(1), None], false), b(true));
    assert_eq!(run(Some(2), &[Some(1), None], false), Value::Null);
    assert_eq!(run(Some(2), &[Some(1), None], true), Value::Null);
    assert_eq!(run(Some(2), &[Some(1), Some(3)], true), b(true));
    assert_eq!(run(None, &[Some(1)], false), Value::Null);
}

#[test]
fn case_and_specials() {
    let mut pb = PB::default();
    let (one, two, n) = (pb.i(1), pb.i(2), pb.null());
    let w = pb.bin(BinaryOp::Eq, one, two);
    let x = pb.c(Value::text("x"));
    let y = pb.c(Value::text("y"));
    let e = pb.e(
        ExprKind::Case {
            operand: RNone,
            whens: vec![w, n].into(),
            thens: vec![x, x].into(),
            otherwise: RSome(y),
        },
        DataType::TEXT,
    );
    assert_eq!(pb.scalar(e).unwrap(), Value::text("y"));

    // CASE 2 WHEN 1 THEN 'x' WHEN 2 THEN 'y' END
    let mut pb = PB::default();
    let (one, two, two2) = (pb.i(1), pb.i(2), pb.i(2));
    let x = pb.c(Value::text("x"));
    let y = pb.c(Value::text("y"));
    let e = pb.e(
        ExprKind::Case {
            operand: RSome(two),
            whens: vec![one, two2].into(),
            thens: vec![x, y].into(),
            otherwise: RNone,
        },
        DataType::TEXT,
    );
    assert_eq!(pb.scalar(e).unwrap(), Value::text("y"));

    let special = |f: SpecialFunc, args: &[Option<i32>]| {
        let mut pb = PB::default();
        let a: Vec<ExprRef> = args
            .iter()
            .map(|v| match v {
                Some(v) => pb.i(*v),
                None => pb.null(),
            })
            .collect();
        let e = pb.e(
            ExprKind::Special {
                func: f,
                args: a.into(),
            },
            I4,
        );
        pb.scalar(e).unwrap()
    };
    assert_eq!(
        special(SpecialFunc::Coalesce, &[None, Some(2), Some(3)]),
        Value::Int4(2)
    );
    assert_eq!(special(SpecialFunc::Coalesce, &[None, None]), Value::Null);
    assert_eq!(
        special(SpecialFunc::NullIf, &[Some(1), Some(1)]),
        Value::Null
    );
    assert_eq!(
        special(SpecialFunc::NullIf, &[Some(1), Some(2)]),
        Value::Int4(1)
    );
    assert_eq!(
        special(SpecialFunc::Greatest, &[Some(1), None, Some(3)]),
        Value::Int4(3)
    );
    assert_eq!(
        special(SpecialFunc::Least, &[Some(5), None, Some(3)]),
        Value::Int4(3)
    );
    assert_eq!(special(SpecialFunc::Least, &[None]), Value::Null);
    assert_eq!(special(SpecialFunc::CurrentUser, &[]), Value::text("alice"));
    assert_eq!(
        special(SpecialFunc::CurrentSchema, &[]),
        Value::text("public")
    );
    let v = special(SpecialFunc::Version, &[]);
    assert!(v.as_str().unwrap().starts_with("PostgreSQL 15.0 on AionDB"));
    assert_eq!(special(SpecialFunc::Now, &[]), Value::TimestampTz(0));
}

#[test]
fn any_all_arrays_and_subscript() {
    let arr = |pb: &mut PB, v: &[Option<i32>]| {
        pb.c(Value::Array(ArrayValue::one_dim(
            TypeId::Int4,
            v.iter()
                .map(|x| x.map(Value::Int4).unwrap_or(Value::Null))
                .collect(),
        )))
    };
    let q = |l: i32, v: &[Option<i32>], all: bool| {
        let mut pb = PB::default();
        let a = arr(&mut pb, v);
        let l = pb.i(l);
        let e = pb.e(
            ExprKind::AnyAll {
                op: BinaryOp::Eq,
                left: l,
                array: a,
                all,
            },
            DataType::BOOL,
        );
        pb.scalar(e).unwrap()
    };
    assert_eq!(q(1, &[Some(1), None], false), b(true));
    assert_eq!(q(2, &[Some(1), None], false), Value::Null);
    assert_eq!(q(2, &[Some(1), Some(3)], false), b(false));
    assert_eq!(q(1, &[Some(1), Some(1)], true), b(true));
    assert_eq!(q(1, &[Some(1), None], true), Value::Null);
    assert_eq!(q(1, &[Some(2), None], true), b(false));
    assert_eq!(q(1, &[], true), b(true));

    let mut pb = PB::default();
    let a = arr(&mut pb, &[Some(10), Some(20)]);
    let i = pb.i(2);
    let e = pb.e(ExprKind::Subscript { arg: a, index: i }, I4);
    assert_eq!(pb.scalar(e).unwrap(), Value::Int4(20));
    let mut pb = PB::default();
    let a = arr(&mut pb, &[Some(10), Some(20)]);
    let i = pb.i(3);
    let e = pb.e(ExprKind::Subscript { arg: a, index: i }, I4);
    assert_eq!(pb.scalar(e).unwrap(), Value::Null);
}

#[test]
fn like_and_null() {
    let mut pb = PB::default();
    let s = pb.c(Value::text("hello"));
    let p = pb.c(Value::text("h%o"));
    let e = pb.e(
        ExprKind::Like {
            arg: s,
            pattern: p,
            escape: RNone,
            case_insensitive: false,
            negated: false,
        },
        DataType::BOOL,
    );
    assert_eq!(pb.scalar(e).unwrap(), b(true));
    let mut pb = PB::default();
    let s = pb.null();
    let p = pb.c(Value::text("h%o"));
    let e = pb.e(
        ExprKind::Like {
            arg: s,
            pattern: p,
            escape: RNone,
            case_insensitive: false,
            negated: true,
        },
        DataType::BOOL,
    );
    assert_eq!(pb.scalar(e).unwrap(), Value::Null);
}

#[test]
fn filter_project_sort_limit() {
    let mut pb = PB::default();
    let v = pb.ints(&[&[Some(3)], &[None], &[Some(1)], &[Some(2)], &[Some(5)]]);
    let c0 = pb.col(0);
    let k = SortKey {
        expr: c0,
        descending: true,
        nulls_first: true,
    };
    let s = pb.node(
        Operator::Sort {
            keys: vec![k].into(),
        },
        vec![v],
        1,
    );
    let (l, o) = (pb.i(3), pb.i(1));
    let lim = pb.node(
        Operator::Limit {
            limit: RSome(l),
            offset: RSome(o),
        },
        vec![s],
        1,
    );
    let rows = pb.run_root(lim).unwrap();
    assert_eq!(i4(&rows), vec![vec![Some(5)], vec![Some(3)], vec![Some(2)]]);

    // Negative LIMIT -> 2201W.
    let mut pb = PB::default();
    let v = pb.ints(&[&[Some(1)]]);
    let l = pb.i(-1);
    let lim = pb.node(
        Operator::Limit {
            limit: RSome(l),
            offset: RNone,
        },
        vec![v],
        1,
    );
    let err = pb.run_root(lim).unwrap_err();
    assert_eq!(err.sqlstate.as_str(), "2201W");
    assert_eq!(err.message.as_str(), "LIMIT must not be negative");

    // Filter x > 1 keeps 3, 2, 5 (NULL dropped).
    let mut pb = PB::default();
    let v = pb.ints(&[&[Some(3)], &[None], &[Some(1)], &[Some(2)], &[Some(5)]]);
    let (c0, one) = (pb.col(0), pb.i(1));
    let p = pb.bin(BinaryOp::Gt, c0, one);
    let f = pb.node(Operator::Filter { predicate: p }, vec![v], 1);
    let rows = pb.run_root(f).unwrap();
    assert_eq!(i4(&rows), vec![vec![Some(3)], vec![Some(2)], vec![Some(5)]]);
}

#[test]
fn sort_is_stable_and_nulls_last() {
    let mut pb = PB::default();
    let v = pb.ints(&[
        &[Some(2), Some(1)],
        &[None, Some(2)],
        &[Some(1), Some(3)],
        &[Some(2), Some(4)],
    ]);
    let c0 = pb.col(0);
    let s = pb.node(
        Operator::Sort {
            keys: vec![SortKey {
                expr: c0,
                descending: false,
                nulls_first: false,
            }]
            .into(),
        },
        vec![v],
        2,
    );
    let rows = pb.run_root(s).unwrap();
    let second: Vec<Option<i64>> = rows.iter().map(|r| r[1].as_i64()).collect();
    assert_eq!(second, vec![Some(3), Some(1), Some(4), Some(2)]);
}

fn agg(func: AggFunc, args: Vec<ExprRef>, result: DataType) -> AggCall {
    AggCall {
        func,
        args: args.into(),
        distinct: false,
        filter: RNone,
        order_by: RVec::new(),
        result_type: result,
    }
}

#[test]
fn aggregates_plain() {
    // Over (1),(2),(2),(NULL): count(*) 4, count(x) 3, sum 5, min 1, max 2,
    // avg 1.6666666666666667, bool_and(x>0) t, count(DISTINCT x) 2.
    let mut pb = PB::default();
    let v = pb.ints(&[&[Some(1)], &[Some(2)], &[Some(2)], &[None]]);
    let c = pb.col(0);
    let zero = pb.i(0);
    let gt = pb.bin(BinaryOp::Gt, c, zero);
    let mut cd = agg(AggFunc::Count, vec![c], DataType::INT8);
    cd.distinct = true;
    let aggs = vec![
        agg(AggFunc::CountStar, vec![], DataType::INT8),
        agg(AggFunc::Count, vec![c], DataType::INT8),
        agg(AggFunc::Sum, vec![c], DataType::INT8),
        agg(AggFunc::Min, vec![c], I4),
        agg(AggFunc::Max, vec![c], I4),
        agg(AggFunc::BoolAnd, vec![gt], DataType::BOOL),
        cd,
        agg(AggFunc::ArrayAgg, vec![c], DataType::array_of(TypeId::Int4)),
    ];
    let a = pb.node(
        Operator::Aggregate {
            strategy: AggStrategy::Plain,
            group_by: RVec::new(),
            aggregates: aggs.into(),
        },
        vec![v],
        8,
    );
    let rows = pb.run_root(a).unwrap();
    let r = &rows[0];
    assert_eq!(r[0], Value::Int8(4));
    assert_eq!(r[1], Value::Int8(3));
    assert_eq!(r[2], Value::Int8(5));
    assert_eq!(r[3], Value::Int4(1));
    assert_eq!(r[4], Value::Int4(2));
    assert_eq!(r[5], b(true));
    assert_eq!(r[6], Value::Int8(2));
    assert_eq!(r[7].to_pg_text().unwrap(), "{1,2,2,NULL}");

    // No rows: count 0, sum NULL.
    let mut pb = PB::default();
    let v = pb.ints(&[&[Some(1)]]);
    let f0 = pb.c(b(false));
    let f = pb.node(Operator::Filter { predicate: f0 }, vec![v], 1);
    let c = pb.col(0);
    let a = pb.node(
        Operator::Aggregate {
            strategy: AggStrategy::Plain,
            group_by: RVec::new(),
            aggregates: vec![
                agg(AggFunc::CountStar, vec![], DataType::INT8),
                agg(AggFunc::Sum, vec![c], DataType::INT8),
            ]
            .into(),
        },
        vec![f],
        2,
    );
    let rows = pb.run_root(a).unwrap();
    assert_eq!(rows, vec![vec![Value::Int8(0), Value::Null]]);
}

#[test]
fn aggregates_grouped_and_string_agg() {
    let mut pb = PB::default();
    let v = pb.values(vec![
        vec![Value::Int4(1), Value::text("a")],
        vec![Value::Int4(2), Value::text("b")],
        vec![Value::Int4(1), Value::text("c")],
        vec![Value::Int4(1), Value::Null],
    ]);
    let (g, t) = (pb.col(0), pb.col(1));
    let d = pb.c(Value::text(","));
    let mut sa = agg(AggFunc::StringAgg, vec![t, d], DataType::TEXT);
    sa.order_by = vec![SortKey {
        expr: t,
        descending: true,
        nulls_first: false,
    }]
    .into();
    let a = pb.node(
        Operator::Aggregate {
            strategy: AggStrategy::Hash,
            group_by: vec![g].into(),
            aggregates: vec![sa, agg(AggFunc::CountStar, vec![], DataType::INT8)].into(),
        },
        vec![v],
        3,
    );
    let rows = pb.run_root(a).unwrap();
    assert_eq!(
        rows,
        vec![
            vec![Value::Int4(1), Value::text("c,a"), Value::Int8(3)],
            vec![Value::Int4(2), Value::text("b"), Value::Int8(1)],
        ]
    );
}

fn win(
    func: WindowFunc,
    args: Vec<ExprRef>,
    mode: FrameMode,
    start: FrameBound,
    end: FrameBound,
) -> WindowCall {
    WindowCall {
        func,
        args: args.into(),
        filter: RNone,
        frame: WindowFrame { mode, start, end },
        result_type: DataType::INT8,
    }
}

#[test]
fn window_functions() {
    // x: 1,2,2,3 ordered by x. PG:
    // row_number 1,2,3,4; rank 1,2,2,4; dense_rank 1,2,2,3;
    // sum(x) default frame (RANGE) 1,5,5,8; sum ROWS 1 PRECEDING..CURRENT 1,3,4,5;
    // lag(x) NULL,1,2,2; sum RANGE 1 PRECEDING..CURRENT 1,5,5,7;
    // sum GROUPS CURRENT..1 FOLLOWING 5,7,7,3.
    let mut pb = PB::default();
    let v = pb.ints(&[&[Some(2)], &[Some(3)], &[Some(1)], &[Some(2)]]);
    let x = pb.col(0);
    let one = pb.i(1);
    use FrameBound::*;
    use FrameMode::*;
    let fns = vec![
        win(
            WindowFunc::RowNumber,
            vec![],
            Range,
            UnboundedPreceding,
            CurrentRow,
        ),
        win(
            WindowFunc::Rank,
            vec![],
            Range,
            UnboundedPreceding,
            CurrentRow,
        ),
        win(
            WindowFunc::DenseRank,
            vec![],
            Range,
            UnboundedPreceding,
            CurrentRow,
        ),
        win(
            WindowFunc::Aggregate(AggFunc::Sum),
            vec![x],
            Range,
            UnboundedPreceding,
            CurrentRow,
        ),
        win(
            WindowFunc::Aggregate(AggFunc::Sum),
            vec![x],
            Rows,
            Preceding(one),
            CurrentRow,
        ),
        win(
            WindowFunc::Lag,
            vec![x],
            Rows,
            UnboundedPreceding,
            CurrentRow,
        ),
        win(
            WindowFunc::Aggregate(AggFunc::Sum),
            vec![x],
            Range,
            Preceding(one),
            CurrentRow,
        ),
        win(
            WindowFunc::Aggregate(AggFunc::Sum),
            vec![x],
            Groups,
            CurrentRow,
            Following(one),
        ),
    ];
    let w = pb.node(
        Operator::Window {
            partition_by: RVec::new(),
            order_by: vec![SortKey {
                expr: x,
                descending: false,
                nulls_first: false,
            }]
            .into(),
            functions: fns.into(),
        },
        vec![v],
        9,
    );
    let rows = pb.run_root(w).unwrap();
    let col = |i: usize| rows.iter().map(|r| r[i].as_i64()).collect::<Vec<_>>();
    assert_eq!(col(0), vec![Some(1), Some(2), Some(2), Some(3)]);
    assert_eq!(col(1), vec![Some(1), Some(2), Some(3), Some(4)]);
    assert_eq!(col(2), vec![Some(1), Some(2), Some(2), Some(4)]);
    assert_eq!(col(3), vec![Some(1), Some(2), Some(2), Some(3)]);
    assert_eq!(col(4), vec![Some(1), Some(5), Some(5), Some(8)]);
    assert_eq!(col(5), vec![Some(1), Some(3), Some(4), Some(5)]);
    assert_eq!(col(6), vec![None, Some(1), Some(2), Some(2)]);
    assert_eq!(col(7), vec![Some(1), Some(5), Some(5), Some(7)]);
    assert_eq!(col(8), vec![Some(5), Some(7), Some(7), Some(3)]);
}

#[test]
fn set_operations_multiset() {
    // left 1,1,2,3 ; right 1,3,3,4
    let run = |op: SetOpKind, all: bool| {
        let mut pb = PB::default();
        let l = pb.ints(&[&[Some(1)], &[Some(1)], &[Some(2)], &[Some(3)]]);
        let r = pb.ints(&[&[Some(1)], &[Some(3)], &[Some(3)], &[Some(4)]]);
        let s = pb.node(Operator::SetOp { op, all }, vec![l, r], 1);
        let mut v: Vec<i64> = pb
            .run_root(s)
            .unwrap()
            .iter()
            .map(|r| r[0].as_i64().unwrap())
            .collect();
        v.sort();
        v
    };
    assert_eq!(run(SetOpKind::Union, false), vec![1, 2, 3, 4]);
    assert_eq!(run(SetOpKind::Union, true), vec![1, 1, 1, 2, 3, 3, 3, 4]);
    assert_eq!(run(SetOpKind::Intersect, false), vec![1, 3]);
    assert_eq!(run(SetOpKind::Intersect, true), vec![1, 3]);
    assert_eq!(run(SetOpKind::Except, false), vec![2]);
    assert_eq!(run(SetOpKind::Except, true), vec![1, 2]);
}

#[test]
fn generate_series_and_unnest() {
    let mut pb = PB::default();
    let (a, z, s) = (pb.i(1), pb.i(10), pb.i(4));
    let t = pb.node(
        Operator::TableFunction {
            call: TableFunctionCall {
                name: "generate_series".into(),
                args: vec![a, z, s].into(),
            },
            columns: Schema::new(vec![Field::new("g", I4, true)]),
            ordinality: true,
        },
        vec![],
        2,
    );
    let rows = pb.run_root(t).unwrap();
    assert_eq!(
        i4(&rows),
        vec![
            vec![Some(1), Some(1)],
            vec![Some(5), Some(2)],
            vec![Some(9), Some(3)]
        ]
    );
    assert_eq!(rows[0][0], Value::Int4(1));

    let mut pb = PB::default();
    let (a, z, s) = (pb.i(5), pb.i(1), pb.i(-2));
    let t = pb.node(
        Operator::TableFunction {
            call: TableFunctionCall {
                name: "generate_series".into(),
                args: vec![a, z, s].into(),
            },
            columns: Schema::new(vec![Field::new("g", I4, true)]),
            ordinality: false,
        },
        vec![],
        1,
    );
    assert_eq!(
        i4(&pb.run_root(t).unwrap()),
        vec![vec![Some(5)], vec![Some(3)], vec![Some(1)]]
    );

    let mut pb = PB::default();
    let a1 = pb.c(Value::Array(ArrayValue::one_dim(
        TypeId::Int4,
        vec![Value::Int4(1), Value::Int4(2)],
    )));
    let a2 = pb.c(Value::Array(ArrayValue::one_dim(
        TypeId::Text,
        vec![Value::text("a")],
    )));
    let t = pb.node(
        Operator::TableFunction {
            call: TableFunctionCall {
                name: "unnest".into(),
                args: vec![a1, a2].into(),
            },
            columns: Schema::new(vec![
                Field::new("a", I4, true),
                Field::new("b", DataType::TEXT, true),
            ]),
            ordinality: false,
        },
        vec![],
        2,
    );
    assert_eq!(
        pb.run_root(t).unwrap(),
        vec![
            vec![Value::Int4(1), Value::text("a")],
            vec![Value::Int4(2), Value::Null]
        ]
    );
}

#[test]
fn jsonb_each_and_elements() {
    let mut pb = PB::default();
    let j = pb.c(Value::Jsonb(r#"{"a": 1, "b": [true, null]}"#.into()));
    let t = pb.node(
        Operator::TableFunction {
            call: TableFunctionCall {
                name: "jsonb_each_text".into(),
                args: vec![j].into(),
            },
            columns: Schema::new(vec![
                Field::new("key", DataType::TEXT, true),
                Field::new("value", DataType::TEXT, true),
            ]),
            ordinality: false,
        },
        vec![],
        2,
    );
    assert_eq!(
        pb.run_root(t).unwrap(),
        vec![
            vec![Value::text("a"), Value::text("1")],
            vec![Value::text("b"), Value::text("[true, null]")]
        ]
    );
    let mut pb = PB::default();
    let j = pb.c(Value::Jsonb(r#"[1, "x", {"k": 2}]"#.into()));
    let t = pb.node(
        Operator::TableFunction {
            call: TableFunctionCall {
                name: "jsonb_array_elements".into(),
                args: vec![j].into(),
            },
            columns: Schema::new(vec![Field::new("value", DataType::JSONB, true)]),
            ordinality: false,
        },
        vec![],
        1,
    );
    let rows = pb.run_root(t).unwrap();
    assert_eq!(rows[2][0], Value::Jsonb(r#"{"k": 2}"#.into()));
    assert_eq!(rows[1][0], Value::Jsonb(r#""x""#.into()));
}

#[test]
fn joins_all_kinds() {
    // left (1),(2),(NULL) ; right (1),(1),(3),(NULL) on l = r
    let run = |kind: JoinKind, method: JoinMethod| {
        let mut pb = PB::default();
        let l = pb.ints(&[&[Some(1)], &[Some(2)], &[None]]);
        let r = pb.ints(&[&[Some(1)], &[Some(1)], &[Some(3)], &[None]]);
        let (lk, rk) = (pb.col_in(0, 0), pb.col_in(1, 0));
        let (keys_l, keys_r, cond) = if method == JoinMethod::NestedLoop {
            let c = pb.bin(BinaryOp::Eq, lk, rk);
            (vec![], vec![], RSome(c))
        } else {
            (vec![pb.col(0)], vec![pb.col(0)], RNone)
        };
        let width = if matches!(kind, JoinKind::Semi | JoinKind::Anti) {
            1
        } else {
            2
        };
        let j = pb.node(
            Operator::Join {
                kind,
                method,
                condition: cond,
                left_keys: keys_l.into(),
                right_keys: keys_r.into(),
                lateral: false,
            },
            vec![l, r],
            width,
        );
        let mut rows: Vec<Vec<Option<i64>>> = i4(&pb.run_root(j).unwrap());
        rows.sort();
        rows
    };
    for m in [JoinMethod::NestedLoop, JoinMethod::Hash, JoinMethod::Merge] {
        assert_eq!(
            run(JoinKind::Inner, m),
            vec![vec![Some(1), Some(1)], vec![Some(1), Some(1)]]
        );
        assert_eq!(
            run(JoinKind::Left, m),
            vec![
                vec![None, None],
                vec![Some(1), Some(1)],
                vec![Some(1), Some(1)],
                vec![Some(2), None]
            ]
        );
        assert_eq!(
            run(JoinKind::Right, m),
            vec![
                vec![None, None],
                vec![None, Some(3)],
                vec![Some(1), Some(1)],
                vec![Some(1), Some(1)]
            ]
        );
        assert_eq!(run(JoinKind::Full, m).len(), 6);
        assert_eq!(run(JoinKind::Semi, m), vec![vec![Some(1)]]);
        assert_eq!(run(JoinKind::Anti, m), vec![vec![None], vec![Some(2)]]);
    }
}

#[test]
fn scalar_subquery_errors_on_two_rows() {
    let mut pb = PB::default();
    let sub = pb.ints(&[&[Some(1)], &[Some(2)]]);
    let e = pb.e(
        ExprKind::Subquery {
            kind: SubqueryKind::Scalar,
            plan: sub,
            arg: RNone,
        },
        I4,
    );
    let err = pb.scalar(e).unwrap_err();
    assert_eq!(err.sqlstate.as_str(), "21000");

    // x IN (SELECT ...) with NULL: 2 IN (1, NULL) -> NULL; EXISTS -> true
    let mut pb = PB::default();
    let sub = pb.ints(&[&[Some(1)], &[None]]);
    let two = pb.i(2);
    let e = pb.e(
        ExprKind::Subquery {
            kind: SubqueryKind::In,
            plan: sub,
            arg: RSome(two),
        },
        DataType::BOOL,
    );
    assert_eq!(pb.scalar(e).unwrap(), Value::Null);
}

#[test]
fn correlated_subquery_and_lateral() {
    // SELECT x, (SELECT count(*) FROM (VALUES (1),(2),(3)) s(y) WHERE y <= x) FROM (VALUES (1),(3)) t(x)
    let mut pb = PB::default();
    let outer = pb.ints(&[&[Some(1)], &[Some(3)]]);
    let inner = pb.ints(&[&[Some(1)], &[Some(2)], &[Some(3)]]);
    let y = pb.col(0);
    let ox = pb.e(
        ExprKind::OuterColumn {
            depth: 1,
            column: 0,
        },
        I4,
    );
    let p = pb.bin(BinaryOp::LtEq, y, ox);
    let f = pb.node(Operator::Filter { predicate: p }, vec![inner], 1);
    let a = pb.node(
        Operator::Aggregate {
            strategy: AggStrategy::Plain,
            group_by: RVec::new(),
            aggregates: vec![agg(AggFunc::CountStar, vec![], DataType::INT8)].into(),
        },
        vec![f],
        1,
    );
    let sq = pb.e(
        ExprKind::Subquery {
            kind: SubqueryKind::Scalar,
            plan: a,
            arg: RNone,
        },
        DataType::INT8,
    );
    let x = pb.col(0);
    let proj = pb.node(
        Operator::Project {
            exprs: vec![x, sq].into(),
        },
        vec![outer],
        2,
    );
    let rows = pb.run_root(proj).unwrap();
    assert_eq!(
        i4(&rows),
        vec![vec![Some(1), Some(1)], vec![Some(3), Some(3)]]
    );

    // Lateral: SELECT * FROM (VALUES (2),(3)) t(n), LATERAL generate_series(1, t.n)
    let mut pb = PB::default();
    let l = pb.ints(&[&[Some(2)], &[Some(3)]]);
    let one = pb.i(1);
    let on = pb.e(
        ExprKind::OuterColumn {
            depth: 1,
            column: 0,
        },
        I4,
    );
    let r = pb.node(
        Operator::TableFunction {
            call: TableFunctionCall {
                name: "generate_series".into(),
                args: vec![one, on].into(),
            },
            columns: Schema::new(vec![Field::new("g", I4, true)]),
            ordinality: false,
        },
        vec![],
        1,
    );
    let j = pb.node(
        Operator::Join {
            kind: JoinKind::Inner,
            method: JoinMethod::NestedLoop,
            condition: RNone,
            left_keys: RVec::new(),
            right_keys: RVec::new(),
            lateral: true,
        },
        vec![l, r],
        2,
    );
    let rows = pb.run_root(j).unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(i4(&rows)[4], vec![Some(3), Some(3)]);
}

#[test]
fn recursive_union_and_limits() {
    // WITH RECURSIVE r(n) AS (VALUES (1) UNION ALL SELECT n+1 FROM r WHERE n < 5)
    let mut pb = PB::default();
    let anchor = pb.ints(&[&[Some(1)]]);
    let wt = pb.node(Operator::WorkTableScan { worktable: 0 }, vec![], 1);
    let (n, five, one) = (pb.col(0), pb.i(5), pb.i(1));
    let p = pb.bin(BinaryOp::Lt, n, five);
    let f = pb.node(Operator::Filter { predicate: p }, vec![wt], 1);
    let add = pb.e(
        ExprKind::Binary {
            op: BinaryOp::Add,
            left: n,
            right: one,
        },
        I4,
    );
    let pr = pb.node(
        Operator::Project {
            exprs: vec![add].into(),
        },
        vec![f],
        1,
    );
    let ru = pb.node(
        Operator::RecursiveUnion {
            worktable: 0,
            all: true,
        },
        vec![anchor, pr],
        1,
    );
    let rows = pb.run_root(ru).unwrap();
    assert_eq!(i4(&rows).len(), 5);

    // Iteration limit.
    let mut pb = PB::default();
    let anchor = pb.ints(&[&[Some(1)]]);
    let wt = pb.node(Operator::WorkTableScan { worktable: 0 }, vec![], 1);
    let ru = pb.node(
        Operator::RecursiveUnion {
            worktable: 0,
            all: true,
        },
        vec![anchor, wt],
        1,
    );
    pb.plan.root = ru;
    pb.plan.output = Schema::new(vec![Field::new("n", I4, true)]);
    let mut c = ctx();
    c.max_recursive_iterations = 10;
    let mut cur = crate::shared::execute(&c, &services(), &pb.plan, &[]).unwrap();
    let mut err = None;
    loop {
        match cur.next_batch(0).into_result().map(|b| b.into_option()) {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    let err = err.expect("limit error");
    assert_eq!(err.sqlstate.as_str(), "54000");
    assert!(err
        .message
        .contains("AIONDB_LIMITS_MAX_RECURSIVE_ITERATIONS"));
}

#[test]
fn distinct_and_distinct_on() {
    let mut pb = PB::default();
    let v = pb.ints(&[
        &[Some(1), Some(1)],
        &[Some(1), Some(2)],
        &[None, Some(3)],
        &[None, Some(4)],
    ]);
    let d = pb.node(Operator::Distinct { on: RVec::new() }, vec![v], 2);
    assert_eq!(pb.run_root(d).unwrap().len(), 4);
    let mut pb = PB::default();
    let v = pb.ints(&[
        &[Some(1), Some(1)],
        &[Some(1), Some(2)],
        &[None, Some(3)],
        &[None, Some(4)],
    ]);
    let c = pb.col(0);
    let d = pb.node(Operator::Distinct { on: vec![c].into() }, vec![v], 2);
    assert_eq!(
        i4(&pb.run_root(d).unwrap()),
        vec![vec![Some(1), Some(1)], vec![None, Some(3)]]
    );
}

#[test]
fn memory_limit_and_result_rows() {
    let mut pb = PB::default();
    let (a, z) = (pb.i(1), pb.i(100000));
    let t = pb.node(
        Operator::TableFunction {
            call: TableFunctionCall {
                name: "generate_series".into(),
                args: vec![a, z].into(),
            },
            columns: Schema::new(vec![Field::new("g", I4, true)]),
            ordinality: false,
        },
        vec![],
        1,
    );
    let c = pb.col(0);
    let s = pb.node(
        Operator::Sort {
            keys: vec![SortKey {
                expr: c,
                descending: true,
                nulls_first: false,
            }]
            .into(),
        },
        vec![t],
        1,
    );
    pb.plan.root = s;
    pb.plan.output = Schema::new(vec![Field::new("g", I4, true)]);
    let mut cx = ctx();
    cx.memory_limit_bytes = 100_000;
    let err = match crate::shared::execute(&cx, &services(), &pb.plan, &[]) {
        Err(e) => e,
        Ok(_) => panic!("expected out of memory"),
    };
    assert_eq!(err.sqlstate.as_str(), "53200");
    let mut cx = ctx();
    cx.max_result_rows = 10;
    let mut cur = crate::shared::execute(&cx, &services(), &pb.plan, &[]).unwrap();
    let err = cur.next_batch(0).into_result().unwrap_err();
    assert_eq!(err.sqlstate.as_str(), "54000");
    assert_eq!(
        err.message.as_str(),
        "result exceeds AIONDB_LIMITS_MAX_RESULT_ROWS (10 rows)"
    );
}

#[test]
fn aggregate_numeric_results_match_postgres() {
    // PG: avg 3.0000000000000000, var_samp 7.3333333333333333,
    // var_pop 5.5000000000000000, stddev_samp 2.7080128015453201,
    // stddev_pop 2.3452078799117148 over (1),(2),(2),(7).
    let mut pb = PB::default();
    let v = pb.ints(&[&[Some(1)], &[Some(2)], &[Some(2)], &[Some(7)]]);
    let c = pb.col(0);
    let n = DataType::NUMERIC;
    let a = pb.node(
        Operator::Aggregate {
            strategy: AggStrategy::Plain,
            group_by: RVec::new(),
            aggregates: vec![
                agg(AggFunc::Avg, vec![c], n),
                agg(AggFunc::VarSamp, vec![c], n),
                agg(AggFunc::VarPop, vec![c], n),
                agg(AggFunc::StddevSamp, vec![c], n),
                agg(AggFunc::StddevPop, vec![c], n),
            ]
            .into(),
        },
        vec![v],
        5,
    );
    let rows = pb.run_root(a).unwrap();
    let t: Vec<String> = rows[0].iter().map(|v| v.to_pg_text().unwrap()).collect();
    assert_eq!(
        t,
        vec![
            "3.0000000000000000",
            "7.3333333333333333",
            "5.5000000000000000",
            "2.7080128015453201",
            "2.3452078799117148"
        ]
    );
}

#[test]
fn window_ranking_distribution() {
    // PG over x = 1,2,2,7,9: percent_rank 0,.25,.25,.75,1; cume_dist .2,.6,.6,.8,1; ntile(3) 1,1,2,2,3
    let mut pb = PB::default();
    let v = pb.ints(&[&[Some(9)], &[Some(2)], &[Some(1)], &[Some(7)], &[Some(2)]]);
    let x = pb.col(0);
    let three = pb.i(3);
    use FrameBound::*;
    let fns = vec![
        win(
            WindowFunc::PercentRank,
            vec![],
            FrameMode::Range,
            UnboundedPreceding,
            CurrentRow,
        ),
        win(
            WindowFunc::CumeDist,
            vec![],
            FrameMode::Range,
            UnboundedPreceding,
            CurrentRow,
        ),
        win(
            WindowFunc::Ntile,
            vec![three],
            FrameMode::Range,
            UnboundedPreceding,
            CurrentRow,
        ),
    ];
    let w = pb.node(
        Operator::Window {
            partition_by: RVec::new(),
            order_by: vec![SortKey {
                expr: x,
                descending: false,
                nulls_first: false,
            }]
            .into(),
            functions: fns.into(),
        },
        vec![v],
        4,
    );
    let rows = pb.run_root(w).unwrap();
    let t: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r[1..].iter().map(|v| v.to_pg_text().unwrap()).collect())
        .collect();
    assert_eq!(
        t,
        vec![
            vec!["0", "0.2", "1"],
            vec!["0.25", "0.6", "1"],
            vec!["0.25", "0.6", "2"],
            vec!["0.75", "0.8", "2"],
            vec!["1", "1", "3"]
        ]
    );
}

#[test]
fn generate_series_timestamps() {
    let mut pb = PB::default();
    let a = pb.c(aiondb_sdk::value::parse_text(DataType::TIMESTAMP, "2020-01-30 00:00").unwrap());
    let z = pb.c(aiondb_sdk::value::parse_text(DataType::TIMESTAMP, "2020-04-01").unwrap());
    let s =
        pb.c(aiondb_sdk::value::parse_text(DataType::scalar(TypeId::Interval), "1 month").unwrap());
    let t = pb.node(
        Operator::TableFunction {
            call: TableFunctionCall {
                name: "generate_series".into(),
                args: vec![a, z, s].into(),
            },
            columns: Schema::new(vec![Field::new("g", DataType::TIMESTAMP, true)]),
            ordinality: false,
        },
        vec![],
        1,
    );
    let rows = pb.run_root(t).unwrap();
    let t: Vec<String> = rows.iter().map(|r| r[0].to_pg_text().unwrap()).collect();
    // PG adds the step to the previous value: 01-30, 02-29 (clamped), 03-29.
    assert_eq!(
        t,
        vec![
            "2020-01-30 00:00:00",
            "2020-02-29 00:00:00",
            "2020-03-29 00:00:00"
        ]
    );
}

#[test]
fn top_n_sort_keeps_stable_order() {
    // 5000 rows of (i % 7, i): ORDER BY c0 DESC LIMIT 3 OFFSET 2 -> ties in input order.
    let mut pb = PB::default();
    let rows: Vec<Vec<Value>> = (0..5000)
        .map(|i| vec![Value::Int4(i % 7), Value::Int4(i)])
        .collect();
    let v = pb.values(rows);
    let c0 = pb.col(0);
    let s = pb.node(
        Operator::Sort {
            keys: vec![SortKey {
                expr: c0,
                descending: true,
                nulls_first: false,
            }]
            .into(),
        },
        vec![v],
        2,
    );
    let (l, o) = (pb.i(3), pb.i(2));
    let lim = pb.node(
        Operator::Limit {
            limit: RSome(l),
            offset: RSome(o),
        },
        vec![s],
        2,
    );
    let rows = pb.run_root(lim).unwrap();
    assert_eq!(
        i4(&rows),
        vec![
            vec![Some(6), Some(20)],
            vec![Some(6), Some(27)],
            vec![Some(6), Some(34)]
        ]
    );
}

#[test]
fn top_n_sort_matches_a_full_sort() {
    // Enough rows for several cuts; rows arriving after a cut that sort
    // before the cutoff must not become the cutoff themselves.
    let rows: Vec<Vec<Value>> = (1..9000)
        .map(|g| vec![Value::Int4(g % 1000), Value::Int4(g % 3)])
        .collect();
    let mut expected: Vec<(i64, i64)> = (1..9000i64).map(|g| (g % 1000, g % 3)).collect();
    expected.sort();
    for (limit, offset) in [(4000, 0), (4000, 4000), (1000, 10)] {
        let mut pb = PB::default();
        let v = pb.values(rows.clone());
        let (c0, c1) = (pb.col(0), pb.col(1));
        let keys: Vec<SortKey> = [c0, c1]
            .into_iter()
            .map(|expr| SortKey {
                expr,
                descending: false,
                nulls_first: false,
            })
            .collect();
        let s = pb.node(Operator::Sort { keys: keys.into() }, vec![v], 2);
        let (l, o) = (pb.i(limit), pb.i(offset));
        let lim = pb.node(
            Operator::Limit {
                limit: RSome(l),
                offset: RSome(o),
            },
            vec![s],
            2,
        );
        let got: Vec<(i64, i64)> = i4(&pb.run_root(lim).unwrap())
            .into_iter()
            .map(|r| (r[0].unwrap(), r[1].unwrap()))
            .collect();
        let want = &expected[offset as usize..(offset + limit) as usize];
        assert_eq!(got, want, "LIMIT {limit} OFFSET {offset}");
    }
}

#[test]
fn in_subquery_cached_hash_with_nulls() {
    // SELECT x, x IN (SELECT y FROM (VALUES (1),(NULL),(3)) s(y)) FROM (VALUES (1),(2),(NULL)) t(x)
    let mut pb = PB::default();
    let outer = pb.ints(&[&[Some(1)], &[Some(2)], &[None]]);
    let sub = pb.ints(&[&[Some(1)], &[None], &[Some(3)]]);
    let x = pb.col(0);
    let e = pb.e(
        ExprKind::Subquery {
            kind: SubqueryKind::In,
            plan: sub,
            arg: RSome(x),
        },
        DataType::BOOL,
    );
    let p = pb.node(
        Operator::Project {
            exprs: vec![e].into(),
        },
        vec![outer],
        1,
    );
    let rows = pb.run_root(p).unwrap();
    assert_eq!(
        rows,
        vec![vec![b(true)], vec![Value::Null], vec![Value::Null]]
    );
}

#[test]
fn with_dml_fills_worktables_before_main() {
    // The CTE input runs first; main reads its rows twice (UNION ALL of two
    // scans of the worktable). The executor does not require a DML input.
    let mut pb = PB::default();
    let cte = pb.ints(&[&[Some(1)], &[Some(2)]]);
    let a = pb.node(Operator::WorkTableScan { worktable: 7 }, vec![], 1);
    let b = pb.node(Operator::WorkTableScan { worktable: 7 }, vec![], 1);
    let main = pb.node(
        Operator::SetOp {
            op: SetOpKind::Union,
            all: true,
        },
        vec![a, b],
        1,
    );
    let ctes = vec![DmlCte {
        name: "d".into(),
        worktable: 7,
    }];
    let w = pb.node(
        Operator::WithDml {
            ctes: ctes.clone().into(),
        },
        vec![main, cte],
        1,
    );
    let rows = pb.run_root(w).unwrap();
    let mut v = i4(&rows);
    v.sort();
    assert_eq!(
        v,
        vec![vec![Some(1)], vec![Some(1)], vec![Some(2)], vec![Some(2)]]
    );

    // An input missing for a declared CTE is a plan error, not a panic.
    let mut pb = PB::default();
    let main = pb.ints(&[&[Some(1)]]);
    let w = pb.node(Operator::WithDml { ctes: ctes.into() }, vec![main], 1);
    let e = pb.run_root(w).unwrap_err();
    assert_eq!(e.sqlstate.as_str(), "XX000");
}

#[test]
fn rows_from_zips_and_pads() {
    // ROWS FROM (unnest(ARRAY[1,2,3]), generate_series(1, 2)): the shorter
    // function is padded with NULLs, as select-list SRFs are in PostgreSQL.
    let mut pb = PB::default();
    let arr = pb.c(Value::Array(ArrayValue::one_dim(
        TypeId::Int4,
        vec![Value::Int4(1), Value::Int4(2), Value::Int4(3)],
    )));
    let (a, z) = (pb.i(1), pb.i(2));
    let t = pb.node(
        Operator::TableFunction {
            call: TableFunctionCall {
                name: "rows from(unnest/1/1,generate_series/2/1)".into(),
                args: vec![arr, a, z].into(),
            },
            columns: Schema::new(vec![Field::new("u", I4, true), Field::new("g", I4, true)]),
            ordinality: false,
        },
        vec![],
        2,
    );
    assert_eq!(
        i4(&pb.run_root(t).unwrap()),
        vec![
            vec![Some(1), Some(1)],
            vec![Some(2), Some(2)],
            vec![Some(3), None]
        ]
    );
}

#[test]
fn system_relations_and_catalog_functions() {
    // pg_am has fixed rows; pg_namespace lists the catalog's schemas plus
    // information_schema.
    let mut pb = PB::default();
    let rel = aiondb_sdk::syscat::lookup_relation(None, "pg_am").unwrap();
    let t = pb.node(
        Operator::TableFunction {
            call: TableFunctionCall {
                name: rel.qualified().into(),
                args: vec![].into(),
            },
            columns: rel.schema(),
            ordinality: false,
        },
        vec![],
        rel.schema().fields.len(),
    );
    let rows = pb.run_root(t).unwrap();
    assert!(rows
        .iter()
        .any(|r| r[0] == Value::Int8(403) && r[1] == Value::text("btree")));

    let mut pb = PB::default();
    let n = pb.c(Value::Int8(10240));
    let e = pb.e(
        ExprKind::Special {
            func: SpecialFunc::Catalog(aiondb_sdk::syscat::SysFunc::SizePretty),
            args: vec![n].into(),
        },
        DataType::TEXT,
    );
    assert_eq!(pb.scalar(e).unwrap(), Value::text("10 kB"));
    let mut pb = PB::default();
    let missing = pb.c(Value::text("nope"));
    let e = pb.e(
        ExprKind::Special {
            func: SpecialFunc::Catalog(aiondb_sdk::syscat::SysFunc::RegClassIn),
            args: vec![missing].into(),
        },
        DataType::scalar(TypeId::RegClass),
    );
    assert_eq!(pb.scalar(e).unwrap_err().sqlstate.as_str(), "42P01");
}
