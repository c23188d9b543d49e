//! The plan IR the planner hands to the executor: operators and expressions
//! in two arenas, referenced by index. It crosses the boundary once per
//! statement (prepared statements keep theirs) and leaves room for vector
//! and graph access paths next to the relational ones.
//!
//! # Row layout contract (planner and executor both rely on it)
//!
//! * Every operator produces rows of a fixed width. An [`ExprKind::Column`]
//!   `{input, column}` names column `column` of the operator's input number
//!   `input`; single-input operators only use input 0. A join's `condition`
//!   sees its left input as input 0 and its right input as input 1; a join
//!   outputs `left ++ right` columns (`Semi`/`Anti`: left only; `Left`/
//!   `Right`/`Full` pad the missing side with NULLs).
//! * `SeqScan`/`IndexScan`: `filter` sees the *whole table row* (column =
//!   table column index); the output is the `projection` columns in order,
//!   followed by the row id (`Int8`) when `with_row_id` is set.
//! * `Aggregate` outputs `group_by` values then one column per aggregate.
//!   `Window` outputs its input columns then one column per window call.
//! * `SetOp`, `RecursiveUnion`: inputs of equal width; output has that width.
//! * `WithDml` outputs its input 0 (`main`) unchanged.
//! * Correlation: a subquery expression or the right side of a `lateral`
//!   join is executed once per outer row. [`ExprKind::OuterColumn`]
//!   `{depth: 1, column}` reads the row the enclosing expression is being
//!   evaluated against (for a join condition: `left ++ right`; for the right
//!   side of a lateral join: the current left row); depth 2 is the row
//!   outside that, and so on.
//! * DML operators take their rows from input 0 (see each operator) and
//!   output the `returning` expressions' values (no rows when empty).
//!
//! Nodes and expressions reference each other by index into [`Plan::nodes`]
//! and [`Plan::exprs`]; an index out of range is a planner bug that the
//! executor reports as XX000, never a panic.

use abi_stable::{
    std_types::{ROption, RString, RVec},
    StableAbi,
};

use crate::capability::IsolationLevel;
use crate::catalog::{IndexDef, IndexId, SchemaDef, SequenceDef, TableDef, TableId};
use crate::row::Schema;
use crate::types::DataType;
use crate::value::ops::{BinaryOp, UnaryOp};
use crate::value::Value;

pub type ExprRef = u32;
pub type NodeRef = u32;

#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    /// Result type, as resolved by the planner.
    pub data_type: DataType,
}

#[repr(u8)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub enum ExprKind {
    Const(Value),
    /// `$n` (0-based here).
    Param(u32),
    /// Column `column` of the operator's input `input` (see the module docs).
    Column {
        input: u32,
        column: u32,
    },
    /// A column of an enclosing row (correlated subqueries, lateral joins,
    /// parameterised index probes); see the module docs.
    OuterColumn {
        depth: u32,
        column: u32,
    },
    /// A built-in operator; operands already cast to the types
    /// `value::resolve_binary` chose.
    Binary {
        op: BinaryOp,
        left: ExprRef,
        right: ExprRef,
    },
    Unary {
        op: UnaryOp,
        arg: ExprRef,
    },
    /// `arg [NOT] LIKE|ILIKE pattern [ESCAPE escape]`.
    Like {
        arg: ExprRef,
        pattern: ExprRef,
        escape: ROption<ExprRef>,
        case_insensitive: bool,
        negated: bool,
    },
    /// `arg [NOT] IN (list...)` with SQL's NULL rules.
    InList {
        arg: ExprRef,
        list: RVec<ExprRef>,
        negated: bool,
    },
    /// `left op ANY|ALL (array)`.
    AnyAll {
        op: BinaryOp,
        left: ExprRef,
        array: ExprRef,
        all: bool,
    },
    /// A function of a `sql.functions/1` provider, resolved at plan time.
    Call {
        function: FunctionRef,
        args: RVec<ExprRef>,
    },
    /// A built-in needing the executor (lazy evaluation, session state or
    /// the statement clock).
    Special {
        func: SpecialFunc,
        args: RVec<ExprRef>,
    },
    /// `explicit` selects CAST semantics (varchar(n) truncates) over
    /// assignment semantics (varchar(n) raises 22001).
    Cast {
        arg: ExprRef,
        to: DataType,
        explicit: bool,
    },
    And(RVec<ExprRef>),
    Or(RVec<ExprRef>),
    Not(ExprRef),
    IsNull(ExprRef),
    Case {
        /// `CASE operand WHEN ...` compares `operand = when`.
        operand: ROption<ExprRef>,
        whens: RVec<ExprRef>,
        thens: RVec<ExprRef>,
        otherwise: ROption<ExprRef>,
    },
    /// `ARRAY[...]`
    Array(RVec<ExprRef>),
    /// `arg[index]` (1-based, NULL when out of range).
    Subscript {
        arg: ExprRef,
        index: ExprRef,
    },
    /// A subquery over the plan rooted at `plan` (a node of this plan that
    /// is not reachable from [`Plan::root`] through `inputs`).
    Subquery {
        kind: SubqueryKind,
        plan: NodeRef,
        /// Left operand for `In`, `Any`, `All`.
        arg: ROption<ExprRef>,
    },
}

