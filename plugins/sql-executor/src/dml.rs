//! INSERT (with ON CONFLICT), UPDATE and DELETE: row locking and READ
//! COMMITTED rechecks, NOT NULL / CHECK / foreign key enforcement (unique
//! indexes are the storage's), ON DELETE actions, RETURNING.

use std::collections::HashSet;

use aiondb_sdk::abi_stable::std_types::RArc;
use aiondb_sdk::abi_stable::std_types::ROption::{RNone, RSome};
use aiondb_sdk::plan::{Assignment, CheckConstraint, ConflictAction, NodeRef, Operator};
use aiondb_sdk::plugin::StorageBackendBox;
use aiondb_sdk::prelude::*;

use crate::expr::{compile, compile_list0, CExpr};
use crate::ops::{input_of, Op};
use crate::shared::*;

/// A foreign key referencing some table, found by scanning the catalog.
#[derive(Clone, Debug)]
pub(crate) struct RefFk {
    /// The referencing table.
    pub table: TableDef,
    pub name: String,
    pub columns: Vec<u32>,
    pub ref_table: TableId,
    pub ref_columns: Vec<u32>,
    pub on_delete: ReferentialAction,
    pub on_update: ReferentialAction,
}

struct CCheck {
    name: String,
    expr: CExpr,
}

fn compile_checks(
    cx: &mut EvalCx,
    plan: &Plan,
    checks: &[CheckConstraint],
) -> DbResult<Vec<CCheck>> {
    checks
        .iter()
        .map(|c| {
            Ok(CCheck {
                name: c.name.to_string(),
                expr: compile(cx, plan, c.expr, &[0])?,
            })
        })
        .collect()
}

fn compile_assignments(
    cx: &mut EvalCx,
    plan: &Plan,
    a: &[Assignment],
) -> DbResult<Vec<(usize, CExpr)>> {
    a.iter()
        .map(|a| Ok((a.column as usize, compile(cx, plan, a.value, &[0])?)))
        .collect()
}

/// `(1, null, abc)` as PostgreSQL shows a failing row.
fn row_text(row: &[Value]) -> String {
    let parts: Vec<String> = row
        .iter()
        .map(|v| v.to_pg_text().unwrap_or_else(|| "null".to_string()))
        .collect();
    format!("({})", parts.join(", "))
}

fn key_text(table: &TableDef, cols: &[u32], vals: &[Value]) -> String {
    let names: Vec<&str> = cols
        .iter()
        .map(|c| {
            table
                .columns
                .get(*c as usize)
                .map(|c| c.name.as_str())
                .unwrap_or("?")
        })
        .collect();
    let vs: Vec<String> = vals
        .iter()
        .map(|v| v.to_pg_text().unwrap_or_else(|| "null".to_string()))
        .collect();
    format!("({})=({})", names.join(", "), vs.join(", "))
}

/// Per-table write context.
pub(crate) struct Target {
    table: TableDef,
    checks: Vec<CCheck>,
    returning: Vec<CExpr>,
}

/// The table's backend, as a shared handle so `cx` stays free for mutation.
fn storage(cx: &EvalCx, t: &TableDef) -> DbResult<RArc<StorageBackendBox>> {
    cx.services
        .storages
        .iter()
        .find(|s| s.key.as_str() == t.storage_backend.as_str())
        .map(|s| s.backend.clone())
        .ok_or_else(|| {
            AionError::internal(format!(
                "storage backend \"{}\" of table \"{}\" is not loaded",
                t.storage_backend, t.name
            ))
        })
}

