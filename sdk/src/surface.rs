//! What surfaces (pgwire, HTTP) use to run SQL: kernel sessions behind a
//! stable interface, and the kernel's engine pool to run them on.
//!
//! Session calls are synchronous and may take long (a big query, a lock
//! wait), so a surface never makes them on its network threads: it wraps
//! the work in an [`EngineJob`] and hands it to [`Host::submit`]
//! (crate::host::Host), which runs it on the kernel's engine pool; the job
//! reports back through the surface's own channel.

use abi_stable::{
    sabi_trait,
    std_types::{RBox, ROption, RSlice, RStr, RString, RVec, Tuple2},
    StableAbi,
};

use crate::capability::CancelFlag;
use crate::error::{AResult, AionError};
use crate::plan::CopyOptions;
use crate::row::{RowBatch, Schema};
use crate::types::DataType;
use crate::value::Value;

/// An authenticated client asking for a session.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, Default)]
pub struct SessionRequest {
    pub user: RString,
    pub database: RString,
    pub application: RString,
    /// Settings the client asked for at startup (`DateStyle`, `TimeZone`,
    /// `search_path`, `options`...), applied as SET would.
    pub settings: RVec<Tuple2<RString, RString>>,
}

/// The result of one statement.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct StatementOutcome {
    /// Command tag as PostgreSQL sends it (`SELECT 2`, `INSERT 0 1`).
    pub tag: RString,
    /// Whether the statement returns rows (a SELECT of no rows still does).
    pub returns_rows: bool,
    pub columns: Schema,
    pub rows: RowBatch,
    pub rows_affected: u64,
    /// Warnings and notices raised while running.
    pub notices: RVec<AionError>,
    /// Set for COPY: see [`CopyState`].
    pub copy: ROption<CopyState>,
}

/// What a COPY statement needs from the surface.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct CopyState {
    /// `FROM STDIN`: the statement waits for its data. The surface
    /// collects what the client sends and hands it to
    /// [`SurfaceSession::copy_in`] (or gives up with
    /// [`SurfaceSession::copy_fail`]); nothing else may run in between.
    /// The outcome carrying this is the last of its query string so far.
    /// Otherwise `TO STDOUT`: `rows` holds the data to write in `options`'
    /// format, and `tag` is complete (`COPY n`).
    pub copy_in: bool,
    pub options: CopyOptions,
    /// Columns per data row.
    pub columns: u32,
}

/// The results of a simple-query string: one per statement that ran, then
/// the error that stopped it, if any.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct QueryOutcome {
    pub results: RVec<StatementOutcome>,
    pub error: ROption<AionError>,
}

/// A statement prepared in a session.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct PreparedInfo {
    /// Handle for [`SurfaceSession::execute`] and [`SurfaceSession::close`].
    pub id: u64,
    /// Parameter types, inferred where the client left them open.
    pub param_types: RVec<DataType>,
    pub columns: Schema,
    /// Whether executing it returns rows.
    pub returns_rows: bool,
}

/// A kernel session as a surface sees it. One client, one session; calls
/// come one at a time.
#[sabi_trait]
pub trait SurfaceSession: Send {
    /// Runs a query string (one or more statements) with PostgreSQL's
    /// simple-query semantics.
    fn simple_query(&mut self, sql: RStr<'_>) -> QueryOutcome;
    /// Parses and plans one statement; `param_types` may be shorter than
    /// the statement's parameters, and `Unknown` leaves a type open.
    fn prepare(
        &mut self,
        sql: RStr<'_>,
        param_types: RSlice<'_, DataType>,
    ) -> AResult<PreparedInfo>;
    /// Runs a prepared statement as the extended query protocol does:
    /// outside a transaction block, the statements executed up to the next
    /// [`SurfaceSession::sync`] share one implicit transaction, and an
    /// error rolls all of them back.
    fn execute(&mut self, id: u64, params: RSlice<'_, Value>) -> AResult<StatementOutcome>;
    fn close(&mut self, id: u64);
    /// `b'I'` idle, `b'T'` in a transaction block, `b'E'` in a failed one.
    fn transaction_status(&self) -> u8;
    /// A setting's current value as SHOW prints it.
    fn setting(&self, name: RStr<'_>) -> ROption<RString>;
    /// The settings PostgreSQL reports to clients with ParameterStatus,
    /// with their current values.
    fn reported_settings(&self) -> RVec<Tuple2<RString, RString>>;
    /// Runs the COPY FROM STDIN that the last outcome left waiting (see
    /// [`CopyState`]) with all of its data, in one statement: a bad row
    /// loads nothing. With the simple query protocol the rest of the query
    /// string runs after it, so the outcome may again wait for COPY data.
    fn copy_in(&mut self, data: RVec<u8>) -> QueryOutcome;
    /// The client gave up the waiting COPY (CopyFail, or the surface could
    /// not take its data): it fails with 57014 and `message`.
    fn copy_fail(&mut self, message: RStr<'_>) -> QueryOutcome;
    /// The flag that cancels this session's running statement. Taken once
    /// when the session opens: setting it needs no lock on the session,
    /// which is busy running the statement. The surface resets it when a
    /// new command starts, so a late cancel cannot hit the next one.
    fn cancel_flag(&self) -> CancelFlag;
    /// The extended protocol's Sync: commits the implicit transaction of
    /// the statements executed since the last one (nothing when none is
    /// open).
    fn sync(&mut self) -> AResult<()>;
    /// [`SurfaceSession::prepare`] for a named statement: the name joins
    /// the session's namespace of prepared statements (42P05 when taken),
    /// which SQL `DEALLOCATE` works on. After DEALLOCATE, executing the
    /// statement's id fails with 26000.
    #[sabi(last_prefix_field)]
    fn prepare_named(
        &mut self,
        name: RStr<'_>,
        sql: RStr<'_>,
        param_types: RSlice<'_, DataType>,
    ) -> AResult<PreparedInfo>;
    /// A number that changes whenever a setting does (SET, RESET,
    /// set_config, the end of a transaction undoing SET LOCAL): a surface
    /// re-reads [`SurfaceSession::reported_settings`] only when it moved.
    fn settings_version(&self) -> u64;
}

pub type SurfaceSessionBox = SurfaceSession_TO<'static, RBox<()>>;

/// Work a surface hands to the engine pool. `run` is called exactly once,
/// on a pool thread.
#[sabi_trait]
pub trait EngineJob: Send {
    #[sabi(last_prefix_field)]
    fn run(&mut self);
}

pub type EngineJobBox = EngineJob_TO<'static, RBox<()>>;

/// Wraps a closure as an [`EngineJob`]. A panic inside it is caught here
/// (it would abort the process if it unwound across the boundary) and
/// logged; the closure's own channel then reports nothing, which the
/// surface treats as a failed job.
pub fn job<F: FnOnce() + Send + 'static>(f: F) -> EngineJobBox {
    struct Once<F>(Option<F>);
    impl<F: FnOnce() + Send + 'static> EngineJob for Once<F> {
        fn run(&mut self) {
            if let Some(f) = self.0.take() {
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
                    log::error!("an engine job panicked");
                }
            }
        }
    }
    EngineJob_TO::from_value(Once(Some(f)), abi_stable::sabi_trait::TD_Opaque)
}
