//! pgwire connections served from engine workers (the plugin's
//! `server/inline.rs`): a worker reads, runs and answers a client's
//! messages and waits `AIONDB_PGWIRE_WORKER_LINGER_US` for the next one
//! before giving the connection back. These check the edges of that
//! hand-over with raw protocol bytes: pipelined messages, messages split
//! across the linger time, COPY data that trickles in, a stalled client
//! next to working ones, shutdown with a worker waiting on a client, and
//! the plain async path with the linger at 0.

use std::io::Write;
use std::net::TcpStream;
use std::thread::sleep;
use std::time::Duration;

use aiondb_integration_tests::wire::*;

/// 2 ms: the pauses below (50 ms) are far longer, so each one makes the
/// worker hand the connection back.
const LINGER: (&str, &str) = ("AIONDB_PGWIRE_WORKER_LINGER_US", "2000");
const BENCH: (&str, &str) = ("AIONDB_BENCH_MODE", "true");
const PAUSE: Duration = Duration::from_millis(50);

fn copy_data(data: &[u8]) -> Vec<u8> {
    message(b'd', data)
}

/// Creates table `name (a int)` and starts a COPY into it, in one query;
/// returns once the server waits for the data.
fn create_and_copy(s: &mut TcpStream, name: &str) {
    s.write_all(&simple_query(&format!(
        "CREATE TABLE {name} (a int); COPY {name} FROM STDIN"
    )))
    .expect("write");
    let (tag, _) = read_msg(s).expect("CommandComplete");
    assert_eq!(tag, b'C');
    let (tag, _) = read_msg(s).expect("CopyInResponse");
    assert_eq!(tag, b'G');
}

#[test]
fn pipelined_and_split_messages() {
    let server = Server::start(&[BENCH, LINGER]);
    let mut s = raw_session(server.port);
    // Three queries in one write: answered in order.
    let mut batch = simple_query("SELECT 1");
    batch.extend(simple_query("SELECT 'two'"));
    batch.extend(simple_query("SELECT 3 + 0"));
    s.write_all(&batch).expect("write");
    assert_eq!(answers_until_ready(&mut s), ["1", "SELECT 1"]);
    assert_eq!(answers_until_ready(&mut s), ["two", "SELECT 1"]);
    assert_eq!(answers_until_ready(&mut s), ["3", "SELECT 1"]);
    // One query in pieces with pauses longer than the linger: inside the
    // head, inside the body, and a whole query plus half of the next.
    let q = simple_query("SELECT 'split'");
    for cut in [2, 9] {
        s.write_all(&q[..cut]).expect("write");
        sleep(PAUSE);
        s.write_all(&q[cut..]).expect("write");
        assert_eq!(answers_until_ready(&mut s), ["split", "SELECT 1"]);
    }
    let mut two = simple_query("SELECT 'first'");
    let second = simple_query("SELECT 'second'");
    two.extend_from_slice(&second[..7]);
    s.write_all(&two).expect("write");
    assert_eq!(answers_until_ready(&mut s), ["first", "SELECT 1"]);
    sleep(PAUSE);
    s.write_all(&second[7..]).expect("write");
    assert_eq!(answers_until_ready(&mut s), ["second", "SELECT 1"]);
    // A message longer than a worker buffers (1 MiB) is read on the
    // network side.
    let long = format!("SELECT length('{}')", "x".repeat(2 << 20));
    s.write_all(&simple_query(&long)).expect("write");
    assert_eq!(answers_until_ready(&mut s), ["2097152", "SELECT 1"]);
    // A transaction across pauses keeps its state.
    s.write_all(&simple_query(
        "BEGIN; CREATE TABLE t (a int); INSERT INTO t VALUES (1)",
    ))
    .expect("write");
    assert_eq!(
        answers_until_ready(&mut s),
        ["BEGIN", "CREATE TABLE", "INSERT 0 1"]
    );
    sleep(PAUSE);
    s.write_all(&simple_query("SELECT count(*) FROM t"))
        .expect("write");
    assert_eq!(answers_until_ready(&mut s), ["1", "SELECT 1"]);
    s.write_all(&simple_query("ROLLBACK")).expect("write");
    assert_eq!(answers_until_ready(&mut s), ["ROLLBACK"]);
    s.write_all(&simple_query("SELECT count(*) FROM t"))
        .expect("write");
    assert_eq!(answers_until_ready(&mut s), ["E42P01"]);
}

