//! Crash recovery: concurrent writers commit through pgwire while the server
//! is killed with SIGKILL at a random moment, then it restarts on the same
//! directory. Every acknowledged commit must be there; a commit in flight
//! may or may not be, but never half of it; indexes, constraints and DDL
//! of earlier cycles must be intact.
//!
//! `CRASH_CYCLES` sets the number of cycles (20 by default; run
//! `CRASH_CYCLES=100 cargo test -p aiondb-integration-tests --test
//! crash -- --nocapture` for a longer run).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aiondb_integration_tests::wire::Server;
use postgres::{Client, NoTls};

const WRITERS: i32 = 4;

/// What one writer knows about its commits.
#[derive(Default)]
struct Ledger {
    /// COMMIT returned success.
    acked: BTreeSet<i64>,
    /// COMMIT was sent but no answer came back: either outcome is allowed.
    in_doubt: BTreeSet<i64>,
}

/// A small deterministic generator (no dependency for randomness).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn connect(server: &Server) -> Client {
    let conninfo = server.conninfo(&server.password);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match Client::connect(&conninfo, NoTls) {
            Ok(c) => return c,
            Err(e) if Instant::now() < deadline => {
                eprintln!("connect retry: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("connect: {e}"),
        }
    }
}

fn writer(conninfo: &str, w: i32, start: i64, ledger: Arc<Mutex<Ledger>>, stop: Arc<AtomicBool>) {
    let Ok(mut c) = Client::connect(conninfo, NoTls) else {
        return;
    };
    let mut seq = start;
    while !stop.load(Ordering::Relaxed) {
        seq += 1;
        // Two tables and a counter in one transaction: atomicity is checked
        // by comparing them after the crash.
        let r = c.batch_execute(&format!(
            "BEGIN;
             INSERT INTO events (writer, seq, payload) VALUES ({w}, {seq}, repeat('x', {}));
             INSERT INTO event_log (writer, seq) VALUES ({w}, {seq});
             UPDATE totals SET n = n + 1, last_seq = {seq} WHERE writer = {w};",
            (seq % 7) * 50
        ));
        if r.is_err() {
            return;
        }
        // Only the COMMIT's outcome is in doubt when the server dies.
        ledger.lock().expect("ledger").in_doubt.insert(seq);
        match c.batch_execute("COMMIT") {
            Ok(()) => {
                let mut l = ledger.lock().expect("ledger");
                l.in_doubt.remove(&seq);
                l.acked.insert(seq);
            }
            Err(_) => return,
        }
        if seq % 10 == 0 {
            // An aborted transaction must leave no trace.
            let _ = c.batch_execute(&format!(
                "BEGIN; INSERT INTO events (writer, seq, payload) VALUES ({w}, {}, 'rolled back'); ROLLBACK;",
                -seq
            ));
        }
    }
}

