//! Lanes: a few engine workers, each serving several busy connections.
//!
//! A worker that serves one connection (`inline`) sleeps in `recv(2)`
//! after every answer and is woken for the next message: on a machine with
//! fewer cores than busy clients, every statement pays a sleep and a
//! wake-up. A lane is one engine worker waiting in `epoll_wait(2)` on all
//! the connections given to it: when it finishes one connection's answer,
//! another's message is often in already, and it goes on without sleeping.
//! With pgbench's 4 clients on 2 cores, a canned-answer server gets about
//! 30% more transactions per second this way than with a thread per
//! connection (`benches/RESULTS.md`, session 11).
//!
//! Sharing a thread must not let one connection hold up the others:
//! - Only idle sessions ride a lane. A connection inside a transaction
//!   (or an unsynced extended-protocol batch) leaves it, so a lock holder
//!   waiting for its client never shares a thread with a statement waiting
//!   for that lock.
//! - The watchman thread looks at the lanes every [`TICK`]: a lane that
//!   has been on one connection's messages for a whole tick (a long
//!   statement, a COPY, a client not reading its answers) hands its other
//!   connections back to the network side, which places them elsewhere;
//!   and connections that sent nothing for the linger time go back too.
//! - A message arriving in parts waits in the lane's buffer, not in a
//!   thread.
//!
//! Statements still only run on engine-pool workers: a lane is a pool job.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use aiondb_sdk::error::{AionError, DbResult};
use aiondb_sdk::host::HostRef;
use aiondb_sdk::surface::job;

use super::{Fatal, Flow};

/// How often the watchman looks at the lanes.
const TICK: Duration = Duration::from_millis(2);
/// Ticks one turn may last before the lane's other connections move.
const STUCK_TICKS: u32 = 2;
/// The token of a lane's wake-up eventfd in its epoll set.
const WAKE: u64 = u64::MAX;

/// What a lane needs of a connection.
pub(super) trait Hot: Send + Sync {
    /// The socket, for the lane's epoll set.
    fn fd(&self) -> RawFd;
    /// Takes what the socket has (`read`: epoll said it has something;
    /// never waits) and handles the whole messages buffered. `None`: the
    /// connection stays on the lane; otherwise it leaves with this result.
    fn serve(&self, read: bool) -> Option<Result<Flow, Fatal>>;
    /// Puts the socket back in the network side's mode.
    fn leave(&self) -> std::io::Result<()>;
}

/// A connection on a lane.
struct Entry {
    conn: Arc<dyn Hot>,
    /// Where the connection's task waits for it.
    done: async_std::channel::Sender<Result<Flow, Fatal>>,
    /// Watchman ticks since its last message.
    idle_ticks: u32,
    /// The lane the connection belongs on when the lanes are balanced.
    home: usize,
    /// In the epoll set.
    registered: bool,
}

impl Entry {
    fn release(self, epfd: RawFd, result: Result<Flow, Fatal>) {
        if self.registered {
            // SAFETY: plain system call on descriptors we hold open (the
            // connection's task keeps its socket until it hears back).
            unsafe {
                libc::epoll_ctl(
                    epfd,
                    libc::EPOLL_CTL_DEL,
                    self.conn.fd(),
                    std::ptr::null_mut(),
                )
            };
        }
        // A socket left in blocking mode would stall the network side.
        let result = match self.conn.leave() {
            Ok(()) => result,
            Err(e) => Err(e.into()),
        };
        let _ = self.done.try_send(result);
    }
}

#[derive(Default)]
struct State {
    /// Connections waiting for their next message, by token.
    waiting: HashMap<u64, Entry>,
    /// Connections handed over and not yet served.
    inbox: Vec<Entry>,
    /// A pool job serves the lane.
    running: bool,
    next_token: u64,
}

struct Lane {
    epfd: OwnedFd,
    wake: OwnedFd,
    state: Mutex<State>,
    /// Connections on the lane, in service or waiting.
    load: AtomicUsize,
    /// Odd while the lane's worker handles a connection's messages;
    /// bumped at the start and end of each such turn.
    turn: AtomicU64,
    /// The watchman moved the other connections off during the current
    /// turn: no new ones until it ends.
    stalled: AtomicBool,
}

