//! The plugin root module and registration.
//!
//! A plugin is a [`PluginModule`]: name, version, the SDK version it was
//! built against, and a `register` function returning a [`Registration`]
//! (capabilities provided, capabilities required, lifecycle hooks). The same
//! module is linked statically or exported from a thin cdylib with
//! [`crate::export_plugin!`].

use std::sync::atomic::{AtomicBool, Ordering};

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings,
    sabi_types::VersionStrings,
    std_types::{RArc, RBox, ROption, RSlice, RStr, RString, RVec},
    StableAbi,
};

use crate::capability::*;
use crate::catalog::{IndexDef, IndexId, TableDef, TableId};
use crate::error::{guard, AResult};
use crate::host::HostRef;
use crate::plan::Plan;
use crate::row::{RowBatch, Schema};
use crate::syntax::SyntaxTree;
use crate::value::Value;

/// Version of this SDK crate; plugins record it and the kernel compares it
/// (same major, and same minor while the major is 0).
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The root module every plugin exports.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModuleRef)))]
#[sabi(missing_field(panic))]
pub struct PluginModule {
    pub name: RStr<'static>,
    pub version: RStr<'static>,
    pub sdk_version: RStr<'static>,
    pub description: RStr<'static>,
    /// Builds the plugin's providers. Called once per load; must not start
    /// threads or bind sockets (that is what lifecycle hooks are for).
    #[sabi(last_prefix_field)]
    pub register: extern "C" fn(host: HostRef) -> AResult<Registration>,
}

impl RootModule for PluginModuleRef {
    declare_root_module_statics! {PluginModuleRef}
    const BASE_NAME: &'static str = "aiondb_plugin";
    const NAME: &'static str = "aiondb_plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// A capability the plugin needs from some other plugin.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct Requirement {
    pub capability: CapabilityId,
    /// A specific provider key (e.g. `btree`), or any provider.
    pub key: ROption<RString>,
}

pub type ParserBox = Parser_TO<'static, RBox<()>>;
pub type PlannerBox = Planner_TO<'static, RBox<()>>;
pub type ExecutorBox = Executor_TO<'static, RBox<()>>;
pub type StorageBackendBox = StorageBackend_TO<'static, RBox<()>>;
pub type IndexMethodBox = IndexMethod_TO<'static, RBox<()>>;
pub type FunctionSetBox = FunctionSet_TO<'static, RBox<()>>;
pub type TypeProviderBox = TypeProvider_TO<'static, RBox<()>>;
pub type OperatorSetBox = OperatorSet_TO<'static, RBox<()>>;
pub type SurfaceBox = Surface_TO<'static, RBox<()>>;
pub type LifecycleBox = Lifecycle_TO<'static, RBox<()>>;

/// A provider object, one variant per capability interface.
#[repr(u8)]
#[derive(StableAbi)]
pub enum ProviderObject {
    /// Shared (`RArc`) so the kernel can hand it to the planner in
    /// [`crate::capability::Services`].
    Parser(RArc<ParserBox>),
    Planner(PlannerBox),
    Executor(ExecutorBox),
    StorageBackend(RArc<StorageBackendBox>),
    IndexMethod(IndexMethodBox),
    Functions(RArc<FunctionSetBox>),
    Types(TypeProviderBox),
    Operators(OperatorSetBox),
    Surface(SurfaceBox),
}

impl ProviderObject {
    /// The capability name this object implements.
    pub fn capability_name(&self) -> &'static str {
        match self {
            ProviderObject::Parser(_) => SQL_PARSER,
            ProviderObject::Planner(_) => SQL_PLANNER,
            ProviderObject::Executor(_) => SQL_EXECUTOR,
            ProviderObject::StorageBackend(_) => STORAGE_BACKEND,
            ProviderObject::IndexMethod(_) => INDEX_METHOD,
            ProviderObject::Functions(_) => SQL_FUNCTIONS,
            ProviderObject::Types(_) => SQL_TYPES,
            ProviderObject::Operators(_) => SQL_OPERATORS,
            ProviderObject::Surface(_) => SURFACE,
        }
    }
}

