//! Transaction control, SET/SHOW/RESET: produces `Operator::Utility`.
