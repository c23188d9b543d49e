//! Capability interfaces. A capability is a named interface with a major
//! version; plugins provide them, the kernel keeps them in its registry.
//!
//! Every method returns [`AResult`] so that a guarded wrapper can turn a
//! panic into an XX000 error instead of aborting the process (see
//! [`crate::plugin::Provided`], which wraps every provider it is given).

use abi_stable::{
    sabi_trait,
    std_types::{RArc, RBox, ROption, RSlice, RStr, RString, RVec},
    StableAbi,
};

use crate::catalog::{CatalogRef, IndexDef, IndexId, KeyValue, TableDef, TableId};
use crate::error::AResult;
use crate::host::HostRef;
use crate::plan::Plan;
use crate::plugin::{FunctionSetBox, ParserBox, StorageBackendBox};
use crate::row::{RowBatch, Schema};
use crate::syntax::SyntaxTree;
use crate::types::DataType;
use crate::value::Value;

/// A capability name and major version, e.g. `sql.parser/1`.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CapabilityId {
    pub name: RString,
    pub major: u32,
}

impl CapabilityId {
    pub fn new(name: &str, major: u32) -> Self {
        CapabilityId {
            name: RString::from(name),
            major,
        }
    }
}

impl std::fmt::Display for CapabilityId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.name, self.major)
    }
}

/// How many providers a capability admits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cardinality {
    /// Exactly one provider may be loaded (the SQL pipeline stages).
    One,
    /// Many providers, each under a distinct key (backend, method, set name).
    Keyed,
}

/// A capability this SDK defines.
#[derive(Clone, Copy, Debug)]
pub struct KnownCapability {
    pub name: &'static str,
    pub major: u32,
    pub cardinality: Cardinality,
    pub summary: &'static str,
}

pub const SQL_PARSER: &str = "sql.parser";
pub const SQL_PLANNER: &str = "sql.planner";
pub const SQL_EXECUTOR: &str = "sql.executor";
pub const STORAGE_BACKEND: &str = "storage.backend";
pub const INDEX_METHOD: &str = "index.method";
pub const SQL_FUNCTIONS: &str = "sql.functions";
pub const SQL_TYPES: &str = "sql.types";
pub const SQL_OPERATORS: &str = "sql.operators";
pub const SURFACE: &str = "surface";

/// Every capability and major version this SDK (and so the kernel) knows.
pub const KNOWN_CAPABILITIES: &[KnownCapability] = &[
    KnownCapability {
        name: SQL_PARSER,
        major: 1,
        cardinality: Cardinality::One,
        summary: "SQL text to syntax trees",
    },
    KnownCapability {
        name: SQL_PLANNER,
        major: 1,
        cardinality: Cardinality::One,
        summary: "binder, type checker, logical planner, optimizer",
    },
    KnownCapability {
        name: SQL_EXECUTOR,
        major: 1,
        cardinality: Cardinality::One,
        summary: "runs plans against storage and index methods",
    },
    KnownCapability {
        name: STORAGE_BACKEND,
        major: 1,
        cardinality: Cardinality::Keyed,
        summary: "table storage: in_memory, durable, disk, page_engine, lsm",
    },
    KnownCapability {
        name: INDEX_METHOD,
        major: 1,
        cardinality: Cardinality::Keyed,
        summary: "index access methods: btree, hnsw, adjacency",
    },
    KnownCapability {
        name: SQL_FUNCTIONS,
        major: 1,
        cardinality: Cardinality::Keyed,
        summary: "scalar functions",
    },
    KnownCapability {
        name: SQL_TYPES,
        major: 1,
        cardinality: Cardinality::Keyed,
        summary: "SQL types beyond the built-ins",
    },
    KnownCapability {
        name: SQL_OPERATORS,
        major: 1,
        cardinality: Cardinality::Keyed,
        summary: "SQL operators such as <->",
    },
    KnownCapability {
        name: SURFACE,
        major: 1,
        cardinality: Cardinality::Keyed,
        summary: "external surfaces: pgwire, http",
    },
];