#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubqueryKind {
    /// One column, at most one row (21000 "more than one row returned by a
    /// subquery used as an expression"); NULL when empty.
    Scalar,
    Exists,
    In,
    /// `arg op ANY (subquery)`.
    Any(BinaryOp),
    /// `arg op ALL (subquery)`.
    All(BinaryOp),
    /// `ARRAY(subquery)`.
    Array,
}

/// Built-ins the executor evaluates itself.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecialFunc {
    Coalesce,
    NullIf,
    Greatest,
    Least,
    /// `now()`, `current_timestamp`, `transaction_timestamp()`: start of the
    /// transaction.
    Now,
    StatementTimestamp,
    ClockTimestamp,
    CurrentDate,
    CurrentTime,
    LocalTimestamp,
    /// `nextval(seq)`: arg 0 is the sequence id (`Int8`) or its name (`Text`,
    /// resolved at run time through the search path).
    NextVal,
    CurrVal,
    /// `setval(seq, value [, is_called])`.
    SetVal,
    /// `current_setting(name)`.
    CurrentSetting,
    CurrentUser,
    CurrentDatabase,
    CurrentSchema,
    Version,
    /// `lastval()`: the session's most recent sequence value.
    LastVal,
    /// A system-catalog function (`pg_get_indexdef`, `format_type`, the
    /// `reg*` text conversions ...), see [`crate::syscat`].
    Catalog(crate::syscat::SysFunc),
}

/// A function resolved at plan time: which provider and which entry.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct FunctionRef {
    /// Registry key of the `sql.functions/1` provider.
    pub provider: RString,
    pub id: u32,
    pub name: RString,
    /// NULL result without a call when any argument is NULL.
    pub strict: bool,
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

/// How an index is probed. `Eq` may give a prefix of the index columns.
/// Probe expressions are evaluated when the scan opens (constants,
/// parameters, outer columns of a parameterised nested loop).
#[repr(u8)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub enum IndexProbe {
    Eq(RVec<ExprRef>),
    Range {
        lower: ROption<Bound>,
        upper: ROption<Bound>,
    },
    /// Every entry in key order (ORDER BY served by the index).
    Full,
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
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggFunc {
    /// `count(*)` (no arguments).
    CountStar,
    Count,
    Sum,
    Avg,
    Min,
    Max,
    /// `string_agg(value, delimiter)`
    StringAgg,
    ArrayAgg,
    BoolAnd,
    BoolOr,
    BitAnd,
    BitOr,
    JsonAgg,
    JsonbAgg,
    /// `json_object_agg(key, value)`
    JsonObjectAgg,
    JsonbObjectAgg,
    StddevSamp,
    StddevPop,
    VarSamp,
    VarPop,
}

