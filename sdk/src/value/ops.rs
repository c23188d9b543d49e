//! Built-in operators as the plan names them. The planner resolves operand
//! types (inserting casts) and the executor evaluates them natively, so
//! `a + b` or `x = $1` never goes through a function-provider lookup.
//!
//! Evaluation lives next to the values ([`eval_binary`], [`eval_unary`],
//! [`sql_cmp`], [`cast`]) so that the planner's constant folding and the
//! executor compute identical results.

use abi_stable::StableAbi;

#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    /// `^`
    Pow,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    /// `IS DISTINCT FROM`
    IsDistinctFrom,
    /// `IS NOT DISTINCT FROM`
    IsNotDistinctFrom,
    /// `||` (text, bytea, arrays, jsonb)
    Concat,
    Like,
    NotLike,
    ILike,
    NotILike,
    /// `~`, `~*`, `!~`, `!~*`
    RegexMatch,
    RegexIMatch,
    NotRegexMatch,
    NotRegexIMatch,
    BitAnd,
    BitOr,
    /// `#`
    BitXor,
    ShiftLeft,
    ShiftRight,
    /// `->` (json/jsonb by key or index)
    JsonGet,
    /// `->>`
    JsonGetText,
    /// `#>`
    JsonPath,
    /// `#>>`
    JsonPathText,
    /// `@>` (jsonb, arrays)
    Contains,
    /// `<@`
    ContainedBy,
    /// `?` (jsonb key exists)
    JsonExists,
    /// `&&` (array overlap)
    Overlap,
}

#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Not,
    BitNot,
}

impl BinaryOp {
    /// The operator as SQL writes it (EXPLAIN, error messages).
    pub fn symbol(&self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
            BinaryOp::Eq => "=",
            BinaryOp::NotEq => "<>",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::IsDistinctFrom => "IS DISTINCT FROM",
            BinaryOp::IsNotDistinctFrom => "IS NOT DISTINCT FROM",
            BinaryOp::Concat => "||",
            BinaryOp::Like => "~~",
            BinaryOp::NotLike => "!~~",
            BinaryOp::ILike => "~~*",
            BinaryOp::NotILike => "!~~*",
            BinaryOp::RegexMatch => "~",
            BinaryOp::RegexIMatch => "~*",
            BinaryOp::NotRegexMatch => "!~",
            BinaryOp::NotRegexIMatch => "!~*",
            BinaryOp::BitAnd => "&",
            BinaryOp::BitOr => "|",
            BinaryOp::BitXor => "#",
            BinaryOp::ShiftLeft => "<<",
            BinaryOp::ShiftRight => ">>",
            BinaryOp::JsonGet => "->",
            BinaryOp::JsonGetText => "->>",
            BinaryOp::JsonPath => "#>",
            BinaryOp::JsonPathText => "#>>",
            BinaryOp::Contains => "@>",
            BinaryOp::ContainedBy => "<@",
            BinaryOp::JsonExists => "?",
            BinaryOp::Overlap => "&&",
        }
    }

    /// True for the six ordering comparisons and `=`/`<>`.
    pub fn is_comparison(&self) -> bool {
        matches!(
            self,
            BinaryOp::Eq
                | BinaryOp::NotEq
                | BinaryOp::Lt
                | BinaryOp::LtEq
                | BinaryOp::Gt
                | BinaryOp::GtEq
        )
    }
}
