//! INSERT, UPDATE, DELETE.

use aiondb_sdk::plan::NodeRef;
use aiondb_sdk::prelude::*;

use crate::shared::*;

/// A foreign key referencing some table, found by scanning the catalog.
#[derive(Clone, Debug)]
pub(crate) struct RefFk {
    pub table: TableDef,
    pub name: String,
    pub columns: Vec<u32>,
    pub ref_table: TableId,
    pub ref_columns: Vec<u32>,
    pub on_delete: ReferentialAction,
    pub on_update: ReferentialAction,
}

pub(crate) fn execute_dml(_cx: &mut EvalCx, _plan: &Plan, _n: NodeRef) -> DbResult<RowCursorBox> {
    Err(AionError::feature_not_supported("not yet"))
}
