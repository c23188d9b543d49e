//! Typed, validated server configuration.
//!
//! Every setting is an `AIONDB_*` key described once in [`SETTINGS`]. Values
//! come from three layers with the precedence CLI > environment > default and
//! are validated by their [`SettingKind`] here, once, so the rest of the kernel
//! and the plugins receive typed values and never re-parse raw strings.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// Prefix shared by every configuration key; other environment variables are
/// not ours and are ignored without comment.
pub const ENV_PREFIX: &str = "AIONDB_";

/// Key names as constants so callers cannot misspell them.
pub mod keys {
    pub const LISTEN_ADDR: &str = "AIONDB_LISTEN_ADDR";
    pub const DATA_DIR: &str = "AIONDB_DATA_DIR";
    pub const STORAGE_BACKEND: &str = "AIONDB_STORAGE_BACKEND";
    pub const EPHEMERAL: &str = "AIONDB_EPHEMERAL";
    pub const ALLOW_UNENCRYPTED_STORAGE: &str = "AIONDB_ALLOW_UNENCRYPTED_STORAGE";
    pub const CONFIG_STRICT: &str = "AIONDB_CONFIG_STRICT";
    pub const PLUGIN_DIR: &str = "AIONDB_PLUGIN_DIR";
    pub const PLUGINS: &str = "AIONDB_PLUGINS";
    pub const SHUTDOWN_DRAIN_MS: &str = "AIONDB_SHUTDOWN_DRAIN_MS";

    pub const STORAGE_DURABLE_WAL_COMMIT_POLICY: &str = "AIONDB_STORAGE_DURABLE_WAL_COMMIT_POLICY";
    pub const STORAGE_DURABLE_WAL_SEGMENT_BYTES: &str = "AIONDB_STORAGE_DURABLE_WAL_SEGMENT_BYTES";
    pub const STORAGE_CHECKPOINT_INTERVAL_MS: &str = "AIONDB_STORAGE_CHECKPOINT_INTERVAL_MS";
    pub const STORAGE_MEMORY_LIMIT_BYTES: &str = "AIONDB_STORAGE_MEMORY_LIMIT_BYTES";

    pub const PGWIRE_TLS_MODE: &str = "AIONDB_PGWIRE_TLS_MODE";
    pub const PGWIRE_TLS_CERT_PATH: &str = "AIONDB_PGWIRE_TLS_CERT_PATH";
    pub const PGWIRE_TLS_KEY_PATH: &str = "AIONDB_PGWIRE_TLS_KEY_PATH";
    pub const PGWIRE_TLS_CLIENT_CA_PATH: &str = "AIONDB_PGWIRE_TLS_CLIENT_CA_PATH";
    pub const PGWIRE_MAX_CONNECTIONS: &str = "AIONDB_PGWIRE_MAX_CONNECTIONS";
    pub const PGWIRE_MAX_CONNECTIONS_PER_IP: &str = "AIONDB_PGWIRE_MAX_CONNECTIONS_PER_IP";
    pub const PGWIRE_STARTUP_TIMEOUT_MS: &str = "AIONDB_PGWIRE_STARTUP_TIMEOUT_MS";
    pub const PGWIRE_IDLE_TIMEOUT_MS: &str = "AIONDB_PGWIRE_IDLE_TIMEOUT_MS";
    pub const PGWIRE_WORKER_LINGER_US: &str = "AIONDB_PGWIRE_WORKER_LINGER_US";
    pub const PGWIRE_LANES: &str = "AIONDB_PGWIRE_LANES";
    pub const PGWIRE_LANE_AFFINITY: &str = "AIONDB_PGWIRE_LANE_AFFINITY";
    pub const PGWIRE_AUTH_FAILURE_BACKOFF_MS: &str = "AIONDB_PGWIRE_AUTH_FAILURE_BACKOFF_MS";

    pub const OBSERVABILITY_ENABLED: &str = "AIONDB_OBSERVABILITY_ENABLED";
    pub const OBSERVABILITY_BIND: &str = "AIONDB_OBSERVABILITY_BIND";
    pub const OBSERVABILITY_PORT: &str = "AIONDB_OBSERVABILITY_PORT";
    pub const OBSERVABILITY_FAIL_FAST: &str = "AIONDB_OBSERVABILITY_FAIL_FAST";
    pub const OBSERVABILITY_ALLOW_NON_LOOPBACK: &str = "AIONDB_OBSERVABILITY_ALLOW_NON_LOOPBACK";

    pub const REPLICATION_MODE: &str = "AIONDB_REPLICATION_MODE";
    pub const REPLICATION_PRIMARY_ADDR: &str = "AIONDB_REPLICATION_PRIMARY_ADDR";

    pub const HA_MODE: &str = "AIONDB_HA_MODE";
    pub const HA_NODE_ID: &str = "AIONDB_HA_NODE_ID";

    pub const LIMITS_STATEMENT_TIMEOUT_MS: &str = "AIONDB_LIMITS_STATEMENT_TIMEOUT_MS";
    pub const LIMITS_LOCK_TIMEOUT_MS: &str = "AIONDB_LIMITS_LOCK_TIMEOUT_MS";
    pub const LIMITS_MAX_RESULT_ROWS: &str = "AIONDB_LIMITS_MAX_RESULT_ROWS";
    pub const LIMITS_MAX_RESULT_BYTES: &str = "AIONDB_LIMITS_MAX_RESULT_BYTES";
    pub const LIMITS_STATEMENT_MEMORY_BYTES: &str = "AIONDB_LIMITS_STATEMENT_MEMORY_BYTES";
    pub const LIMITS_RECURSIVE_CTE_MAX_ROWS: &str = "AIONDB_LIMITS_RECURSIVE_CTE_MAX_ROWS";
    pub const LIMITS_RECURSIVE_CTE_MAX_ITERATIONS: &str =
        "AIONDB_LIMITS_RECURSIVE_CTE_MAX_ITERATIONS";

    pub const ENGINE_POOL_WORKER_THREADS: &str = "AIONDB_ENGINE_POOL_WORKER_THREADS";
    pub const ENGINE_POOL_QUEUE_DEPTH: &str = "AIONDB_ENGINE_POOL_QUEUE_DEPTH";

    pub const BOOTSTRAP_USER: &str = "AIONDB_BOOTSTRAP_USER";
    pub const BOOTSTRAP_PASSWORD: &str = "AIONDB_BOOTSTRAP_PASSWORD";

    pub const BENCH_MODE: &str = "AIONDB_BENCH_MODE";

