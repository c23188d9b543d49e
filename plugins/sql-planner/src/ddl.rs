//! DDL planning (CREATE/DROP/ALTER ...): produces `Operator::Ddl`.