fn check(server: &Server, ledgers: &[Arc<Mutex<Ledger>>], cycle: u32) -> i64 {
    let mut c = connect(server);
    let mut max_seq = 0;
    for (w, ledger) in ledgers.iter().enumerate() {
        let w = w as i32;
        let l = ledger.lock().expect("ledger");
        let present: BTreeSet<i64> = c
            .query("SELECT seq FROM events WHERE writer = $1", &[&w])
            .expect("events")
            .iter()
            .map(|r| r.get::<_, i64>(0))
            .collect();
        for seq in &l.acked {
            assert!(
                present.contains(seq),
                "cycle {cycle}: writer {w}'s acknowledged commit {seq} is missing"
            );
        }
        for seq in &present {
            assert!(
                l.acked.contains(seq) || l.in_doubt.contains(seq),
                "cycle {cycle}: writer {w} has row {seq} that was never committed"
            );
        }
        let logged: BTreeSet<i64> = c
            .query("SELECT seq FROM event_log WHERE writer = $1", &[&w])
            .expect("event_log")
            .iter()
            .map(|r| r.get::<_, i64>(0))
            .collect();
        assert_eq!(
            present, logged,
            "cycle {cycle}: writer {w}: half-applied transaction"
        );
        let row = c
            .query_one("SELECT n, last_seq FROM totals WHERE writer = $1", &[&w])
            .expect("totals");
        assert_eq!(
            row.get::<_, i64>(0),
            present.len() as i64,
            "cycle {cycle}: writer {w}: counter disagrees with its rows"
        );
        let last = present.iter().next_back().copied().unwrap_or(0);
        assert_eq!(row.get::<_, i64>(1), last, "cycle {cycle}: writer {w}");
        max_seq = max_seq.max(last);
    }
    // The index answers what a scan answers.
    let by_index: i64 = c
        .query_one(
            "SELECT count(*) FROM events WHERE writer = 1 AND seq > 0",
            &[],
        )
        .expect("count")
        .get(0);
    let by_scan: i64 = c
        .query_one(
            "SELECT count(*) FROM events WHERE writer + 0 = 1 AND seq + 0 > 0",
            &[],
        )
        .expect("count")
        .get(0);
    assert_eq!(by_index, by_scan, "cycle {cycle}: index and table disagree");
    let negative: i64 = c
        .query_one("SELECT count(*) FROM events WHERE seq < 0", &[])
        .expect("count")
        .get(0);
    assert_eq!(negative, 0, "cycle {cycle}: a rolled-back row survived");
    // Constraints still hold.
    let e = c
        .batch_execute("INSERT INTO events (writer, seq, payload) VALUES (-1, 0, 'dup')")
        .expect_err("primary key");
    assert_eq!(e.code().map(|s| s.code()), Some("23505"), "cycle {cycle}");
    let e = c
        .batch_execute("INSERT INTO event_log (writer, seq) VALUES (0, -1)")
        .expect_err("foreign key");
    assert_eq!(e.code().map(|s| s.code()), Some("23503"), "cycle {cycle}");
    // Tables created in earlier cycles, with their rows.
    for k in 0..cycle {
        let n: i64 = c
            .query_one(&format!("SELECT count(*) FROM cycle_{k}"), &[])
            .unwrap_or_else(|e| panic!("cycle {cycle}: table cycle_{k}: {e}"))
            .get(0);
        assert_eq!(n, 1, "cycle {cycle}: cycle_{k}");
    }
    max_seq
}

#[test]
fn acknowledged_commits_survive_sigkill() {
    let cycles: u32 = std::env::var("CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = std::env::temp_dir().join(format!("aiondb-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ledgers: Vec<Arc<Mutex<Ledger>>> = (0..WRITERS)
        .map(|_| Arc::new(Mutex::new(Ledger::default())))
        .collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id()));
    let env = [("AIONDB_STORAGE_DURABLE_WAL_SEGMENT_BYTES", "1048576")];
    {
        let server = Server::start_durable(&dir, &env);
        let mut c = connect(&server);
        c.batch_execute(
            "CREATE TABLE events (writer int, seq bigint, payload text NOT NULL,
                                  PRIMARY KEY (writer, seq));
             CREATE TABLE event_log (id bigserial PRIMARY KEY, writer int, seq bigint,
                                     FOREIGN KEY (writer, seq) REFERENCES events (writer, seq));
             CREATE INDEX event_log_seq ON event_log (writer, seq);
             CREATE TABLE totals (writer int PRIMARY KEY, n bigint NOT NULL CHECK (n >= 0),
                                  last_seq bigint NOT NULL);
             INSERT INTO totals SELECT g, 0, 0 FROM generate_series(0, 3) g;
             INSERT INTO events VALUES (-1, 0, 'sentinel');",
        )
        .expect("schema");
        server.kill9();
    }
    let started = Instant::now();
    for cycle in 0..cycles {
        let server = Server::start_durable(&dir, &env);
        let max_seq = check(&server, &ledgers, cycle);
        // Some DDL each cycle: the catalog must recover too.
        connect(&server)
            .batch_execute(&format!(
                "CREATE TABLE cycle_{cycle} (k int PRIMARY KEY); INSERT INTO cycle_{cycle} VALUES ({cycle});"
            ))
            .expect("cycle table");
        let stop = Arc::new(AtomicBool::new(false));
        let conninfo = server.conninfo(&server.password);
        let handles: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (conninfo, ledger, stop) = (
                    conninfo.clone(),
                    Arc::clone(&ledgers[w as usize]),
                    Arc::clone(&stop),
                );
                let start = max_seq + 1_000_000 * i64::from(cycle + 1);
                std::thread::spawn(move || writer(&conninfo, w, start, ledger, stop))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(100 + rng.next() % 700));
        // Killed while the writers are mid-flight.
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            let _ = h.join();
        }
    }
    let server = Server::start_durable(&dir, &env);
    check(&server, &ledgers, cycles);
    let acked: usize = ledgers
        .iter()
        .map(|l| l.lock().expect("l").acked.len())
        .sum();
    eprintln!(
        "{cycles} SIGKILL cycles in {:?}: {acked} acknowledged commits all present",
        started.elapsed()
    );
    assert!(acked > 0, "the writers never committed");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
