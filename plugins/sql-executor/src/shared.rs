//! Entry point and the pieces every executor module shares.

use aiondb_sdk::prelude::*;

pub(crate) fn execute(
    _ctx: &ExecContext,
    _services: &Services,
    _plan: &Plan,
    _params: &[Value],
) -> DbResult<RowCursorBox> {
    Err(AionError::new(
        SqlState::FEATURE_NOT_SUPPORTED,
        "the executor is being built",
    ))
}
