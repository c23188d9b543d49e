//! Errors that cross the plugin boundary: a PostgreSQL SQLSTATE plus the
//! fields of an `ErrorResponse` a client can act on.

use std::fmt;

use abi_stable::{
    std_types::{RBox, ROption, RResult, RString},
    StableAbi,
};

/// A five-character PostgreSQL SQLSTATE code, stored inline.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SqlState([u8; 5]);

impl SqlState {
    /// Builds a code from its five ASCII characters.
    pub const fn new(code: &[u8; 5]) -> Self {
        SqlState(*code)
    }

    /// The code as text, e.g. `"22012"`.
    pub fn as_str(&self) -> &str {
        // Codes are built from ASCII literals only.
        std::str::from_utf8(&self.0).unwrap_or("XX000")
    }

    /// The two-character class, e.g. `"22"` for data exceptions.
    pub fn class(&self) -> &str {
        &self.as_str()[..2]
    }

    pub const SUCCESSFUL_COMPLETION: SqlState = SqlState::new(b"00000");
    pub const WARNING: SqlState = SqlState::new(b"01000");
    pub const FEATURE_NOT_SUPPORTED: SqlState = SqlState::new(b"0A000");
    pub const INVALID_PARAMETER_VALUE: SqlState = SqlState::new(b"22023");
    pub const NUMERIC_VALUE_OUT_OF_RANGE: SqlState = SqlState::new(b"22003");
    pub const DIVISION_BY_ZERO: SqlState = SqlState::new(b"22012");
    pub const INVALID_TEXT_REPRESENTATION: SqlState = SqlState::new(b"22P02");
    pub const INVALID_DATETIME_FORMAT: SqlState = SqlState::new(b"22007");
    pub const DATETIME_FIELD_OVERFLOW: SqlState = SqlState::new(b"22008");
    pub const STRING_DATA_RIGHT_TRUNCATION: SqlState = SqlState::new(b"22001");
    pub const NOT_NULL_VIOLATION: SqlState = SqlState::new(b"23502");
    pub const FOREIGN_KEY_VIOLATION: SqlState = SqlState::new(b"23503");
    pub const UNIQUE_VIOLATION: SqlState = SqlState::new(b"23505");
    pub const CHECK_VIOLATION: SqlState = SqlState::new(b"23514");
    pub const INVALID_TRANSACTION_STATE: SqlState = SqlState::new(b"25000");
    pub const IN_FAILED_SQL_TRANSACTION: SqlState = SqlState::new(b"25P02");
    pub const INVALID_AUTHORIZATION_SPECIFICATION: SqlState = SqlState::new(b"28000");
    pub const INVALID_PASSWORD: SqlState = SqlState::new(b"28P01");
    pub const SERIALIZATION_FAILURE: SqlState = SqlState::new(b"40001");
    pub const DEADLOCK_DETECTED: SqlState = SqlState::new(b"40P01");
    pub const SYNTAX_ERROR: SqlState = SqlState::new(b"42601");
    pub const INSUFFICIENT_PRIVILEGE: SqlState = SqlState::new(b"42501");
    pub const UNDEFINED_COLUMN: SqlState = SqlState::new(b"42703");
    pub const UNDEFINED_FUNCTION: SqlState = SqlState::new(b"42883");
    pub const UNDEFINED_TABLE: SqlState = SqlState::new(b"42P01");
    pub const UNDEFINED_OBJECT: SqlState = SqlState::new(b"42704");
    pub const DUPLICATE_TABLE: SqlState = SqlState::new(b"42P07");
    pub const DUPLICATE_OBJECT: SqlState = SqlState::new(b"42710");
    pub const DUPLICATE_FUNCTION: SqlState = SqlState::new(b"42723");
    pub const DUPLICATE_SCHEMA: SqlState = SqlState::new(b"42P06");
    pub const DATATYPE_MISMATCH: SqlState = SqlState::new(b"42804");
    pub const UNDEFINED_PARAMETER: SqlState = SqlState::new(b"42P02");
    pub const INVALID_SCHEMA_NAME: SqlState = SqlState::new(b"3F000");
    pub const PROGRAM_LIMIT_EXCEEDED: SqlState = SqlState::new(b"54000");
    pub const TOO_MANY_CONNECTIONS: SqlState = SqlState::new(b"53300");
    pub const OUT_OF_MEMORY: SqlState = SqlState::new(b"53200");
    pub const LOCK_NOT_AVAILABLE: SqlState = SqlState::new(b"55P03");
    pub const OBJECT_NOT_IN_PREREQUISITE_STATE: SqlState = SqlState::new(b"55000");
    pub const QUERY_CANCELED: SqlState = SqlState::new(b"57014");
    pub const ADMIN_SHUTDOWN: SqlState = SqlState::new(b"57P01");
    pub const CANNOT_CONNECT_NOW: SqlState = SqlState::new(b"57P03");
    pub const SYSTEM_ERROR: SqlState = SqlState::new(b"58000");
    pub const IO_ERROR: SqlState = SqlState::new(b"58030");
    pub const UNDEFINED_FILE: SqlState = SqlState::new(b"58P01");
    pub const CONFIG_FILE_ERROR: SqlState = SqlState::new(b"F0000");
    pub const INTERNAL_ERROR: SqlState = SqlState::new(b"XX000");
    pub const DATA_CORRUPTED: SqlState = SqlState::new(b"XX001");
}

