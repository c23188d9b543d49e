//! Statements this module plans itself: queries, DML, EXPLAIN, ANALYZE.

use crate::shared::PlanBuilder;
use aiondb_sdk::plan::ExprRef;
use aiondb_sdk::prelude::*;
use sqlparser::ast;

pub(crate) fn plan_own(
    _ctx: &PlanContext,
    _services: &Services,
    _stmt: &ast::Statement,
) -> DbResult<Option<Plan>> {
    Ok(None)
}

pub(crate) fn bind_table_expr(
    _builder: &mut PlanBuilder,
    _services: &Services,
    _table: &TableDef,
    _expr: &ast::Expr,
) -> DbResult<ExprRef> {
    Err(AionError::feature_not_supported("not yet"))
}

pub(crate) fn query_output_schema(
    _ctx: &PlanContext,
    _services: &Services,
    _query: &ast::Query,
) -> DbResult<Schema> {
    Err(AionError::feature_not_supported("not yet"))
}