/// Looks a capability up by name and major version.
pub fn known_capability(name: &str, major: u32) -> Option<&'static KnownCapability> {
    KNOWN_CAPABILITIES
        .iter()
        .find(|k| k.name == name && k.major == major)
}

// ---------------------------------------------------------------- sql.parser/1

/// `sql.parser/1`: turns a query string into one syntax tree per statement.
#[sabi_trait]
pub trait Parser: Send + Sync {
    #[sabi(last_prefix_field)]
    fn parse(&self, sql: RStr<'_>) -> AResult<RVec<SyntaxTree>>;
}

// --------------------------------------------------------------- sql.planner/1

/// A storage backend as the session hands it to the planner and executor.
#[repr(C)]
#[derive(StableAbi, Clone)]
pub struct StorageHandle {
    /// Registry key (`in_memory`, `durable`, ...), as in `TableDef::storage_backend`.
    pub key: RString,
    pub backend: RArc<StorageBackendBox>,
}

/// A function provider as the session hands it to the planner and executor.
#[repr(C)]
#[derive(StableAbi, Clone)]
pub struct FunctionsHandle {
    /// Registry key, as in `FunctionRef::provider`.
    pub key: RString,
    pub set: RArc<FunctionSetBox>,
}

/// The providers a statement may use, built once by the kernel and shared
/// (cheap clones) with the planner and executor. Cursors may keep a clone.
#[repr(C)]
#[derive(StableAbi, Clone)]
pub struct Services {
    pub catalog: RArc<CatalogRef>,
    /// The parser, for SQL text stored in the catalog (views, defaults,
    /// CHECK constraints).
    pub parser: RArc<ParserBox>,
    pub storages: RVec<StorageHandle>,
    /// Key of the backend new tables go to.
    pub default_storage: RString,
    pub functions: RVec<FunctionsHandle>,
}

impl Services {
    pub fn storage(&self, key: &str) -> Option<&StorageBackendBox> {
        self.storages
            .iter()
            .find(|s| s.key.as_str() == key)
            .map(|s| &*s.backend)
    }

    pub fn functions(&self, key: &str) -> Option<&FunctionSetBox> {
        self.functions
            .iter()
            .find(|f| f.key.as_str() == key)
            .map(|f| &*f.set)
    }
}

/// Session state the planner needs to bind names and types.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct PlanContext {
    pub search_path: RVec<RString>,
    pub user: RString,
    pub database: RString,
    /// Types of parameters the client declared (`Unknown` to infer).
    pub param_types: RVec<DataType>,
}

/// `sql.planner/1`: binder, type checker, logical planner and optimizer.
#[sabi_trait]
pub trait Planner: Send + Sync {
    #[sabi(last_prefix_field)]
    fn plan(&self, ctx: &PlanContext, services: &Services, statement: &SyntaxTree)
        -> AResult<Plan>;
}

// -------------------------------------------------------------- sql.executor/1

/// Transaction isolation levels, PostgreSQL's names.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum IsolationLevel {
    ReadCommitted,
    RepeatableRead,
    Serializable,
}

impl IsolationLevel {
    /// The name PostgreSQL prints (`SHOW transaction_isolation`).
    pub fn name(&self) -> &'static str {
        match self {
            IsolationLevel::ReadCommitted => "read committed",
            IsolationLevel::RepeatableRead => "repeatable read",
            IsolationLevel::Serializable => "serializable",
        }
    }
}

pub type TxnId = u64;
pub type RowId = u64;

/// The transaction id of an autocommit read: a statement that writes
/// nothing, reads one table through one scan and runs alone, which a
/// backend whose [`BackendInfo::autocommit_reads`] is set serves without a
/// transaction of its own (no `begin`, no `commit`). `scan`, `index_scan`
/// and `fetch` then read the latest committed state as one snapshot (a
/// cursor keeps its snapshot to the end); a table with an uncommitted
/// exclusive change (DDL) fails the call with 55P03 instead of waiting,
/// and the caller runs the statement in a real transaction, which waits
/// under the statement's lock and statement timeouts.
pub const AUTOCOMMIT_READ: TxnId = 0;