/// One aggregate call. Arguments and filter see the aggregate's input row.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct AggCall {
    pub func: AggFunc,
    pub args: RVec<ExprRef>,
    pub distinct: bool,
    pub filter: ROption<ExprRef>,
    /// `string_agg(x, ',' ORDER BY y)`.
    pub order_by: RVec<SortKey>,
    /// Result type (`sum(int4)` is `int8`, `avg(int)` is `numeric`, ...).
    pub result_type: DataType,
}

#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggStrategy {
    /// No GROUP BY: exactly one output row, even over no input.
    Plain,
    Hash,
    /// Input already sorted on the group keys.
    Sorted,
}

#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowFunc {
    RowNumber,
    Rank,
    DenseRank,
    PercentRank,
    CumeDist,
    Ntile,
    /// `lag(value [, offset [, default]])`
    Lag,
    Lead,
    FirstValue,
    LastValue,
    NthValue,
    /// An aggregate used as a window function, over the frame.
    Aggregate(AggFunc),
}

#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameMode {
    Rows,
    Range,
    Groups,
}

#[repr(u8)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub enum FrameBound {
    UnboundedPreceding,
    /// Offset expression (rows, groups, or a value distance for RANGE).
    Preceding(ExprRef),
    CurrentRow,
    Following(ExprRef),
    UnboundedFollowing,
}

/// The frame is always explicit: the planner fills in SQL's defaults
/// (`RANGE UNBOUNDED PRECEDING .. CURRENT ROW` with ORDER BY, the whole
/// partition without).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct WindowFrame {
    pub mode: FrameMode,
    pub start: FrameBound,
    pub end: FrameBound,
}

/// One window function call of a [`Operator::Window`] node; all calls of a
/// node share its PARTITION BY and ORDER BY.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct WindowCall {
    pub func: WindowFunc,
    pub args: RVec<ExprRef>,
    pub filter: ROption<ExprRef>,
    pub frame: WindowFrame,
    pub result_type: DataType,
}

/// Set-returning functions in FROM (`generate_series`, `unnest`,
/// `jsonb_array_elements`, `jsonb_array_elements_text`, `jsonb_each`,
/// `jsonb_each_text`, `jsonb_object_keys`, `generate_subscripts`, and their
/// `json_` twins). The output columns are the planner's declared
/// [`Operator::TableFunction::columns`].
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct TableFunctionCall {
    pub name: RString,
    pub args: RVec<ExprRef>,
}

/// What ON CONFLICT does.
#[repr(u8)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub enum ConflictAction {
    DoNothing,
    /// Assignment values and `filter` see the row `existing ++ excluded`
    /// (two table-width rows; `EXCLUDED.c` is column `width + c`).
    DoUpdate {
        assignments: RVec<Assignment>,
        filter: ROption<ExprRef>,
    },
}

#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct OnConflict {
    /// Arbiter unique index; `RNone` means any unique index or primary key.
    pub index: ROption<IndexId>,
    pub action: ConflictAction,
}

/// A CHECK constraint compiled by the planner; `expr` sees the new table row.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct CheckConstraint {
    pub name: RString,
    pub expr: ExprRef,
}

#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct Assignment {
    pub column: u32,
    pub value: ExprRef,
}

/// Row locks taken by SELECT ... FOR UPDATE / FOR SHARE.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowLockMode {
    None,
    Share,
    Update,
}