    pub const ALLOW_PUBLIC_OBSERVABILITY: &str = "AIONDB_ALLOW_PUBLIC_OBSERVABILITY";
    pub const DISABLE_MEMORY_GUARD: &str = "AIONDB_DISABLE_MEMORY_GUARD";
}

use keys::*;

/// Storage backend names, in the order the help text lists them.
pub const STORAGE_BACKENDS: &[&str] = &["in_memory", "durable", "disk", "page_engine", "lsm"];
const TLS_MODES: &[&str] = &["disable", "prefer", "require"];
const REPLICATION_MODES: &[&str] = &["none", "primary", "replica"];
const HA_MODES: &[&str] = &["single_node"];

/// How a raw string is validated and stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingKind {
    Bool,
    U64 {
        min: u64,
        max: u64,
    },
    /// u64 milliseconds; a bare integer or one with a unit (ms, s, m, h).
    Millis,
    Text,
    Enum(&'static [&'static str]),
    Path,
    /// "host:port", host being an IP address or a DNS name.
    SocketAddr,
    IpAddr,
    Port,
    /// always | never | every:N (N >= 1)
    CommitPolicy,
    /// "all" | "none" | comma list of names [a-z0-9_-]
    PluginList,
}

/// One recognised configuration key.
#[derive(Clone, Copy, Debug)]
pub struct SettingSpec {
    pub key: &'static str,
    pub kind: SettingKind,
    pub default: Option<&'static str>,
    pub secret: bool,
    pub help: &'static str,
}

const fn setting(
    key: &'static str,
    kind: SettingKind,
    default: Option<&'static str>,
    help: &'static str,
) -> SettingSpec {
    SettingSpec {
        key,
        kind,
        default,
        secret: false,
        help,
    }
}

const MIB: u64 = 1024 * 1024;

/// Every recognised key, grouped as in the documentation.
pub static SETTINGS: &[SettingSpec] = &[
    // general
    setting(LISTEN_ADDR, SettingKind::SocketAddr, Some("127.0.0.1:5432"),
        "Address the PostgreSQL wire listener binds to."),
    setting(DATA_DIR, SettingKind::Path, Some("./data/aiondb"),
        "Directory holding the WAL, snapshots and the storage manifest."),
    setting(STORAGE_BACKEND, SettingKind::Enum(STORAGE_BACKENDS), Some("durable"),
        "Storage backend for user tables."),
    setting(EPHEMERAL, SettingKind::Bool, Some("false"),
        "Keep everything in memory and discard it at shutdown (forces in_memory storage)."),
    setting(ALLOW_UNENCRYPTED_STORAGE, SettingKind::Bool, Some("false"),
        "Allow persistent backends on a filesystem that is not encrypted."),
    setting(CONFIG_STRICT, SettingKind::Bool, Some("false"),
        "Fail at start on unknown AIONDB_* environment keys instead of warning."),
    setting(PLUGIN_DIR, SettingKind::Path, None,
        "Directory scanned for plugin shared libraries (unset: bundled plugins only)."),
    setting(PLUGINS, SettingKind::PluginList, Some("all"),
        "Plugins to load: all, none, or a comma-separated list of plugin names."),
    setting(SHUTDOWN_DRAIN_MS, SettingKind::Millis, Some("0"),
        "On SIGTERM/SIGINT, report draining (readiness 503) this long before surfaces stop."),
    // storage
    setting(STORAGE_DURABLE_WAL_COMMIT_POLICY, SettingKind::CommitPolicy, Some("always"),
        "When the WAL is fsynced: every commit, never (OS decides), or every N commits."),
    setting(STORAGE_DURABLE_WAL_SEGMENT_BYTES, SettingKind::U64 { min: MIB, max: 16 * 1024 * MIB },
        Some("67108864"), "Size at which a WAL segment is closed and a new one started."),
    setting(STORAGE_CHECKPOINT_INTERVAL_MS, SettingKind::Millis, Some("60000"),
        "Interval between checkpoints to snapshot (0 = only at shutdown)."),
    setting(STORAGE_MEMORY_LIMIT_BYTES, SettingKind::U64 { min: 16 * MIB, max: u64::MAX }, None,
        "Memory the storage layer may use before the memory guard pushes back (unset: sized from system memory)."),
    // pgwire
    setting(PGWIRE_TLS_MODE, SettingKind::Enum(TLS_MODES), None,
        "TLS for client connections; prefer and require need a certificate and key \
         (unset: prefer when a certificate is set, else disable)."),
    setting(PGWIRE_TLS_CERT_PATH, SettingKind::Path, None,
        "PEM certificate chain for pgwire TLS (set together with the key)."),
    setting(PGWIRE_TLS_KEY_PATH, SettingKind::Path, None,
        "PEM private key for pgwire TLS (set together with the certificate)."),
    setting(PGWIRE_TLS_CLIENT_CA_PATH, SettingKind::Path, None,
        "PEM CA bundle; when set, clients must present a certificate signed by it."),
    setting(PGWIRE_MAX_CONNECTIONS, SettingKind::U64 { min: 1, max: 100_000 }, Some("100"),
        "Maximum concurrent client connections."),
    setting(PGWIRE_MAX_CONNECTIONS_PER_IP, SettingKind::U64 { min: 1, max: 100_000 }, Some("64"),
        "Maximum concurrent client connections from one IP address."),
    setting(PGWIRE_STARTUP_TIMEOUT_MS, SettingKind::Millis, Some("10000"),
        "Time a client has to finish startup and authentication (0 = unlimited)."),
    setting(PGWIRE_IDLE_TIMEOUT_MS, SettingKind::Millis, Some("0"),
        "Close sessions idle outside a transaction for this long (0 = unlimited)."),
    setting(PGWIRE_WORKER_LINGER_US, SettingKind::U64 { min: 0, max: 1_000_000 }, Some("5000"),
        "Microseconds an engine worker serving a connection waits for its next message before handing it back (0 = never serve connections from workers)."),
    setting(PGWIRE_LANES, SettingKind::U64 { min: 0, max: 1024 }, None,
        "Engine workers that each serve several busy connections between statements (unset = number of CPU cores; 0 = one worker per busy connection)."),
    setting(PGWIRE_LANE_AFFINITY, SettingKind::Bool, Some("true"),
        "Keep each lane's worker on a CPU of its own and serve each connection from the lane on the CPU its client sends from."),
    setting(PGWIRE_AUTH_FAILURE_BACKOFF_MS, SettingKind::Millis, Some("500"),
        "Delay before answering a failed authentication, to slow down guessing."),
    // observability
    setting(OBSERVABILITY_ENABLED, SettingKind::Bool, Some("true"),
        "Serve the metrics and health endpoint."),
    setting(OBSERVABILITY_BIND, SettingKind::IpAddr, Some("127.0.0.1"),
        "IP address of the metrics endpoint; non-loopback needs AIONDB_OBSERVABILITY_ALLOW_NON_LOOPBACK."),
    setting(OBSERVABILITY_PORT, SettingKind::Port, Some("9187"),
        "TCP port of the metrics endpoint."),
    setting(OBSERVABILITY_FAIL_FAST, SettingKind::Bool, Some("false"),
        "Refuse to start when the metrics endpoint cannot bind (default: warn and continue)."),
    setting(OBSERVABILITY_ALLOW_NON_LOOPBACK, SettingKind::Bool, Some("false"),
        "Permit AIONDB_OBSERVABILITY_BIND to be a non-loopback address."),
    // replication
    setting(REPLICATION_MODE, SettingKind::Enum(REPLICATION_MODES), Some("none"),
        "Replication role of this node."),
    setting(REPLICATION_PRIMARY_ADDR, SettingKind::SocketAddr, None,
        "host:port of the primary; required when the mode is replica."),
    // HA
    setting(HA_MODE, SettingKind::Enum(HA_MODES), Some("single_node"),
        "High-availability mode."),
    setting(HA_NODE_ID, SettingKind::Text, None,
        "Stable identifier of this node in logs and replication."),
    // limits
    setting(LIMITS_STATEMENT_TIMEOUT_MS, SettingKind::Millis, Some("0"),
        "Cancel statements running longer than this (0 = unlimited)."),
    setting(LIMITS_LOCK_TIMEOUT_MS, SettingKind::Millis, Some("0"),
        "Give up waiting for a lock after this long (0 = unlimited)."),
    setting(LIMITS_MAX_RESULT_ROWS, SettingKind::U64 { min: 0, max: u64::MAX }, Some("0"),
        "Maximum rows one statement may return (0 = unlimited)."),
    setting(LIMITS_MAX_RESULT_BYTES, SettingKind::U64 { min: 0, max: u64::MAX }, Some("0"),
        "Maximum bytes one statement may return (0 = unlimited)."),
    setting(LIMITS_STATEMENT_MEMORY_BYTES, SettingKind::U64 { min: MIB, max: u64::MAX },
        Some("268435456"), "Working memory one statement may use for sorts, hashes and CTEs."),
    setting(LIMITS_RECURSIVE_CTE_MAX_ROWS, SettingKind::U64 { min: 1, max: u64::MAX },
        Some("1000000"), "Maximum rows a recursive CTE may produce."),
    setting(LIMITS_RECURSIVE_CTE_MAX_ITERATIONS, SettingKind::U64 { min: 1, max: u64::MAX },
        Some("10000"), "Maximum iterations of a recursive CTE."),
    // engine pool
    setting(ENGINE_POOL_WORKER_THREADS, SettingKind::U64 { min: 0, max: 1024 }, Some("0"),
        "Threads running engine work (0 = number of CPU cores)."),
    setting(ENGINE_POOL_QUEUE_DEPTH, SettingKind::U64 { min: 1, max: 1_000_000 }, Some("1024"),
        "Engine tasks queued before new statements are rejected as overloaded."),
    // bootstrap
    setting(BOOTSTRAP_USER, SettingKind::Text, None,
        "Superuser created on first start of an empty data directory (with the password)."),
    SettingSpec {
        key: BOOTSTRAP_PASSWORD,
        kind: SettingKind::Text,
        default: None,
        secret: true,
        help: "Password of the bootstrap user: 12+ characters with lower, upper, digit and symbol.",
    },
    // bench
    setting(BENCH_MODE, SettingKind::Bool, Some("false"),
        "Benchmark mode: relaxes safety checks that distort measurements; never use in production."),
];

