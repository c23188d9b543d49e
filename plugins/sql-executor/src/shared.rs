//! Entry point and the pieces every executor module shares.
//!
//! # Interface for the DDL module (`ddl.rs`)
//!
//! * [`EvalCx::new`] builds the per-statement evaluation context.
//! * [`compile_expr`] compiles one plan expression (once), and
//!   [`CompiledExpr::eval`] evaluates it over a row (as many times as
//!   needed: CHECK validation over existing rows).
//! * [`eval_expr`] does both in one call (ALTER fill values).
//! * [`rows_cursor`] / [`command_cursor`] build a `RowCursorBox` from rows
//!   or from a bare affected-row count.
//! * [`storage_of`] finds a table's storage backend (42P01/XX000 errors).
//!
//! A row passed to `eval` is the row the expression sees: for CHECK
//! constraints and fill values, the table row in column order.

use aiondb_sdk::plan::{ExprRef, NodeRef, Operator};
use aiondb_sdk::plugin::{guarded_cursor, StorageBackendBox};
use aiondb_sdk::prelude::*;

pub(crate) use crate::expr::CExpr;
use crate::ops::Op;
pub(crate) use aiondb_sdk::value::{
    cast, cast_with, eval_binary, eval_unary, hash_value, like_match, sort_cmp, sql_cmp,
    CoercionKind, FormatOptions,
};

/// A compiled expression, cheap to evaluate per row.
#[allow(dead_code)] // interface for ddl.rs
pub(crate) type CompiledExpr = CExpr;

/// Per-statement evaluation state: session context, services, parameters,
/// the stack of outer rows (correlation), subquery plans and caches, work
/// tables of recursive CTEs, memory accounting and timing.
pub(crate) struct EvalCx {
    pub ctx: ExecContext,
    pub services: Services,
    pub params: Vec<Value>,
    /// Enclosing rows, innermost last (`OuterColumn{depth: 1}` = last).
    pub(crate) outer: Vec<Vec<Value>>,
    pub(crate) subplans: Vec<Subplan>,
    pub(crate) worktables: Vec<(u32, std::sync::Arc<Vec<Vec<Value>>>)>,
    /// Approximate bytes held by sorts, hash tables and materialisations.
    pub(crate) mem_used: u64,
    ticks: u32,
    /// EXPLAIN ANALYZE counters, indexed by plan node.
    pub(crate) stats: Vec<crate::ops::NodeStats>,
    /// Referencing foreign keys per referenced table (DML), cached per statement.
    pub(crate) fk_cache: Option<Vec<crate::dml::RefFk>>,
    /// The session's TimeZone and DateStyle, for date/time casts.
    pub(crate) format: FormatOptions,
    /// The TimeZone setting as text, for zone-dependent functions.
    pub(crate) zone: RString,
    /// Address of the last caller's `Services` found equal to `services`
    /// (`cache::same_services`); 0 for none.
    pub(crate) services_seen: usize,
    /// An empty row batch kept between executions of a kept INSERT.
    pub(crate) spare_batch: Option<RowBatch>,
    /// The row ids an INSERT's storage call returned, kept for the next.
    pub(crate) spare_ids: RVec<RowId>,
}

/// A subquery expression's plan, built once; re-opened per evaluation when
/// correlated, evaluated once and cached when not.
pub(crate) struct Subplan {
    pub(crate) op: Option<Box<dyn Op>>,
    pub(crate) correlated: bool,
    pub(crate) cache: Option<Vec<Vec<Value>>>,
    /// `IN` over a cached result: its first column hashed, and whether it
    /// held a NULL.
    pub(crate) in_set: Option<(crate::rowtable::RowTable<()>, bool)>,
}

/// TimeZone and DateStyle from the session settings (the session stores
/// only values it validated; anything else falls back to UTC, ISO).
pub(crate) fn zone_setting(ctx: &ExecContext) -> RString {
    ctx.settings
        .iter()
        .find(|kv| kv.key.as_str() == "TimeZone")
        .map_or_else(|| RString::from("UTC"), |kv| kv.value.clone())
}

pub(crate) fn format_options(ctx: &ExecContext) -> FormatOptions {
    let get = |key: &str| {
        ctx.settings
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.as_str())
    };
    match (get("TimeZone"), get("DateStyle")) {
        (None, None) => FormatOptions::default(),
        (tz, ds) => FormatOptions::from_settings(tz.unwrap_or("UTC"), ds.unwrap_or("ISO, MDY"))
            .unwrap_or_default(),
    }
}

