//! Pull-based operators. Each operator is built once per statement from its
//! plan node, then `open`ed (again for every re-execution: correlated
//! subqueries, lateral joins) and `advance`d; `current` borrows the current
//! row, so filters and scans pass rows on without copying them.

use crate::rowtable::RowTable;
use std::sync::Arc;
use std::time::Instant;

use aiondb_sdk::abi_stable::std_types::ROption::{RNone, RSome};
use aiondb_sdk::plan::{
    ConflictAction, ExprKind, ExprRef, FrameBound, IndexProbe, NodeRef, Operator, RowLockMode,
    SetOpKind, SortKey,
};
use aiondb_sdk::prelude::*;

use crate::expr::{compile, compile_list0, compile_with, key_cmp, CExpr};
use crate::shared::*;

pub(crate) trait Op: Send {
    /// (Re)starts the operator; blocking operators consume their input here.
    fn open(&mut self, cx: &mut EvalCx) -> DbResult<()>;
    /// Moves to the next row; false when exhausted.
    fn advance(&mut self, cx: &mut EvalCx) -> DbResult<bool>;
    /// The current row (valid after `advance` returned true).
    fn current(&self) -> &[Value];
    /// Appends the current row to `out`. The row is not read again after
    /// this, so operators that own it move the values instead of cloning.
    fn take_current(&mut self, out: &mut RowBatch) {
        out.push_row(self.current().iter().cloned());
    }
    /// Releases held memory.
    fn close(&mut self, _cx: &mut EvalCx) {}
    /// At most this many rows will be pulled (LIMIT + OFFSET above); a
    /// sort keeps only that many (top-N).
    fn limit_hint(&mut self, _rows: Option<u64>) {}
    /// Runs the whole operator (as root) straight into `out`, without the
    /// row-at-a-time path, applying the result limits as it goes; `None`
    /// when it cannot, and then nothing has been done. Returns the rows
    /// appended.
    fn run_into(&mut self, _cx: &mut EvalCx, _out: &mut RowBatch) -> Option<DbResult<usize>> {
        None
    }
}

/// The result row and byte limits over the rows a statement returns,
/// counted row by row (`QueryCursor::fill_into`) or a batch at a time
/// (`Op::run_into`).
#[derive(Default)]
pub(crate) struct ResultLimits {
    rows: u64,
    bytes: u64,
}

impl ResultLimits {
    /// Counts the rows of `out` from `from` on.
    pub(crate) fn add(&mut self, ctx: &ExecContext, out: &RowBatch, from: usize) -> DbResult<()> {
        let rows = out.len().saturating_sub(from) as u64;
        self.count(ctx, rows, || {
            (from..out.len())
                .filter_map(|i| out.row(i))
                .map(row_bytes)
                .sum()
        })
    }

    /// Counts `rows` more rows of `bytes` (worked out only under a byte
    /// limit).
    pub(crate) fn count(
        &mut self,
        ctx: &ExecContext,
        rows: u64,
        bytes: impl FnOnce() -> u64,
    ) -> DbResult<()> {
        self.rows += rows;
        let lim = ctx.max_result_rows;
        if lim != 0 && self.rows > lim {
            return Err(AionError::new(
                SqlState::PROGRAM_LIMIT_EXCEEDED,
                format!("result exceeds AIONDB_LIMITS_MAX_RESULT_ROWS ({lim} rows)"),
            ));
        }
        let blim = ctx.max_result_bytes;
        if blim != 0 {
            self.bytes += bytes();
            if self.bytes > blim {
                return Err(AionError::new(
                    SqlState::PROGRAM_LIMIT_EXCEEDED,
                    format!("result exceeds AIONDB_LIMITS_MAX_RESULT_BYTES ({blim} bytes)"),
                ));
            }
        }
        Ok(())
    }
}

/// EXPLAIN ANALYZE counters of one plan node.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct NodeStats {
    pub rows: u64,
    pub loops: u64,
    pub first_us: f64,
    pub total_us: f64,
    pub executed: bool,
}

/// Counts rows and time of the wrapped operator (EXPLAIN ANALYZE only).
struct Instrumented {
    node: usize,
    inner: Box<dyn Op>,
    started: Option<Instant>,
}

impl Op for Instrumented {
    fn open(&mut self, cx: &mut EvalCx) -> DbResult<()> {
        let t = Instant::now();
        self.started = Some(t);
        let r = self.inner.open(cx);
        if let Some(s) = cx.stats.get_mut(self.node) {
            s.loops += 1;
            s.executed = true;
            s.total_us += t.elapsed().as_secs_f64() * 1e6;
        }
        r
    }
    fn advance(&mut self, cx: &mut EvalCx) -> DbResult<bool> {
        let t = Instant::now();
        let r = self.inner.advance(cx)?;
        if let Some(s) = cx.stats.get_mut(self.node) {
            s.total_us += t.elapsed().as_secs_f64() * 1e6;
            if r {
                if s.rows == 0 {
                    if let Some(st) = self.started {
                        s.first_us = st.elapsed().as_secs_f64() * 1e6;
                    }
                }
                s.rows += 1;
            }
        }
        Ok(r)
    }
    fn current(&self) -> &[Value] {
        self.inner.current()
    }
    fn take_current(&mut self, out: &mut RowBatch) {
        self.inner.take_current(out)
    }
    fn close(&mut self, cx: &mut EvalCx) {
        self.inner.close(cx)
    }
    fn limit_hint(&mut self, rows: Option<u64>) {
        self.inner.limit_hint(rows)
    }
}

pub(crate) fn width_of(plan: &Plan, n: NodeRef) -> DbResult<usize> {
    Ok(node_of(plan, n)?.output.len())
}

pub(crate) fn input_of(plan: &Plan, n: NodeRef, i: usize) -> DbResult<NodeRef> {
    node_of(plan, n)?
        .inputs
        .get(i)
        .copied()
        .ok_or_else(|| bad_plan(format!("node {n} is missing input {i}")))
}

/// Builds the operator tree rooted at `n`.
pub(crate) fn build(cx: &mut EvalCx, plan: &Plan, n: NodeRef) -> DbResult<Box<dyn Op>> {
    let op = build_inner(cx, plan, n)?;
    if !cx.stats.is_empty() {
        return Ok(Box::new(Instrumented {
            node: n as usize,
            inner: op,
            started: None,
        }));
    }
    Ok(op)
}

fn build_child(cx: &mut EvalCx, plan: &Plan, n: NodeRef, i: usize) -> DbResult<Box<dyn Op>> {
    let c = input_of(plan, n, i)?;
    build(cx, plan, c)
}

