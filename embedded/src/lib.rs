//! # aiondb-embedded
//!
//! AionDB inside your process. A [`Database`] is a kernel with the bundled
//! plugin set (parser, planner, executor, storage, functions); a
//! [`Connection`] is a kernel session, exactly what a pgwire client gets, so
//! a query means the same thing in-process and over the network.
//!
//! ```
//! use aiondb_embedded::{Database, Value};
//! let db = Database::in_memory()?;
//! let mut conn = db.connect_anonymous("app", "doc-example")?;
//! conn.execute("CREATE TABLE t (id int PRIMARY KEY, name text)")?;
//! conn.execute("INSERT INTO t VALUES (1, 'one'), (2, 'two')")?;
//! let stmt = conn.prepare("SELECT name FROM t WHERE id = $1")?;
//! let result = conn.query(&stmt, &[Value::Int4(2)])?;
//! assert_eq!(result.rows().next().and_then(|r| r.get_str(0)), Some("two"));
//! # Ok::<(), aiondb_embedded::AionError>(())
//! ```

use std::path::Path;
use std::sync::Arc;

pub mod dump;

use aiondb_kernel::config::{keys, Config};
use aiondb_kernel::session::{PreparedStatement, Session, SessionOptions, StatementResult};
use aiondb_kernel::tag::Tag;
use aiondb_kernel::Kernel;
use aiondb_sdk::plugin::PluginModuleRef;
use aiondb_sdk::row::{Field, RowBatch, Schema};

pub use aiondb_kernel::session::TransactionStatus;
pub use aiondb_sdk::error::{AionError, DbResult, SqlState};
pub use aiondb_sdk::types::{DataType, TypeId};
use aiondb_sdk::value::write_text_with;
pub use aiondb_sdk::value::{FormatOptions, Value};

/// The engine plugins linked into AionDB builds, in no particular order: the
/// kernel orders them by dependency. The server binary links these plus the
/// network surfaces (`http`), which an embedded database does not serve.
pub fn bundled_plugins() -> Vec<PluginModuleRef> {
    vec![
        aiondb_plugin_functions_core::plugin_module(),
        aiondb_sql_parser::plugin_module(),
        aiondb_storage_memory::plugin_module(),
        aiondb_storage_durable::plugin_module(),
        aiondb_plugin_sql_planner::plugin_module(),
        aiondb_plugin_sql_executor::plugin_module(),
    ]
}

/// An open database: a started kernel.
pub struct Database {
    kernel: Kernel,
}

fn config_error(e: impl std::fmt::Display) -> AionError {
    AionError::new(SqlState::new(b"22023"), e.to_string())
}

impl Database {
    /// An ephemeral database held in memory (the `in_memory` backend).
    pub fn in_memory() -> DbResult<Database> {
        Self::with_settings(&[(keys::EPHEMERAL, "true")])
    }

    /// Opens (or creates) a database in `dir` with the durable backend:
    /// recovery replays its write-ahead log; commits are fsynced.
    ///
    /// # Errors
    /// The directory must be on an encrypted filesystem (dm-crypt/LUKS or
    /// eCryptfs) unless [`Database::open_with`] passes
    /// `AIONDB_ALLOW_UNENCRYPTED_STORAGE=true`; a directory with storage
    /// files but no manifest, a newer format or a corrupt log is refused
    /// with an error that says what to run.
    pub fn open(dir: impl AsRef<Path>) -> DbResult<Database> {
        Self::open_with(dir, &[])
    }

    /// [`Database::open`] with further `AIONDB_*` settings, e.g.
    /// `("AIONDB_ALLOW_UNENCRYPTED_STORAGE", "true")` or
    /// `("AIONDB_STORAGE_DURABLE_WAL_COMMIT_POLICY", "every:8")`.
    pub fn open_with(dir: impl AsRef<Path>, settings: &[(&str, &str)]) -> DbResult<Database> {
        let dir = dir.as_ref().to_string_lossy().to_string();
        let mut all = vec![
            (keys::STORAGE_BACKEND, "durable"),
            (keys::DATA_DIR, dir.as_str()),
        ];
        all.extend_from_slice(settings);
        Self::with_settings(&all)
    }

