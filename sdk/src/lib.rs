//! # aiondb-sdk: the stable ABI of AionDB plugins
//!
//! The only crate a plugin depends on. Everything here is `#[repr(C)]` and
//! [`abi_stable::StableAbi`], used natively on both sides of the boundary:
//! values, rows and plans are never serialised between plugins.
//!
//! ## Map of capabilities
//!
//! | capability | interface | provided by | used by |
//! |---|---|---|---|
//! | `sql.parser/1` | [`capability::Parser`] | parser plugin | kernel session |
//! | `sql.planner/1` | [`capability::Planner`] | planner plugin | kernel session |
//! | `sql.executor/1` | [`capability::Executor`] | executor plugin | kernel session |
//! | `storage.backend/1` | [`capability::StorageBackend`] | storage plugins (`in_memory`, `durable`, `disk`, `page_engine`, `lsm`) | executor, kernel |
//! | `index.method/1` | [`capability::IndexMethod`] | storage (btree), vector (hnsw), graph (adjacency) | planner, executor |
//! | `sql.functions/1` | [`capability::FunctionSet`] | any plugin | planner, executor |
//! | `sql.types/1` | [`capability::TypeProvider`] | any plugin (vector adds `vector`) | planner, executor, surfaces |
//! | `sql.operators/1` | [`capability::OperatorSet`] | any plugin (vector adds `<->`) | planner, executor |
//! | `surface/1` | [`capability::Surface`] | pgwire, http | kernel lifecycle |
//!
//! The kernel hands every plugin a [`host::HostRef`]: logging, settings, the
//! one [`catalog::Catalog`], metrics and kernel status. The metric families
//! every deployment exposes are named in [`metrics`].
//!
//! ## Writing a plugin
//!
//! Implement the capability traits, return them from a `register` function
//! through [`plugin::Registration`], and declare the root module with
//! [`declare_plugin!`]. To ship it as a `.so`, add a thin cdylib crate that
//! calls [`export_plugin!`]. Every provider handed to `Registration` is
//! wrapped in [`plugin::Guarded`], so a panic inside it becomes an XX000
//! error rather than aborting the server.
//!
//! ```
//! use aiondb_sdk::prelude::*;
//!
//! struct Greeter;
//! impl FunctionSet for Greeter {
//!     fn functions(&self) -> AResult<RVec<FunctionSignature>> {
//!         ROk(RVec::from(vec![FunctionSignature {
//!             id: 0,
//!             name: "greet".into(),
//!             args: RVec::from(vec![DataType::TEXT]),
//!             variadic: false,
//!             returns: DataType::TEXT,
//!             volatility: Volatility::Immutable,
//!             strict: true,
//!         }]))
//!     }
//!     fn call(&self, _id: u32, args: RSlice<'_, Value>) -> AResult<Value> {
//!         let who = args.first().and_then(Value::as_str).unwrap_or("world");
//!         ROk(Value::text(format!("hello, {who}")))
//!     }
//! }
//!
//! fn register(_host: HostRef) -> DbResult<Registration> {
//!     Ok(Registration::new().functions("greeter", Greeter))
//! }
//!
//! aiondb_sdk::declare_plugin! {
//!     name: "greeter",
//!     version: "1.0.0",
//!     description: "says hello",
//!     register: register,
//! }
//! assert_eq!(plugin_module().name().as_str(), "greeter");
//! ```

// abi_stable 0.11's `#[sabi_trait]` expands to impls inside a const block, which
// newer compilers flag; the code is generated, not ours to move.
#![allow(non_local_definitions)]

pub mod capability;
pub mod catalog;
pub mod copy;
pub mod error;
pub mod hash;
pub mod host;
pub mod ident;
pub mod metrics;
pub mod persist;
pub mod plan;
pub mod plugin;
pub mod row;
pub mod surface;
pub mod syntax;
pub mod syscat;
pub mod types;
pub mod value;

/// Re-exported so plugins and the export macros need no direct dependency.
pub use abi_stable;
/// Plugins log through this `log`; in a `.so` its records are forwarded to
/// the kernel's logger by the host API.
pub use log;

/// The names most plugins need.
pub mod prelude {
    pub use crate::capability::*;
    pub use crate::catalog::*;
    pub use crate::error::{AResult, AionError, DbResult, SqlState};
    pub use crate::host::{HostRef, LogLevel, MetricDesc, MetricKind, MetricOp, SettingValue};
    pub use crate::plan::Plan;
    pub use crate::plugin::{PluginModuleRef, Registration};
    pub use crate::row::{Field, RowBatch, Schema};
    pub use crate::syntax::SyntaxTree;
    pub use crate::types::{DataType, TypeId};
    pub use crate::value::Value;
    pub use abi_stable::std_types::{RErr, ROk, ROption, RResult, RSlice, RStr, RString, RVec};
}
