//! Kernel sessions behind the SDK's `SurfaceSession`, for surface plugins.

use std::collections::HashMap;

use abi_stable::std_types::{ROption, RSlice, RStr, RString, RVec, Tuple2};
use aiondb_sdk::capability::CancelFlag;
use aiondb_sdk::error::{AResult, AionError, DbResult, SqlState};
use aiondb_sdk::surface::{PreparedInfo, QueryOutcome, StatementOutcome, SurfaceSession};
use aiondb_sdk::types::DataType;
use aiondb_sdk::value::Value;

use crate::host::SessionGuard;
use crate::session::{PreparedStatement, Session, StatementResult, TransactionStatus};

/// Settings PostgreSQL reports with ParameterStatus at startup and
/// whenever they change.
pub const REPORTED: &[&str] = &[
    "application_name",
    "client_encoding",
    "DateStyle",
    "integer_datetimes",
    "IntervalStyle",
    "server_encoding",
    "server_version",
    "standard_conforming_strings",
    "TimeZone",
];

/// Prepared statements a client may keep open at once (named and
/// unnamed); beyond it, Parse fails with 54000 until some are closed.
const MAX_PREPARED: usize = 10_000;

pub(crate) struct KernelSurfaceSession {
    pub session: Session,
    /// Held for the role's CONNECTION LIMIT count.
    _guard: SessionGuard,
    /// Prepared statements by handle, with their name when they have one
    /// in the session's namespace.
    prepared: HashMap<u64, (PreparedStatement, Option<String>)>,
    next_id: u64,
}

impl KernelSurfaceSession {
    pub fn new(session: Session, guard: SessionGuard) -> Self {
        KernelSurfaceSession {
            session,
            _guard: guard,
            prepared: HashMap::new(),
            next_id: 1,
        }
    }
}

pub(crate) fn outcome(r: StatementResult) -> StatementOutcome {
    StatementOutcome {
        tag: RString::from(r.tag.as_str()),
        returns_rows: r.copy.is_none() && !r.schema.fields.is_empty(),
        columns: (*r.schema).clone(),
        rows: r.rows,
        rows_affected: r.rows_affected,
        notices: RVec::from(r.notices),
        copy: r.copy.map(|c| *c).into(),
    }
}

fn query_outcome(
    r: Result<Vec<StatementResult>, (Vec<StatementResult>, AionError)>,
) -> QueryOutcome {
    match r {
        Ok(results) => QueryOutcome {
            results: results.into_iter().map(outcome).collect(),
            error: ROption::RNone,
        },
        Err((results, e)) => QueryOutcome {
            results: results.into_iter().map(outcome).collect(),
            error: ROption::RSome(e),
        },
    }
}

fn r<T>(x: DbResult<T>) -> AResult<T> {
    x.into()
}

impl KernelSurfaceSession {
    /// Drops the statements a DEALLOCATE just removed from the session's
    /// namespace.
    fn forget_deallocated(&mut self) {
        for id in self.session.take_deallocated() {
            self.prepared.remove(&id);
        }
    }
}

impl SurfaceSession for KernelSurfaceSession {
    fn simple_query(&mut self, sql: RStr<'_>) -> QueryOutcome {
        let out = query_outcome(self.session.execute(sql.as_str()));
        self.forget_deallocated();
        out
    }

    fn copy_in(&mut self, data: RVec<u8>) -> QueryOutcome {
        let out = query_outcome(self.session.copy_in(data.into_vec()));
        self.forget_deallocated();
        out
    }

    fn copy_fail(&mut self, message: RStr<'_>) -> QueryOutcome {
        QueryOutcome {
            results: RVec::new(),
            error: ROption::RSome(self.session.copy_fail(message.as_str())),
        }
    }

    fn prepare(
        &mut self,
        sql: RStr<'_>,
        param_types: RSlice<'_, DataType>,
    ) -> AResult<PreparedInfo> {
        if self.prepared.len() >= MAX_PREPARED {
            return r(Err(AionError::new(
                SqlState::PROGRAM_LIMIT_EXCEEDED,
                format!("too many prepared statements (at most {MAX_PREPARED} per connection)"),
            )
            .with_hint("Close prepared statements that are no longer needed.")));
        }
        let p = match self.session.prepare(sql.as_str(), param_types.as_slice()) {
            Ok(p) => p,
            Err(e) => return r(Err(e)),
        };
        let id = self.next_id;
        self.next_id += 1;
        let info = PreparedInfo {
            id,
            param_types: p.param_types().iter().cloned().collect(),
            columns: p.columns().clone(),
            returns_rows: p.returns_rows(),
        };
        self.prepared.insert(id, (p, None));
        r(Ok(info))
    }

    fn execute(&mut self, id: u64, params: RSlice<'_, Value>) -> AResult<StatementOutcome> {
        let Some((p, _)) = self.prepared.get(&id) else {
            return r(Err(AionError::new(
                SqlState::new(b"26000"),
                format!("prepared statement {id} does not exist"),
            )));
        };
        let out = self
            .session
            .execute_pipelined(p, params.as_slice())
            .map(outcome);
        self.forget_deallocated();
        r(out)
    }

    fn prepare_named(
        &mut self,
        name: RStr<'_>,
        sql: RStr<'_>,
        param_types: RSlice<'_, DataType>,
    ) -> AResult<PreparedInfo> {
        let info = match self.prepare(sql, param_types).into_result() {
            Ok(i) => i,
            Err(e) => return r(Err(e)),
        };
        if let Err(e) = self.session.name_prepared(name.as_str(), info.id) {
            self.prepared.remove(&info.id);
            return r(Err(e));
        }
        if let Some(entry) = self.prepared.get_mut(&info.id) {
            entry.1 = Some(name.to_string());
        }
        r(Ok(info))
    }

    fn sync(&mut self) -> AResult<()> {
        r(self.session.sync())
    }

    fn close(&mut self, id: u64) {
        if let Some((_, Some(name))) = self.prepared.remove(&id) {
            self.session.unname_prepared(&name);
        }
    }

    fn transaction_status(&self) -> u8 {
        match self.session.transaction_status() {
            TransactionStatus::Idle => b'I',
            TransactionStatus::InBlock => b'T',
            TransactionStatus::Failed => b'E',
        }
    }

    fn setting(&self, name: RStr<'_>) -> ROption<RString> {
        self.session
            .setting(name.as_str())
            .map(RString::from)
            .into()
    }

    fn settings_version(&self) -> u64 {
        self.session.settings_version()
    }

    fn cancel_flag(&self) -> CancelFlag {
        self.session.cancel_flag()
    }

    fn reported_settings(&self) -> RVec<Tuple2<RString, RString>> {
        REPORTED
            .iter()
            .map(|n| {
                Tuple2(
                    RString::from(*n),
                    RString::from(self.session.setting(n).unwrap_or_default()),
                )
            })
            .collect()
    }
}
