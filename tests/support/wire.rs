//! Running the `aiondb` binary for wire-protocol tests, and reaching the
//! reference PostgreSQL 15 those tests compare against.
//!
//! The clients (psql, pgbench, psycopg) and the reference server come with
//! Debian's PostgreSQL, which `.ci/run` installs and starts before the
//! tests. Without them a local run skips the test with a message; under CI
//! (`CI` set) it fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use crate::aiondb_bin;

/// The bootstrap user of servers started by [`Server::start`].
pub const USER: &str = "admin";
pub const PASSWORD: &str = "Wire-Passw0rd!";

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

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The `aiondb --ephemeral` command line with the bootstrap user,
/// listening on `port`, with the environment's `AIONDB_*` keys cleared.
pub fn command(extra: &[&str], port: u16) -> Command {
    command_as(USER, PASSWORD, extra, port)
}

/// [`command`] with another bootstrap user.
pub fn command_as(user: &str, password: &str, extra: &[&str], port: u16) -> Command {
    let mut cmd = base_command(user, password, extra, port);
    cmd.arg("--ephemeral");
    cmd
}

/// `aiondb` on the durable backend in `dir` (unencrypted storage allowed:
/// test machines have no dm-crypt), with the bootstrap user.
pub fn durable_command(dir: &std::path::Path, extra: &[&str], port: u16) -> Command {
    let mut cmd = base_command(USER, PASSWORD, extra, port);
    cmd.args([
        "--storage-backend",
        "durable",
        "--allow-unencrypted-storage",
        "--data-dir",
    ])
    .arg(dir);
    cmd
}

fn base_command(user: &str, password: &str, extra: &[&str], port: u16) -> Command {
    let listen = format!("127.0.0.1:{port}");
    let mut cmd = Command::new(aiondb_bin());
    cmd.args([
        "--bootstrap-user",
        user,
        "--bootstrap-password",
        password,
        "--listen-addr",
        &listen,
    ])
    .args(extra)
    .env("RUST_LOG", "info")
    .envs(
        std::env::vars()
            .filter(|(k, _)| k.starts_with("AIONDB_"))
            .map(|(k, _)| (k, String::new())),
    );
    cmd
}

/// An `aiondb --ephemeral` server on a free loopback port, killed on drop.
pub struct Server {
    child: Child,
    pub port: u16,
    /// The HTTP observability port, when started with it.
    pub metrics_port: Option<u16>,
    /// The bootstrap user and password.
    pub user: String,
    pub password: String,
    _lines: Receiver<String>,
}

impl Server {
    pub fn start(env: &[(&str, &str)]) -> Server {
        Server::start_with(env, false)
    }

    pub fn start_with(env: &[(&str, &str)], observability: bool) -> Server {
        Server::launch(USER, PASSWORD, env, observability)
    }

    /// A server whose bootstrap user is `user` (psql's `\\d` output names
    /// owners: comparing with PostgreSQL wants the same name).
    pub fn start_as(user: &str, password: &str, env: &[(&str, &str)]) -> Server {
        Server::launch(user, password, env, false)
    }

    fn launch(user: &str, password: &str, env: &[(&str, &str)], observability: bool) -> Server {
        let port = free_port();
        let metrics_port = observability.then(free_port);
        let extra: Vec<String> = match metrics_port {
            Some(p) => vec!["--observability-port".into(), p.to_string()],
            None => vec!["--no-observability".into()],
        };
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let mut cmd = command_as(user, password, &extra, port);
        cmd.envs(env.iter().copied());
        Server::spawn(cmd, port, metrics_port, user, password)
    }

    /// A server on the durable backend in `dir`.
    pub fn start_durable(dir: &std::path::Path, env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let mut cmd = durable_command(dir, &["--no-observability"], port);
        cmd.envs(env.iter().copied());
        Server::spawn(cmd, port, None, USER, PASSWORD)
    }

