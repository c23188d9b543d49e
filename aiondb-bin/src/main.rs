//! The `aiondb` binary: parses the command line, loads configuration, links
//! the bundled plugin set, loads `.so` plugins from the plugin directory, and
//! runs the server or a maintenance subcommand.

mod cli;

use std::process::ExitCode;

use aiondb_kernel::config::{keys, Config};
use aiondb_kernel::{Kernel, KernelError};
use aiondb_sdk::plugin::{PluginModuleRef, ProviderObject};
use aiondb_sdk::prelude::RResult;

use crate::cli::{Command, Overrides};

/// The plugins linked into this binary: the embedded library's engine set
/// plus the network surfaces, which only a server runs.
fn bundled_plugins() -> Vec<PluginModuleRef> {
    let mut plugins = aiondb_embedded::bundled_plugins();
    plugins.push(aiondb_plugin_http::plugin_module());
    plugins.push(aiondb_plugin_pgwire::plugin_module());
    plugins
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match cli::parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("aiondb: {e}\nTry 'aiondb --help' for more information.");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Help => {
            println!("{}", cli::usage());
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!(
                "aiondb {} (aiondb-sdk {})",
                env!("CARGO_PKG_VERSION"),
                aiondb_sdk::plugin::SDK_VERSION
            );
            ExitCode::SUCCESS
        }
        Command::Serve(o) => serve(&o),
        Command::Plugins(o) => list_plugins(&o),
        Command::Doctor { data_dir, .. } => doctor(&data_dir),
        Command::Upgrade { data_dir, .. } => upgrade(&data_dir),
        Command::Dump { overrides, .. } => maintenance("dump", &overrides),
        Command::Restore { overrides, .. } => maintenance("restore", &overrides),
    }
}

/// CLI layer over the environment over defaults.
fn load_config(o: &Overrides) -> Result<Config, ExitCode> {
    let cli: Vec<(&str, String)> = o.0.iter().map(|(k, v)| (*k, v.clone())).collect();
    match Config::load(&cli, std::env::vars()) {
        Ok((config, warnings)) => {
            for w in warnings {
                log::warn!("{w}");
            }
            Ok(config)
        }
        Err(e) => {
            eprintln!("aiondb: {e}");
            Err(ExitCode::from(2))
        }
    }
}

fn build_kernel(config: Config) -> Result<Kernel, ExitCode> {
    Kernel::builder(config)
        .bundled(bundled_plugins())
        .build()
        .map_err(|e| {
            report(&e);
            ExitCode::from(1)
        })
}

/// Configuration, then the kernel built from it, with errors reported.
fn load_kernel(o: &Overrides) -> Result<Kernel, ExitCode> {
    build_kernel(load_config(o)?)
}

fn report(e: &KernelError) {
    // One line per refusal, straight to stderr: these end the process, and
    // must be seen even with RUST_LOG=off.
    for line in e.to_string().lines() {
        eprintln!("aiondb: {line}");
    }
}

fn serve(o: &Overrides) -> ExitCode {
    let config = match load_config(o) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let backend = config
        .text(keys::STORAGE_BACKEND)
        .unwrap_or("durable")
        .to_string();
    if config.bool(keys::EPHEMERAL) {
        log::info!("ephemeral mode: nothing is written to disk");
    }
    if let Some(user) = config.text(keys::BOOTSTRAP_USER) {
        log::info!("bootstrap user \"{user}\" configured");
    }
    if config.bool(keys::BENCH_MODE) {
        log::warn!("BENCH MODE: authorization is allow-all; never use this in production");
    }
    let kernel = match build_kernel(config) {
        Ok(k) => k,
        Err(code) => return code,
    };
    if kernel
        .registry()
        .provider(aiondb_sdk::capability::STORAGE_BACKEND, 1, &backend)
        .is_none()
    {
        log::warn!(
            "no loaded plugin provides storage.backend/1:{backend}; SQL is unavailable until one is loaded"
        );
    }
    match kernel.run_until_signal() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e);
            kernel.shutdown();
            ExitCode::from(1)
        }
    }
}

fn list_plugins(o: &Overrides) -> ExitCode {
    let kernel = match load_kernel(o) {
        Ok(k) => k,
        Err(code) => return code,
    };
    let registry = kernel.registry();
    if registry.plugins().is_empty() {
        println!("no plugins selected");
    }
    for (index, plugin) in registry.plugins().iter().enumerate() {
        println!("{} {} ({})", plugin.name, plugin.version, plugin.source);
        if !plugin.description.is_empty() {
            println!("  {}", plugin.description);
        }
        println!("  sdk: {}", plugin.sdk_version);
        for (cap, key) in &plugin.provides {
            let mut line = format!("  provides {cap}:{key}");
            if let Some(p) = registry
                .provider(&cap.name, cap.major, key)
                .filter(|p| p.plugin == index)
            {
                if let ProviderObject::Functions(f) = p.object() {
                    if let RResult::ROk(list) = f.functions() {
                        let sigs: Vec<String> = list
                            .iter()
                            .map(|s| {
                                let args: Vec<String> =
                                    s.args.iter().map(|a| a.to_string()).collect();
                                format!("{}({}) -> {}", s.name, args.join(", "), s.returns)
                            })
                            .collect();
                        // A long list says how many; `--verbose` style detail
                        // belongs in pg_proc once pgwire serves it.
                        if sigs.len() <= 8 {
                            line.push_str(&format!(" [{}]", sigs.join("; ")));
                        } else {
                            line.push_str(&format!(" [{} functions]", sigs.len()));
                        }
                    }
                }
            }
            println!("{line}");
        }
        for need in &plugin.requires {
            println!("  requires {need}");
        }
    }
    ExitCode::SUCCESS
}

/// `aiondb doctor`: read-only; exit 1 when the directory is corrupt or
/// would be refused at start.
fn doctor(dir: &std::path::Path) -> ExitCode {
    match aiondb_storage_durable::doctor::inspect(dir) {
        Ok(report) => {
            print!("{}", report.render());
            if report.corrupt() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("aiondb doctor: cannot inspect {}: {e}", dir.display());
            ExitCode::from(1)
        }
    }
}

/// `aiondb upgrade`: idempotent; backs the directory up before writing.
fn upgrade(dir: &std::path::Path) -> ExitCode {
    match aiondb_storage_durable::doctor::upgrade(dir) {
        Ok(done) => {
            println!("aiondb upgrade: {done}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("aiondb upgrade: {e}");
            ExitCode::from(1)
        }
    }
}

/// doctor, upgrade, dump and restore work on a persistent backend's data
/// directory; they run only when a plugin provides that backend.
fn maintenance(name: &str, o: &Overrides) -> ExitCode {
    let config = match load_config(o) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let backend = config
        .text(keys::STORAGE_BACKEND)
        .unwrap_or("durable")
        .to_string();
    let kernel = match build_kernel(config) {
        Ok(k) => k,
        Err(code) => return code,
    };
    if kernel
        .registry()
        .provider(aiondb_sdk::capability::STORAGE_BACKEND, 1, &backend)
        .is_none()
    {
        eprintln!(
            "aiondb {name}: storage backend \"{backend}\" is not available: no loaded plugin provides storage.backend/1:{backend}"
        );
        return ExitCode::from(1);
    }
    eprintln!("aiondb {name}: the {backend} backend does not support {name}");
    ExitCode::from(1)
}
