//! Plugin loading: static and dynamic loads give the same registry, many
//! `.so` files of one root-module type load side by side, and every refusal
//! is one line naming plugin, path, expected and found.

use abi_stable::std_types::RArc;
use aiondb_integration_tests::*;
use aiondb_kernel::{Kernel, KernelError};
use aiondb_sdk::capability::{CapabilityId, Parser};
use aiondb_sdk::plugin::{
    guarded_functions, guarded_parser, Provided, ProviderObject, Registration,
};
use aiondb_sdk::prelude::*;
use aiondb_sdk::syntax::SyntaxTree;

fn refusal(result: Result<Kernel, KernelError>) -> String {
    match result {
        Ok(_) => panic!("the kernel accepted a plugin set it must refuse"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn static_and_dynamic_loading_give_the_same_registry() {
    let statics = Kernel::builder(config(&[]))
        .bundled([
            aiondb_plugin_functions_core::plugin_module(),
            aiondb_test_plugin_panicky::plugin_module(),
        ])
        .build()
        .expect("static plugins load");
    let dir = TempDir::with_plugins(
        "same-registry",
        &[dylib("aiondb_functions_core"), dylib("aiondb_test_panicky")],
    );
    let dynamic = Kernel::builder(config(&[]))
        .plugin_dir(dir.path())
        .build()
        .expect("dynamic plugins load");

    assert_eq!(statics.registry().summary(), dynamic.registry().summary());
    assert_eq!(statics.registry().summary().len(), 2);
    for p in dynamic.registry().plugins() {
        assert!(p.source.to_string().ends_with(".so"), "{}", p.source);
    }
    // And the providers behave the same through both paths.
    for kernel in [&statics, &dynamic] {
        assert_eq!(
            call_function(kernel, "upper", &[Value::text("abc")]).unwrap(),
            Value::text("ABC")
        );
        assert_eq!(
            call_function(kernel, "length", &[Value::text("héllo")]).unwrap(),
            Value::Int4(5)
        );
    }
}

#[test]
fn many_libraries_of_one_root_module_type_load_side_by_side() {
    let dir = TempDir::with_plugins(
        "many",
        &[
            dylib("aiondb_functions_core"),
            dylib("aiondb_test_panicky"),
            dylib("aiondb_hello"),
        ],
    );
    let kernel = Kernel::builder(config(&[]))
        .plugin_dir(dir.path())
        .build()
        .expect("three plugins load");
    let mut names: Vec<&str> = kernel
        .registry()
        .plugins()
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    names.sort();
    assert_eq!(names, ["functions-core", "hello", "panicky"]);
    assert_eq!(
        call_function(&kernel, "hello", &[Value::text("world")]).unwrap(),
        Value::text("hello, world")
    );
    assert_eq!(
        call_function(&kernel, "lower", &[Value::text("ABC")]).unwrap(),
        Value::text("abc")
    );
}

#[test]
fn incompatible_sdk_version_is_refused_in_one_line() {
    let lib = dylib("aiondb_test_bad_version");
    let line = refusal(Kernel::builder(config(&[])).plugin_file(&lib).build());
    assert!(!line.contains('\n'), "{line}");
    assert!(line.contains(&lib.display().to_string()), "{line}");
    assert!(line.contains("incompatible SDK"), "{line}");
    assert!(line.contains("expected aiondb-sdk 0.1.x"), "{line}");
    assert!(line.contains("found aiondb-sdk 99.0.0"), "{line}");
}

#[test]
fn layout_mismatch_is_refused_in_one_line() {
    let lib = dylib("aiondb_test_bad_abi");
    let line = refusal(Kernel::builder(config(&[])).plugin_file(&lib).build());
    assert!(!line.contains('\n'), "{line}");
    assert!(line.contains("ABI layout mismatch"), "{line}");
    assert!(line.contains("libaiondb_test_bad_abi.so"), "{line}");
    assert!(line.len() < 400, "summary should be short: {line}");
}

#[test]
fn a_library_that_is_not_a_plugin_is_refused() {
    let dir = TempDir::new("not-a-plugin");
    let bogus = dir.path().join("libbogus.so");
    std::fs::write(&bogus, b"not an ELF file").unwrap();
    let line = refusal(Kernel::builder(config(&[])).plugin_file(&bogus).build());
    assert!(
        line.contains("libbogus.so") && line.contains("cannot open library"),
        "{line}"
    );
    assert!(!line.contains('\n'), "{line}");
}

// ---- refusals found at registration, with statically linked test plugins ----

mod future_major {
    use super::*;
    struct NoFunctions;
    impl FunctionSet for NoFunctions {
        fn functions(&self) -> AResult<RVec<FunctionSignature>> {
            ROk(RVec::new())
        }
        fn call(&self, _: u32, _: RSlice<'_, Value>) -> AResult<Value> {
            ROk(Value::Null)
        }
    }
    fn register(_host: HostRef) -> DbResult<Registration> {
        Ok(Registration::new().provide_raw(Provided {
            capability: CapabilityId::new("sql.functions", 9),
            key: "future".into(),
            object: ProviderObject::Functions(RArc::new(guarded_functions(NoFunctions))),
        }))
    }
    aiondb_sdk::declare_plugin! { name: "future-major", version: "9.0.0", description: "", register: register }
}

#[test]
fn unknown_capability_major_is_refused() {
    let line = refusal(
        Kernel::builder(config(&[]))
            .bundled([future_major::plugin_module()])
            .build(),
    );
    assert_eq!(
        line,
        "plugin future-major refused (static): unknown capability major version: expected sql.functions/1, found sql.functions/9"
    );
}

mod needs_parser {
    use super::*;
    fn register(_host: HostRef) -> DbResult<Registration> {
        Ok(Registration::new().requires("sql.parser", 1))
    }
    aiondb_sdk::declare_plugin! { name: "needs-parser", version: "1.0.0", description: "", register: register }
}

#[test]
fn missing_required_capability_is_refused() {
    let line = refusal(
        Kernel::builder(config(&[]))
            .bundled([needs_parser::plugin_module()])
            .build(),
    );
    assert_eq!(
        line,
        "plugin needs-parser refused (static): missing required capability: expected a provider of sql.parser/1, found none loaded"
    );
}

struct NullParser;
impl Parser for NullParser {
    fn parse(&self, _sql: RStr<'_>) -> AResult<RVec<SyntaxTree>> {
        ROk(RVec::new())
    }
}

mod parser_a {
    use super::*;
    fn register(_host: HostRef) -> DbResult<Registration> {
        Ok(Registration::new().parser("parser-a", NullParser))
    }
    aiondb_sdk::declare_plugin! { name: "parser-a", version: "1.0.0", description: "", register: register }
}

mod parser_b {
    use super::*;
    fn register(_host: HostRef) -> DbResult<Registration> {
        Ok(Registration::new().provide_raw(Provided {
            capability: CapabilityId::new("sql.parser", 1),
            key: "parser-b".into(),
            object: ProviderObject::Parser(RArc::new(guarded_parser(NullParser))),
        }))
    }
    aiondb_sdk::declare_plugin! { name: "parser-b", version: "1.0.0", description: "", register: register }
}

#[test]
fn two_providers_of_a_single_provider_capability_are_refused() {
    let line = refusal(
        Kernel::builder(config(&[]))
            .bundled([parser_a::plugin_module(), parser_b::plugin_module()])
            .build(),
    );
    assert_eq!(
        line,
        "plugin parser-b refused (static): second provider of sql.parser/1, which allows one: expected a single provider, found also provided by plugin parser-a"
    );
}

mod also_core {
    use super::*;
    fn register(_host: HostRef) -> DbResult<Registration> {
        Ok(Registration::new().functions("core", future_major_like()))
    }
    struct F;
    impl FunctionSet for F {
        fn functions(&self) -> AResult<RVec<FunctionSignature>> {
            ROk(RVec::new())
        }
        fn call(&self, _: u32, _: RSlice<'_, Value>) -> AResult<Value> {
            ROk(Value::Null)
        }
    }
    fn future_major_like() -> F {
        F
    }
    aiondb_sdk::declare_plugin! { name: "also-core", version: "1.0.0", description: "", register: register }
}

#[test]
fn duplicate_provider_keys_are_refused() {
    let line = refusal(
        Kernel::builder(config(&[]))
            .bundled([
                aiondb_plugin_functions_core::plugin_module(),
                also_core::plugin_module(),
            ])
            .build(),
    );
    assert!(
        line.contains("duplicate provider key \"core\" for sql.functions/1"),
        "{line}"
    );
    assert!(
        line.contains("found also provided by plugin functions-core"),
        "{line}"
    );
}

#[test]
fn the_same_plugin_static_and_dynamic_is_refused() {
    let dir = TempDir::with_plugins("twice", &[dylib("aiondb_functions_core")]);
    let line = refusal(
        Kernel::builder(config(&[]))
            .bundled([aiondb_plugin_functions_core::plugin_module()])
            .plugin_dir(dir.path())
            .build(),
    );
    assert!(line.contains("plugin loaded twice"), "{line}");
}

#[test]
fn plugin_set_selection() {
    let none = Kernel::builder(config(&[("AIONDB_PLUGINS", "none")]))
        .bundled([
            aiondb_plugin_functions_core::plugin_module(),
            aiondb_test_plugin_panicky::plugin_module(),
        ])
        .build()
        .unwrap();
    assert!(none.registry().plugins().is_empty());
    let one = Kernel::builder(config(&[("AIONDB_PLUGINS", "panicky")]))
        .bundled([
            aiondb_plugin_functions_core::plugin_module(),
            aiondb_test_plugin_panicky::plugin_module(),
        ])
        .build()
        .unwrap();
    assert_eq!(one.registry().plugins().len(), 1);
    assert_eq!(one.registry().plugins()[0].name, "panicky");
    let line = refusal(
        Kernel::builder(config(&[("AIONDB_PLUGINS", "nosuch")]))
            .bundled([aiondb_plugin_functions_core::plugin_module()])
            .build(),
    );
    assert!(
        line.contains("unknown plugin \"nosuch\"") && line.contains("functions-core"),
        "{line}"
    );
}
