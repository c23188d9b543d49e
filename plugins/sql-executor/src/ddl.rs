//! DDL and ANALYZE execution (owned by the DDL work; this is a placeholder
//! with the stable signature the dispatcher calls).

use aiondb_sdk::plan::NodeRef;
use aiondb_sdk::prelude::*;

/// Runs `Operator::Ddl` / `Operator::Analyze` at `root_node`.
pub(crate) fn execute_ddl(
    _ctx: &ExecContext,
    _services: &Services,
    _plan: &Plan,
    _root_node: NodeRef,
) -> DbResult<RowCursorBox> {
    Err(AionError::feature_not_supported(
        "DDL execution is not implemented yet",
    ))
}
