//! The kernel's implementation of the host API handed to every plugin.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RArc, ROption, RSlice, RStr, RString, RVec};
use aiondb_sdk::catalog::{Catalog, CatalogRef, Catalog_TO, RoleDef};
use aiondb_sdk::error::AResult;
use aiondb_sdk::host::{
    Host, HostRef, Host_TO, KernelStatus, LogLevel, MetricDesc, MetricFamily, MetricId, MetricOp,
    Readiness, SettingValue,
};
use aiondb_sdk::plugin::ProviderObject;
use aiondb_sdk::plugin::StorageBackendBox;

use aiondb_sdk::error::{AionError, SqlState};
use aiondb_sdk::surface::{EngineJobBox, SessionRequest, SurfaceSessionBox, SurfaceSession_TO};

use crate::catalog::KernelCatalog;
use crate::config::{self, Config};
use crate::metrics::Metrics;
use crate::pool::EnginePool;
use crate::session::{now_pg_micros, Engine, Session, SessionOptions};
use crate::sql_metrics::SqlMetrics;
use crate::surface::KernelSurfaceSession;

/// State shared by every host handle.
pub(crate) struct Shared {
    pub config: Config,
    pub catalog: RArc<KernelCatalog>,
    pub metrics: Metrics,
    pub sql_metrics: Arc<SqlMetrics>,
    pub status: RwLock<KernelStatus>,
    /// The SQL pipeline, set once the engine plugins are resolved.
    pub engine: Arc<OnceLock<Arc<Engine>>>,
    /// Runs surface work; started with the first surface.
    pub pool: OnceLock<EnginePool>,
    /// Open surface sessions per user, for roles' CONNECTION LIMIT.
    pub role_sessions: Arc<Mutex<HashMap<String, usize>>>,
    /// The plugin registry, set once it is built (plugins register before
    /// it exists, and must not keep it alive).
    pub registry: OnceLock<std::sync::Weak<crate::registry::Registry>>,
}

/// One plugin's host handle; `plugin` names it in log targets.
#[derive(Clone)]
pub(crate) struct KernelHost {
    pub shared: Arc<Shared>,
    pub plugin: Arc<str>,
}

impl KernelHost {
    pub fn into_ref(self) -> HostRef {
        Host_TO::from_ptr(RArc::new(self), TD_Opaque)
    }
}

impl Host for KernelHost {
    fn log(&self, level: LogLevel, target: RStr<'_>, message: RStr<'_>) {
        let Some(level) = level.to_log() else { return };
        // The plugin's module path already names it; prefix with the plugin
        // name so a `.so` loaded from anywhere is identifiable.
        let target = format!("plugin::{}::{}", self.plugin, target);
        log::logger().log(
            &log::Record::builder()
                .level(level)
                .target(&target)
                .args(format_args!("{}", message))
                .build(),
        );
    }

    fn max_log_level(&self) -> LogLevel {
        LogLevel::from_filter(log::max_level())
    }

    fn setting(&self, key: RStr<'_>) -> ROption<SettingValue> {
        match self.shared.config.get(key.as_str()) {
            Some(config::SettingValue::Bool(b)) => ROption::RSome(SettingValue::Bool(*b)),
            Some(config::SettingValue::U64(n)) => ROption::RSome(SettingValue::U64(*n)),
            Some(config::SettingValue::Text(t)) => {
                ROption::RSome(SettingValue::Text(RString::from(t.as_str())))
            }
            None => ROption::RNone,
        }
    }

    fn catalog(&self) -> CatalogRef {
        Catalog_TO::from_ptr(self.shared.catalog.clone(), TD_Opaque)
    }

    fn register_metric(&self, desc: MetricDesc) -> AResult<MetricId> {
        self.shared.metrics.register(desc).into()
    }

    fn record_metric(&self, id: MetricId, label_values: RSlice<'_, RStr<'_>>, op: MetricOp) {
        let labels: Vec<&str> = label_values.iter().map(|s| s.as_str()).collect();
        self.shared.metrics.record(id, &labels, op);
    }

    fn metrics(&self) -> RVec<MetricFamily> {
        self.shared.metrics.snapshot()
    }