impl EvalCx {
    pub(crate) fn new(ctx: &ExecContext, services: &Services, params: &[Value]) -> EvalCx {
        EvalCx {
            ctx: ctx.clone(),
            services: services.clone(),
            params: params.to_vec(),
            outer: Vec::new(),
            subplans: Vec::new(),
            worktables: Vec::new(),
            mem_used: 0,
            ticks: 0,
            stats: Vec::new(),
            fk_cache: None,
            format: format_options(ctx),
            zone: zone_setting(ctx),
            services_seen: 0,
            spare_batch: None,
            spare_ids: RVec::new(),
        }
    }

    /// Call once per row in loops: checks the statement deadline every
    /// 1024 calls.
    #[inline]
    pub(crate) fn tick(&mut self) -> DbResult<()> {
        self.ticks = self.ticks.wrapping_add(1);
        if self.ticks & 1023 == 0 {
            self.check_deadline()?;
        }
        Ok(())
    }

    pub(crate) fn check_deadline(&self) -> DbResult<()> {
        self.ctx.cancel.check()?;
        if self.ctx.deadline_unix_us != 0 && unix_now_us() > self.ctx.deadline_unix_us {
            return Err(AionError::new(
                SqlState::QUERY_CANCELED,
                "canceling statement due to statement timeout",
            ));
        }
        Ok(())
    }

    /// Accounts `bytes` more held memory; 53200 beyond the statement limit.
    pub(crate) fn reserve(&mut self, bytes: u64) -> DbResult<()> {
        self.mem_used = self.mem_used.saturating_add(bytes);
        let limit = self.ctx.memory_limit_bytes;
        if limit != 0 && self.mem_used > limit {
            return Err(
                AionError::new(SqlState::OUT_OF_MEMORY, "out of memory").with_detail(format!(
                    "statement memory exceeds AIONDB_LIMITS_STATEMENT_MEMORY_BYTES ({limit} bytes)"
                )),
            );
        }
        Ok(())
    }

    pub(crate) fn release(&mut self, bytes: u64) {
        self.mem_used = self.mem_used.saturating_sub(bytes);
    }

    pub(crate) fn table(&self, id: TableId) -> DbResult<TableDef> {
        self.services
            .catalog
            .table_by_id(id)
            .into_option()
            .ok_or_else(|| {
                AionError::new(
                    SqlState::UNDEFINED_TABLE,
                    format!("relation with OID {id} does not exist"),
                )
            })
    }

    pub(crate) fn lock_wait(&self) -> LockWait {
        LockWait {
            timeout_ms: self.ctx.lock_timeout_ms,
            deadline_unix_us: self.ctx.deadline_unix_us,
            cancel: self.ctx.cancel.clone(),
        }
    }
}

/// Wall clock, Unix epoch microseconds.
pub(crate) fn unix_now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Wall clock, microseconds since 2000-01-01 UTC.
pub(crate) fn pg_now_us() -> i64 {
    unix_now_us() as i64 - aiondb_sdk::value::PG_EPOCH_MICROS_FROM_UNIX
}

/// Compiles `expr` of `plan` for rows of `width` columns laid out as the
/// expression's operator sees them (single input: input 0).
#[allow(dead_code)] // interface for ddl.rs
pub(crate) fn compile_expr(cx: &mut EvalCx, plan: &Plan, expr: ExprRef) -> DbResult<CompiledExpr> {
    crate::expr::compile(cx, plan, expr, &[0])
}

/// Compiles and evaluates `expr` over `row` once.
#[allow(dead_code)] // interface for ddl.rs
pub(crate) fn eval_expr(
    cx: &mut EvalCx,
    plan: &Plan,
    expr: ExprRef,
    row: &[Value],
) -> DbResult<Value> {
    let c = compile_expr(cx, plan, expr)?;
    c.eval(cx, row)
}

/// A table's storage backend.
pub(crate) fn storage_of<'s>(
    services: &'s Services,
    table: &TableDef,
) -> DbResult<&'s StorageBackendBox> {
    services
        .storage(table.storage_backend.as_str())
        .ok_or_else(|| {
            AionError::internal(format!(
                "storage backend \"{}\" of table \"{}\" is not loaded",
                table.storage_backend, table.name
            ))
        })
}

/// A cursor over materialised rows.
pub(crate) struct RowsCursor {
    schema: Schema,
    rows: Option<RowBatch>,
    affected: u64,
}

