//! The transport ceiling for pgbench's select-only workloads on this
//! machine: a server that speaks just enough protocol v3 for `pgbench -S`
//! (simple and `-M prepared`) and answers every query with a canned row,
//! doing no database work at all. It serves sockets the cheapest way we
//! found here: one thread per CPU, kept there, each waiting in
//! `epoll_wait(2)` on the connections whose client sends from its CPU and
//! answering each batch of messages with one write, so a thread that has
//! just answered one client often finds another's query in without
//! sleeping, and client and server hand messages over on one CPU. (A
//! thread per connection with blocking reads, the first version of this
//! tool, got about 25% less here: every query then paid a sleep and a
//! wake-up.)
//!
//! The TPS pgbench reaches against it is about the most a server can
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

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

/// One event loop: where to hand it a connection, and its epoll set.
struct Loop {
    tx: Sender<Conn>,
    ep: i32,
}

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
    let cpus = allowed_cpus();
    let mut loops = Vec::new();
    let mut receivers = Vec::new();
    for _ in 0..cpus.len() {
        let (tx, rx) = channel();
        // SAFETY: plain system call.
        let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if ep < 0 {
            eprintln!("wire_ceiling: epoll: {}", io::Error::last_os_error());
            std::process::exit(2);
        }
        loops.push(Loop { tx, ep });
        receivers.push(rx);
    }
    let loops = Arc::new(loops);
    let cpus = Arc::new(cpus);
    for (i, rx) in receivers.into_iter().enumerate() {
        let (loops, cpus) = (Arc::clone(&loops), Arc::clone(&cpus));
        std::thread::spawn(move || event_loop(i, &loops, &cpus, rx));
    }
    eprintln!("wire_ceiling: listening on {addr}, {} threads", cpus.len());
    for (i, conn) in listener.incoming().enumerate() {
        let Ok(conn) = conn else { continue };
        if conn.set_nodelay(true).is_err() || conn.set_nonblocking(true).is_err() {
            continue;
        }
        let home = home(&conn, &cpus).unwrap_or(i % cpus.len());
        hand_over(&loops[home], Conn::new(conn));
    }
}

/// The CPUs this process may run on (at least one entry).
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: `set` is a live, zeroed cpu_set_t of the size passed.
    let cpus: Vec<usize> = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return vec![0];
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    };
    if cpus.is_empty() {
        vec![0]
    } else {
        cpus
    }
}

/// The loop on the CPU the client last sent from (a loopback client's
/// packets are handled on its own CPU), so the client and its loop hand
/// each message over on one CPU. Placed any other way, the runs here
/// moved between about 75k and 125k TPS with how the scheduler happened
/// to place the threads.
fn home(conn: &TcpStream, cpus: &[usize]) -> Option<usize> {
    let mut cpu: libc::c_int = -1;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `cpu` and `len` are live and sized as the option wants.
    let r = unsafe {
        libc::getsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_INCOMING_CPU,
            (&mut cpu as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r != 0 || cpu < 0 {
        return None;
    }
    cpus.iter().position(|&c| c == cpu as usize)
}

/// Gives `conn` to a loop: the connection first, so it is there when the
/// loop's epoll reports it.
fn hand_over(to: &Loop, conn: Conn) {
    let fd = conn.stream.as_raw_fd();
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: fd as u64,
    };
    if to.tx.send(conn).is_ok() {
        // SAFETY: plain system call on open descriptors.
        unsafe { libc::epoll_ctl(to.ep, libc::EPOLL_CTL_ADD, fd, &mut ev) };
    }
}

/// Loop `me`, kept on its CPU: reads what each ready connection sent and
/// answers it; every 64 answers, a connection whose client moved to
/// another CPU goes to that CPU's loop. A client hanging up is the normal
/// end of its connection here.
fn event_loop(me: usize, loops: &[Loop], cpus: &[usize], new: Receiver<Conn>) {
    // SAFETY: a zeroed cpu_set_t is the empty set; the CPU came from
    // sched_getaffinity.
    unsafe {
        let mut only: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpus[me], &mut only);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &only);
    }
    let ep = loops[me].ep;
    let mut conns: HashMap<i32, Conn> = HashMap::new();
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 64];
    let mut buf = vec![0u8; 64 * 1024];
    let mut answered = 0u64;
    loop {
        // SAFETY: the buffer outlives the call and its length is passed.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), 64, 100) };
        while let Ok(c) = new.try_recv() {
            conns.insert(c.stream.as_raw_fd(), c);
        }
        for ev in &events[..n.max(0) as usize] {
            let fd = ev.u64 as i32;
            let Some(c) = conns.get_mut(&fd) else {
                continue;
            };
            let open = match c.stream.read(&mut buf) {
                Ok(0) => false,
                Ok(got) => {
                    c.input.extend_from_slice(&buf[..got]);
                    c.answer().is_ok()
                }
                Err(e) => e.kind() == io::ErrorKind::WouldBlock,
            };
            answered += 1;
            let moved = match open && answered.is_multiple_of(64) {
                true => home(&c.stream, cpus).filter(|&h| h != me),
                false => None,
            };
            if !open || moved.is_some() {
                // SAFETY: plain system call; the descriptor is still open.
                unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()) };
                let conn = conns.remove(&fd);
                if let (Some(to), Some(conn)) = (moved, conn) {
                    hand_over(&loops[to], conn);
                }
            }
        }
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