/// Keys that are recognised so that setting them is never silently a no-op,
/// but always refused, with the reason given to the operator.
pub static REJECTED_SETTINGS: &[(&str, &str)] = &[
    (
        ALLOW_PUBLIC_OBSERVABILITY,
        "public observability must be configured with an explicit bind address: set \
         AIONDB_OBSERVABILITY_BIND and AIONDB_OBSERVABILITY_ALLOW_NON_LOOPBACK=true",
    ),
    (
        DISABLE_MEMORY_GUARD,
        "the memory guard cannot be disabled; raise AIONDB_STORAGE_MEMORY_LIMIT_BYTES or \
         AIONDB_LIMITS_STATEMENT_MEMORY_BYTES instead",
    ),
];

/// Looks up the spec of a recognised key.
pub fn spec(key: &str) -> Option<&'static SettingSpec> {
    SETTINGS.iter().find(|s| s.key == key)
}

fn rejected(key: &str) -> Option<(&'static str, &'static str)> {
    REJECTED_SETTINGS.iter().copied().find(|(k, _)| *k == key)
}

/// A validated value. Paths, addresses, enums and policies are kept as their
/// validated (normalised) text.
#[derive(Clone, Debug, PartialEq)]
pub enum SettingValue {
    Bool(bool),
    U64(u64),
    Text(String),
}

impl fmt::Display for SettingValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingValue::Bool(b) => write!(f, "{b}"),
            SettingValue::U64(n) => write!(f, "{n}"),
            SettingValue::Text(s) => f.write_str(s),
        }
    }
}

/// Which layer a value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Default,
    Env,
    Cli,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    fn new(key: &str, message: impl Into<String>) -> Self {
        ConfigError {
            key: key.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}: {}", self.key, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Checks the bootstrap password policy. The message never contains the
/// password itself.
pub fn check_password_policy(p: &str) -> Result<(), String> {
    let mut missing = Vec::new();
    if p.chars().count() < 12 {
        missing.push("at least 12 characters");
    }
    if !p.chars().any(char::is_lowercase) {
        missing.push("a lowercase letter");
    }
    if !p.chars().any(char::is_uppercase) {
        missing.push("an uppercase letter");
    }
    if !p.chars().any(|c| c.is_ascii_digit()) {
        missing.push("a digit");
    }
    if !p.chars().any(|c| !c.is_alphanumeric()) {
        missing.push("a symbol");
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "password must have at least 12 characters with a lowercase letter, an uppercase \
             letter, a digit and a symbol (missing: {})",
            missing.join(", ")
        ))
    }
}