#[repr(u8)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub enum Operator {
    SeqScan {
        table: TableId,
        projection: RVec<u32>,
        filter: ROption<ExprRef>,
        with_row_id: bool,
        lock: RowLockMode,
    },
    IndexScan {
        table: TableId,
        index: IndexId,
        probe: IndexProbe,
        projection: RVec<u32>,
        filter: ROption<ExprRef>,
        with_row_id: bool,
        lock: RowLockMode,
        /// Walk the index backwards (ORDER BY ... DESC served by the index).
        reverse: bool,
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
    /// Literal rows (also `SELECT` without FROM: one row of no columns,
    /// then a Project).
    Values {
        rows: RVec<RVec<ExprRef>>,
    },
    TableFunction {
        call: TableFunctionCall,
        columns: Schema,
        ordinality: bool,
    },
    Filter {
        predicate: ExprRef,
    },
    Project {
        exprs: RVec<ExprRef>,
    },
    /// Inputs `[left, right]`. `left_keys`/`right_keys` are the equi-join
    /// keys (left keys see input 0, right keys input 1) used by hash and
    /// merge joins; `condition` is the residual predicate over both.
    /// `lateral`: the right input is re-executed for every left row (see
    /// the module docs); used for LATERAL and parameterised index lookups.
    Join {
        kind: JoinKind,
        method: JoinMethod,
        condition: ROption<ExprRef>,
        left_keys: RVec<ExprRef>,
        right_keys: RVec<ExprRef>,
        lateral: bool,
    },
    Aggregate {
        strategy: AggStrategy,
        group_by: RVec<ExprRef>,
        aggregates: RVec<AggCall>,
    },
    Window {
        partition_by: RVec<ExprRef>,
        order_by: RVec<SortKey>,
        functions: RVec<WindowCall>,
    },
    Sort {
        keys: RVec<SortKey>,
    },
    /// Expressions are constant or parameters; NULL means no limit.
    Limit {
        limit: ROption<ExprRef>,
        offset: ROption<ExprRef>,
    },
    /// `on` empty: whole-row DISTINCT. Otherwise DISTINCT ON: the first row
    /// of each group in input order (the planner sorts first).
    Distinct {
        on: RVec<ExprRef>,
    },
    /// Inputs `[left, right]`.
    SetOp {
        op: SetOpKind,
        all: bool,
    },
    /// Inputs `[anchor, recursive]`: `WITH RECURSIVE`. The recursive input
    /// reads the previous iteration's rows through `WorkTableScan` with the
    /// same `worktable` number. `all = false` (UNION) drops duplicates
    /// across all iterations. Bounded by the recursion limits in
    /// [`crate::capability::ExecContext`].
    RecursiveUnion {
        worktable: u32,
        all: bool,
    },
    /// Reads the rows currently stored in worktable `worktable`: the
    /// previous iteration of a [`Operator::RecursiveUnion`], or the RETURNING
    /// rows of a data-modifying CTE ([`Operator::WithDml`]).
    WorkTableScan {
        worktable: u32,
    },
    /// Data-modifying statements of the statement's top-level WITH. Inputs
    /// `[main, cte_1, .., cte_n]`, each `cte_i` an `Insert`, `Update` or
    /// `Delete` node. Opening it first runs every `cte_i` to completion, in
    /// order, and stores its RETURNING rows in worktable
    /// `ctes[i - 1].worktable`; then it opens `main` and outputs main's
    /// rows. So each data-modifying CTE runs exactly once per statement,
    /// whether `main` reads it (through `WorkTableScan`, any number of
    /// times) or not, and later CTEs may read earlier ones. All of them
    /// share the statement's snapshot: `main` does not see their changes.
    /// The planner puts this node at the root, or as input 0 of a root
    /// `Insert`/`Update`/`Delete`; it is opened once per execution.
    WithDml {
        ctes: RVec<DmlCte>,
    },
    /// Input 0 yields full table rows in column order, already cast to the
    /// column types, with defaults filled in by the planner. The executor
    /// enforces NOT NULL, `checks`, unique indexes (through storage) and
    /// foreign keys, then outputs `returning` evaluated over the new row.
    Insert {
        table: TableId,
        checks: RVec<CheckConstraint>,
        on_conflict: ROption<OnConflict>,
        returning: RVec<ExprRef>,
    },
    /// Input 0 yields `table row (all columns) ++ row id (Int8) ++ extra
    /// columns (UPDATE ... FROM)`; `row_id_column` is the row id's position.
    /// Assignments see that input row. `recheck` (same layout) is
    /// re-evaluated when a concurrent update forced a re-read of the row
    /// (READ COMMITTED). `returning` sees `new table row ++ input row`.
    Update {
        table: TableId,
        row_id_column: u32,
        assignments: RVec<Assignment>,
        checks: RVec<CheckConstraint>,
        recheck: ROption<ExprRef>,
        returning: RVec<ExprRef>,
    },
    /// Input 0 as for `Update`; `returning` sees the input row.
    Delete {
        table: TableId,
        row_id_column: u32,
        recheck: ROption<ExprRef>,
        returning: RVec<ExprRef>,
    },
    /// DDL run by the executor inside the statement's transaction.
    Ddl(DdlAction),
    /// EXPLAIN [ANALYZE] of the plan rooted at input 0. Outputs one text
    /// column `QUERY PLAN`, one row per line.
    Explain {
        analyze: bool,
        verbose: bool,
    },
    /// ANALYZE: refresh the statistics of these tables (all when empty).
    Analyze {
        tables: RVec<TableId>,
    },
    /// Statements the kernel session runs itself (transaction control and
    /// settings); the executor never sees them.
    Utility(Utility),
    /// `COPY table [(columns)] FROM STDIN`: a source that parses the COPY
    /// data handed to the executor as parameter `$1` (a `bytea` the kernel
    /// session collected from the client, not one of `Plan::param_types`)
    /// and outputs one row per data line, each field read with its
    /// column's text input function into the node's `output` types. A bad
    /// line fails the statement with PostgreSQL's error and a CONTEXT
    /// naming `table`, the line and the column. The planner puts it under
    /// an `Insert` (through a `Project` that fills defaults), so the rows
    /// go in as one statement.
    CopyFrom {
        /// The table as the statement named it (CONTEXT lines).
        table_name: RString,
        /// The column names, one per output column (CONTEXT lines).
        columns: RVec<RString>,
        options: CopyOptions,
    },
    /// `COPY table|(query) TO STDOUT`, at the plan root: outputs input 0's
    /// rows unchanged; the surface writes them in `options`' format.
    CopyTo {
        options: CopyOptions,
    },
    /// An operator a plugin added; `payload` is that plugin's to interpret.
    Extension {
        provider: RString,
        name: RString,
        payload: RVec<u8>,
    },
}