fn build_inner(cx: &mut EvalCx, plan: &Plan, n: NodeRef) -> DbResult<Box<dyn Op>> {
    let node = node_of(plan, n)?;
    Ok(match &node.op {
        Operator::SeqScan {
            table,
            projection,
            filter,
            with_row_id,
            lock,
        } => Box::new(ScanOp::new(
            cx,
            plan,
            *table,
            None,
            projection,
            (*filter).into_option(),
            *with_row_id,
            *lock,
            false,
        )?),
        Operator::IndexScan {
            table,
            index,
            probe,
            projection,
            filter,
            with_row_id,
            lock,
            reverse,
        } => {
            let probe = match probe {
                IndexProbe::Eq(list) => Probe::Eq(compile_list0(cx, plan, list)?),
                IndexProbe::Range { lower, upper } => {
                    let mut b = |x: &ROption<aiondb_sdk::plan::Bound>| -> DbResult<Option<(Vec<CExpr>, bool)>> {
                        Ok(match x {
                            RSome(b) => Some((compile_list0(cx, plan, &b.exprs)?, b.inclusive)),
                            RNone => None,
                        })
                    };
                    let l = b(lower)?;
                    let u = b(upper)?;
                    Probe::Range(l, u)
                }
                IndexProbe::Full => Probe::Full,
            };
            Box::new(ScanOp::new(
                cx,
                plan,
                *table,
                Some((*index, probe)),
                projection,
                (*filter).into_option(),
                *with_row_id,
                *lock,
                *reverse,
            )?)
        }
        Operator::Values { rows } => {
            let mut out = Vec::with_capacity(rows.len());
            for r in rows.iter() {
                out.push(compile_list0(cx, plan, r)?);
            }
            Box::new(ValuesOp {
                rows: out,
                pos: 0,
                buf: Vec::new(),
            })
        }
        Operator::TableFunction {
            call,
            columns,
            ordinality,
        } => crate::tablefunc::build(cx, plan, call, columns, *ordinality)?,
        Operator::Filter { predicate } => Box::new(FilterOp {
            child: build_child(cx, plan, n, 0)?,
            pred: compile(cx, plan, *predicate, &[0])?,
        }),
        Operator::Project { exprs } => {
            let child = build_child(cx, plan, n, 0)?;
            let compiled = compile_list0(cx, plan, exprs)?;
            // Every input column in order: the child's rows pass on as they
            // are, without a copy per row (EXPLAIN ANALYZE keeps the node).
            let identity = cx.stats.is_empty()
                && compiled.len() == width_of(plan, input_of(plan, n, 0)?)?
                && compiled
                    .iter()
                    .enumerate()
                    .all(|(i, e)| matches!(e, CExpr::Col(c) if *c == i));
            if identity {
                child
            } else {
                Box::new(ProjectOp {
                    child,
                    exprs: compiled,
                    buf: Vec::with_capacity(exprs.len()),
                })
            }
        }
        Operator::Join { .. } => crate::join::build(cx, plan, n)?,
        Operator::Aggregate { .. } => crate::agg::build(cx, plan, n)?,
        Operator::Window { .. } => crate::window::build(cx, plan, n)?,
        Operator::Sort { keys } => Box::new(SortOp {
            child: build_child(cx, plan, n, 0)?,
            keys: compile_keys(cx, plan, keys)?,
            rows: Vec::new(),
            pos: 0,
            held: 0,
            limit: None,
        }),
        Operator::Limit { limit, offset } => Box::new(LimitOp {
            child: build_child(cx, plan, n, 0)?,
            limit: match limit {
                RSome(e) => Some(compile(cx, plan, *e, &[0])?),
                RNone => None,
            },
            offset: match offset {
                RSome(e) => Some(compile(cx, plan, *e, &[0])?),
                RNone => None,
            },
            remaining: None,
            skip: 0,
        }),
        Operator::Distinct { on } => Box::new(DistinctOp {
            child: build_child(cx, plan, n, 0)?,
            on: compile_list0(cx, plan, on)?,
            seen: RowTable::default(),
            prev: None,
            kbuf: Vec::new(),
            held: 0,
        }),
        Operator::SetOp { op, all } => Box::new(SetOpOp {
            left: build_child(cx, plan, n, 0)?,
            right: build_child(cx, plan, n, 1)?,
            op: *op,
            all: *all,
            counts: RowTable::default(),
            on_right: false,
            held: 0,
        }),
        Operator::RecursiveUnion { worktable, all } => Box::new(RecursiveOp {
            anchor: build_child(cx, plan, n, 0)?,
            rec: build_child(cx, plan, n, 1)?,
            worktable: *worktable,
            all: *all,
            phase: Phase::Anchor,
            seen: RowTable::default(),
            next_work: Vec::new(),
            cur: Vec::new(),
            iterations: 0,
            produced: 0,
            held: 0,
        }),
        Operator::WorkTableScan { worktable } => Box::new(WorkTableOp {
            worktable: *worktable,
            rows: Arc::new(Vec::new()),
            pos: 0,
        }),
        Operator::WithDml { ctes } => {
            if node.inputs.len() != ctes.len() + 1 {
                return Err(bad_plan(format!(
                    "WithDml node {n} has {} inputs for {} CTEs",
                    node.inputs.len(),
                    ctes.len()
                )));
            }
            let main = build_child(cx, plan, n, 0)?;
            let mut built = Vec::with_capacity(ctes.len());
            for (i, c) in ctes.iter().enumerate() {
                built.push((c.worktable, build_child(cx, plan, n, i + 1)?));
            }
            Box::new(WithDmlOp {
                main,
                ctes: built,
                held: 0,
            })
        }
        Operator::CopyFrom {
            table_name,
            columns,
            options,
        } => Box::new(crate::copy::CopyFromOp::new(
            table_name.as_str(),
            columns,
            &node.output,
            options,
        )),
        // The surface writes the rows; they pass through unchanged.
        Operator::CopyTo { .. } => build_child(cx, plan, n, 0)?,
        Operator::Insert { .. } | Operator::Update { .. } | Operator::Delete { .. } => Box::new(
            crate::dml::DmlOp::new(crate::dml::compile_dml(cx, plan, n)?),
        ),
        Operator::VectorSearch { .. } | Operator::GraphExpand { .. } => {
            return Err(AionError::feature_not_supported(
                "vector and graph access paths are not supported by this executor",
            ))
        }
        Operator::Extension { provider, name, .. } => {
            return Err(AionError::feature_not_supported(format!(
                "plan operator {provider}.{name} is not supported by this executor"
            )))
        }
        Operator::Ddl(_)
        | Operator::Explain { .. }
        | Operator::Analyze { .. }
        | Operator::Utility(_) => {
            return Err(bad_plan("statement operator below the plan root"));
        }
    })
}

pub(crate) struct CKey {
    pub expr: CExpr,
    pub desc: bool,
    pub nulls_first: bool,
}

pub(crate) fn compile_keys(cx: &mut EvalCx, plan: &Plan, keys: &[SortKey]) -> DbResult<Vec<CKey>> {
    keys.iter()
        .map(|k| {
            Ok(CKey {
                expr: compile(cx, plan, k.expr, &[0])?,
                desc: k.descending,
                nulls_first: k.nulls_first,
            })
        })
        .collect()
}

pub(crate) fn cmp_keys(keys: &[CKey], a: &[Value], b: &[Value]) -> std::cmp::Ordering {
    for (k, (x, y)) in keys.iter().zip(a.iter().zip(b.iter())) {
        let o = key_cmp(x, y, k.desc, k.nulls_first);
        if o != std::cmp::Ordering::Equal {
            return o;
        }
    }
    std::cmp::Ordering::Equal
}

pub(crate) fn eval_keys(cx: &mut EvalCx, keys: &[CKey], row: &[Value]) -> DbResult<Vec<Value>> {
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        out.push(k.expr.eval(cx, row)?);
    }
    Ok(out)
}

// ------------------------------------------------------------------ scans

pub(crate) enum Probe {
    Eq(Vec<CExpr>),
    Range(Option<(Vec<CExpr>, bool)>, Option<(Vec<CExpr>, bool)>),
    Full,
}

/// Table columns an expression reads (input 0), and whether it holds a
/// subquery (which then needs the whole row as its outer row).
pub(crate) fn expr_columns(plan: &Plan, e: ExprRef, out: &mut Vec<u32>) -> bool {
    let mut has_sub = false;
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        let Some(ex) = plan.expr(e) else { continue };
        match &ex.kind {
            ExprKind::Column { column, .. } => out.push(*column),
            ExprKind::Subquery { .. } => has_sub = true,
            k => child_exprs(k, &mut stack),
        }
    }
    has_sub
}