    fn status(&self) -> KernelStatus {
        self.shared
            .status
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn open_session(&self, request: &SessionRequest) -> AResult<SurfaceSessionBox> {
        let Some(engine) = self.shared.engine.get().cloned() else {
            return Err(AionError::new(
                SqlState::CANNOT_CONNECT_NOW,
                "the database system is starting up",
            ))
            .into();
        };
        let user = request.user.as_str();
        let role = self
            .shared
            .catalog
            .role_by_name(request.user.as_rstr())
            .into_option();
        if role.as_ref().is_some_and(|r| !r.can_login) {
            return Err(AionError::new(
                SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
                format!("role \"{user}\" is not permitted to log in"),
            ))
            .into();
        }
        let guard = match SessionGuard::enter(&self.shared, user, role.as_ref()) {
            Ok(g) => g,
            Err(e) => return Err(e).into(),
        };
        let mut session = Session::new(
            engine,
            SessionOptions {
                user: request.user.to_string(),
                database: request.database.to_string(),
                application: request.application.to_string(),
            },
        );
        for s in request.settings.iter() {
            if let Err(e) = session.set_startup_setting(s.0.as_str(), s.1.as_str()) {
                return Err(e).into();
            }
        }
        Ok(SurfaceSession_TO::from_value(
            KernelSurfaceSession::new(session, guard),
            TD_Opaque,
        ))
        .into()
    }

    fn submit(&self, job: EngineJobBox) -> AResult<()> {
        match self.shared.pool.get() {
            Some(pool) => pool.submit(job).into(),
            None => Err(AionError::new(
                SqlState::CANNOT_CONNECT_NOW,
                "the engine pool is not running",
            ))
            .into(),
        }
    }

    fn login_verifier(&self, user: RStr<'_>) -> ROption<RString> {
        let ROption::RSome(role) = self.shared.catalog.role_by_name(user) else {
            return ROption::RNone;
        };
        // NOLOGIN is checked when the session opens (28000 after a correct
        // password, as PostgreSQL does); an expired password fails like a
        // wrong one.
        if let ROption::RSome(until) = role.valid_until {
            if until <= now_pg_micros() {
                return ROption::RNone;
            }
        }
        role.password
    }

    fn storage_backend(&self, key: RStr<'_>) -> ROption<RArc<StorageBackendBox>> {
        let Some(registry) = self
            .shared
            .registry
            .get()
            .and_then(std::sync::Weak::upgrade)
        else {
            return ROption::RNone;
        };
        match registry
            .provider(aiondb_sdk::capability::STORAGE_BACKEND, 1, key.as_str())
            .map(|p| p.object())
        {
            Some(ProviderObject::StorageBackend(s)) => ROption::RSome(s.clone()),
            _ => ROption::RNone,
        }
    }
}

pub(crate) fn initial_status() -> KernelStatus {
    KernelStatus {
        version: RString::from(env!("CARGO_PKG_VERSION")),
        readiness: Readiness::Starting,
        plugins: RVec::new(),
    }
}

/// Counts a surface session against its role's CONNECTION LIMIT while it
/// lives.
pub(crate) struct SessionGuard {
    counts: Arc<Mutex<HashMap<String, usize>>>,
    user: String,
}

impl SessionGuard {
    fn enter(
        shared: &Shared,
        user: &str,
        role: Option<&RoleDef>,
    ) -> Result<SessionGuard, AionError> {
        let limit = match role {
            // Superusers are not held to the limit, as in PostgreSQL.
            Some(r) if !r.superuser && r.connection_limit >= 0 => Some(r.connection_limit as usize),
            _ => None,
        };
        let mut counts = shared
            .role_sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let open = counts.get(user).copied().unwrap_or(0);
        if limit.is_some_and(|l| open >= l) {
            return Err(AionError::new(
                SqlState::TOO_MANY_CONNECTIONS,
                format!("too many connections for role \"{user}\""),
            ));
        }
        counts.insert(user.to_string(), open + 1);
        Ok(SessionGuard {
            counts: Arc::clone(&shared.role_sessions),
            user: user.to_string(),
        })
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.user);
            }
        }
    }
}
