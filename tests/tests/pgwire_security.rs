//! pgwire security and limits against the `aiondb` binary with real
//! clients: TLS modes and client certificates (psql), CancelRequest
//! (psycopg's `conn.cancel()`), the idle-session timeout, the growing
//! authentication back-off, connection caps, slow and malformed clients,
//! and the connection metrics on `/metrics`.
//!
//! Certificates are made at test time with the `openssl` command. psql,
//! psycopg and openssl come from `.ci/run`; without them a local run skips
//! the affected tests with a message, under CI it fails.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use aiondb_integration_tests::wire::*;
use aiondb_integration_tests::TempDir;

/// Runs `aiondb` expecting it to refuse to start; returns its stderr.
fn failed_start(env: &[(&str, &str)]) -> String {
    let mut child = command(&["--no-observability"], free_port())
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start aiondb");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            assert!(!status.success(), "aiondb should have refused to start");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("aiondb started although its TLS configuration is bad");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut err = String::new();
    let _ = child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err);
    err
}

// ------------------------------------------------------------ certificates

struct Certs {
    dir: TempDir,
}

impl Certs {
    fn path(&self, name: &str) -> String {
        self.dir.0.join(name).display().to_string()
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        text(&out.stderr)
    );
}

/// A CA, a server certificate for localhost/127.0.0.1, a client
/// certificate for `admin` signed by the CA, and a client certificate
/// from another, untrusted CA.
fn make_certs() -> Certs {
    let dir = TempDir::new("pgwire-tls");
    let d: &Path = &dir.0;
    std::fs::write(
        d.join("ext.cnf"),
        "[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n\
         subjectKeyIdentifier=hash\n\
         [server]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n\
         [client]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=clientAuth\n",
    )
    .expect("write ext.cnf");
    for ca in ["ca", "evil-ca"] {
        openssl(
            d,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                &format!("{ca}.key"),
            ],
        );
        openssl(
            d,
            &[
                "req",
                "-new",
                "-x509",
                "-key",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.pem"),
                "-days",
                "2",
                "-subj",
                &format!("/CN=aiondb test {ca}"),
                "-extensions",
                "ca",
                "-config",
                "ext.cnf",
                "-sha256",
            ],
        );
    }
    // `req -config` needs a [req] section.
    let mut cnf = std::fs::read_to_string(d.join("ext.cnf")).expect("read ext.cnf");
    cnf.push_str("[req]\ndistinguished_name=dn\n[dn]\n");
    std::fs::write(d.join("ext.cnf"), cnf).expect("write ext.cnf");
    for (name, ca, cn, ext) in [
        ("server", "ca", "localhost", "server"),
        ("client", "ca", USER, "client"),
        ("evil-client", "evil-ca", USER, "client"),
    ] {
        openssl(
            d,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                &format!("{name}.key"),
            ],
        );
        openssl(
            d,
            &[
                "req",
                "-new",
                "-key",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={cn}"),
                "-config",
                "ext.cnf",
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{ca}.pem"),
                "-CAkey",
                &format!("{ca}.key"),
                "-CAcreateserial",
                "-out",
                &format!("{name}.pem"),
                "-days",
                "2",
                "-sha256",
                "-extfile",
                "ext.cnf",
                "-extensions",
                ext,
            ],
        );
    }
    // libpq refuses client keys others can read.
    #[cfg(unix)]
    for key in ["client.key", "evil-client.key"] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d.join(key), std::fs::Permissions::from_mode(0o600))
            .expect("chmod key");
    }
    Certs { dir }
}

fn tls_env(c: &Certs) -> Vec<(&'static str, String)> {
    vec![
        ("AIONDB_PGWIRE_TLS_CERT_PATH", c.path("server.pem")),
        ("AIONDB_PGWIRE_TLS_KEY_PATH", c.path("server.key")),
    ]
}

fn env_refs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The answer to a raw SSLRequest.
fn ssl_answer(port: u16) -> u8 {
    let mut s = connect(port);
    s.write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
        .expect("send SSLRequest");
    let mut b = [0u8; 1];
    s.read_exact(&mut b).expect("answer");
    b[0]
}

const CONNINFO_SSL: &str = "SELECT 1";

fn is_tls(out: &Output) -> bool {
    // psql's \conninfo names the TLS protocol when the session is encrypted.
    text(&out.stdout).contains("SSL connection")
}