/// Direct sub-expressions of an expression (not subquery plans).
pub(crate) fn child_exprs(k: &ExprKind, out: &mut Vec<ExprRef>) {
    match k {
        ExprKind::Const(_)
        | ExprKind::Param(_)
        | ExprKind::Column { .. }
        | ExprKind::OuterColumn { .. } => {}
        ExprKind::Binary { left, right, .. } => out.extend([*left, *right]),
        ExprKind::Unary { arg, .. } => out.push(*arg),
        ExprKind::Like {
            arg,
            pattern,
            escape,
            ..
        } => {
            out.extend([*arg, *pattern]);
            if let RSome(e) = escape {
                out.push(*e)
            }
        }
        ExprKind::InList { arg, list, .. } => {
            out.push(*arg);
            out.extend(list.iter().copied())
        }
        ExprKind::AnyAll { left, array, .. } => out.extend([*left, *array]),
        ExprKind::Call { args, .. } | ExprKind::Special { args, .. } => {
            out.extend(args.iter().copied())
        }
        ExprKind::Cast { arg, .. } => out.push(*arg),
        ExprKind::And(l) | ExprKind::Or(l) | ExprKind::Array(l) => out.extend(l.iter().copied()),
        ExprKind::Not(e) | ExprKind::IsNull(e) => out.push(*e),
        ExprKind::Case {
            operand,
            whens,
            thens,
            otherwise,
        } => {
            if let RSome(e) = operand {
                out.push(*e)
            }
            out.extend(whens.iter().copied());
            out.extend(thens.iter().copied());
            if let RSome(e) = otherwise {
                out.push(*e)
            }
        }
        ExprKind::Subscript { arg, index } => out.extend([*arg, *index]),
        ExprKind::Subquery { arg, .. } => {
            if let RSome(e) = arg {
                out.push(*e)
            }
        }
    }
}

pub(crate) struct ScanOp {
    table: TableDef,
    index: Option<(IndexId, Probe)>,
    reverse: bool,
    request: ScanRequest,
    filter: Option<CExpr>,
    /// Fetched row -> output row positions, when they differ.
    out_map: Option<Vec<usize>>,
    /// Position of the row id in the fetched row.
    rowid_pos: Option<usize>,
    lock: RowLockMode,
    cursor: Option<RowCursorBox>,
    batch: RowBatch,
    /// Width of the rows storage returns for `request`.
    fetch_width: usize,
    /// The probe is equality on every column of a unique index: at most
    /// one row, read with `fetch` instead of opening a cursor.
    point: bool,
    /// The point probe's key, reused across executions.
    key: Vec<Value>,
    pos: usize,
    next: usize,
    buf: Vec<Value>,
    use_buf: bool,
    done: bool,
}

impl ScanOp {
    #[allow(clippy::too_many_arguments)]
    fn new(
        cx: &mut EvalCx,
        plan: &Plan,
        table: TableId,
        index: Option<(IndexId, Probe)>,
        projection: &[u32],
        filter: Option<ExprRef>,
        with_row_id: bool,
        lock: RowLockMode,
        reverse: bool,
    ) -> DbResult<ScanOp> {
        if lock != RowLockMode::None && cx.ctx.read_only {
            let what = if lock == RowLockMode::Update {
                "SELECT FOR UPDATE"
            } else {
                "SELECT FOR SHARE"
            };
            return Err(read_only_error(what));
        }
        let table = cx.table(table)?;
        let ncols = table.columns.len() as u32;
        if let Some(c) = projection.iter().find(|c| **c >= ncols) {
            return Err(bad_plan(format!(
                "column {c} of \"{}\" out of range",
                table.name
            )));
        }
        let mut fetch: Vec<u32> = projection.to_vec();
        let mut compiled = None;
        let mut whole_row = false;
        if let Some(f) = filter {
            let mut cols = Vec::new();
            whole_row = expr_columns(plan, f, &mut cols);
            if whole_row {
                fetch = (0..ncols).collect();
            } else {
                for c in cols {
                    if !fetch.contains(&c) {
                        fetch.push(c);
                    }
                }
            }
            let map: Vec<Option<usize>> = (0..ncols)
                .map(|c| fetch.iter().position(|f| *f == c))
                .collect();
            compiled = Some(compile_with(cx, plan, f, &|input, col| {
                if input == 0 {
                    map.get(col as usize).copied().flatten()
                } else {
                    None
                }
            })?);
        }
        let need_rowid = with_row_id || lock != RowLockMode::None;
        let rowid_pos = need_rowid.then_some(fetch.len());
        let identical =
            !whole_row && fetch.len() == projection.len() && (with_row_id || !need_rowid);
        let out_map = if identical {
            None
        } else {
            let mut m: Vec<usize> = projection
                .iter()
                .map(|c| fetch.iter().position(|f| f == c).unwrap_or(0))
                .collect();
            if with_row_id {
                m.push(fetch.len());
            }
            Some(m)
        };
        // An empty projection asks storage for every column; ask for the
        // first one instead when nothing is needed (count(*)).
        let mut req_proj = fetch.clone();
        let mut out_map = out_map;
        let mut rowid_pos = rowid_pos;
        if req_proj.is_empty() && ncols > 0 {
            req_proj.push(0);
            rowid_pos = rowid_pos.map(|p| p + 1);
            out_map = Some(if with_row_id { vec![1] } else { vec![] });
        }
        let point = match &index {
            Some((id, Probe::Eq(list))) => cx
                .services
                .catalog
                .indexes_of(table.id)
                .iter()
                .any(|ix| ix.id == *id && ix.unique && ix.columns.len() == list.len()),
            _ => false,
        };
        let fetch_width = req_proj.len() + usize::from(need_rowid);
        Ok(ScanOp {
            table,
            index,
            reverse,
            fetch_width,
            point,
            key: Vec::new(),
            request: ScanRequest {
                projection: req_proj.into(),
                row_ids: RNone,
                with_row_ids: need_rowid,
                latest: false,
            },
            filter: compiled,
            use_buf: out_map.is_some(),
            out_map,
            rowid_pos,
            lock,
            cursor: None,
            batch: RowBatch::new(fetch_width),
            pos: 0,
            next: 0,
            buf: Vec::new(),
            done: false,
        })
    }

    fn probe_values(cx: &mut EvalCx, list: &[CExpr]) -> DbResult<Option<Vec<Value>>> {
        let mut v = Vec::with_capacity(list.len());
        Ok(Self::probe_into(cx, list, &mut v)?.then_some(v))
    }

    /// Evaluates a probe's key into `out`; false when a part is NULL (the
    /// comparison can match nothing).
    fn probe_into(cx: &mut EvalCx, list: &[CExpr], out: &mut Vec<Value>) -> DbResult<bool> {
        out.clear();
        for e in list {
            let x = e.eval(cx, &[])?;
            if x.is_null() {
                return Ok(false);
            }
            out.push(x);
        }
        Ok(true)
    }

    /// Locks the current row for FOR UPDATE/SHARE; false when it must be
    /// skipped (deleted, or changed so that the filter no longer holds).
    fn lock_current(&mut self, cx: &mut EvalCx) -> DbResult<Locked> {
        let Some(rp) = self.rowid_pos else {
            return Ok(Locked::Keep);
        };
        let Some(row) = self.batch.row(self.pos) else {
            return Ok(Locked::Skip);
        };
        let Some(id) = row.get(rp).and_then(Value::as_i64) else {
            return Ok(Locked::Keep);
        };
        let storage = storage_of(&cx.services, &self.table)?;
        let outcome = storage
            .lock_row(
                cx.ctx.txn,
                self.table.id,
                id as RowId,
                self.lock == RowLockMode::Update,
                &cx.lock_wait(),
            )
            .into_result()?;
        match outcome {
            LockOutcome::Locked => Ok(Locked::Keep),
            LockOutcome::Deleted => Ok(Locked::Skip),
            LockOutcome::LockedChanged => {
                let req = ScanRequest {
                    projection: self.request.projection.clone(),
                    row_ids: RSome(vec![id as RowId].into()),
                    with_row_ids: true,
                    latest: true,
                };
                let mut cur = storage
                    .scan(cx.ctx.txn, self.table.id, &req)
                    .into_result()?;
                let Some(b) = cur.next_batch(1).into_result()?.into_option() else {
                    return Ok(Locked::Skip);
                };
                let Some(new_row) = b.row(0) else {
                    return Ok(Locked::Skip);
                };
                if let Some(f) = &self.filter {
                    if !f.test(cx, new_row)? {
                        return Ok(Locked::Skip);
                    }
                }
                let m: Vec<usize> = match &self.out_map {
                    Some(m) => m.clone(),
                    None => (0..new_row.len()).collect(),
                };
                self.buf.clear();
                self.buf.extend(
                    m.iter()
                        .map(|i| new_row.get(*i).cloned().unwrap_or(Value::Null)),
                );
                Ok(Locked::Replaced)
            }
        }
    }
}