/// Describes what a kind accepts, for error messages and help.
fn expected(kind: SettingKind) -> String {
    match kind {
        SettingKind::Bool => "a boolean (true/false, 1/0, yes/no, on/off)".to_string(),
        SettingKind::U64 { min, max } if max == u64::MAX => {
            format!("an integer of at least {min}")
        }
        SettingKind::U64 { min, max } => format!("an integer between {min} and {max}"),
        SettingKind::Millis => {
            "a duration in milliseconds (e.g. 5000, or with a unit: 500ms, 30s, 5m, 1h)".to_string()
        }
        SettingKind::Text => "non-empty text without control characters".to_string(),
        SettingKind::Enum(values) => format!("one of {}", values.join(", ")),
        SettingKind::Path => "a non-empty path".to_string(),
        SettingKind::SocketAddr => "host:port (e.g. 127.0.0.1:5432 or [::1]:5432)".to_string(),
        SettingKind::IpAddr => "an IP address (e.g. 127.0.0.1 or ::1)".to_string(),
        SettingKind::Port => "a TCP port between 1 and 65535".to_string(),
        SettingKind::CommitPolicy => "always, never or every:N with N >= 1".to_string(),
        SettingKind::PluginList => {
            "all, none, or a comma-separated list of plugin names made of a-z, 0-9, _ and -"
                .to_string()
        }
    }
}

/// Like `str::parse::<u64>` but digits only: a leading `+` is not a number a
/// human meant to write in a config file.
fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn parse_millis(s: &str) -> Option<u64> {
    // "ms" must be tried before "m" and "s".
    let (number, factor) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1_000)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3_600_000)
    } else {
        (s, 1)
    };
    parse_digits(number.trim_end())?.checked_mul(factor)
}

fn parse_port(s: &str, allow_zero: bool) -> Option<u64> {
    let port = parse_digits(s)?;
    (port <= u64::from(u16::MAX) && (allow_zero || port > 0)).then_some(port)
}

fn valid_hostname(host: &str) -> bool {
    let labels_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    // An all-numeric last label means a mistyped IPv4 address, not a name.
    let numeric_tail = host
        .rsplit('.')
        .next()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()));
    labels_ok && !numeric_tail
}

fn valid_socket_addr(s: &str) -> bool {
    if s.parse::<SocketAddr>().is_ok() {
        return true;
    }
    // Port 0 is allowed: it asks the OS for a free port, which tests rely on.
    match s.rsplit_once(':') {
        Some((host, port)) => valid_hostname(host) && parse_port(port, true).is_some(),
        None => false,
    }
}

fn normalize_commit_policy(s: &str) -> Option<String> {
    let lower = s.to_ascii_lowercase();
    match lower.as_str() {
        "always" | "never" => Some(lower),
        _ => {
            let n = parse_digits(lower.strip_prefix("every:")?)?;
            (n >= 1).then(|| format!("every:{n}"))
        }
    }
}

