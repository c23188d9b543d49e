//! Connections: startup, authentication, then the simple and extended
//! query protocols over one kernel session. Engine work runs on the
//! kernel's engine pool; this side only reads, parses and writes.

use std::net::IpAddr;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_std::io::{Read, ReadExt, Write, WriteExt};
use async_std::net::TcpStream;

use aiondb_sdk::abi_stable::std_types::{RSlice, Tuple2};
use aiondb_sdk::capability::CancelFlag;
use aiondb_sdk::error::{AionError, DbResult, Severity, SqlState};
use aiondb_sdk::host::{HostRef, MetricId, MetricOp};
use aiondb_sdk::prelude::{RStr, RString, RVec};
use aiondb_sdk::row::Schema;
use aiondb_sdk::surface::{job, SessionRequest, StatementOutcome, SurfaceSessionBox};
use aiondb_sdk::types::{DataType, TypeId};
use aiondb_sdk::value::{FormatOptions, Value};

use crate::guard::{Backoff, CancelRegistry};
use crate::named::Named;
use crate::proto::{self, ErrorFields, FieldDescription, Frontend, Startup};
use crate::scram::{ScramError, ScramServer, Verifier};
use crate::tls::Tls;
use crate::values;

mod copy;
mod inline;
mod lanes;

pub(crate) use lanes::Lanes;

/// Largest message accepted from a client (PostgreSQL allows 1 GB for a
/// few message types; we keep a lower bound against memory exhaustion).
const MAX_MESSAGE: usize = 256 << 20;
/// Largest startup packet (PostgreSQL: 10 000 bytes).
const MAX_STARTUP: usize = 10_000;
/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 16 << 10;
/// Write buffer size that triggers a flush mid-result.
const FLUSH_AT: usize = 64 << 10;
/// Longest message an engine worker buffers before running it; longer
/// ones are read on the network side (a slow sender holds no thread).
const BURST_MESSAGE_MAX: usize = 1 << 20;

/// Settings the connection loop needs, read once at start.
#[derive(Clone)]
pub(crate) struct Config {
    /// 0 = unlimited.
    pub startup_timeout: Duration,
    /// Sessions idle outside a transaction longer than this are closed.
    pub idle_timeout: Option<Duration>,
    pub bench_mode: bool,
    /// Secret for the fake SCRAM salts of unknown users.
    pub mock_secret: Arc<[u8]>,
    /// `None` when TLS is off (SSLRequest answered `N`).
    pub tls: Option<Arc<Tls>>,
    pub cancels: Arc<CancelRegistry>,
    pub backoff: Arc<Backoff>,
    /// `aiondb_auth_failures_total`, when the host has it.
    pub auth_failures: Option<MetricId>,
    /// How long an engine worker serving a plain connection waits for the
    /// client's next message before handing it back (zero: connections
    /// are never served from a worker; see `inline`).
    pub linger: Duration,
    /// Set when the surface stops: workers blocked on a client give up.
    pub stopping: Arc<AtomicBool>,
    /// Workers serving several idle-between-statements connections each
    /// (`lanes`); `None`: one worker per busy connection.
    pub lanes: Option<Arc<Lanes>>,
}

/// A client-visible failure that ends the connection after it is sent.
struct Fatal(AionError);

impl From<std::io::Error> for Fatal {
    fn from(e: std::io::Error) -> Self {
        Fatal(AionError::new(
            SqlState::new(b"08006"),
            format!("connection failure: {e}"),
        ))
    }
}

fn protocol_violation(msg: impl Into<String>) -> AionError {
    AionError::new(SqlState::new(b"08P01"), msg.into())
}

/// One client connection, over a plain TCP stream or a TLS one.
pub(crate) struct Conn<S> {
    stream: S,
    out: Vec<u8>,
    host: HostRef,
    cfg: Config,
    /// Scratch for message bodies.
    body: Vec<u8>,
    /// Simple-query text on its way to the engine, reused.
    sql_buf: String,
    /// The reported settings as the client last heard them, and the
    /// output format they imply: refreshed once per statement, so
    /// TimeZone is not re-parsed for every execution.
    reported: Vec<(String, String)>,
    /// The session's settings version `reported` was read at.
    reported_version: Option<u64>,
    fmt: FormatOptions,
    peer: IpAddr,
    /// The stream is the TLS one (a second SSLRequest is refused).
    tls_active: bool,
    /// When startup and authentication must be over (`None`: no limit).
    startup_deadline: Option<Instant>,
    /// Key of this session in the cancel registry, once it has one.
    backend_pid: Option<i32>,
    cancel: CancelFlag,
    /// Back-off to wait before reporting a failed authentication; waited
    /// outside the startup timeout so the client still gets 28P01.
    fail_delay: Duration,
    /// Admitted beyond the connection limits: refused at startup.
    over_limit: bool,
    /// A statement ran since the last Sync in an implicit transaction
    /// that the Sync is to commit.
    sync_pending: bool,
    /// Bytes read from the client but not yet consumed (`rbuf[rpos..rend]`;
    /// the rest of `rbuf` is room for the next read, zeroed once, not per
    /// read):
    /// one read takes a whole pipelined batch (Bind/Execute/Sync) instead
    /// of two system calls per message, and shows whether a Sync follows
    /// an Execute.
    rbuf: Vec<u8>,
    rpos: usize,
    rend: usize,
    /// The socket for an engine worker's blocking use (plain TCP only).
    sock: Option<inline::SyncSock>,
    /// Running on an engine worker: I/O through `sock`, engine calls
    /// direct.
    inline: bool,
    /// The extended protocol's statements and portals by name.
    /// Boxed: `step` moves them out and back for every message.
    stmts: Option<Box<Named<Stmt>>>,
    portals: Option<Box<Named<Portal>>>,
    /// After an error in an extended-query batch, messages are skipped
    /// until Sync (as PostgreSQL does).
    skipping: bool,
    /// The next message starts a command cycle: the client heard
    /// ReadyForQuery and may have been idle.
    cycle_start: bool,
}

/// Whether the session goes on after a message.
#[derive(PartialEq)]
enum Flow {
    Go,
    Quit,
}

/// How startup ended.
enum Started {
    Session(Arc<Mutex<SurfaceSessionBox>>, String),
    /// A CancelRequest, handled; the connection closes.
    Cancel,
    /// The client asked for TLS and was answered `S`: the handshake comes
    /// next, on the raw stream.
    Upgrade,
}

/// A prepared statement as the client named it.
struct Stmt {
    id: u64,
    param_types: Vec<DataType>,
    columns: Schema,
    returns_rows: bool,
}

/// A bound portal; rows of a suspended execution wait in `pending`.
struct Portal {
    stmt: String,
    params: Vec<Value>,
    /// One format per result column (expanded from the client's list).
    formats: Vec<i16>,
    /// Boxed: keeps a portal small, and portals move on every message.
    pending: Option<Box<(StatementOutcome, usize)>>,
}