/// One provided capability.
#[repr(C)]
#[derive(StableAbi)]
pub struct Provided {
    pub capability: CapabilityId,
    /// Provider key, unique per capability (`in_memory`, `btree`, `pgwire`,
    /// the function-set name). Single-provider capabilities use the plugin name.
    pub key: RString,
    pub object: ProviderObject,
}

/// What `register` returns.
#[repr(C)]
#[derive(StableAbi, Default)]
pub struct Registration {
    pub provides: RVec<Provided>,
    pub requires: RVec<Requirement>,
    pub lifecycle: ROption<LifecycleBox>,
}

/// Wraps a provider so that every call catches unwinding: a panic becomes an
/// XX000 error instead of aborting the process at the `extern "C"` frame.
pub struct Guarded<T>(pub T);

impl Registration {
    pub fn new() -> Self {
        Self::default()
    }

    fn provide(mut self, name: &str, key: &str, object: ProviderObject) -> Self {
        self.provides.push(Provided {
            capability: CapabilityId::new(name, 1),
            key: RString::from(key),
            object,
        });
        self
    }

    /// Adds a provider exactly as given (name, major and object). Use the
    /// typed helpers below unless you need a specific major version.
    pub fn provide_raw(mut self, provided: Provided) -> Self {
        self.provides.push(provided);
        self
    }

    pub fn parser(self, key: &str, p: impl Parser + 'static) -> Self {
        self.provide(
            SQL_PARSER,
            key,
            ProviderObject::Parser(RArc::new(guarded_parser(p))),
        )
    }
    pub fn planner(self, key: &str, p: impl Planner + 'static) -> Self {
        let o = Planner_TO::from_ptr(RBox::new(Guarded(p)), abi_stable::sabi_trait::TD_Opaque);
        self.provide(SQL_PLANNER, key, ProviderObject::Planner(o))
    }
    pub fn executor(self, key: &str, e: impl Executor + 'static) -> Self {
        let o = Executor_TO::from_ptr(RBox::new(Guarded(e)), abi_stable::sabi_trait::TD_Opaque);
        self.provide(SQL_EXECUTOR, key, ProviderObject::Executor(o))
    }
    pub fn storage_backend(self, key: &str, s: impl StorageBackend + 'static) -> Self {
        let o =
            StorageBackend_TO::from_ptr(RBox::new(Guarded(s)), abi_stable::sabi_trait::TD_Opaque);
        self.provide(
            STORAGE_BACKEND,
            key,
            ProviderObject::StorageBackend(RArc::new(o)),
        )
    }
    pub fn index_method(self, key: &str, m: impl IndexMethod + 'static) -> Self {
        let o = IndexMethod_TO::from_ptr(RBox::new(Guarded(m)), abi_stable::sabi_trait::TD_Opaque);
        self.provide(INDEX_METHOD, key, ProviderObject::IndexMethod(o))
    }
    pub fn functions(self, key: &str, f: impl FunctionSet + 'static) -> Self {
        self.provide(
            SQL_FUNCTIONS,
            key,
            ProviderObject::Functions(RArc::new(guarded_functions(f))),
        )
    }
    pub fn types(self, key: &str, t: impl TypeProvider + 'static) -> Self {
        let o = TypeProvider_TO::from_ptr(RBox::new(Guarded(t)), abi_stable::sabi_trait::TD_Opaque);
        self.provide(SQL_TYPES, key, ProviderObject::Types(o))
    }
    pub fn operators(self, key: &str, o: impl OperatorSet + 'static) -> Self {
        let o = OperatorSet_TO::from_ptr(RBox::new(Guarded(o)), abi_stable::sabi_trait::TD_Opaque);
        self.provide(SQL_OPERATORS, key, ProviderObject::Operators(o))
    }
    pub fn surface(self, key: &str, s: impl Surface + 'static) -> Self {
        let o = Surface_TO::from_ptr(RBox::new(Guarded(s)), abi_stable::sabi_trait::TD_Opaque);
        self.provide(SURFACE, key, ProviderObject::Surface(o))
    }

    /// Declares that this plugin needs `name/major` (any provider).
    pub fn requires(mut self, name: &str, major: u32) -> Self {
        self.requires.push(Requirement {
            capability: CapabilityId::new(name, major),
            key: ROption::RNone,
        });
        self
    }