/// One data-modifying statement of a top-level WITH (see
/// [`Operator::WithDml`]).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct DmlCte {
    /// The WITH query's name (EXPLAIN).
    pub name: RString,
    /// The worktable its RETURNING rows are stored in.
    pub worktable: u32,
}

#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetOpKind {
    Union,
    Intersect,
    Except,
}

/// DDL as the executor runs it. Names are already resolved; defaults and
/// CHECK expressions stay SQL text in the catalog and are compiled by the
/// planner into each DML plan.
#[repr(u8)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub enum DdlAction {
    CreateSchema {
        schema: SchemaDef,
        if_not_exists: bool,
    },
    DropSchema {
        name: RString,
        if_exists: bool,
        cascade: bool,
    },
    /// Creates `sequences` first (SERIAL / IDENTITY; `owned_by.table` is
    /// filled in once the table has its id), then the table in the catalog
    /// and its storage backend, then `indexes` (primary key and unique
    /// constraints; their `table` is filled in likewise).
    CreateTable {
        table: TableDef,
        sequences: RVec<SequenceDef>,
        indexes: RVec<IndexDef>,
        if_not_exists: bool,
    },
    /// Tables, views and sequences (with `cascade`, dependent foreign keys
    /// and views go too; without, a dependency is 2BP01).
    DropTables {
        tables: RVec<TableId>,
        cascade: bool,
    },
    /// ALTER TABLE: the new definition, plus what the change needs.
    AlterTable {
        new: TableDef,
        /// Value for existing rows of an added column (its default).
        fill: ROption<ExprRef>,
        /// Added CHECK constraints to validate against existing rows.
        validate_checks: RVec<CheckConstraint>,
        /// Indexes to build (ADD PRIMARY KEY / UNIQUE).
        create_indexes: RVec<IndexDef>,
        drop_indexes: RVec<IndexId>,
        /// An added foreign key is validated against existing rows.
        validate_foreign_keys: bool,
        sequences: RVec<SequenceDef>,
    },
    CreateIndex {
        index: IndexDef,
        if_not_exists: bool,
    },
    DropIndexes {
        indexes: RVec<IndexId>,
    },
    /// The view's SQL text is in `view.view_sql`; output columns in
    /// `view.columns`.
    CreateView {
        view: TableDef,
        or_replace: bool,
    },
    CreateSequence {
        sequence: SequenceDef,
        if_not_exists: bool,
    },
    Truncate {
        tables: RVec<TableId>,
        restart_identity: bool,
    },
}