impl Lane {
    fn new() -> std::io::Result<Lane> {
        // SAFETY: plain system calls; the descriptors are owned from here.
        let (epfd, wake) = unsafe {
            let ep = libc::epoll_create1(libc::EPOLL_CLOEXEC);
            if ep < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let epfd = OwnedFd::from_raw_fd(ep);
            let ev = libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK);
            if ev < 0 {
                return Err(std::io::Error::last_os_error());
            }
            (epfd, OwnedFd::from_raw_fd(ev))
        };
        let lane = Lane {
            epfd,
            wake,
            state: Mutex::default(),
            load: AtomicUsize::new(0),
            turn: AtomicU64::new(0),
            stalled: AtomicBool::new(false),
        };
        lane.ctl(libc::EPOLL_CTL_ADD, lane.wake.as_raw_fd(), WAKE)?;
        Ok(lane)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, token: u64) -> std::io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: plain system call on open descriptors.
        match unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), op, fd, &mut ev) } {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        }
    }

    fn notify(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a live buffer to our eventfd; a full
        // counter (EAGAIN) already means "wake up".
        unsafe { libc::write(self.wake.as_raw_fd(), one.as_ptr().cast(), 8) };
    }

    fn drain_wake(&self) {
        let mut buf = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a live buffer.
        unsafe { libc::read(self.wake.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
    }

    /// Hands back every waiting connection (and those not yet served).
    fn release_all(&self, state: &mut State) {
        let epfd = self.epfd.as_raw_fd();
        let entries: Vec<Entry> = state
            .waiting
            .drain()
            .map(|(_, e)| e)
            .chain(state.inbox.drain(..))
            .collect();
        self.load.fetch_sub(entries.len(), Ordering::Relaxed);
        for e in entries {
            e.release(epfd, Ok(Flow::Go));
        }
    }
}

/// The lanes of a surface, and its watchman.
pub(crate) struct Lanes {
    lanes: Arc<[Arc<Lane>]>,
    host: HostRef,
    linger: Duration,
    stopping: Arc<AtomicBool>,
    /// Connections on all lanes; the watchman sleeps while it is 0.
    hot: Arc<AtomicUsize>,
    watchman: Mutex<Option<std::thread::Thread>>,
}

impl Lanes {
    /// `n` lanes (at least one); `None` when the system refuses the
    /// descriptors (connections are then served one per worker).
    pub fn new(
        n: usize,
        host: HostRef,
        linger: Duration,
        stopping: Arc<AtomicBool>,
    ) -> Option<Arc<Lanes>> {
        let lanes = (0..n.max(1))
            .map(|_| Lane::new().map(Arc::new))
            .collect::<std::io::Result<Arc<[_]>>>()
            .map_err(|e| log::warn!("pgwire: no lanes ({e}); one worker per busy connection"))
            .ok()?;
        let lanes = Arc::new(Lanes {
            lanes,
            host,
            linger,
            stopping,
            hot: Arc::default(),
            watchman: Mutex::new(None),
        });
        let weak = Arc::downgrade(&lanes);
        let spawned = std::thread::Builder::new()
            .name("aiondb-pgwire-lanes".into())
            .spawn(move || watch(weak));
        match spawned {
            Ok(handle) => {
                *lanes.watchman.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(handle.thread().clone());
                Some(lanes)
            }
            Err(e) => {
                log::warn!("pgwire: no lane watchman ({e}); one worker per busy connection");
                None
            }
        }
    }

    /// A lane for a connection whose home lane is `home` (modulo the
    /// number of lanes): home when no open lane has fewer connections,
    /// else the least loaded; never one whose worker is stuck on a
    /// connection. Coming home keeps clients spread evenly across lanes
    /// when they come and go (a lane with 3 of 4 busy clients is the
    /// bottleneck).
    pub(super) fn pick(&self, home: usize) -> Option<usize> {
        let open = |l: &&Arc<Lane>| !l.stalled.load(Ordering::Relaxed);
        let (least, min) = self
            .lanes
            .iter()
            .enumerate()
            .filter(|(_, l)| open(l))
            .map(|(i, l)| (i, l.load.load(Ordering::Relaxed)))
            .min_by_key(|&(_, load)| load)?;
        let home = home % self.lanes.len();
        match self.lanes.get(home) {
            Some(h) if open(&h) && h.load.load(Ordering::Relaxed) <= min => Some(home),
            _ => Some(least),
        }
    }

    /// Puts `conn` on lane `i`; it comes back through `done`. `Err` when
    /// the pool refused the lane's job (the connection is not taken).
    pub(super) fn enter(
        &self,
        i: usize,
        home: usize,
        conn: Arc<dyn Hot>,
        done: async_std::channel::Sender<Result<Flow, Fatal>>,
    ) -> DbResult<()> {
        let Some(lane) = self.lanes.get(i) else {
            return Err(AionError::internal("no such lane"));
        };
        let entry = Entry {
            conn,
            done,
            idle_ticks: 0,
            home: home % self.lanes.len(),
            registered: false,
        };
        lane.load.fetch_add(1, Ordering::Relaxed);
        if self.hot.fetch_add(1, Ordering::Relaxed) == 0 {
            if let Some(t) = &*self.watchman.lock().unwrap_or_else(|e| e.into_inner()) {
                t.unpark();
            }
        }
        let mut st = lane.state();
        if st.running {
            st.inbox.push(entry);
            drop(st);
            lane.notify();
            return Ok(());
        }
        let all = Arc::clone(&self.lanes);
        let (linger, stopping) = (self.linger, Arc::clone(&self.stopping));
        let hot = Arc::clone(&self.hot);
        if let Err(e) = self
            .host
            .submit(job(move || run(&all, i, linger, &stopping, &hot)))
            .into_result()
        {
            drop(st);
            lane.load.fetch_sub(1, Ordering::Relaxed);
            self.hot.fetch_sub(1, Ordering::Relaxed);
            return Err(e);
        }
        st.running = true;
        st.inbox.push(entry);
        Ok(())
    }
}

/// A lane's job: serves its connections until none is left.
fn run(all: &[Arc<Lane>], me: usize, linger: Duration, stopping: &AtomicBool, hot: &AtomicUsize) {
    let Some(lane) = all.get(me) else { return };
    let _unwinding = Unwinding { lane, hot };
    let epfd = lane.epfd.as_raw_fd();
    let timeout = linger.as_millis().clamp(1, 1000) as libc::c_int;
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 16];
    loop {
        let arrivals = std::mem::take(&mut lane.state().inbox);
        for e in arrivals {
            serve(lane, e, false, hot);
        }
        // SAFETY: the buffer outlives the call and its length is passed.
        let n = unsafe {
            libc::epoll_wait(
                epfd,
                events.as_mut_ptr(),
                events.len() as libc::c_int,
                timeout,
            )
        };
        if stopping.load(Ordering::Relaxed) {
            let mut st = lane.state();
            let before = st.waiting.len() + st.inbox.len();
            lane.release_all(&mut st);
            hot.fetch_sub(before, Ordering::Relaxed);
            st.running = false;
            return;
        }
        if n <= 0 {
            // Nothing within the linger time (or EINTR): done when the
            // watchman has taken every connection back.
            lane.stalled.store(false, Ordering::Relaxed);
            let mut st = lane.state();
            if st.waiting.is_empty() && st.inbox.is_empty() {
                st.running = false;
                return;
            }
            continue;
        }
        for ev in &events[..n as usize] {
            let token = ev.u64;
            if token == WAKE {
                lane.drain_wake();
                continue;
            }
            // Gone when the watchman handed it back meanwhile.
            let taken = lane.state().waiting.remove(&token);
            if let Some(e) = taken {
                serve_token(all, me, e, token, hot);
            }
        }
    }
}