/// A connection lent to a lane, with its session.
struct LaneSlot<S> {
    conn: Mutex<Conn<S>>,
    session: Arc<Mutex<SurfaceSessionBox>>,
    fd: std::os::fd::RawFd,
}

impl<S> LaneSlot<S> {
    fn conn(&self) -> std::sync::MutexGuard<'_, Conn<S>> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<S: Read + Write + Unpin + Send + 'static> lanes::Hot for LaneSlot<S> {
    fn fd(&self) -> std::os::fd::RawFd {
        self.fd
    }

    fn serve(&self, read: bool) -> Option<Result<Flow, Fatal>> {
        let mut conn = self.conn();
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            conn.lane_serve(&self.session, read)
        }))
        .unwrap_or_else(|_| {
            log::error!("pgwire: a connection's lane turn panicked");
            Some(Err(Fatal(AionError::internal(
                "the connection's engine job failed",
            ))))
        })
    }

    fn leave(&self) -> std::io::Result<()> {
        self.conn().leave_worker()
    }

    fn incoming_cpu(&self) -> Option<usize> {
        self.conn().sock.as_ref()?.incoming_cpu()
    }
}

/// Serves one accepted client: startup on the plain stream, then, when
/// the client asks for TLS, the handshake and the rest over TLS. A client
/// over the connection limits (`over_limit`) gets 53300 in answer to its
/// StartupMessage, after SSL negotiation as with PostgreSQL, so libpq
/// shows the error; its CancelRequest is still honoured.
pub(crate) async fn serve_client(
    stream: TcpStream,
    peer: IpAddr,
    host: HostRef,
    cfg: Config,
    over_limit: bool,
) {
    let deadline = (!cfg.startup_timeout.is_zero()).then(|| Instant::now() + cfg.startup_timeout);
    // A second handle for engine workers; without it (linger 0, or the
    // descriptor could not be duplicated) the connection stays async.
    let sock = if cfg.linger.is_zero() || over_limit {
        None
    } else {
        inline::SyncSock::new(&stream, cfg.linger, Arc::clone(&cfg.stopping))
            .map_err(|e| log::debug!("pgwire: no worker handle for {peer}: {e}"))
            .ok()
    };
    let mut plain = Conn::new(stream, host.clone(), cfg.clone(), peer, deadline, false);
    plain.over_limit = over_limit;
    plain.sock = sock;
    let Some(stream) = plain.run().await else {
        return;
    };
    let Some(tls) = cfg.tls.clone() else {
        return;
    };
    let handshake = tls.acceptor.accept(stream);
    let accepted = match deadline {
        Some(d) => {
            async_std::future::timeout(d.saturating_duration_since(Instant::now()), handshake)
                .await
                .unwrap_or_else(|_| {
                    Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "startup timeout",
                    ))
                })
        }
        None => handshake.await,
    };
    match accepted {
        Ok(stream) => {
            let mut conn = Conn::new(stream, host, cfg, peer, deadline, true);
            conn.over_limit = over_limit;
            let _ = conn.run().await;
        }
        // Untrusted or missing client certificate, wrong protocol...: the
        // client learns it from the TLS alert.
        Err(e) => log::info!("TLS handshake with {peer} failed: {e}"),
    }
}