/// The data format of a COPY.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyFormat {
    Text,
    Csv,
    Binary,
}

/// COPY options, with PostgreSQL's defaults filled in for the format.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct CopyOptions {
    pub format: CopyFormat,
    /// One ASCII byte: tab for text, `,` for CSV.
    pub delimiter: u8,
    /// The string that stands for NULL: `\N` for text, empty for CSV.
    pub null: RString,
    /// The first line is a header (skipped on input, written on output).
    pub header: bool,
    /// CSV quote and escape bytes (both `"` by default).
    pub quote: u8,
    pub escape: u8,
    /// CSV output: columns quoted even when not needed (FORCE_QUOTE), by
    /// output position; `force_quote_all` for `FORCE_QUOTE *`.
    pub force_quote: RVec<u32>,
    pub force_quote_all: bool,
}

impl CopyOptions {
    /// PostgreSQL's defaults for `format`.
    pub fn new(format: CopyFormat) -> Self {
        let csv = format == CopyFormat::Csv;
        CopyOptions {
            format,
            delimiter: if csv { b',' } else { b'\t' },
            null: RString::from(if csv { "" } else { "\\N" }),
            header: false,
            quote: b'"',
            escape: b'"',
            force_quote: RVec::new(),
            force_quote_all: false,
        }
    }
}

/// Session-level statements, run by the kernel session.
#[repr(u8)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub enum Utility {
    Begin {
        isolation: ROption<IsolationLevel>,
        read_only: ROption<bool>,
    },
    Commit,
    Rollback,
    Savepoint(RString),
    RollbackToSavepoint(RString),
    ReleaseSavepoint(RString),
    SetTransaction {
        isolation: ROption<IsolationLevel>,
        read_only: ROption<bool>,
    },
    /// `SET [LOCAL] name = value` / `SET name TO DEFAULT` (`value` empty).
    /// List values (search_path) are joined with ", ".
    Set {
        name: RString,
        value: ROption<RString>,
        local: bool,
    },
    Reset(RString),
    /// `SELECT set_config(name, value, is_local)`: SET, then one row with
    /// the new value (the session owns settings, so it runs this itself).
    SetConfig {
        name: RString,
        value: RString,
        local: bool,
    },
    ResetAll,
    Show(RString),
    ShowAll,
    /// CREATE ROLE / CREATE USER (which implies LOGIN). The session runs
    /// role commands: it owns the login state and hashes passwords.
    CreateRole {
        name: RString,
        options: RoleOptions,
    },
    AlterRole {
        name: RString,
        options: RoleOptions,
    },
    RenameRole {
        name: RString,
        new_name: RString,
    },
    DropRole {
        names: RVec<RString>,
        if_exists: bool,
    },
    /// `DEALLOCATE [PREPARE] name` (`None`: ALL): drops named prepared
    /// statements, whether SQL or the extended protocol made them.
    Deallocate(ROption<RString>),
}

