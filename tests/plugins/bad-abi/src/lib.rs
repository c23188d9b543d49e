//! Imitates a plugin built against an SDK whose root module has a different
//! layout but the same version number: the kernel must refuse it with a
//! one-line layout error.
#![allow(non_local_definitions)]

use abi_stable::{
    declare_root_module_statics, export_root_module,
    library::RootModule,
    prefix_type::PrefixTypeTrait,
    sabi_types::VersionStrings,
    std_types::{RStr, RString},
    StableAbi,
};

#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = OtherModuleRef)))]
#[sabi(missing_field(panic))]
pub struct OtherModule {
    pub name: u64,
    #[sabi(last_prefix_field)]
    pub register: extern "C" fn(RStr<'static>) -> RString,
}

impl RootModule for OtherModuleRef {
    declare_root_module_statics! {OtherModuleRef}
    const BASE_NAME: &'static str = "aiondb_plugin";
    const NAME: &'static str = "aiondb_plugin";
    // Same version as the workspace SDK, so only the layout check fails.
    const VERSION_STRINGS: VersionStrings = VersionStrings::new(env!("CARGO_PKG_VERSION"));
}

extern "C" fn register(s: RStr<'static>) -> RString {
    s.into()
}

#[export_root_module]
pub fn root() -> OtherModuleRef {
    OtherModule { name: 7, register }.leak_into_prefix()
}
