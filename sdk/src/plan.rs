//! The plan IR the planner hands to the executor: operators and expressions
//! in two arenas, referenced by index. It crosses the boundary once per
//! statement (prepared statements keep theirs) and leaves room for vector
//! and graph access paths next to the relational ones.

use abi_stable::{
    std_types::{ROption, RString, RVec},
    StableAbi,
};

use crate::catalog::{CatalogChange, IndexId, TableId};
use crate::row::Schema;
use crate::types::DataType;
use crate::value::Value;

pub type ExprRef = u32;
pub type NodeRef = u32;

#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub data_type: DataType,
}

#[repr(u8)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub enum ExprKind {
    Const(Value),
    /// `$n` (0-based here).
    Param(u32),
    /// Column `column` of the operator's input `input` (0 for single-input
    /// operators, 0/1 for joins).
    Column {
        input: u32,
        column: u32,
    },
    /// A column of an enclosing query (correlated subqueries).
    OuterColumn {
        depth: u32,
        column: u32,
    },
    /// A function or operator resolved by the planner to a provider entry.
    Call {
        function: FunctionRef,
        args: RVec<ExprRef>,
    },
    Cast {
        arg: ExprRef,
        to: DataType,
    },
    And(RVec<ExprRef>),
    Or(RVec<ExprRef>),
    Not(ExprRef),
    IsNull(ExprRef),
    Case {
        operand: ROption<ExprRef>,
        whens: RVec<ExprRef>,
        thens: RVec<ExprRef>,
        otherwise: ROption<ExprRef>,
    },
    /// Scalar, IN or EXISTS subquery over the plan rooted at `plan`.
    Subquery {
        kind: SubqueryKind,
        plan: NodeRef,
        arg: ROption<ExprRef>,
    },
}

#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubqueryKind {
    Scalar,
    Exists,
    In,
}

/// A function resolved at plan time: which provider and which entry.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct FunctionRef {
    /// Registry key of the `sql.functions/1` or `sql.operators/1` provider.
    pub provider: RString,
    pub id: u32,
    pub name: RString,
}

#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinKind {
    Inner,
    Left,
    Right,
    Full,
    Semi,
    Anti,
    Cross,
}

#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinMethod {
    NestedLoop,
    Hash,
    Merge,
}

#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct SortKey {
    pub expr: ExprRef,
    pub descending: bool,
    pub nulls_first: bool,
}

/// How an index is probed.
#[repr(u8)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub enum IndexProbe {
    Eq(RVec<ExprRef>),
    Range {
        lower: ROption<Bound>,
        upper: ROption<Bound>,
    },
}

#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct Bound {
    pub exprs: RVec<ExprRef>,
    pub inclusive: bool,
}

#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphDirection {
    Out,
    In,
    Both,
}

#[repr(u8)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub enum Operator {
    SeqScan {
        table: TableId,
        projection: RVec<u32>,
        filter: ROption<ExprRef>,
    },
    IndexScan {
        table: TableId,
        index: IndexId,
        probe: IndexProbe,
        projection: RVec<u32>,
        filter: ROption<ExprRef>,
    },
    /// k-nearest-neighbour search through a vector index method.
    VectorSearch {
        table: TableId,
        index: IndexId,
        query: ExprRef,
        k: ExprRef,
        projection: RVec<u32>,
    },
    /// One hop over a graph adjacency index.
    GraphExpand {
        index: IndexId,
        direction: GraphDirection,
        edge_label: RString,
        from: ExprRef,
    },
    Values {
        rows: RVec<RVec<ExprRef>>,
    },
    Filter {
        predicate: ExprRef,
    },
    Project {
        exprs: RVec<ExprRef>,
    },
    Join {
        kind: JoinKind,
        method: JoinMethod,
        condition: ROption<ExprRef>,
        left_keys: RVec<ExprRef>,
        right_keys: RVec<ExprRef>,
    },
    Aggregate {
        group_by: RVec<ExprRef>,
        aggregates: RVec<ExprRef>,
    },
    Window {
        partition_by: RVec<ExprRef>,
        order_by: RVec<SortKey>,
        functions: RVec<ExprRef>,
    },
    Sort {
        keys: RVec<SortKey>,
    },
    Limit {
        limit: ROption<ExprRef>,
        offset: ROption<ExprRef>,
    },
    Distinct {
        on: RVec<ExprRef>,
    },
    SetOp {
        op: SetOpKind,
        all: bool,
    },
    Insert {
        table: TableId,
        columns: RVec<u32>,
        returning: RVec<ExprRef>,
    },
    Update {
        table: TableId,
        assignments: RVec<Assignment>,
        returning: RVec<ExprRef>,
    },
    Delete {
        table: TableId,
        returning: RVec<ExprRef>,
    },
    /// A catalog change run by the executor inside the statement's transaction.
    Ddl(CatalogChange),
    /// An operator a plugin added; `payload` is that plugin's to interpret.
    Extension {
        provider: RString,
        name: RString,
        payload: RVec<u8>,
    },
}

#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct Assignment {
    pub column: u32,
    pub value: ExprRef,
}

#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetOpKind {
    Union,
    Intersect,
    Except,
}

#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct PlanNode {
    pub op: Operator,
    pub inputs: RVec<NodeRef>,
    /// Optimizer estimates, shown by EXPLAIN.
    pub est_rows: f64,
    pub est_cost: f64,
}

/// A planned statement.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Default)]
pub struct Plan {
    pub nodes: RVec<PlanNode>,
    pub exprs: RVec<Expr>,
    pub root: NodeRef,
    /// Result columns (empty for commands without rows).
    pub output: Schema,
    /// Inferred parameter types, `$1` first.
    pub param_types: RVec<DataType>,
    /// Command tag verb (`SELECT`, `INSERT`, `CREATE TABLE`, ...).
    pub command: RString,
    /// Catalog version the plan was built against.
    pub catalog_version: u64,
}
