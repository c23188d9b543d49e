//! Panic containment: a panic inside any plugin call becomes an XX000
//! error and the process keeps running.

use std::sync::Mutex;

use aiondb_integration_tests::*;
use aiondb_kernel::{Kernel, KernelError};
use aiondb_sdk::host::Readiness;
use aiondb_sdk::prelude::*;

fn assert_contained(e: &AionError) {
    assert_eq!(e.sqlstate, SqlState::INTERNAL_ERROR, "{e}");
    assert!(e.message.contains("panicked"), "{e}");
}

#[test]
fn panic_in_a_statically_linked_function_is_an_error() {
    let kernel = Kernel::builder(config(&[]))
        .bundled([
            aiondb_test_plugin_panicky::plugin_module(),
            aiondb_plugin_functions_core::plugin_module(),
        ])
        .build()
        .unwrap();
    let e = call_function(&kernel, "boom", &[]).unwrap_err();
    assert_contained(&e);
    assert!(e.message.contains("boom() was called"), "{e}");
    // Still alive and serving.
    assert_eq!(
        call_function(&kernel, "upper", &[Value::text("ok")]).unwrap(),
        Value::text("OK")
    );
    assert_contained(&call_function(&kernel, "boom", &[]).unwrap_err());
}

#[test]
fn panic_in_a_dynamically_loaded_function_is_an_error() {
    let dir = TempDir::with_plugins(
        "panic-dylib",
        &[dylib("aiondb_test_panicky"), dylib("aiondb_functions_core")],
    );
    let kernel = Kernel::builder(config(&[]))
        .plugin_dir(dir.path())
        .build()
        .unwrap();
    for _ in 0..3 {
        assert_contained(&call_function(&kernel, "boom", &[]).unwrap_err());
    }
    assert_eq!(
        call_function(&kernel, "abs", &[Value::Int8(-4)]).unwrap(),
        Value::Int8(4)
    );
}

mod register_panics {
    use super::*;
    fn register(_host: HostRef) -> DbResult<Registration> {
        panic!("cannot register today")
    }
    aiondb_sdk::declare_plugin! { name: "register-panics", version: "1.0.0", description: "", register: register }
}

#[test]
fn panic_in_register_refuses_the_plugin() {
    let result = Kernel::builder(config(&[]))
        .bundled([register_panics::plugin_module()])
        .build();
    let Err(KernelError::Plugins(e)) = result else {
        panic!("a plugin whose register panics must be refused");
    };
    let line = e.to_string();
    assert!(
        line.starts_with("plugin register-panics refused (static): registration failed"),
        "{line}"
    );
    assert!(
        line.contains("panicked: cannot register today") && line.contains("XX000"),
        "{line}"
    );
}

#[test]
fn panic_in_a_start_hook_fails_start_cleanly() {
    let kernel = Kernel::builder(config(&[("AIONDB_BENCH_MODE", "true")]))
        .bundled([aiondb_test_plugin_panicky::plugin_module()])
        .build()
        .unwrap();
    match kernel.start() {
        Err(KernelError::Start { plugin, message }) => {
            assert_eq!(plugin, "panicky");
            assert!(
                message.contains("XX000") && message.contains("panicked"),
                "{message}"
            );
        }
        other => panic!("start must fail, got {other:?}"),
    }
    assert_ne!(kernel.readiness(), Readiness::Ready);
    kernel.shutdown();
    assert_eq!(kernel.readiness(), Readiness::Stopped);
}

// ---- lifecycle order ----

static EVENTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn event(e: String) {
    EVENTS.lock().unwrap_or_else(|p| p.into_inner()).push(e);
}

struct Recorder(&'static str);
impl Lifecycle for Recorder {
    fn start(&self, _host: HostRef) -> AResult<()> {
        event(format!("start {}", self.0));
        ROk(())
    }
    fn stop(&self) -> AResult<()> {
        event(format!("stop {}", self.0));
        ROk(())
    }
}

struct Nothing;
impl FunctionSet for Nothing {
    fn functions(&self) -> AResult<RVec<FunctionSignature>> {
        ROk(RVec::new())
    }
    fn call(&self, _: u32, _: RSlice<'_, Value>) -> AResult<Value> {
        ROk(Value::Null)
    }
}

mod top {
    use super::*;
    fn register(_host: HostRef) -> DbResult<Registration> {
        Ok(Registration::new()
            .requires_key("sql.functions", 1, "middle")
            .lifecycle(Recorder("top")))
    }
    aiondb_sdk::declare_plugin! { name: "top", version: "1.0.0", description: "", register: register }
}

mod middle {
    use super::*;
    fn register(_host: HostRef) -> DbResult<Registration> {
        Ok(Registration::new()
            .functions("middle", Nothing)
            .requires_key("sql.functions", 1, "core")
            .lifecycle(Recorder("middle")))
    }
    aiondb_sdk::declare_plugin! { name: "middle", version: "1.0.0", description: "", register: register }
}

#[test]
fn plugins_start_in_dependency_order_and_stop_in_reverse() {
    // Listed in the worst order on purpose.
    let kernel = Kernel::builder(config(&[]))
        .bundled([
            top::plugin_module(),
            middle::plugin_module(),
            aiondb_plugin_functions_core::plugin_module(),
        ])
        .build()
        .unwrap();
    let order: Vec<&str> = kernel
        .registry()
        .plugins()
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(order, ["functions-core", "middle", "top"]);
    assert_eq!(kernel.readiness(), Readiness::Starting);
    kernel.start().unwrap();
    assert_eq!(kernel.readiness(), Readiness::Ready);
    assert!(kernel.status().plugins.iter().all(|p| p.started));
    kernel.shutdown();
    assert_eq!(kernel.readiness(), Readiness::Stopped);
    let events = EVENTS.lock().unwrap().clone();
    assert_eq!(
        events,
        ["start middle", "start top", "stop top", "stop middle"]
    );
}
