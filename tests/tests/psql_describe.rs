//! psql's describe commands (`\d`, `\dt`, `\d table`, `\d+`, `\di`, `\dn`,
//! `\du`, `\dv`, `\ds`, `\l`) against the `aiondb` binary, compared with
//! what the reference PostgreSQL 15 prints for the same schema.
//!
//! The test creates a scratch database on the local PostgreSQL (as the
//! `postgres` superuser; through `runuser` when run as root, like
//! `tests/slt/tools/verify_pg.py`), runs the same schema script on both
//! servers and the same psql commands against both, and compares the
//! output. AionDB's bootstrap user is named `postgres`, so owner columns
//! match. Locally, a missing psql or PostgreSQL skips the test; with
//! `CI` set it fails.
//!
//! The schema avoids what AionDB stores as text and PostgreSQL deparses
//! from its expression trees (`CHECK (price > 0::numeric)` for a numeric
//! column, `'x'::text` defaults): those print differently.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use aiondb_integration_tests::*;

const USER: &str = "postgres";
const PASSWORD: &str = "Describe-Passw0rd!";

const SCHEMA: &str = "
CREATE TABLE authors (id serial PRIMARY KEY, name text NOT NULL, email varchar(100) UNIQUE, created date DEFAULT current_date);
CREATE TABLE books (id int PRIMARY KEY, author_id int REFERENCES authors(id) ON DELETE CASCADE, title text NOT NULL, price numeric(10,2), pages int DEFAULT 100 CHECK (pages > 0), published boolean NOT NULL DEFAULT false);
CREATE INDEX books_title_idx ON books (title);
CREATE UNIQUE INDEX books_author_title ON books (author_id, title);
CREATE VIEW cheap_books AS SELECT id, title FROM books WHERE price < 10;
CREATE SEQUENCE counter_seq;
CREATE SCHEMA inventory;
CREATE TABLE inventory.items (sku text PRIMARY KEY, qty int NOT NULL DEFAULT 0, book_id int REFERENCES books(id));
";

const COMMANDS: &[&str] = &[
    "\\d",
    "\\dt",
    "\\di",
    "\\dv",
    "\\ds",
    "\\dn",
    "\\d authors",
    "\\d books",
    "\\d+ books",
    "\\d+ authors",
    "\\d inventory.items",
    "\\dt inventory.*",
    "\\d books_pkey",
    "\\d books_author_title",
    "\\d counter_seq",
    "\\d authors_id_seq",
    "\\d cheap_books",
];

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn skip_or_fail(why: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{why} (required in CI: .ci/run installs and starts PostgreSQL)"
    );
    eprintln!("skipping: {why}");
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| text(&o.stdout).trim() == "0")
}

/// psql against the reference PostgreSQL, as its superuser.
fn pg_psql(db: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = if is_root() && std::env::var_os("PGUSER").is_none() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", "psql"]);
        c
    } else {
        Command::new("psql")
    };
    cmd.args(["-X", "-d", db]).args(args);
    run(cmd, stdin)
}

fn run(mut cmd: Command, stdin: Option<&str>) -> Output {
    cmd.env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run psql");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).expect("write script");
    }
    drop(input);
    child.wait_with_output().expect("psql output")
}

struct Server {
    child: Child,
    port: u16,
    _lines: Receiver<String>,
}