impl RowCursor for RowsCursor {
    fn schema(&self) -> AResult<Schema> {
        ROk(self.schema.clone())
    }
    fn next_batch(&mut self, max_rows: u32) -> AResult<ROption<RowBatch>> {
        let Some(batch) = self.rows.take() else {
            return ROk(RNone);
        };
        if max_rows == 0 || batch.len() <= max_rows as usize || batch.width() == 0 {
            return ROk(if batch.is_empty() {
                RNone
            } else {
                RSome(batch)
            });
        }
        let w = batch.width();
        let n = max_rows as usize;
        let mut head = RowBatch::with_capacity(w, n);
        let mut tail = RowBatch::with_capacity(w, batch.len() - n);
        for (i, r) in batch.rows().enumerate() {
            if i < n {
                head.push_row(r.iter().cloned());
            } else {
                tail.push_row(r.iter().cloned());
            }
        }
        self.rows = Some(tail);
        ROk(RSome(head))
    }
    fn rows_affected(&self) -> AResult<u64> {
        ROk(self.affected)
    }
}

use aiondb_sdk::abi_stable::std_types::ROption::{RNone, RSome};

/// A cursor over already computed rows (RETURNING, EXPLAIN, DDL results).
pub(crate) fn rows_cursor(schema: Schema, rows: RowBatch, rows_affected: u64) -> RowCursorBox {
    guarded_cursor(RowsCursor {
        schema,
        rows: Some(rows),
        affected: rows_affected,
    })
}

/// A cursor with no rows and a count for the command tag.
#[allow(dead_code)] // interface for ddl.rs
pub(crate) fn command_cursor(rows_affected: u64) -> RowCursorBox {
    rows_cursor(Schema::default(), RowBatch::new(0), rows_affected)
}

/// Planner bugs surface as XX000, never as panics.
pub(crate) fn bad_plan(what: impl std::fmt::Display) -> AionError {
    AionError::internal(format!("invalid plan: {what}"))
}

pub(crate) fn node_of(plan: &Plan, n: NodeRef) -> DbResult<&aiondb_sdk::plan::PlanNode> {
    plan.node(n)
        .ok_or_else(|| bad_plan(format!("node {n} out of range")))
}

pub(crate) fn execute(
    ctx: &ExecContext,
    services: &Services,
    plan: &Plan,
    params: &[Value],
) -> DbResult<RowCursorBox> {
    let root = node_of(plan, plan.root)?;
    match &root.op {
        Operator::Ddl(_) | Operator::Analyze { .. } => {
            if ctx.read_only {
                return Err(read_only_error(plan.command.as_str()));
            }
            crate::ddl::execute_ddl(ctx, services, plan, plan.root)
        }
        Operator::Utility(_) => Err(AionError::internal(
            "utility statements are run by the session, not the executor",
        )),
        Operator::Explain { analyze, verbose } => {
            crate::explain::explain(ctx, services, plan, params, *analyze, *verbose)
        }
        Operator::Insert { .. } | Operator::Update { .. } | Operator::Delete { .. } => {
            if ctx.read_only {
                return Err(read_only_error(plan.command.as_str()));
            }
            let mut cx = EvalCx::new(ctx, services, params);
            crate::dml::execute_dml(&mut cx, plan, plan.root)
        }
        _ => {
            if ctx.read_only && plan.writes {
                return Err(read_only_error(plan.command.as_str()));
            }
            crate::ops::query_cursor(ctx, services, plan, params)
        }
    }
}

pub(crate) fn read_only_error(command: &str) -> AionError {
    let verb = if command.is_empty() {
        "this statement"
    } else {
        command
    };
    AionError::new(
        SqlState::new(b"25006"),
        format!("cannot execute {verb} in a read-only transaction"),
    )
}

/// Truth of a boolean value (NULL and false are not true).
#[inline]
pub(crate) fn truthy(v: &Value) -> bool {
    matches!(v, Value::Bool(true))
}

/// Approximate heap footprint of a value, for memory accounting.
pub(crate) fn value_bytes(v: &Value) -> u64 {
    let heap = match v {
        Value::Text(s) | Value::Json(s) | Value::Jsonb(s) => s.len(),
        Value::Bytea(b) => b.len(),
        Value::Numeric(n) => n.digits.len() * 2,
        Value::Array(a) => a.elements.iter().map(value_bytes).sum::<u64>() as usize,
        _ => 0,
    };
    (std::mem::size_of::<Value>() + heap) as u64
}

pub(crate) fn row_bytes(r: &[Value]) -> u64 {
    r.iter().map(value_bytes).sum::<u64>() + 24
}
