//! Set-returning functions in FROM.

use aiondb_sdk::plan::TableFunctionCall;
use aiondb_sdk::prelude::*;

use crate::ops::Op;
use crate::shared::*;

pub(crate) fn build(
    _cx: &mut EvalCx,
    _plan: &Plan,
    _call: &TableFunctionCall,
    _columns: &Schema,
    _ordinality: bool,
) -> DbResult<Box<dyn Op>> {
    Err(AionError::feature_not_supported("not yet"))
}