    /// Declares that this plugin needs the provider `key` of `name/major`.
    pub fn requires_key(mut self, name: &str, major: u32, key: &str) -> Self {
        self.requires.push(Requirement {
            capability: CapabilityId::new(name, major),
            key: ROption::RSome(RString::from(key)),
        });
        self
    }

    pub fn lifecycle(mut self, l: impl Lifecycle + 'static) -> Self {
        self.lifecycle = ROption::RSome(Lifecycle_TO::from_ptr(
            RBox::new(Guarded(l)),
            abi_stable::sabi_trait::TD_Opaque,
        ));
        self
    }
}

/// Wraps a parser in a panic guard.
pub fn guarded_parser(p: impl Parser + 'static) -> ParserBox {
    Parser_TO::from_ptr(RBox::new(Guarded(p)), abi_stable::sabi_trait::TD_Opaque)
}

/// Wraps a function set in a panic guard.
pub fn guarded_functions(f: impl FunctionSet + 'static) -> FunctionSetBox {
    FunctionSet_TO::from_ptr(RBox::new(Guarded(f)), abi_stable::sabi_trait::TD_Opaque)
}

/// Wraps a row cursor in a panic guard; executors and backends return
/// cursors through this.
pub fn guarded_cursor(c: impl RowCursor + 'static) -> RowCursorBox {
    RowCursor_TO::from_ptr(RBox::new(Guarded(c)), abi_stable::sabi_trait::TD_Opaque)
}

/// Wraps an index instance in a panic guard.
pub fn guarded_index(i: impl IndexInstance + 'static) -> IndexInstanceBox {
    IndexInstance_TO::from_ptr(RBox::new(Guarded(i)), abi_stable::sabi_trait::TD_Opaque)
}

impl<T: Parser> Parser for Guarded<T> {
    fn parse(&self, sql: RStr<'_>) -> AResult<RVec<SyntaxTree>> {
        guard("sql.parser parse", || self.0.parse(sql))
    }
}

impl<T: Planner> Planner for Guarded<T> {
    fn plan(
        &self,
        ctx: &PlanContext,
        services: &Services,
        statement: &SyntaxTree,
    ) -> AResult<Plan> {
        guard("sql.planner plan", || self.0.plan(ctx, services, statement))
    }
}

impl<T: Executor> Executor for Guarded<T> {
    fn execute(
        &self,
        ctx: &ExecContext,
        services: &Services,
        plan: &Plan,
        params: RSlice<'_, Value>,
    ) -> AResult<RowCursorBox> {
        guard("sql.executor execute", || {
            self.0.execute(ctx, services, plan, params)
        })
    }
    fn run(
        &self,
        ctx: &ExecContext,
        services: &Services,
        plan: &Plan,
        params: RSlice<'_, Value>,
        out: &mut RowBatch,
    ) -> AResult<u64> {
        guard("sql.executor run", || {
            self.0.run(ctx, services, plan, params, out)
        })
    }
}

impl<T: RowCursor> RowCursor for Guarded<T> {
    fn schema(&self) -> AResult<Schema> {
        guard("cursor schema", || self.0.schema())
    }
    fn next_batch(&mut self, max_rows: u32) -> AResult<ROption<RowBatch>> {
        guard("cursor next_batch", || self.0.next_batch(max_rows))
    }
    fn rows_affected(&self) -> AResult<u64> {
        guard("cursor rows_affected", || self.0.rows_affected())
    }
}