impl fmt::Debug for SqlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SqlState({})", self.as_str())
    }
}

impl fmt::Display for SqlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Severity of an error or notice, as PostgreSQL reports it.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Fatal,
    Panic,
    Warning,
    Notice,
    Info,
}

impl Severity {
    pub fn as_str(&self) -> &'static str {
        match self {
            Severity::Error => "ERROR",
            Severity::Fatal => "FATAL",
            Severity::Panic => "PANIC",
            Severity::Warning => "WARNING",
            Severity::Notice => "NOTICE",
            Severity::Info => "INFO",
        }
    }
}

/// The error type of every fallible call across the plugin boundary.
///
/// Carries what a PostgreSQL `ErrorResponse` carries so that surfaces can
/// report it unchanged.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct AionError {
    pub sqlstate: SqlState,
    pub severity: Severity,
    pub message: RString,
    /// Detail, hint, position and context, boxed: most errors carry none,
    /// and every result that may hold an error is moved through several
    /// layers per statement (with these inline, each move of a result was
    /// a `memcpy` call).
    extra: ROption<RBox<ErrorExtra>>,
}

/// The optional fields of an [`AionError`].
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Default)]
struct ErrorExtra {
    detail: ROption<RString>,
    hint: ROption<RString>,
    /// 1-based character position in the statement text, when known.
    position: ROption<u32>,
    /// Where it happened (PostgreSQL's CONTEXT line, e.g.
    /// `COPY t, line 2, column a: "x"`).
    context: ROption<RString>,
}

impl AionError {
    pub fn new(sqlstate: SqlState, message: impl Into<String>) -> Self {
        AionError {
            sqlstate,
            severity: Severity::Error,
            message: RString::from(message.into()),
            extra: ROption::RNone,
        }
    }

    /// An internal error (XX000): a bug or a contained plugin panic.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(SqlState::INTERNAL_ERROR, message)
    }

    pub fn feature_not_supported(message: impl Into<String>) -> Self {
        Self::new(SqlState::FEATURE_NOT_SUPPORTED, message)
    }

    fn extra_mut(&mut self) -> &mut ErrorExtra {
        self.extra
            .get_or_insert_with(|| RBox::new(ErrorExtra::default()))
    }

    fn extra(&self) -> Option<&ErrorExtra> {
        self.extra.as_ref().into_option().map(|e| &**e)
    }

    /// PostgreSQL's DETAIL.
    pub fn detail(&self) -> Option<&str> {
        self.extra()?
            .detail
            .as_ref()
            .into_option()
            .map(RString::as_str)
    }

    /// PostgreSQL's HINT.
    pub fn hint(&self) -> Option<&str> {
        self.extra()?
            .hint
            .as_ref()
            .into_option()
            .map(RString::as_str)
    }

    /// 1-based character position in the statement text, when known.
    pub fn position(&self) -> Option<u32> {
        self.extra()?.position.into_option()
    }

    /// Where it happened (PostgreSQL's CONTEXT line).
    pub fn context(&self) -> Option<&str> {
        self.extra()?
            .context
            .as_ref()
            .into_option()
            .map(RString::as_str)
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.extra_mut().detail = ROption::RSome(RString::from(detail.into()));
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.extra_mut().hint = ROption::RSome(RString::from(hint.into()));
        self
    }

    pub fn with_position(mut self, position: u32) -> Self {
        self.extra_mut().position = ROption::RSome(position);
        self
    }

    pub fn with_context(mut self, context: impl Into<String>) -> Self {
        self.extra_mut().context = ROption::RSome(RString::from(context.into()));
        self
    }

    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// Converts a caught panic payload into an XX000 error naming where it
    /// happened. Used by every guarded entry point.
    pub fn from_panic(context: &str, payload: &(dyn std::any::Any + Send)) -> Self {
        let what = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "non-string panic payload".to_string()
        };
        AionError::internal(format!("{context} panicked: {what}")).with_hint(
            "this is a bug in the plugin; the statement was aborted and the server keeps running",
        )
    }
}

impl fmt::Display for AionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} ({})",
            self.severity.as_str(),
            self.message,
            self.sqlstate
        )?;
        if let Some(d) = self.detail() {
            write!(f, "\nDETAIL: {d}")?;
        }
        if let Some(h) = self.hint() {
            write!(f, "\nHINT: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for AionError {}

/// Result type of every call across the plugin boundary.
pub type AResult<T> = RResult<T, AionError>;

/// Result type of the Rust-side (non-ABI) APIs.
pub type DbResult<T> = Result<T, AionError>;

/// Runs `f`, turning a panic into an XX000 [`AionError`].
///
/// Every exported entry point goes through this: a panic that unwinds into an
/// `extern "C"` frame would abort the whole server.
pub fn guard<T>(context: &str, f: impl FnOnce() -> AResult<T>) -> AResult<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => RResult::RErr(AionError::from_panic(context, &*payload)),
    }
}
