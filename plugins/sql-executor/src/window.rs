//! Placeholder, filled in next.

use aiondb_sdk::plan::NodeRef;
use aiondb_sdk::prelude::*;

use crate::ops::Op;
use crate::shared::*;

pub(crate) fn build(_cx: &mut EvalCx, _plan: &Plan, _n: NodeRef) -> DbResult<Box<dyn Op>> {
    Err(AionError::feature_not_supported("not yet"))
}