impl<T: StorageBackend> StorageBackend for Guarded<T> {
    fn info(&self) -> AResult<BackendInfo> {
        guard("storage info", || self.0.info())
    }
    fn open(&self, options: &StorageOptions) -> AResult<()> {
        guard("storage open", || self.0.open(options))
    }
    fn begin(&self, isolation: IsolationLevel, read_only: bool) -> AResult<TxnId> {
        guard("storage begin", || self.0.begin(isolation, read_only))
    }
    fn commit(&self, txn: TxnId) -> AResult<()> {
        guard("storage commit", || self.0.commit(txn))
    }
    fn rollback(&self, txn: TxnId) -> AResult<()> {
        guard("storage rollback", || self.0.rollback(txn))
    }
    fn savepoint(&self, txn: TxnId, name: RStr<'_>) -> AResult<()> {
        guard("storage savepoint", || self.0.savepoint(txn, name))
    }
    fn rollback_to_savepoint(&self, txn: TxnId, name: RStr<'_>) -> AResult<()> {
        guard("storage rollback_to_savepoint", || {
            self.0.rollback_to_savepoint(txn, name)
        })
    }
    fn release_savepoint(&self, txn: TxnId, name: RStr<'_>) -> AResult<()> {
        guard("storage release_savepoint", || {
            self.0.release_savepoint(txn, name)
        })
    }
    fn create_table(&self, txn: TxnId, table: &TableDef) -> AResult<()> {
        guard("storage create_table", || self.0.create_table(txn, table))
    }
    fn alter_table(&self, txn: TxnId, old: &TableDef, new: &TableDef, fill: &Value) -> AResult<()> {
        guard("storage alter_table", || {
            self.0.alter_table(txn, old, new, fill)
        })
    }
    fn begin_statement(&self, txn: TxnId, wait: &LockWait) -> AResult<()> {
        guard("storage begin_statement", || {
            self.0.begin_statement(txn, wait)
        })
    }
    fn create_index(&self, txn: TxnId, index: &IndexDef, table: &TableDef) -> AResult<()> {
        guard("storage create_index", || {
            self.0.create_index(txn, index, table)
        })
    }
    fn drop_index(&self, txn: TxnId, table: TableId, index: IndexId) -> AResult<()> {
        guard("storage drop_index", || {
            self.0.drop_index(txn, table, index)
        })
    }
    fn lock_row(
        &self,
        txn: TxnId,
        table: TableId,
        row: RowId,
        exclusive: bool,
        wait: &LockWait,
    ) -> AResult<LockOutcome> {
        guard("storage lock_row", || {
            self.0.lock_row(txn, table, row, exclusive, wait)
        })
    }
    fn index_scan(
        &self,
        txn: TxnId,
        table: TableId,
        index: IndexId,
        query: &IndexQuery,
        request: &ScanRequest,
        reverse: bool,
    ) -> AResult<RowCursorBox> {
        guard("storage index_scan", || {
            self.0
                .index_scan(txn, table, index, query, request, reverse)
        })
    }
    fn drop_table(&self, txn: TxnId, table: TableId) -> AResult<()> {
        guard("storage drop_table", || self.0.drop_table(txn, table))
    }
    fn truncate(&self, txn: TxnId, table: TableId) -> AResult<()> {
        guard("storage truncate", || self.0.truncate(txn, table))
    }
    fn insert(
        &self,
        txn: TxnId,
        table: TableId,
        rows: &RowBatch,
        ids: &mut RVec<RowId>,
    ) -> AResult<()> {
        guard("storage insert", || self.0.insert(txn, table, rows, ids))
    }
    fn update(
        &self,
        txn: TxnId,
        table: TableId,
        row_ids: RSlice<'_, RowId>,
        rows: &RowBatch,
    ) -> AResult<u64> {
        guard("storage update", || {
            self.0.update(txn, table, row_ids, rows)
        })
    }
    fn delete(&self, txn: TxnId, table: TableId, row_ids: RSlice<'_, RowId>) -> AResult<u64> {
        guard("storage delete", || self.0.delete(txn, table, row_ids))
    }
    fn scan(&self, txn: TxnId, table: TableId, request: &ScanRequest) -> AResult<RowCursorBox> {
        guard("storage scan", || self.0.scan(txn, table, request))
    }
    fn stats(&self, txn: TxnId, table: TableId) -> AResult<TableStats> {
        guard("storage stats", || self.0.stats(txn, table))
    }
    fn checkpoint(&self) -> AResult<()> {
        guard("storage checkpoint", || self.0.checkpoint())
    }
    fn close(&self) -> AResult<()> {
        guard("storage close", || self.0.close())
    }
    fn begin_with_statement(
        &self,
        isolation: IsolationLevel,
        read_only: bool,
        wait: &LockWait,
    ) -> AResult<TxnId> {
        guard("storage begin", || {
            self.0.begin_with_statement(isolation, read_only, wait)
        })
    }
    fn fetch(
        &self,
        txn: TxnId,
        table: TableId,
        index: IndexId,
        key: RSlice<'_, Value>,
        request: &ScanRequest,
        out: &mut RowBatch,
    ) -> AResult<()> {
        guard("storage fetch", || {
            self.0.fetch(txn, table, index, key, request, out)
        })
    }
    fn log_catalog(&self, txn: TxnId, entries: RSlice<'_, CatalogEntry>) -> AResult<()> {
        guard("storage log_catalog", || self.0.log_catalog(txn, entries))
    }
    fn recovered_catalog(&self) -> AResult<RVec<CatalogEntry>> {
        guard("storage recovered_catalog", || self.0.recovered_catalog())
    }
}

