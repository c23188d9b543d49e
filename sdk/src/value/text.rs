//! PostgreSQL text input and output for every built-in type.

use crate::error::DbResult;
use crate::types::DataType;

use super::Value;

/// Appends the PostgreSQL text representation of `value` to `out`.
/// NULL writes nothing (callers send NULL out of band).
pub fn write_text(value: &Value, out: &mut String) {
    let _ = (value, out);
    todo!()
}

/// Parses `input` as PostgreSQL's input function for `ty` would.
pub fn parse_text(ty: DataType, input: &str) -> DbResult<Value> {
    let _ = (ty, input);
    todo!()
}
