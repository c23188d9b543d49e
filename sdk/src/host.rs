//! The host API: what the kernel hands every plugin. Logging, settings,
//! catalog, metrics and status all come from the kernel through this table,
//! because each `.so` carries its own copy of every global.

use abi_stable::{
    sabi_trait,
    std_types::{RArc, ROption, RSlice, RStr, RString, RVec},
    StableAbi,
};

use crate::catalog::CatalogRef;
use crate::error::AResult;
use crate::surface::{EngineJobBox, SessionRequest, SurfaceSessionBox};

#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Off,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn from_log(level: log::Level) -> Self {
        match level {
            log::Level::Error => LogLevel::Error,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Info => LogLevel::Info,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Trace => LogLevel::Trace,
        }
    }

    pub fn to_log(self) -> Option<log::Level> {
        Some(match self {
            LogLevel::Off => return None,
            LogLevel::Error => log::Level::Error,
            LogLevel::Warn => log::Level::Warn,
            LogLevel::Info => log::Level::Info,
            LogLevel::Debug => log::Level::Debug,
            LogLevel::Trace => log::Level::Trace,
        })
    }

    pub fn from_filter(filter: log::LevelFilter) -> Self {
        match filter.to_level() {
            Some(l) => Self::from_log(l),
            None => LogLevel::Off,
        }
    }

    pub fn to_filter(self) -> log::LevelFilter {
        self.to_log()
            .map_or(log::LevelFilter::Off, |l| l.to_level_filter())
    }
}

/// A validated configuration value.
#[repr(u8)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub enum SettingValue {
    Bool(bool),
    U64(u64),
    Text(RString),
}

#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

/// Describes a metric family a plugin registers.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct MetricDesc {
    /// Prometheus name, `aiondb_` prefixed (the kernel checks it).
    pub name: RString,
    pub help: RString,
    pub kind: MetricKind,
    pub label_names: RVec<RString>,
    /// Histogram upper bounds, ascending; ignored for other kinds.
    pub buckets: RVec<f64>,
}

/// Handle to a registered metric family.
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MetricId(pub u32);

#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq)]
pub enum MetricOp {
    /// Counter or gauge increment (counters reject negative deltas).
    Add(f64),
    /// Gauge set.
    Set(f64),
    /// Histogram observation.
    Observe(f64),
}

/// One labelled series of a family.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct MetricSeries {
    pub label_values: RVec<RString>,
    /// Counter or gauge value; histogram sum.
    pub value: f64,
    /// Histogram cumulative bucket counts (one per bound) and total count.
    pub bucket_counts: RVec<u64>,
    pub count: u64,
}

#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct MetricFamily {
    pub desc: MetricDesc,
    pub series: RVec<MetricSeries>,
}

/// Kernel readiness, as `/readyz` reports it.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    Starting,
    Ready,
    Draining,
    Stopped,
}

impl Readiness {
    pub fn as_str(&self) -> &'static str {
        match self {
            Readiness::Starting => "starting",
            Readiness::Ready => "ready",
            Readiness::Draining => "draining",
            Readiness::Stopped => "stopped",
        }
    }
}

/// A loaded plugin as the kernel sees it.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct PluginStatus {
    pub name: RString,
    pub version: RString,
    /// `static` or the `.so` path.
    pub source: RString,
    /// Provided capabilities as `name/major:key`.
    pub provides: RVec<RString>,
    pub requires: RVec<RString>,
    pub started: bool,
}

#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct KernelStatus {
    pub version: RString,
    pub readiness: Readiness,
    pub plugins: RVec<PluginStatus>,
}

/// The kernel's side of the plugin boundary.
#[sabi_trait]
pub trait Host: Send + Sync + Clone {
    fn log(&self, level: LogLevel, target: RStr<'_>, message: RStr<'_>);
    fn max_log_level(&self) -> LogLevel;
    /// A validated setting (`AIONDB_*` key), `RNone` when unset. Secrets are
    /// handed only to the plugins that declare they need them.
    fn setting(&self, key: RStr<'_>) -> ROption<SettingValue>;
    fn catalog(&self) -> CatalogRef;
    fn register_metric(&self, desc: MetricDesc) -> AResult<MetricId>;
    fn record_metric(&self, id: MetricId, label_values: RSlice<'_, RStr<'_>>, op: MetricOp);
    fn metrics(&self) -> RVec<MetricFamily>;
    #[sabi(last_prefix_field)]
    fn status(&self) -> KernelStatus;
    /// Opens a kernel session for a client the surface authenticated.
    fn open_session(&self, request: &SessionRequest) -> AResult<SurfaceSessionBox>;
    /// Runs `job` on the engine pool. Fails with 53000 when the pool's
    /// queue is full (`AIONDB_ENGINE_POOL_QUEUE_DEPTH`) or it has stopped.
    fn submit(&self, job: EngineJobBox) -> AResult<()>;
    /// The SCRAM-SHA-256 verifier of a role that may log in, `RNone` for
    /// an unknown role or one without LOGIN or a password.
    fn login_verifier(&self, user: RStr<'_>) -> ROption<RString>;
    /// Another plugin's storage backend by registry key (`in_memory`), for
    /// backends that layer over one (the durable backend logs and replays
    /// over a volatile MVCC store).
    fn storage_backend(&self, key: RStr<'_>) -> ROption<RArc<crate::plugin::StorageBackendBox>>;
}

/// The host handle plugins keep (cheap to clone).
pub type HostRef = Host_TO<'static, RArc<()>>;

/// A `log::Log` that forwards records to the host, so a `.so` plugin's
/// `log::info!` ends up in the kernel's logger.
struct HostLogger {
    host: HostRef,
}

impl log::Log for HostLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        LogLevel::from_log(metadata.level()) <= self.host.max_log_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let message = record.args().to_string();
            self.host.log(
                LogLevel::from_log(record.level()),
                RStr::from_str(record.target()),
                RStr::from_str(&message),
            );
        }
    }

    fn flush(&self) {}
}

/// Routes this library's `log` records to the host. Called by
/// [`crate::export_plugin!`] when a `.so` plugin registers; statically linked
/// plugins share the kernel's logger and never call it.
pub fn install_host_logger(host: &HostRef) {
    let level = host.max_log_level().to_filter();
    // Fails only if this library already has a logger (a second registration):
    // the first one already forwards to the host.
    if log::set_boxed_logger(Box::new(HostLogger { host: host.clone() })).is_ok() {
        log::set_max_level(level);
    }
}
