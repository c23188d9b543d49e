//! Date/time functions.
use crate::Def;
pub(crate) const DEFS: &[Def] = &[];
