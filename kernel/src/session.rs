//! Sessions: the one entry point through which every surface (pgwire, HTTP,
//! embedded) runs SQL. A session owns the transaction state machine
//! (implicit transactions, blocks, the aborted state), session settings,
//! limits and the plan cache; parsing, planning, execution and storage are
//! reached only through the capability registry.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::time::Instant;

use abi_stable::std_types::{RArc, ROption, RSlice, RStr, RString, RVec};
use aiondb_sdk::capability::{
    CancelFlag, ExecContext, FunctionsHandle, IsolationLevel, LockWait, PlanContext, Services,
    StorageHandle, StorageOptions, TxnId, AUTOCOMMIT_READ, SQL_EXECUTOR, SQL_FUNCTIONS, SQL_PARSER,
    SQL_PLANNER, STORAGE_BACKEND,
};
use aiondb_sdk::catalog::{Catalog_TO, KeyValue};
use aiondb_sdk::error::{AionError, DbResult, Severity, SqlState};
use aiondb_sdk::plan::{ExprKind, Operator, Plan, RowLockMode, Utility};
use aiondb_sdk::plugin::{ProviderObject, StorageBackendBox};
use aiondb_sdk::row::{Field, RowBatch, Schema};
use aiondb_sdk::surface::CopyState;
use aiondb_sdk::syntax::SyntaxTree;
use aiondb_sdk::types::DataType;
use aiondb_sdk::value::{DateStyle, FormatOptions, TimeZone, Value, PG_EPOCH_MICROS_FROM_UNIX};

use crate::catalog::{self, KernelCatalog, UndoEntry};
use crate::config::{keys, Config};
use crate::litnorm::{self, Literal, Normalized};
use crate::registry::{Provider, Registry};
use crate::sql_metrics::{CommandKind, SessionCounters, SqlMetrics};
use crate::tag::Tag;

#[path = "session_roles.rs"]
mod roles;
pub(crate) use roles::is_scram_verifier;

/// Limits from `AIONDB_LIMITS_*`, applied to every statement.
#[derive(Clone, Debug, Default)]
pub struct Limits {
    pub statement_timeout_ms: u64,
    pub lock_timeout_ms: u64,
    pub max_result_rows: u64,
    pub max_result_bytes: u64,
    pub statement_memory_bytes: u64,
    pub recursive_max_rows: u64,
    pub recursive_max_iterations: u64,
}

impl Limits {
    pub fn from_config(config: &Config) -> Self {
        let get = |k: &str| config.u64(k).unwrap_or(0);
        Limits {
            statement_timeout_ms: get(keys::LIMITS_STATEMENT_TIMEOUT_MS),
            lock_timeout_ms: get(keys::LIMITS_LOCK_TIMEOUT_MS),
            max_result_rows: get(keys::LIMITS_MAX_RESULT_ROWS),
            max_result_bytes: get(keys::LIMITS_MAX_RESULT_BYTES),
            statement_memory_bytes: get(keys::LIMITS_STATEMENT_MEMORY_BYTES),
            recursive_max_rows: get(keys::LIMITS_RECURSIVE_CTE_MAX_ROWS),
            recursive_max_iterations: get(keys::LIMITS_RECURSIVE_CTE_MAX_ITERATIONS),
        }
    }
}

/// The SQL pipeline, resolved once from the registry when the kernel starts.
pub struct Engine {
    parser: Arc<Provider>,
    planner: Arc<Provider>,
    executor: Arc<Provider>,
    services: Services,
    limits: Limits,
    storage_key: String,
    /// The backend of `storage_key`, resolved once (every statement uses it).
    storage: RArc<StorageBackendBox>,
    /// The concrete catalog, for undoing a rolled-back transaction's DDL.
    kernel_catalog: RArc<KernelCatalog>,
    metrics: Arc<SqlMetrics>,
    /// The backend persists data: committing DDL logs catalog entries.
    persistent: bool,
    /// The backend serves reads without a transaction (`AUTOCOMMIT_READ`).
    autocommit_reads: bool,
}

fn missing(capability: &str) -> AionError {
    AionError::new(
        SqlState::FEATURE_NOT_SUPPORTED,
        format!("no plugin provides {capability}/1, so this deployment cannot run SQL"),
    )
    .with_hint(
        "load the SQL engine plugins (sql-parser, sql-planner, sql-executor and a storage backend)",
    )
}

