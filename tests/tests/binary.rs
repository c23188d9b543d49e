//! The stock `aiondb` binary: CLI errors, the plugin listing (including an
//! extension loaded from --plugin-dir), config precedence, and graceful
//! shutdown on SIGTERM and SIGINT.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aiondb_integration_tests::*;

const PASSWORD: &str = "Corr3ct-Horse!";

fn aiondb(args: &[&str]) -> std::process::Output {
    Command::new(aiondb_bin())
        .args(args)
        .env_remove("RUST_LOG")
        .envs(
            std::env::vars()
                .filter(|(k, _)| k.starts_with("AIONDB_"))
                .map(|(k, _)| (k, String::new())),
        )
        .output()
        .expect("run aiondb")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn example_plugin_loads_into_the_stock_binary() {
    let dir = TempDir::with_plugins("bin-hello", &[dylib("aiondb_hello")]);
    let out = aiondb(&["plugins", "--plugin-dir", dir.path().to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("hello 1.0.0 ("), "{stdout}");
    assert!(stdout.contains("libaiondb_hello.so"), "{stdout}");
    assert!(
        stdout.contains("provides sql.functions/1:hello [hello(text) -> text]"),
        "{stdout}"
    );
    // The bundled plugin is there too, statically linked.
    assert!(stdout.contains("functions-core 0.1.0 (static)"), "{stdout}");
}

#[test]
fn plugin_log_lines_reach_the_kernel_logger() {
    let dir = TempDir::with_plugins("bin-log", &[dylib("aiondb_hello")]);
    let out = Command::new(aiondb_bin())
        .args(["plugins", "--plugin-dir", dir.path().to_str().unwrap()])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("plugin::hello::aiondb_hello")
            && stderr.contains("hello plugin registered"),
        "{stderr}"
    );
}

#[test]
fn cli_errors_exit_2_with_a_clear_message() {
    let out = aiondb(&["--frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown option '--frobnicate'"),
        "{}",
        text(&out.stderr)
    );

    let out = aiondb(&["--bootstrap-user", "admin", "--bootstrap-password", "short"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("12 characters"), "{err}");
    assert!(
        !err.contains("short"),
        "the password must never be echoed: {err}"
    );

    let out = aiondb(&["--bootstrap-user", "admin"]);
    assert_eq!(out.status.code(), Some(2));

    let out = aiondb(&["dump", "--data-dir", "/tmp/x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--output"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn version_and_help() {
    let out = aiondb(&["--version"]);
    assert!(out.status.success());
    assert!(
        text(&out.stdout).starts_with("aiondb 0.1.0"),
        "{}",
        text(&out.stdout)
    );
    let out = aiondb(&["-h"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for flag in [
        "--ephemeral",
        "--storage-backend",
        "--plugin-dir",
        "--no-observability",
        "doctor",
        "restore",
    ] {
        assert!(help.contains(flag), "help lacks {flag}");
    }
}

#[test]
fn cli_beats_environment_and_strict_mode_rejects_unknown_keys() {
    // Environment says no plugins, CLI says all: CLI wins.
    let out = Command::new(aiondb_bin())
        .args(["plugins", "--plugins", "all"])
        .env("AIONDB_PLUGINS", "none")
        .output()
        .unwrap();
    assert!(
        text(&out.stdout).contains("functions-core"),
        "{}",
        text(&out.stdout)
    );
    let out = Command::new(aiondb_bin())
        .arg("plugins")
        .env("AIONDB_PLUGINS", "none")
        .output()
        .unwrap();
    assert!(
        text(&out.stdout).contains("no plugins selected"),
        "{}",
        text(&out.stdout)
    );

    let out = Command::new(aiondb_bin())
        .arg("plugins")
        .env("AIONDB_NOT_A_KEY", "1")
        .env("AIONDB_CONFIG_STRICT", "true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("AIONDB_NOT_A_KEY"),
        "{}",
        text(&out.stderr)
    );

    let out = Command::new(aiondb_bin())
        .arg("plugins")
        .env("AIONDB_NOT_A_KEY", "1")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        text(&out.stderr).contains("unknown configuration key AIONDB_NOT_A_KEY"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn doctor_reads_an_empty_directory_without_writing() {
    let dir = TempDir::new("doctor");
    let out = aiondb(&["doctor", "--data-dir", dir.path().to_str().unwrap()]);
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{report}{}", text(&out.stderr));
    assert!(report.contains("storage manifest: missing"), "{report}");
    assert!(report.contains("findings: none"), "{report}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "doctor wrote files"
    );
}

/// Starts the server, waits until it logs that it is ready, sends `signal`
/// and checks it drains and exits 0.
fn graceful_shutdown_on(signal: &str) {
    let mut child = Command::new(aiondb_bin())
        .args([
            "--ephemeral",
            "--bootstrap-user",
            "admin",
            "--bootstrap-password",
            PASSWORD,
            "--no-observability",
            // Any free port: PostgreSQL may hold 5432 on the same machine.
            "--listen-addr",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start aiondb");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("kernel ready")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("server never became ready: {seen:?}");
            }
        }
    }
    assert!(
        !seen.iter().any(|l| l.contains(PASSWORD)),
        "the password was logged: {seen:?}"
    );
    let status = Command::new("kill")
        .args(["-s", signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    seen.extend(rx.try_iter());
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
        seen.push(line);
    }
    assert!(exit.success(), "exit {exit:?}: {seen:?}");
    let joined = seen.join("\n");
    assert!(
        joined.contains("draining") && joined.contains("kernel stopped"),
        "{joined}"
    );
}

#[test]
fn sigterm_drains_and_exits_cleanly() {
    graceful_shutdown_on("TERM");
}

#[test]
fn sigint_drains_and_exits_cleanly() {
    graceful_shutdown_on("INT");
}
