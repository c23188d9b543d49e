//! # aiondb-kernel
//!
//! The microkernel: it loads plugins (statically linked or from `.so`
//! files), checks and registers the capabilities they provide, hands them
//! typed configuration and a host API, starts them in dependency order and
//! stops them in reverse. It never parses SQL, plans, executes, stores rows
//! or speaks a wire protocol: those are plugins.
//!
//! ```
//! use aiondb_kernel::{config::Config, Kernel};
//! let (config, _warnings) = Config::load(&[("AIONDB_EPHEMERAL", "true".into())], Vec::new()).unwrap();
//! let kernel = Kernel::builder(config).build().unwrap();
//! kernel.start().unwrap();
//! assert_eq!(kernel.readiness(), aiondb_sdk::host::Readiness::Ready);
//! kernel.shutdown();
//! ```

pub mod catalog;
mod clock;
pub mod config;
mod host;
mod litnorm;
pub mod loader;
pub mod metrics;
mod pool;
pub mod registry;
pub mod runtime;
pub mod session;
pub mod sql_metrics;
mod surface;
pub mod tag;

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock, RwLock};

use abi_stable::std_types::{ROption, RResult, RString, RVec};
use aiondb_sdk::catalog::{CatalogRef, RoleDef};
use aiondb_sdk::error::AionError;
use aiondb_sdk::host::{HostRef, KernelStatus, PluginStatus, Readiness};
use aiondb_sdk::plugin::{PluginModuleRef, ProviderObject};

use crate::catalog::KernelCatalog;
use crate::config::Config;
use crate::host::{KernelHost, Shared};
use crate::loader::PluginError;
use crate::metrics::Metrics;
use crate::registry::{Candidate, PluginSource, Registry, RegistryError};
use crate::sql_metrics::SqlMetrics;