impl Engine {
    /// Resolves the pipeline and opens the storage backend `storage_key`.
    pub(crate) fn build(
        registry: &Registry,
        catalog: Catalog_TO<'static, RArc<()>>,
        kernel_catalog: RArc<KernelCatalog>,
        config: &Config,
        storage_key: &str,
        data_dir: Option<String>,
        metrics: Arc<SqlMetrics>,
    ) -> DbResult<Engine> {
        let parser = registry
            .single(SQL_PARSER, 1)
            .cloned()
            .ok_or_else(|| missing(SQL_PARSER))?;
        let planner = registry
            .single(SQL_PLANNER, 1)
            .cloned()
            .ok_or_else(|| missing(SQL_PLANNER))?;
        let executor = registry
            .single(SQL_EXECUTOR, 1)
            .cloned()
            .ok_or_else(|| missing(SQL_EXECUTOR))?;
        let parser_obj = match parser.object() {
            ProviderObject::Parser(p) => p.clone(),
            _ => return Err(missing(SQL_PARSER)),
        };
        let mut storages = RVec::new();
        for p in registry.providers(STORAGE_BACKEND, 1) {
            if let ProviderObject::StorageBackend(s) = p.object() {
                storages.push(StorageHandle {
                    key: RString::from(p.key.as_str()),
                    backend: s.clone(),
                });
            }
        }
        let mut functions = RVec::new();
        for p in registry.providers(SQL_FUNCTIONS, 1) {
            if let ProviderObject::Functions(f) = p.object() {
                functions.push(FunctionsHandle {
                    key: RString::from(p.key.as_str()),
                    set: f.clone(),
                });
            }
        }
        let Some(storage) = storages
            .iter()
            .find(|s| s.key.as_str() == storage_key)
            .cloned()
        else {
            let loaded: Vec<&str> = storages.iter().map(|s| s.key.as_str()).collect();
            return Err(AionError::new(
                SqlState::FEATURE_NOT_SUPPORTED,
                format!(
                    "storage backend \"{storage_key}\" is not loaded (loaded: {})",
                    if loaded.is_empty() {
                        "none".to_string()
                    } else {
                        loaded.join(", ")
                    }
                ),
            ));
        };
        let options = StorageOptions {
            data_dir: data_dir.map(RString::from).into(),
            allow_unencrypted: config.bool(keys::ALLOW_UNENCRYPTED_STORAGE),
            memory_limit_bytes: config.u64(keys::STORAGE_MEMORY_LIMIT_BYTES).unwrap_or(0),
        };
        storage.backend.open(&options).into_result()?;
        let info = storage.backend.info().into_result()?;
        let (persistent, autocommit_reads) = (info.persistent, info.autocommit_reads);
        if persistent {
            let recovered = storage.backend.recovered_catalog().into_result()?;
            if !recovered.is_empty() {
                kernel_catalog.load(&recovered)?;
                log::info!("catalog recovered: {} entries", recovered.len());
            }
            let backend = storage.backend.clone();
            kernel_catalog.set_sequence_log(Box::new(move |entries| {
                backend
                    .log_catalog(0, RSlice::from_slice(entries))
                    .into_result()
            }));
        }
        let services = Services {
            catalog: RArc::new(catalog),
            parser: parser_obj,
            storages,
            default_storage: RString::from(storage_key),
            functions,
        };
        Ok(Engine {
            parser,
            planner,
            executor,
            services,
            limits: Limits::from_config(config),
            storage_key: storage_key.to_string(),
            storage: storage.backend,
            kernel_catalog,
            metrics,
            persistent,
            autocommit_reads,
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Closes the storage backend (errors are logged: shutdown goes on).
    pub fn close_storage(&self) {
        if self.persistent {
            if let Err(e) = self.kernel_catalog.persist_sequences_exactly() {
                log::error!("logging sequence state at shutdown: {e}");
            }
        }
        if let Err(e) = self.storage.close().into_result() {
            log::error!("closing storage backend {}: {e}", self.storage_key);
        }
    }

    pub fn storage_key(&self) -> &str {
        &self.storage_key
    }

    fn storage(&self) -> DbResult<&StorageBackendBox> {
        Ok(&self.storage)
    }

    fn parse(&self, sql: &str) -> DbResult<RVec<SyntaxTree>> {
        match self.parser.object() {
            ProviderObject::Parser(p) => p.parse(RStr::from_str(sql)).into_result(),
            _ => Err(missing(SQL_PARSER)),
        }
    }

    fn plan(&self, ctx: &PlanContext, tree: &SyntaxTree) -> DbResult<Plan> {
        match self.planner.object() {
            ProviderObject::Planner(p) => p.plan(ctx, &self.services, tree).into_result(),
            _ => Err(missing(SQL_PLANNER)),
        }
    }

    fn execute(&self, ctx: &ExecContext, plan: &Plan, params: &[Value]) -> DbResult<Executed> {
        let ProviderObject::Executor(e) = self.executor.object() else {
            return Err(missing(SQL_EXECUTOR));
        };
        // Room for one row up front: most results that have rows are one
        // row, and a first push into an empty batch goes through the
        // slower growth path.
        let width = plan.output.fields.len();
        let mut rows = RowBatch::with_capacity(width, usize::from(width > 0));
        let affected = e
            .run(
                ctx,
                &self.services,
                plan,
                RSlice::from_slice(params),
                &mut rows,
            )
            .into_result()?;
        Ok(Executed { rows, affected })
    }
}

struct Executed {
    rows: RowBatch,
    affected: u64,
}

/// Transaction status as PostgreSQL's ReadyForQuery reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransactionStatus {
    /// `I`
    Idle,
    /// `T`
    InBlock,
    /// `E`: a statement failed; only ROLLBACK (TO SAVEPOINT) is accepted.
    Failed,
}

/// The result of one statement.
#[derive(Clone, Debug)]
pub struct StatementResult {
    /// Command tag as PostgreSQL sends it (`SELECT 2`, `INSERT 0 1`, `BEGIN`).
    pub tag: Tag,
    /// Result columns; empty for commands without rows. Shared with the
    /// prepared statement, so a result costs no copy of the column list.
    pub schema: Arc<Schema>,
    pub rows: RowBatch,
    pub rows_affected: u64,
    /// Warnings and notices raised while running (PostgreSQL NoticeResponse).
    pub notices: Vec<AionError>,
    /// TimeZone and DateStyle in force when the statement finished: how
    /// its date/time values are to be printed.
    pub format: Arc<FormatOptions>,
    /// COPY: the data `rows` hold (TO STDOUT), or that the statement waits
    /// for its data (FROM STDIN, see [`Session::copy_in`]).
    /// Boxed: results are moved through several layers, and most carry
    /// none.
    pub copy: Option<Box<CopyState>>,
}

/// A COPY FROM STDIN waiting for its data, and what the query string
/// holds after it.
struct PendingCopy {
    stmt: Arc<PreparedStatement>,
    rest: Vec<SyntaxTree>,
    sql: Arc<str>,
    multi: bool,
}

type Outcomes = Result<Vec<StatementResult>, (Vec<StatementResult>, AionError)>;

/// A prepared statement: a plan reused across executions, re-planned when
/// the catalog changes.
#[derive(Clone, Debug)]
pub struct PreparedStatement {
    sql: Arc<str>,
    tree: Arc<SyntaxTree>,
    plan: Arc<Plan>,
    /// `plan.output`, shared with every result.
    schema: Arc<Schema>,
    declared: Vec<DataType>,
    search_path: Arc<str>,
    /// The `command` label of its statement counter, classified once.
    kind: CommandKind,
    /// Reads one table through one scan and writes nothing: alone, it can
    /// run as an autocommit read (see `single_read`).
    single_read: bool,
}

impl PreparedStatement {
    pub fn param_types(&self) -> &[DataType] {
        &self.plan.param_types
    }

    pub fn columns(&self) -> &Schema {
        &self.plan.output
    }

    /// Whether executing it returns rows (COPY TO STDOUT returns its data
    /// as COPY data, not as rows).
    pub fn returns_rows(&self) -> bool {
        self.plan.copy().is_none() && !self.plan.output.fields.is_empty()
    }

    pub fn sql(&self) -> &str {
        &self.sql
    }
}

/// Settings a session can SET/SHOW, with their defaults.
const SESSION_SETTINGS: &[(&str, &str)] = &[
    ("application_name", ""),
    ("client_encoding", "UTF8"),
    ("client_min_messages", "notice"),
    ("DateStyle", "ISO, MDY"),
    ("default_transaction_isolation", "read committed"),
    ("default_transaction_read_only", "off"),
    ("extra_float_digits", "1"),
    ("integer_datetimes", "on"),
    ("IntervalStyle", "postgres"),
    ("lock_timeout", "0"),
    ("search_path", "\"$user\", public"),
    ("server_encoding", "UTF8"),
    ("server_version", "15.0"),
    ("server_version_num", "150000"),
    ("standard_conforming_strings", "on"),
    ("statement_timeout", "0"),
    ("TimeZone", "UTC"),
    ("transaction_isolation", "read committed"),
    ("transaction_read_only", "off"),
];

const READ_ONLY_SETTINGS: &[&str] = &[
    "integer_datetimes",
    "server_encoding",
    "server_version",
    "server_version_num",
    "transaction_isolation",
    "transaction_read_only",
];

fn canonical_setting(name: &str) -> Option<&'static str> {
    SESSION_SETTINGS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(n, _)| *n)
}

struct Txn {
    id: TxnId,
    isolation: IsolationLevel,
    read_only: bool,
    /// Started by a multi-statement query string, not by BEGIN.
    implicit: bool,
    failed: bool,
    start: i64,
    /// No statement has run in it yet.
    first_statement: bool,
    /// What only some transactions need, made on first use: a transaction
    /// without DDL, SET or savepoints (nearly every one) stays a few words
    /// that are cheap to start, move and end.
    more: Option<Box<TxnMore>>,
}

#[derive(Default)]
struct TxnMore {
    /// Settings to restore if the transaction rolls back, and SET LOCAL
    /// values to drop when it ends.
    /// Taken at the first SET inside the transaction.
    settings_before: Option<HashMap<&'static str, String>>,
    /// Savepoint names with the catalog journal length when each was set.
    savepoints: Vec<(String, usize)>,
    /// Catalog before-images of this transaction's DDL, oldest first.
    journal: Vec<UndoEntry>,
    /// Values to restore at COMMIT for settings changed by SET LOCAL.
    local_restore: Vec<(&'static str, String)>,
}

impl Txn {
    /// An autocommit read: the backend has no transaction for it until
    /// `upgrade_light_txn` begins one.
    fn is_autocommit_read(&self) -> bool {
        self.id == AUTOCOMMIT_READ
    }

    fn more(&mut self) -> &mut TxnMore {
        self.more.get_or_insert_with(Box::default)
    }

    /// Adds catalog before-images to the journal.
    fn journal(&mut self, undo: Vec<UndoEntry>) {
        if !undo.is_empty() {
            self.more().journal.extend(undo);
        }
    }

    fn journal_len(&self) -> usize {
        self.more.as_ref().map_or(0, |m| m.journal.len())
    }
}

/// Who is connected and how.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    /// The session user. A user without a role in the catalog is the
    /// embedded API's caller or a client of a bench-mode server, both
    /// trusted with every privilege.
    pub user: String,
    pub database: String,
    pub application: String,
}

/// One client's session.
pub struct Session {
    engine: Arc<Engine>,
    user: String,
    /// The user had no catalog role when the session opened (see
    /// [`SessionOptions::user`]): role commands are not restricted.
    trusted: bool,
    database: String,
    settings: HashMap<&'static str, String>,
    /// Bumped by every change of `settings`.
    settings_version: u64,
    /// Reused for every statement: only the per-statement fields change,
    /// so running a statement allocates nothing here.
    exec_ctx: ExecContext,
    statement_timeout_ms: u64,
    lock_timeout_ms: u64,
    /// `default_transaction_isolation` / `_read_only`, parsed once per SET.
    default_isolation: IsolationLevel,
    default_read_only: bool,
    /// What `transaction_isolation` / `transaction_read_only` show now.
    shown_txn: (Option<IsolationLevel>, bool),
    search_path: Vec<String>,
    search_path_key: Arc<str>,
    txn: Option<Txn>,
    /// Simple-query plan cache: SQL text -> plan (catalog version checked).
    cache: HashMap<Arc<str>, Arc<PreparedStatement>>,
    /// Simple-query plans of statements with their literals replaced by
    /// parameters (see [`litnorm`]), keyed by the normalised text and the
    /// literals' types.
    lit_cache: HashMap<String, LitEntry>,
    /// Buffers of the last normalised statement, reused by the next.
    lit_scratch: litnorm::Normalized,
    /// The literal cache's parameter values, reused.
    lit_params: Vec<Value>,
    /// Fresh plans of prepared statements whose own plan went stale (DDL,
    /// another search path), keyed by the statement's syntax tree. An entry
    /// holds that tree, so the address cannot be reused while it exists.
    replanned: HashMap<usize, Arc<PreparedStatement>>,
    /// TimeZone and DateStyle, parsed once per change of either.
    format: Arc<FormatOptions>,
    /// This session's statement counters (only it writes them).
    counters: SessionCounters,
    /// Cancels the running statement (see [`Session::cancel_flag`]).
    cancel: CancelFlag,
    /// The running statement's lock wait bounds, refreshed per statement
    /// in place: it holds a clone of `cancel` made once, so handing it to
    /// the storage costs no reference counting.
    wait: LockWait,
    /// Named prepared statements (the extended protocol's), by name: the
    /// namespace DEALLOCATE works on. Ids are the surface's handles.
    named: HashMap<String, u64>,
    /// Ids DEALLOCATE dropped, for the surface to forget.
    deallocated: Vec<u64>,
    pending_copy: Option<PendingCopy>,
}