impl Op for ScanOp {
    /// A scan whose fetched rows are the output rows (no filter, row lock
    /// or reordering) reads into the caller's batch: a point probe with
    /// `fetch`, anything else by taking the storage cursor's batches whole.
    fn run_into(&mut self, cx: &mut EvalCx, out: &mut RowBatch) -> Option<DbResult<usize>> {
        if self.filter.is_some()
            || self.out_map.is_some()
            || self.lock != RowLockMode::None
            || self.fetch_width == 0
            || out.width() != self.fetch_width
        {
            return None;
        }
        let before = out.len();
        let mut limits = ResultLimits::default();
        if let (true, Some((index, Probe::Eq(list)))) = (self.point, &self.index) {
            let mut run = || -> DbResult<usize> {
                cx.tick()?;
                if !Self::probe_into(cx, list, &mut self.key)? {
                    return Ok(0);
                }
                storage_of(&cx.services, &self.table)?
                    .fetch(
                        cx.ctx.txn,
                        self.table.id,
                        *index,
                        RSlice::from_slice(&self.key),
                        &self.request,
                        out,
                    )
                    .into_result()?;
                limits.add(&cx.ctx, out, before)?;
                Ok(out.len() - before)
            };
            return Some(run());
        }
        let mut run = || -> DbResult<usize> {
            self.open(cx)?;
            while !self.done {
                let Some(cur) = self.cursor.as_mut() else {
                    break;
                };
                let Some(b) = cur.next_batch(0).into_result()?.into_option() else {
                    break;
                };
                if b.width() != out.width() {
                    return Err(bad_plan(format!(
                        "scan batch of width {} where the plan declares {}",
                        b.width(),
                        out.width()
                    )));
                }
                let from = out.len();
                out.append(b);
                cx.check_deadline()?;
                limits.add(&cx.ctx, out, from)?;
            }
            self.done = true;
            self.cursor = None;
            Ok(out.len() - before)
        };
        Some(run())
    }

    fn open(&mut self, cx: &mut EvalCx) -> DbResult<()> {
        self.pos = 0;
        self.next = 0;
        self.batch.reset(0);
        self.done = false;
        self.use_buf = self.out_map.is_some();
        // A point probe evaluates its key into a buffer kept across runs
        // and reads the row straight into the scan batch.
        if self.point {
            if let Some((index, Probe::Eq(list))) = &self.index {
                if !Self::probe_into(cx, list, &mut self.key)? {
                    self.done = true;
                    self.cursor = None;
                    return Ok(());
                }
                let storage = storage_of(&cx.services, &self.table)?;
                self.batch.reset(self.fetch_width);
                storage
                    .fetch(
                        cx.ctx.txn,
                        self.table.id,
                        *index,
                        RSlice::from_slice(&self.key),
                        &self.request,
                        &mut self.batch,
                    )
                    .into_result()?;
                self.cursor = None;
                return Ok(());
            }
        }
        let query = match &self.index {
            None => None,
            Some((_, probe)) => Some(match probe {
                Probe::Eq(list) => match Self::probe_values(cx, list)? {
                    Some(v) => IndexQuery::Eq(v.into()),
                    None => {
                        self.done = true;
                        self.cursor = None;
                        return Ok(());
                    }
                },
                Probe::Range(lo, hi) => {
                    let mut bounds = Vec::with_capacity(2);
                    for b in [lo, hi] {
                        bounds.push(match b {
                            None => (RNone, false),
                            Some((list, inc)) => match Self::probe_values(cx, list)? {
                                Some(v) => (RSome(RVec::from(v)), *inc),
                                None => {
                                    self.done = true;
                                    self.cursor = None;
                                    return Ok(());
                                }
                            },
                        });
                    }
                    let u = bounds.pop().unwrap_or((RNone, false));
                    let l = bounds.pop().unwrap_or((RNone, false));
                    IndexQuery::Range {
                        lower: l.0,
                        lower_inclusive: l.1,
                        upper: u.0,
                        upper_inclusive: u.1,
                    }
                }
                Probe::Full => IndexQuery::All,
            }),
        };
        let storage = storage_of(&cx.services, &self.table)?;
        let cursor = match (&self.index, query) {
            (Some((index, _)), Some(query)) => storage
                .index_scan(
                    cx.ctx.txn,
                    self.table.id,
                    *index,
                    &query,
                    &self.request,
                    self.reverse,
                )
                .into_result()?,
            _ => storage
                .scan(cx.ctx.txn, self.table.id, &self.request)
                .into_result()?,
        };
        self.cursor = Some(cursor);
        Ok(())
    }

    fn advance(&mut self, cx: &mut EvalCx) -> DbResult<bool> {
        loop {
            if self.done {
                return Ok(false);
            }
            if self.next >= self.batch.len() {
                let Some(cur) = self.cursor.as_mut() else {
                    self.done = true;
                    return Ok(false);
                };
                match cur.next_batch(0).into_result()?.into_option() {
                    Some(b) => {
                        self.batch = b;
                        self.next = 0;
                        continue;
                    }
                    None => {
                        self.done = true;
                        self.cursor = None;
                        return Ok(false);
                    }
                }
            }
            self.pos = self.next;
            self.next += 1;
            cx.tick()?;
            let Some(row) = self.batch.row(self.pos) else {
                continue;
            };
            if let Some(f) = &self.filter {
                if !f.test(cx, row)? {
                    continue;
                }
            }
            let mut replaced = false;
            if self.lock != RowLockMode::None {
                match self.lock_current(cx)? {
                    Locked::Skip => continue,
                    Locked::Keep => {}
                    Locked::Replaced => replaced = true,
                }
            }
            self.use_buf = replaced || self.out_map.is_some();
            if !replaced {
                if let Some(m) = &self.out_map {
                    let row = self.batch.row(self.pos).unwrap_or(&[]);
                    self.buf.clear();
                    self.buf.extend(
                        m.iter()
                            .map(|i| row.get(*i).cloned().unwrap_or(Value::Null)),
                    );
                }
            }
            return Ok(true);
        }
    }

    fn current(&self) -> &[Value] {
        if self.use_buf {
            &self.buf
        } else {
            self.batch.row(self.pos).unwrap_or(&[])
        }
    }

    fn take_current(&mut self, out: &mut RowBatch) {
        if self.use_buf {
            out.push_row(self.buf.drain(..));
        } else {
            let row = self.batch.row_mut(self.pos).unwrap_or(&mut []);
            out.push_row(row.iter_mut().map(|v| std::mem::replace(v, Value::Null)));
        }
    }

    fn close(&mut self, _cx: &mut EvalCx) {
        self.cursor = None;
        self.batch.reset(0);
    }
}

enum Locked {
    Skip,
    Keep,
    Replaced,
}

// ------------------------------------------------------------ simple ops

struct ValuesOp {
    rows: Vec<Vec<CExpr>>,
    pos: usize,
    buf: Vec<Value>,
}

impl Op for ValuesOp {
    fn open(&mut self, _cx: &mut EvalCx) -> DbResult<()> {
        self.pos = 0;
        Ok(())
    }
    fn advance(&mut self, cx: &mut EvalCx) -> DbResult<bool> {
        let Some(r) = self.rows.get(self.pos) else {
            return Ok(false);
        };
        self.pos += 1;
        self.buf.clear();
        for e in r {
            let v = e.eval(cx, &[])?;
            self.buf.push(v);
        }
        Ok(true)
    }
    fn current(&self) -> &[Value] {
        &self.buf
    }
    fn take_current(&mut self, out: &mut RowBatch) {
        out.push_row(self.buf.drain(..));
    }
}