/// What one statement runs in. Times are microseconds since 2000-01-01 UTC
/// (PostgreSQL's epoch); limits of 0 mean unlimited.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct ExecContext {
    pub txn: TxnId,
    pub isolation: IsolationLevel,
    pub read_only: bool,
    pub txn_start: i64,
    pub statement_start: i64,
    /// Wall-clock deadline (Unix epoch microseconds) from statement_timeout;
    /// past it the statement fails with 57014.
    pub deadline_unix_us: u64,
    /// Row lock waits longer than this fail with 55P03.
    pub lock_timeout_ms: u64,
    pub max_result_rows: u64,
    pub max_result_bytes: u64,
    /// Memory a statement may hold in sorts, hash tables and buffers
    /// (54000 "out of memory" style error beyond it, never an OOM kill).
    pub memory_limit_bytes: u64,
    pub max_recursive_rows: u64,
    pub max_recursive_iterations: u64,
    /// Fixed for a session (`session` below).
    pub user: RString,
    /// Fixed for a session.
    pub database: RString,
    /// The `search_path` setting, split. It changes only together with
    /// `settings` (a new `RArc`), so an executor keeping a copy may skip
    /// comparing it while the session and the settings object are the same.
    pub search_path: RVec<RString>,
    /// Session settings (`current_setting`), shared between statements;
    /// any change replaces the whole `RArc`.
    pub settings: RArc<RVec<KeyValue>>,
    /// The kernel session running the statement: the key of per-session
    /// state kept elsewhere (`currval`, `lastval`).
    pub session: u64,
    /// Set when the client asks to cancel the running statement; checked
    /// where the deadline is (57014 "canceling statement due to user
    /// request").
    pub cancel: CancelFlag,
}

/// A statement's cancel request, shared between the session running it
/// and whoever may cancel it (a pgwire CancelRequest arrives on another
/// connection while the session is busy, so it cannot go through the
/// session itself). Cloning shares the flag; the default is a flag nobody
/// can set, which costs no allocation.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, Default)]
pub struct CancelFlag {
    flag: ROption<RArc<std::sync::atomic::AtomicBool>>,
}

impl CancelFlag {
    /// A flag that can be set.
    pub fn new() -> Self {
        CancelFlag {
            flag: ROption::RSome(RArc::new(std::sync::atomic::AtomicBool::new(false))),
        }
    }

    /// Whether both are the same flag (or both the default one).
    #[inline]
    pub fn same(&self, other: &CancelFlag) -> bool {
        match (&self.flag, &other.flag) {
            (ROption::RSome(a), ROption::RSome(b)) => std::ptr::eq(&**a, &**b),
            (ROption::RNone, ROption::RNone) => true,
            _ => false,
        }
    }

    /// Whether a cancel was asked for since the last [`Self::reset`].
    #[inline]
    pub fn is_set(&self) -> bool {
        match &self.flag {
            ROption::RSome(f) => f.load(std::sync::atomic::Ordering::Relaxed),
            ROption::RNone => false,
        }
    }

