//! The transport ceiling for pgbench's select-only workloads on this
//! machine: a server that speaks just enough protocol v3 for `pgbench -S`
//! (simple and `-M prepared`) and answers every query with a canned row,
//! doing no database work at all. One OS thread per connection, blocking
//! reads and one write per reply: the cheapest way to serve a socket.
//!
//! The TPS pgbench reaches against it is about the most any server can
//! reach on this host with the same pgbench flags, because pgbench and the
//! kernel's socket work share the same cores. It is measured, not a bound:
//! it moves with the host like any run (compare it with runs next to it).
//! `benches/pgbench_vs_pg.sh` runs it unless `CEILING=0`.
//!
//! ```text
//! cargo run --release -p aiondb-bench --bin wire_ceiling -- 127.0.0.1:5499
//! pgbench -h 127.0.0.1 -p 5499 -n -S -M prepared -c 4 -j 2 -T 10 x
//! ```
//! It is a measuring stick, not a server: no authentication (any user is
//! let in), no SQL, no TLS.

use std::io::{self, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5499".to_string());
    let listener = match TcpListener::bind(&addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("wire_ceiling: cannot listen on {addr}: {e}");
            std::process::exit(2);
        }
    };
    eprintln!("wire_ceiling: listening on {addr}");
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        std::thread::spawn(move || {
            // A client hanging up mid-message is the normal end here.
            let _ = serve(conn);
        });
    }
}

/// Appends message `tag` with `body` to `out`.
fn msg(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.push(tag);
    out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    out.extend_from_slice(body);
}

/// `n` int4 columns, text format.
fn row_description(out: &mut Vec<u8>, n: usize) {
    let mut b = Vec::new();
    b.extend_from_slice(&(n as u16).to_be_bytes());
    for _ in 0..n {
        b.extend_from_slice(b"x\0");
        b.extend_from_slice(&0u32.to_be_bytes()); // table oid
        b.extend_from_slice(&0u16.to_be_bytes()); // column number
        b.extend_from_slice(&23u32.to_be_bytes()); // int4
        b.extend_from_slice(&4i16.to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b.extend_from_slice(&0u16.to_be_bytes()); // text
    }
    msg(out, b'T', &b);
}

fn data_row(out: &mut Vec<u8>, values: &[Option<&str>]) {
    let mut b = Vec::new();
    b.extend_from_slice(&(values.len() as u16).to_be_bytes());
    for v in values {
        match v {
            Some(v) => {
                b.extend_from_slice(&(v.len() as u32).to_be_bytes());
                b.extend_from_slice(v.as_bytes());
            }
            None => b.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    msg(out, b'D', &b);
}

fn complete(out: &mut Vec<u8>, tag: &str) {
    let mut b = tag.as_bytes().to_vec();
    b.push(0);
    msg(out, b'C', &b);
}

/// A canned result row.
type Row = &'static [Option<&'static str>];

/// The row pgbench expects for `sql`, `None` when it is not a SELECT
/// (VACUUM, TRUNCATE, SET: those just complete). At start pgbench asks
/// how the accounts table is partitioned (three columns: not partitioned)
/// and for the scale (`count(*)` of branches); after that, for balances.
fn canned(sql: &[u8]) -> Option<Row> {
    let sql = String::from_utf8_lossy(sql).to_ascii_lowercase();
    if !sql.trim_start().starts_with("select") {
        return None;
    }
    Some(if sql.contains("partstrat") {
        &[Some("1"), None, Some("0")]
    } else if sql.contains("count(") {
        &[Some("2")]
    } else {
        &[Some("0")]
    })
}

/// The answer for a statement whose row is `row` (see `canned`).
fn answer(out: &mut Vec<u8>, row: Option<Row>, with_description: bool) {
    match row {
        Some(row) => {
            if with_description {
                row_description(out, row.len());
            }
            data_row(out, row);
            complete(out, "SELECT 1");
        }
        None => complete(out, "OK"),
    }
}

/// The NUL-terminated string at the start of `b`.
fn cstr(b: &[u8]) -> &[u8] {
    b.split(|&c| c == 0).next().unwrap_or_default()
}

/// The body length of a message whose length field says `len`; pgbench
/// sends nothing near 1 MiB, anything longer ends the connection.
fn checked_len(len: u32) -> io::Result<usize> {
    match len {
        4..=0x10_0000 => Ok(len as usize - 4),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message length {len}"),
        )),
    }
}

