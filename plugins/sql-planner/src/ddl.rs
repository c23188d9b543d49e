//! DDL planning (CREATE/DROP/ALTER ...): produces `Operator::Ddl`.
//! Owned by the DDL agent; this stub keeps the interface compiling.

use crate::shared::Planning;
use aiondb_sdk::prelude::*;
use sqlparser::ast;

/// Plans a DDL statement; `Ok(None)` when `stmt` is not DDL.
pub fn plan_ddl(_p: &mut Planning<'_>, _stmt: &ast::Statement) -> DbResult<Option<Plan>> {
    Ok(None)
}
