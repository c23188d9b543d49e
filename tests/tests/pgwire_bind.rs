//! Bind messages with raw protocol bytes: parameter and result format
//! codes in all three forms (none, one for all, one each), the unnamed
//! portal bound again and again (its buffers are reused), and the errors a
//! Bind can raise. 08P01 closes the connection, as in PostgreSQL, so each
//! of those gets a session of its own.

use std::io::Write;
use std::net::TcpStream;

use aiondb_integration_tests::wire::*;
use postgres_protocol::message::frontend;
use postgres_protocol::IsNull;

const BENCH: (&str, &str) = ("AIONDB_BENCH_MODE", "true");

fn cstr(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(s.as_bytes());
    b.push(0);
}

fn parse(name: &str, sql: &str) -> Vec<u8> {
    encoded(|b| frontend::parse(name, sql, [], b))
}

/// A Bind; `None` parameters are NULL. Counts are written as given, so
/// a Bind that does not fit its statement can be sent too.
fn bind(portal: &str, stmt: &str, pf: &[i16], params: &[Option<&[u8]>], rf: &[i16]) -> Vec<u8> {
    encoded(|b| {
        frontend::bind(
            portal,
            stmt,
            pf.iter().copied(),
            params.iter(),
            |p, buf| match p {
                Some(v) => {
                    buf.extend_from_slice(v);
                    Ok(IsNull::No)
                }
                None => Ok(IsNull::Yes),
            },
            rf.iter().copied(),
            b,
        )
        .map_err(|_| "a Bind too long to encode")
    })
}

fn execute(portal: &str) -> Vec<u8> {
    encoded(|b| frontend::execute(portal, 0, b))
}

fn sync() -> Vec<u8> {
    message(b'S', &[])
}

/// Everything up to ReadyForQuery: each DataRow as its columns (text, or
/// `b:` and hex for binary-looking values), command tags, `E<sqlstate>`.
fn until_ready(s: &mut TcpStream) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let Some((tag, body)) = read_msg(s) else {
            seen.push("closed".into());
            return seen;
        };
        match tag {
            b'Z' => return seen,
            b'D' => {
                let n = i16::from_be_bytes([body[0], body[1]]) as usize;
                let mut pos = 2;
                let mut cols = Vec::new();
                for _ in 0..n {
                    let len = i32::from_be_bytes([
                        body[pos],
                        body[pos + 1],
                        body[pos + 2],
                        body[pos + 3],
                    ]);
                    pos += 4;
                    if len < 0 {
                        cols.push("NULL".to_string());
                        continue;
                    }
                    let v = &body[pos..pos + len as usize];
                    pos += len as usize;
                    cols.push(if v.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
                        text(v)
                    } else {
                        format!(
                            "b:{}",
                            v.iter().map(|b| format!("{b:02x}")).collect::<String>()
                        )
                    });
                }
                seen.push(cols.join("|"));
            }
            b'C' => seen.push(text(&body[..body.len() - 1])),
            b'E' => seen.push(format!("E{}", sqlstate(&body))),
            _ => {}
        }
    }
}

/// Sends the messages and a Sync; returns what came back.
fn round(s: &mut TcpStream, msgs: &[Vec<u8>]) -> Vec<String> {
    let mut all: Vec<u8> = msgs.concat();
    all.extend(sync());
    s.write_all(&all).expect("write");
    until_ready(s)
}

