//! A plugin that panics on purpose: its function `boom()` panics when
//! called, and its lifecycle `start` panics when `AIONDB_BENCH_MODE` is set
//! (a recognised key the tests can flip). The kernel must turn both into
//! XX000 errors and keep running.

use aiondb_sdk::prelude::*;

struct Panicky;

impl FunctionSet for Panicky {
    fn functions(&self) -> AResult<RVec<FunctionSignature>> {
        ROk(RVec::from(vec![FunctionSignature {
            id: 0,
            name: "boom".into(),
            args: RVec::new(),
            variadic: false,
            returns: DataType::INT4,
            volatility: Volatility::Volatile,
            strict: false,
        }]))
    }

    fn call(&self, _id: u32, _args: RSlice<'_, Value>) -> AResult<Value> {
        panic!("boom() was called");
    }
}

struct PanicOnStart {
    host: HostRef,
}

impl Lifecycle for PanicOnStart {
    fn start(&self, _host: HostRef) -> AResult<()> {
        if let ROption::RSome(SettingValue::Bool(true)) =
            self.host.setting("AIONDB_BENCH_MODE".into())
        {
            panic!("start hook panicked on purpose");
        }
        aiondb_sdk::log::info!("panicky plugin started");
        ROk(())
    }

    fn stop(&self) -> AResult<()> {
        ROk(())
    }
}

fn register(host: HostRef) -> DbResult<Registration> {
    Ok(Registration::new()
        .functions("panicky", Panicky)
        .lifecycle(PanicOnStart { host }))
}

aiondb_sdk::declare_plugin! {
    name: "panicky",
    version: "0.0.1",
    description: "panics on purpose (test plugin)",
    register: register,
}
