//! The SQL planner plugin (`sql.planner/1`): binder, type checker, logical
//! planner and cost-based optimizer. It decodes the parser's syntax tree
//! (sqlparser's AST in the generic encoding of `aiondb_sdk::syntax`) and
//! produces the plan IR of `aiondb_sdk::plan`.
//!
//! Module map:
//! * `shared`  — the plan arena builder and binder entry points other modules use.
//! * `query`   — SELECT, set operations, CTEs, subqueries, windows, aggregates.
//! * `expr`    — expression binding and type checking.
//! * `dml`     — INSERT / UPDATE / DELETE (defaults, CHECKs, ON CONFLICT, RETURNING).
//! * `optimizer` — statistics, cost model, access paths, join order.
//! * `ddl`     — CREATE/DROP/ALTER and friends, producing `Operator::Ddl`.
//! * `utility` — transaction control, SET/SHOW/RESET, EXPLAIN, ANALYZE wrappers.

use aiondb_sdk::prelude::*;

mod copy;
mod ddl;
mod dml;
mod expr;
mod logical;
mod lower;
mod optimizer;
mod planner;
mod query;
mod roles;
pub mod shared;
mod types;
mod utility;

pub use shared::plan_statement;

struct SqlPlanner;

impl Planner for SqlPlanner {
    fn plan(
        &self,
        ctx: &PlanContext,
        services: &Services,
        statement: &SyntaxTree,
    ) -> AResult<Plan> {
        shared::plan_tree(ctx, services, statement).into()
    }
}

fn register(_host: HostRef) -> DbResult<Registration> {
    Ok(Registration::new().planner("sql", SqlPlanner))
}

aiondb_sdk::declare_plugin! {
    name: "sql-planner",
    version: env!("CARGO_PKG_VERSION"),
    description: "SQL binder, type checker, logical planner and optimizer",
    register: register,
}

#[cfg(test)]
mod tests;
