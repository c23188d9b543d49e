//! Lanes (the pgwire plugin's `server/lanes.rs`): one engine worker
//! serving several connections that are idle between statements. These
//! run with a single lane, so every such connection shares one thread, and
//! check that sharing it changes nothing a client can see: answers go to
//! the right client, connections move to and from the lane as their
//! transactions begin and end, and a statement that waits (for a row lock
//! held by another client's open transaction) holds up neither the lock
//! holder nor the lane's other clients.

use std::io::Write;
use std::net::TcpStream;
use std::thread::sleep;
use std::time::Duration;

use aiondb_integration_tests::wire::*;

const BENCH: (&str, &str) = ("AIONDB_BENCH_MODE", "true");
const ONE_LANE: (&str, &str) = ("AIONDB_PGWIRE_LANES", "1");

fn ask(s: &mut TcpStream, sql: &str) -> Vec<String> {
    s.write_all(&simple_query(sql)).expect("write");
    answers_until_ready(s)
}

#[test]
fn clients_sharing_a_lane_each_get_their_own_answers() {
    clients_get_their_own_answers(&[BENCH, ONE_LANE]);
}

/// Two lanes kept to CPUs: connections also move between lanes to follow
/// their clients' CPUs.
#[test]
fn clients_moving_between_lanes_each_get_their_own_answers() {
    clients_get_their_own_answers(&[
        BENCH,
        ("AIONDB_PGWIRE_LANES", "2"),
        ("AIONDB_PGWIRE_LANE_AFFINITY", "true"),
    ]);
    clients_get_their_own_answers(&[
        BENCH,
        ("AIONDB_PGWIRE_LANES", "3"),
        ("AIONDB_PGWIRE_LANE_AFFINITY", "false"),
    ]);
}

/// Six clients, each running 200 pipelined rounds of its own queries and
/// a few transaction blocks; every answer is checked.
fn clients_get_their_own_answers(env: &[(&str, &str)]) {
    let server = Server::start(env);
    let mut setup = raw_session(server.port);
    assert_eq!(
        ask(&mut setup, "CREATE TABLE k (id int PRIMARY KEY, n int)"),
        ["CREATE TABLE"]
    );
    let clients: Vec<_> = (0..6)
        .map(|c| {
            let port = server.port;
            std::thread::spawn(move || {
                let mut s = raw_session(port);
                assert_eq!(
                    ask(&mut s, &format!("INSERT INTO k VALUES ({c}, 0)")),
                    ["INSERT 0 1"]
                );
                for i in 0..200 {
                    // Three queries in one message, as a pipelining client
                    // sends them: all answered, in order, to this client.
                    let mut batch = simple_query(&format!("SELECT {c} * 1000 + {i}"));
                    batch.extend(simple_query(&format!(
                        "UPDATE k SET n = n + 1 WHERE id = {c}"
                    )));
                    batch.extend(simple_query(&format!("SELECT n FROM k WHERE id = {c}")));
                    s.write_all(&batch).expect("write");
                    let want = (c * 1000 + i).to_string();
                    assert_eq!(answers_until_ready(&mut s), [want.as_str(), "SELECT 1"]);
                    assert_eq!(answers_until_ready(&mut s), ["UPDATE 1"]);
                    let n = (i + 1).to_string();
                    assert_eq!(answers_until_ready(&mut s), [n.as_str(), "SELECT 1"]);
                    if i % 50 == 7 {
                        // Off the lane for a transaction block, and back.
                        assert_eq!(ask(&mut s, "BEGIN"), ["BEGIN"]);
                        assert_eq!(
                            ask(&mut s, &format!("UPDATE k SET n = n + 0 WHERE id = {c}")),
                            ["UPDATE 1"]
                        );
                        assert_eq!(ask(&mut s, "COMMIT"), ["COMMIT"]);
                    }
                }
            })
        })
        .collect();
    for c in clients {
        c.join().expect("a client failed");
    }
    assert_eq!(
        ask(&mut setup, "SELECT sum(n) FROM k"),
        ["1200", "SELECT 1"]
    );
}

#[test]
fn a_statement_waiting_for_a_lock_holds_up_no_one() {
    // One lane and one configured engine worker: the waiting UPDATE runs
    // on the lane's worker.
    let server = Server::start(&[BENCH, ONE_LANE, ("AIONDB_ENGINE_POOL_WORKER_THREADS", "1")]);
    let mut holder = raw_session(server.port);
    let mut waiter = raw_session(server.port);
    let mut other = raw_session(server.port);
    assert_eq!(
        ask(
            &mut holder,
            "CREATE TABLE l (id int PRIMARY KEY, v int); INSERT INTO l VALUES (1, 0)"
        ),
        ["CREATE TABLE", "INSERT 0 1"]
    );
    // The other client is busy on the lane before the wait starts.
    for i in 0..20 {
        assert_eq!(ask(&mut other, &format!("SELECT {i}"))[0], i.to_string());
    }
    assert_eq!(
        ask(&mut holder, "BEGIN; UPDATE l SET v = 1 WHERE id = 1"),
        ["BEGIN", "UPDATE 1"]
    );
    // An autocommit UPDATE of the locked row: it waits on the lane.
    waiter
        .write_all(&simple_query("UPDATE l SET v = v + 10 WHERE id = 1"))
        .expect("write");
    sleep(Duration::from_millis(100));
    // The lane's other client is answered meanwhile...
    for i in 0..20 {
        assert_eq!(
            ask(&mut other, &format!("SELECT {i} + 100"))[0],
            (i + 100).to_string()
        );
    }
    // ...and so is the lock holder, whose COMMIT lets the waiter go on.
    assert_eq!(ask(&mut holder, "COMMIT"), ["COMMIT"]);
    assert_eq!(answers_until_ready(&mut waiter), ["UPDATE 1"]);
    assert_eq!(
        ask(&mut other, "SELECT v FROM l WHERE id = 1"),
        ["11", "SELECT 1"]
    );
}

#[test]
fn lanes_off_serves_one_connection_per_worker() {
    let server = Server::start(&[BENCH, ("AIONDB_PGWIRE_LANES", "0")]);
    let mut a = raw_session(server.port);
    let mut b = raw_session(server.port);
    for i in 0..50 {
        assert_eq!(ask(&mut a, &format!("SELECT {i}"))[0], i.to_string());
        assert_eq!(ask(&mut b, &format!("SELECT -{i}"))[0], (-i).to_string());
    }
}
