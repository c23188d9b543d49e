//! EXPLAIN [ANALYZE] in PostgreSQL's text format.

use aiondb_sdk::prelude::*;

pub(crate) fn explain(
    _ctx: &ExecContext,
    _services: &Services,
    _plan: &Plan,
    _params: &[Value],
    _analyze: bool,
    _verbose: bool,
) -> DbResult<RowCursorBox> {
    Err(AionError::feature_not_supported("not yet"))
}