    /// A database configured with `AIONDB_*` settings (as the server reads
    /// them from its environment), e.g. `("AIONDB_LIMITS_MAX_RESULT_ROWS", "1000")`.
    /// The process environment is not consulted.
    pub fn with_settings(settings: &[(&str, &str)]) -> DbResult<Database> {
        let cli: Vec<(&str, String)> = settings.iter().map(|(k, v)| (*k, v.to_string())).collect();
        let (config, warnings) = Config::load(&cli, Vec::new()).map_err(config_error)?;
        for w in warnings {
            log::warn!("{w}");
        }
        Self::from_config(config)
    }

    /// A database from a loaded configuration (the `aiondb` binary's
    /// maintenance commands: flags over the environment). Plugins from
    /// `AIONDB_PLUGIN_DIR` are loaded next to the bundled set.
    pub fn from_config(config: Config) -> DbResult<Database> {
        let kernel = Kernel::builder(config)
            .bundled(bundled_plugins())
            .build()
            .map_err(|e| AionError::new(SqlState::new(b"58000"), e.to_string()))?;
        kernel.start().map_err(|e| match e {
            aiondb_kernel::KernelError::Engine(e) => e,
            e => AionError::new(SqlState::FEATURE_NOT_SUPPORTED, e.to_string()),
        })?;
        Ok(Database { kernel })
    }

    /// Opens a session for `application` on `database`, without
    /// authentication (the embedding process is trusted).
    pub fn connect_anonymous(&self, database: &str, application: &str) -> DbResult<Connection> {
        let session = self.kernel.session(SessionOptions {
            user: "aiondb".to_string(),
            database: database.to_string(),
            application: application.to_string(),
        })?;
        Ok(Connection { session })
    }

    /// The kernel underneath (registry, catalog, metrics).
    pub fn kernel(&self) -> &Kernel {
        &self.kernel
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        self.kernel.shutdown();
    }
}

/// A session. Not shared between threads; open one per thread.
pub struct Connection {
    session: Session,
}

/// A prepared statement, reusable with different parameters.
pub struct Statement {
    inner: PreparedStatement,
}

impl Statement {
    /// Parameter types, inferred or declared (`$1` first).
    pub fn param_types(&self) -> &[DataType] {
        self.inner.param_types()
    }

    pub fn columns(&self) -> &[Field] {
        &self.inner.columns().fields
    }
}

impl Connection {
    /// Runs one or more statements; returns the last statement's result.
    /// Several statements in one string share one implicit transaction, as
    /// in PostgreSQL's simple query protocol.
    pub fn execute(&mut self, sql: &str) -> DbResult<QueryResult> {
        let mut all = self.execute_batch(sql)?;
        Ok(all.pop().unwrap_or_else(QueryResult::empty))
    }

    /// Runs one or more statements and returns every result.
    pub fn execute_batch(&mut self, sql: &str) -> DbResult<Vec<QueryResult>> {
        match self.session.execute(sql) {
            Ok(results) => Ok(results.into_iter().map(QueryResult::from).collect()),
            Err((_, e)) => Err(e),
        }
    }

    /// Runs one `COPY table [(columns)] FROM STDIN [WITH (...)]` with
    /// `data` as its input (PostgreSQL's text or CSV format), as one
    /// statement: a bad row loads nothing. Returns the `COPY n` result.
    pub fn copy_from_stdin(&mut self, sql: &str, data: &[u8]) -> DbResult<QueryResult> {
        let waiting = match self.session.execute(sql) {
            Ok(r) => r
                .last()
                .is_some_and(|r| r.copy.as_ref().is_some_and(|c| c.copy_in)),
            Err((_, e)) => return Err(e),
        };
        if !waiting {
            return Err(AionError::new(
                SqlState::new(b"42601"),
                "copy_from_stdin takes one COPY ... FROM STDIN statement",
            ));
        }
        match self.session.copy_in(data.to_vec()) {
            Ok(mut r) if r.len() == 1 => Ok(QueryResult::from(r.remove(0))),
            Ok(_) => Err(AionError::new(
                SqlState::new(b"42601"),
                "copy_from_stdin takes one COPY ... FROM STDIN statement",
            )),
            Err((_, e)) => Err(e),
        }
    }

    /// Parses and plans a statement once; `$1`, `$2`... are parameters.
    pub fn prepare(&mut self, sql: &str) -> DbResult<Statement> {
        Ok(Statement {
            inner: self.session.prepare(sql, &[])?,
        })
    }

