//! Transaction control, SET/SHOW/RESET: produces `Operator::Utility`.
//! Owned by the DDL agent; this stub keeps the interface compiling.

use aiondb_sdk::prelude::*;
use sqlparser::ast;

/// Plans a utility statement; `Ok(None)` when `stmt` is not one.
pub fn plan_utility(
    _ctx: &PlanContext,
    _services: &Services,
    _stmt: &ast::Statement,
) -> DbResult<Option<Plan>> {
    Ok(None)
}