/// Casts assigned values to the column types and enforces NOT NULL, CHECK
/// and outgoing foreign keys on a new row.
fn validate_row(
    cx: &mut EvalCx,
    t: &Target,
    row: &mut [Value],
    old: Option<&[Value]>,
) -> DbResult<()> {
    for (i, col) in t.table.columns.iter().enumerate() {
        let Some(is_null) = row.get(i).map(Value::is_null) else {
            break;
        };
        if is_null {
            if !col.nullable {
                return Err(AionError::new(
                    SqlState::NOT_NULL_VIOLATION,
                    format!(
                        "null value in column \"{}\" of relation \"{}\" violates not-null constraint",
                        col.name, t.table.name
                    ),
                )
                .with_detail(format!("Failing row contains {}.", row_text(row))));
            }
            continue;
        }
        let v = &mut row[i];
        // Assignment semantics: varchar(n) raises, numeric(p,s) rounds.
        let needs = col.data_type.typmod >= 0
            || col.data_type.is_array != matches!(v, Value::Array(_))
            || !same_type(v, &col.data_type);
        if needs && col.data_type.id != TypeId::Unknown {
            *v = cast_with(v, &col.data_type, CoercionKind::Assignment, &cx.format)?;
        }
    }
    for c in &t.checks {
        if matches!(c.expr.eval(cx, row)?, Value::Bool(false)) {
            return Err(AionError::new(
                SqlState::CHECK_VIOLATION,
                format!(
                    "new row for relation \"{}\" violates check constraint \"{}\"",
                    t.table.name, c.name
                ),
            )
            .with_detail(format!("Failing row contains {}.", row_text(row))));
        }
    }
    for con in t.table.constraints.iter() {
        let ConstraintKind::ForeignKey {
            columns,
            ref_table,
            ref_columns,
            ..
        } = &con.kind
        else {
            continue;
        };
        let vals: Vec<Value> = columns
            .iter()
            .map(|c| row.get(*c as usize).cloned().unwrap_or(Value::Null))
            .collect();
        // MATCH SIMPLE: any NULL column satisfies the constraint.
        if vals.iter().any(Value::is_null) {
            continue;
        }
        if let Some(old) = old {
            let unchanged = columns
                .iter()
                .zip(&vals)
                .all(|(c, v)| old.get(*c as usize).is_some_and(|o| sort_cmp(o, v).is_eq()));
            if unchanged {
                continue;
            }
        }
        let parent = cx.table(*ref_table)?;
        let found = find_rows(cx, &parent, ref_columns, &vals, true, 1)?;
        match found.first() {
            None => {
                return Err(AionError::new(
                    SqlState::FOREIGN_KEY_VIOLATION,
                    format!(
                        "insert or update on table \"{}\" violates foreign key constraint \"{}\"",
                        t.table.name, con.name
                    ),
                )
                .with_detail(format!(
                    "Key {} is not present in table \"{}\".",
                    key_text(&t.table, columns, &vals),
                    parent.name
                )))
            }
            Some((rid, _)) => {
                // Keep the parent row from being deleted under us.
                let st = storage(cx, &parent)?;
                let out = st
                    .lock_row(cx.ctx.txn, parent.id, *rid, false, &cx.lock_wait())
                    .into_result()?;
                if out == LockOutcome::Deleted {
                    return Err(AionError::new(
                        SqlState::FOREIGN_KEY_VIOLATION,
                        format!(
                            "insert or update on table \"{}\" violates foreign key constraint \"{}\"",
                            t.table.name, con.name
                        ),
                    )
                    .with_detail(format!(
                        "Key {} is not present in table \"{}\".",
                        key_text(&t.table, columns, &vals),
                        parent.name
                    )));
                }
            }
        }
    }
    Ok(())
}

fn same_type(v: &Value, t: &DataType) -> bool {
    match (v, t.id) {
        (Value::Text(_), TypeId::Text | TypeId::Varchar | TypeId::Char) => true,
        _ => v.type_id() == Some(t.id),
    }
}