    /// Prepares with declared parameter types.
    pub fn prepare_typed(&mut self, sql: &str, types: &[DataType]) -> DbResult<Statement> {
        Ok(Statement {
            inner: self.session.prepare(sql, types)?,
        })
    }

    /// Runs a prepared statement (query or command) with parameters.
    pub fn query(&mut self, stmt: &Statement, params: &[Value]) -> DbResult<QueryResult> {
        self.session
            .execute_prepared(&stmt.inner, params)
            .map(QueryResult::from)
    }

    pub fn transaction_status(&self) -> TransactionStatus {
        self.session.transaction_status()
    }

    /// The session's TimeZone and DateStyle as they are now.
    pub fn format_options(&self) -> &FormatOptions {
        self.session.format_options()
    }

    /// Current value of a session setting (`SHOW`).
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.session.setting(name)
    }
}

/// The result of one statement: command tag, columns and typed rows.
#[derive(Clone, Debug)]
pub struct QueryResult {
    tag: Tag,
    /// Shared with the prepared statement: results copy no column list.
    columns: Arc<Schema>,
    rows: RowBatch,
    rows_affected: u64,
    notices: Vec<AionError>,
    /// The session's TimeZone and DateStyle when the result was made.
    format: Arc<FormatOptions>,
}

impl From<StatementResult> for QueryResult {
    fn from(r: StatementResult) -> Self {
        QueryResult {
            tag: r.tag,
            columns: r.schema,
            rows: r.rows,
            rows_affected: r.rows_affected,
            notices: r.notices,
            format: r.format,
        }
    }
}

impl QueryResult {
    fn empty() -> Self {
        QueryResult {
            tag: Tag::default(),
            columns: Arc::default(),
            rows: RowBatch::new(0),
            rows_affected: 0,
            notices: Vec::new(),
            format: Arc::default(),
        }
    }

    /// The command tag, as PostgreSQL reports it (`SELECT 3`, `INSERT 0 1`).
    pub fn tag(&self) -> &str {
        self.tag.as_str()
    }

    pub fn columns(&self) -> &[Field] {
        &self.columns.fields
    }

    pub fn rows_affected(&self) -> u64 {
        self.rows_affected
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn rows(&self) -> impl ExactSizeIterator<Item = Row<'_>> + '_ {
        self.rows.rows().map(|values| Row { values })
    }

    /// Warnings and notices the statement raised.
    pub fn notices(&self) -> &[AionError] {
        &self.notices
    }

    /// Rows rendered in PostgreSQL's text format (`None` for NULL), with
    /// the session's TimeZone and DateStyle as they were when the
    /// statement ran.
    pub fn to_text(&self) -> Vec<Vec<Option<String>>> {
        let text = |v: &Value| {
            (!v.is_null()).then(|| {
                let mut s = String::new();
                write_text_with(v, &self.format, &mut s);
                s
            })
        };
        self.rows()
            .map(|r| r.values.iter().map(text).collect())
            .collect()
    }

    /// The TimeZone and DateStyle the values are to be printed with.
    pub fn format_options(&self) -> &FormatOptions {
        &self.format
    }
}

/// One row of a [`QueryResult`].
#[derive(Clone, Copy, Debug)]
pub struct Row<'a> {
    values: &'a [Value],
}

impl<'a> Row<'a> {
    pub fn values(&self) -> &'a [Value] {
        self.values
    }

    pub fn get(&self, column: usize) -> Option<&'a Value> {
        self.values.get(column)
    }

    pub fn get_str(&self, column: usize) -> Option<&'a str> {
        self.get(column).and_then(Value::as_str)
    }

    /// Any integer column as i64.
    pub fn get_i64(&self, column: usize) -> Option<i64> {
        self.get(column).and_then(Value::as_i64)
    }

    pub fn get_f64(&self, column: usize) -> Option<f64> {
        match self.get(column)? {
            Value::Float8(f) => Some(*f),
            Value::Float4(f) => Some(*f as f64),
            v => v.as_i64().map(|i| i as f64),
        }
    }

    pub fn get_bool(&self, column: usize) -> Option<bool> {
        match self.get(column)? {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn is_null(&self, column: usize) -> bool {
        self.get(column).is_none_or(Value::is_null)
    }
}
