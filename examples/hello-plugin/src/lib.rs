//! An AionDB extension in one file: a `sql.functions/1` provider with
//! `hello(text) -> text`, exported from a cdylib.
//!
//! Build it and load it into the stock server:
//!
//! ```text
//! cargo build -p aiondb-example-hello-plugin
//! mkdir -p plugins.d && cp target/debug/libaiondb_hello.so plugins.d/
//! aiondb plugins --plugin-dir plugins.d
//! ```

use aiondb_sdk::prelude::*;

struct Hello;

impl FunctionSet for Hello {
    fn functions(&self) -> AResult<RVec<FunctionSignature>> {
        ROk(RVec::from(vec![FunctionSignature {
            id: 0,
            name: "hello".into(),
            args: RVec::from(vec![DataType::TEXT]),
            variadic: false,
            returns: DataType::TEXT,
            volatility: Volatility::Immutable,
            strict: true,
        }]))
    }

    fn call(&self, id: u32, args: RSlice<'_, Value>) -> AResult<Value> {
        match (id, args.as_slice()) {
            (0, [Value::Null]) => ROk(Value::Null),
            (0, [Value::Text(name)]) => ROk(Value::text(format!("hello, {name}"))),
            _ => RErr(AionError::new(
                SqlState::UNDEFINED_FUNCTION,
                "hello(text) takes one text argument",
            )),
        }
    }
}

fn register(_host: HostRef) -> DbResult<Registration> {
    // Goes to the server's log through the host API.
    aiondb_sdk::log::info!("hello plugin registered");
    Ok(Registration::new().functions("hello", Hello))
}

aiondb_sdk::declare_plugin! {
    name: "hello",
    version: env!("CARGO_PKG_VERSION"),
    description: "example extension: hello(text)",
    register: register,
}

aiondb_sdk::export_plugin!(plugin_module);