/// Role attributes a CREATE/ALTER ROLE statement names; `None` leaves one
/// as it is (ALTER) or at PostgreSQL's default (CREATE).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Default)]
pub struct RoleOptions {
    pub superuser: ROption<bool>,
    pub inherit: ROption<bool>,
    pub create_role: ROption<bool>,
    pub create_db: ROption<bool>,
    pub login: ROption<bool>,
    pub replication: ROption<bool>,
    pub bypass_rls: ROption<bool>,
    pub connection_limit: ROption<i32>,
    /// `PASSWORD 'x'` is `Some(Some(x))` (plaintext, or an existing SCRAM
    /// verifier, which is stored as is); `PASSWORD NULL` is `Some(None)`.
    pub password: ROption<ROption<RString>>,
    /// `VALID UNTIL 'timestamp'` as written (the session reads it in its
    /// TimeZone).
    pub valid_until: ROption<RString>,
}

/// A planned statement.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct PlanNode {
    pub op: Operator,
    pub inputs: RVec<NodeRef>,
    /// Optimizer estimates, shown by EXPLAIN.
    pub est_rows: f64,
    pub est_cost: f64,
    /// Output column types of this node (EXPLAIN VERBOSE, executor checks).
    pub output: RVec<DataType>,
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
    /// Command tag verb (`SELECT`, `INSERT`, `CREATE TABLE`, ...). The
    /// session appends counts (`INSERT 0 3`, `SELECT 2`, `UPDATE 1`).
    pub command: RString,
    /// Catalog version the plan was built against.
    pub catalog_version: u64,
    /// Tables the plan reads or writes (plan-cache invalidation, locks).
    pub tables: RVec<TableId>,
    /// Whether the statement writes (refused in read-only transactions).
    pub writes: bool,
    /// Nonzero: a process-unique id the kernel gives a plan it keeps and
    /// runs repeatedly (prepared statements, its plan cache), so an executor
    /// may keep per-plan state (compiled operators) under it. Planners
    /// leave it 0 (nothing is cached).
    pub cache_id: u64,
    /// Names the query gave scanned relations (`FROM orders o`), by scan
    /// node; EXPLAIN prints them as PostgreSQL does.
    pub aliases: RVec<RelationAlias>,
}

/// The alias of the relation a scan node reads.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct RelationAlias {
    pub node: NodeRef,
    pub alias: RString,
}

impl Plan {
    /// The alias the query gave the relation scan node `n` reads, if any.
    pub fn alias(&self, n: NodeRef) -> Option<&str> {
        self.aliases
            .iter()
            .find(|a| a.node == n)
            .map(|a| a.alias.as_str())
    }

    pub fn node(&self, n: NodeRef) -> Option<&PlanNode> {
        self.nodes.get(n as usize)
    }

    pub fn expr(&self, e: ExprRef) -> Option<&Expr> {
        self.exprs.get(e as usize)
    }

    /// The COPY options and direction (`true`: FROM STDIN) of a COPY plan.
    pub fn copy(&self) -> Option<(&CopyOptions, bool)> {
        match self.node(self.root).map(|n| &n.op) {
            Some(Operator::CopyTo { options }) => return Some((options, false)),
            Some(Operator::Insert { .. }) if self.command.as_str() == "COPY" => {}
            _ => return None,
        }
        self.nodes.iter().find_map(|n| match &n.op {
            Operator::CopyFrom { options, .. } => Some((options, true)),
            _ => None,
        })
    }

    /// The utility statement this plan is, if any.
    pub fn utility(&self) -> Option<&Utility> {
        match self.node(self.root).map(|n| &n.op) {
            Some(Operator::Utility(u)) => Some(u),
            _ => None,
        }
    }
}