    pub fn set(&self) {
        if let ROption::RSome(f) = &self.flag {
            f.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Forgets a cancel that arrived while nothing was running, so it
    /// cannot hit the next statement.
    pub fn reset(&self) {
        if let ROption::RSome(f) = &self.flag {
            f.store(false, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// The error a canceled statement fails with.
    pub fn error() -> crate::error::AionError {
        crate::error::AionError::new(
            crate::error::SqlState::QUERY_CANCELED,
            "canceling statement due to user request",
        )
    }

    /// `Err(57014)` once a cancel was asked for.
    #[inline]
    pub fn check(&self) -> crate::error::DbResult<()> {
        if self.is_set() {
            Err(Self::error())
        } else {
            Ok(())
        }
    }
}

/// Two flags are equal when they are the same flag.
impl PartialEq for CancelFlag {
    fn eq(&self, other: &Self) -> bool {
        match (&self.flag, &other.flag) {
            (ROption::RSome(a), ROption::RSome(b)) => std::ptr::eq(&**a, &**b),
            (ROption::RNone, ROption::RNone) => true,
            _ => false,
        }
    }
}

/// Rows of a running statement, pulled in batches so portals can stop after
/// `max_rows` and resume.
#[sabi_trait]
pub trait RowCursor: Send {
    fn schema(&self) -> AResult<Schema>;
    /// The next batch of at most `max_rows` rows (0 = backend's choice);
    /// `RNone` when exhausted.
    fn next_batch(&mut self, max_rows: u32) -> AResult<ROption<RowBatch>>;
    /// Rows affected so far, for the command tag.
    #[sabi(last_prefix_field)]
    fn rows_affected(&self) -> AResult<u64>;
}

pub type RowCursorBox = RowCursor_TO<'static, RBox<()>>;

/// `sql.executor/1`: runs a plan and returns its rows. DML and DDL do their
/// work before `execute` returns (the cursor then yields RETURNING rows);
/// queries may stream.
#[sabi_trait]
pub trait Executor: Send + Sync {
    #[sabi(last_prefix_field)]
    fn execute(
        &self,
        ctx: &ExecContext,
        services: &Services,
        plan: &Plan,
        params: RSlice<'_, Value>,
    ) -> AResult<RowCursorBox>;
    /// Runs the plan to completion, appending its rows to `out` (whose
    /// width is the plan's output width); returns the rows affected. For
    /// callers that want the whole result: no cursor object per statement.
    fn run(
        &self,
        ctx: &ExecContext,
        services: &Services,
        plan: &Plan,
        params: RSlice<'_, Value>,
        out: &mut RowBatch,
    ) -> AResult<u64>;
}

// ----------------------------------------------------------- storage.backend/1

/// What a storage backend offers, so the planner and kernel can negotiate.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct BackendInfo {
    pub persistent: bool,
    pub mvcc: bool,
    pub max_isolation: IsolationLevel,
    /// Index methods the backend maintains itself (`btree`).
    pub index_methods: RVec<RString>,
    /// `scan`, `index_scan` and `fetch` accept [`AUTOCOMMIT_READ`].
    pub autocommit_reads: bool,
}

/// Where and how a backend opens.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct StorageOptions {
    /// Data directory; `RNone` for ephemeral deployments.
    pub data_dir: ROption<RString>,
    pub allow_unencrypted: bool,
    /// Memory ceiling for the backend's data (0 = unlimited).
    pub memory_limit_bytes: u64,
}

#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct ScanRequest {
    /// Columns to return, in order; empty means all.
    pub projection: RVec<u32>,
    /// Restrict to these rows (from an index); `RNone` scans all.
    pub row_ids: ROption<RVec<RowId>>,
    /// Include the row id as a trailing Int8 column.
    pub with_row_ids: bool,
    /// Read the newest committed version (or the transaction's own) instead
    /// of the snapshot: used after locking a row in READ COMMITTED.
    pub latest: bool,
}

#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq)]
pub struct TableStats {
    pub row_count: u64,
    pub total_bytes: u64,
}

/// How long a transaction may wait for a row lock.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Default)]
pub struct LockWait {
    /// 0 = wait forever (subject to `deadline_unix_us`). Timeout -> 55P03.
    pub timeout_ms: u64,
    /// Statement deadline, Unix epoch microseconds (0 = none). -> 57014.
    pub deadline_unix_us: u64,
    /// The statement's cancel request: a wait ends with 57014 once set.
    pub cancel: CancelFlag,
}

impl LockWait {
    /// Makes `self` equal to `other` without touching the cancel flag's
    /// reference count when both already share it (per statement, the
    /// usual case: a session's flag never changes).
    #[inline]
    pub fn assign_from(&mut self, other: &LockWait) {
        self.timeout_ms = other.timeout_ms;
        self.deadline_unix_us = other.deadline_unix_us;
        if !self.cancel.same(&other.cancel) {
            self.cancel = other.cancel.clone();
        }
    }
}

/// Result of locking a row.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockOutcome {
    /// Locked; the row is as the statement's snapshot saw it.
    Locked,
    /// Locked, but a transaction that committed after the snapshot changed
    /// it (READ COMMITTED only: re-read with `latest` and recheck; other
    /// levels get 40001 instead).
    LockedChanged,
    /// A concurrent committed transaction deleted the row (READ COMMITTED;
    /// other levels get 40001).
    Deleted,
}

/// `storage.backend/1`: tables, rows, btree indexes and transactions.
///
/// MVCC: a row id names a logical row and stays stable across UPDATE. Each
/// statement calls `begin_statement` first; in READ COMMITTED it takes a
/// fresh snapshot; a statement never sees rows it wrote itself during that
/// same statement (no Halloween problem). `update`/`delete` require the row
/// to be locked by `txn` (`lock_row`), and unique indexes are enforced by
/// the backend on insert/update (23505, waiting for an in-progress
/// conflicting inserter as PostgreSQL does). Lock waits detect deadlocks
/// (40P01). Under SERIALIZABLE the backend tracks reads and fails commits
/// that would make a non-serializable history (40001).
#[sabi_trait]
pub trait StorageBackend: Send + Sync {
    fn info(&self) -> AResult<BackendInfo>;
    fn open(&self, options: &StorageOptions) -> AResult<()>;
    fn begin(&self, isolation: IsolationLevel, read_only: bool) -> AResult<TxnId>;
    /// Starts a statement; `wait` bounds the lock waits it may make where
    /// the call itself carries no limit (table locks, unique checks).
    fn begin_statement(&self, txn: TxnId, wait: &LockWait) -> AResult<()>;
    fn commit(&self, txn: TxnId) -> AResult<()>;
    fn rollback(&self, txn: TxnId) -> AResult<()>;
    fn savepoint(&self, txn: TxnId, name: RStr<'_>) -> AResult<()>;
    fn rollback_to_savepoint(&self, txn: TxnId, name: RStr<'_>) -> AResult<()>;
    fn release_savepoint(&self, txn: TxnId, name: RStr<'_>) -> AResult<()>;
    fn create_table(&self, txn: TxnId, table: &TableDef) -> AResult<()>;
    /// Rewrites rows for the new definition; an added column gets `fill`.
    fn alter_table(&self, txn: TxnId, old: &TableDef, new: &TableDef, fill: &Value) -> AResult<()>;
    fn drop_table(&self, txn: TxnId, table: TableId) -> AResult<()>;
    fn truncate(&self, txn: TxnId, table: TableId) -> AResult<()>;
    /// Builds the index over existing rows (23505 if a unique one is violated).
    fn create_index(&self, txn: TxnId, index: &IndexDef, table: &TableDef) -> AResult<()>;
    fn drop_index(&self, txn: TxnId, table: TableId, index: IndexId) -> AResult<()>;
    /// Inserts `rows` and appends their new ids to `ids`, in row order
    /// (caller-owned, so a caller inserting row by row reuses one buffer).
    /// On an error, `ids` holds the rows inserted before it.
    fn insert(
        &self,
        txn: TxnId,
        table: TableId,
        rows: &RowBatch,
        ids: &mut RVec<RowId>,
    ) -> AResult<()>;
    fn lock_row(
        &self,
        txn: TxnId,
        table: TableId,
        row: RowId,
        exclusive: bool,
        wait: &LockWait,
    ) -> AResult<LockOutcome>;
    /// Replaces whole rows (full table width, in `row_ids` order).
    fn update(
        &self,
        txn: TxnId,
        table: TableId,
        row_ids: RSlice<'_, RowId>,
        rows: &RowBatch,
    ) -> AResult<u64>;
    fn delete(&self, txn: TxnId, table: TableId, row_ids: RSlice<'_, RowId>) -> AResult<u64>;
    fn scan(&self, txn: TxnId, table: TableId, request: &ScanRequest) -> AResult<RowCursorBox>;
    /// Rows visible to `txn` whose key matches, in key order (reversed when
    /// `reverse`). Entries whose row no longer has that key are skipped.
    fn index_scan(
        &self,
        txn: TxnId,
        table: TableId,
        index: IndexId,
        query: &IndexQuery,
        request: &ScanRequest,
        reverse: bool,
    ) -> AResult<RowCursorBox>;
    /// Cheap counts; `txn` 0 means "latest committed" (planner estimates).
    fn stats(&self, txn: TxnId, table: TableId) -> AResult<TableStats>;
    fn checkpoint(&self) -> AResult<()>;
    #[sabi(last_prefix_field)]
    fn close(&self) -> AResult<()>;
    /// `begin` and the first `begin_statement` in one call: what a
    /// single-statement (autocommit) transaction needs, with one round
    /// through the transaction manager instead of two.
    fn begin_with_statement(
        &self,
        isolation: IsolationLevel,
        read_only: bool,
        wait: &LockWait,
    ) -> AResult<TxnId>;
    /// Point lookup: appends to `out` the rows visible to `txn` whose key
    /// in `index` equals `key` on every index column, shaped as `request`
    /// asks (projection, trailing row id). Same rows as `index_scan` with
    /// `IndexQuery::Eq`, without a cursor: the path of primary-key reads.
    /// `out` must have the request's width.
    fn fetch(
        &self,
        txn: TxnId,
        table: TableId,
        index: IndexId,
        key: RSlice<'_, Value>,
        request: &ScanRequest,
        out: &mut RowBatch,
    ) -> AResult<()>;
    /// Persists kernel catalog entries with `txn`: written with its commit
    /// (a rollback forgets them), or at once when `txn` is 0 (sequence
    /// state, which PostgreSQL does not roll back either). Volatile
    /// backends ignore them.
    fn log_catalog(&self, txn: TxnId, entries: RSlice<'_, CatalogEntry>) -> AResult<()>;
    /// After `open`: the newest committed value of every catalog entry the
    /// backend persisted, for the kernel to load. Empty for a new or
    /// volatile store.
    fn recovered_catalog(&self) -> AResult<RVec<CatalogEntry>>;
}

/// One kernel catalog entry as a persistent backend keeps it: an opaque key
/// and the entry's newest value (`RNone` once it was dropped). Only the
/// kernel interprets either.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct CatalogEntry {
    pub key: RVec<u8>,
    pub value: ROption<RVec<u8>>,
}

// -------------------------------------------------------------- index.method/1

#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct IndexMethodInfo {
    pub supports_unique: bool,
    /// Answers range probes in key order (btree).
    pub ordered: bool,
    /// Distance operators it can answer k-NN for (`<->`, `<=>`, `<#>`).
    pub distance_operators: RVec<RString>,
}

/// A query against one index.
#[repr(u8)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub enum IndexQuery {
    /// Equality on all index columns or a prefix of them.
    Eq(RVec<Value>),
    /// Every entry, in key order.
    All,
    Range {
        lower: ROption<RVec<Value>>,
        lower_inclusive: bool,
        upper: ROption<RVec<Value>>,
        upper_inclusive: bool,
    },
    Knn {
        query: Value,
        k: u32,
        operator: RString,
        ef_search: u32,
    },
    Neighbors {
        node: RVec<Value>,
        outgoing: bool,
    },
}

#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq)]
pub struct IndexHit {
    pub row: RowId,
    /// Distance for k-NN queries, 0 otherwise.
    pub distance: f64,
}

/// One built index.
#[sabi_trait]
pub trait IndexInstance: Send + Sync {
    fn insert(&self, txn: TxnId, key: RSlice<'_, Value>, row: RowId) -> AResult<()>;
    fn delete(&self, txn: TxnId, key: RSlice<'_, Value>, row: RowId) -> AResult<()>;
    #[sabi(last_prefix_field)]
    fn search(&self, txn: TxnId, query: &IndexQuery) -> AResult<RVec<IndexHit>>;
}

pub type IndexInstanceBox = IndexInstance_TO<'static, RBox<()>>;

/// `index.method/1`: an index access method.
#[sabi_trait]
pub trait IndexMethod: Send + Sync {
    fn info(&self) -> AResult<IndexMethodInfo>;
    #[sabi(last_prefix_field)]
    fn create(&self, index: &IndexDef, table: &TableDef) -> AResult<IndexInstanceBox>;
}

// ----------------------------------------- sql.functions/1 sql.types/1 sql.operators/1

#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Volatility {
    Immutable,
    Stable,
    Volatile,
}

/// A scalar function a provider offers.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct FunctionSignature {
    /// Provider-local id passed back to `call`.
    pub id: u32,
    pub name: RString,
    pub args: RVec<DataType>,
    /// Accepts any number of trailing arguments of the last type.
    pub variadic: bool,
    pub returns: DataType,
    pub volatility: Volatility,
    /// Returns NULL without being called when any argument is NULL.
    pub strict: bool,
}

/// `sql.functions/1`: scalar SQL functions.
#[sabi_trait]
pub trait FunctionSet: Send + Sync {
    fn functions(&self) -> AResult<RVec<FunctionSignature>>;
    #[sabi(last_prefix_field)]
    fn call(&self, id: u32, args: RSlice<'_, Value>) -> AResult<Value>;
    /// `call` in a session whose `TimeZone` setting is `time_zone`: what
    /// functions over `timestamptz` (date_trunc, extract, to_char, ...)
    /// compute local time in. `call` means UTC.
    /// Sets whose functions do not depend on the zone keep this default.
    fn call_in(&self, id: u32, args: RSlice<'_, Value>, time_zone: RStr<'_>) -> AResult<Value> {
        let _ = time_zone;
        self.call(id, args)
    }
}

/// A type a provider registers.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct TypeDef {
    pub name: RString,
    /// OID at or above [`crate::types::FIRST_EXT_OID`]; the kernel checks it.
    pub oid: u32,
    pub array_oid: u32,
    /// Fixed length in bytes, or -1 for variable length.
    pub typlen: i16,
}

/// `sql.types/1`: types with text input and output.
#[sabi_trait]
pub trait TypeProvider: Send + Sync {
    fn types(&self) -> AResult<RVec<TypeDef>>;
    fn input(&self, oid: u32, typmod: i32, text: RStr<'_>) -> AResult<Value>;
    #[sabi(last_prefix_field)]
    fn output(&self, value: &Value) -> AResult<RString>;
}

#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct OperatorDef {
    pub id: u32,
    pub symbol: RString,
    pub left: DataType,
    pub right: DataType,
    pub returns: DataType,
    /// Index method that can answer `ORDER BY a <op> b LIMIT k`, if any.
    pub ordering_index_method: ROption<RString>,
}

/// `sql.operators/1`: binary operators.
#[sabi_trait]
pub trait OperatorSet: Send + Sync {
    fn operators(&self) -> AResult<RVec<OperatorDef>>;
    #[sabi(last_prefix_field)]
    fn call(&self, id: u32, left: &Value, right: &Value) -> AResult<Value>;
}

// ------------------------------------------------------------------- surface/1

/// `surface/1`: an external surface (pgwire, HTTP). Surfaces run their own
/// network I/O; `start` returns once listening, `stop` drains and returns
/// when every connection is closed.
#[sabi_trait]
pub trait Surface: Send + Sync {
    fn start(&self, host: HostRef) -> AResult<()>;
    #[sabi(last_prefix_field)]
    fn stop(&self) -> AResult<()>;
}

/// Optional per-plugin lifecycle hooks, called in dependency order at start
/// and in reverse order at stop.
#[sabi_trait]
pub trait Lifecycle: Send + Sync {
    fn start(&self, host: HostRef) -> AResult<()>;
    #[sabi(last_prefix_field)]
    fn stop(&self) -> AResult<()>;
}
