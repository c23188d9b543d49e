//! Damaged data directories: a torn last record, a flipped byte in the
//! middle of the log, a missing manifest and a manifest of another format
//! version each give a clear error (or a clear repair), and `aiondb doctor`
//! reports each of them; `aiondb upgrade` backs up and is idempotent.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use aiondb_integration_tests::aiondb_bin;
use aiondb_integration_tests::wire::{self, durable_command, free_port, Server};

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aiondb-files-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn psql_ok(server: &Server, sql: &str) -> String {
    let out = server.psql_command(&server.conninfo(&server.password), sql);
    assert!(out.status.success(), "{sql}: {}", wire::text(&out.stderr));
    wire::text(&out.stdout).trim().to_string()
}

/// A directory whose log holds `n` committed inserts (the server is killed:
/// no shutdown checkpoint).
fn populated(name: &str, n: u32) -> PathBuf {
    let dir = fresh_dir(name);
    let server = Server::start_durable(&dir, &[]);
    psql_ok(&server, "CREATE TABLE t (id int PRIMARY KEY, v text)");
    for i in 0..n {
        psql_ok(&server, &format!("INSERT INTO t VALUES ({i}, 'row {i}')"));
    }
    server.kill9();
    dir
}

fn segment(dir: &Path) -> PathBuf {
    let mut segs: Vec<PathBuf> = std::fs::read_dir(dir.join("wal"))
        .expect("wal dir")
        .map(|e| e.expect("entry").path())
        .collect();
    segs.sort();
    segs.pop().expect("a segment")
}

fn aiondb(args: &[&str], dir: &Path) -> Output {
    Command::new(aiondb_bin())
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_LOG", "info")
        .output()
        .expect("run aiondb")
}

/// Starting a server on `dir` fails; returns what it printed.
fn start_fails(dir: &Path) -> String {
    let out = durable_command(dir, &["--no-observability"], free_port())
        .output()
        .expect("run aiondb");
    assert!(
        !out.status.success(),
        "the server started on a bad directory"
    );
    wire::text(&out.stderr)
}