#[test]
fn copy_data_that_trickles_in() {
    let server = Server::start(&[BENCH, LINGER]);
    let mut s = raw_session(server.port);
    s.write_all(&simple_query("CREATE TABLE c (a int, b text)"))
        .expect("write");
    assert_eq!(answers_until_ready(&mut s), ["CREATE TABLE"]);
    s.write_all(&simple_query("COPY c FROM STDIN"))
        .expect("write");
    let (tag, _) = read_msg(&mut s).expect("CopyInResponse");
    assert_eq!(tag, b'G');
    // Rows arrive slower than the linger, one split inside a message.
    s.write_all(&copy_data(b"1\tone\n")).expect("write");
    sleep(PAUSE);
    let row = copy_data(b"2\ttwo\n");
    s.write_all(&row[..4]).expect("write");
    sleep(PAUSE);
    s.write_all(&row[4..]).expect("write");
    sleep(PAUSE);
    s.write_all(&[b'c', 0, 0, 0, 4]).expect("CopyDone");
    assert_eq!(answers_until_ready(&mut s), ["COPY 2"]);
    s.write_all(&simple_query("SELECT string_agg(b, ',' ORDER BY a) FROM c"))
        .expect("write");
    assert_eq!(answers_until_ready(&mut s), ["one,two", "SELECT 1"]);
}

#[test]
fn a_stalled_client_holds_no_one_else() {
    if !have("psql", &["--version"]) {
        return;
    }
    // One configured worker: a client that stops mid-message, one in
    // the middle of a COPY and one idle must not keep others waiting.
    let server = Server::start(&[BENCH, LINGER, ("AIONDB_ENGINE_POOL_WORKER_THREADS", "1")]);
    let mut half = raw_session(server.port);
    half.write_all(&simple_query("SELECT 'late'")[..8])
        .expect("write");
    let mut copying = raw_session(server.port);
    create_and_copy(&mut copying, "w");
    let _idle = raw_session(server.port);
    for i in 0..3 {
        let out = server.psql_command(&server.conninfo_with(""), &format!("SELECT {i} + 40"));
        assert_eq!(
            text(&out.stdout),
            format!("{}\n", 40 + i),
            "{}",
            text(&out.stderr)
        );
    }
    // Both waiting clients still finish.
    half.write_all(&simple_query("SELECT 'late'")[8..])
        .expect("write");
    assert_eq!(answers_until_ready(&mut half), ["late", "SELECT 1"]);
    copying.write_all(&copy_data(b"7\n")).expect("write");
    copying.write_all(&[b'c', 0, 0, 0, 4]).expect("CopyDone");
    assert_eq!(answers_until_ready(&mut copying), ["COPY 1"]);
}

#[test]
fn shutdown_with_a_worker_waiting_on_a_client() {
    let server = Server::start(&[BENCH, LINGER]);
    let mut s = raw_session(server.port);
    create_and_copy(&mut s, "x");
    // The worker now waits for COPY data that never comes; SIGTERM must
    // still end the server (the wait gives up when the surface stops).
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let status = server.terminate();
        let _ = done_tx.send(status);
    });
    let status = done_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server did not stop with a client mid-COPY");
    assert!(status.success(), "{status}");
    drop(s);
}

#[test]
fn linger_zero_serves_everything_on_the_network_side() {
    let server = Server::start(&[BENCH, ("AIONDB_PGWIRE_WORKER_LINGER_US", "0")]);
    let mut s = raw_session(server.port);
    let mut batch = simple_query("CREATE TABLE z (a int)");
    batch.extend(simple_query("COPY z FROM STDIN"));
    s.write_all(&batch).expect("write");
    assert_eq!(answers_until_ready(&mut s), ["CREATE TABLE"]);
    let (tag, _) = read_msg(&mut s).expect("CopyInResponse");
    assert_eq!(tag, b'G');
    s.write_all(&copy_data(b"1\n2\n")).expect("write");
    s.write_all(&[b'c', 0, 0, 0, 4]).expect("CopyDone");
    assert_eq!(answers_until_ready(&mut s), ["COPY 2"]);
    let q = simple_query("SELECT sum(a) FROM z");
    s.write_all(&q[..6]).expect("write");
    sleep(PAUSE);
    s.write_all(&q[6..]).expect("write");
    assert_eq!(answers_until_ready(&mut s), ["3", "SELECT 1"]);
    if have("pgbench", &["--version"]) {
        let out = server.pgbench(&["-i", "-s", "1", "-q"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let out = server.pgbench(&["-c", "2", "-t", "50"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains("number of failed transactions: 0"));
    }
}