struct FilterOp {
    child: Box<dyn Op>,
    pred: CExpr,
}

impl Op for FilterOp {
    fn open(&mut self, cx: &mut EvalCx) -> DbResult<()> {
        self.child.open(cx)
    }
    fn advance(&mut self, cx: &mut EvalCx) -> DbResult<bool> {
        while self.child.advance(cx)? {
            cx.tick()?;
            if self.pred.test(cx, self.child.current())? {
                return Ok(true);
            }
        }
        Ok(false)
    }
    fn current(&self) -> &[Value] {
        self.child.current()
    }
    fn take_current(&mut self, out: &mut RowBatch) {
        self.child.take_current(out)
    }
    fn close(&mut self, cx: &mut EvalCx) {
        self.child.close(cx)
    }
}

struct ProjectOp {
    child: Box<dyn Op>,
    exprs: Vec<CExpr>,
    buf: Vec<Value>,
}

impl Op for ProjectOp {
    fn open(&mut self, cx: &mut EvalCx) -> DbResult<()> {
        self.child.open(cx)
    }
    fn advance(&mut self, cx: &mut EvalCx) -> DbResult<bool> {
        if !self.child.advance(cx)? {
            return Ok(false);
        }
        self.buf.clear();
        let row = self.child.current();
        for e in &self.exprs {
            let v = e.eval(cx, row)?;
            self.buf.push(v);
        }
        Ok(true)
    }
    fn current(&self) -> &[Value] {
        &self.buf
    }
    fn take_current(&mut self, out: &mut RowBatch) {
        out.push_row(self.buf.drain(..));
    }
    fn close(&mut self, cx: &mut EvalCx) {
        self.child.close(cx)
    }
    fn limit_hint(&mut self, rows: Option<u64>) {
        // One output row per input row.
        self.child.limit_hint(rows)
    }
}

struct LimitOp {
    child: Box<dyn Op>,
    limit: Option<CExpr>,
    offset: Option<CExpr>,
    remaining: Option<u64>,
    skip: u64,
}

fn limit_value(
    cx: &mut EvalCx,
    e: &Option<CExpr>,
    what: &str,
    code: &[u8; 5],
) -> DbResult<Option<u64>> {
    let Some(e) = e else { return Ok(None) };
    let v = e.eval(cx, &[])?;
    if v.is_null() {
        return Ok(None);
    }
    let v = cast(&v, &DataType::INT8, CoercionKind::Assignment)?;
    let n = v.as_i64().unwrap_or(0);
    if n < 0 {
        return Err(AionError::new(
            SqlState::new(code),
            format!("{what} must not be negative"),
        ));
    }
    Ok(Some(n as u64))
}

impl Op for LimitOp {
    fn open(&mut self, cx: &mut EvalCx) -> DbResult<()> {
        self.remaining = limit_value(cx, &self.limit, "LIMIT", b"2201W")?;
        self.skip = limit_value(cx, &self.offset, "OFFSET", b"2201X")?.unwrap_or(0);
        if self.remaining == Some(0) {
            return Ok(());
        }
        self.child
            .limit_hint(self.remaining.map(|r| r.saturating_add(self.skip)));
        self.child.open(cx)
    }
    fn advance(&mut self, cx: &mut EvalCx) -> DbResult<bool> {
        if self.remaining == Some(0) {
            return Ok(false);
        }
        while self.skip > 0 {
            if !self.child.advance(cx)? {
                return Ok(false);
            }
            cx.tick()?;
            self.skip -= 1;
        }
        if !self.child.advance(cx)? {
            return Ok(false);
        }
        if let Some(r) = &mut self.remaining {
            *r -= 1;
        }
        Ok(true)
    }
    fn current(&self) -> &[Value] {
        self.child.current()
    }
    fn take_current(&mut self, out: &mut RowBatch) {
        self.child.take_current(out)
    }
    fn close(&mut self, cx: &mut EvalCx) {
        self.child.close(cx)
    }
}

pub(crate) struct SortOp {
    pub child: Box<dyn Op>,
    pub keys: Vec<CKey>,
    /// Rows with their evaluated keys (keys empty when `key_cols` is set).
    pub rows: Vec<(Vec<Value>, Vec<Value>)>,
    pub pos: usize,
    pub held: u64,
    /// Top-N: only this many rows are needed.
    pub limit: Option<u64>,
}

static NULL: Value = Value::Null;

/// Column `c` of a row, NULL when out of range (a planner bug, not a panic).
#[inline]
fn col_at(row: &[Value], c: usize) -> &Value {
    row.get(c).unwrap_or(&NULL)
}

impl SortOp {
    /// Sort keys that are plain input columns: compared in place, never
    /// copied.
    fn key_cols(&self) -> Option<Vec<usize>> {
        self.keys
            .iter()
            .map(|k| match k.expr {
                CExpr::Col(i) => Some(i),
                _ => None,
            })
            .collect()
    }

    fn cmp_entries(
        keys: &[CKey],
        cols: &Option<Vec<usize>>,
        a: &(Vec<Value>, Vec<Value>),
        b: &(Vec<Value>, Vec<Value>),
    ) -> std::cmp::Ordering {
        match cols {
            Some(cols) => {
                for (k, c) in keys.iter().zip(cols) {
                    let o = key_cmp(col_at(&a.1, *c), col_at(&b.1, *c), k.desc, k.nulls_first);
                    if o.is_ne() {
                        return o;
                    }
                }
                std::cmp::Ordering::Equal
            }
            None => cmp_keys(keys, &a.0, &b.0),
        }
    }

    fn sort_and_cut(&mut self, cols: &Option<Vec<usize>>) {
        let keys = &self.keys;
        self.rows
            .sort_by(|a, b| Self::cmp_entries(keys, cols, a, b));
        if let Some(k) = self.limit {
            self.rows.truncate(k as usize);
        }
    }
}

impl Op for SortOp {
    fn open(&mut self, cx: &mut EvalCx) -> DbResult<()> {
        cx.release(self.held);
        self.held = 0;
        self.rows.clear();
        self.pos = 0;
        let cols = self.key_cols();
        self.child.open(cx)?;
        // Top-N: once `limit` rows are kept, a row not sorting before the
        // last kept one can never make it (ties keep input order). After a
        // cut the kept rows are sorted and later rows are appended behind
        // them, so the last kept row stays at index `limit - 1`.
        let mut full = false;
        while self.child.advance(cx)? {
            cx.tick()?;
            let row = self.child.current();
            let keys = match &cols {
                Some(_) => Vec::new(),
                None => eval_keys(cx, &self.keys, row)?,
            };
            if full {
                let cutoff = self
                    .limit
                    .and_then(|k| self.rows.get((k as usize).checked_sub(1)?));
                if let Some(last) = cutoff {
                    let probe_lt = match &cols {
                        Some(cs) => {
                            let mut o = std::cmp::Ordering::Equal;
                            for (k, c) in self.keys.iter().zip(cs) {
                                o = key_cmp(
                                    col_at(row, *c),
                                    col_at(&last.1, *c),
                                    k.desc,
                                    k.nulls_first,
                                );
                                if o.is_ne() {
                                    break;
                                }
                            }
                            o.is_lt()
                        }
                        None => cmp_keys(&self.keys, &keys, &last.0).is_lt(),
                    };
                    if !probe_lt {
                        continue;
                    }
                }
            }
            let b = row_bytes(row) + row_bytes(&keys);
            cx.reserve(b)?;
            self.held += b;
            self.rows.push((keys, row.to_vec()));
            if let Some(k) = self.limit {
                let k = k as usize;
                if self.rows.len() >= k.saturating_mul(2).max(1024) {
                    self.sort_and_cut(&cols);
                    full = self.rows.len() >= k && k > 0;
                    let kept: u64 = self
                        .rows
                        .iter()
                        .map(|(k, r)| row_bytes(k) + row_bytes(r))
                        .sum();
                    cx.release(self.held.saturating_sub(kept));
                    self.held = kept.min(self.held);
                }
            }
        }
        self.child.close(cx);
        self.sort_and_cut(&cols);
        Ok(())
    }
    fn limit_hint(&mut self, rows: Option<u64>) {
        self.limit = rows;
    }
    fn advance(&mut self, _cx: &mut EvalCx) -> DbResult<bool> {
        if self.pos < self.rows.len() {
            self.pos += 1;
            Ok(true)
        } else {
            Ok(false)
        }
    }
    fn current(&self) -> &[Value] {
        self.rows
            .get(self.pos.wrapping_sub(1))
            .map(|r| r.1.as_slice())
            .unwrap_or(&[])
    }
    fn close(&mut self, cx: &mut EvalCx) {
        cx.release(self.held);
        self.held = 0;
        self.rows = Vec::new();
    }
}