/// Rows of `table` whose `cols` equal `vals` (via a matching index when
/// there is one), with their row ids; at most `limit` rows.
fn find_rows(
    cx: &mut EvalCx,
    table: &TableDef,
    cols: &[u32],
    vals: &[Value],
    latest: bool,
    limit: usize,
) -> DbResult<Vec<(RowId, Vec<Value>)>> {
    let st = storage(cx, table)?;
    let request = ScanRequest {
        projection: RVec::new(),
        row_ids: RNone,
        with_row_ids: true,
        latest,
    };
    // An index whose leading columns are exactly `cols` (any order).
    let indexes = cx.services.catalog.indexes_of(table.id);
    let idx = indexes.iter().find(|i| {
        i.method.as_str() == "btree"
            && i.columns.len() >= cols.len()
            && i.columns[..cols.len()].iter().all(|c| cols.contains(c))
    });
    let mut cursor = match idx {
        Some(i) => {
            let key: Vec<Value> = i.columns[..cols.len()]
                .iter()
                .map(|c| {
                    let p = cols.iter().position(|x| x == c).unwrap_or(0);
                    vals.get(p).cloned().unwrap_or(Value::Null)
                })
                .collect();
            st.index_scan(
                cx.ctx.txn,
                table.id,
                i.id,
                &IndexQuery::Eq(key.into()),
                &request,
                false,
            )
            .into_result()?
        }
        None => st.scan(cx.ctx.txn, table.id, &request).into_result()?,
    };
    let w = table.columns.len();
    let mut out = Vec::new();
    while let Some(b) = cursor.next_batch(0).into_result()?.into_option() {
        for r in b.rows() {
            cx.tick()?;
            let hit = cols.iter().zip(vals).all(|(c, v)| {
                r.get(*c as usize).is_some_and(|x| {
                    matches!(
                        eval_binary(aiondb_sdk::value::ops::BinaryOp::Eq, x, v),
                        Ok(Value::Bool(true))
                    )
                })
            });
            if hit {
                let rid = r.get(w).and_then(Value::as_i64).unwrap_or(0) as RowId;
                out.push((rid, r[..w.min(r.len())].to_vec()));
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
    }
    Ok(out)
}

/// Every foreign key referencing `table` (catalog scan, cached per statement).
fn referencing(cx: &mut EvalCx, table: TableId) -> Vec<RefFk> {
    if cx.fk_cache.is_none() {
        let mut all = Vec::new();
        for t in cx.services.catalog.tables(RNone).iter() {
            for c in t.constraints.iter() {
                if let ConstraintKind::ForeignKey {
                    columns,
                    ref_table,
                    ref_columns,
                    on_delete,
                    on_update,
                } = &c.kind
                {
                    all.push(RefFk {
                        table: t.clone(),
                        name: c.name.to_string(),
                        columns: columns.to_vec(),
                        ref_table: *ref_table,
                        ref_columns: ref_columns.to_vec(),
                        on_delete: *on_delete,
                        on_update: *on_update,
                    });
                }
            }
        }
        cx.fk_cache = Some(all);
    }
    cx.fk_cache
        .as_ref()
        .map(|v| v.iter().filter(|f| f.ref_table == table).cloned().collect())
        .unwrap_or_default()
}

fn still_referenced(parent: &TableDef, fk: &RefFk, key: &[Value]) -> AionError {
    AionError::new(
        SqlState::FOREIGN_KEY_VIOLATION,
        format!(
            "update or delete on table \"{}\" violates foreign key constraint \"{}\" on table \"{}\"",
            parent.name, fk.name, fk.table.name
        ),
    )
    .with_detail(format!(
        "Key {} is still referenced from table \"{}\".",
        key_text(parent, &fk.ref_columns, key),
        fk.table.name
    ))
}

/// Applies the ON DELETE / ON UPDATE actions of foreign keys referencing
/// `parent` for a row going away (`new` = None) or changing its key.
fn referenced_actions(
    cx: &mut EvalCx,
    parent: &TableDef,
    old: &[Value],
    new: Option<&[Value]>,
    depth: u32,
) -> DbResult<()> {
    if depth > 64 {
        return Err(AionError::new(
            SqlState::PROGRAM_LIMIT_EXCEEDED,
            "foreign key cascade is nested too deeply",
        ));
    }
    for fk in referencing(cx, parent.id) {
        let key: Vec<Value> = fk
            .ref_columns
            .iter()
            .map(|c| old.get(*c as usize).cloned().unwrap_or(Value::Null))
            .collect();
        if key.iter().any(Value::is_null) {
            continue;
        }
        if let Some(new) = new {
            let same =
                fk.ref_columns
                    .iter()
                    .all(|c| match (old.get(*c as usize), new.get(*c as usize)) {
                        (Some(a), Some(b)) => sort_cmp(a, b).is_eq(),
                        _ => true,
                    });
            if same {
                continue;
            }
        }
        let action = if new.is_some() {
            fk.on_update
        } else {
            fk.on_delete
        };
        let children = find_rows(cx, &fk.table, &fk.columns, &key, false, usize::MAX)?;
        if children.is_empty() {
            continue;
        }
        let st = storage(cx, &fk.table)?;
        match action {
            ReferentialAction::NoAction | ReferentialAction::Restrict => {
                return Err(still_referenced(parent, &fk, &key));
            }
            ReferentialAction::Cascade => {
                for (rid, row) in children {
                    let out = st
                        .lock_row(cx.ctx.txn, fk.table.id, rid, true, &cx.lock_wait())
                        .into_result()?;
                    if out == LockOutcome::Deleted {
                        continue;
                    }
                    match new {
                        None => {
                            referenced_actions(cx, &fk.table, &row, None, depth + 1)?;
                            st.delete(cx.ctx.txn, fk.table.id, RSlice::from_slice(&[rid]))
                                .into_result()?;
                        }
                        Some(new) => {
                            let mut nr = row.clone();
                            for (c, rc) in fk.columns.iter().zip(&fk.ref_columns) {
                                if let Some(slot) = nr.get_mut(*c as usize) {
                                    *slot = new.get(*rc as usize).cloned().unwrap_or(Value::Null);
                                }
                            }
                            referenced_actions(cx, &fk.table, &row, Some(&nr), depth + 1)?;
                            let mut b = RowBatch::with_capacity(nr.len(), 1);
                            b.push_row(nr);
                            st.update(cx.ctx.txn, fk.table.id, RSlice::from_slice(&[rid]), &b)
                                .into_result()?;
                        }
                    }
                }
            }
            ReferentialAction::SetNull | ReferentialAction::SetDefault => {
                // SET DEFAULT uses NULL: column defaults are SQL text the
                // planner compiles, not available here.
                for (rid, row) in children {
                    let out = st
                        .lock_row(cx.ctx.txn, fk.table.id, rid, true, &cx.lock_wait())
                        .into_result()?;
                    if out == LockOutcome::Deleted {
                        continue;
                    }
                    let mut nr = row.clone();
                    for c in &fk.columns {
                        if let Some(slot) = nr.get_mut(*c as usize) {
                            *slot = Value::Null;
                        }
                    }
                    for c in &fk.columns {
                        if let Some(col) = fk.table.columns.get(*c as usize) {
                            if !col.nullable {
                                return Err(AionError::new(
                                    SqlState::NOT_NULL_VIOLATION,
                                    format!(
                                        "null value in column \"{}\" of relation \"{}\" violates not-null constraint",
                                        col.name, fk.table.name
                                    ),
                                )
                                .with_detail(format!("Failing row contains {}.", row_text(&nr))));
                            }
                        }
                    }
                    let mut b = RowBatch::with_capacity(nr.len(), 1);
                    b.push_row(nr);
                    st.update(cx.ctx.txn, fk.table.id, RSlice::from_slice(&[rid]), &b)
                        .into_result()?;
                }
            }
        }
    }
    Ok(())
}

/// Locks `rid` for writing. Returns the row to use (the input row, or a
/// rebuilt one after a concurrent update), or None to skip it.
fn lock_for_write(
    cx: &mut EvalCx,
    table: &TableDef,
    rid: RowId,
    input: &[Value],
    recheck: Option<&CExpr>,
) -> DbResult<Option<Vec<Value>>> {
    let st = storage(cx, table)?;
    let out = st
        .lock_row(cx.ctx.txn, table.id, rid, true, &cx.lock_wait())
        .into_result()?;
    match out {
        LockOutcome::Locked => Ok(Some(input.to_vec())),
        LockOutcome::Deleted => Ok(None),
        LockOutcome::LockedChanged => {
            let req = ScanRequest {
                projection: RVec::new(),
                row_ids: RSome(vec![rid].into()),
                with_row_ids: false,
                latest: true,
            };
            let mut cur = st.scan(cx.ctx.txn, table.id, &req).into_result()?;
            let Some(b) = cur.next_batch(1).into_result()?.into_option() else {
                return Ok(None);
            };
            let Some(latest) = b.row(0) else {
                return Ok(None);
            };
            let w = table.columns.len();
            let mut row = latest[..w.min(latest.len())].to_vec();
            row.extend_from_slice(input.get(w..).unwrap_or(&[]));
            if let Some(r) = recheck {
                if !r.test(cx, &row)? {
                    return Ok(None);
                }
            }
            Ok(Some(row))
        }
    }
}

/// A DML operator compiled once; `run` does the writes and returns the
/// RETURNING rows and the affected count.
pub(crate) enum DmlSpec {
    Insert {
        t: Target,
        oc: Option<Conflict>,
        input: Box<dyn Op>,
    },
    Update {
        t: Target,
        rid: usize,
        assigns: Vec<(usize, CExpr)>,
        recheck: Option<CExpr>,
        input: Box<dyn Op>,
    },
    Delete {
        t: Target,
        rid: usize,
        recheck: Option<CExpr>,
        input: Box<dyn Op>,
    },
}

pub(crate) fn compile_dml(cx: &mut EvalCx, plan: &Plan, n: NodeRef) -> DbResult<DmlSpec> {
    let node = node_of(plan, n)?;
    let opt = |cx: &mut EvalCx, e: &ROption<u32>| -> DbResult<Option<CExpr>> {
        Ok(match e {
            RSome(r) => Some(compile(cx, plan, *r, &[0])?),
            RNone => None,
        })
    };
    Ok(match &node.op {
        Operator::Insert {
            table,
            checks,
            on_conflict,
            returning,
        } => {
            let t = Target {
                table: cx.table(*table)?,
                checks: compile_checks(cx, plan, checks)?,
                returning: compile_list0(cx, plan, returning)?,
            };
            let oc = match on_conflict {
                RSome(oc) => Some(match &oc.action {
                    ConflictAction::DoNothing => (oc.index.into_option(), None),
                    ConflictAction::DoUpdate {
                        assignments,
                        filter,
                    } => (
                        oc.index.into_option(),
                        Some((
                            compile_assignments(cx, plan, assignments)?,
                            opt(cx, filter)?,
                        )),
                    ),
                }),
                RNone => None,
            };
            let input = crate::ops::build(cx, plan, input_of(plan, n, 0)?)?;
            DmlSpec::Insert { t, oc, input }
        }
        Operator::Update {
            table,
            row_id_column,
            assignments,
            checks,
            recheck,
            returning,
        } => DmlSpec::Update {
            t: Target {
                table: cx.table(*table)?,
                checks: compile_checks(cx, plan, checks)?,
                returning: compile_list0(cx, plan, returning)?,
            },
            rid: *row_id_column as usize,
            assigns: compile_assignments(cx, plan, assignments)?,
            recheck: opt(cx, recheck)?,
            input: crate::ops::build(cx, plan, input_of(plan, n, 0)?)?,
        },
        Operator::Delete {
            table,
            row_id_column,
            recheck,
            returning,
        } => DmlSpec::Delete {
            t: Target {
                table: cx.table(*table)?,
                checks: Vec::new(),
                returning: compile_list0(cx, plan, returning)?,
            },
            rid: *row_id_column as usize,
            recheck: opt(cx, recheck)?,
            input: crate::ops::build(cx, plan, input_of(plan, n, 0)?)?,
        },
        _ => return Err(bad_plan("not a DML operator")),
    })
}

impl DmlSpec {
    pub(crate) fn run(&mut self, cx: &mut EvalCx) -> DbResult<(Vec<Vec<Value>>, u64)> {
        if cx.ctx.read_only {
            let verb = match self {
                DmlSpec::Insert { .. } => "INSERT",
                DmlSpec::Update { .. } => "UPDATE",
                DmlSpec::Delete { .. } => "DELETE",
            };
            return Err(read_only_error(verb));
        }
        match self {
            DmlSpec::Insert { t, oc, input } => insert(cx, t, input.as_mut(), oc.as_ref()),
            DmlSpec::Update {
                t,
                rid,
                assigns,
                recheck,
                input,
            } => update(cx, t, input.as_mut(), *rid, assigns, recheck.as_ref()),
            DmlSpec::Delete {
                t,
                rid,
                recheck,
                input,
            } => delete(cx, t, input.as_mut(), *rid, recheck.as_ref()),
        }
    }
}

/// A DML operator inside a query (`WITH x AS (DELETE ... RETURNING ...)`,
/// an input of `WithDml`): the writes happen once, at open; the RETURNING
/// rows then stream.
pub(crate) struct DmlOp {
    spec: DmlSpec,
    rows: Vec<Vec<Value>>,
    pos: usize,
    done: bool,
}

impl DmlOp {
    pub(crate) fn new(spec: DmlSpec) -> DmlOp {
        DmlOp {
            spec,
            rows: Vec::new(),
            pos: 0,
            done: false,
        }
    }
}

impl Op for DmlOp {
    fn open(&mut self, cx: &mut EvalCx) -> DbResult<()> {
        self.pos = 0;
        // A data-modifying CTE runs exactly once per statement.
        if !self.done {
            self.rows = self.spec.run(cx)?.0;
            self.done = true;
        }
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

pub(crate) fn execute_dml(cx: &mut EvalCx, plan: &Plan, n: NodeRef) -> DbResult<RowCursorBox> {
    let mut spec = compile_dml(cx, plan, n)?;
    finish_dml(plan, spec.run(cx)?)
}

/// The cursor of a DML statement that ran: RETURNING rows and the count.
pub(crate) fn finish_dml(
    plan: &Plan,
    (rows, affected): (Vec<Vec<Value>>, u64),
) -> DbResult<RowCursorBox> {
    let mut batch = RowBatch::with_capacity(plan.output.len(), rows.len());
    push_returning(&mut batch, rows)?;
    Ok(rows_cursor(plan.output.clone(), batch, affected))
}

/// Appends RETURNING rows to `out`, whose width is the plan's output width.
pub(crate) fn push_returning(out: &mut RowBatch, rows: Vec<Vec<Value>>) -> DbResult<()> {
    for r in rows {
        if r.len() != out.width() {
            return Err(bad_plan("RETURNING width differs from the plan output"));
        }
        out.push_row(r);
    }
    Ok(())
}

type Conflict = (
    Option<IndexId>,
    Option<(Vec<(usize, CExpr)>, Option<CExpr>)>,
);

fn returning_row(
    cx: &mut EvalCx,
    t: &Target,
    row: &[Value],
    out: &mut Vec<Vec<Value>>,
) -> DbResult<()> {
    if t.returning.is_empty() {
        return Ok(());
    }
    let mut r = Vec::with_capacity(t.returning.len());
    for e in &t.returning {
        r.push(e.eval(cx, row)?);
    }
    cx.reserve(row_bytes(&r))?;
    out.push(r);
    Ok(())
}

fn insert(
    cx: &mut EvalCx,
    t: &Target,
    input: &mut dyn Op,
    oc: Option<&Conflict>,
) -> DbResult<(Vec<Vec<Value>>, u64)> {
    let w = t.table.columns.len();
    let mut out = Vec::new();
    let mut affected = 0u64;
    // The last statement's batch, emptied: a kept single-row INSERT then
    // allocates nothing for its row.
    let mut pending = match cx.spare_batch.take() {
        Some(mut b) => {
            b.reset(w);
            b
        }
        None => RowBatch::with_capacity(w, 1),
    };
    // What `pending` holds against the statement's memory limit.
    let mut pending_bytes = 0u64;
    let mut pending_rows: Vec<Vec<Value>> = Vec::new();
    let mut updated: HashSet<RowId> = HashSet::new();
    input.open(cx)?;
    while input.advance(cx)? {
        cx.tick()?;
        let got = input.current().len();
        if got != w {
            return Err(bad_plan(format!(
                "INSERT input has {got} columns, table \"{}\" has {w}",
                t.table.name
            )));
        }
        let Some((arbiter, action)) = &oc else {
            // Moved straight into the batch and checked there: no copy of
            // the row (and of its strings) per insert.
            input.take_current(&mut pending);
            let last = pending.len() - 1;
            let Some(row) = pending.row_mut(last) else {
                return Err(bad_plan("INSERT row vanished from its batch"));
            };
            validate_row(cx, t, row, None)?;
            let bytes = row_bytes(row);
            if !t.returning.is_empty() {
                pending_rows.push(row.to_vec());
            }
            cx.reserve(bytes)?;
            pending_bytes += bytes;
            // Flush in chunks so huge INSERT ... SELECT stays bounded.
            if pending.len() >= 1024 {
                affected += flush(cx, t, &mut pending, std::mem::take(&mut pending_bytes))?;
            }
            continue;
        };
        let mut row = input.current().to_vec();
        validate_row(cx, t, &mut row, None)?;
        let st = storage(cx, &t.table)?;
        let mut one = RowBatch::with_capacity(w, 1);
        one.push_row(row.iter().cloned());
        let mut ids = RVec::new();
        match st
            .insert(cx.ctx.txn, t.table.id, &one, &mut ids)
            .into_result()
        {
            Ok(()) => {
                updated.extend(ids.iter().copied());
                affected += 1;
                returning_row(cx, t, &row, &mut out)?;
            }
            Err(e) if e.sqlstate == SqlState::UNIQUE_VIOLATION => {
                let indexes = cx.services.catalog.indexes_of(t.table.id);
                let arb: Vec<IndexDef> = indexes
                    .iter()
                    .filter(|i| i.unique && arbiter.is_none_or(|a| a == i.id))
                    .cloned()
                    .collect();
                if arbiter.is_some() && !arb.iter().any(|i| e.message.contains(i.name.as_str())) {
                    // Conflict on another unique index than the arbiter.
                    return Err(e);
                }
                let Some((assigns, filter)) = action else {
                    continue; // DO NOTHING
                };
                let mut existing = None;
                for i in &arb {
                    let cols: Vec<u32> = i.columns.to_vec();
                    let vals: Vec<Value> = cols
                        .iter()
                        .map(|c| row.get(*c as usize).cloned().unwrap_or(Value::Null))
                        .collect();
                    if vals.iter().any(Value::is_null) {
                        continue;
                    }
                    if let Some(f) = find_rows(cx, &t.table, &cols, &vals, true, 1)?.pop() {
                        existing = Some(f);
                        break;
                    }
                }
                let twice = || {
                    AionError::new(
                        SqlState::new(b"21000"),
                        "ON CONFLICT DO UPDATE command cannot affect row a second time",
                    )
                    .with_hint("Ensure that no rows proposed for insertion within the same command have duplicate constrained values.")
                };
                // Not visible, or inserted/updated by this statement already.
                let Some((rid, old)) = existing else {
                    return Err(twice());
                };
                if !updated.insert(rid) {
                    return Err(twice());
                }
                let Some(old) = lock_for_write(cx, &t.table, rid, &old, None)? else {
                    continue;
                };
                let mut both = old.clone();
                both.extend_from_slice(&row);
                if let Some(f) = filter {
                    if !f.test(cx, &both)? {
                        continue;
                    }
                }
                let mut new = old.clone();
                for (c, e) in assigns {
                    let v = e.eval(cx, &both)?;
                    if let Some(slot) = new.get_mut(*c) {
                        *slot = v;
                    }
                }
                validate_row(cx, t, &mut new, Some(&old))?;
                referenced_actions(cx, &t.table, &old, Some(&new), 0)?;
                let mut b = RowBatch::with_capacity(w, 1);
                b.push_row(new.iter().cloned());
                let st = storage(cx, &t.table)?;
                st.update(cx.ctx.txn, t.table.id, RSlice::from_slice(&[rid]), &b)
                    .into_result()?;
                affected += 1;
                returning_row(cx, t, &new, &mut out)?;
            }
            Err(e) => return Err(e),
        }
    }
    input.close(cx);
    if !pending.is_empty() {
        affected += flush(cx, t, &mut pending, pending_bytes)?;
    }
    // Only small buffers are worth keeping.
    if pending.capacity() <= 64 {
        cx.spare_batch = Some(pending);
    }
    for r in &pending_rows {
        returning_row(cx, t, r, &mut out)?;
    }
    Ok((out, affected))
}

/// Inserts the pending rows and releases their `bytes` of the memory limit.
fn flush(cx: &mut EvalCx, t: &Target, pending: &mut RowBatch, bytes: u64) -> DbResult<u64> {
    let st = storage(cx, &t.table)?;
    // Kept between statements: a row-at-a-time INSERT allocates no id list.
    let mut ids = std::mem::take(&mut cx.spare_ids);
    ids.clear();
    let done = st
        .insert(cx.ctx.txn, t.table.id, pending, &mut ids)
        .into_result();
    let inserted = ids.len() as u64;
    cx.spare_ids = ids;
    done?;
    let n = pending.len() as u64;
    cx.release(bytes);
    pending.clear();
    Ok(n.max(inserted))
}

fn row_id_of(row: &[Value], pos: usize) -> DbResult<RowId> {
    row.get(pos)
        .and_then(Value::as_i64)
        .map(|i| i as RowId)
        .ok_or_else(|| bad_plan("row id column missing or not an integer"))
}

fn update(
    cx: &mut EvalCx,
    t: &Target,
    input: &mut dyn Op,
    rid_pos: usize,
    assigns: &[(usize, CExpr)],
    recheck: Option<&CExpr>,
) -> DbResult<(Vec<Vec<Value>>, u64)> {
    let w = t.table.columns.len();
    let mut out = Vec::new();
    let mut done: HashSet<RowId> = HashSet::new();
    let has_refs = !referencing(cx, t.table.id).is_empty();
    input.open(cx)?;
    while input.advance(cx)? {
        cx.tick()?;
        let cur = input.current();
        let rid = row_id_of(cur, rid_pos)?;
        if done.contains(&rid) {
            continue;
        }
        let cur = cur.to_vec();
        let Some(row) = lock_for_write(cx, &t.table, rid, &cur, recheck)? else {
            continue;
        };
        done.insert(rid);
        let old = &row[..w.min(row.len())];
        let mut new = old.to_vec();
        for (c, e) in assigns {
            let v = e.eval(cx, &row)?;
            match new.get_mut(*c) {
                Some(slot) => *slot = v,
                None => return Err(bad_plan("assignment to a column out of range")),
            }
        }
        validate_row(cx, t, &mut new, Some(old))?;
        if has_refs {
            referenced_actions(cx, &t.table, old, Some(&new), 0)?;
        }
        let mut b = RowBatch::with_capacity(w, 1);
        b.push_row(new.iter().cloned());
        let st = storage(cx, &t.table)?;
        st.update(cx.ctx.txn, t.table.id, RSlice::from_slice(&[rid]), &b)
            .into_result()?;
        if !t.returning.is_empty() {
            let mut both = new;
            both.extend_from_slice(&row);
            returning_row(cx, t, &both, &mut out)?;
        }
    }
    input.close(cx);
    Ok((out, done.len() as u64))
}

fn delete(
    cx: &mut EvalCx,
    t: &Target,
    input: &mut dyn Op,
    rid_pos: usize,
    recheck: Option<&CExpr>,
) -> DbResult<(Vec<Vec<Value>>, u64)> {
    let mut out = Vec::new();
    let mut done: HashSet<RowId> = HashSet::new();
    let has_refs = !referencing(cx, t.table.id).is_empty();
    let w = t.table.columns.len();
    input.open(cx)?;
    while input.advance(cx)? {
        cx.tick()?;
        let cur = input.current();
        let rid = row_id_of(cur, rid_pos)?;
        if done.contains(&rid) {
            continue;
        }
        let cur = cur.to_vec();
        let Some(row) = lock_for_write(cx, &t.table, rid, &cur, recheck)? else {
            continue;
        };
        done.insert(rid);
        if has_refs {
            referenced_actions(cx, &t.table, &row[..w.min(row.len())], None, 0)?;
        }
        let st = storage(cx, &t.table)?;
        st.delete(cx.ctx.txn, t.table.id, RSlice::from_slice(&[rid]))
            .into_result()?;
        returning_row(cx, t, &row, &mut out)?;
    }
    input.close(cx);
    Ok((out, done.len() as u64))
}
