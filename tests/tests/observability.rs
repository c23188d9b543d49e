//! The HTTP observability surface over real HTTP: against the `aiondb`
//! binary (endpoints, SIGTERM drain, disabled mode, bind failures) and
//! against an in-process kernel (metrics that move after queries, 503 while
//! starting). Every request goes through a minimal HTTP/1.1 client over a
//! TCP socket, and `/metrics` is checked by a strict text-format 0.0.4 parser.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use aiondb_integration_tests::*;
use aiondb_kernel::session::SessionOptions;
use aiondb_kernel::Kernel;
use serde_json::Value as Json;

const PASSWORD: &str = "Obs3rv-Secret!";

// ------------------------------------------------------------ HTTP client

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Json {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One request on a fresh connection (`Connection: close`).
fn request(port: u16, method: &str, path: &str) -> std::io::Result<Reply> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((n, v)) = l.split_once(':') {
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let mut body = Vec::new();
    match len {
        _ if method == "HEAD" => {}
        Some(n) => {
            body.resize(n, 0);
            r.read_exact(&mut body)?;
        }
        None => {
            r.read_to_end(&mut body)?;
        }
    }
    Ok(Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn get(port: u16, path: &str) -> Reply {
    request(port, "GET", path).unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Polls until `f` returns Some, or panics after `secs` seconds.
fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------- the binary

/// A running `aiondb` with its log lines collected; killed on drop.
struct Server {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Server {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(aiondb_bin());
        cmd.args(args)
            .env("RUST_LOG", "info")
            // The test's own AIONDB_* environment must not leak in.
            .envs(
                std::env::vars()
                    .filter(|(k, _)| k.starts_with("AIONDB_"))
                    .map(|(k, _)| (k, String::new())),
            )
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start aiondb");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Server {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    fn ephemeral(port: u16, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let port = port.to_string();
        let mut args = vec![
            "--ephemeral",
            "--bootstrap-user",
            "admin",
            "--bootstrap-password",
            PASSWORD,
            "--observability-port",
            &port,
            // Any free port: PostgreSQL may hold 5432 on the same machine.
            "--listen-addr",
            "127.0.0.1:0",
        ];
        args.extend_from_slice(extra);
        Server::start(&args, env)
    }

    /// Waits for a log line containing `needle`.
    fn wait_log(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.seen.iter().any(|l| l.contains(needle)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!("no log line with {needle:?}: {:#?}", self.seen),
            }
        }
    }

    fn log(&mut self) -> String {
        self.seen.extend(self.lines.try_iter());
        self.seen.join("\n")
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args(["-s", sig, &self.child.id().to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -s {sig} failed");
    }

    /// Waits for the process to exit and returns its code.
    fn exit_code(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                // Collect the last lines the process wrote.
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push(line);
                }
                return status.code();
            }
            assert!(Instant::now() < deadline, "aiondb did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_ready(port: u16) -> Reply {
    wait_for(30, "/readyz to answer 200", || {
        request(port, "GET", "/readyz")
            .ok()
            .filter(|r| r.status == 200)
    })
}

#[test]
fn every_endpoint_over_http_against_the_binary() {
    let port = free_port();
    let mut server = Server::ephemeral(port, &[], &[]);
    server.wait_log("kernel ready");

    let live = get(port, "/livez");
    assert_eq!((live.status, live.body.as_str()), (200, "ok\n"));

    for path in ["/readyz", "/healthz"] {
        let r = get(port, path);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(r.header("content-type"), Some("application/json"));
        let v = r.json();
        assert_eq!(v["status"], "ready", "{v}");
        assert_eq!(v["ready"], true);
        assert_eq!(v["active_connections"], 0);
        let plugins = v["plugins"].as_array().expect("plugins");
        assert!(plugins
            .iter()
            .any(|p| p["name"] == "http" && p["started"] == true));
    }

    let info = get(port, "/info");
    assert_eq!(info.status, 200);
    let v = info.json();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    let release = env!("CARGO_PKG_VERSION").rsplit_once('.').map(|(a, _)| a);
    assert_eq!(v["release_line"].as_str(), release);
    assert_eq!(v["deployment_mode"], "single-node");
    assert_eq!(v["storage"]["backend"], "in_memory");
    assert_eq!(v["storage"]["persistent"], false);
    assert_eq!(v["data_dir_encryption"]["status"], "not_applicable");
    let plugins = v["plugins"].as_array().expect("plugins");
    let caps = |name: &str| -> Vec<String> {
        plugins
            .iter()
            .find(|p| p["name"] == name)
            .and_then(|p| p["capabilities"].as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|c| c.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(caps("http"), ["surface/1:http"]);
    assert_eq!(caps("storage-memory"), ["storage.backend/1:in_memory"]);
    assert!(plugins.iter().all(|p| p["version"].is_string()));

    let m = get(port, "/metrics");
    assert_eq!(m.status, 200);
    assert_eq!(
        m.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let samples = parse_exposition(&m.body).unwrap_or_else(|e| panic!("{e}\n{}", m.body));
    for family in aiondb_sdk::metrics::standard_families() {
        assert!(
            m.body
                .contains(&format!("# TYPE {} ", family.name.as_str())),
            "{} missing",
            family.name
        );
    }
    for zero in [
        "aiondb_pgwire_connections_active",
        "aiondb_pgwire_connections_total",
        "aiondb_auth_failures_total",
        "aiondb_wal_bytes_total",
        "aiondb_wal_fsyncs_total",
        "aiondb_engine_pool_queue_depth",
    ] {
        assert_eq!(samples.get(zero), Some(&0.0), "{zero}");
    }
    assert_eq!(
        samples.get("aiondb_plugin_started{plugin=\"http\",version=\"0.1.0\"}"),
        Some(&1.0)
    );

    // Unknown paths, wrong methods, HEAD.
    assert_eq!(get(port, "/nope").status, 404);
    assert_eq!(get(port, "/metrics/extra").status, 404);
    for method in ["POST", "PUT", "DELETE"] {
        let r = request(port, method, "/metrics").expect("request");
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
    }
    let head = request(port, "HEAD", "/livez").expect("HEAD");
    assert_eq!(head.status, 200);

    // No endpoint shows the password, the bootstrap user's secret or a path.
    for path in ["/livez", "/readyz", "/healthz", "/metrics", "/info"] {
        let body = get(port, path).body;
        assert!(!body.contains(PASSWORD), "{path} leaks the password");
        assert!(!body.contains("data/aiondb"), "{path} shows the data dir");
    }
    assert!(!server.log().contains(PASSWORD), "the password was logged");

    server.signal("TERM");
    assert_eq!(server.exit_code(), Some(0), "{}", server.log());
}

#[test]
fn sigterm_reports_draining_until_surfaces_stop() {
    let port = free_port();
    let mut server = Server::ephemeral(port, &[], &[("AIONDB_SHUTDOWN_DRAIN_MS", "3000")]);
    let ready = wait_ready(port).json();
    assert_eq!(ready["status"], "ready");

    server.signal("TERM");
    let draining = wait_for(5, "/readyz to answer 503", || {
        request(port, "GET", "/readyz")
            .ok()
            .filter(|r| r.status == 503)
    });
    let v = draining.json();
    assert_eq!(v["status"], "draining", "{v}");
    assert_eq!(v["ready"], false);
    assert!(v["plugins"].is_array());
    // Still alive while draining, and /healthz agrees with /readyz.
    assert_eq!(get(port, "/livez").status, 200);
    assert_eq!(get(port, "/healthz").status, 503);

    assert_eq!(server.exit_code(), Some(0), "{}", server.log());
    let log = server.log();
    assert!(
        log.contains("draining") && log.contains("kernel stopped"),
        "{log}"
    );
    assert!(request(port, "GET", "/livez").is_err(), "still listening");
}

#[test]
fn the_http_plugin_also_loads_from_a_shared_library() {
    let dir = TempDir::with_plugins("http-so", &[dylib("aiondb_plugin_http")]);
    let port = free_port();
    let mut server = Server::ephemeral(
        port,
        &[
            "--plugins",
            "functions-core,sql-parser,storage-memory,sql-planner,sql-executor",
            "--plugin-dir",
            dir.path().to_str().expect("utf-8 path"),
        ],
        &[],
    );
    let info = wait_ready(port);
    let v = get(port, "/info").json();
    let http = v["plugins"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "http").cloned())
        .expect("http plugin listed");
    assert_eq!(http["source"], "dylib", "{v}");
    assert_eq!(info.json()["status"], "ready");
    parse_exposition(&get(port, "/metrics").body).expect("valid metrics");
    // The .so's log lines reach the kernel's logger.
    server.wait_log("plugin::http");
    server.signal("TERM");
    assert_eq!(server.exit_code(), Some(0), "{}", server.log());
}

#[test]
fn no_observability_serves_nothing() {
    let port = free_port();
    let mut server = Server::ephemeral(port, &["--no-observability"], &[]);
    server.wait_log("kernel ready");
    assert!(server.log().contains("observability endpoint disabled"));
    assert!(request(port, "GET", "/livez").is_err());
    server.signal("TERM");
    assert_eq!(server.exit_code(), Some(0));
}

#[test]
fn bind_failure_is_logged_and_the_server_runs_on() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let mut server = Server::ephemeral(port, &[], &[]);
    server.wait_log("kernel ready");
    let log = server.log();
    assert!(log.contains("cannot bind"), "{log}");
    assert!(log.contains("AIONDB_OBSERVABILITY_FAIL_FAST"), "{log}");
    server.signal("TERM");
    assert_eq!(server.exit_code(), Some(0), "{}", server.log());
}

#[test]
fn bind_failure_stops_the_start_with_fail_fast() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let mut server = Server::ephemeral(port, &[], &[("AIONDB_OBSERVABILITY_FAIL_FAST", "true")]);
    assert_eq!(server.exit_code(), Some(1), "{}", server.log());
    let log = server.log();
    assert!(
        log.contains("plugin http failed to start") && log.contains("cannot bind"),
        "{log}"
    );
    assert!(!log.contains("kernel ready"), "{log}");
}

#[test]
fn non_loopback_needs_an_explicit_setting_and_warns() {
    let port = free_port();
    // Refused without the opt-in (configuration error, exit 2).
    let mut refused = Server::ephemeral(port, &["--observability-bind", "0.0.0.0"], &[]);
    assert_eq!(refused.exit_code(), Some(2));
    assert!(refused.log().contains("not a loopback address"));

    // The old catch-all key stays rejected: warned about and ignored.
    let mut public = Server::ephemeral(
        port,
        &["--observability-bind", "0.0.0.0"],
        &[("AIONDB_ALLOW_PUBLIC_OBSERVABILITY", "true")],
    );
    assert_eq!(public.exit_code(), Some(2));
    assert!(public.log().contains("not a loopback address"));
    let mut public = Server::ephemeral(port, &[], &[("AIONDB_ALLOW_PUBLIC_OBSERVABILITY", "true")]);
    public.wait_log("kernel ready");
    let log = public.log();
    assert!(
        log.contains("AIONDB_ALLOW_PUBLIC_OBSERVABILITY is not supported"),
        "{log}"
    );
    assert!(
        log.contains(&format!("listening on http://127.0.0.1:{port}")),
        "{log}"
    );
    public.signal("TERM");
    assert_eq!(public.exit_code(), Some(0));

    let mut server = Server::ephemeral(
        port,
        &["--observability-bind", "0.0.0.0"],
        &[("AIONDB_OBSERVABILITY_ALLOW_NON_LOOPBACK", "true")],
    );
    server.wait_log("kernel ready");
    assert!(
        server.log().contains("non-loopback address 0.0.0.0"),
        "{}",
        server.log()
    );
    assert_eq!(get(port, "/livez").status, 200);
    server.signal("TERM");
    assert_eq!(server.exit_code(), Some(0));
}

// ------------------------------------------------------- in-process kernel

fn kernel_with_http(port: u16, extra: Vec<aiondb_sdk::plugin::PluginModuleRef>) -> Kernel {
    let port = port.to_string();
    let mut plugins = aiondb_embedded::bundled_plugins();
    plugins.push(aiondb_plugin_http::plugin_module());
    plugins.extend(extra);
    Kernel::builder(config(&[
        ("AIONDB_EPHEMERAL", "true"),
        ("AIONDB_OBSERVABILITY_PORT", &port),
    ]))
    .bundled(plugins)
    .build()
    .expect("kernel builds")
}

fn scrape(port: u16) -> HashMap<String, f64> {
    let r = get(port, "/metrics");
    assert_eq!(r.status, 200);
    parse_exposition(&r.body).unwrap_or_else(|e| panic!("{e}\n{}", r.body))
}

#[test]
fn metrics_move_after_queries() {
    let port = free_port();
    let kernel = kernel_with_http(port, Vec::new());
    kernel.start().expect("start");
    let before = scrape(port);
    let value = |m: &HashMap<String, f64>, k: &str| *m.get(k).unwrap_or_else(|| panic!("{k}"));
    let delta = |after: &HashMap<String, f64>, k: &str| value(after, k) - value(&before, k);

    let mut s = kernel
        .session(SessionOptions {
            user: "admin".into(),
            database: "app".into(),
            application: "observability-test".into(),
        })
        .expect("session");
    s.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        .expect("create");
    s.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')")
        .expect("insert");
    s.execute("UPDATE t SET v = 'z' WHERE id = 2")
        .expect("update");
    s.execute("SELECT * FROM t").expect("select");
    assert!(s.execute("SELECT 1 / (id - id) FROM t").is_err());
    s.execute("BEGIN").expect("begin");
    s.execute("DELETE FROM t WHERE id = 1").expect("delete");
    s.execute("ROLLBACK").expect("rollback");

    let after = scrape(port);
    let q = |c: &str, o: &str| format!("aiondb_queries_total{{command=\"{c}\",outcome=\"{o}\"}}");
    assert_eq!(delta(&after, &q("DDL", "ok")), 1.0);
    assert_eq!(delta(&after, &q("INSERT", "ok")), 1.0);
    assert_eq!(delta(&after, &q("UPDATE", "ok")), 1.0);
    assert_eq!(delta(&after, &q("DELETE", "ok")), 1.0);
    assert_eq!(delta(&after, &q("SELECT", "ok")), 1.0);
    assert_eq!(delta(&after, &q("SELECT", "error")), 1.0);
    assert_eq!(delta(&after, &q("UTILITY", "ok")), 2.0);
    assert_eq!(delta(&after, "aiondb_rows_read_total"), 3.0);
    // 3 inserted, 1 updated, 1 deleted (rolled back, but written).
    assert_eq!(delta(&after, "aiondb_rows_written_total"), 5.0);
    assert_eq!(
        delta(&after, "aiondb_transactions_total{outcome=\"commit\"}"),
        4.0
    );
    assert_eq!(
        delta(&after, "aiondb_transactions_total{outcome=\"rollback\"}"),
        2.0
    );
    assert_eq!(delta(&after, "aiondb_query_duration_seconds_count"), 6.0);
    assert_eq!(
        delta(&after, "aiondb_query_duration_seconds_bucket{le=\"+Inf\"}"),
        6.0
    );
    assert!(delta(&after, "aiondb_query_duration_seconds_sum") > 0.0);
    let calls = "aiondb_plugin_calls_total{plugin=\"sql-executor\",capability=\"sql.executor/1\",key=\"sql\"}";
    assert!(delta(&after, calls) >= 6.0);

    // A prepared statement counts on every execution.
    let stmt = s
        .prepare("SELECT v FROM t WHERE id = $1", &[])
        .expect("prepare");
    for _ in 0..10 {
        s.execute_prepared(&stmt, &[aiondb_sdk::value::Value::Int4(3)])
            .expect("run");
    }
    let last = scrape(port);
    assert_eq!(
        value(&last, &q("SELECT", "ok")) - value(&after, &q("SELECT", "ok")),
        10.0
    );
    assert_eq!(
        value(&last, "aiondb_rows_read_total") - value(&after, "aiondb_rows_read_total"),
        10.0
    );
    kernel.shutdown();
    assert!(request(port, "GET", "/livez").is_err(), "still listening");
}

/// A surface that starts after `http` and holds the kernel in `starting`
/// until released, so `/readyz` can be seen answering 503.
mod slow {
    use super::*;
    use aiondb_sdk::capability::Surface;
    use aiondb_sdk::prelude::*;

    pub static RELEASE: AtomicBool = AtomicBool::new(false);

    struct Slow;

    impl Surface for Slow {
        fn start(&self, _host: HostRef) -> AResult<()> {
            let deadline = Instant::now() + Duration::from_secs(30);
            while !RELEASE.load(Ordering::Acquire) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            ROk(())
        }
        fn stop(&self) -> AResult<()> {
            ROk(())
        }
    }

    fn register(_host: HostRef) -> DbResult<Registration> {
        Ok(Registration::new()
            .surface("slow", Slow)
            .requires_key("surface", 1, "http"))
    }

    aiondb_sdk::declare_plugin! {
        name: "slow-surface",
        version: "0.0.1",
        description: "test surface that starts slowly",
        register: register,
    }
}

#[test]
fn readiness_is_503_while_starting_then_200() {
    let port = free_port();
    let kernel = kernel_with_http(port, vec![slow::plugin_module()]);
    let starter = {
        let kernel = kernel.clone();
        std::thread::spawn(move || kernel.start())
    };
    let starting = wait_for(30, "/readyz while starting", || {
        request(port, "GET", "/readyz").ok()
    });
    assert_eq!(starting.status, 503, "{}", starting.body);
    let v = starting.json();
    assert_eq!(v["status"], "starting");
    let plugins = v["plugins"].as_array().expect("plugins");
    assert!(plugins.iter().any(|p| p["name"] == "slow-surface"));
    assert_eq!(get(port, "/livez").status, 200);

    slow::RELEASE.store(true, Ordering::Release);
    starter
        .join()
        .expect("start thread")
        .expect("kernel started");
    let ready = wait_ready(port).json();
    assert_eq!(ready["status"], "ready");
    assert!(ready["plugins"]
        .as_array()
        .expect("plugins")
        .iter()
        .all(|p| p["started"] == true));
    kernel.shutdown();
}

// ----------------------------------------- text format 0.0.4, strictly

#[derive(Default)]
struct FamilyCheck {
    kind: Option<String>,
    help: bool,
    done: bool,
}

fn valid_metric_name(n: &str) -> bool {
    let mut b = n.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

fn parse_value(v: &str) -> Result<f64, String> {
    match v {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => v.parse::<f64>().map_err(|_| format!("bad value {v:?}")),
    }
}

/// `{a="x",b="y"}` -> pairs, with the three escapes the format allows.
fn parse_labels(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        if chars.peek().is_none() {
            return Ok(out);
        }
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if !valid_metric_name(&name) || name.contains(':') {
            return Err(format!("bad label name {name:?}"));
        }
        if chars.next() != Some('"') {
            return Err(format!("label {name} value not quoted"));
        }
        let mut value = String::new();
        loop {
            match chars.next() {
                None => return Err(format!("unterminated value of {name}")),
                Some('"') => break,
                Some('\\') => match chars.next() {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => return Err(format!("bad escape \\{other:?} in {name}")),
                },
                Some('\n') => return Err("raw newline in label value".into()),
                Some(c) => value.push(c),
            }
        }
        if out.iter().any(|(n, _)| *n == name) {
            return Err(format!("label {name} repeated"));
        }
        out.push((name, value));
        match chars.next() {
            None => return Ok(out),
            Some(',') => {}
            Some(c) => return Err(format!("unexpected {c:?} after a label")),
        }
    }
}

/// Parses and checks a text-format exposition the way Prometheus does:
/// HELP/TYPE before samples and at most once, a family's samples contiguous,
/// valid names, labels and values, no duplicate series, non-negative
/// counters, and histograms with increasing `le`, cumulative counts, a
/// `+Inf` bucket equal to `_count`, and `_sum`. Returns every sample keyed as
/// rendered (`name{labels}`).
fn parse_exposition(text: &str) -> Result<HashMap<String, f64>, String> {
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("exposition must end with a newline".into());
    }
    let mut families: HashMap<String, FamilyCheck> = HashMap::new();
    let mut current: Option<String> = None;
    let mut samples = HashMap::new();
    // histogram series (family, labels without le) -> [(le, count)], sum, count
    type HistKey = (String, Vec<(String, String)>);
    let mut buckets: BTreeMap<HistKey, Vec<(f64, f64)>> = BTreeMap::new();
    let mut totals: BTreeMap<HistKey, (Option<f64>, Option<f64>)> = BTreeMap::new();

    let switch_to = |name: &str,
                     families: &mut HashMap<String, FamilyCheck>,
                     current: &mut Option<String>|
     -> Result<(), String> {
        if current.as_deref() != Some(name) {
            if let Some(prev) = current.take() {
                families.entry(prev).or_default().done = true;
            }
            if families.get(name).is_some_and(|f| f.done) {
                return Err(format!("family {name} is not contiguous"));
            }
            *current = Some(name.to_string());
        }
        Ok(())
    };

    for (i, line) in text.lines().enumerate() {
        let at = |m: String| format!("line {}: {m}: {line:?}", i + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let keyword = parts.next().unwrap_or("");
            let name = parts.next().unwrap_or("");
            let tail = parts.next().unwrap_or("");
            if keyword != "HELP" && keyword != "TYPE" {
                continue; // a comment
            }
            if !valid_metric_name(name) {
                return Err(at("bad metric name".into()));
            }
            switch_to(name, &mut families, &mut current).map_err(at)?;
            let f = families.entry(name.to_string()).or_default();
            if keyword == "HELP" {
                if f.help {
                    return Err(at("second HELP".into()));
                }
                let mut esc = tail.chars();
                while let Some(c) = esc.next() {
                    if c == '\\' && !matches!(esc.next(), Some('\\') | Some('n')) {
                        return Err(at("bad escape in HELP".into()));
                    }
                }
                f.help = true;
            } else {
                if f.kind.is_some() {
                    return Err(at("second TYPE".into()));
                }
                if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&tail) {
                    return Err(at("unknown type".into()));
                }
                if samples.keys().any(|k: &String| {
                    k.split('{')
                        .next()
                        .is_some_and(|n| n == name || n.starts_with(&format!("{name}_")))
                }) {
                    return Err(at("TYPE after samples".into()));
                }
                f.kind = Some(tail.to_string());
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').ok_or_else(|| at("no value".into()))?;
        let value = parse_value(value).map_err(at)?;
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => {
                let l = l
                    .strip_suffix('}')
                    .ok_or_else(|| at("unclosed labels".into()))?;
                (n, parse_labels(l).map_err(at)?)
            }
            None => (series, Vec::new()),
        };
        if !valid_metric_name(name) {
            return Err(at("bad sample name".into()));
        }
        // The family this sample belongs to.
        let hist_part = ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
            let base = name.strip_suffix(suffix)?;
            families
                .get(base)
                .filter(|f| f.kind.as_deref() == Some("histogram"))
                .map(|_| (base.to_string(), *suffix))
        });
        let family = hist_part
            .as_ref()
            .map_or(name.to_string(), |(b, _)| b.clone());
        switch_to(&family, &mut families, &mut current).map_err(at)?;
        let kind = families
            .get(&family)
            .and_then(|f| f.kind.clone())
            .unwrap_or_else(|| "untyped".into());
        if kind == "counter" && (value.is_nan() || value < 0.0) {
            return Err(at("negative counter".into()));
        }
        if kind == "histogram" && hist_part.is_none() {
            return Err(at("histogram sample without _bucket/_sum/_count".into()));
        }
        if samples.insert(series.to_string(), value).is_some() {
            return Err(at("duplicate series".into()));
        }
        if let Some((base, suffix)) = hist_part {
            let mut rest: Vec<(String, String)> =
                labels.iter().filter(|(n, _)| n != "le").cloned().collect();
            rest.sort();
            let key = (base, rest);
            match suffix {
                "_bucket" => {
                    let le = labels
                        .iter()
                        .find(|(n, _)| n == "le")
                        .ok_or_else(|| at("bucket without le".into()))?;
                    let le = parse_value(&le.1).map_err(at)?;
                    buckets.entry(key).or_default().push((le, value));
                }
                "_sum" => totals.entry(key).or_default().0 = Some(value),
                _ => totals.entry(key).or_default().1 = Some(value),
            }
        }
    }
    for (key, list) in &buckets {
        if list.windows(2).any(|w| w[0].0 >= w[1].0 || w[0].1 > w[1].1) {
            return Err(format!("{key:?}: buckets not increasing"));
        }
        let Some(&(last_le, inf)) = list.last() else {
            continue;
        };
        if last_le != f64::INFINITY {
            return Err(format!("{key:?}: no +Inf bucket"));
        }
        match totals.get(key) {
            Some((Some(_), Some(count))) if *count == inf => {}
            other => return Err(format!("{key:?}: _sum/_count {other:?} vs +Inf {inf}")),
        }
    }
    Ok(samples)
}

#[test]
fn the_exposition_checker_rejects_what_prometheus_rejects() {
    let good = "# HELP a_total x\n# TYPE a_total counter\na_total{l=\"q\\\"\\\\\\n\"} 1\n\
                # TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n";
    let parsed = parse_exposition(good).expect("valid");
    assert_eq!(parsed.get("h_count"), Some(&2.0));
    for bad in [
        "a 1",                                                            // no final newline
        "# TYPE a counter\n# TYPE a counter\na 1\n",                      // two TYPEs
        "a 1\n# TYPE a counter\n",                                        // TYPE after samples
        "# TYPE a counter\na -1\n",                                       // negative counter
        "a{l=\"x} 1\n",                                                   // unterminated
        "a{l=\"\\t\"} 1\n",                                               // bad escape
        "a{1l=\"x\"} 1\n",                                                // bad label name
        "a 1\na 2\n",                                                     // duplicate
        "a 1\nb 1\na{x=\"1\"} 1\n",                                       // not contiguous
        "a one\n",                                                        // bad value
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", // no +Inf
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n", // count differs
        "# TYPE h histogram\nh 1\n", // bare histogram sample
    ] {
        assert!(parse_exposition(bad).is_err(), "accepted: {bad:?}");
    }
}
