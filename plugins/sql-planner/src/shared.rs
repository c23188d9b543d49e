//! Entry point and the pieces every planning module shares. Owned by the
//! query/DML planner; `ddl` and `utility` call into it.

use aiondb_sdk::prelude::*;

/// Decodes the syntax tree and plans the statement.
pub(crate) fn plan_tree(
    _ctx: &PlanContext,
    _services: &Services,
    _tree: &SyntaxTree,
) -> DbResult<Plan> {
    Err(AionError::new(
        SqlState::FEATURE_NOT_SUPPORTED,
        "the planner is being built",
    ))
}