const PLAN_CACHE_CAPACITY: usize = 256;

/// A normalised statement's plan, or the finding that it has none to use
/// (it does not plan with parameters, or is not plain DML), valid for the
/// catalog version and settings it was made under.
enum LitEntry {
    Plan(Arc<PreparedStatement>),
    Unusable {
        catalog_version: u64,
        search_path: Arc<str>,
    },
}

/// Source of `Plan::cache_id`s (process-wide: executors are shared).
static NEXT_PLAN_ID: AtomicU64 = AtomicU64::new(1);
/// Session ids: keys of per-session state kept by the catalog.
static NEXT_SESSION_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) fn now_pg_micros() -> i64 {
    crate::clock::unix_micros() - PG_EPOCH_MICROS_FROM_UNIX
}

fn aborted() -> AionError {
    AionError::new(
        SqlState::new(b"25P02"),
        "current transaction is aborted, commands ignored until end of transaction block",
    )
}

fn warning(code: &[u8; 5], message: &str) -> AionError {
    let mut e = AionError::new(SqlState::new(code), message);
    e.severity = Severity::Warning;
    e
}

fn parse_isolation(s: &str) -> Option<IsolationLevel> {
    match s.trim().to_ascii_lowercase().as_str() {
        "read committed" | "read uncommitted" => Some(IsolationLevel::ReadCommitted),
        "repeatable read" => Some(IsolationLevel::RepeatableRead),
        "serializable" => Some(IsolationLevel::Serializable),
        _ => None,
    }
}