fn normalize_plugin_list(s: &str) -> Option<String> {
    if s == "all" || s == "none" {
        return Some(s.to_string());
    }
    let mut names: Vec<&str> = Vec::new();
    for name in s.split(',').map(str::trim) {
        let valid = !name.is_empty()
            && name != "all"
            && name != "none"
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !valid {
            return None;
        }
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Some(names.join(","))
}

/// Validates one raw value against its spec.
fn validate(spec: &SettingSpec, raw: &str) -> Result<SettingValue, ConfigError> {
    // Free text and paths are taken verbatim (a password may contain spaces);
    // everything else tolerates stray whitespace from shell quoting.
    let trimmed = match spec.kind {
        SettingKind::Text | SettingKind::Path => raw,
        _ => raw.trim(),
    };
    let value = match spec.kind {
        SettingKind::Bool => parse_bool(trimmed).map(SettingValue::Bool),
        SettingKind::U64 { min, max } => parse_digits(trimmed)
            .filter(|n| (min..=max).contains(n))
            .map(SettingValue::U64),
        SettingKind::Millis => parse_millis(trimmed).map(SettingValue::U64),
        SettingKind::Text => (!trimmed.is_empty() && !trimmed.chars().any(char::is_control))
            .then(|| SettingValue::Text(trimmed.to_string())),
        SettingKind::Enum(values) => values
            .iter()
            .find(|v| v.eq_ignore_ascii_case(trimmed))
            .map(|v| SettingValue::Text((*v).to_string())),
        SettingKind::Path => (!trimmed.is_empty() && !trimmed.contains('\0'))
            .then(|| SettingValue::Text(trimmed.to_string())),
        SettingKind::SocketAddr => {
            valid_socket_addr(trimmed).then(|| SettingValue::Text(trimmed.to_string()))
        }
        SettingKind::IpAddr => trimmed
            .parse::<IpAddr>()
            .ok()
            .map(|ip| SettingValue::Text(ip.to_string())),
        SettingKind::Port => parse_port(trimmed, false).map(SettingValue::U64),
        SettingKind::CommitPolicy => normalize_commit_policy(trimmed).map(SettingValue::Text),
        SettingKind::PluginList => normalize_plugin_list(trimmed).map(SettingValue::Text),
    };
    value.ok_or_else(|| {
        let got = if spec.secret {
            "a value that does not qualify (not shown: secret)".to_string()
        } else {
            format!("{raw:?}")
        };
        ConfigError::new(
            spec.key,
            format!("expected {}, got {got}", expected(spec.kind)),
        )
    })
}

#[derive(Clone, Debug)]
struct Entry {
    value: SettingValue,
    source: Source,
}

/// The effective configuration: every key with a value (given or default).
#[derive(Clone, Debug, Default)]
pub struct Config {
    values: BTreeMap<&'static str, Entry>,
}

impl Config {
    /// cli: (key, raw value) pairs produced by the CLI parser, keyed by
    /// env-name (e.g. ("AIONDB_LISTEN_ADDR", "127.0.0.1:5432")).
    /// env: the process environment (pass std::env::vars() from main).
    /// Returns the config plus warnings the caller logs at warn level.
    ///
    /// An empty environment value counts as unset, as container tooling often
    /// exports optional variables empty.
    pub fn load(
        cli: &[(&str, String)],
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Config, Vec<String>), ConfigError> {
        let mut rejected_seen: BTreeSet<&'static str> = BTreeSet::new();
        let mut unknown: BTreeSet<String> = BTreeSet::new();
        let mut env_raw: BTreeMap<&'static str, String> = BTreeMap::new();
        for (key, value) in env {
            if !key.starts_with(ENV_PREFIX) {
                continue;
            }
            if let Some((k, _)) = rejected(&key) {
                rejected_seen.insert(k);
            } else if let Some(spec) = spec(&key) {
                if value.is_empty() {
                    env_raw.remove(spec.key);
                } else {
                    env_raw.insert(spec.key, value);
                }
            } else {
                unknown.insert(key);
            }
        }

        let mut cli_raw: BTreeMap<&'static str, &str> = BTreeMap::new();
        for (key, value) in cli {
            if let Some((k, _)) = rejected(key) {
                rejected_seen.insert(k);
                continue;
            }
            // The CLI layer is produced by our own parser, so an unknown key
            // there is a bug, never something to warn about and ignore.
            let spec = spec(key)
                .ok_or_else(|| ConfigError::new(key, "not a recognised configuration key"))?;
            cli_raw.insert(spec.key, value.as_str());
        }

        let mut config = Config::default();
        for spec in SETTINGS {
            let (raw, source) = if let Some(v) = cli_raw.get(spec.key) {
                (*v, Source::Cli)
            } else if let Some(v) = env_raw.get(spec.key) {
                (v.as_str(), Source::Env)
            } else if let Some(d) = spec.default {
                (d, Source::Default)
            } else {
                continue;
            };
            let value = validate(spec, raw)?;
            config.values.insert(spec.key, Entry { value, source });
        }

        let mut warnings: Vec<String> = rejected_seen
            .iter()
            .filter_map(|k| rejected(k))
            .map(|(k, why)| format!("{k} is not supported and was ignored: {why}"))
            .collect();

        if config.bool(CONFIG_STRICT) {
            if let Some(key) = unknown.iter().next() {
                return Err(ConfigError::new(
                    key,
                    "unknown configuration key (AIONDB_CONFIG_STRICT is true); \
                     check its spelling or remove it",
                ));
            }
        } else {
            warnings.extend(unknown.iter().map(|k| {
                format!(
                    "unknown configuration key {k} ignored \
                     (set AIONDB_CONFIG_STRICT=true to make this an error)"
                )
            }));
        }

        config.check_cross_key(&mut warnings)?;
        Ok((config, warnings))
    }

    /// Rules that involve more than one key.
    fn check_cross_key(&mut self, warnings: &mut Vec<String>) -> Result<(), ConfigError> {
        match (self.text(BOOTSTRAP_USER), self.text(BOOTSTRAP_PASSWORD)) {
            (Some(_), None) => {
                return Err(ConfigError::new(
                    BOOTSTRAP_PASSWORD,
                    "must be set when AIONDB_BOOTSTRAP_USER is set",
                ))
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    BOOTSTRAP_USER,
                    "must be set when AIONDB_BOOTSTRAP_PASSWORD is set",
                ))
            }
            (Some(_), Some(password)) => {
                check_password_policy(password)
                    .map_err(|m| ConfigError::new(BOOTSTRAP_PASSWORD, m))?;
            }
            (None, None) => {}
        }

        let cert = self.text(PGWIRE_TLS_CERT_PATH).is_some();
        let key = self.text(PGWIRE_TLS_KEY_PATH).is_some();
        if cert != key {
            let (missing, other) = if cert {
                (PGWIRE_TLS_KEY_PATH, PGWIRE_TLS_CERT_PATH)
            } else {
                (PGWIRE_TLS_CERT_PATH, PGWIRE_TLS_KEY_PATH)
            };
            return Err(ConfigError::new(
                missing,
                format!("must be set together with {other}"),
            ));
        }
        // As with PostgreSQL's ssl=on, configuring a certificate offers TLS
        // unless the mode says otherwise; the effective mode is what
        // plugins read.
        if self.text(PGWIRE_TLS_MODE).is_none() {
            let mode = if cert { "prefer" } else { "disable" };
            self.values.insert(
                PGWIRE_TLS_MODE,
                Entry {
                    value: SettingValue::Text(mode.to_string()),
                    source: Source::Default,
                },
            );
        }
        let tls_mode = self.text(PGWIRE_TLS_MODE).unwrap_or("disable");
        if tls_mode != "disable" && !cert {
            return Err(ConfigError::new(
                PGWIRE_TLS_CERT_PATH,
                format!(
                    "AIONDB_PGWIRE_TLS_MODE={tls_mode} needs AIONDB_PGWIRE_TLS_CERT_PATH \
                     and AIONDB_PGWIRE_TLS_KEY_PATH"
                ),
            ));
        }
        if tls_mode == "disable" && (cert || self.text(PGWIRE_TLS_CLIENT_CA_PATH).is_some()) {
            warnings.push(
                "TLS files are configured but AIONDB_PGWIRE_TLS_MODE=disable; \
                 TLS will not be offered"
                    .to_string(),
            );
        }

        if self.bool(EPHEMERAL) {
            let backend_explicit = self.source(STORAGE_BACKEND) != Some(Source::Default);
            let backend = self.text(STORAGE_BACKEND).unwrap_or("in_memory");
            if backend_explicit && backend != "in_memory" {
                return Err(ConfigError::new(
                    STORAGE_BACKEND,
                    format!(
                        "{backend} conflicts with AIONDB_EPHEMERAL=true, which keeps data in \
                         memory only; drop one of them"
                    ),
                ));
            }
            // The forced value is attributed to the layer that asked for it.
            let source = self.source(EPHEMERAL).unwrap_or(Source::Default);
            self.values.insert(
                STORAGE_BACKEND,
                Entry {
                    value: SettingValue::Text("in_memory".to_string()),
                    source,
                },
            );
        }

        if self.bool(OBSERVABILITY_ENABLED) && !self.bool(OBSERVABILITY_ALLOW_NON_LOOPBACK) {
            if let Some(bind) = self.text(OBSERVABILITY_BIND) {
                let loopback = bind.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
                if !loopback {
                    return Err(ConfigError::new(
                        OBSERVABILITY_BIND,
                        format!(
                            "{bind} is not a loopback address; set \
                             AIONDB_OBSERVABILITY_ALLOW_NON_LOOPBACK=true to expose metrics \
                             beyond this host"
                        ),
                    ));
                }
            }
        }

        let replication = self.text(REPLICATION_MODE).unwrap_or("none");
        let primary_addr = self.text(REPLICATION_PRIMARY_ADDR).is_some();
        if replication == "replica" && !primary_addr {
            return Err(ConfigError::new(
                REPLICATION_PRIMARY_ADDR,
                "must be set when AIONDB_REPLICATION_MODE=replica",
            ));
        }
        if replication != "replica" && primary_addr {
            warnings.push(format!(
                "AIONDB_REPLICATION_PRIMARY_ADDR is ignored because \
                 AIONDB_REPLICATION_MODE={replication}"
            ));
        }

        if let (Some(per_ip), Some(total)) = (
            self.u64(PGWIRE_MAX_CONNECTIONS_PER_IP),
            self.u64(PGWIRE_MAX_CONNECTIONS),
        ) {
            if per_ip > total {
                warnings.push(format!(
                    "AIONDB_PGWIRE_MAX_CONNECTIONS_PER_IP ({per_ip}) exceeds \
                     AIONDB_PGWIRE_MAX_CONNECTIONS ({total}); the total limit applies first"
                ));
            }
        }
        Ok(())
    }

    pub fn get(&self, key: &str) -> Option<&SettingValue> {
        self.values.get(key).map(|e| &e.value)
    }

    pub fn source(&self, key: &str) -> Option<Source> {
        self.values.get(key).map(|e| e.source)
    }

    /// false if unset or not a boolean key.
    pub fn bool(&self, key: &str) -> bool {
        matches!(self.get(key), Some(SettingValue::Bool(true)))
    }

    pub fn u64(&self, key: &str) -> Option<u64> {
        match self.get(key) {
            Some(SettingValue::U64(n)) => Some(*n),
            _ => None,
        }
    }

    pub fn text(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(SettingValue::Text(s)) => Some(s),
            _ => None,
        }
    }

    pub fn is_secret(key: &str) -> bool {
        spec(key).is_some_and(|s| s.secret)
    }

    /// (key, display value, source) for every set key in documentation order,
    /// secrets shown as "********".
    pub fn redacted(&self) -> Vec<(&'static str, String, Source)> {
        SETTINGS
            .iter()
            .filter_map(|spec| {
                let entry = self.values.get(spec.key)?;
                let shown = if spec.secret {
                    "********".to_string()
                } else {
                    entry.value.to_string()
                };
                Some((spec.key, shown, entry.source))
            })
            .collect()
    }
}