/// A connection's state between reads.
struct Conn {
    stream: TcpStream,
    /// Bytes read and not yet handled (a message may come in pieces).
    input: Vec<u8>,
    out: Vec<u8>,
    started: bool,
    /// Each prepared statement's row, worked out once at Parse.
    statements: Vec<(Vec<u8>, Option<Row>)>,
    portal: Option<Row>,
}

impl Conn {
    fn new(stream: TcpStream) -> Conn {
        Conn {
            stream,
            input: Vec::with_capacity(1024),
            out: Vec::with_capacity(4096),
            started: false,
            statements: Vec::new(),
            portal: None,
        }
    }

    /// Handles the whole messages in `input` and writes the answers in
    /// one go. `Err`: the connection ends.
    fn answer(&mut self) -> io::Result<()> {
        let mut pos = 0;
        loop {
            let rest = &self.input[pos..];
            if !self.started {
                // Startup: SSL/GSS requests get 'N', then the startup
                // packet is taken whatever it says.
                let Some(len) = rest.get(..4) else { break };
                let len = checked_len(u32::from_be_bytes([len[0], len[1], len[2], len[3]]))?;
                let Some(body) = rest.get(4..4 + len) else {
                    break;
                };
                let code = body
                    .get(..4)
                    .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
                pos += 4 + len;
                if matches!(code, Some(80_877_103) | Some(80_877_104)) {
                    self.out.push(b'N');
                } else {
                    self.started = true;
                    greet(&mut self.out);
                }
                continue;
            }
            let Some(head) = rest.get(..5) else { break };
            let len = checked_len(u32::from_be_bytes([head[1], head[2], head[3], head[4]]))?;
            let Some(body) = rest.get(5..5 + len) else {
                break;
            };
            let tag = head[0];
            pos += 5 + len;
            let out = &mut self.out;
            match tag {
                b'Q' => {
                    answer(out, canned(cstr(body)), true);
                    msg(out, b'Z', b"I");
                }
                b'P' => {
                    let name = cstr(body);
                    let row = canned(cstr(body.get(name.len() + 1..).unwrap_or_default()));
                    self.statements.retain(|(n, _)| n != name);
                    self.statements.push((name.to_vec(), row));
                    msg(out, b'1', &[]);
                }
                b'B' => {
                    let pname = cstr(body);
                    let sname = cstr(body.get(pname.len() + 1..).unwrap_or_default());
                    self.portal = self
                        .statements
                        .iter()
                        .find(|(n, _)| n == sname)
                        .and_then(|&(_, row)| row);
                    msg(out, b'2', &[]);
                }
                b'D' => {
                    // pgbench -S describes only its balance query.
                    if body.first() == Some(&b'S') {
                        msg(out, b't', &[0, 1, 0, 0, 0, 23]);
                    }
                    row_description(out, 1);
                }
                b'E' => answer(out, self.portal, false),
                b'C' => msg(out, b'3', &[]),
                b'S' => msg(out, b'Z', b"I"),
                b'X' => return Err(io::ErrorKind::UnexpectedEof.into()),
                // Flush and anything else: answered with the batch.
                _ => {}
            }
        }
        self.input.drain(..pos);
        if !self.out.is_empty() {
            // Answers are small and the socket's buffer empty: a write
            // that would block means a client not reading, which ends it.
            self.stream.write_all(&self.out)?;
            self.out.clear();
        }
        Ok(())
    }
}

/// AuthenticationOk, the parameters pgbench and libpq look at,
/// BackendKeyData and ReadyForQuery.
fn greet(out: &mut Vec<u8>) {
    msg(out, b'R', &0u32.to_be_bytes());
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
        msg(out, b'S', &b);
    }
    msg(out, b'K', &[0, 0, 0, 1, 0, 0, 0, 1]);
    msg(out, b'Z', b"I");
}