impl<T: IndexInstance> IndexInstance for Guarded<T> {
    fn insert(&self, txn: TxnId, key: RSlice<'_, Value>, row: RowId) -> AResult<()> {
        guard("index insert", || self.0.insert(txn, key, row))
    }
    fn delete(&self, txn: TxnId, key: RSlice<'_, Value>, row: RowId) -> AResult<()> {
        guard("index delete", || self.0.delete(txn, key, row))
    }
    fn search(&self, txn: TxnId, query: &IndexQuery) -> AResult<RVec<IndexHit>> {
        guard("index search", || self.0.search(txn, query))
    }
}

impl<T: IndexMethod> IndexMethod for Guarded<T> {
    fn info(&self) -> AResult<IndexMethodInfo> {
        guard("index.method info", || self.0.info())
    }
    fn create(&self, index: &IndexDef, table: &TableDef) -> AResult<IndexInstanceBox> {
        guard("index.method create", || self.0.create(index, table))
    }
}

impl<T: FunctionSet> FunctionSet for Guarded<T> {
    fn functions(&self) -> AResult<RVec<FunctionSignature>> {
        guard("sql.functions list", || self.0.functions())
    }
    fn call(&self, id: u32, args: RSlice<'_, Value>) -> AResult<Value> {
        guard("sql.functions call", || self.0.call(id, args))
    }
    fn call_in(&self, id: u32, args: RSlice<'_, Value>, time_zone: RStr<'_>) -> AResult<Value> {
        guard("sql.functions call", || self.0.call_in(id, args, time_zone))
    }
}

impl<T: TypeProvider> TypeProvider for Guarded<T> {
    fn types(&self) -> AResult<RVec<TypeDef>> {
        guard("sql.types list", || self.0.types())
    }
    fn input(&self, oid: u32, typmod: i32, text: RStr<'_>) -> AResult<Value> {
        guard("sql.types input", || self.0.input(oid, typmod, text))
    }
    fn output(&self, value: &Value) -> AResult<RString> {
        guard("sql.types output", || self.0.output(value))
    }
}

impl<T: OperatorSet> OperatorSet for Guarded<T> {
    fn operators(&self) -> AResult<RVec<OperatorDef>> {
        guard("sql.operators list", || self.0.operators())
    }
    fn call(&self, id: u32, left: &Value, right: &Value) -> AResult<Value> {
        guard("sql.operators call", || self.0.call(id, left, right))
    }
}

impl<T: Surface> Surface for Guarded<T> {
    fn start(&self, host: HostRef) -> AResult<()> {
        guard("surface start", || self.0.start(host))
    }
    fn stop(&self) -> AResult<()> {
        guard("surface stop", || self.0.stop())
    }
}

impl<T: Lifecycle> Lifecycle for Guarded<T> {
    fn start(&self, host: HostRef) -> AResult<()> {
        guard("plugin start", || self.0.start(host))
    }
    fn stop(&self) -> AResult<()> {
        guard("plugin stop", || self.0.stop())
    }
}

/// Set by [`export_plugin!`]'s register wrapper: this copy of the SDK lives in
/// a `.so` whose `log` calls must be forwarded to the host.
#[doc(hidden)]
pub static __LOADED_AS_DYLIB: AtomicBool = AtomicBool::new(false);

#[doc(hidden)]
pub fn __dylib_register(module: PluginModuleRef, host: HostRef) -> AResult<Registration> {
    guard("plugin register", || {
        if !__LOADED_AS_DYLIB.swap(true, Ordering::SeqCst) {
            crate::host::install_host_logger(&host);
        }
        (module.register())(host)
    })
}

