//! The `aiondb` binary: parses the command line, loads configuration, links
//! the bundled plugin set, loads `.so` plugins from the plugin directory, and
//! runs the server or a maintenance subcommand.

mod cli;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use aiondb_embedded::{dump as logical, AionError, Database};
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
        Command::Dump {
            data_dir,
            output,
            overrides,
        } => dump(&data_dir, &output, &overrides),
        Command::Restore {
            data_dir,
            input,
            overrides,
        } => restore(&data_dir, &input, &overrides),
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

/// One line on stderr for a failed maintenance command: the message, the
/// SQLSTATE and the hint (the statement text of a failed restore, in the
/// error's detail, is left out).
fn fail(name: &str, e: &AionError) -> ExitCode {
    let code = format!("({})", e.sqlstate);
    let mut line = format!("aiondb {name}: {}", e.message);
    if !line.ends_with(&code) {
        line.push_str(&format!(" {code}"));
    }
    if let Some(h) = e.hint() {
        line.push_str(&format!("; hint: {h}"));
    }
    eprintln!("{}", line.replace('\n', " "));
    ExitCode::from(1)
}

/// The user's dump file path, resolved inside the data directory.
fn dump_path(name: &str, data_dir: &Path, file: &Path, output: bool) -> Result<PathBuf, ExitCode> {
    let Some(relative) = file.to_str() else {
        eprintln!("aiondb {name}: the file name is not valid UTF-8");
        return Err(ExitCode::from(1));
    };
    logical::resolve_in_data_dir(data_dir, relative, output).map_err(|e| fail(name, &e))
}

/// The data directory opened as a database with the configured backend
/// (flags over environment), without network surfaces.
fn open_data_dir(name: &str, o: &Overrides) -> Result<Database, ExitCode> {
    let config = load_config(o)?;
    let backend = config
        .text(keys::STORAGE_BACKEND)
        .unwrap_or("durable")
        .to_string();
    let db = Database::from_config(config).map_err(|e| fail(name, &e))?;
    if db
        .kernel()
        .registry()
        .provider(aiondb_sdk::capability::STORAGE_BACKEND, 1, &backend)
        .is_none()
    {
        eprintln!(
            "aiondb {name}: storage backend \"{backend}\" is not loaded: no plugin provides storage.backend/1:{backend}"
        );
        return Err(ExitCode::from(1));
    }
    Ok(db)
}

/// `aiondb dump`: the database in the data directory as a logical dump in
/// a new file inside it.
fn dump(data_dir: &Path, output: &Path, o: &Overrides) -> ExitCode {
    let path = match dump_path("dump", data_dir, output, true) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let db = match open_data_dir("dump", o) {
        Ok(db) => db,
        Err(code) => return code,
    };
    match logical::dump_to_file(&db, &path) {
        Ok(s) => {
            for w in &s.warnings {
                eprintln!("aiondb dump: warning: {w}");
            }
            println!(
                "aiondb dump: wrote {}: {} tables, {} views, {} sequences, {} indexes, {} roles, {} rows (body-sha256 {})",
                path.display(),
                s.tables,
                s.views,
                s.sequences,
                s.indexes,
                s.roles,
                s.rows,
                s.body_sha256
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail("dump", &e),
    }
}

/// `aiondb restore`: a logical dump from a file inside the data directory
/// into the (empty) database there. The document is checked before the
/// database is opened.
fn restore(data_dir: &Path, input: &Path, o: &Overrides) -> ExitCode {
    let path = match dump_path("restore", data_dir, input, false) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let doc = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("aiondb restore: reading {}: {e}", path.display());
            return ExitCode::from(1);
        }
    };
    if let Err(e) = logical::check_document(&doc) {
        return fail("restore", &e);
    }
    let db = match open_data_dir("restore", o) {
        Ok(db) => db,
        Err(code) => return code,
    };
    match logical::restore(&db, &doc) {
        Ok(s) => {
            println!(
                "aiondb restore: restored {}: {} statements, {} rows (written by {})",
                path.display(),
                s.statements,
                s.rows,
                s.engine_version
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail("restore", &e),
    }
}