/// Parses a duration setting as PostgreSQL does (`5000`, `5s`, `100ms`,
/// `1min`); the unit defaults to milliseconds.
fn parse_millis(name: &str, value: &str) -> DbResult<u64> {
    let v = value.trim().trim_matches('\'');
    let split = v
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let bad = || {
        AionError::new(
            SqlState::new(b"22023"),
            format!("invalid value for parameter \"{name}\": \"{value}\""),
        )
        .with_hint(
            "Valid units for this parameter are \"us\", \"ms\", \"s\", \"min\", \"h\", and \"d\".",
        )
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    let factor = match unit.trim() {
        "" | "ms" => 1.0,
        "us" => 0.001,
        "s" => 1000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return Err(bad()),
    };
    let ms = n * factor;
    if !(0.0..=2_147_483_647.0).contains(&ms) {
        return Err(bad());
    }
    Ok(ms.round() as u64)
}

impl Session {
    pub fn new(engine: Arc<Engine>, options: SessionOptions) -> Session {
        let mut settings: HashMap<&'static str, String> = SESSION_SETTINGS
            .iter()
            .map(|(k, v)| (*k, v.to_string()))
            .collect();
        settings.insert("application_name", options.application.clone());
        if engine.limits.statement_timeout_ms > 0 {
            settings.insert(
                "statement_timeout",
                engine.limits.statement_timeout_ms.to_string(),
            );
        }
        if engine.limits.lock_timeout_ms > 0 {
            settings.insert("lock_timeout", engine.limits.lock_timeout_ms.to_string());
        }
        let limits = engine.limits.clone();
        let counters = engine.metrics.session();
        let trusted = engine
            .services
            .catalog
            .role_by_name(RStr::from_str(&options.user))
            .is_none();
        let cancel = CancelFlag::new();
        let mut s = Session {
            engine,
            user: options.user.clone(),
            trusted,
            database: options.database.clone(),
            settings,
            exec_ctx: ExecContext {
                txn: 0,
                isolation: IsolationLevel::ReadCommitted,
                read_only: false,
                txn_start: 0,
                statement_start: 0,
                deadline_unix_us: 0,
                lock_timeout_ms: 0,
                max_result_rows: limits.max_result_rows,
                max_result_bytes: limits.max_result_bytes,
                memory_limit_bytes: limits.statement_memory_bytes,
                max_recursive_rows: limits.recursive_max_rows,
                max_recursive_iterations: limits.recursive_max_iterations,
                user: RString::from(options.user.as_str()),
                database: RString::from(options.database.as_str()),
                search_path: RVec::new(),
                settings: RArc::new(RVec::new()),
                session: NEXT_SESSION_ID.fetch_add(1, AtomicOrdering::Relaxed),
                cancel: cancel.clone(),
            },
            statement_timeout_ms: 0,
            settings_version: 0,
            lock_timeout_ms: 0,
            default_isolation: IsolationLevel::ReadCommitted,
            default_read_only: false,
            shown_txn: (None, false),
            search_path: Vec::new(),
            search_path_key: Arc::from(""),
            txn: None,
            cache: HashMap::new(),
            lit_cache: HashMap::new(),
            lit_scratch: litnorm::Normalized::default(),
            lit_params: Vec::new(),
            replanned: HashMap::new(),
            format: Arc::default(),
            counters,
            wait: LockWait {
                cancel: cancel.clone(),
                ..LockWait::default()
            },
            cancel,
            named: HashMap::new(),
            deallocated: Vec::new(),
            pending_copy: None,
        };
        s.settings_changed();
        s
    }

    pub fn transaction_status(&self) -> TransactionStatus {
        match &self.txn {
            None => TransactionStatus::Idle,
            Some(t) if t.implicit => TransactionStatus::Idle,
            Some(t) if t.failed => TransactionStatus::Failed,
            Some(_) => TransactionStatus::InBlock,
        }
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    /// The flag that cancels this session's running statement (57014);
    /// whoever sets it resets it before the next command.
    pub fn cancel_flag(&self) -> CancelFlag {
        self.cancel.clone()
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    /// Current value of a session setting (`SHOW name`).
    pub fn setting(&self, name: &str) -> Option<&str> {
        canonical_setting(name).and_then(|n| self.settings.get(n).map(String::as_str))
    }

    /// The session's TimeZone and DateStyle, for printing and reading
    /// date/time values as this session's client expects.
    pub fn format_options(&self) -> &FormatOptions {
        &self.format
    }

    /// Changes whenever a setting does.
    pub fn settings_version(&self) -> u64 {
        self.settings_version
    }

    fn settings_changed(&mut self) {
        self.settings_version += 1;
        let mut kv: Vec<KeyValue> = self
            .settings
            .iter()
            .map(|(k, v)| KeyValue {
                key: RString::from(*k),
                value: RString::from(v.as_str()),
            })
            .collect();
        kv.sort_by(|a, b| a.key.cmp(&b.key));
        self.exec_ctx.settings = RArc::new(kv.into_iter().collect());
        self.statement_timeout_ms = self
            .settings
            .get("statement_timeout")
            .and_then(|v| parse_millis("statement_timeout", v).ok())
            .unwrap_or(0);
        self.lock_timeout_ms = self
            .settings
            .get("lock_timeout")
            .and_then(|v| parse_millis("lock_timeout", v).ok())
            .unwrap_or(0);
        self.default_isolation = self
            .settings
            .get("default_transaction_isolation")
            .and_then(|v| parse_isolation(v))
            .unwrap_or(IsolationLevel::ReadCommitted);
        self.default_read_only = self
            .settings
            .get("default_transaction_read_only")
            .is_some_and(|v| v == "on");
        self.shown_txn = (
            self.settings
                .get("transaction_isolation")
                .and_then(|v| parse_isolation(v)),
            self.settings
                .get("transaction_read_only")
                .is_some_and(|v| v == "on"),
        );
        let raw = self
            .settings
            .get("search_path")
            .cloned()
            .unwrap_or_default();
        self.search_path = raw
            .split(',')
            .map(|s| s.trim().trim_matches('"').to_string())
            .filter(|s| !s.is_empty())
            .map(|s| if s == "$user" { self.user.clone() } else { s })
            .collect();
        let tz = self.settings.get("TimeZone").map_or("UTC", String::as_str);
        let ds = self
            .settings
            .get("DateStyle")
            .map_or("ISO, MDY", String::as_str);
        // Stored values were validated by `validate_setting`.
        let format = FormatOptions::from_settings(tz, ds).unwrap_or_default();
        if *self.format != format {
            self.format = Arc::new(format);
        }
        // Plans are reused only under the settings they were made with:
        // besides the search path, a plan may hold date/time constants
        // read under TimeZone and DateStyle.
        self.search_path_key = Arc::from(format!("{raw}\u{0}{tz}\u{0}{ds}").as_str());
        self.exec_ctx.search_path = self
            .search_path
            .iter()
            .map(|s| RString::from(s.as_str()))
            .collect();
    }

    fn plan_context(&self, declared: &[DataType]) -> PlanContext {
        PlanContext {
            search_path: self
                .search_path
                .iter()
                .map(|s| RString::from(s.as_str()))
                .collect(),
            user: RString::from(self.user.as_str()),
            database: RString::from(self.database.as_str()),
            param_types: declared.iter().cloned().collect(),
        }
    }

    /// Runs a query string (one or more statements) as PostgreSQL's simple
    /// query protocol does: the statements share one implicit transaction
    /// unless they manage their own, and processing stops at the first error.
    /// Results of the statements that ran are returned with the error.
    pub fn execute(&mut self, sql: &str) -> Outcomes {
        self.abandon_copy();
        let results = Vec::new();
        // Extended-protocol statements left without their Sync: a query
        // message ends their implicit transaction, as PostgreSQL does.
        if self.txn.as_ref().is_some_and(|t| t.implicit) {
            if let Err(e) = self.sync() {
                return Err((results, e));
            }
        }
        // Single statements hit the plan cache without parsing.
        if let Some(p) = self.cache.get(sql).cloned() {
            if p.plan.catalog_version == self.engine.services.catalog.version()
                && p.search_path == self.search_path_key
            {
                if is_copy_in(&p.plan) {
                    let sql = Arc::clone(&p.sql);
                    return match self.await_copy(p, Vec::new(), sql, false) {
                        Ok(r) => Ok(vec![r]),
                        Err(e) => Err((results, e)),
                    };
                }
                return match self.run_statement(&p, &[], false) {
                    Ok(r) => Ok(vec![r]),
                    Err(e) => {
                        self.fail_current();
                        Err((results, e))
                    }
                };
            }
        }
        // Statements differing only in literals share a plan.
        // The scratch is out of `self` while the statement runs.
        let mut n = std::mem::take(&mut self.lit_scratch);
        let outcome = if litnorm::normalize_into(sql, &mut n) {
            self.execute_normalized(&n)
        } else {
            None
        };
        self.lit_scratch = n;
        if let Some(outcome) = outcome {
            return outcome;
        }
        let trees = match self.engine.parse(sql) {
            Ok(t) => t,
            Err(e) => {
                self.fail_current();
                return Err((results, e));
            }
        };
        if trees.is_empty() {
            return Ok(results);
        }
        let multi = trees.len() > 1;
        if multi && self.txn.is_none() {
            if let Err(e) = self.begin_txn(true, None, None) {
                return Err((results, e));
            }
        }
        self.run_trees(sql, trees.into_iter().collect(), multi, results)
    }

    /// Runs a normalised statement with its literals as parameters; `None`
    /// when it cannot (no usable plan, a literal its parameter's type does
    /// not accept): the caller then runs the text as it is, which reports
    /// the literal's error as PostgreSQL does.
    fn execute_normalized(&mut self, n: &Normalized) -> Option<Outcomes> {
        let version = self.engine.services.catalog.version();
        let stmt = match self.lit_cache.get(&n.key) {
            Some(LitEntry::Plan(p))
                if p.plan.catalog_version == version && p.search_path == self.search_path_key =>
            {
                p.clone()
            }
            Some(LitEntry::Unusable {
                catalog_version,
                search_path,
            }) if *catalog_version == version && *search_path == self.search_path_key => {
                return None;
            }
            _ => {
                let entry = match self.plan_normalized(n) {
                    Some(p) => LitEntry::Plan(p),
                    None => LitEntry::Unusable {
                        catalog_version: version,
                        search_path: self.search_path_key.clone(),
                    },
                };
                if self.lit_cache.len() >= PLAN_CACHE_CAPACITY {
                    self.lit_cache.clear();
                }
                let p = match &entry {
                    LitEntry::Plan(p) => Some(p.clone()),
                    LitEntry::Unusable { .. } => None,
                };
                self.lit_cache.insert(n.key.clone(), entry);
                p?
            }
        };
        let mut params = std::mem::take(&mut self.lit_params);
        if !self.literal_params(&stmt, &n.literals, &mut params) {
            self.lit_params = params;
            return None;
        }
        let r = self.run_statement(&stmt, &params, false);
        params.clear();
        self.lit_params = params;
        Some(match r {
            Ok(r) => Ok(vec![r]),
            Err(e) => {
                self.fail_current();
                Err((Vec::new(), e))
            }
        })
    }

    /// Plans a normalised statement with its literals' types declared.
    /// Any failure means the literal text must be planned as it is.
    fn plan_normalized(&mut self, n: &Normalized) -> Option<Arc<PreparedStatement>> {
        let mut trees = self.engine.parse(n.sql()).ok()?;
        if trees.len() != 1 {
            return None;
        }
        let tree = trees.pop()?;
        if tree.nodes.is_empty() {
            return None;
        }
        let declared: Vec<DataType> = n.literals.iter().map(Literal::declared).collect();
        let p = self
            .plan_tree(n.sql(), Arc::new(tree), &declared, true)
            .ok()?;
        let plan = &p.plan;
        // Plain DML and queries only, as in the exact-text cache; and the
        // planner must have kept each number's type, the literal's own.
        if plan.utility().is_some()
            || plan.command.starts_with("CREATE")
            || plan.copy().is_some()
            || plan.param_types.len() != n.literals.len()
            || n.literals
                .iter()
                .zip(plan.param_types.iter())
                .any(|(l, t)| !matches!(l, Literal::Text(_)) && *t != l.declared())
        {
            return None;
        }
        Some(Arc::new(p))
    }

    /// The literals as values of their parameters' types, into `out`
    /// (empty); false when one does not convert (the literal path reports
    /// that error).
    fn literal_params(
        &self,
        stmt: &PreparedStatement,
        literals: &[Literal],
        out: &mut Vec<Value>,
    ) -> bool {
        out.clear();
        for (l, ty) in literals.iter().zip(stmt.plan.param_types.iter()) {
            let v = match l {
                Literal::Int4(i) => Some(Value::Int4(*i)),
                Literal::Int8(i) => Some(Value::Int8(*i)),
                Literal::Numeric(s) => {
                    aiondb_sdk::value::parse_text_with(DataType::NUMERIC, s, &self.format).ok()
                }
                Literal::Text(s) => aiondb_sdk::value::parse_text_with(*ty, s, &self.format).ok(),
            };
            match v {
                Some(v) => out.push(v),
                None => return false,
            }
        }
        true
    }

    /// Runs the statements of a query string (after the first ones, when a
    /// COPY FROM STDIN stopped it); a COPY FROM STDIN stops it again.
    fn run_trees(
        &mut self,
        sql: &str,
        trees: Vec<SyntaxTree>,
        multi: bool,
        mut results: Vec<StatementResult>,
    ) -> Outcomes {
        let mut trees = trees.into_iter();
        while let Some(tree) = trees.next() {
            let single = !multi;
            let outcome = self
                .cancel
                .check()
                .and_then(|()| self.prepare_tree(sql, Arc::new(tree), &[], single))
                .and_then(|p| {
                    if is_copy_in(&p.plan) {
                        let rest: Vec<SyntaxTree> = trees.by_ref().collect();
                        self.await_copy(p, rest, Arc::from(sql), multi)
                    } else {
                        self.run_statement(&p, &[], multi)
                    }
                });
            match outcome {
                Ok(r) => {
                    let waiting = r.copy.as_ref().is_some_and(|c| c.copy_in);
                    results.push(r);
                    if waiting {
                        return Ok(results);
                    }
                }
                Err(e) => {
                    self.fail_current();
                    return Err((results, e));
                }
            }
        }
        if multi {
            if let Some(t) = &self.txn {
                if t.implicit {
                    if let Err(e) = self.end_txn(true) {
                        return Err((results, e));
                    }
                }
            }
        }
        Ok(results)
    }

    /// Leaves a COPY FROM STDIN waiting for data (the outcome says so) with
    /// the statements that follow it.
    fn await_copy(
        &mut self,
        stmt: Arc<PreparedStatement>,
        rest: Vec<SyntaxTree>,
        sql: Arc<str>,
        multi: bool,
    ) -> DbResult<StatementResult> {
        if self.txn.as_ref().is_some_and(|t| t.failed) {
            return Err(aborted());
        }
        let (options, columns) = stmt
            .plan
            .nodes
            .iter()
            .find_map(|n| match &n.op {
                Operator::CopyFrom { options, .. } => Some((options.clone(), n.output.len())),
                _ => None,
            })
            .ok_or_else(|| AionError::internal("COPY FROM plan without its source"))?;
        let mut r = Self::simple("");
        r.copy = Some(Box::new(CopyState {
            copy_in: true,
            options,
            columns: columns as u32,
        }));
        r.format = self.format.clone();
        self.pending_copy = Some(PendingCopy {
            stmt,
            rest,
            sql,
            multi,
        });
        Ok(r)
    }

    /// Whether a COPY FROM STDIN waits for its data.
    pub fn copy_pending(&self) -> bool {
        self.pending_copy.is_some()
    }

    /// Runs the waiting COPY FROM STDIN with all of its `data`, as one
    /// statement, then the rest of its query string.
    pub fn copy_in(&mut self, data: Vec<u8>) -> Outcomes {
        let Some(pc) = self.pending_copy.take() else {
            return Err((
                Vec::new(),
                AionError::new(SqlState::new(b"08P01"), "no COPY is in progress"),
            ));
        };
        let params = [Value::Bytea(RVec::from(data))];
        match self.run_statement(&pc.stmt, &params, pc.multi) {
            Ok(r) => self.run_trees(&pc.sql, pc.rest, pc.multi, vec![r]),
            Err(e) => {
                self.fail_current();
                Err((Vec::new(), e))
            }
        }
    }

    /// Fails the waiting COPY FROM STDIN (the client sent CopyFail).
    pub fn copy_fail(&mut self, message: &str) -> AionError {
        self.pending_copy = None;
        self.fail_current();
        AionError::new(
            SqlState::QUERY_CANCELED,
            format!("COPY from stdin failed: {message}"),
        )
    }

    /// A COPY left waiting by a client that moved on fails.
    fn abandon_copy(&mut self) {
        if self.pending_copy.take().is_some() {
            self.fail_current();
        }
    }

    /// Marks the current transaction failed after an error: an implicit one
    /// rolls back, a block enters the aborted state.
    fn fail_current(&mut self) {
        if let Some(t) = &mut self.txn {
            if t.implicit {
                let _ = self.end_txn(false);
            } else {
                t.failed = true;
            }
        }
    }

    /// Parses and plans one statement for repeated execution.
    pub fn prepare(&mut self, sql: &str, param_types: &[DataType]) -> DbResult<PreparedStatement> {
        if self.txn.as_ref().is_some_and(|t| t.failed) {
            return Err(aborted());
        }
        let mut trees = self.engine.parse(sql)?;
        if trees.len() > 1 {
            return Err(AionError::new(
                SqlState::SYNTAX_ERROR,
                "cannot insert multiple commands into a prepared statement",
            ));
        }
        let tree = trees.pop().unwrap_or_default();
        if tree.nodes.is_empty() {
            return Err(AionError::new(SqlState::SYNTAX_ERROR, "empty query"));
        }
        let p = self.plan_tree(sql, Arc::new(tree), param_types, true)?;
        Ok(p)
    }

    fn plan_tree(
        &mut self,
        sql: &str,
        tree: Arc<SyntaxTree>,
        declared: &[DataType],
        keep: bool,
    ) -> DbResult<PreparedStatement> {
        let ctx = self.plan_context(declared);
        let mut plan = self.engine.plan(&ctx, &tree)?;
        if keep {
            // Kept and rerun: the executor may cache its compiled form.
            plan.cache_id = NEXT_PLAN_ID.fetch_add(1, AtomicOrdering::Relaxed);
        }
        let kind = if plan.utility().is_some() {
            CommandKind::UTILITY
        } else {
            CommandKind::of(&plan.command)
        };
        Ok(PreparedStatement {
            kind,
            single_read: single_read(&plan),
            sql: Arc::from(sql),
            tree,
            schema: Arc::new(plan.output.clone()),
            plan: Arc::new(plan),
            declared: declared.to_vec(),
            search_path: self.search_path_key.clone(),
        })
    }

    fn prepare_tree(
        &mut self,
        sql: &str,
        tree: Arc<SyntaxTree>,
        declared: &[DataType],
        cacheable: bool,
    ) -> DbResult<Arc<PreparedStatement>> {
        let p = Arc::new(self.plan_tree(sql, tree, declared, cacheable)?);
        // Plain DML/queries, and the transaction commands every client
        // sends around them (their plans are fixed by their text); other
        // utility plans depend on session state and DDL changes the
        // catalog version anyway.
        let worth = match p.plan.utility() {
            None => !p.plan.command.starts_with("CREATE"),
            Some(u) => matches!(
                u,
                Utility::Begin { .. } | Utility::Commit | Utility::Rollback
            ),
        };
        if cacheable && worth {
            if self.cache.len() >= PLAN_CACHE_CAPACITY {
                self.cache.clear();
            }
            self.cache.insert(Arc::from(sql), p.clone());
        }
        Ok(p)
    }

    /// Runs a prepared statement with parameters (autocommit outside a
    /// transaction block).
    pub fn execute_prepared(
        &mut self,
        stmt: &PreparedStatement,
        params: &[Value],
    ) -> DbResult<StatementResult> {
        self.execute_prepared_in(stmt, params, false)
    }

    /// Runs a prepared statement as the extended query protocol does:
    /// outside a transaction block, the statements up to the next
    /// [`Session::sync`] share one implicit transaction, and an error rolls
    /// all of them back.
    pub fn execute_pipelined(
        &mut self,
        stmt: &PreparedStatement,
        params: &[Value],
    ) -> DbResult<StatementResult> {
        self.execute_prepared_in(stmt, params, true)
    }

    /// Registers a named prepared statement under the surface's handle
    /// `id`; 42P05 when the name is taken.
    pub fn name_prepared(&mut self, name: &str, id: u64) -> DbResult<()> {
        if self.named.contains_key(name) {
            return Err(AionError::new(
                SqlState::new(b"42P05"),
                format!("prepared statement \"{name}\" already exists"),
            ));
        }
        self.named.insert(name.to_string(), id);
        Ok(())
    }

    /// Forgets the name of a closed statement.
    pub fn unname_prepared(&mut self, name: &str) {
        self.named.remove(name);
    }

    /// Handles DEALLOCATE dropped since the last call.
    pub fn take_deallocated(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.deallocated)
    }

    /// The extended protocol's Sync: commits the implicit transaction
    /// [`Session::execute_pipelined`] opened, if one is open.
    pub fn sync(&mut self) -> DbResult<()> {
        if self.txn.as_ref().is_some_and(|t| t.implicit) {
            let r = self.end_txn(true);
            if r.is_err() {
                self.fail_current();
            }
            return r;
        }
        Ok(())
    }

    fn execute_prepared_in(
        &mut self,
        stmt: &PreparedStatement,
        params: &[Value],
        pipelined: bool,
    ) -> DbResult<StatementResult> {
        self.abandon_copy();
        let fresh;
        let version = self.engine.services.catalog.version();
        let is_current = |p: &PreparedStatement, key: &Arc<str>| {
            p.plan.catalog_version == version
                && (Arc::ptr_eq(&p.search_path, key) || p.search_path == *key)
        };
        let stmt = if is_current(stmt, &self.search_path_key) {
            stmt
        } else {
            // Re-plan once per change, not on every execution.
            let key = Arc::as_ptr(&stmt.tree) as usize;
            match self.replanned.get(&key) {
                Some(p) if is_current(p, &self.search_path_key) => fresh = p.clone(),
                _ => {
                    let p = Arc::new(self.plan_tree(
                        &stmt.sql,
                        stmt.tree.clone(),
                        &stmt.declared,
                        true,
                    )?);
                    if self.replanned.len() >= PLAN_CACHE_CAPACITY {
                        self.replanned.clear();
                    }
                    self.replanned.insert(key, p.clone());
                    fresh = p;
                }
            }
            &*fresh
        };
        if is_copy_in(&stmt.plan) {
            let r = self.await_copy(Arc::new(stmt.clone()), Vec::new(), Arc::from(""), false);
            if r.is_err() {
                self.fail_current();
            }
            return r;
        }
        // VACUUM refuses transaction blocks; alone before a Sync it is not
        // in one (PostgreSQL runs it the same way).
        let pipelined = pipelined && stmt.plan.command != "VACUUM";
        if pipelined && self.txn.is_none() && stmt.plan.utility().is_none() {
            self.begin_txn(true, None, None)?;
        }
        let r = self.run_statement(stmt, params, pipelined);
        if r.is_err() {
            self.fail_current();
        }
        r
    }

    fn run_statement(
        &mut self,
        stmt: &PreparedStatement,
        params: &[Value],
        in_multi: bool,
    ) -> DbResult<StatementResult> {
        let plan = &stmt.plan;
        if let Some(u) = plan.utility() {
            let u = u.clone();
            let r = self.run_utility(&u, plan);
            self.counters.command(stmt.kind, r.is_ok());
            return r;
        }
        if self.txn.as_ref().is_some_and(|t| t.failed) {
            return Err(aborted());
        }
        if plan.command == "VACUUM" && self.txn.is_some() {
            return Err(AionError::new(
                SqlState::new(b"25001"),
                "VACUUM cannot run inside a transaction block",
            ));
        }
        // COPY FROM's data comes as the one parameter no client binds.
        let copy_data = params.len() == 1 && plan.param_types.is_empty() && is_copy_in(plan);
        if params.len() != plan.param_types.len() && !copy_data {
            return Err(AionError::new(
                SqlState::new(b"08P01"),
                format!(
                    "bind message supplies {} parameters, but prepared statement requires {}",
                    params.len(),
                    plan.param_types.len()
                ),
            ));
        }
        let implicit = self.txn.is_none();
        if implicit {
            let light = !in_multi
                && stmt.single_read
                && self.engine.autocommit_reads
                && self.default_isolation != IsolationLevel::Serializable;
            if light {
                self.begin_light_txn();
            } else {
                self.begin_txn(true, None, None)?;
            }
        }
        let result = self.run_in_txn(stmt, params);
        if implicit && !in_multi {
            match &result {
                Ok(_) => self.end_txn(true)?,
                Err(_) => {
                    let _ = self.end_txn(false);
                }
            }
        }
        result
    }

    fn run_in_txn(
        &mut self,
        stmt: &PreparedStatement,
        params: &[Value],
    ) -> DbResult<StatementResult> {
        let plan = &*stmt.plan;
        let (txn_id, isolation, read_only, txn_start, first) = match &mut self.txn {
            Some(t) => (
                t.id,
                t.isolation,
                t.read_only,
                t.start,
                std::mem::take(&mut t.first_statement),
            ),
            None => return Err(AionError::internal("statement outside a transaction")),
        };
        // A cancel that arrived while the statement waited for a worker.
        self.cancel.check()?;
        if read_only && plan.writes {
            return Err(AionError::new(
                SqlState::new(b"25006"),
                format!("cannot execute {} in a read-only transaction", plan.command),
            ));
        }
        // As in PostgreSQL, the first statement of a transaction starts when
        // the transaction does (and one clock read is saved).
        let statement_start = if first { txn_start } else { now_pg_micros() };
        self.set_lock_wait(statement_start);
        // An implicit transaction began together with its first statement
        // (`begin_with_statement`).
        if !first {
            self.engine
                .storage()?
                .begin_statement(txn_id, &self.wait)
                .into_result()?;
        }
        let ctx = &mut self.exec_ctx;
        ctx.txn = txn_id;
        ctx.isolation = isolation;
        ctx.read_only = read_only;
        ctx.txn_start = txn_start;
        ctx.statement_start = statement_start;
        ctx.deadline_unix_us = self.wait.deadline_unix_us;
        ctx.lock_timeout_ms = self.lock_timeout_ms;
        let started = log::log_enabled!(log::Level::Trace).then(Instant::now);
        catalog::journal_begin();
        let mut executed = self.engine.execute(&self.exec_ctx, plan, params);
        if txn_id == AUTOCOMMIT_READ
            && matches!(&executed, Err(e) if e.sqlstate == SqlState::LOCK_NOT_AVAILABLE)
        {
            // Uncommitted DDL on the table: run again in a transaction,
            // which waits for it. The failed try read nothing.
            self.exec_ctx.txn = self.upgrade_light_txn()?;
            executed = self.engine.execute(&self.exec_ctx, plan, params);
        }
        let ctx = &self.exec_ctx;
        // One clock read: the start is the statement timestamp set above.
        let micros = (now_pg_micros() - ctx.statement_start).max(0) as u64;
        let (ok, read, written) = match &executed {
            Ok(e) => (
                true,
                e.rows.len() as u64,
                if plan.writes { e.affected } else { 0 },
            ),
            Err(_) => (false, 0, 0),
        };
        self.counters
            .statement(stmt.kind, ok, micros, read, written);
        let undo = catalog::journal_take();
        if let Some(t) = &mut self.txn {
            t.journal(undo);
        }
        let executed = executed?;
        if let Some(started) = started {
            log::trace!(
                "{} ran in {:?} ({} rows)",
                plan.command,
                started.elapsed(),
                executed.rows.len()
            );
        }
        let mut tag = command_tag(&plan.command, &executed, !plan.output.fields.is_empty());
        let mut copy = None;
        if let Some((options, false)) = plan.copy() {
            tag = Tag::counted("COPY", executed.rows.len() as u64);
            copy = Some(Box::new(CopyState {
                copy_in: false,
                options: options.clone(),
                columns: plan.output.fields.len() as u32,
            }));
        }
        Ok(StatementResult {
            tag,
            schema: Arc::clone(&stmt.schema),
            rows_affected: executed.affected,
            rows: executed.rows,
            notices: Vec::new(),
            format: self.format.clone(),
            copy,
        })
    }

    fn begin_txn(
        &mut self,
        implicit: bool,
        isolation: Option<IsolationLevel>,
        read_only: Option<bool>,
    ) -> DbResult<()> {
        let isolation = isolation.unwrap_or(self.default_isolation);
        let read_only = read_only.unwrap_or(self.default_read_only);
        let start = now_pg_micros();
        self.set_lock_wait(start);
        let storage = self.engine.storage()?;
        let id = if implicit {
            storage.begin_with_statement(isolation, read_only, &self.wait)
        } else {
            storage.begin(isolation, read_only)
        }
        .into_result()?;
        self.txn = Some(Txn {
            id,
            isolation,
            read_only,
            implicit,
            failed: false,
            start,
            // After BEGIN, the next statement is not the transaction's first.
            first_statement: implicit,
            more: None,
        });
        self.set_txn_settings();
        Ok(())
    }

    /// Starts the implicit transaction of a statement that runs as an
    /// autocommit read: the backend is not called (see `AUTOCOMMIT_READ`).
    fn begin_light_txn(&mut self) {
        let start = now_pg_micros();
        self.set_lock_wait(start);
        self.txn = Some(Txn {
            id: AUTOCOMMIT_READ,
            isolation: self.default_isolation,
            read_only: self.default_read_only,
            implicit: true,
            failed: false,
            start,
            first_statement: true,
            more: None,
        });
        self.set_txn_settings();
    }

    /// Gives an autocommit read a transaction of its own, for running its
    /// statement again where the backend could not serve it without one
    /// (55P03: uncommitted DDL on its table, which a transaction waits for).
    fn upgrade_light_txn(&mut self) -> DbResult<TxnId> {
        let Some(t) = self.txn.as_mut().filter(|t| t.is_autocommit_read()) else {
            return Err(AionError::internal("no autocommit read to upgrade"));
        };
        t.id = self
            .engine
            .storage()?
            .begin_with_statement(t.isolation, t.read_only, &self.wait)
            .into_result()?;
        Ok(t.id)
    }

    /// Sets `self.wait` to the lock_timeout and the statement_timeout
    /// deadline (Unix microseconds, 0 = none) of a statement starting at
    /// `start` (PostgreSQL-epoch microseconds).
    fn set_lock_wait(&mut self, start: i64) {
        self.wait.deadline_unix_us = if self.statement_timeout_ms > 0 {
            (start + PG_EPOCH_MICROS_FROM_UNIX).max(0) as u64 + self.statement_timeout_ms * 1000
        } else {
            0
        };
        self.wait.timeout_ms = self.lock_timeout_ms;
    }

    fn set_txn_settings(&mut self) {
        let (iso, ro) = match &self.txn {
            Some(t) => (t.isolation, t.read_only),
            None => (self.default_isolation, false),
        };
        // Implicit transactions at the default level change nothing: keep
        // the per-statement path free of map lookups and rebuilding.
        if self.shown_txn == (Some(iso), ro) {
            return;
        }
        let iso = iso.name();
        let ro = if ro { "on" } else { "off" };
        self.settings
            .insert("transaction_isolation", iso.to_string());
        self.settings
            .insert("transaction_read_only", ro.to_string());
        self.settings_changed();
    }

    /// Hands a committing transaction's catalog changes to a persistent
    /// backend, to be logged with its commit.
    fn log_catalog(&self, t: &Txn) -> DbResult<()> {
        let journal = t.more.as_ref().map_or(&[][..], |m| &m.journal[..]);
        if !self.engine.persistent || journal.is_empty() {
            return Ok(());
        }
        let entries = self.engine.kernel_catalog.entries_for(journal);
        self.engine
            .storage()?
            .log_catalog(t.id, RSlice::from_slice(&entries))
            .into_result()
    }

    /// Commits (`commit = true`, unless the transaction failed) or rolls back.
    fn end_txn(&mut self, commit: bool) -> DbResult<()> {
        let Some(t) = self.txn.take() else {
            return Ok(());
        };
        let storage = self.engine.storage()?;
        let result = if t.is_autocommit_read() {
            // The backend never saw it.
            Ok(())
        } else if commit && !t.failed {
            self.log_catalog(&t)
                .and_then(|()| storage.commit(t.id).into_result())
                .inspect_err(|_| {
                    // The transaction is over either way.
                    let _ = storage.rollback(t.id);
                })
        } else {
            storage.rollback(t.id).into_result()
        };
        let rolled_back = !commit || t.failed || result.is_err();
        self.counters.transaction(!rolled_back);
        if let Some(more) = t.more {
            let TxnMore {
                settings_before,
                journal,
                local_restore,
                ..
            } = *more;
            let mut changed = false;
            if rolled_back {
                self.engine.kernel_catalog.undo(journal);
                if let Some(before) = settings_before {
                    self.settings = before;
                    changed = true;
                }
            } else {
                for (name, value) in local_restore.into_iter().rev() {
                    self.settings.insert(name, value);
                    changed = true;
                }
            }
            if changed {
                self.settings_changed();
            }
        }
        self.set_txn_settings();
        result
    }

    /// Applies a setting a client asked for at connection start
    /// (PostgreSQL's startup packet), as SET would.
    pub fn set_startup_setting(&mut self, name: &str, value: &str) -> DbResult<()> {
        let mut ignored = Self::simple("SET");
        self.set(name, Some(value), false, &mut ignored)
    }

    fn simple(tag: &str) -> StatementResult {
        StatementResult {
            tag: Tag::new(tag),
            schema: Arc::default(),
            rows: RowBatch::new(0),
            rows_affected: 0,
            notices: Vec::new(),
            format: Arc::default(),
            copy: None,
        }
    }

    fn run_utility(&mut self, u: &Utility, plan: &Plan) -> DbResult<StatementResult> {
        let failed = self.txn.as_ref().is_some_and(|t| t.failed);
        let allowed_when_failed = matches!(
            u,
            Utility::Rollback | Utility::Commit | Utility::RollbackToSavepoint(_)
        );
        if failed && !allowed_when_failed {
            return Err(aborted());
        }
        let mut result = Self::simple(&plan.command);
        match u {
            Utility::Deallocate(name) => match name {
                ROption::RSome(name) => match self.named.remove(name.as_str()) {
                    Some(id) => self.deallocated.push(id),
                    None => {
                        return Err(AionError::new(
                            SqlState::new(b"26000"),
                            format!("prepared statement \"{name}\" does not exist"),
                        ))
                    }
                },
                ROption::RNone => {
                    let all = self.named.drain().map(|(_, id)| id);
                    self.deallocated.extend(all);
                }
            },
            Utility::CreateRole { .. }
            | Utility::AlterRole { .. }
            | Utility::RenameRole { .. }
            | Utility::DropRole { .. } => self.run_role_utility(u, &mut result)?,
            Utility::Begin {
                isolation,
                read_only,
            } => match &mut self.txn {
                Some(t) if t.implicit => {
                    t.implicit = false;
                    t.first_statement = false;
                    if let Some(i) = isolation.into_option() {
                        t.isolation = i;
                    }
                }
                Some(_) => result.notices.push(warning(
                    b"25001",
                    "there is already a transaction in progress",
                )),
                None => self.begin_txn(false, isolation.into_option(), read_only.into_option())?,
            },
            Utility::Commit => {
                let was_failed = failed;
                if self.txn.is_none() {
                    result
                        .notices
                        .push(warning(b"25P01", "there is no transaction in progress"));
                }
                self.end_txn(true)?;
                if was_failed {
                    result.tag = Tag::new("ROLLBACK");
                }
            }
            Utility::Rollback => {
                if self.txn.is_none() {
                    result
                        .notices
                        .push(warning(b"25P01", "there is no transaction in progress"));
                }
                self.end_txn(false)?;
            }
            Utility::Savepoint(name) => {
                let storage = self.engine.storage()?;
                let Some(t) = self.txn.as_mut().filter(|t| !t.implicit) else {
                    return Err(AionError::new(
                        SqlState::new(b"25P01"),
                        "SAVEPOINT can only be used in transaction blocks",
                    ));
                };
                storage
                    .savepoint(t.id, RStr::from_str(name))
                    .into_result()?;
                let mark = t.journal_len();
                t.more().savepoints.push((name.to_string(), mark));
            }
            Utility::RollbackToSavepoint(name) | Utility::ReleaseSavepoint(name) => {
                let rollback = matches!(u, Utility::RollbackToSavepoint(_));
                let verb = if rollback {
                    "ROLLBACK TO SAVEPOINT"
                } else {
                    "RELEASE SAVEPOINT"
                };
                let storage = self.engine.storage()?;
                let Some(t) = self.txn.as_mut().filter(|t| !t.implicit) else {
                    return Err(AionError::new(
                        SqlState::new(b"25P01"),
                        format!("{verb} can only be used in transaction blocks"),
                    ));
                };
                let id = t.id;
                let more = t.more.get_or_insert_with(Box::default);
                let Some(pos) = more
                    .savepoints
                    .iter()
                    .rposition(|(s, _)| s == name.as_str())
                else {
                    return Err(AionError::new(
                        SqlState::new(b"3B001"),
                        format!("savepoint \"{name}\" does not exist"),
                    ));
                };
                if rollback {
                    storage
                        .rollback_to_savepoint(id, RStr::from_str(name))
                        .into_result()?;
                    let mark = more.savepoints[pos].1.min(more.journal.len());
                    let undo = more.journal.split_off(mark);
                    more.savepoints.truncate(pos + 1);
                    self.engine.kernel_catalog.undo(undo);
                    t.failed = false;
                } else {
                    storage
                        .release_savepoint(id, RStr::from_str(name))
                        .into_result()?;
                    more.savepoints.truncate(pos);
                }
            }
            Utility::SetTransaction {
                isolation,
                read_only,
            } => match &mut self.txn {
                Some(t) if !t.implicit => {
                    if let Some(i) = isolation.into_option() {
                        t.isolation = i;
                    }
                    if let Some(r) = read_only.into_option() {
                        t.read_only = r;
                    }
                    self.set_txn_settings();
                }
                _ => result.notices.push(warning(
                    b"25P01",
                    "SET TRANSACTION can only be used in transaction blocks",
                )),
            },
            Utility::Set { name, value, local } => {
                self.set(
                    name,
                    value.as_ref().into_option().map(|v| v.as_str()),
                    *local,
                    &mut result,
                )?;
            }
            Utility::Reset(name) => self.set(name, None, false, &mut result)?,
            Utility::SetConfig { name, value, local } => {
                self.set(name, Some(value.as_str()), *local, &mut result)?;
                let shown = self.setting(name).unwrap_or_default().to_string();
                result.schema = Arc::new(plan.output.clone());
                result.rows = RowBatch::new(1);
                result.rows.push_row([Value::text(shown)]);
                result.tag = Tag::new("SELECT 1");
            }
            Utility::ResetAll => {
                let names: Vec<&'static str> = SESSION_SETTINGS
                    .iter()
                    .map(|(n, _)| *n)
                    .filter(|n| !READ_ONLY_SETTINGS.contains(n))
                    .collect();
                for n in names {
                    self.set(n, None, false, &mut result)?;
                }
            }
            Utility::Show(name) => {
                let canonical = canonical_setting(name).ok_or_else(|| unknown_setting(name))?;
                let value = self.settings.get(canonical).cloned().unwrap_or_default();
                let column = plan
                    .output
                    .fields
                    .first()
                    .map(|f| f.name.to_string())
                    .unwrap_or_else(|| canonical.to_string());
                result.schema =
                    Arc::new(Schema::new(vec![Field::new(column, DataType::TEXT, true)]));
                result.rows = RowBatch::new(1);
                result.rows.push_row([Value::text(value)]);
                result.tag = Tag::new("SHOW");
            }
            Utility::ShowAll => {
                result.schema = Arc::new(Schema::new(vec![
                    Field::new("name", DataType::TEXT, false),
                    Field::new("setting", DataType::TEXT, true),
                    Field::new("description", DataType::TEXT, true),
                ]));
                result.rows = RowBatch::new(3);
                let mut all: Vec<_> = self.settings.iter().collect();
                all.sort_by_key(|(k, _)| k.to_ascii_lowercase());
                for (k, v) in all {
                    result.rows.push_row([
                        Value::text(*k),
                        Value::text(v.as_str()),
                        Value::text(""),
                    ]);
                }
                result.tag = Tag::new("SHOW");
            }
        }
        result.format = self.format.clone();
        Ok(result)
    }

    fn set(
        &mut self,
        name: &str,
        value: Option<&str>,
        local: bool,
        result: &mut StatementResult,
    ) -> DbResult<()> {
        let lower = name.to_ascii_lowercase();
        let name: &str = match lower.as_str() {
            "time zone" | "timezone" => "TimeZone",
            "transaction isolation level" => "default_transaction_isolation",
            _ => name,
        };
        let canonical = canonical_setting(name).ok_or_else(|| unknown_setting(name))?;
        if READ_ONLY_SETTINGS.contains(&canonical) {
            return Err(AionError::new(
                SqlState::new(b"55P02"),
                format!("parameter \"{canonical}\" cannot be changed"),
            ));
        }
        let value = match value {
            Some(v) => {
                let current = self.settings.get(canonical).map_or("", String::as_str);
                validate_setting(canonical, v, current)?
            }
            None => {
                let d = SESSION_SETTINGS
                    .iter()
                    .find(|(n, _)| *n == canonical)
                    .map(|(_, d)| d.to_string())
                    .unwrap_or_default();
                match canonical {
                    "statement_timeout" if self.engine.limits.statement_timeout_ms > 0 => {
                        self.engine.limits.statement_timeout_ms.to_string()
                    }
                    "lock_timeout" if self.engine.limits.lock_timeout_ms > 0 => {
                        self.engine.limits.lock_timeout_ms.to_string()
                    }
                    _ => d,
                }
            }
        };
        if local && self.txn.as_ref().is_none_or(|t| t.implicit) {
            result.notices.push(warning(
                b"25P01",
                "SET LOCAL can only be used in transaction blocks",
            ));
            return Ok(());
        }
        if let Some(t) = &mut self.txn {
            let more = t.more();
            if more.settings_before.is_none() {
                more.settings_before = Some(self.settings.clone());
            }
        }
        if local {
            // SET LOCAL reverts when the block ends, even on COMMIT.
            let previous = self.settings.get(canonical).cloned().unwrap_or_default();
            if let Some(t) = &mut self.txn {
                let more = t.more();
                if !more.local_restore.iter().any(|(n, _)| *n == canonical) {
                    more.local_restore.push((canonical, previous));
                }
            }
        }
        self.settings.insert(canonical, value);
        self.settings_changed();
        Ok(())
    }
}

impl Drop for Session {
    /// A session that goes away (client disconnect, dropped connection)
    /// rolls back its open transaction, releasing its row locks, and its
    /// `currval` state is forgotten.
    fn drop(&mut self) {
        if self.txn.is_some() {
            if let Err(e) = self.end_txn(false) {
                log::warn!("rolling back the transaction of a closed session failed: {e}");
            }
        }
        self.engine
            .kernel_catalog
            .end_session(self.exec_ctx.session);
    }
}

fn unknown_setting(name: &str) -> AionError {
    AionError::new(
        SqlState::new(b"42704"),
        format!("unrecognized configuration parameter \"{name}\""),
    )
}

/// Checks a value and returns it as SHOW will print it. `current` is the
/// value in force (DateStyle keeps the half that is not given).
fn validate_setting(name: &'static str, value: &str, current: &str) -> DbResult<String> {
    let invalid = |hint: &str| {
        AionError::new(
            SqlState::new(b"22023"),
            format!("invalid value for parameter \"{name}\": \"{value}\""),
        )
        .with_hint(hint)
    };
    Ok(match name {
        "statement_timeout" | "lock_timeout" => {
            // SHOW prints the largest unit that divides the value exactly.
            let ms = parse_millis(name, value)?;
            match ms {
                0 => "0".to_string(),
                _ if ms % 86_400_000 == 0 => format!("{}d", ms / 86_400_000),
                _ if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
                _ if ms % 60_000 == 0 => format!("{}min", ms / 60_000),
                _ if ms % 1000 == 0 => format!("{}s", ms / 1000),
                _ => format!("{ms}ms"),
            }
        }
        "TimeZone" => TimeZone::parse(value)?.name().to_string(),
        "DateStyle" => {
            let current = DateStyle::parse(current, DateStyle::default()).unwrap_or_default();
            DateStyle::parse(value, current)?.name()
        }
        "IntervalStyle" => {
            if !value.trim().eq_ignore_ascii_case("postgres") {
                return Err(invalid(
                    "This version of AionDB supports IntervalStyle postgres only.",
                ));
            }
            "postgres".to_string()
        }
        "default_transaction_isolation" => {
            let i = parse_isolation(value).ok_or_else(|| {
                invalid("Available values: serializable, repeatable read, read committed, read uncommitted.")
            })?;
            i.name().to_string()
        }
        "default_transaction_read_only" | "standard_conforming_strings" => {
            match value.trim().to_ascii_lowercase().as_str() {
                "on" | "true" | "1" | "yes" => "on".to_string(),
                "off" | "false" | "0" | "no" => "off".to_string(),
                _ => return Err(invalid("Use on or off.")),
            }
        }
        "client_encoding" => {
            let v = value.trim().to_ascii_uppercase().replace('-', "");
            if v != "UTF8" && v != "UNICODE" {
                return Err(AionError::new(
                    SqlState::new(b"22023"),
                    format!("invalid value for parameter \"client_encoding\": \"{value}\""),
                )
                .with_hint("AionDB speaks UTF8 only."));
            }
            "UTF8".to_string()
        }
        "extra_float_digits" => {
            let n: i32 = value
                .trim()
                .parse()
                .map_err(|_| invalid("An integer from -15 to 3."))?;
            if !(-15..=3).contains(&n) {
                return Err(invalid("An integer from -15 to 3."));
            }
            n.to_string()
        }
        _ => value.to_string(),
    })
}

/// A COPY FROM STDIN plan (it waits for data before it runs).
/// Whether `plan` writes nothing, locks nothing and reads through at most
/// one scan: run alone, it needs no transaction of its own from a backend
/// with autocommit reads (one scan reads one snapshot, so the statement
/// still sees one state of the database). Subqueries and joins read through
/// several scans, each of which would take its own snapshot: they run in a
/// transaction.
fn single_read(plan: &Plan) -> bool {
    if plan.writes || plan.utility().is_some() || plan.copy().is_some() {
        return false;
    }
    let mut scans = 0;
    let nodes_ok = plan.nodes.iter().all(|n| match &n.op {
        Operator::SeqScan { lock, .. } | Operator::IndexScan { lock, .. } => {
            scans += 1;
            *lock == RowLockMode::None
        }
        Operator::Filter { .. }
        | Operator::Project { .. }
        | Operator::Values { .. }
        | Operator::Limit { .. }
        | Operator::Sort { .. }
        | Operator::Aggregate { .. }
        | Operator::Distinct { .. } => true,
        _ => false,
    });
    nodes_ok
        && scans <= 1
        && !plan
            .exprs
            .iter()
            .any(|e| matches!(e.kind, ExprKind::Subquery { .. }))
}

fn is_copy_in(plan: &Plan) -> bool {
    matches!(plan.copy(), Some((_, true)))
}

fn command_tag(command: &str, e: &Executed, returns_rows: bool) -> Tag {
    match command {
        "SELECT" => Tag::counted("SELECT", e.rows.len() as u64),
        "INSERT" => Tag::counted("INSERT 0", e.affected),
        "UPDATE" | "DELETE" | "MERGE" | "FETCH" | "MOVE" | "COPY" => {
            Tag::counted(command, e.affected)
        }
        _ if returns_rows && command.is_empty() => Tag::counted("SELECT", e.rows.len() as u64),
        _ => Tag::new(command),
    }
}