/// A table of every key, its default and its help, for `--help`.
pub fn settings_help() -> String {
    let key_width = SETTINGS.iter().map(|s| s.key.len()).max().unwrap_or(0);
    let default_width = SETTINGS
        .iter()
        .map(|s| s.default.unwrap_or("-").len())
        .max()
        .unwrap_or(0)
        .max("DEFAULT".len());
    let mut out = format!(
        "{:key_width$}  {:default_width$}  DESCRIPTION\n",
        "KEY", "DEFAULT"
    );
    for s in SETTINGS {
        let default = if s.secret {
            "-"
        } else {
            s.default.unwrap_or("-")
        };
        out.push_str(&format!(
            "{:key_width$}  {:default_width$}  {} Accepts {}.\n",
            s.key,
            default,
            s.help,
            expected(s.kind)
        ));
    }
    for (key, why) in REJECTED_SETTINGS {
        out.push_str(&format!(
            "{key:key_width$}  {:default_width$}  Not supported: {why}.\n",
            "-"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn load_env(pairs: &[(&str, &str)]) -> Result<(Config, Vec<String>), ConfigError> {
        Config::load(&[], env(pairs))
    }

    fn err_env(pairs: &[(&str, &str)]) -> ConfigError {
        match load_env(pairs) {
            Ok(_) => panic!("expected an error for {pairs:?}"),
            Err(e) => e,
        }
    }

    const GOOD_PW: &str = "Correct-Horse-9";

    #[test]
    fn defaults_load_without_warnings() {
        let (c, w) = load_env(&[]).unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.text(LISTEN_ADDR), Some("127.0.0.1:5432"));
        assert_eq!(c.text(DATA_DIR), Some("./data/aiondb"));
        assert_eq!(c.text(STORAGE_BACKEND), Some("durable"));
        assert_eq!(c.text(PLUGINS), Some("all"));
        assert_eq!(c.u64(OBSERVABILITY_PORT), Some(9187));
        assert!(c.bool(OBSERVABILITY_ENABLED));
        assert!(!c.bool(EPHEMERAL));
        assert_eq!(c.get(PLUGIN_DIR), None);
        assert_eq!(c.source(PLUGIN_DIR), None);
        assert_eq!(c.source(LISTEN_ADDR), Some(Source::Default));
    }

    #[test]
    fn every_default_is_valid_and_keys_are_unique() {
        for spec in SETTINGS {
            assert!(spec.key.starts_with(ENV_PREFIX), "{}", spec.key);
            if let Some(d) = spec.default {
                validate(spec, d).unwrap();
            }
            assert_eq!(SETTINGS.iter().filter(|s| s.key == spec.key).count(), 1);
            assert!(rejected(spec.key).is_none());
        }
    }

    #[test]
    fn precedence_cli_over_env_over_default() {
        let cli = [(LISTEN_ADDR, "0.0.0.0:6000".to_string())];
        let (c, _) = Config::load(
            &cli,
            env(&[
                (LISTEN_ADDR, "127.0.0.1:7000"),
                (DATA_DIR, "/var/lib/aiondb"),
            ]),
        )
        .unwrap();
        assert_eq!(c.text(LISTEN_ADDR), Some("0.0.0.0:6000"));
        assert_eq!(c.source(LISTEN_ADDR), Some(Source::Cli));
        assert_eq!(c.text(DATA_DIR), Some("/var/lib/aiondb"));
        assert_eq!(c.source(DATA_DIR), Some(Source::Env));
        assert_eq!(c.u64(PGWIRE_MAX_CONNECTIONS), Some(100));
        assert_eq!(c.source(PGWIRE_MAX_CONNECTIONS), Some(Source::Default));
    }

    #[test]
    fn empty_env_value_counts_as_unset() {
        let (c, _) = load_env(&[(DATA_DIR, "")]).unwrap();
        assert_eq!(c.source(DATA_DIR), Some(Source::Default));
    }

    #[test]
    fn non_aiondb_env_is_ignored_silently() {
        let (_, w) = load_env(&[("PATH", "/bin"), ("aiondb_lower", "x")]).unwrap();
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn unknown_key_warns_when_not_strict() {
        let (_, w) = load_env(&[("AIONDB_FOO", "1")]).unwrap();
        assert_eq!(
            w,
            vec!["unknown configuration key AIONDB_FOO ignored \
                 (set AIONDB_CONFIG_STRICT=true to make this an error)"
                .to_string()]
        );
    }

    #[test]
    fn unknown_key_fails_when_strict() {
        let e = err_env(&[(CONFIG_STRICT, "true"), ("AIONDB_FOO", "1")]);
        assert_eq!(e.key, "AIONDB_FOO");
        assert!(e.to_string().contains("AIONDB_FOO"), "{e}");
        // Strict mode can also come from the CLI layer.
        let cli = [(CONFIG_STRICT, "yes".to_string())];
        let e = Config::load(&cli, env(&[("AIONDB_BAR", "1")])).unwrap_err();
        assert_eq!(e.key, "AIONDB_BAR");
    }

    #[test]
    fn always_rejected_keys_warn_and_are_ignored_in_both_modes() {
        for strict in ["false", "true"] {
            let (c, w) = load_env(&[
                (CONFIG_STRICT, strict),
                (ALLOW_PUBLIC_OBSERVABILITY, "true"),
                (DISABLE_MEMORY_GUARD, "true"),
            ])
            .unwrap();
            assert_eq!(c.get(ALLOW_PUBLIC_OBSERVABILITY), None);
            assert_eq!(c.get(DISABLE_MEMORY_GUARD), None);
            assert_eq!(w.len(), 2, "{w:?}");
            assert!(w[0].contains(ALLOW_PUBLIC_OBSERVABILITY) && w[0].contains("bind address"));
            assert!(w[1].contains(DISABLE_MEMORY_GUARD) && w[1].contains("cannot be disabled"));
            // Still the default bind: the value was not applied in any way.
            assert_eq!(c.text(OBSERVABILITY_BIND), Some("127.0.0.1"));
        }
    }

    #[test]
    fn unknown_cli_key_is_an_error() {
        let cli = [("AIONDB_NOPE", "1".to_string())];
        assert_eq!(Config::load(&cli, env(&[])).unwrap_err().key, "AIONDB_NOPE");
    }

    #[test]
    fn invalid_values_name_key_value_and_expectation() {
        let e = err_env(&[(PGWIRE_MAX_CONNECTIONS, "lots")]);
        assert_eq!(
            e.to_string(),
            "invalid configuration: AIONDB_PGWIRE_MAX_CONNECTIONS: \
             expected an integer between 1 and 100000, got \"lots\""
        );
        for (key, bad) in [
            (PGWIRE_MAX_CONNECTIONS, "0"),
            (PGWIRE_MAX_CONNECTIONS, "+5"),
            (EPHEMERAL, "maybe"),
            (STORAGE_BACKEND, "floppy"),
            (LISTEN_ADDR, "localhost"),
            (LISTEN_ADDR, "::1:5432"),
            (LISTEN_ADDR, "300.1.1.1:5432"),
            (OBSERVABILITY_BIND, "localhost"),
            (OBSERVABILITY_PORT, "0"),
            (OBSERVABILITY_PORT, "70000"),
            (PGWIRE_IDLE_TIMEOUT_MS, "soon"),
            (PLUGINS, "Pgwire"),
            (PLUGINS, "all,pgwire"),
            (PLUGINS, "a,,b"),
            (HA_MODE, "raft"),
        ] {
            let e = err_env(&[(key, bad)]);
            assert_eq!(e.key, key);
            assert!(e.message.contains(&format!("{bad:?}")), "{e}");
            assert!(e.message.starts_with("expected "), "{e}");
        }
    }

    #[test]
    fn values_are_parsed_and_normalised() {
        let (c, _) = load_env(&[
            (EPHEMERAL, "ON"),
            (BENCH_MODE, " yes "),
            (STORAGE_CHECKPOINT_INTERVAL_MS, "30s"),
            (PGWIRE_STARTUP_TIMEOUT_MS, "250ms"),
            (LIMITS_LOCK_TIMEOUT_MS, "2m"),
            (PLUGINS, "pgwire, storage_lsm,pgwire"),
            (LISTEN_ADDR, "db.example.com:0"),
            (REPLICATION_MODE, "Replica"),
            (REPLICATION_PRIMARY_ADDR, "[::1]:5433"),
            (OBSERVABILITY_BIND, "::1"),
        ])
        .unwrap();
        assert!(c.bool(EPHEMERAL) && c.bool(BENCH_MODE));
        assert_eq!(c.u64(STORAGE_CHECKPOINT_INTERVAL_MS), Some(30_000));
        assert_eq!(c.u64(PGWIRE_STARTUP_TIMEOUT_MS), Some(250));
        assert_eq!(c.u64(LIMITS_LOCK_TIMEOUT_MS), Some(120_000));
        assert_eq!(c.text(PLUGINS), Some("pgwire,storage_lsm"));
        assert_eq!(c.text(REPLICATION_MODE), Some("replica"));
        assert_eq!(
            load_env(&[(PLUGINS, "none")]).unwrap().0.text(PLUGINS),
            Some("none")
        );
    }

    #[test]
    fn commit_policy() {
        let e = err_env(&[(STORAGE_DURABLE_WAL_COMMIT_POLICY, "every:0")]);
        assert_eq!(e.key, STORAGE_DURABLE_WAL_COMMIT_POLICY);
        assert!(e.message.contains("every:N with N >= 1"), "{e}");
        for bad in ["every:", "every:-1", "sometimes"] {
            err_env(&[(STORAGE_DURABLE_WAL_COMMIT_POLICY, bad)]);
        }
        let (c, _) = load_env(&[(STORAGE_DURABLE_WAL_COMMIT_POLICY, "every:8")]).unwrap();
        assert_eq!(c.text(STORAGE_DURABLE_WAL_COMMIT_POLICY), Some("every:8"));
        let (c, _) = load_env(&[(STORAGE_DURABLE_WAL_COMMIT_POLICY, "NEVER")]).unwrap();
        assert_eq!(c.text(STORAGE_DURABLE_WAL_COMMIT_POLICY), Some("never"));
    }

    #[test]
    fn password_policy() {
        assert!(check_password_policy(GOOD_PW).is_ok());
        assert!(check_password_policy("Ünïcødé-Pass1").is_ok());
        for bad in [
            "Short-1a",         // too short
            "alllowercase-123", // no upper
            "ALLUPPERCASE-123", // no lower
            "NoDigitsHere-abc", // no digit
            "NoSymbolsHere123", // no symbol
            "",
        ] {
            let msg = check_password_policy(bad).unwrap_err();
            assert!(msg.contains("at least 12 characters"), "{msg}");
            assert!(
                bad.is_empty() || !msg.contains(bad),
                "password echoed: {msg}"
            );
        }
        assert!(check_password_policy("NoSymbolsHere123")
            .unwrap_err()
            .contains("missing: a symbol"));
    }

    #[test]
    fn bootstrap_user_and_password_both_or_neither() {
        let e = err_env(&[(BOOTSTRAP_USER, "admin")]);
        assert_eq!(e.key, BOOTSTRAP_PASSWORD);
        let e = err_env(&[(BOOTSTRAP_PASSWORD, GOOD_PW)]);
        assert_eq!(e.key, BOOTSTRAP_USER);
        let (c, _) = load_env(&[(BOOTSTRAP_USER, "admin"), (BOOTSTRAP_PASSWORD, GOOD_PW)]).unwrap();
        assert_eq!(c.text(BOOTSTRAP_USER), Some("admin"));
        assert_eq!(c.text(BOOTSTRAP_PASSWORD), Some(GOOD_PW));
    }

    #[test]
    fn weak_bootstrap_password_is_rejected_without_echo() {
        let e = err_env(&[(BOOTSTRAP_USER, "admin"), (BOOTSTRAP_PASSWORD, "weakpass")]);
        assert_eq!(e.key, BOOTSTRAP_PASSWORD);
        assert!(!e.to_string().contains("weakpass"), "{e}");
        // A value failing kind validation is not echoed either.
        let e = err_env(&[
            (BOOTSTRAP_USER, "admin"),
            (BOOTSTRAP_PASSWORD, "Bad\u{7}Pass-1234"),
        ]);
        assert_eq!(e.key, BOOTSTRAP_PASSWORD);
        assert!(!e.to_string().contains("Bad"), "{e}");
    }

    #[test]
    fn tls_cert_and_key_together() {
        let e = err_env(&[(PGWIRE_TLS_CERT_PATH, "/c.pem")]);
        assert_eq!(e.key, PGWIRE_TLS_KEY_PATH);
        let e = err_env(&[(PGWIRE_TLS_KEY_PATH, "/k.pem")]);
        assert_eq!(e.key, PGWIRE_TLS_CERT_PATH);
        let e = err_env(&[(PGWIRE_TLS_MODE, "require")]);
        assert_eq!(e.key, PGWIRE_TLS_CERT_PATH);
        load_env(&[
            (PGWIRE_TLS_MODE, "require"),
            (PGWIRE_TLS_CERT_PATH, "/c.pem"),
            (PGWIRE_TLS_KEY_PATH, "/k.pem"),
        ])
        .unwrap();
    }

    #[test]
    fn tls_mode_defaults_to_prefer_with_a_certificate() {
        let (c, _) = load_env(&[]).unwrap();
        assert_eq!(c.text(PGWIRE_TLS_MODE), Some("disable"));
        let (c, w) = load_env(&[
            (PGWIRE_TLS_CERT_PATH, "/c.pem"),
            (PGWIRE_TLS_KEY_PATH, "/k.pem"),
        ])
        .unwrap();
        assert_eq!(c.text(PGWIRE_TLS_MODE), Some("prefer"));
        assert!(w.is_empty(), "{w:?}");
        let (c, w) = load_env(&[
            (PGWIRE_TLS_MODE, "disable"),
            (PGWIRE_TLS_CERT_PATH, "/c.pem"),
            (PGWIRE_TLS_KEY_PATH, "/k.pem"),
        ])
        .unwrap();
        assert_eq!(c.text(PGWIRE_TLS_MODE), Some("disable"));
        assert!(
            w.iter().any(|w| w.contains("TLS will not be offered")),
            "{w:?}"
        );
    }

    #[test]
    fn ephemeral_forces_in_memory_and_conflicts_with_explicit_backend() {
        let (c, _) = load_env(&[(EPHEMERAL, "true")]).unwrap();
        assert_eq!(c.text(STORAGE_BACKEND), Some("in_memory"));
        assert_eq!(c.source(STORAGE_BACKEND), Some(Source::Env));

        let e = err_env(&[(EPHEMERAL, "true"), (STORAGE_BACKEND, "lsm")]);
        assert_eq!(e.key, STORAGE_BACKEND);
        assert!(e.message.contains("AIONDB_EPHEMERAL"), "{e}");

        let cli = [(EPHEMERAL, "true".to_string())];
        let e = Config::load(&cli, env(&[(STORAGE_BACKEND, "durable")])).unwrap_err();
        assert_eq!(e.key, STORAGE_BACKEND);

        load_env(&[(EPHEMERAL, "true"), (STORAGE_BACKEND, "in_memory")]).unwrap();
    }

    #[test]
    fn non_loopback_observability_needs_explicit_opt_in() {
        let e = err_env(&[(OBSERVABILITY_BIND, "0.0.0.0")]);
        assert_eq!(e.key, OBSERVABILITY_BIND);
        load_env(&[
            (OBSERVABILITY_BIND, "0.0.0.0"),
            (OBSERVABILITY_ALLOW_NON_LOOPBACK, "true"),
        ])
        .unwrap();
        load_env(&[
            (OBSERVABILITY_BIND, "0.0.0.0"),
            (OBSERVABILITY_ENABLED, "false"),
        ])
        .unwrap();
    }

    #[test]
    fn replica_needs_primary_addr() {
        let e = err_env(&[(REPLICATION_MODE, "replica")]);
        assert_eq!(e.key, REPLICATION_PRIMARY_ADDR);
    }

    #[test]
    fn secrets_are_redacted() {
        assert!(Config::is_secret(BOOTSTRAP_PASSWORD));
        assert!(!Config::is_secret(BOOTSTRAP_USER));
        assert!(!Config::is_secret("AIONDB_NOPE"));
        let (c, _) = load_env(&[(BOOTSTRAP_USER, "admin"), (BOOTSTRAP_PASSWORD, GOOD_PW)]).unwrap();
        let shown = c.redacted();
        let pw = shown
            .iter()
            .find(|(k, _, _)| *k == BOOTSTRAP_PASSWORD)
            .unwrap();
        assert_eq!(pw.1, "********");
        assert_eq!(pw.2, Source::Env);
        assert!(shown.iter().all(|(_, v, _)| !v.contains(GOOD_PW)));
        let user = shown.iter().find(|(k, _, _)| *k == BOOTSTRAP_USER).unwrap();
        assert_eq!(user.1, "admin");
        assert!(shown.iter().all(|(k, _, _)| *k != PLUGIN_DIR));
    }

    #[test]
    fn help_lists_every_key() {
        let help = settings_help();
        for spec in SETTINGS {
            assert!(help.contains(spec.key), "{}", spec.key);
        }
        assert!(help.contains(DISABLE_MEMORY_GUARD));
        assert!(help.contains("127.0.0.1:5432"));
    }
}