impl Server {
    fn start() -> Server {
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

    fn psql(&self, db: &str, args: &[&str], stdin: Option<&str>) -> Output {
        let conninfo = format!(
            "host=127.0.0.1 port={} user={USER} password={PASSWORD} dbname={db}",
            self.port
        );
        let mut cmd = Command::new("psql");
        cmd.arg(conninfo).arg("-X").args(args);
        run(cmd, stdin)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Drops the scratch database on the reference server when the test ends.
struct PgDatabase(String);

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let _ = pg_psql(
            "postgres",
            &["-c", &format!("DROP DATABASE IF EXISTS {}", self.0)],
            None,
        );
    }
}

/// The reference server's scratch database with the schema, or `None` when
/// psql or PostgreSQL is unavailable (after skip_or_fail).
fn reference_database() -> Option<PgDatabase> {
    let probe = Command::new("psql").arg("--version").output();
    if !probe.is_ok_and(|o| o.status.success()) {
        skip_or_fail("psql is not installed");
        return None;
    }
    let ping = pg_psql("postgres", &["-t", "-A", "-c", "SELECT 1"], None);
    if !ping.status.success() {
        skip_or_fail(&format!(
            "the reference PostgreSQL is not reachable: {}",
            text(&ping.stderr).trim()
        ));
        return None;
    }
    let name = format!("aiondb_describe_{}", std::process::id());
    let created = pg_psql(
        "postgres",
        &["-c", &format!("CREATE DATABASE {name}")],
        None,
    );
    assert!(
        created.status.success(),
        "CREATE DATABASE on the reference server: {}",
        text(&created.stderr)
    );
    let db = PgDatabase(name);
    let out = pg_psql(&db.0, &["-v", "ON_ERROR_STOP=1", "-q"], Some(SCHEMA));
    assert!(
        out.status.success(),
        "schema on the reference server: {}",
        text(&out.stderr)
    );
    Some(db)
}

#[test]
fn describe_commands_print_what_postgresql_prints() {
    let Some(pg) = reference_database() else {
        return;
    };
    let server = Server::start();
    let out = server.psql(&pg.0, &["-v", "ON_ERROR_STOP=1", "-q"], Some(SCHEMA));
    assert!(
        out.status.success(),
        "schema on aiondb: {}",
        text(&out.stderr)
    );
    let mut failures = Vec::new();
    for cmd in COMMANDS {
        let ours = server.psql(&pg.0, &["-c", cmd], None);
        let theirs = pg_psql(&pg.0, &["-c", cmd], None);
        assert!(
            theirs.status.success(),
            "{cmd} on the reference server: {}",
            text(&theirs.stderr)
        );
        let (o, t) = (text(&ours.stdout), text(&theirs.stdout));
        if o != t || !ours.status.success() {
            failures.push(format!(
                "{cmd}\n--- aiondb (stderr: {})\n{o}\n--- PostgreSQL\n{t}",
                text(&ours.stderr).trim()
            ));
        }
    }
    // `\l` lists every database of the reference cluster: compare the row
    // of the test database, without the locale columns (the cluster's).
    let row = |o: &Output| -> Option<String> {
        text(&o.stdout)
            .lines()
            .find(|l| l.starts_with(&format!("{}|", pg.0)))
            .map(|l| {
                l.split('|')
                    .enumerate()
                    .filter(|(k, _)| *k != 3 && *k != 4)
                    .map(|(_, f)| f)
                    .collect::<Vec<_>>()
                    .join("|")
            })
    };
    let ours = row(&server.psql(&pg.0, &["-A", "-c", "\\l"], None));
    let theirs = row(&pg_psql(&pg.0, &["-A", "-c", "\\l"], None));
    assert!(
        theirs.is_some(),
        "the reference \\l lists the test database"
    );
    if ours != theirs {
        failures.push(format!(
            "\\l\n--- aiondb\n{ours:?}\n--- PostgreSQL\n{theirs:?}"
        ));
    }
    // `\du` lists the reference cluster's roles, which other tests change:
    // our row is compared with the one PostgreSQL 15 prints for a bootstrap
    // superuser (taken from its `\du -A` output).
    let du = text(&server.psql(&pg.0, &["-A", "-c", "\\du"], None).stdout);
    let expected = "postgres|Superuser, Create role, Create DB, Replication, Bypass RLS|{}";
    if !du.lines().any(|l| l == expected) {
        failures.push(format!(
            "\\du\n--- aiondb\n{du}\n--- expected row\n{expected}"
        ));
    }
    assert!(
        failures.is_empty(),
        "{} of {} describe commands differ:\n\n{}",
        failures.len(),
        COMMANDS.len() + 2,
        failures.join("\n\n")
    );
}

#[test]
fn regclass_and_catalog_functions_over_psql() {
    if Command::new("psql")
        .arg("--version")
        .output()
        .map_or(true, |o| !o.status.success())
    {
        skip_or_fail("psql is not installed");
        return;
    }
    let server = Server::start();
    let script = "
CREATE TABLE t (id int PRIMARY KEY, v text);
CREATE SCHEMA s;
CREATE TABLE s.u (x int);
SELECT 't'::regclass, 's.u'::regclass, 't'::regclass::oid = (SELECT oid FROM pg_class WHERE relname = 't');
SELECT 'nope'::regclass;
SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute WHERE attrelid = 't'::regclass AND attnum > 0 ORDER BY attnum;
SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 't'::regclass;
SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 's';
SELECT count(*) > 0 FROM pg_catalog.pg_type WHERE typname = 'int4' AND oid = 23;
SELECT current_schemas(false), pg_get_userbyid(10), pg_size_pretty(10240::bigint), 'int4'::regtype, 23::regtype;
";
    let out = server.psql("aiondb", &["-q", "-A", "-t"], Some(script));
    assert_eq!(
        text(&out.stdout),
        "t|s.u|t\n\
         id|integer|t\n\
         v|text|f\n\
         CREATE UNIQUE INDEX t_pkey ON public.t USING btree (id)\n\
         u|x|integer\n\
         t\n\
         {public}|postgres|10 kB|integer|integer\n"
    );
    assert!(
        text(&out.stderr).contains("relation \"nope\" does not exist"),
        "{}",
        text(&out.stderr)
    );
}