/// Lexicographic order of two rows by `sort_cmp` (a shorter prefix first).
pub(crate) fn rows_cmp(a: &[Value], b: &[Value]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b) {
        match sort_cmp(x, y) {
            std::cmp::Ordering::Equal => {}
            o => return o,
        }
    }
    a.len().cmp(&b.len())
}

/// Grouping equality of two rows (NULLs equal each other).
pub(crate) fn rows_equal(a: &[Value], b: &[Value]) -> bool {
    rows_cmp(a, b) == std::cmp::Ordering::Equal
}

struct DistinctOp {
    child: Box<dyn Op>,
    on: Vec<CExpr>,
    seen: RowTable<()>,
    prev: Option<Vec<Value>>,
    kbuf: Vec<Value>,
    held: u64,
}

impl Op for DistinctOp {
    fn open(&mut self, cx: &mut EvalCx) -> DbResult<()> {
        cx.release(self.held);
        self.held = 0;
        self.seen.clear();
        self.prev = None;
        self.child.open(cx)
    }
    fn advance(&mut self, cx: &mut EvalCx) -> DbResult<bool> {
        while self.child.advance(cx)? {
            cx.tick()?;
            let row = self.child.current();
            if self.on.is_empty() {
                if self.seen.find(row).is_some() {
                    continue;
                }
                let b = row_bytes(row);
                cx.reserve(b)?;
                self.held += b;
                self.seen.push(row.to_vec(), ());
                return Ok(true);
            }
            self.kbuf.clear();
            for e in &self.on {
                self.kbuf.push(e.eval(cx, row)?);
            }
            if self
                .prev
                .as_ref()
                .is_some_and(|p| rows_equal(p, &self.kbuf))
            {
                continue;
            }
            // Keep the new key; reuse the old one's allocation next time.
            let key = std::mem::take(&mut self.kbuf);
            self.kbuf = self.prev.replace(key).unwrap_or_default();
            return Ok(true);
        }
        Ok(false)
    }
    fn current(&self) -> &[Value] {
        self.child.current()
    }
    fn close(&mut self, cx: &mut EvalCx) {
        cx.release(self.held);
        self.held = 0;
        self.seen = RowTable::default();
        self.child.close(cx)
    }
}

struct SetOpOp {
    left: Box<dyn Op>,
    right: Box<dyn Op>,
    op: SetOpKind,
    all: bool,
    /// UNION: rows already emitted. INTERSECT/EXCEPT: right-side counts.
    counts: RowTable<u64>,
    on_right: bool,
    held: u64,
}

