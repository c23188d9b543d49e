//! DDL and ANALYZE execution.