fn serve(conn: TcpStream) -> io::Result<()> {
    conn.set_nodelay(true)?;
    let mut w = conn.try_clone()?;
    let mut r = BufReader::with_capacity(64 * 1024, conn);
    // Startup: answer SSL/GSS requests with 'N', then take the startup
    // packet whatever it says.
    loop {
        let mut len = [0u8; 4];
        r.read_exact(&mut len)?;
        let len = checked_len(u32::from_be_bytes(len))?;
        let mut body = vec![0u8; len];
        r.read_exact(&mut body)?;
        let code = body
            .get(..4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        if matches!(code, Some(80_877_103) | Some(80_877_104)) {
            w.write_all(b"N")?;
            continue;
        }
        break;
    }
    let mut out = Vec::with_capacity(4096);
    msg(&mut out, b'R', &0u32.to_be_bytes());
    for (k, v) in [
        ("server_version", "15.0"),
        ("server_encoding", "UTF8"),
        ("client_encoding", "UTF8"),
        ("DateStyle", "ISO, MDY"),
        ("integer_datetimes", "on"),
        ("standard_conforming_strings", "on"),
    ] {
        let mut b = Vec::new();
        for s in [k, v] {
            b.extend_from_slice(s.as_bytes());
            b.push(0);
        }
        msg(&mut out, b'S', &b);
    }
    msg(&mut out, b'K', &[0, 0, 0, 1, 0, 0, 0, 1]);
    msg(&mut out, b'Z', b"I");
    w.write_all(&out)?;
    out.clear();

    // Each prepared statement's row, worked out once at Parse.
    let mut statements: Vec<(Vec<u8>, Option<Row>)> = Vec::new();
    let mut portal = None;
    let mut body = Vec::with_capacity(1024);
    loop {
        let mut head = [0u8; 5];
        r.read_exact(&mut head)?;
        let len = checked_len(u32::from_be_bytes([head[1], head[2], head[3], head[4]]))?;
        body.resize(len, 0);
        r.read_exact(&mut body)?;
        match head[0] {
            b'Q' => {
                answer(&mut out, canned(cstr(&body)), true);
                msg(&mut out, b'Z', b"I");
                w.write_all(&out)?;
                out.clear();
            }
            b'P' => {
                let name = cstr(&body);
                let row = canned(cstr(body.get(name.len() + 1..).unwrap_or_default()));
                statements.retain(|(n, _)| n != name);
                statements.push((name.to_vec(), row));
                msg(&mut out, b'1', &[]);
            }
            b'B' => {
                let pname = cstr(&body);
                let sname = cstr(body.get(pname.len() + 1..).unwrap_or_default());
                portal = statements
                    .iter()
                    .find(|(n, _)| n == sname)
                    .and_then(|&(_, row)| row);
                msg(&mut out, b'2', &[]);
            }
            b'D' => {
                // pgbench -S describes only its balance query.
                if body.first() == Some(&b'S') {
                    msg(&mut out, b't', &[0, 1, 0, 0, 0, 23]);
                }
                row_description(&mut out, 1);
            }
            b'E' => answer(&mut out, portal, false),
            b'C' => msg(&mut out, b'3', &[]),
            b'H' => {
                w.write_all(&out)?;
                out.clear();
            }
            b'S' => {
                msg(&mut out, b'Z', b"I");
                w.write_all(&out)?;
                out.clear();
            }
            b'X' => return Ok(()),
            _ => {}
        }
    }
}