/// Declares a plugin's root module as `pub fn plugin_module() -> PluginModuleRef`.
///
/// `register` is a `fn(HostRef) -> Result<Registration, AionError>`; it is
/// wrapped so that a panic inside it becomes an error.
///
/// ```
/// use aiondb_sdk::{declare_plugin, host::HostRef, plugin::Registration, error::DbResult};
/// fn register(_host: HostRef) -> DbResult<Registration> {
///     Ok(Registration::new())
/// }
/// declare_plugin! {
///     name: "example",
///     version: "0.1.0",
///     description: "does nothing",
///     register: register,
/// }
/// assert_eq!(plugin_module().name().as_str(), "example");
/// ```
#[macro_export]
macro_rules! declare_plugin {
    (name: $name:literal, version: $version:expr, description: $desc:expr, register: $register:path $(,)?) => {
        /// This plugin's root module, for static linking or for export from a cdylib.
        pub fn plugin_module() -> $crate::plugin::PluginModuleRef {
            extern "C" fn __aiondb_register(
                host: $crate::host::HostRef,
            ) -> $crate::error::AResult<$crate::plugin::Registration> {
                $crate::error::guard(concat!("plugin ", $name, " register"), move || {
                    $crate::abi_stable::std_types::RResult::from($register(host))
                })
            }
            static MODULE: ::std::sync::OnceLock<$crate::plugin::PluginModuleRef> =
                ::std::sync::OnceLock::new();
            *MODULE.get_or_init(|| {
                $crate::abi_stable::prefix_type::PrefixTypeTrait::leak_into_prefix(
                    $crate::plugin::PluginModule {
                        name: $crate::abi_stable::std_types::RStr::from_str($name),
                        version: $crate::abi_stable::std_types::RStr::from_str($version),
                        sdk_version: $crate::abi_stable::std_types::RStr::from_str(
                            $crate::plugin::SDK_VERSION,
                        ),
                        description: $crate::abi_stable::std_types::RStr::from_str($desc),
                        register: __aiondb_register,
                    },
                )
            })
        }
    };
}

/// Exports a root module from a cdylib so the kernel can load it from a
/// plugin directory. Use it once, in a crate of type `cdylib` that depends
/// on the plugin's implementation crate (or is the plugin):
///
/// ```ignore
/// aiondb_sdk::export_plugin!(my_plugin::plugin_module);
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($module:path) => {
        #[doc(hidden)]
        pub fn __aiondb_root_module() -> $crate::plugin::PluginModuleRef {
            extern "C" fn __aiondb_dylib_register(
                host: $crate::host::HostRef,
            ) -> $crate::error::AResult<$crate::plugin::Registration> {
                $crate::plugin::__dylib_register($module(), host)
            }
            static MODULE: ::std::sync::OnceLock<$crate::plugin::PluginModuleRef> =
                ::std::sync::OnceLock::new();
            *MODULE.get_or_init(|| {
                let inner = $module();
                $crate::abi_stable::prefix_type::PrefixTypeTrait::leak_into_prefix(
                    $crate::plugin::PluginModule {
                        name: inner.name(),
                        version: inner.version(),
                        sdk_version: inner.sdk_version(),
                        description: inner.description(),
                        register: __aiondb_dylib_register,
                    },
                )
            })
        }

        // What `#[abi_stable::export_root_module]` generates, spelled through
        // the SDK's re-export so plugin crates need no direct abi_stable
        // dependency. The symbol name is pinned by a test in the SDK.
        #[doc(hidden)]
        #[export_name = "_1as_0lib_1header_0root_bmodule_bloader"]
        pub static __AIONDB_LIB_HEADER: $crate::abi_stable::library::LibHeader = {
            extern "C" fn __aiondb_erased_root_module(
            ) -> $crate::abi_stable::library::RootModuleResult {
                $crate::abi_stable::library::__call_root_module_loader(__aiondb_root_module)
            }
            unsafe {
                $crate::abi_stable::library::LibHeader::from_constructor::<
                    $crate::plugin::PluginModuleRef,
                >(
                    __aiondb_erased_root_module,
                    $crate::abi_stable::library::CheckTypeLayout::Yes,
                )
            }
        };
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn export_symbol_name_matches_abi_stable() {
        assert_eq!(
            abi_stable::library::ROOT_MODULE_LOADER_NAME,
            "_1as_0lib_1header_0root_bmodule_bloader"
        );
    }
}