    /// SIGKILL: no shutdown, no checkpoint.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for a graceful exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("wait for aiondb")
    }

    fn spawn(
        mut cmd: Command,
        port: u16,
        metrics_port: Option<u16>,
        user: &str,
        password: &str,
    ) -> Server {
        let mut child = cmd
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
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match lines.recv_timeout(Duration::from_millis(100)) {
                Ok(l) if l.contains("aiondb kernel ready") => break,
                Ok(_) => {}
                Err(_) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        let said: Vec<String> = lines.try_iter().collect();
                        panic!("aiondb exited during start: {status}\n{}", said.join("\n"));
                    }
                }
            }
            assert!(Instant::now() < deadline, "aiondb did not become ready");
        }
        Server {
            child,
            port,
            metrics_port,
            user: user.to_string(),
            password: password.to_string(),
            _lines: lines,
        }
    }

    /// The bootstrap user's conninfo plus `extra` (`sslmode=require`...).
    pub fn conninfo_with(&self, extra: &str) -> String {
        format!("{} {extra}", self.conninfo(&self.password))
    }

    /// Runs pgbench with `args` against this server as the bootstrap user.
    pub fn pgbench(&self, args: &[&str]) -> Output {
        Command::new("pgbench")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                &self.user,
            ])
            .args(args)
            .arg("aiondb")
            .env("PGPASSWORD", &self.password)
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .expect("run pgbench")
    }

    /// psql with a connection string and one command; never prompts.
    pub fn psql_command(&self, conninfo: &str, command: &str) -> Output {
        Command::new("psql")
            .args([conninfo, "-X", "-A", "-t", "-c", command])
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::null())
            .output()
            .expect("run psql")
    }

    /// The bootstrap user's conninfo with `password` (tests of failed
    /// logins pass a wrong one).
    pub fn conninfo(&self, password: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={} password={password} dbname=aiondb",
            self.port, self.user
        )
    }

    /// Runs a psql script (unaligned, tuples only, errors do not stop it).
    pub fn psql(&self, password: &str, script: &str) -> Output {
        psql_script(&self.conninfo(password), script)
    }

    /// Runs a Python script with the bootstrap user's conninfo as argv[1].
    pub fn python(&self, script: &str) -> Output {
        Command::new("python3")
            .args(["-c", script, &self.conninfo(&self.password)])
            .stdin(Stdio::null())
            .output()
            .expect("run python3")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `script` through psql against `conninfo`.
pub fn psql_script(conninfo: &str, script: &str) -> Output {
    let mut child = Command::new("psql")
        .args([conninfo, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=0"])
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

/// The reference PostgreSQL's role for tests (created on first use).
pub const REFERENCE_USER: &str = "aiondb_reference";
pub const REFERENCE_PASSWORD: &str = "Reference-Passw0rd!";

/// Conninfo (without dbname) of the reference PostgreSQL on
/// 127.0.0.1:`AIONDB_REFERENCE_PG_PORT` (default 5432), creating the test
/// role as the `postgres` OS user when it is missing. `None` (a skip) when
/// no reference server answers; under CI that is a failure.
pub fn reference_pg() -> Option<String> {
    let port = std::env::var("AIONDB_REFERENCE_PG_PORT").unwrap_or_else(|_| "5432".into());
    let conninfo =
        format!("host=127.0.0.1 port={port} user={REFERENCE_USER} password={REFERENCE_PASSWORD}");
    let works = || {
        Command::new("psql")
            .args([
                &format!("{conninfo} dbname=postgres"),
                "-X",
                "-c",
                "SELECT 1",
            ])
            .env("PGCONNECT_TIMEOUT", "5")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !have("psql", &["--version"]) {
        return None;
    }
    if !works() {
        // As root, create the role through the postgres OS user (peer
        // authentication on the local socket).
        let sql = format!(
            "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{REFERENCE_USER}') \
             THEN CREATE ROLE {REFERENCE_USER} LOGIN SUPERUSER PASSWORD '{REFERENCE_PASSWORD}'; \
             END IF; END$$;"
        );
        let _ = Command::new("runuser")
            .args([
                "-u", "postgres", "--", "psql", "-X", "-p", &port, "-c", &sql,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    if works() {
        return Some(conninfo);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "the reference PostgreSQL must run on port {port} in CI (.ci/run starts it)"
    );
    eprintln!("skipping: no reference PostgreSQL on port {port}");
    None
}

// ------------------------------------------------------------ raw protocol

/// A protocol 3.0 StartupMessage with `params`.
pub fn startup_packet(params: &[(&str, &str)]) -> Vec<u8> {
    let mut body = 196608i32.to_be_bytes().to_vec();
    for (k, v) in params {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut out = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

/// A frontend message: `tag`, the length, then `body`.
pub fn message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// Reads one backend message: (tag, body); `None` at end of stream.
pub fn read_msg(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut head = [0u8; 5];
    s.read_exact(&mut head).ok()?;
    let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    let mut body = vec![0u8; len.saturating_sub(4)];
    s.read_exact(&mut body).ok()?;
    Some((head[0], body))
}

/// The SQLSTATE (`C` field) of an ErrorResponse body.
pub fn sqlstate(body: &[u8]) -> String {
    body.split(|&b| b == 0)
        .find(|f| f.first() == Some(&b'C'))
        .map(|f| String::from_utf8_lossy(&f[1..]).into_owned())
        .unwrap_or_default()
}

/// A raw connection to `port` whose reads give up after 20 s.
pub fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s
}

/// A frontend message written by one of postgres-protocol's encoders.
pub fn encoded<E: std::fmt::Debug>(
    encode: impl FnOnce(&mut bytes::BytesMut) -> Result<(), E>,
) -> Vec<u8> {
    let mut b = bytes::BytesMut::new();
    encode(&mut b).expect("encode a frontend message");
    b.to_vec()
}

/// A simple-protocol Query message.
pub fn simple_query(sql: &str) -> Vec<u8> {
    encoded(|b| postgres_protocol::message::frontend::query(sql, b))
}

/// A raw session as `USER` (trust: bench mode), past its first
/// ReadyForQuery.
pub fn raw_session(port: u16) -> TcpStream {
    let mut s = connect(port);
    s.write_all(&startup_packet(&[("user", USER), ("database", "aiondb")]))
        .expect("startup");
    loop {
        match read_msg(&mut s) {
            Some((b'Z', _)) => return s,
            Some(_) => {}
            None => panic!("the server closed the connection during startup"),
        }
    }
}

/// Reads up to ReadyForQuery; returns the DataRow first values and the
/// command tags seen, in order, as text (`E<sqlstate>` for errors).
pub fn answers_until_ready(s: &mut TcpStream) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let (tag, body) = read_msg(s).expect("a message before ReadyForQuery");
        match tag {
            b'Z' => return seen,
            b'D' => {
                let len = i32::from_be_bytes([body[2], body[3], body[4], body[5]]);
                seen.push(text(&body[6..6 + len.max(0) as usize]));
            }
            b'C' => seen.push(text(&body[..body.len() - 1])),
            b'E' => seen.push(format!("E{}", sqlstate(&body))),
            _ => {}
        }
    }
}
