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
//!   has been on one connection's messages for [`STUCK_TICKS`] looks (a
//!   long statement, a lock wait, a COPY, a client not reading its
//!   answers) hands its other connections back to the network side, which
//!   places them elsewhere; and connections that sent nothing for the
//!   linger time go back too.
//! - A message arriving in parts waits in the lane's buffer, not in a
//!   thread.
//!
//! With affinity (`Lanes::home`), each lane's worker keeps to one CPU and
//! serves the connections whose clients send from that CPU.
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
/// Turns of a lane between looks at where its clients send from.
const REHOME_EVERY: u64 = 64;
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
    /// The CPU the client last sent from, when known.
    fn incoming_cpu(&self) -> Option<usize>;
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
}

impl Entry {
    /// Out of the epoll set `watched_by` (a waiting connection is in its
    /// lane's; one in an inbox or just served for the first time is in
    /// none).
    fn unwatch(&self, watched_by: Option<RawFd>) {
        if let Some(epfd) = watched_by {
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
    }

    /// Back to the connection's task with `result`.
    fn release(self, watched_by: Option<RawFd>, result: Result<Flow, Fatal>) {
        self.unwatch(watched_by);
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

    /// Takes new connections: its worker is not stuck on one.
    fn open(&self) -> bool {
        !self.stalled.load(Ordering::Relaxed)
    }

    fn load(&self) -> usize {
        self.load.load(Ordering::Relaxed)
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

    /// Hands `e` back to its task with `result`, off this lane (out of its
    /// epoll set when `watched`).
    fn hand_back(&self, e: Entry, watched: bool, result: Result<Flow, Fatal>) {
        self.load.fetch_sub(1, Ordering::Relaxed);
        e.release(watched.then(|| self.epfd.as_raw_fd()), result);
    }

    /// Hands back every connection and marks the lane's job gone.
    fn close(&self) {
        let mut st = self.state();
        self.release_all(&mut st);
        st.running = false;
    }

    /// Hands back every waiting connection (and those not yet served).
    fn release_all(&self, state: &mut State) {
        let epfd = self.epfd.as_raw_fd();
        self.load
            .fetch_sub(state.waiting.len() + state.inbox.len(), Ordering::Relaxed);
        for (_, e) in state.waiting.drain() {
            e.release(Some(epfd), Ok(Flow::Go));
        }
        for e in state.inbox.drain(..) {
            e.release(None, Ok(Flow::Go));
        }
    }
}

/// The lanes of a surface, and its watchman.
pub(crate) struct Lanes {
    lanes: Arc<[Arc<Lane>]>,
    /// With CPU affinity: each lane's CPU.
    cpus: Option<Arc<[usize]>>,
    host: HostRef,
    linger: Duration,
    stopping: Arc<AtomicBool>,
    watchman: Mutex<Option<std::thread::Thread>>,
}

impl Lanes {
    /// `n` lanes (at least one), each kept on a CPU of its own when
    /// `affinity` (see `home`); `None` when the system refuses the
    /// descriptors (connections are then served one per worker).
    pub fn new(
        n: usize,
        affinity: bool,
        host: HostRef,
        linger: Duration,
        stopping: Arc<AtomicBool>,
    ) -> Option<Arc<Lanes>> {
        let n = n.max(1);
        let lanes = (0..n)
            .map(|_| Lane::new().map(Arc::new))
            .collect::<std::io::Result<Arc<[_]>>>()
            .map_err(|e| log::warn!("pgwire: no lanes ({e}); one worker per busy connection"))
            .ok()?;
        let cpus = match affinity {
            true => allowed_cpus().map(|c| (0..n).map(|i| c[i % c.len()]).collect()),
            false => None,
        };
        let lanes = Arc::new(Lanes {
            lanes,
            cpus,
            host,
            linger,
            stopping,
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

    /// Connections on all lanes.
    fn hot(&self) -> usize {
        self.lanes.iter().map(|l| l.load()).sum()
    }

    /// Whether lanes keep to CPUs, and so want `home`'s `client_cpu`.
    pub(super) fn affinity(&self) -> bool {
        self.cpus.is_some()
    }

    /// The lane a connection belongs on. With affinity, the one on the
    /// CPU its client last sent from: a loopback client's packets are
    /// handled on its own CPU, so the lane's worker and the client then
    /// hand each message to each other on one CPU, with no wake-up of
    /// another CPU in between (pgbench `-S` went from 65-110k TPS,
    /// depending on how the scheduler happened to place the threads, to
    /// 100-107k every run). Otherwise, or when the CPU is not known,
    /// connections are spread in the order they started.
    pub(super) fn home(&self, client_cpu: Option<usize>, start_order: usize) -> usize {
        let on_cpu = |cpu: usize| self.cpus.as_ref()?.iter().position(|&c| c == cpu);
        client_cpu
            .and_then(on_cpu)
            .unwrap_or(start_order % self.lanes.len())
    }

    /// A lane for a connection whose home lane is `home`: home when no
    /// open lane has fewer connections, else the least loaded; never one
    /// whose worker is stuck on a connection. (A lane with 3 of 4 busy
    /// clients is the bottleneck.)
    pub(super) fn pick(&self, home: usize) -> Option<usize> {
        let (least, min) = self
            .lanes
            .iter()
            .enumerate()
            .filter(|(_, l)| l.open())
            .map(|(i, l)| (i, l.load()))
            .min_by_key(|&(_, load)| load)?;
        match self.lanes.get(home) {
            Some(h) if h.open() && h.load() <= min => Some(home),
            _ => Some(least),
        }
    }

    /// Puts `conn` on lane `i`; it comes back through `done`. `Err` when
    /// the pool refused the lane's job (the connection is not taken).
    pub(super) fn enter(
        self: &Arc<Self>,
        i: usize,
        home: usize,
        conn: Arc<dyn Hot>,
        done: async_std::channel::Sender<Result<Flow, Fatal>>,
    ) -> DbResult<()> {
        let entry = Entry {
            conn,
            done,
            idle_ticks: 0,
            home,
        };
        if self.hot() == 0 {
            // The watchman sleeps while no lane has a connection.
            if let Some(t) = &*self.watchman.lock().unwrap_or_else(|e| e.into_inner()) {
                t.unpark();
            }
        }
        self.push(i, entry).map_err(|refused| refused.1)
    }

    /// Puts `entry` in lane `i`'s inbox, starting the lane's job when none
    /// runs; gives the entry back when the pool refuses the job.
    fn push(self: &Arc<Self>, i: usize, entry: Entry) -> Result<(), Box<(Entry, AionError)>> {
        let Some(lane) = self.lanes.get(i) else {
            return Err(Box::new((entry, AionError::internal("no such lane"))));
        };
        lane.load.fetch_add(1, Ordering::Relaxed);
        let mut st = lane.state();
        if !st.running {
            let lanes = Arc::clone(self);
            if let Err(e) = self.host.submit(job(move || run(&lanes, i))).into_result() {
                drop(st);
                lane.load.fetch_sub(1, Ordering::Relaxed);
                return Err(Box::new((entry, e)));
            }
            st.running = true;
            st.inbox.push(entry);
            return Ok(());
        }
        st.inbox.push(entry);
        drop(st);
        lane.notify();
        Ok(())
    }

    /// Where a connection that stays on lane `me` after a turn should go
    /// instead, if anywhere: home when a stall moved it away and home now
    /// has two connections fewer; and, every [`REHOME_EVERY`] turns with
    /// affinity, the lane on its client's CPU when that lane has no more
    /// connections than this one (so two misplaced clients swap).
    fn better_lane(&self, me: usize, e: &mut Entry) -> Option<usize> {
        let load = |i: usize| self.lanes.get(i).map_or(usize::MAX, |l| l.load());
        let open = |i: usize| self.lanes.get(i).is_some_and(|l| l.open());
        if e.home != me && open(e.home) && load(e.home) + 1 < load(me) {
            return Some(e.home);
        }
        let turns = self.lanes.get(me)?.turn.load(Ordering::Relaxed) / 2;
        if self.cpus.is_none() || turns % REHOME_EVERY != 0 {
            return None;
        }
        let home = self.home(e.conn.incoming_cpu(), e.home);
        e.home = home;
        (home != me && open(home) && load(home) <= load(me)).then_some(home)
    }
}

/// The CPUs this process may run on (as the calling thread), in order;
/// `None` when the system does not say.
fn allowed_cpus() -> Option<Vec<usize>> {
    let set = thread_affinity()?;
    // SAFETY: CPU_ISSET reads a live cpu_set_t at indices below its size.
    let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect();
    (!cpus.is_empty()).then_some(cpus)
}

/// The calling thread's CPU affinity, to put back later.
fn thread_affinity() -> Option<libc::cpu_set_t> {
    // SAFETY: `set` is a live, zeroed cpu_set_t of the size passed.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        (libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0)
            .then_some(set)
    }
}

fn set_thread_affinity(set: &libc::cpu_set_t) {
    // SAFETY: `set` is a valid cpu_set_t of the size passed. A refusal
    // (a CPU taken away meanwhile) leaves the thread where it was.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) };
}

/// A lane's job: serves its connections until none is left.
fn run(lanes: &Arc<Lanes>, me: usize) {
    let Some(lane) = lanes.lanes.get(me) else {
        return;
    };
    let _job = JobGuard::start(lanes, me);
    let epfd = lane.epfd.as_raw_fd();
    let timeout = lanes.linger.as_millis().clamp(1, 1000) as libc::c_int;
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 16];
    loop {
        let arrivals = std::mem::take(&mut lane.state().inbox);
        for e in arrivals {
            serve(lanes, me, e);
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
        if lanes.stopping.load(Ordering::Relaxed) {
            lane.close();
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
                serve_token(lanes, me, e, token);
            }
        }
    }
}

/// For the length of a lane's job: the worker kept to the lane's CPU (and
/// put back as it was after), and should the job unwind (a bug:
/// connection turns catch their own panics), its connections handed back
/// instead of waiting for a job that is gone.
struct JobGuard<'a> {
    lanes: &'a Lanes,
    me: usize,
    affinity: Option<libc::cpu_set_t>,
}

impl<'a> JobGuard<'a> {
    fn start(lanes: &'a Lanes, me: usize) -> JobGuard<'a> {
        let cpu = lanes.cpus.as_ref().and_then(|c| c.get(me).copied());
        let affinity = cpu.and_then(|cpu| {
            let saved = thread_affinity()?;
            // SAFETY: a zeroed cpu_set_t is the empty set, and `cpu` came
            // from sched_getaffinity, so it is below CPU_SETSIZE.
            let only = unsafe {
                let mut only: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(cpu, &mut only);
                only
            };
            set_thread_affinity(&only);
            Some(saved)
        });
        JobGuard {
            lanes,
            me,
            affinity,
        }
    }
}

impl Drop for JobGuard<'_> {
    fn drop(&mut self) {
        if let Some(saved) = &self.affinity {
            set_thread_affinity(saved);
        }
        if std::thread::panicking() {
            if let Some(lane) = self.lanes.lanes.get(self.me) {
                lane.close();
            }
        }
    }
}

/// Serves a connection that epoll reported, under its token.
fn serve_token(lanes: &Arc<Lanes>, me: usize, mut e: Entry, token: u64) {
    let Some(lane) = lanes.lanes.get(me) else {
        return;
    };
    match turn(lane, &e, true) {
        None => match lanes.better_lane(me, &mut e) {
            None => {
                e.idle_ticks = 0;
                lane.state().waiting.insert(token, e);
            }
            Some(to) => move_to(lanes, me, e, to),
        },
        Some(result) => lane.hand_back(e, true, result),
    }
}

/// Moves a waiting connection from lane `me` to lane `to`.
fn move_to(lanes: &Arc<Lanes>, me: usize, mut e: Entry, to: usize) {
    let Some(lane) = lanes.lanes.get(me) else {
        return;
    };
    e.unwatch(Some(lane.epfd.as_raw_fd()));
    lane.load.fetch_sub(1, Ordering::Relaxed);
    e.idle_ticks = 0;
    if let Err(refused) = lanes.push(to, e) {
        refused.0.release(None, Ok(Flow::Go));
    }
}

/// Serves a newly arrived connection (its message is in its buffer, or
/// it moved here from another lane).
fn serve(lanes: &Lanes, me: usize, e: Entry) {
    let Some(lane) = lanes.lanes.get(me) else {
        return;
    };
    match turn(lane, &e, false) {
        None => {
            let mut st = lane.state();
            let token = st.next_token;
            st.next_token += 1;
            match lane.ctl(libc::EPOLL_CTL_ADD, e.conn.fd(), token) {
                Ok(()) => {
                    st.waiting.insert(token, e);
                }
                Err(err) => {
                    drop(st);
                    log::debug!("pgwire: lane could not watch a connection: {err}");
                    lane.hand_back(e, false, Ok(Flow::Go));
                }
            }
        }
        Some(result) => lane.hand_back(e, false, result),
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
                    lane.release_all(&mut st);
                }
                continue;
            }
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
                    lane.hand_back(e, true, Ok(Flow::Go));
                }
            }
        }
        let sleep = l.hot() == 0;
        drop(l);
        if sleep {
            // Woken by the next connection put on a lane.
            std::thread::park_timeout(Duration::from_secs(1));
        } else {
            std::thread::sleep(TICK);
        }
    }
}