#[test]
fn format_codes_and_a_rebound_unnamed_portal() {
    let server = Server::start(&[BENCH]);
    let mut s = raw_session(server.port);
    let sql = "SELECT $1::int4 + 1, $2::text, $3::int8";
    assert_eq!(round(&mut s, &[parse("", sql)]), Vec::<String>::new());
    let seven = 7i32.to_be_bytes();
    let nine = 9i64.to_be_bytes();
    // No codes: every parameter and column in text.
    let text_params: [Option<&[u8]>; 3] = [Some(b"41"), Some(b"x"), Some(b"5")];
    assert_eq!(
        round(&mut s, &[bind("", "", &[], &text_params, &[]), execute("")]),
        ["42|x|5", "SELECT 1"]
    );
    // One code for all: binary parameters; one result code for all.
    let bin_params: [Option<&[u8]>; 3] = [Some(&seven), Some(b"y"), Some(&nine)];
    assert_eq!(
        round(
            &mut s,
            &[bind("", "", &[1], &bin_params, &[1]), execute("")]
        ),
        ["b:00000008|y|b:0000000000000009", "SELECT 1"]
    );
    // One code each, mixed; and a NULL.
    let mixed: [Option<&[u8]>; 3] = [Some(&seven), None, Some(b"-3")];
    assert_eq!(
        round(
            &mut s,
            &[bind("", "", &[1, 0, 0], &mixed, &[0, 0, 1]), execute("")]
        ),
        ["8|NULL|b:fffffffffffffffd", "SELECT 1"]
    );
    // The unnamed portal again and again, with new values each time.
    for i in 0..50 {
        let v = i.to_string();
        let p: [Option<&[u8]>; 3] = [Some(v.as_bytes()), Some(b"z"), Some(v.as_bytes())];
        assert_eq!(
            round(&mut s, &[bind("", "", &[], &p, &[]), execute("")]),
            [format!("{}|z|{i}", i + 1), "SELECT 1".to_string()]
        );
    }
    // A named portal next to the unnamed one; binding it twice is 42P03.
    assert_eq!(
        round(
            &mut s,
            &[
                parse("", sql),
                bind("p1", "", &[], &text_params, &[]),
                bind("", "", &[], &text_params, &[]),
                execute("p1"),
                execute(""),
            ]
        ),
        ["42|x|5", "SELECT 1", "42|x|5", "SELECT 1"]
    );
    assert_eq!(
        round(
            &mut s,
            &[
                parse("", sql),
                bind("p2", "", &[], &text_params, &[]),
                bind("p2", "", &[], &text_params, &[]),
            ]
        ),
        ["E42P03"]
    );
    // A statement that does not exist.
    assert_eq!(
        round(&mut s, &[bind("", "nope", &[], &[], &[])]),
        ["E26000"]
    );
    // A bad parameter value is an error of its own, and the session goes on.
    let bad: [Option<&[u8]>; 3] = [Some(b"forty"), Some(b"x"), Some(b"5")];
    assert_eq!(
        round(&mut s, &[parse("", sql), bind("", "", &[], &bad, &[])]),
        ["E22P02"]
    );
    assert_eq!(
        round(&mut s, &[bind("", "", &[], &text_params, &[]), execute("")]),
        ["42|x|5", "SELECT 1"]
    );
}

#[test]
fn malformed_binds_close_the_connection_with_08p01() {
    let server = Server::start(&[BENCH]);
    let sql = "SELECT $1::int4, $2::int4";
    let two: [Option<&[u8]>; 2] = [Some(b"1"), Some(b"2")];
    for (what, m) in [
        ("too few parameters", bind("", "", &[], &two[..1], &[])),
        ("a format code of 2", bind("", "", &[2], &two, &[])),
        (
            "3 result codes for 2 columns",
            bind("", "", &[], &two, &[0, 0, 0]),
        ),
        ("a result code of 7", bind("", "", &[], &two, &[7])),
        ("2 parameter codes for 1 parameter", {
            let mut b = Vec::new();
            cstr(&mut b, "");
            cstr(&mut b, "");
            b.extend_from_slice(&2i16.to_be_bytes());
            b.extend_from_slice(&[0, 0, 0, 0]);
            b.extend_from_slice(&1i16.to_be_bytes());
            b.extend_from_slice(&1i32.to_be_bytes());
            b.push(b'1');
            b.extend_from_slice(&0i16.to_be_bytes());
            message(b'B', &b)
        }),
        ("a parameter length past the end", {
            let mut b = Vec::new();
            cstr(&mut b, "");
            cstr(&mut b, "");
            b.extend_from_slice(&0i16.to_be_bytes());
            b.extend_from_slice(&1i16.to_be_bytes());
            b.extend_from_slice(&100i32.to_be_bytes());
            b.push(b'1');
            message(b'B', &b)
        }),
    ] {
        let mut s = raw_session(server.port);
        assert_eq!(
            round(&mut s, &[parse("", sql), m]),
            ["E08P01", "closed"],
            "{what}"
        );
    }
    // The server still serves new sessions.
    let mut s = raw_session(server.port);
    assert_eq!(
        round(
            &mut s,
            &[parse("", sql), bind("", "", &[], &two, &[]), execute("")]
        ),
        ["1|2", "SELECT 1"]
    );
}