#[test]
fn a_torn_last_record_is_truncated_and_reported() {
    let dir = populated("torn", 5);
    let seg = segment(&dir);
    let len = std::fs::metadata(&seg).expect("meta").len();
    // Cut the last commit's frame in half, as a crash mid-write would.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .and_then(|f| f.set_len(len - 10))
        .expect("truncate");
    let out = aiondb(&["doctor"], &dir);
    let report = wire::text(&out.stdout);
    assert!(
        out.status.success(),
        "a torn tail is not corruption:\n{report}"
    );
    assert!(
        report.contains("torn record at the end of WAL segment"),
        "{report}"
    );
    let server = Server::start_durable(&dir, &[]);
    // The cut commit is gone, the four before it are there.
    assert_eq!(psql_ok(&server, "SELECT count(*), max(id) FROM t"), "4|3");
    drop(server);
    let out = aiondb(&["doctor"], &dir);
    assert!(wire::text(&out.stdout).contains("findings: none"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_flipped_byte_mid_log_stops_start_naming_segment_and_offset() {
    let dir = populated("flip", 6);
    let seg = segment(&dir);
    let mut bytes = std::fs::read(&seg).expect("read");
    bytes[20] ^= 0x01;
    std::fs::write(&seg, &bytes).expect("write");
    let seg_name = seg.file_name().expect("name").to_string_lossy().to_string();
    let said = start_fails(&dir);
    assert!(
        said.contains(&format!(
            "write-ahead log segment {seg_name} is corrupt at offset 0"
        )),
        "{said}"
    );
    let out = aiondb(&["doctor"], &dir);
    let report = wire::text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains(&format!(
            "CRC failure in WAL segment {seg_name} at offset 0"
        )),
        "{report}"
    );
    // Nothing was changed by either.
    assert_eq!(std::fs::read(&seg).expect("read"), bytes);
    let out = aiondb(&["upgrade"], &dir);
    assert!(
        !out.status.success(),
        "upgrade must refuse a corrupt directory"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_manifest_is_refused_until_upgrade_which_backs_up_first() {
    let dir = populated("nomanifest", 3);
    std::fs::remove_file(dir.join("AIONDB_MANIFEST")).expect("rm manifest");
    let said = start_fails(&dir);
    assert!(said.contains("no storage manifest"), "{said}");
    assert!(said.contains("aiondb upgrade --data-dir"), "{said}");
    let out = aiondb(&["doctor"], &dir);
    let report = wire::text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains("storage manifest: missing"), "{report}");
    assert!(report.contains("upgrade: possible"), "{report}");

    let out = aiondb(&["upgrade"], &dir);
    let said = wire::text(&out.stdout);
    assert!(out.status.success(), "{said}{}", wire::text(&out.stderr));
    let backup = said
        .split(" to ")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .map(PathBuf::from)
        .expect("backup path in the output");
    assert!(backup.join("wal").is_dir(), "{said}");
    assert!(!backup.join("AIONDB_MANIFEST").exists());
    // Idempotent.
    let out = aiondb(&["upgrade"], &dir);
    assert!(out.status.success());
    assert!(wire::text(&out.stdout).contains("nothing to do"));
    let server = Server::start_durable(&dir, &[]);
    assert_eq!(psql_ok(&server, "SELECT count(*) FROM t"), "3");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&backup);
}

#[test]
fn a_manifest_of_another_format_version_is_refused() {
    let dir = populated("version", 2);
    let mut m = match aiondb_storage_durable::manifest::read(&dir).expect("read") {
        aiondb_storage_durable::manifest::ManifestState::Present(m) => m,
        other => panic!("{other:?}"),
    };
    m.format_version = 2;
    aiondb_storage_durable::manifest::write(&dir, &m).expect("write");
    let said = start_fails(&dir);
    assert!(
        said.contains("uses storage format 2") && said.contains("this build reads format 1"),
        "{said}"
    );
    let out = aiondb(&["doctor"], &dir);
    let report = wire::text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains("manifest format version 2"), "{report}");
    let out = aiondb(&["upgrade"], &dir);
    assert!(!out.status.success(), "no downgrade");
    assert!(wire::text(&out.stderr).contains("newer than this build"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn doctor_on_a_healthy_directory_and_the_encryption_refusal() {
    let dir = populated("healthy", 3);
    let out = aiondb(&["doctor"], &dir);
    let report = wire::text(&out.stdout);
    assert!(out.status.success(), "{report}");
    for needle in [
        "storage manifest: present (format version 1",
        "WAL segments: 1",
        "findings: none",
        "status: ok",
    ] {
        assert!(report.contains(needle), "{needle}\n{report}");
    }
    // Without --allow-unencrypted-storage the server refuses this
    // (unencrypted) directory and says how to proceed.
    let out = Command::new(aiondb_bin())
        .args([
            "--storage-backend",
            "durable",
            "--no-observability",
            "--data-dir",
        ])
        .arg(&dir)
        .args(["--listen-addr", &format!("127.0.0.1:{}", free_port())])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let said = wire::text(&out.stderr);
    assert!(said.contains("not on an encrypted filesystem"), "{said}");
    assert!(said.contains("--allow-unencrypted-storage"), "{said}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dump_of_a_durable_directory_restores_into_another() {
    let dir = fresh_dir("dump-src");
    let server = Server::start_durable(&dir, &[]);
    psql_ok(
        &server,
        "CREATE TABLE t (id serial PRIMARY KEY, v text UNIQUE, n numeric(8,2) CHECK (n > 0));
         INSERT INTO t (v, n) VALUES ('a', 1.5), ('b''q', 2), (NULL, 3);
         CREATE VIEW tv AS SELECT v FROM t WHERE n > 1;
         CREATE ROLE app LOGIN PASSWORD 'App-Passw0rd!x'",
    );
    // A dump needs the directory to itself: stop the server first.
    assert!(server.terminate().success());
    let out = aiondb(
        &["dump", "--allow-unencrypted-storage", "--output", "out.sql"],
        &dir,
    );
    assert!(out.status.success(), "{}", wire::text(&out.stderr));
    // Never overwrites.
    let again = aiondb(
        &["dump", "--allow-unencrypted-storage", "--output", "out.sql"],
        &dir,
    );
    assert!(!again.status.success());
    const RESTORE: &[&str] = &[
        "restore",
        "--allow-unencrypted-storage",
        "--input",
        "in.sql",
    ];
    let target = fresh_dir("dump-dst");
    std::fs::create_dir_all(&target).expect("mkdir");
    std::fs::copy(dir.join("out.sql"), target.join("in.sql")).expect("copy");
    let out = aiondb(RESTORE, &target);
    assert!(out.status.success(), "{}", wire::text(&out.stderr));
    // A second restore into the now non-empty target is refused.
    let out = aiondb(RESTORE, &target);
    assert!(!out.status.success());
    let server = Server::start_durable(&target, &[]);
    assert_eq!(
        psql_ok(&server, "SELECT id, v, n FROM t ORDER BY id"),
        "1|a|1.50\n2|b'q|2.00\n3||3.00"
    );
    assert_eq!(psql_ok(&server, "SELECT count(*) FROM tv"), "3");
    assert_eq!(
        psql_ok(
            &server,
            "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'app'"
        ),
        "t"
    );
    assert_eq!(
        psql_ok(&server, "INSERT INTO t (v, n) VALUES ('c', 4) RETURNING id"),
        "4\nINSERT 0 1"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&target);
}