fn psql_conninfo(server: &Server, extra: &str) -> Output {
    Command::new("psql")
        .args([
            &server.conninfo_with(extra),
            "-X",
            "-A",
            "-t",
            "-c",
            CONNINFO_SSL,
            "-c",
            "\\conninfo",
        ])
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::null())
        .output()
        .expect("run psql")
}

#[test]
fn tls_disable_answers_n_and_prefer_upgrades() {
    if !have("psql", &["--version"]) || !have("openssl", &["version"]) {
        return;
    }
    let plain = Server::start(&[]);
    assert_eq!(ssl_answer(plain.port), b'N');
    let out = psql_conninfo(&plain, "sslmode=prefer");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!is_tls(&out), "{}", text(&out.stdout));
    let out = plain.psql_command(&plain.conninfo_with("sslmode=require"), "SELECT 1");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("server does not support SSL"),
        "{}",
        text(&out.stderr)
    );

    // A certificate without a mode: TLS offered (prefer), plaintext served.
    let certs = make_certs();
    let env = tls_env(&certs);
    let server = Server::start(&env_refs(&env));
    assert_eq!(ssl_answer(server.port), b'S');
    let out = psql_conninfo(&server, "sslmode=prefer");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(is_tls(&out), "{}", text(&out.stdout));
    let out = psql_conninfo(&server, "sslmode=disable");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!is_tls(&out), "{}", text(&out.stdout));
    // The client checks the server against the CA and the host name.
    let verify = format!(
        "sslmode=verify-full sslrootcert={} host=localhost hostaddr=127.0.0.1",
        certs.path("ca.pem")
    );
    let out = psql_conninfo(&server, &verify);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(is_tls(&out), "{}", text(&out.stdout));
    // ...and refuses a server its CA did not sign.
    let wrong_ca = format!(
        "sslmode=verify-full sslrootcert={} host=localhost hostaddr=127.0.0.1",
        certs.path("evil-ca.pem")
    );
    let out = server.psql_command(&server.conninfo_with(&wrong_ca), "SELECT 1");
    assert!(!out.status.success());
}