/// Why the kernel could not be built, started or run.
#[derive(Debug)]
pub enum KernelError {
    /// One or more plugins were refused; one line each.
    Plugins(RegistryError),
    /// The plugin set named a plugin that is not bundled.
    PluginSet(String),
    /// A plugin failed to start.
    Start {
        plugin: String,
        message: String,
    },
    Io(std::io::Error),
    /// The SQL engine could not start (its storage backend refused to
    /// open, recovery failed, ...): the error keeps its SQLSTATE and hint.
    Engine(AionError),
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::Plugins(e) => write!(f, "{e}"),
            KernelError::PluginSet(m) => f.write_str(m),
            KernelError::Start { plugin, message } => {
                write!(f, "plugin {plugin} failed to start: {message}")
            }
            KernelError::Io(e) => write!(f, "{e}"),
            KernelError::Engine(e) => {
                write!(f, "{}", e.message)?;
                if let Some(d) = e.detail() {
                    write!(f, "\nDETAIL: {d}")?;
                }
                if let Some(h) = e.hint() {
                    write!(f, "\nHINT: {h}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for KernelError {}

/// Collects plugins and configuration, then builds a [`Kernel`].
pub struct KernelBuilder {
    config: Config,
    bundled: Vec<PluginModuleRef>,
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
}

impl KernelBuilder {
    /// Adds plugins linked into the binary. `AIONDB_PLUGINS` (`all`, `none`
    /// or a comma list of names) chooses which of them load.
    pub fn bundled(mut self, modules: impl IntoIterator<Item = PluginModuleRef>) -> Self {
        self.bundled.extend(modules);
        self
    }

    /// Adds one `.so` plugin.
    pub fn plugin_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.files.push(path.into());
        self
    }

    /// Adds every `.so` in a directory (in addition to `AIONDB_PLUGIN_DIR`).
    pub fn plugin_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.dirs.push(path.into());
        self
    }

    /// Loads, registers and checks every plugin. Nothing is started yet.
    pub fn build(self) -> Result<Kernel, KernelError> {
        let mut errors: Vec<PluginError> = Vec::new();
        let mut candidates = Vec::new();

        let selection = self
            .config
            .text(config::keys::PLUGINS)
            .unwrap_or("all")
            .to_string();
        let wanted: Option<Vec<&str>> = match selection.as_str() {
            "all" => None,
            "none" => Some(Vec::new()),
            list => Some(
                list.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect(),
            ),
        };
        if let Some(wanted) = &wanted {
            for name in wanted {
                if !self.bundled.iter().any(|m| m.name().as_str() == *name) {
                    let available: Vec<String> =
                        self.bundled.iter().map(|m| m.name().to_string()).collect();
                    return Err(KernelError::PluginSet(format!(
                        "unknown plugin \"{name}\" in {}: bundled plugins are {}",
                        config::keys::PLUGINS,
                        if available.is_empty() {
                            "none".to_string()
                        } else {
                            available.join(", ")
                        }
                    )));
                }
            }
        }
        for module in self.bundled {
            let keep = wanted
                .as_ref()
                .is_none_or(|w| w.contains(&module.name().as_str()));
            if !keep {
                log::info!(
                    "bundled plugin {} not selected by {}",
                    module.name(),
                    config::keys::PLUGINS
                );
                continue;
            }
            match registry::check_static_sdk(&module) {
                Ok(()) => candidates.push(Candidate {
                    module,
                    source: PluginSource::Static,
                }),
                Err(e) => errors.push(e),
            }
        }

        let mut files = self.files;
        let mut dirs = self.dirs;
        if let Some(dir) = self.config.text(config::keys::PLUGIN_DIR) {
            dirs.push(PathBuf::from(dir));
        }
        for dir in dirs {
            match loader::scan_plugin_dir(&dir) {
                Ok(found) => files.extend(found),
                Err(e) => errors.push(e),
            }
        }
        for path in files {
            match loader::open_dylib(&path) {
                Ok(module) => {
                    log::info!(
                        "loaded plugin {} {} from {}",
                        module.name(),
                        module.version(),
                        path.display()
                    );
                    candidates.push(Candidate {
                        module,
                        source: PluginSource::Dylib(path),
                    });
                }
                Err(e) => errors.push(e),
            }
        }

        let shared = Arc::new(Shared {
            config: self.config,
            catalog: abi_stable::std_types::RArc::new(KernelCatalog::new()),
            metrics: Metrics::new(),
            sql_metrics: SqlMetrics::new(),
            status: RwLock::new(host::initial_status()),
            engine: Arc::new(OnceLock::new()),
            pool: OnceLock::new(),
            role_sessions: Default::default(),
            registry: OnceLock::new(),
        });
        // Registered before any plugin, so a plugin registering a standard
        // family again gets the kernel's id.
        if let Err(e) = shared.sql_metrics.register(&shared.metrics) {
            log::error!("kernel metrics: {e}");
        }
        let registry = Registry::build(candidates, |name| {
            KernelHost {
                shared: shared.clone(),
                plugin: Arc::from(name),
            }
            .into_ref()
        });
        let registry = match registry {
            Ok(r) if errors.is_empty() => r,
            Ok(_) => return Err(KernelError::Plugins(RegistryError(errors))),
            Err(RegistryError(more)) => {
                errors.extend(more);
                return Err(KernelError::Plugins(RegistryError(errors)));
            }
        };
        let registry = Arc::new(registry);
        let _ = shared.registry.set(Arc::downgrade(&registry));
        if let Err(e) = metrics::register_standard(&shared.metrics, Arc::downgrade(&registry)) {
            log::error!("kernel metrics: {e}");
        }
        let kernel = Kernel {
            engine: shared.engine.clone(),
            shared,
            registry,
        };
        kernel.publish_status(Readiness::Starting);
        Ok(kernel)
    }
}

/// A built kernel: registry, configuration, catalog, metrics, lifecycle.
#[derive(Clone)]
pub struct Kernel {
    shared: Arc<Shared>,
    registry: Arc<Registry>,
    /// The SQL pipeline, resolved at start when its plugins are loaded.
    engine: Arc<OnceLock<Arc<session::Engine>>>,
}

impl Kernel {
    pub fn builder(config: Config) -> KernelBuilder {
        KernelBuilder {
            config,
            bundled: Vec::new(),
            files: Vec::new(),
            dirs: Vec::new(),
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The kernel's own host handle (log target `plugin::kernel`).
    pub fn host(&self) -> HostRef {
        self.host_for("kernel")
    }

    fn host_for(&self, plugin: &str) -> HostRef {
        KernelHost {
            shared: self.shared.clone(),
            plugin: Arc::from(plugin),
        }
        .into_ref()
    }

    pub fn catalog(&self) -> CatalogRef {
        self.host().catalog()
    }

    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    pub fn readiness(&self) -> Readiness {
        self.status().readiness
    }

    pub fn status(&self) -> KernelStatus {
        self.shared
            .status
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn publish_status(&self, readiness: Readiness) {
        let plugins = self
            .registry
            .plugins()
            .iter()
            .map(|p| PluginStatus {
                name: RString::from(p.name.as_str()),
                version: RString::from(p.version.as_str()),
                source: RString::from(p.source.to_string()),
                provides: p
                    .provides
                    .iter()
                    .map(|(c, k)| RString::from(format!("{c}:{k}")))
                    .collect(),
                requires: p
                    .requires
                    .iter()
                    .map(|n| RString::from(n.to_string()))
                    .collect(),
                started: p.is_started(),
            })
            .collect::<RVec<_>>();
        let mut status = self
            .shared
            .status
            .write()
            .unwrap_or_else(|e| e.into_inner());
        status.readiness = readiness;
        status.plugins = plugins;
    }

    /// Starts plugins in dependency order (lifecycle hooks first, then
    /// surfaces) and marks the kernel ready. On failure, whatever started is
    /// stopped again in reverse order.
    pub fn start(&self) -> Result<(), KernelError> {
        let plugins = self.registry.plugins();
        for (i, plugin) in plugins.iter().enumerate() {
            if let Some(l) = &plugin.lifecycle {
                log::debug!("starting plugin {}", plugin.name);
                if let RResult::RErr(e) = l.start(self.host_for(&plugin.name)) {
                    self.stop_from(i, false);
                    return Err(KernelError::Start {
                        plugin: plugin.name.clone(),
                        message: e.to_string(),
                    });
                }
            }
            plugin
                .started
                .store(true, std::sync::atomic::Ordering::Release);
        }
        if let Err(e) = self.start_engine() {
            self.stop_from(plugins.len(), false);
            return Err(KernelError::Engine(e));
        }
        let surfaces = self.surfaces();
        if !surfaces.is_empty() {
            if let Err(e) = self.start_surface_services() {
                self.stop_from(plugins.len(), false);
                return Err(KernelError::Start {
                    plugin: "kernel".to_string(),
                    message: e.to_string(),
                });
            }
        }
        for (n, (plugin, key, surface)) in surfaces.iter().enumerate() {
            log::info!("starting surface {key}");
            if let ProviderObject::Surface(s) = surface.object() {
                if let RResult::RErr(e) = s.start(self.host_for(plugin)) {
                    for (_, key, earlier) in surfaces[..n].iter().rev() {
                        stop_surface(key, earlier);
                    }
                    self.stop_from(plugins.len(), false);
                    return Err(KernelError::Start {
                        plugin: plugin.clone(),
                        message: e.to_string(),
                    });
                }
            }
        }
        self.publish_status(Readiness::Ready);
        log::info!("aiondb kernel ready: {} plugin(s) loaded", plugins.len());
        Ok(())
    }

    /// Resolves the SQL pipeline and opens the storage backend, when the
    /// SQL engine plugins are loaded (a kernel without them still serves
    /// health and plugin listings).
    fn start_engine(&self) -> Result<(), AionError> {
        use aiondb_sdk::capability::{SQL_EXECUTOR, SQL_PARSER, SQL_PLANNER};
        if self.engine.get().is_some() {
            return Ok(());
        }
        let has = |c: &str| self.registry.single(c, 1).is_some();
        if !(has(SQL_PARSER) && has(SQL_PLANNER) && has(SQL_EXECUTOR)) {
            log::info!("SQL engine plugins not loaded: sessions are unavailable");
            return Ok(());
        }
        let config = &self.shared.config;
        let ephemeral = config.bool(config::keys::EPHEMERAL);
        let storage = if ephemeral {
            "in_memory".to_string()
        } else {
            config
                .text(config::keys::STORAGE_BACKEND)
                .unwrap_or("durable")
                .to_string()
        };
        let data_dir = if ephemeral || storage == "in_memory" {
            None
        } else {
            config.text(config::keys::DATA_DIR).map(str::to_string)
        };
        let engine = session::Engine::build(
            &self.registry,
            self.catalog(),
            self.shared.catalog.clone(),
            config,
            &storage,
            data_dir,
            self.shared.sql_metrics.clone(),
        )?;
        log::info!("SQL engine ready on storage backend {storage}");
        let _ = self.engine.set(Arc::new(engine));
        Ok(())
    }

    /// What network surfaces need besides the engine: the engine pool and
    /// the bootstrap user's SCRAM verifier (hashed once here; the password
    /// itself is never handed to a plugin).
    fn start_surface_services(&self) -> std::io::Result<()> {
        let cfg = &self.shared.config;
        if self.shared.pool.get().is_none() {
            let threads = cfg
                .u64(config::keys::ENGINE_POOL_WORKER_THREADS)
                .unwrap_or(0);
            let depth = cfg
                .u64(config::keys::ENGINE_POOL_QUEUE_DEPTH)
                .unwrap_or(1024);
            let weak = Arc::downgrade(&self.shared);
            let gauge = aiondb_sdk::metrics::standard(aiondb_sdk::metrics::ENGINE_POOL_QUEUE_DEPTH)
                .and_then(|d| self.shared.metrics.register(d).ok());
            let observe: pool::DepthObserver = Arc::new(move |n| {
                if let (Some(shared), Some(id)) = (weak.upgrade(), gauge) {
                    shared
                        .metrics
                        .record(id, &[], aiondb_sdk::host::MetricOp::Set(n as f64));
                }
            });
            let pool = pool::EnginePool::start(threads as usize, depth as usize, observe)?;
            let _ = self.shared.pool.set(pool);
        }
        if let (Some(user), Some(password)) = (
            cfg.text(config::keys::BOOTSTRAP_USER),
            cfg.text(config::keys::BOOTSTRAP_PASSWORD),
        ) {
            // Hashed once here: the password itself never reaches a plugin.
            let verifier = if session::is_scram_verifier(password) {
                password.to_string()
            } else {
                postgres_protocol::password::scram_sha_256(password.as_bytes())
            };
            self.shared.catalog.set_bootstrap_role(RoleDef {
                id: 0,
                name: RString::from(user),
                superuser: true,
                inherit: true,
                create_role: true,
                create_db: true,
                can_login: true,
                replication: true,
                bypass_rls: true,
                connection_limit: -1,
                password: ROption::RSome(RString::from(verifier)),
                valid_until: ROption::RNone,
            });
        }
        Ok(())
    }

    /// Opens a session: the one way every surface runs SQL.
    pub fn session(&self, options: session::SessionOptions) -> Result<session::Session, AionError> {
        let engine = self.engine.get().cloned().ok_or_else(|| {
            AionError::new(
                aiondb_sdk::error::SqlState::new(b"57P03"),
                "the SQL engine is not available: the kernel is not started or the SQL plugins are not loaded",
            )
        })?;
        Ok(session::Session::new(engine, options))
    }

    /// Surfaces in plugin start order, with the providing plugin's name.
    fn surfaces(&self) -> Vec<(String, String, Arc<registry::Provider>)> {
        let plugins = self.registry.plugins();
        let mut list: Vec<_> = self
            .registry
            .providers(aiondb_sdk::capability::SURFACE, 1)
            .map(|p| {
                (
                    p.plugin,
                    plugins[p.plugin].name.clone(),
                    p.key.clone(),
                    p.clone(),
                )
            })
            .collect();
        list.sort_by_key(|(i, ..)| *i);
        list.into_iter()
            .map(|(_, name, key, p)| (name, key, p))
            .collect()
    }

    /// Stops lifecycle hooks of plugins `[0, upto)` in reverse order.
    fn stop_from(&self, upto: usize, log_each: bool) {
        for plugin in self.registry.plugins()[..upto].iter().rev() {
            if !plugin
                .started
                .swap(false, std::sync::atomic::Ordering::AcqRel)
            {
                continue;
            }
            if let Some(l) = &plugin.lifecycle {
                if log_each {
                    log::debug!("stopping plugin {}", plugin.name);
                }
                if let RResult::RErr(e) = l.stop() {
                    log::warn!("plugin {} did not stop cleanly: {}", plugin.name, e);
                }
            }
        }
    }

    /// Drains: marks the kernel draining, stops surfaces (which close their
    /// connections), then stops plugins in reverse dependency order.
    pub fn shutdown(&self) {
        if self.readiness() == Readiness::Stopped {
            return;
        }
        self.publish_status(Readiness::Draining);
        log::info!("aiondb kernel draining");
        // Surfaces keep serving while draining, so load balancers polling
        // /readyz see 503 and stop routing before connections are closed.
        let drain_ms = self
            .shared
            .config
            .u64(config::keys::SHUTDOWN_DRAIN_MS)
            .unwrap_or(0);
        if drain_ms > 0 {
            log::info!("waiting {drain_ms} ms before stopping surfaces");
            std::thread::sleep(std::time::Duration::from_millis(drain_ms));
        }
        for (_, key, surface) in self.surfaces().iter().rev() {
            stop_surface(key, surface);
        }
        if let Some(pool) = self.shared.pool.get() {
            pool.stop();
        }
        // A durable backend checkpoints and syncs here, so the next start
        // has nothing to replay.
        if let Some(engine) = self.engine.get() {
            engine.close_storage();
        }
        self.stop_from(self.registry.plugins().len(), true);
        self.publish_status(Readiness::Stopped);
        log::info!("aiondb kernel stopped");
    }

    /// Starts, waits for SIGINT or SIGTERM, then shuts down gracefully.
    pub fn run_until_signal(&self) -> Result<(), KernelError> {
        // Listen before starting: a signal during start must still drain.
        let listener = runtime::ShutdownListener::install().map_err(KernelError::Io)?;
        self.start()?;
        let signal = runtime::block_on(listener.wait()).map_err(KernelError::Io)?;
        log::info!("received {signal:?}, shutting down");
        self.shutdown();
        Ok(())
    }
}

fn stop_surface(key: &str, surface: &registry::Provider) {
    if let ProviderObject::Surface(s) = surface.object() {
        log::info!("stopping surface {key}");
        if let RResult::RErr(e) = s.stop() {
            log::warn!("surface {key} did not stop cleanly: {e}");
        }
    }
}
