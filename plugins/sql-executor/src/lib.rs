//! The SQL executor plugin (`sql.executor/1`): runs plans from
//! `aiondb_sdk::plan` against storage backends and function providers.
//!
//! Module map:
//! * `shared` — plan access, expression evaluation entry points, cursors.
//! * `ddl`    — `Operator::Ddl` and `Operator::Analyze`.
//! * `expr`, `special` — compiled expressions, executor built-ins, subqueries.
//! * `ops`, `join`, `agg`, `window`, `tablefunc` — query operators.
//! * `dml`    — INSERT/UPDATE/DELETE with constraint checks.
//! * `explain` — EXPLAIN [ANALYZE] text.

use aiondb_sdk::prelude::*;

mod agg;
mod cache;
mod copy;
mod ddl;
mod dml;
mod explain;
mod expr;
mod join;
mod ops;
mod rowtable;
mod shared;
mod special;
mod tablefunc;
mod window;

#[cfg(test)]
mod tests;

#[derive(Default)]
struct SqlExecutor {
    /// Compiled plans of kernel-kept statements (`Plan::cache_id`).
    cache: std::sync::Arc<cache::PlanCache>,
}

impl Executor for SqlExecutor {
    fn execute(
        &self,
        ctx: &ExecContext,
        services: &Services,
        plan: &Plan,
        params: RSlice<'_, Value>,
    ) -> AResult<RowCursorBox> {
        cache::execute(&self.cache, ctx, services, plan, params.as_slice()).into()
    }

    fn run(
        &self,
        ctx: &ExecContext,
        services: &Services,
        plan: &Plan,
        params: RSlice<'_, Value>,
        out: &mut RowBatch,
    ) -> AResult<u64> {
        cache::run(&self.cache, ctx, services, plan, params.as_slice(), out).into()
    }
}

fn register(_host: HostRef) -> DbResult<Registration> {
    Ok(Registration::new().executor("sql", SqlExecutor::default()))
}

aiondb_sdk::declare_plugin! {
    name: "sql-executor",
    version: env!("CARGO_PKG_VERSION"),
    description: "runs SQL plans against storage backends",
    register: register,
}