impl Op for SetOpOp {
    fn open(&mut self, cx: &mut EvalCx) -> DbResult<()> {
        cx.release(self.held);
        self.held = 0;
        self.counts.clear();
        self.on_right = false;
        if self.op != SetOpKind::Union {
            self.right.open(cx)?;
            while self.right.advance(cx)? {
                cx.tick()?;
                let row = self.right.current();
                if let Some(i) = self.counts.find(row) {
                    self.counts.vals[i] += 1;
                } else {
                    let b = row_bytes(row);
                    cx.reserve(b)?;
                    self.held += b;
                    self.counts.push(row.to_vec(), 1);
                }
            }
            self.right.close(cx);
        }
        self.left.open(cx)
    }
    fn advance(&mut self, cx: &mut EvalCx) -> DbResult<bool> {
        loop {
            let side = if self.on_right {
                &mut self.right
            } else {
                &mut self.left
            };
            if !side.advance(cx)? {
                if self.op == SetOpKind::Union && !self.on_right {
                    self.on_right = true;
                    self.right.open(cx)?;
                    continue;
                }
                return Ok(false);
            }
            cx.tick()?;
            let row = side.current();
            match (self.op, self.all) {
                (SetOpKind::Union, true) => return Ok(true),
                (SetOpKind::Union, false) => {
                    if self.counts.find(row).is_some() {
                        continue;
                    }
                    let b = row_bytes(row);
                    cx.reserve(b)?;
                    self.held += b;
                    self.counts.push(row.to_vec(), 1);
                    return Ok(true);
                }
                (SetOpKind::Intersect, all) => match self.counts.find(row) {
                    Some(i) if self.counts.vals[i] > 0 => {
                        if all {
                            self.counts.vals[i] -= 1;
                        } else {
                            self.counts.vals[i] = 0;
                        }
                        return Ok(true);
                    }
                    _ => continue,
                },
                (SetOpKind::Except, true) => match self.counts.find(row) {
                    Some(i) if self.counts.vals[i] > 0 => {
                        self.counts.vals[i] -= 1;
                        continue;
                    }
                    _ => return Ok(true),
                },
                (SetOpKind::Except, false) => {
                    // In the right side, or already emitted.
                    if self.counts.find(row).is_some() {
                        continue;
                    }
                    let b = row_bytes(row);
                    cx.reserve(b)?;
                    self.held += b;
                    self.counts.push(row.to_vec(), u64::MAX);
                    return Ok(true);
                }
            }
        }
    }
    fn current(&self) -> &[Value] {
        if self.on_right {
            self.right.current()
        } else {
            self.left.current()
        }
    }
    fn close(&mut self, cx: &mut EvalCx) {
        cx.release(self.held);
        self.held = 0;
        self.counts = RowTable::default();
        self.left.close(cx);
        self.right.close(cx);
    }
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Phase {
    Anchor,
    Recursive,
    Done,
}

struct RecursiveOp {
    anchor: Box<dyn Op>,
    rec: Box<dyn Op>,
    worktable: u32,
    all: bool,
    phase: Phase,
    seen: RowTable<()>,
    next_work: Vec<Vec<Value>>,
    cur: Vec<Value>,
    iterations: u64,
    produced: u64,
    held: u64,
}

impl RecursiveOp {
    fn start_iteration(&mut self, cx: &mut EvalCx) -> DbResult<bool> {
        if self.next_work.is_empty() {
            self.phase = Phase::Done;
            return Ok(false);
        }
        self.iterations += 1;
        let max = cx.ctx.max_recursive_iterations;
        if max != 0 && self.iterations > max {
            return Err(AionError::new(
                SqlState::PROGRAM_LIMIT_EXCEEDED,
                format!("recursive query exceeded AIONDB_LIMITS_MAX_RECURSIVE_ITERATIONS ({max} iterations)"),
            ));
        }
        let work = Arc::new(std::mem::take(&mut self.next_work));
        if let Some(w) = cx.worktables.iter_mut().find(|w| w.0 == self.worktable) {
            w.1 = work;
        } else {
            cx.worktables.push((self.worktable, work));
        }
        self.rec.open(cx)?;
        self.phase = Phase::Recursive;
        Ok(true)
    }
}

impl Op for RecursiveOp {
    fn open(&mut self, cx: &mut EvalCx) -> DbResult<()> {
        cx.release(self.held);
        self.held = 0;
        self.seen.clear();
        self.next_work.clear();
        self.iterations = 0;
        self.produced = 0;
        self.phase = Phase::Anchor;
        self.anchor.open(cx)
    }
    fn advance(&mut self, cx: &mut EvalCx) -> DbResult<bool> {
        loop {
            let more = match self.phase {
                Phase::Done => return Ok(false),
                Phase::Anchor => self.anchor.advance(cx)?,
                Phase::Recursive => self.rec.advance(cx)?,
            };
            if !more {
                if !self.start_iteration(cx)? {
                    return Ok(false);
                }
                continue;
            }
            cx.tick()?;
            let row = if self.phase == Phase::Anchor {
                self.anchor.current()
            } else {
                self.rec.current()
            };
            if !self.all {
                if self.seen.find(row).is_some() {
                    continue;
                }
                self.seen.push(row.to_vec(), ());
            }
            let b = row_bytes(row);
            cx.reserve(b)?;
            self.held += b;
            self.cur.clear();
            self.cur.extend_from_slice(row);
            self.next_work.push(self.cur.clone());
            self.produced += 1;
            let max = cx.ctx.max_recursive_rows;
            if max != 0 && self.produced > max {
                return Err(AionError::new(
                    SqlState::PROGRAM_LIMIT_EXCEEDED,
                    format!(
                        "recursive query exceeded AIONDB_LIMITS_MAX_RECURSIVE_ROWS ({max} rows)"
                    ),
                ));
            }
            return Ok(true);
        }
    }
    fn current(&self) -> &[Value] {
        &self.cur
    }
    fn close(&mut self, cx: &mut EvalCx) {
        cx.release(self.held);
        self.held = 0;
        self.seen = RowTable::default();
        self.next_work = Vec::new();
        self.anchor.close(cx);
        self.rec.close(cx);
    }
}

struct WorkTableOp {
    worktable: u32,
    rows: Arc<Vec<Vec<Value>>>,
    pos: usize,
}

impl Op for WorkTableOp {
    fn open(&mut self, cx: &mut EvalCx) -> DbResult<()> {
        self.pos = 0;
        self.rows = cx
            .worktables
            .iter()
            .find(|w| w.0 == self.worktable)
            .map(|w| w.1.clone())
            .unwrap_or_default();
        Ok(())
    }
    fn advance(&mut self, _cx: &mut EvalCx) -> DbResult<bool> {
        if self.pos < self.rows.len() {
            self.pos += 1;
            Ok(true)
        } else {
            Ok(false)
        }
    }
    fn current(&self) -> &[Value] {
        self.rows
            .get(self.pos.wrapping_sub(1))
            .map(|r| r.as_slice())
            .unwrap_or(&[])
    }
}

/// Runs the data-modifying CTEs of a statement, then streams the main plan
/// (see `Operator::WithDml`).
struct WithDmlOp {
    main: Box<dyn Op>,
    /// (worktable, DML operator), in statement order.
    ctes: Vec<(u32, Box<dyn Op>)>,
    /// Bytes of RETURNING rows held in worktables.
    held: u64,
}

impl Op for WithDmlOp {
    fn open(&mut self, cx: &mut EvalCx) -> DbResult<()> {
        // Opened once per execution (the planner only puts this node at the
        // top), so every open is one run of each CTE.
        cx.release(self.held);
        self.held = 0;
        for (worktable, op) in &mut self.ctes {
            op.open(cx)?;
            let mut rows = Vec::new();
            while op.advance(cx)? {
                cx.tick()?;
                let row = op.current();
                let b = row_bytes(row);
                cx.reserve(b)?;
                self.held += b;
                rows.push(row.to_vec());
            }
            op.close(cx);
            let rows = Arc::new(rows);
            match cx.worktables.iter_mut().find(|w| w.0 == *worktable) {
                Some(w) => w.1 = rows,
                None => cx.worktables.push((*worktable, rows)),
            }
        }
        self.main.open(cx)
    }
    fn advance(&mut self, cx: &mut EvalCx) -> DbResult<bool> {
        self.main.advance(cx)
    }
    fn current(&self) -> &[Value] {
        self.main.current()
    }
    fn take_current(&mut self, out: &mut RowBatch) {
        self.main.take_current(out)
    }
    fn close(&mut self, cx: &mut EvalCx) {
        cx.release(self.held);
        self.held = 0;
        let ids: Vec<u32> = self.ctes.iter().map(|c| c.0).collect();
        cx.worktables.retain(|w| !ids.contains(&w.0));
        self.main.close(cx);
    }
    fn limit_hint(&mut self, rows: Option<u64>) {
        self.main.limit_hint(rows)
    }
}

// --------------------------------------------------------------- cursors

/// A compiled, opened query: what a cursor runs and what the plan cache
/// (`crate::cache`) keeps between executions.
pub(crate) struct QueryState {
    pub cx: EvalCx,
    pub root: Box<dyn Op>,
    pub schema: Schema,
    pub width: usize,
}

impl QueryState {
    /// `Op::run_into` on the root (which applies the result limits).
    pub(crate) fn run_into(&mut self, out: &mut RowBatch) -> Option<DbResult<u64>> {
        if out.width() != self.width {
            return None;
        }
        Some(self.root.run_into(&mut self.cx, out)?.map(|n| n as u64))
    }
}

pub(crate) struct QueryCursor {
    /// Always `Some` until the cursor is dropped.
    st: Option<Box<QueryState>>,
    /// Where the state goes back when the cursor is dropped (cached plans).
    home: Option<crate::cache::Home>,
    done: bool,
    /// The rows sent so far, against the result limits.
    sent: ResultLimits,
}

impl QueryCursor {
    pub(crate) fn new(st: Box<QueryState>, home: Option<crate::cache::Home>) -> QueryCursor {
        QueryCursor {
            st: Some(st),
            home,
            done: false,
            sent: ResultLimits::default(),
        }
    }

    fn fill(&mut self, max_rows: u32) -> DbResult<Option<RowBatch>> {
        let Some(st) = self.st.as_deref() else {
            return Ok(None);
        };
        if self.done {
            return Ok(None);
        }
        let max = if max_rows == 0 {
            1024
        } else {
            max_rows as usize
        };
        // Grows as needed: a full-size buffer up front costs point queries
        // a large allocation (and glibc a consolidation when it is freed).
        let mut batch = RowBatch::with_capacity(st.width, max.min(4));
        if self.fill_into(&mut batch, max)? == 0 {
            return Ok(None);
        }
        Ok(Some(batch))
    }

    /// Appends up to `max` rows to `batch` (of the plan's width); returns
    /// how many.
    pub(crate) fn fill_into(&mut self, batch: &mut RowBatch, max: usize) -> DbResult<usize> {
        let Some(st) = self.st.as_deref_mut() else {
            return Ok(0);
        };
        if self.done {
            return Ok(0);
        }
        if batch.width() != st.width {
            return Err(bad_plan(format!(
                "result batch of width {} where the plan declares {}",
                batch.width(),
                st.width
            )));
        }
        let mut n = 0;
        while n < max {
            if !st.root.advance(&mut st.cx)? {
                self.done = true;
                st.root.close(&mut st.cx);
                break;
            }
            let row = st.root.current();
            self.sent.count(&st.cx.ctx, 1, || row_bytes(row))?;
            if row.len() != st.width {
                return Err(bad_plan(format!(
                    "row of width {} where the plan declares {}",
                    row.len(),
                    st.width
                )));
            }
            st.root.take_current(batch);
            n += 1;
        }
        Ok(n)
    }

