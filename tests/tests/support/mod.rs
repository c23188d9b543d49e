//! The `aiondb` binary on a free loopback port with a bootstrap user, and
//! the real clients that talk to it (psql, psycopg 3, pgbench). A client
//! that is missing skips its test locally and fails it under CI.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use aiondb_integration_tests::aiondb_bin;

pub const USER: &str = "admin";
pub const PASSWORD: &str = "Copy-Passw0rd!";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Whether `tool` runs; in CI a missing tool is a failure.
pub fn have(tool: &str, probe: &[&str]) -> bool {
    let ok = Command::new(tool)
        .args(probe)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is required in CI (.ci/run installs it)"
        );
        eprintln!("skipping: {tool} is not installed");
    }
    ok
}

pub struct Server {
    child: Child,
    pub port: u16,
    _lines: Receiver<String>,
}

impl Server {
    pub fn start() -> Server {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut child = Command::new(aiondb_bin())
            .args([
                "--ephemeral",
                "--bootstrap-user",
                USER,
                "--bootstrap-password",
                PASSWORD,
                "--no-observability",
                "--listen-addr",
                &listen,
            ])
            .env("RUST_LOG", "info")
            .envs(
                std::env::vars()
                    .filter(|(k, _)| k.starts_with("AIONDB_"))
                    .map(|(k, _)| (k, String::new())),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start aiondb");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match lines.recv_timeout(Duration::from_millis(100)) {
                Ok(l) if l.contains("aiondb kernel ready") => break,
                Ok(_) => {}
                Err(_) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        panic!("aiondb exited during start: {status}");
                    }
                }
            }
            assert!(Instant::now() < deadline, "aiondb did not become ready");
        }
        Server {
            child,
            port,
            _lines: lines,
        }
    }

    pub fn conninfo(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user={USER} password={PASSWORD} dbname=aiondb",
            self.port
        )
    }

    /// Runs a psql script (`-X -q -A -t`, errors do not stop it).
    pub fn psql(&self, script: &str) -> Output {
        let mut child = Command::new("psql")
            .args([
                &self.conninfo(),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=0",
            ])
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run psql");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(script.as_bytes())
            .expect("write script");
        child.wait_with_output().expect("psql output")
    }

    /// Runs a Python script with the conninfo as `sys.argv[1]`.
    pub fn python(&self, script: &str) -> Output {
        Command::new("python3")
            .args(["-c", script, &self.conninfo()])
            .output()
            .expect("run python3")
    }

    /// Runs pgbench with `args` against this server.
    pub fn pgbench(&self, args: &[&str]) -> Output {
        Command::new("pgbench")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER])
            .args(args)
            .arg("aiondb")
            .env("PGPASSWORD", PASSWORD)
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .expect("run pgbench")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