/// Should a lane's job unwind (a bug: connection turns catch their own
/// panics), its connections go back to the network side instead of
/// waiting for a job that is gone.
struct Unwinding<'a> {
    lane: &'a Lane,
    hot: &'a AtomicUsize,
}

impl Drop for Unwinding<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut st = self.lane.state();
            let n = st.waiting.len() + st.inbox.len();
            self.lane.release_all(&mut st);
            self.hot.fetch_sub(n, Ordering::Relaxed);
            st.running = false;
        }
    }
}

/// Serves a connection that epoll reported, under its token.
fn serve_token(all: &[Arc<Lane>], me: usize, e: Entry, token: u64, hot: &AtomicUsize) {
    let Some(lane) = all.get(me) else { return };
    let served = match turn(lane, &e, true) {
        // Away from a less loaded home lane (a stall moved it): back to
        // the network side, which places it at home.
        None if drifted(all, me, e.home) => Some(Ok(Flow::Go)),
        r => r,
    };
    match served {
        None => {
            let mut e = e;
            e.idle_ticks = 0;
            lane.state().waiting.insert(token, e);
        }
        Some(result) => {
            lane.load.fetch_sub(1, Ordering::Relaxed);
            hot.fetch_sub(1, Ordering::Relaxed);
            e.release(lane.epfd.as_raw_fd(), result);
        }
    }
}