    /// Runs to the end, appending every row to `out`; a failed run's state
    /// is not reused.
    pub(crate) fn drain_into(&mut self, out: &mut RowBatch) -> DbResult<u64> {
        if let Err(e) = self.fill_into(out, usize::MAX) {
            self.done = true;
            self.home = None;
            return Err(e);
        }
        Ok(self.sent.rows)
    }
}

impl Drop for QueryCursor {
    fn drop(&mut self) {
        if let (Some(home), Some(mut st)) = (self.home.take(), self.st.take()) {
            if !self.done {
                st.root.close(&mut st.cx);
            }
            home.give_back_query(st);
        }
    }
}

impl RowCursor for QueryCursor {
    fn schema(&self) -> AResult<Schema> {
        ROk(self
            .st
            .as_ref()
            .map(|st| st.schema.clone())
            .unwrap_or_default())
    }
    fn next_batch(&mut self, max_rows: u32) -> AResult<ROption<RowBatch>> {
        match self.fill(max_rows) {
            Ok(b) => ROk(b.into()),
            Err(e) => {
                self.done = true;
                // A failed run's state is not reused.
                self.home = None;
                RErr(e)
            }
        }
    }
    fn rows_affected(&self) -> AResult<u64> {
        ROk(self.sent.rows)
    }
}

/// Runs a query plan as a streaming cursor.
pub(crate) fn query_cursor(
    ctx: &ExecContext,
    services: &Services,
    plan: &Plan,
    params: &[Value],
) -> DbResult<RowCursorBox> {
    let mut st = compile_query(ctx, services, plan, params)?;
    st.root.open(&mut st.cx)?;
    Ok(aiondb_sdk::plugin::guarded_cursor(QueryCursor::new(
        st, None,
    )))
}

/// Builds the operator tree of a query plan (not opened yet).
pub(crate) fn compile_query(
    ctx: &ExecContext,
    services: &Services,
    plan: &Plan,
    params: &[Value],
) -> DbResult<Box<QueryState>> {
    let mut cx = EvalCx::new(ctx, services, params);
    let root = build(&mut cx, plan, plan.root)?;
    let width = width_of(plan, plan.root)?;
    let width = if plan.output.is_empty() {
        width
    } else {
        plan.output.len()
    };
    Ok(Box::new(QueryState {
        cx,
        root,
        schema: plan.output.clone(),
        width,
    }))
}

/// Runs the plan rooted at `n` to completion, collecting its rows (used by
/// ddl.rs for CREATE TABLE AS).
#[allow(dead_code)]
pub(crate) fn collect(cx: &mut EvalCx, plan: &Plan, n: NodeRef) -> DbResult<Vec<Vec<Value>>> {
    let mut op = build(cx, plan, n)?;
    op.open(cx)?;
    let mut rows = Vec::new();
    while op.advance(cx)? {
        cx.tick()?;
        let row = op.current();
        cx.reserve(row_bytes(row))?;
        rows.push(row.to_vec());
    }
    op.close(cx);
    Ok(rows)
}

/// Whether the plan rooted at `n` reads rows from outside itself
/// (OuterColumn deeper than its own nesting).
pub(crate) fn references_outer(plan: &Plan, n: NodeRef) -> bool {
    fn walk_expr(plan: &Plan, e: ExprRef, level: u32, seen: &mut u32) -> bool {
        let mut stack = vec![e];
        while let Some(e) = stack.pop() {
            *seen += 1;
            if *seen > 1_000_000 {
                return true;
            }
            let Some(ex) = plan.expr(e) else { continue };
            match &ex.kind {
                ExprKind::OuterColumn { depth, .. } if *depth > level => return true,
                ExprKind::Subquery { plan: p, arg, .. } => {
                    if let RSome(a) = arg {
                        stack.push(*a);
                    }
                    if walk_node(plan, *p, level + 1, seen) {
                        return true;
                    }
                }
                k => child_exprs(k, &mut stack),
            }
        }
        false
    }
    fn walk_node(plan: &Plan, n: NodeRef, level: u32, seen: &mut u32) -> bool {
        let Some(node) = plan.node(n) else {
            return false;
        };
        for e in node_exprs(&node.op) {
            if walk_expr(plan, e, level, seen) {
                return true;
            }
        }
        let lateral = matches!(node.op, Operator::Join { lateral: true, .. });
        for (i, c) in node.inputs.iter().enumerate() {
            let l = if lateral && i == 1 { level + 1 } else { level };
            if walk_node(plan, *c, l, seen) {
                return true;
            }
        }
        false
    }
    let mut seen = 0;
    walk_node(plan, n, 0, &mut seen)
}

/// Every expression an operator holds directly.
pub(crate) fn node_exprs(op: &Operator) -> Vec<ExprRef> {
    let mut v = Vec::new();
    let opt = |o: &ROption<ExprRef>, v: &mut Vec<ExprRef>| {
        if let RSome(e) = o {
            v.push(*e)
        }
    };
    match op {
        Operator::SeqScan { filter, .. } => opt(filter, &mut v),
        Operator::IndexScan { probe, filter, .. } => {
            opt(filter, &mut v);
            match probe {
                IndexProbe::Eq(l) => v.extend(l.iter().copied()),
                IndexProbe::Range { lower, upper } => {
                    for b in [lower, upper] {
                        if let RSome(b) = b {
                            v.extend(b.exprs.iter().copied())
                        }
                    }
                }
                IndexProbe::Full => {}
            }
        }
        Operator::VectorSearch { query, k, .. } => v.extend([*query, *k]),
        Operator::GraphExpand { from, .. } => v.push(*from),
        Operator::Values { rows } => {
            for r in rows.iter() {
                v.extend(r.iter().copied())
            }
        }
        Operator::TableFunction { call, .. } => v.extend(call.args.iter().copied()),
        Operator::Filter { predicate } => v.push(*predicate),
        Operator::Project { exprs } => v.extend(exprs.iter().copied()),
        Operator::Join {
            condition,
            left_keys,
            right_keys,
            ..
        } => {
            opt(condition, &mut v);
            v.extend(left_keys.iter().copied());
            v.extend(right_keys.iter().copied());
        }
        Operator::Aggregate {
            group_by,
            aggregates,
            ..
        } => {
            v.extend(group_by.iter().copied());
            for a in aggregates.iter() {
                v.extend(a.args.iter().copied());
                opt(&a.filter, &mut v);
                v.extend(a.order_by.iter().map(|k| k.expr));
            }
        }
        Operator::Window {
            partition_by,
            order_by,
            functions,
        } => {
            v.extend(partition_by.iter().copied());
            v.extend(order_by.iter().map(|k| k.expr));
            for f in functions.iter() {
                v.extend(f.args.iter().copied());
                opt(&f.filter, &mut v);
                for b in [&f.frame.start, &f.frame.end] {
                    if let FrameBound::Preceding(e) | FrameBound::Following(e) = b {
                        v.push(*e)
                    }
                }
            }
        }
        Operator::Sort { keys } => v.extend(keys.iter().map(|k| k.expr)),
        Operator::Limit { limit, offset } => {
            opt(limit, &mut v);
            opt(offset, &mut v);
        }
        Operator::Distinct { on } => v.extend(on.iter().copied()),
        Operator::Insert {
            checks,
            on_conflict,
            returning,
            ..
        } => {
            v.extend(checks.iter().map(|c| c.expr));
            v.extend(returning.iter().copied());
            if let RSome(oc) = on_conflict {
                if let ConflictAction::DoUpdate {
                    assignments,
                    filter,
                } = &oc.action
                {
                    v.extend(assignments.iter().map(|a| a.value));
                    opt(filter, &mut v);
                }
            }
        }
        Operator::Update {
            assignments,
            checks,
            recheck,
            returning,
            ..
        } => {
            v.extend(assignments.iter().map(|a| a.value));
            v.extend(checks.iter().map(|c| c.expr));
            opt(recheck, &mut v);
            v.extend(returning.iter().copied());
        }
        Operator::Delete {
            recheck, returning, ..
        } => {
            opt(recheck, &mut v);
            v.extend(returning.iter().copied());
        }
        _ => {}
    }
    v
}