impl<S: Read + Write + Unpin + Send + 'static> Conn<S> {
    pub fn new(
        stream: S,
        host: HostRef,
        cfg: Config,
        peer: IpAddr,
        startup_deadline: Option<Instant>,
        tls_active: bool,
    ) -> Conn<S> {
        Conn {
            stream,
            out: Vec::with_capacity(8 << 10),
            host,
            cfg,
            body: Vec::new(),
            sql_buf: String::new(),
            reported: Vec::new(),
            reported_version: None,
            fmt: FormatOptions::default(),
            peer,
            tls_active,
            startup_deadline,
            backend_pid: None,
            cancel: CancelFlag::default(),
            fail_delay: Duration::ZERO,
            over_limit: false,
            sync_pending: false,
            rbuf: Vec::new(),
            rpos: 0,
            rend: 0,
            sock: None,
            inline: false,
            stmts: Some(Box::default()),
            portals: Some(Box::default()),
            skipping: false,
            cycle_start: true,
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if let (true, Some(sock)) = (self.inline, &self.sock) {
            let r = sock.write_all(&self.out);
            self.out.clear();
            return r;
        }
        if !self.out.is_empty() {
            self.stream.write_all(&self.out).await?;
            self.out.clear();
        }
        self.stream.flush().await
    }

    async fn send_error(&mut self, e: &AionError, fatal: bool) -> std::io::Result<()> {
        let severity = if fatal {
            "FATAL"
        } else {
            match e.severity {
                Severity::Warning => "WARNING",
                Severity::Notice => "NOTICE",
                _ => "ERROR",
            }
        };
        let code = e.sqlstate.to_string();
        let detail = e.detail();
        let hint = e.hint();
        let fields = ErrorFields {
            severity,
            code: &code,
            message: e.message.as_str(),
            detail,
            hint,
            position: e.position(),
            context: e.context(),
        };
        if fatal || severity == "ERROR" {
            proto::error_response(&mut self.out, &fields);
        } else {
            proto::notice_response(&mut self.out, &fields);
        }
        self.flush().await
    }

    /// Reads the next startup-phase packet body (no tag byte).
    async fn read_startup(&mut self) -> Result<Startup, Fatal> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).await?;
        let len = i32::from_be_bytes(len);
        if !(8..=MAX_STARTUP as i32).contains(&len) {
            return Err(Fatal(protocol_violation(format!(
                "invalid length of startup packet: {len}"
            ))));
        }
        self.body.resize(len as usize - 4, 0);
        self.stream.read_exact(&mut self.body).await?;
        proto::parse_startup(&self.body).map_err(|e| Fatal(protocol_violation(e.to_string())))
    }

    /// The bytes read from the client and not yet consumed.
    fn unread(&self) -> &[u8] {
        &self.rbuf[self.rpos..self.rend]
    }

    /// Moves the unread bytes to the front of `rbuf` and makes room for
    /// at least `n` of them and a read of `READ_CHUNK` bytes.
    fn make_room(&mut self, n: usize) {
        self.rbuf.copy_within(self.rpos..self.rend, 0);
        self.rend -= self.rpos;
        self.rpos = 0;
        let want = n.max(self.rend + READ_CHUNK);
        if self.rbuf.len() < want {
            self.rbuf.resize(want, 0);
        }
    }

    /// Makes at least `n` unread bytes available in `rbuf[rpos..rend]`.
    async fn fill(&mut self, n: usize) -> std::io::Result<()> {
        if self.rend - self.rpos >= n {
            return Ok(());
        }
        self.make_room(n);
        while self.rend < n {
            let at = self.rend;
            let got = match (self.inline, &self.sock) {
                (true, Some(sock)) => sock
                    .read(&mut self.rbuf[at..], None)
                    .map(|g| g.unwrap_or(0)),
                _ => self.stream.read(&mut self.rbuf[at..]).await,
            }?;
            if got == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.rend += got;
        }
        Ok(())
    }

    /// Reads a message head: its tag and body length.
    async fn read_head(&mut self) -> Result<(u8, usize), Fatal> {
        self.fill(5).await?;
        let h = &self.rbuf[self.rpos..self.rpos + 5];
        let tag = h[0];
        let len = i32::from_be_bytes([h[1], h[2], h[3], h[4]]);
        self.rpos += 5;
        if len < 4 || len as usize - 4 > MAX_MESSAGE {
            return Err(Fatal(protocol_violation(format!(
                "invalid message length {len}"
            ))));
        }
        Ok((tag, len as usize - 4))
    }

    /// Appends the next `n` bytes from the client to `out`.
    async fn read_into(&mut self, n: usize, out: &mut Vec<u8>) -> std::io::Result<()> {
        let buffered = (self.rend - self.rpos).min(n);
        out.extend_from_slice(&self.rbuf[self.rpos..self.rpos + buffered]);
        self.rpos += buffered;
        if buffered < n {
            // A long message: straight from the socket.
            let at = out.len();
            out.resize(at + n - buffered, 0);
            match (self.inline, &self.sock) {
                (true, Some(sock)) => sock.read_exact(&mut out[at..])?,
                _ => self.stream.read_exact(&mut out[at..]).await?,
            }
        }
        Ok(())
    }

    /// Whether the client's next message, already read, is a Sync.
    fn next_is_sync(&self) -> bool {
        self.unread().get(..5) == Some(&[b'S', 0, 0, 0, 4][..])
    }

    /// Reads one regular message: its tag, with the body in `self.body`.
    async fn read_message(&mut self) -> Result<u8, Fatal> {
        let (tag, n) = self.read_head().await?;
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        let r = self.read_into(n, &mut body).await;
        self.body = body;
        r?;
        Ok(tag)
    }

    /// Runs a whole connection; errors are reported to the client when it
    /// can still hear them. Returns the stream when the client asked for
    /// TLS and was answered `S`.
    pub async fn run(mut self) -> Option<S> {
        let served = match self.serve().await {
            Ok(Started::Session(session, user)) => {
                log::debug!("session for user \"{user}\" started");
                let (conn, r) = self.session_phase(session).await;
                self = conn;
                r.map(|()| false)
            }
            Ok(Started::Cancel) => Ok(false),
            Ok(Started::Upgrade) => Ok(true),
            Err(e) => Err(e),
        };
        let upgrade = match served {
            Ok(upgrade) => upgrade,
            Err(Fatal(e)) => {
                if !self.fail_delay.is_zero() {
                    async_std::task::sleep(self.fail_delay).await;
                }
                let _ = self.send_error(&e, true).await;
                false
            }
        };
        if let Some(pid) = self.backend_pid.take() {
            self.cfg.cancels.unregister(pid);
        }
        if upgrade {
            return Some(self.stream);
        }
        // Sends TLS close_notify, or a TCP FIN.
        let stream = &mut self.stream;
        let _ = std::future::poll_fn(|cx| std::pin::Pin::new(&mut *stream).poll_close(cx)).await;
        None
    }

    /// Startup, within the startup timeout.
    async fn serve(&mut self) -> Result<Started, Fatal> {
        let started = match self.startup_deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                match async_std::future::timeout(left, self.startup()).await {
                    Ok(r) => r?,
                    Err(_) => {
                        return Err(Fatal(AionError::new(
                            SqlState::new(b"08006"),
                            "canceling authentication due to timeout",
                        )))
                    }
                }
            }
            None => self.startup().await?,
        };
        Ok(started)
    }

    /// The session's messages, until the client leaves or a fatal error.
    /// A plain connection is handed to an engine worker whenever a whole
    /// message is in (see `inline`); the connection moves there and back,
    /// so this owns it.
    async fn session_phase(
        mut self,
        session: Arc<Mutex<SurfaceSessionBox>>,
    ) -> (Self, Result<(), Fatal>) {
        loop {
            let on_worker = match self.sock.is_some() {
                false => false,
                true => match self.await_message(&session).await {
                    Ok(whole) => whole,
                    Err(e) => return (self, Err(e)),
                },
            };
            let lane = match (on_worker, &self.cfg.lanes) {
                (true, Some(lanes)) if !self.sync_pending && Self::status(&session) == b'I' => {
                    let home = self.home_lane(lanes);
                    lanes.pick(home).map(|lane| (lane, home))
                }
                _ => None,
            };
            let flow = if let Some((lane, home)) = lane {
                let (conn, ran) = self.run_on_lane(lane, home, &session).await;
                self = conn;
                match ran {
                    Some(flow) => flow,
                    // The pool refused the lane's job: as below.
                    None => self.step(&session).await,
                }
            } else if on_worker {
                let (conn, ran) = self.run_on_worker(&session).await;
                self = conn;
                match ran {
                    Ok(flow) => flow,
                    // The pool refused the job (overloaded or stopping): run
                    // the message here, where the statement gets that error.
                    Err(_) => self.step(&session).await,
                }
            } else {
                self.step(&session).await
            };
            match flow {
                Ok(Flow::Go) => {}
                Ok(Flow::Quit) => return (self, Ok(())),
                Err(e) => return (self, Err(e)),
            }
        }
    }

    /// Hands the connection to an engine worker for a burst (see
    /// `inline`) and takes it back; `Err` when the pool refused the job,
    /// which then never ran.
    async fn run_on_worker(
        self,
        session: &Arc<Mutex<SurfaceSessionBox>>,
    ) -> (Self, DbResult<Result<Flow, Fatal>>) {
        let host = self.host.clone();
        // The worker borrows the connection through the slot; should the
        // job never run, it stays here.
        let slot = Arc::new(Mutex::new(self));
        let (job_slot, sess) = (Arc::clone(&slot), Arc::clone(session));
        let ran = on_pool(&host, move || {
            let mut conn = job_slot.lock().unwrap_or_else(|e| e.into_inner());
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| conn.burst(&sess)));
            if let Err(e) = conn.leave_worker() {
                return Err(Fatal::from(e));
            }
            r.unwrap_or_else(|_| {
                log::error!("pgwire: a connection's engine job panicked");
                Err(Fatal(AionError::internal(
                    "the connection's engine job failed",
                )))
            })
        })
        .await;
        let conn = match Arc::try_unwrap(slot) {
            Ok(m) => m.into_inner().unwrap_or_else(|e| e.into_inner()),
            // The job still holds its handle: it ran and is being dropped;
            // wait for it to let go.
            Err(mut slot) => loop {
                async_std::task::yield_now().await;
                match Arc::try_unwrap(slot) {
                    Ok(m) => break m.into_inner().unwrap_or_else(|e| e.into_inner()),
                    Err(s) => slot = s,
                }
            },
        };
        (conn, ran)
    }

    /// Puts the connection on lane `lane` (its home being `home`, see
    /// `lanes`) until it leaves and takes it back; `None` when the pool
    /// refused the lane's job.
    async fn run_on_lane(
        self,
        lane: usize,
        home: usize,
        session: &Arc<Mutex<SurfaceSessionBox>>,
    ) -> (Self, Option<Result<Flow, Fatal>>) {
        let (Some(lanes), Some(sock)) = (self.cfg.lanes.clone(), &self.sock) else {
            return (self, None);
        };
        let fd = sock.raw_fd();
        if let Err(e) = sock.set_blocking(true) {
            return (self, Some(Err(e.into())));
        }
        let slot = Arc::new(LaneSlot {
            conn: Mutex::new(self),
            session: Arc::clone(session),
            fd,
        });
        let (tx, rx) = async_std::channel::bounded(1);
        let entered = lanes.enter(lane, home, Arc::clone(&slot) as Arc<dyn lanes::Hot>, tx);
        let ran = match entered {
            Ok(()) => Some(rx.recv().await.unwrap_or_else(|_| {
                Err(Fatal(AionError::internal("the connection's lane stopped")))
            })),
            Err(_) => {
                if let Err(e) = lanes::Hot::leave(&*slot) {
                    return (Self::from_slot(slot).await, Some(Err(e.into())));
                }
                None
            }
        };
        (Self::from_slot(slot).await, ran)
    }

    /// The connection out of its lane slot; the lane may still be
    /// dropping its handle.
    async fn from_slot(mut slot: Arc<LaneSlot<S>>) -> Self {
        loop {
            match Arc::try_unwrap(slot) {
                Ok(s) => return s.conn.into_inner().unwrap_or_else(|e| e.into_inner()),
                Err(s) => {
                    slot = s;
                    async_std::task::yield_now().await;
                }
            }
        }
    }

    /// The lane this connection belongs on (`Lanes::home`).
    fn home_lane(&self, lanes: &Lanes) -> usize {
        let cpu = match (lanes.affinity(), &self.sock) {
            (true, Some(sock)) => sock.incoming_cpu(),
            _ => None,
        };
        lanes.home(cpu, self.backend_pid.unwrap_or(0).unsigned_abs() as usize)
    }

    /// On a lane: takes what the socket has (`read`) and handles the whole
    /// messages buffered; `None` while the connection may stay (its
    /// session is idle between statements, see `lanes`).
    fn lane_serve(
        &mut self,
        session: &Arc<Mutex<SurfaceSessionBox>>,
        read: bool,
    ) -> Option<Result<Flow, Fatal>> {
        if self.sock.is_none() {
            return Some(Ok(Flow::Go));
        }
        if read {
            self.make_room(0);
            let at = self.rend;
            let Some(sock) = &self.sock else {
                return Some(Ok(Flow::Go));
            };
            match sock.read_now(&mut self.rbuf[at..]) {
                Ok(Some(0)) => {
                    return Some(Err(
                        std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into()
                    ))
                }
                Ok(Some(got)) => self.rend += got,
                Ok(None) => {}
                Err(e) => return Some(Err(e.into())),
            }
        }
        self.inline = true;
        // One future per turn, not per message: it is large, and
        // `block_on` moves it.
        inline::block_on(async {
            loop {
                match self.buffered_message() {
                    Some(true) => {}
                    // Too long for a worker: the network side reads it.
                    Some(false) => return Some(Ok(Flow::Go)),
                    // Only a session idle between statements waits on a
                    // lane for the rest or the next message.
                    None if self.sync_pending || Self::status(session) != b'I' => {
                        return Some(Ok(Flow::Go))
                    }
                    None => return None,
                }
                match self.step(session).await {
                    Ok(Flow::Go) => {}
                    other => return Some(other),
                }
            }
        })
    }

    /// Startup and authentication.
    async fn startup(&mut self) -> Result<Started, Fatal> {
        let params = loop {
            match self.read_startup().await? {
                Startup::Ssl if !self.tls_active && self.cfg.tls.is_some() => {
                    self.stream.write_all(b"S").await?;
                    self.stream.flush().await?;
                    return Ok(Started::Upgrade);
                }
                Startup::Ssl if self.tls_active => {
                    return Err(Fatal(protocol_violation(
                        "SSLRequest received on an encrypted connection",
                    )))
                }
                Startup::Ssl | Startup::Gss => {
                    // Not offered: the client may go on in plaintext (or
                    // give up, with sslmode=require).
                    self.stream.write_all(b"N").await?;
                    self.stream.flush().await?;
                }
                Startup::Cancel { pid, key } => {
                    // As PostgreSQL: the canceller hears nothing either way.
                    if !self.cfg.cancels.cancel(pid, key) {
                        log::debug!("CancelRequest from {} matched no session", self.peer);
                    }
                    return Ok(Started::Cancel);
                }
                Startup::Start {
                    major,
                    minor,
                    params,
                } => {
                    if self.over_limit {
                        return Err(Fatal(AionError::new(
                            SqlState::new(b"53300"),
                            "sorry, too many clients already",
                        )));
                    }
                    if !self.tls_active && self.cfg.tls.as_ref().is_some_and(|t| t.required) {
                        return Err(Fatal(
                            AionError::new(
                                SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
                                "TLS is required: connect with sslmode=require",
                            )
                            .with_hint("This server refuses unencrypted connections."),
                        ));
                    }
                    if major != 3 {
                        return Err(Fatal(AionError::new(
                            SqlState::new(b"0A000"),
                            format!("unsupported frontend protocol {major}.{minor}: server supports 3.0 to 3.0"),
                        )));
                    }
                    break params;
                }
            }
        };
        let mut user = String::new();
        let mut database = String::new();
        let mut application = String::new();
        let mut settings = Vec::new();
        for (k, v) in params {
            match k.as_str() {
                "user" => user = v,
                "database" => database = v,
                "application_name" => application = v,
                "replication" => {
                    return Err(Fatal(AionError::new(
                        SqlState::FEATURE_NOT_SUPPORTED,
                        "replication connections are not supported",
                    )))
                }
                // `-c name=value` pairs psql and libpq pass through.
                "options" => {
                    for opt in v.split_whitespace() {
                        let opt = opt.trim_start_matches("-c").trim_start_matches("--");
                        if let Some((n, val)) = opt.split_once('=') {
                            settings.push((n.to_string(), val.to_string()));
                        }
                    }
                }
                _ => settings.push((k, v)),
            }
        }
        if user.is_empty() {
            return Err(Fatal(AionError::new(
                SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
                "no PostgreSQL user name specified in startup packet",
            )));
        }
        if database.is_empty() {
            database = user.clone();
        }
        self.authenticate(&user).await?;
        let request = SessionRequest {
            user: RString::from(user.as_str()),
            database: RString::from(database.as_str()),
            application: RString::from(application.as_str()),
            settings: settings
                .into_iter()
                .map(|(k, v)| Tuple2(RString::from(k), RString::from(v)))
                .collect::<RVec<_>>(),
        };
        let session = self
            .host
            .open_session(&request)
            .into_result()
            .map_err(Fatal)?;
        self.cancel = session.cancel_flag();
        let (pid, secret) = self.cfg.cancels.register(self.cancel.clone());
        self.backend_pid = Some(pid);
        let session = Arc::new(Mutex::new(session));
        proto::auth_ok(&mut self.out);
        for (k, v) in self.refresh_reported(&session) {
            proto::parameter_status(&mut self.out, &k, &v);
        }
        proto::backend_key_data(&mut self.out, pid, secret);
        proto::ready_for_query(&mut self.out, b'I');
        self.flush().await?;
        Ok(Started::Session(session, user))
    }

    async fn authenticate(&mut self, user: &str) -> Result<(), Fatal> {
        if self.cfg.bench_mode {
            return Ok(());
        }
        let verifier = self
            .host
            .login_verifier(RStr::from_str(user))
            .into_option()
            .and_then(|v| Verifier::parse(v.as_str()));
        let mut scram = ScramServer::new(verifier, &self.cfg.mock_secret, user);
        proto::auth_sasl(&mut self.out, &["SCRAM-SHA-256"]);
        self.flush().await?;
        let failed = |e: ScramError| match e {
            ScramError::Protocol(m) => protocol_violation(m),
            ScramError::AuthFailed => AionError::new(
                SqlState::INVALID_PASSWORD,
                format!("password authentication failed for user \"{user}\""),
            ),
        };
        let outcome: Result<Vec<u8>, AionError> = async {
            let first = self.expect_password().await?;
            let (mechanism, data) =
                proto::parse_sasl_initial(&first).map_err(|e| protocol_violation(e.to_string()))?;
            if mechanism != "SCRAM-SHA-256" {
                return Err(protocol_violation(format!(
                    "client selected an invalid SASL authentication mechanism: {mechanism}"
                )));
            }
            let server_first = scram.client_first(&data).map_err(failed)?;
            proto::auth_sasl_continue(&mut self.out, &server_first);
            self.flush().await.map_err(|e| Fatal::from(e).0)?;
            let fin = self.expect_password().await?;
            scram.client_final(&fin).map_err(failed)
        }
        .await;
        match outcome {
            Ok(server_final) => {
                self.cfg.backoff.success(self.peer, user);
                proto::auth_sasl_final(&mut self.out, &server_final);
                Ok(())
            }
            Err(e) => {
                if e.sqlstate == SqlState::INVALID_PASSWORD {
                    log::warn!(
                        "authentication failed for user \"{user}\" from {}",
                        self.peer
                    );
                    if let Some(id) = self.cfg.auth_failures {
                        self.host
                            .record_metric(id, RSlice::from_slice(&[]), MetricOp::Add(1.0));
                    }
                    // Slows down guessing, more with each failure from
                    // this address or for this user; the same for unknown
                    // users. `run` waits it out before answering.
                    self.fail_delay = self.cfg.backoff.failure(self.peer, user);
                }
                Err(Fatal(e))
            }
        }
    }

    async fn expect_password(&mut self) -> Result<Vec<u8>, AionError> {
        let tag = self.read_message().await.map_err(|f| f.0)?;
        if tag != b'p' {
            return Err(protocol_violation(format!(
                "expected SASL response, got message type {}",
                tag as char
            )));
        }
        Ok(std::mem::take(&mut self.body))
    }

    /// Reads and handles one message.
    async fn step(&mut self, session: &Arc<Mutex<SurfaceSessionBox>>) -> Result<Flow, Fatal> {
        let tag = if self.cycle_start {
            let tag = self.read_when_idle(session).await?;
            // A cancel that arrived while nothing ran must not hit
            // this command.
            self.cancel.reset();
            self.cycle_start = false;
            tag
        } else {
            self.read_message().await?
        };
        // Out of `self` while the handlers borrow it (a Bind is read in
        // place; a handler reading more messages gets a buffer of its own).
        let body = std::mem::take(&mut self.body);
        let msg = match proto::parse_frontend(tag, &body) {
            Ok(m) => m,
            Err(e) => return Err(Fatal(protocol_violation(e.to_string()))),
        };
        if self.skipping && !matches!(msg, Frontend::Sync | Frontend::Terminate) {
            self.body = body;
            return Ok(Flow::Go);
        }
        self.cycle_start = matches!(msg, Frontend::Query(_) | Frontend::Sync);
        let mut stmts = self.stmts.take().unwrap_or_default();
        let mut portals = self.portals.take().unwrap_or_default();
        let result = self.handle(session, msg, &mut stmts, &mut portals).await;
        self.stmts = Some(stmts);
        self.portals = Some(portals);
        self.body = body;
        let result = match result? {
            None => return Ok(Flow::Quit),
            Some(r) => r,
        };
        if let Err(e) = result {
            if e.sqlstate == SqlState::new(b"08P01") {
                return Err(Fatal(e));
            }
            self.send_error(&e, false).await?;
            self.skipping = true;
        }
        if self.out.len() >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(Flow::Go)
    }

    /// One message's work; `None` for Terminate.
    async fn handle(
        &mut self,
        session: &Arc<Mutex<SurfaceSessionBox>>,
        msg: Frontend<'_>,
        stmts: &mut Named<Stmt>,
        portals: &mut Named<Portal>,
    ) -> Result<Option<DbResult<()>>, Fatal> {
        let result: DbResult<()> = match msg {
            Frontend::Terminate => return Ok(None),
            Frontend::Query(sql) => {
                portals.remove("");
                self.simple_query(session, sql).await?;
                Ok(())
            }
            Frontend::Sync => {
                self.skipping = false;
                if std::mem::take(&mut self.sync_pending) {
                    let sess = Arc::clone(session);
                    let synced = self
                        .on_pool(move || {
                            sess.lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .sync()
                                .into_result()
                        })
                        .await
                        .and_then(|r| r);
                    if let Err(e) = synced {
                        self.send_error(&e, false).await?;
                    }
                }
                let status = Self::status(session);
                proto::ready_for_query(&mut self.out, status);
                self.flush().await?;
                Ok(())
            }
            Frontend::Flush => {
                self.flush().await?;
                Ok(())
            }
            Frontend::Parse {
                name,
                sql,
                param_types,
            } => self.parse(session, stmts, name, sql, param_types).await,
            Frontend::Bind(m) => self.bind(stmts, portals, &m),
            Frontend::Describe { portal, name } => self.describe(stmts, portals, portal, &name),
            Frontend::Execute { portal, max_rows } => {
                self.execute(session, stmts, portals, &portal, max_rows)
                    .await
            }
            Frontend::Close { portal, name } => {
                if portal {
                    portals.remove(&name);
                } else if let Some(s) = stmts.remove(&name) {
                    self.close_statement(session, s.id).await;
                }
                proto::close_complete(&mut self.out);
                Ok(())
            }
            Frontend::CopyData(_) | Frontend::CopyDone | Frontend::CopyFail(_) => {
                // Outside COPY these are ignored, as PostgreSQL does.
                Ok(())
            }
            Frontend::Password(_) => Err(protocol_violation(
                "unexpected password message after authentication",
            )),
        };
        Ok(Some(result))
    }

    /// Whether a whole message is buffered: `None` while it is not,
    /// `Some(false)` when it is too long for a worker to wait for (the
    /// network side reads it). An invalid length counts as whole: reading
    /// it fails at once.
    fn buffered_message(&self) -> Option<bool> {
        let unread = self.unread();
        let head = unread.get(..5)?;
        let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]);
        if len < 4 || len as usize > BURST_MESSAGE_MAX {
            return Some(len < 4);
        }
        (unread.len() > len as usize).then_some(true)
    }

    /// On the network side: waits until a whole message is buffered
    /// (`true`) or one too long for a worker has begun (`false`), with
    /// the idle-session timeout when the session is idle.
    async fn await_message(
        &mut self,
        session: &Arc<Mutex<SurfaceSessionBox>>,
    ) -> Result<bool, Fatal> {
        let limit = self.idle_limit(session).filter(|_| self.cycle_start);
        let wait = async {
            loop {
                if let Some(whole) = self.buffered_message() {
                    return Ok(whole);
                }
                let have = self.rend - self.rpos;
                self.fill(have + 1).await?;
            }
        };
        idle_bounded(limit, wait).await
    }

    /// On a worker: whether a whole message is buffered, reading what the
    /// client sends within `wait`.
    fn message_within(&mut self, wait: Duration) -> std::io::Result<bool> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(whole) = self.buffered_message() {
                return Ok(whole);
            }
            if self.rpos != self.rend && Instant::now() >= deadline {
                // A client sending a message slowly is waited for on the
                // network side.
                return Ok(false);
            }
            self.make_room(0);
            let (at, Some(sock)) = (self.rend, &self.sock) else {
                return Ok(false);
            };
            match sock.read(&mut self.rbuf[at..], Some(deadline))? {
                None => return Ok(false),
                Some(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Some(got) => self.rend += got,
            }
        }
    }

    /// On a worker: handles the buffered message and those that follow
    /// within the linger time. The job running this calls `leave_worker`
    /// afterwards, also when it panicked.
    fn burst(&mut self, session: &Arc<Mutex<SurfaceSessionBox>>) -> Result<Flow, Fatal> {
        let Some(sock) = &self.sock else {
            return Ok(Flow::Go);
        };
        sock.set_blocking(true)?;
        self.inline = true;
        let linger = self.cfg.linger;
        inline::block_on(async {
            loop {
                if self.step(session).await? == Flow::Quit {
                    return Ok(Flow::Quit);
                }
                if !self.message_within(linger)? {
                    return Ok(Flow::Go);
                }
            }
        })
    }

    /// Back to the network side's non-blocking I/O.
    fn leave_worker(&mut self) -> std::io::Result<()> {
        self.inline = false;
        match &self.sock {
            Some(sock) => sock.set_blocking(false),
            None => Ok(()),
        }
    }

    /// Reads the first message of a command cycle, ending the session
    /// when it is idle (outside a transaction) longer than the idle
    /// timeout.
    async fn read_when_idle(
        &mut self,
        session: &Arc<Mutex<SurfaceSessionBox>>,
    ) -> Result<u8, Fatal> {
        let limit = self.idle_limit(session);
        idle_bounded(limit, self.read_message()).await
    }

    /// The idle-session timeout that applies to the wait for the next
    /// command: on the network side, outside a transaction.
    fn idle_limit(&self, session: &Arc<Mutex<SurfaceSessionBox>>) -> Option<Duration> {
        self.cfg
            .idle_timeout
            .filter(|_| !self.inline && Self::status(session) == b'I')
    }

    /// Runs `f` on the engine pool and waits for it without blocking this
    /// thread; on a worker (`inline`), runs it right here.
    async fn on_pool<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> DbResult<T> {
        if self.inline {
            return Ok(f());
        }
        on_pool(&self.host, f).await
    }

    /// Drops a prepared statement in the session.
    async fn close_statement(&self, session: &Arc<Mutex<SurfaceSessionBox>>, id: u64) {
        let sess = Arc::clone(session);
        let _ = self
            .on_pool(move || sess.lock().unwrap_or_else(|e| e.into_inner()).close(id))
            .await;
    }

    fn status(session: &Arc<Mutex<SurfaceSessionBox>>) -> u8 {
        session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .transaction_status()
    }

    /// Re-reads the reported settings; returns those that changed since
    /// the client last heard them (all of them the first time) and
    /// re-derives the output format when TimeZone or DateStyle moved.
    fn refresh_reported(
        &mut self,
        session: &Arc<Mutex<SurfaceSessionBox>>,
    ) -> Vec<(String, String)> {
        // Most statements change no setting: one call to see that.
        let version = session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .settings_version();
        if self.reported_version == Some(version) {
            return Vec::new();
        }
        self.reported_version = Some(version);
        let now = reported(session);
        let changed: Vec<(String, String)> = now
            .iter()
            .filter(|kv| !self.reported.contains(kv))
            .cloned()
            .collect();
        if changed
            .iter()
            .any(|(k, _)| k == "TimeZone" || k == "DateStyle")
        {
            let get = |name: &str, default: &'static str| {
                now.iter()
                    .find(|(k, _)| k == name)
                    .map_or(default, |(_, v)| v.as_str())
            };
            self.fmt =
                FormatOptions::from_settings(get("TimeZone", "UTC"), get("DateStyle", "ISO, MDY"))
                    .unwrap_or_default();
        }
        self.reported = now;
        changed
    }

    /// ParameterStatus for reported settings a statement changed.
    fn report_changes(&mut self, session: &Arc<Mutex<SurfaceSessionBox>>) {
        for (k, v) in self.refresh_reported(session) {
            proto::parameter_status(&mut self.out, &k, &v);
        }
    }

    async fn simple_query(
        &mut self,
        session: &Arc<Mutex<SurfaceSessionBox>>,
        sql: &str,
    ) -> Result<(), Fatal> {
        let sess = Arc::clone(session);
        // The text goes to the engine job in a buffer that comes back.
        let mut buf = std::mem::take(&mut self.sql_buf);
        buf.clear();
        buf.push_str(sql);
        let outcome = self
            .on_pool(move || {
                let o = sess
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .simple_query(RStr::from_str(&buf));
                (o, buf)
            })
            .await
            .map(|(o, buf)| {
                self.sql_buf = buf;
                o
            });
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                self.send_error(&e, false).await?;
                let status = Self::status(session);
                proto::ready_for_query(&mut self.out, status);
                self.flush().await?;
                return Ok(());
            }
        };
        // Rows print with the settings in force when the statements ended.
        let mut changed = self.refresh_reported(session);
        if outcome.results.is_empty() && outcome.error.is_none() {
            proto::empty_query_response(&mut self.out);
        }
        let mut outcome = outcome;
        // A COPY FROM STDIN stops the query string until its data is in;
        // the outcome of the rest follows.
        while let Some(waiting) = self.send_results(&outcome).await? {
            outcome = self.copy_in(session, &waiting).await?;
            changed.extend(self.refresh_reported(session));
        }
        if let Some(e) = outcome.error.as_ref().into_option() {
            self.send_error(e, false).await?;
        }
        for (k, v) in changed {
            proto::parameter_status(&mut self.out, &k, &v);
        }
        let status = Self::status(session);
        proto::ready_for_query(&mut self.out, status);
        self.flush().await?;
        Ok(())
    }

    /// Sends the results of a simple query; returns the COPY FROM STDIN
    /// the last of them waits on, if any.
    async fn send_results(
        &mut self,
        outcome: &aiondb_sdk::surface::QueryOutcome,
    ) -> Result<Option<aiondb_sdk::surface::CopyState>, Fatal> {
        for r in outcome.results.iter() {
            for n in r.notices.iter() {
                self.send_error(n, false).await?;
            }
            if let Some(c) = r.copy.as_ref().into_option() {
                if c.copy_in {
                    return Ok(Some(c.clone()));
                }
                self.write_copy_out(r, c).await?;
                continue;
            }
            if r.returns_rows {
                proto::row_description(&mut self.out, describe_fields(&r.columns, &[]));
                self.write_rows(r, 0, r.rows.len(), &[]).await?;
            }
            proto::command_complete(&mut self.out, r.tag.as_str());
        }
        Ok(None)
    }

    /// Writes rows `from..to` of `r` as DataRow messages.
    async fn write_rows(
        &mut self,
        r: &StatementOutcome,
        from: usize,
        to: usize,
        formats: &[i16],
    ) -> Result<(), Fatal> {
        let columns = &r.columns;
        for i in from..to {
            let Some(row) = r.rows.row(i) else { break };
            let mut w = proto::DataRowWriter::begin(&mut self.out);
            for (c, v) in row.iter().enumerate() {
                if v.is_null() {
                    w.null();
                } else if formats.get(c).copied().unwrap_or(0) == 1 {
                    let ty = columns
                        .fields
                        .get(c)
                        .map(|f| f.data_type)
                        .unwrap_or(DataType::scalar(TypeId::Text));
                    w.value(|out| values::encode_binary(v, &ty, out))
                        .map_err(Fatal)?;
                } else {
                    let fmt = &self.fmt;
                    let _ = w.value(|out| {
                        values::encode_text(v, fmt, out);
                        Ok::<(), ()>(())
                    });
                }
            }
            w.finish();
            if self.out.len() >= FLUSH_AT {
                self.flush().await?;
            }
        }
        Ok(())
    }

    async fn parse(
        &mut self,
        session: &Arc<Mutex<SurfaceSessionBox>>,
        stmts: &mut Named<Stmt>,
        name: String,
        sql: String,
        param_oids: Vec<u32>,
    ) -> DbResult<()> {
        let types: Vec<DataType> = param_oids.iter().map(|&o| type_of_oid(o)).collect();
        let sess = Arc::clone(session);
        // Named statements live in the session's namespace (DEALLOCATE
        // drops them; a taken name is 42P05 there).
        let named = (!name.is_empty()).then(|| name.clone());
        let info = self
            .on_pool(move || {
                let t: &[DataType] = &types;
                let mut s = sess.lock().unwrap_or_else(|e| e.into_inner());
                match named {
                    Some(n) => s.prepare_named(RStr::from_str(&n), RStr::from_str(&sql), t.into()),
                    None => s.prepare(RStr::from_str(&sql), t.into()),
                }
                .into_result()
            })
            .await??;
        if let Some(old) = stmts.insert(
            name,
            Stmt {
                id: info.id,
                param_types: info.param_types.to_vec(),
                columns: info.columns,
                returns_rows: info.returns_rows,
            },
        ) {
            self.close_statement(session, old.id).await;
        }
        proto::parse_complete(&mut self.out);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn bind(
        &mut self,
        stmts: &Named<Stmt>,
        portals: &mut Named<Portal>,
        m: &proto::Bind<'_>,
    ) -> DbResult<()> {
        let Some(st) = stmts.get(m.statement) else {
            return Err(no_statement(m.statement));
        };
        if m.nparams != st.param_types.len() {
            return Err(protocol_violation(format!(
                "bind message supplies {} parameters, but prepared statement \"{}\" requires {}",
                m.nparams,
                m.statement,
                st.param_types.len()
            )));
        }
        let ncols = st.columns.fields.len();
        check_formats(m.param_formats(), m.nparams, "parameter")?;
        check_formats(m.result_formats(), ncols, "result")?;
        // As in PostgreSQL, binding the unnamed portal drops the old one
        // first; its buffers are reused.
        let mut p = if m.portal.is_empty() {
            portals.remove("")
        } else {
            None
        }
        .unwrap_or_else(|| Portal {
            stmt: String::new(),
            params: Vec::new(),
            formats: Vec::new(),
            pending: None,
        });
        p.pending = None;
        p.stmt.clear();
        p.stmt.push_str(m.statement);
        p.params.clear();
        let fmt = &self.fmt;
        for (i, v) in m.params().enumerate() {
            let ty = &st.param_types[i];
            p.params.push(match v {
                None => Value::Null,
                Some(bytes) if m.param_format(i) == 1 => values::decode_binary(bytes, ty)?,
                Some(bytes) => values::decode_text(bytes, ty, fmt)?,
            });
        }
        p.formats.clear();
        p.formats.extend((0..ncols).map(|i| m.result_format(i)));
        if !m.portal.is_empty() && portals.contains_key(m.portal) {
            return Err(AionError::new(
                SqlState::new(b"42P03"),
                format!("portal \"{}\" already exists", m.portal),
            ));
        }
        portals.insert(m.portal.to_string(), p);
        proto::bind_complete(&mut self.out);
        Ok(())
    }

    fn describe(
        &mut self,
        stmts: &Named<Stmt>,
        portals: &Named<Portal>,
        portal: bool,
        name: &str,
    ) -> DbResult<()> {
        if portal {
            let Some(p) = portals.get(name) else {
                return Err(no_portal(name));
            };
            let Some(st) = stmts.get(&p.stmt) else {
                return Err(no_statement(&p.stmt));
            };
            if st.returns_rows {
                proto::row_description(&mut self.out, describe_fields(&st.columns, &p.formats));
            } else {
                proto::no_data(&mut self.out);
            }
            return Ok(());
        }
        let Some(st) = stmts.get(name) else {
            return Err(no_statement(name));
        };
        let oids: Vec<u32> = st.param_types.iter().map(DataType::oid).collect();
        proto::parameter_description(&mut self.out, &oids);
        if st.returns_rows {
            proto::row_description(&mut self.out, describe_fields(&st.columns, &[]));
        } else {
            proto::no_data(&mut self.out);
        }
        Ok(())
    }

    async fn execute(
        &mut self,
        session: &Arc<Mutex<SurfaceSessionBox>>,
        stmts: &Named<Stmt>,
        portals: &mut Named<Portal>,
        name: &str,
        max_rows: i32,
    ) -> DbResult<()> {
        let Some(p) = portals.get_mut(name) else {
            return Err(no_portal(name));
        };
        let Some(st) = stmts.get(&p.stmt) else {
            return Err(no_statement(&p.stmt));
        };
        let mut sync_error = None;
        let (outcome, from) = match p.pending.take() {
            Some(x) => *x,
            None => {
                let sess = Arc::clone(session);
                let id = st.id;
                let params = std::mem::take(&mut p.params);
                // With the Sync already here, commit in the same engine
                // job: one trip to the pool per statement, not two.
                let sync_now = self.next_is_sync();
                let r = self
                    .on_pool(move || {
                        let mut s = sess.lock().unwrap_or_else(|e| e.into_inner());
                        let out = s.execute(id, params.as_slice().into()).into_result();
                        let synced = if sync_now && out.is_ok() {
                            s.sync().into_result()
                        } else {
                            Ok(())
                        };
                        (out, synced, params)
                    })
                    .await?;
                let (out, synced, params) = r;
                self.sync_pending = !sync_now;
                if let Err(e) = synced {
                    sync_error = Some(e);
                }
                if let Some(p) = portals.get_mut(name) {
                    p.params = params;
                }
                self.report_changes(session);
                (out?, 0)
            }
        };
        for n in outcome.notices.iter() {
            self.send_error(n, false)
                .await
                .map_err(|e| Fatal::from(e).0)?;
        }
        let total = outcome.rows.len();
        let to = if max_rows > 0 {
            (from + max_rows as usize).min(total)
        } else {
            total
        };
        if let Some(c) = outcome.copy.as_ref().into_option() {
            if !c.copy_in {
                return self.write_copy_out(&outcome, c).await.map_err(|f| f.0);
            }
            let done = self.copy_in(session, c).await.map_err(|f| f.0)?;
            self.report_changes(session);
            if let Some(e) = done.error.into_option() {
                return Err(e);
            }
            for r in done.results.iter() {
                proto::command_complete(&mut self.out, r.tag.as_str());
            }
            return Ok(());
        }
        let formats = portals.get(name).map_or(&[][..], |p| &p.formats[..]);
        if outcome.returns_rows {
            self.write_rows(&outcome, from, to, formats)
                .await
                .map_err(|f| f.0)?;
        }
        if to < total {
            proto::portal_suspended(&mut self.out);
            if let Some(p) = portals.get_mut(name) {
                p.pending = Some(Box::new((outcome, to)));
            }
        } else {
            proto::command_complete(&mut self.out, outcome.tag.as_str());
        }
        // A failed implicit commit is reported after the statement's own
        // result, as PostgreSQL reports it at Sync.
        match sync_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// `fut`, ended with 57P05 once `limit` (the idle-session timeout) passes.
async fn idle_bounded<T>(
    limit: Option<Duration>,
    fut: impl std::future::Future<Output = Result<T, Fatal>>,
) -> Result<T, Fatal> {
    let Some(limit) = limit else {
        return fut.await;
    };
    async_std::future::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| {
            Err(Fatal(AionError::new(
                SqlState::new(b"57P05"),
                "terminating connection due to idle-session timeout",
            )))
        })
}

/// Runs `f` on the engine pool and waits for it without blocking this
/// thread.
async fn on_pool<T: Send + 'static>(
    host: &HostRef,
    f: impl FnOnce() -> T + Send + 'static,
) -> DbResult<T> {
    let (tx, rx) = async_std::channel::bounded(1);
    host.submit(job(move || {
        let _ = tx.try_send(f());
    }))
    .into_result()?;
    rx.recv()
        .await
        .map_err(|_| AionError::internal("the statement's engine job failed"))
}