/// Whether a connection on lane `me` should go back to `home`: that lane
/// is open and has at least two connections fewer.
fn drifted(all: &[Arc<Lane>], me: usize, home: usize) -> bool {
    let load = |i: usize| all.get(i).map_or(0, |l| l.load.load(Ordering::Relaxed));
    home != me
        && all
            .get(home)
            .is_some_and(|h| !h.stalled.load(Ordering::Relaxed))
        && load(home) + 1 < load(me)
}

/// Serves a newly arrived connection (its message is in its buffer).
fn serve(lane: &Lane, mut e: Entry, read: bool, hot: &AtomicUsize) {
    match turn(lane, &e, read) {
        None => {
            let mut st = lane.state();
            let token = st.next_token;
            st.next_token += 1;
            match lane.ctl(libc::EPOLL_CTL_ADD, e.conn.fd(), token) {
                Ok(()) => {
                    e.registered = true;
                    st.waiting.insert(token, e);
                }
                Err(err) => {
                    drop(st);
                    log::debug!("pgwire: lane could not watch a connection: {err}");
                    lane.load.fetch_sub(1, Ordering::Relaxed);
                    hot.fetch_sub(1, Ordering::Relaxed);
                    e.release(lane.epfd.as_raw_fd(), Ok(Flow::Go));
                }
            }
        }
        Some(result) => {
            lane.load.fetch_sub(1, Ordering::Relaxed);
            hot.fetch_sub(1, Ordering::Relaxed);
            e.release(lane.epfd.as_raw_fd(), result);
        }
    }
}

/// One turn of the lane's worker on a connection, marked for the
/// watchman.
fn turn(lane: &Lane, e: &Entry, read: bool) -> Option<Result<Flow, Fatal>> {
    lane.turn.fetch_add(1, Ordering::Release);
    let r = e.conn.serve(read);
    lane.turn.fetch_add(1, Ordering::Release);
    if lane.stalled.load(Ordering::Relaxed) {
        lane.stalled.store(false, Ordering::Relaxed);
    }
    r
}

/// The watchman: moves connections off lanes stuck on one connection, and
/// hands idle ones back to the network side.
fn watch(lanes: std::sync::Weak<Lanes>) {
    // Per lane: the turn seen at the last tick, and for how many ticks
    // in a row it has been the same odd one.
    let mut seen: Vec<(u64, u32)> = Vec::new();
    loop {
        let Some(l) = lanes.upgrade() else { return };
        if l.stopping.load(Ordering::Relaxed) {
            return;
        }
        let idle_limit = (l.linger.as_micros() / TICK.as_micros()).max(1) as u32;
        seen.resize(l.lanes.len(), (0, 0));
        let mut released = 0;
        for (lane, seen) in l.lanes.iter().zip(seen.iter_mut()) {
            let turn = lane.turn.load(Ordering::Acquire);
            seen.1 = match turn % 2 == 1 && turn == seen.0 {
                true => seen.1 + 1,
                false => 0,
            };
            seen.0 = turn;
            // Two ticks: a worker preempted for a moment is not stuck.
            let stuck = seen.1 >= STUCK_TICKS;
            let mut st = lane.state();
            if stuck {
                // New connections go elsewhere until the turn ends.
                lane.stalled.store(true, Ordering::Relaxed);
                let others = st.waiting.len() + st.inbox.len();
                if others > 0 {
                    log::debug!(
                        "pgwire: a lane is busy with one connection; moving {others} others"
                    );
                    released += others;
                    lane.release_all(&mut st);
                }
                continue;
            }
            let epfd = lane.epfd.as_raw_fd();
            let idle: Vec<u64> = st
                .waiting
                .iter_mut()
                .filter_map(|(t, e)| {
                    e.idle_ticks += 1;
                    (e.idle_ticks > idle_limit).then_some(*t)
                })
                .collect();
            for t in idle {
                if let Some(e) = st.waiting.remove(&t) {
                    lane.load.fetch_sub(1, Ordering::Relaxed);
                    released += 1;
                    e.release(epfd, Ok(Flow::Go));
                }
            }
        }
        l.hot.fetch_sub(released, Ordering::Relaxed);
        let sleep = l.hot.load(Ordering::Relaxed) == 0;
        drop(l);
        if sleep {
            // Woken by the next connection put on a lane.
            std::thread::park_timeout(Duration::from_secs(1));
        } else {
            std::thread::sleep(TICK);
        }
    }
}