#[test]
fn tls_require_refuses_plaintext() {
    if !have("psql", &["--version"]) || !have("openssl", &["version"]) {
        return;
    }
    let certs = make_certs();
    let mut env = tls_env(&certs);
    env.push(("AIONDB_PGWIRE_TLS_MODE", "require".into()));
    let server = Server::start(&env_refs(&env));
    let out = server.psql_command(&server.conninfo_with("sslmode=disable"), "SELECT 1");
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("TLS is required: connect with sslmode=require"),
        "{err}"
    );
    // The refusal is a FATAL 28000 ErrorResponse.
    let mut s = connect(server.port);
    s.write_all(&startup_packet(&[("user", USER), ("database", "aiondb")]))
        .expect("send startup");
    let (tag, body) = read_msg(&mut s).expect("an answer");
    assert_eq!(tag, b'E');
    assert_eq!(sqlstate(&body), "28000");
    assert!(read_msg(&mut s).is_none(), "the connection must close");

    let out = psql_conninfo(&server, "sslmode=require");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(is_tls(&out), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).starts_with("1\n"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn mutual_tls_accepts_only_clients_signed_by_the_ca() {
    if !have("psql", &["--version"]) || !have("openssl", &["version"]) {
        return;
    }
    let certs = make_certs();
    let mut env = tls_env(&certs);
    env.push(("AIONDB_PGWIRE_TLS_CLIENT_CA_PATH", certs.path("ca.pem")));
    let server = Server::start(&env_refs(&env));
    let good = format!(
        "sslmode=require sslcert={} sslkey={}",
        certs.path("client.pem"),
        certs.path("client.key")
    );
    let out = psql_conninfo(&server, &good);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(is_tls(&out), "{}", text(&out.stdout));

    // No certificate; one from another CA; no TLS at all.
    let none = format!(
        "sslmode=require sslcert={} sslkey={}",
        certs.path("missing.pem"),
        certs.path("missing.key")
    );
    let bad = format!(
        "sslmode=require sslcert={} sslkey={}",
        certs.path("evil-client.pem"),
        certs.path("evil-client.key")
    );
    for conn in [none.as_str(), bad.as_str(), "sslmode=disable"] {
        let out = server.psql_command(&server.conninfo_with(conn), "SELECT 1");
        assert!(
            !out.status.success(),
            "{conn} connected: {}",
            text(&out.stdout)
        );
    }
}

#[test]
fn bad_tls_settings_stop_the_start_naming_the_key() {
    if !have("openssl", &["version"]) {
        return;
    }
    let certs = make_certs();
    let missing = certs.path("nope.pem");
    let err = failed_start(&[
        ("AIONDB_PGWIRE_TLS_CERT_PATH", &missing),
        ("AIONDB_PGWIRE_TLS_KEY_PATH", &certs.path("server.key")),
    ]);
    assert!(err.contains("AIONDB_PGWIRE_TLS_CERT_PATH"), "{err}");
    // A file that is not a key.
    let err = failed_start(&[
        ("AIONDB_PGWIRE_TLS_CERT_PATH", &certs.path("server.pem")),
        ("AIONDB_PGWIRE_TLS_KEY_PATH", &certs.path("ext.cnf")),
    ]);
    assert!(err.contains("AIONDB_PGWIRE_TLS_KEY_PATH"), "{err}");
    // A certificate without its key, and require without a certificate.
    let err = failed_start(&[("AIONDB_PGWIRE_TLS_CERT_PATH", &certs.path("server.pem"))]);
    assert!(err.contains("AIONDB_PGWIRE_TLS_KEY_PATH"), "{err}");
    let err = failed_start(&[("AIONDB_PGWIRE_TLS_MODE", "require")]);
    assert!(err.contains("AIONDB_PGWIRE_TLS_CERT_PATH"), "{err}");
}

#[test]
fn cancel_request_stops_the_running_statement() {
    if !have("python3", &["-c", "import psycopg"]) {
        return;
    }
    let server = Server::start(&[]);
    let script = r#"
import sys, threading, time, socket, struct
import psycopg
conn = psycopg.connect(sys.argv[1], autocommit=True)
other = psycopg.connect(sys.argv[1], autocommit=True)

def cancel_later(c, after):
    time.sleep(after)
    c.cancel()

# A long statement, canceled from another thread.
t = threading.Thread(target=cancel_later, args=(conn, 0.5))
t.start()
start = time.time()
try:
    conn.execute("SELECT count(*) FROM generate_series(1, 5000000000)")
    print("NOT CANCELED")
except psycopg.errors.QueryCanceled as e:
    print("canceled", e.sqlstate, e.diag.message_primary, time.time() - start < 20)
t.join()
print("after", conn.execute("SELECT 1").fetchone()[0])

# A late cancel (nothing running) must not hit the next statement.
conn.cancel()
time.sleep(0.3)
print("late", conn.execute("SELECT 2").fetchone()[0])

# A wrong secret does nothing: the statement runs into its own timeout.
conn.execute("SET statement_timeout = '1500ms'")
def wrong_cancel():
    time.sleep(0.3)
    host, port = conn.info.host, conn.info.port
    s = socket.create_connection((host, port))
    s.sendall(struct.pack("!iiii", 16, 80877102, conn.info.backend_pid, 12345))
    s.close()
t = threading.Thread(target=wrong_cancel)
t.start()
try:
    conn.execute("SELECT count(*) FROM generate_series(1, 5000000000)")
    print("NOT CANCELED")
except psycopg.errors.QueryCanceled as e:
    print("wrong secret", e.diag.message_primary)
t.join()
conn.execute("SET statement_timeout = 0")

# A row-lock wait is canceled too.
conn.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
conn.execute("INSERT INTO t VALUES (1, 0)")
other.execute("BEGIN")
other.execute("UPDATE t SET v = 1 WHERE id = 1")
t = threading.Thread(target=cancel_later, args=(conn, 0.5))
t.start()
try:
    conn.execute("UPDATE t SET v = 2 WHERE id = 1")
    print("NOT CANCELED")
except psycopg.errors.QueryCanceled as e:
    print("lock wait", e.sqlstate, e.diag.message_primary)
t.join()
other.execute("COMMIT")
print("value", conn.execute("SELECT v FROM t").fetchone()[0])
"#;
    let out = server.python(script);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert_eq!(
        stdout,
        "canceled 57014 canceling statement due to user request True\n\
         after 1\n\
         late 2\n\
         wrong secret canceling statement due to statement timeout\n\
         lock wait 57014 canceling statement due to user request\n\
         value 1\n"
    );
}

#[test]
fn idle_sessions_are_closed_after_the_idle_timeout() {
    if !have("python3", &["-c", "import psycopg"]) {
        return;
    }
    let server = Server::start(&[("AIONDB_PGWIRE_IDLE_TIMEOUT_MS", "1000")]);
    let script = r#"
import sys, time
import psycopg
conn = psycopg.connect(sys.argv[1], autocommit=True)
# Activity more often than the timeout keeps the session.
for i in range(5):
    conn.execute("SELECT 1")
    time.sleep(0.1)
time.sleep(2.5)
try:
    conn.execute("SELECT 1")
    print("still open")
except psycopg.OperationalError as e:
    print("closed", "idle-session timeout" in str(e))
"#;
    let out = server.python(script);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert_eq!(stdout, "closed True\n");

    // On the wire: FATAL 57P05, then the connection closes.
    let bench = Server::start(&[
        ("AIONDB_PGWIRE_IDLE_TIMEOUT_MS", "300"),
        ("AIONDB_BENCH_MODE", "true"),
    ]);
    let mut s = connect(bench.port);
    s.write_all(&startup_packet(&[("user", USER), ("database", "aiondb")]))
        .expect("send startup");
    let mut last = None;
    while let Some((tag, body)) = read_msg(&mut s) {
        if tag == b'E' {
            last = Some(sqlstate(&body));
        }
    }
    assert_eq!(last.as_deref(), Some("57P05"));
}

/// How long a psql login with a wrong password takes to fail.
fn failed_login(server: &Server, user: &str) -> Duration {
    let start = Instant::now();
    let out = Command::new("psql")
        .args([
            &format!(
                "host=127.0.0.1 port={} user={user} password=wrong dbname=aiondb",
                server.port
            ),
            "-X",
            "-c",
            "SELECT 1",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("psql");
    let took = start.elapsed();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("password authentication failed"),
        "{}",
        text(&out.stderr)
    );
    took
}

#[test]
fn auth_back_off_grows_and_does_not_block_others() {
    if !have("psql", &["--version"]) {
        return;
    }
    let server = Server::start(&[("AIONDB_PGWIRE_AUTH_FAILURE_BACKOFF_MS", "250")]);
    // 250 ms, 500 ms, 1 s: the third failure waits 750 ms more than the
    // first, far beyond any scheduling noise of a psql start.
    let first = failed_login(&server, USER);
    let second = failed_login(&server, "nobody");
    let third = failed_login(&server, USER);
    assert!(first < second, "{first:?} {second:?}");
    assert!(
        third > first + Duration::from_millis(400),
        "{first:?} {second:?} {third:?}"
    );
    // While a 2 s back-off runs, a good login is served.
    let slow = {
        let port = server.port;
        std::thread::spawn(move || {
            let start = Instant::now();
            let _ = Command::new("psql")
                .args([
                    &format!("host=127.0.0.1 port={port} user={USER} password=wrong dbname=aiondb"),
                    "-X",
                    "-c",
                    "SELECT 1",
                ])
                .stdin(Stdio::null())
                .output();
            start.elapsed()
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    let out = server.psql_command(&server.conninfo_with(""), "SELECT 42");
    let good = start.elapsed() + Duration::from_millis(300);
    assert_eq!(text(&out.stdout), "42\n", "{}", text(&out.stderr));
    let bad = slow.join().expect("thread");
    assert!(good < bad, "good login {good:?}, failing one {bad:?}");
    // The success reset the count: back to the base delay.
    let after = failed_login(&server, USER);
    assert!(after < third, "{after:?} {third:?}");
}

#[test]
fn connection_caps_answer_53300() {
    if !have("psql", &["--version"]) {
        return;
    }
    let server = Server::start(&[("AIONDB_PGWIRE_MAX_CONNECTIONS_PER_IP", "2")]);
    let held: Vec<TcpStream> = (0..2).map(|_| connect(server.port)).collect();
    // Admission is counted at accept: wait until both are.
    std::thread::sleep(Duration::from_millis(300));
    let mut s = connect(server.port);
    s.write_all(&startup_packet(&[("user", USER), ("database", "aiondb")]))
        .expect("send startup");
    let (tag, body) = read_msg(&mut s).expect("an answer");
    assert_eq!(tag, b'E');
    assert_eq!(sqlstate(&body), "53300");
    assert!(read_msg(&mut s).is_none(), "the connection must close");
    let out = server.psql_command(&server.conninfo_with(""), "SELECT 1");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("sorry, too many clients already"),
        "{}",
        text(&out.stderr)
    );
    drop(held);
    // Slots free again once those close.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = server.psql_command(&server.conninfo_with(""), "SELECT 7");
        if text(&out.stdout) == "7\n" {
            break;
        }
        assert!(Instant::now() < deadline, "{}", text(&out.stderr));
        std::thread::sleep(Duration::from_millis(100));
    }

    let total = Server::start(&[("AIONDB_PGWIRE_MAX_CONNECTIONS", "1")]);
    let _held = connect(total.port);
    std::thread::sleep(Duration::from_millis(300));
    let mut s = connect(total.port);
    s.write_all(&startup_packet(&[("user", USER), ("database", "aiondb")]))
        .expect("send startup");
    let (tag, body) = read_msg(&mut s).expect("an answer");
    assert_eq!((tag, sqlstate(&body).as_str()), (b'E', "53300"));
}

#[test]
fn slow_and_malformed_clients_do_not_block_others() {
    if !have("psql", &["--version"]) {
        return;
    }
    let server = Server::start(&[("AIONDB_BENCH_MODE", "true")]);
    // Half a startup packet, then silence.
    let mut stalled = connect(server.port);
    stalled.write_all(&[0, 0, 0, 100, 0, 3]).expect("write");
    // Half a message after a complete startup.
    let mut half = connect(server.port);
    half.write_all(&startup_packet(&[("user", USER), ("database", "aiondb")]))
        .expect("startup");
    while let Some((tag, _)) = read_msg(&mut half) {
        if tag == b'Z' {
            break;
        }
    }
    half.write_all(b"Q\0\0\0\x20SELE").expect("write");
    let out = server.psql_command(&server.conninfo_with(""), "SELECT 'served'");
    assert_eq!(text(&out.stdout), "served\n", "{}", text(&out.stderr));

    // A malformed message ends only its own connection, with 08P01.
    let mut bad = connect(server.port);
    bad.write_all(&startup_packet(&[("user", USER), ("database", "aiondb")]))
        .expect("startup");
    while let Some((tag, _)) = read_msg(&mut bad) {
        if tag == b'Z' {
            break;
        }
    }
    bad.write_all(b"Q\0\0\0\x02").expect("write");
    let (tag, body) = read_msg(&mut bad).expect("an error");
    assert_eq!((tag, sqlstate(&body).as_str()), (b'E', "08P01"));
    assert!(read_msg(&mut bad).is_none(), "the connection must close");
    // A bad startup length too.
    let mut bad = connect(server.port);
    bad.write_all(&[0, 0, 0, 2]).expect("write");
    let (tag, body) = read_msg(&mut bad).expect("an error");
    assert_eq!((tag, sqlstate(&body).as_str()), (b'E', "08P01"));
    let out = server.psql_command(&server.conninfo_with(""), "SELECT 'still served'");
    assert_eq!(text(&out.stdout), "still served\n", "{}", text(&out.stderr));
    drop((stalled, half));
}

/// `name value` of unlabelled series on `/metrics`.
fn metric(port: u16, name: &str) -> f64 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect metrics");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.lines()
        .find_map(|l| {
            let (n, v) = l.split_once(' ')?;
            (n == name).then(|| v.trim().parse::<f64>().ok()).flatten()
        })
        .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{body}"))
}

fn wait_metric(port: u16, name: &str, want: impl Fn(f64) -> bool) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = metric(port, name);
        if want(v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{name} stuck at {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn connection_and_auth_failure_metrics() {
    if !have("psql", &["--version"]) {
        return;
    }
    let server = Server::start_with(&[("AIONDB_PGWIRE_AUTH_FAILURE_BACKOFF_MS", "10")], true);
    let port = server.metrics_port.expect("metrics port");
    assert_eq!(metric(port, "aiondb_pgwire_connections_active"), 0.0);
    assert_eq!(metric(port, "aiondb_auth_failures_total"), 0.0);
    let out = server.psql_command(&server.conninfo_with(""), "SELECT 1");
    assert!(out.status.success(), "{}", text(&out.stderr));
    failed_login(&server, USER);
    failed_login(&server, "nobody");
    assert_eq!(metric(port, "aiondb_auth_failures_total"), 2.0);
    assert!(metric(port, "aiondb_pgwire_connections_total") >= 3.0);
    let held = connect(server.port);
    wait_metric(port, "aiondb_pgwire_connections_active", |v| v == 1.0);
    drop(held);
    wait_metric(port, "aiondb_pgwire_connections_active", |v| v == 0.0);
}
