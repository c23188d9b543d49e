//! Imitates a plugin built against a future major version of the SDK: the
//! kernel must refuse it by version, naming both versions, before looking at
//! the layout.
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
    const VERSION_STRINGS: VersionStrings = VersionStrings::new("99.0.0");
}

extern "C" fn register(s: RStr<'static>) -> RString {
    s.into()
}

#[export_root_module]
pub fn root() -> OtherModuleRef {
    OtherModule { name: 7, register }.leak_into_prefix()
}