fn no_portal(name: &str) -> AionError {
    AionError::new(
        SqlState::new(b"34000"),
        format!("portal \"{name}\" does not exist"),
    )
}

fn no_statement(name: &str) -> AionError {
    AionError::new(
        SqlState::new(b"26000"),
        format!("prepared statement \"{name}\" does not exist"),
    )
}

fn reported(session: &Arc<Mutex<SurfaceSessionBox>>) -> Vec<(String, String)> {
    session
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .reported_settings()
        .iter()
        .map(|Tuple2(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A client's format codes for `n` values: none means all text, one
/// applies to all, otherwise one each.
/// Checks a Bind message's format codes: none (text), one for all, or
/// one per item; each 0 (text) or 1 (binary).
fn check_formats(
    mut codes: impl ExactSizeIterator<Item = i16>,
    n: usize,
    what: &str,
) -> DbResult<()> {
    let len = codes.len();
    if len > 1 && len != n {
        return Err(protocol_violation(format!(
            "bind message has {len} {what} formats but {n} {what}s"
        )));
    }
    if let Some(bad) = codes.find(|&c| c != 0 && c != 1) {
        return Err(protocol_violation(format!(
            "unsupported format code: {bad}"
        )));
    }
    Ok(())
}

fn describe_fields<'a>(
    columns: &'a Schema,
    formats: &'a [i16],
) -> impl ExactSizeIterator<Item = FieldDescription<'a>> + 'a {
    columns.fields.iter().enumerate().map(move |(i, f)| {
        let oid = f.data_type.oid();
        FieldDescription {
            name: f.name.as_str(),
            table_oid: 0,
            column: 0,
            type_oid: oid,
            type_len: proto::type_len(oid),
            type_modifier: f.data_type.typmod,
            format: formats.get(i).copied().unwrap_or(0),
        }
    })
}

/// The type a client declared for a parameter (0 or an unknown OID leaves
/// it to inference).
fn type_of_oid(oid: u32) -> DataType {
    if oid == 0 {
        return DataType::scalar(TypeId::Unknown);
    }
    if let Some(t) = TypeId::from_oid(oid) {
        return DataType::scalar(t);
    }
    TypeId::BUILTINS
        .iter()
        .find(|t| t.array_oid() == Some(oid))
        .map(|t| DataType::array_of(*t))
        .unwrap_or(DataType::scalar(TypeId::Unknown))
}
