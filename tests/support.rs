//! Shared helpers for the integration tests: locating (and if needed
//! building) the cdylib plugins and the `aiondb` binary, temporary plugin
//! directories, and calling SQL functions through the registry.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

#[path = "support/wire.rs"]
pub mod wire;

use aiondb_kernel::config::Config;
use aiondb_kernel::Kernel;
use aiondb_sdk::error::{AionError, SqlState};
use aiondb_sdk::plugin::ProviderObject;
use aiondb_sdk::prelude::{RSlice, Value};

/// Packages whose artifacts the tests load; built once per test process.
const ARTIFACT_PACKAGES: &[&str] = &[
    "aiondb",
    "aiondb-plugin-functions-core-dylib",
    "aiondb-sql-parser-dylib",
    "aiondb-plugin-sql-planner-dylib",
    "aiondb-plugin-sql-executor-dylib",
    "aiondb-storage-memory-dylib",
    "aiondb-plugin-http-dylib",
    "aiondb-test-plugin-panicky-dylib",
    "aiondb-test-plugin-bad-abi",
    "aiondb-test-plugin-bad-version",
    "aiondb-example-hello-plugin",
];

/// `target/<profile>` of the running test binary (`.../deps/<test>`).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps")
        .to_path_buf()
}

/// Builds the cdylibs and the binary: `cargo test` does not build cdylib
/// crates or other packages' binaries. A no-op when they are fresh.
fn ensure_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let profile = profile_dir();
        let target = profile.parent().expect("target dir").to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.arg("build").env("CARGO_TARGET_DIR", &target);
        if profile.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        for p in ARTIFACT_PACKAGES {
            cmd.args(["-p", p]);
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "building test artifacts failed");
    });
}

/// Path of a built artifact in `target/<profile>`.
pub fn artifact(file: &str) -> PathBuf {
    ensure_built();
    let p = profile_dir().join(file);
    assert!(p.exists(), "{} was not built", p.display());
    p
}

pub fn dylib(stem: &str) -> PathBuf {
    artifact(&format!("lib{stem}.so"))
}

pub fn aiondb_bin() -> PathBuf {
    artifact("aiondb")
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "aiondb-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    /// A fresh directory holding copies of these shared libraries.
    pub fn with_plugins(tag: &str, libs: &[PathBuf]) -> TempDir {
        let d = TempDir::new(tag);
        for lib in libs {
            let name = lib.file_name().expect("library file name");
            std::fs::copy(lib, d.0.join(name)).expect("copy plugin");
        }
        d
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Configuration from explicit CLI-layer pairs and no environment.
pub fn config(pairs: &[(&str, &str)]) -> Config {
    let cli: Vec<(&str, String)> = pairs.iter().map(|(k, v)| (*k, v.to_string())).collect();
    Config::load(&cli, Vec::new()).expect("valid test config").0
}

/// Calls the first function named `name` taking `args.len()` arguments,
/// through whichever `sql.functions/1` provider registered it.
pub fn call_function(kernel: &Kernel, name: &str, args: &[Value]) -> Result<Value, AionError> {
    for provider in kernel.registry().providers("sql.functions", 1) {
        let ProviderObject::Functions(set) = provider.object() else {
            continue;
        };
        let list = set.functions().into_result()?;
        if let Some(sig) = list
            .iter()
            .find(|s| s.name.as_str() == name && s.args.len() == args.len())
        {
            return set.call(sig.id, RSlice::from_slice(args)).into_result();
        }
    }
    Err(AionError::new(
        SqlState::UNDEFINED_FUNCTION,
        format!("function {name} does not exist"),
    ))
}

/// The executor plugin run directly against the kernel catalog and the
/// in-memory backend, for tests that hand it plans (no session, no parser).
pub mod engine {
    use std::sync::Arc;

    use abi_stable::sabi_trait::TD_Opaque;
    use abi_stable::std_types::{RArc, RBox, ROption, RString, RVec};
    use aiondb_kernel::config::Config;
    use aiondb_kernel::registry::Provider;
    use aiondb_kernel::Kernel;
    use aiondb_sdk::capability::SQL_EXECUTOR;
    use aiondb_sdk::plugin::{guarded_parser, ProviderObject};
    use aiondb_sdk::prelude::*;

    /// A fresh catalog and opened `in_memory` backend, without functions.
    pub fn services() -> Services {
        let catalog = aiondb_kernel::catalog::KernelCatalog::new();
        let catalog: CatalogRef = Catalog_TO::from_ptr(RArc::new(catalog), TD_Opaque);
        let backend = StorageBackend_TO::from_ptr(
            RBox::new(aiondb_storage_memory::MemoryBackend::new()),
            TD_Opaque,
        );
        backend
            .open(&StorageOptions {
                data_dir: ROption::RNone,
                allow_unencrypted: true,
                memory_limit_bytes: 0,
            })
            .into_result()
            .expect("in-memory backend opens");
        Services {
            catalog: RArc::new(catalog),
            parser: RArc::new(guarded_parser(aiondb_sql_parser::SqlParserPlugin)),
            storages: vec![StorageHandle {
                key: "in_memory".into(),
                backend: RArc::new(backend),
            }]
            .into(),
            default_storage: "in_memory".into(),
            functions: RVec::new(),
        }
    }

    /// A statement context with no limits (txn to be filled in).
    pub fn ctx() -> ExecContext {
        ExecContext {
            txn: 1,
            isolation: IsolationLevel::ReadCommitted,
            read_only: false,
            txn_start: 0,
            statement_start: 0,
            deadline_unix_us: 0,
            lock_timeout_ms: 0,
            max_result_rows: 0,
            max_result_bytes: 0,
            memory_limit_bytes: 0,
            max_recursive_rows: 0,
            max_recursive_iterations: 0,
            user: "alice".into(),
            database: "db".into(),
            search_path: vec![RString::from("public")].into(),
            settings: RArc::new(RVec::new()),
            session: 1,
            cancel: Default::default(),
        }
    }

    /// The `sql.executor/1` provider, registered through the kernel like
    /// in any deployment.
    pub struct Executor {
        _kernel: Kernel,
        provider: Arc<Provider>,
    }

    impl Executor {
        pub fn new() -> Executor {
            let (config, _) = Config::load(&[], Vec::new()).expect("config");
            let kernel = Kernel::builder(config)
                .bundled([aiondb_plugin_sql_executor::plugin_module()])
                .build()
                .expect("kernel with the executor plugin");
            let provider = kernel
                .registry()
                .single(SQL_EXECUTOR, 1)
                .cloned()
                .expect("executor registered");
            Executor {
                _kernel: kernel,
                provider,
            }
        }

        pub fn execute(
            &self,
            ctx: &ExecContext,
            services: &Services,
            plan: &Plan,
            params: &[Value],
        ) -> DbResult<RowCursorBox> {
            match self.provider.object() {
                ProviderObject::Executor(e) => e
                    .execute(ctx, services, plan, RSlice::from_slice(params))
                    .into_result(),
                _ => Err(AionError::internal("not an executor")),
            }
        }
    }

    impl Default for Executor {
        fn default() -> Self {
            Self::new()
        }
    }
}
