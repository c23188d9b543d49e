//! Serving a connection from an engine worker.
//!
//! The plain path costs three thread hand-offs per statement: the reactor
//! wakes the connection's task, the task wakes an engine worker, the
//! worker wakes the task to write the answer. On a busy 2-core host those
//! wake-ups were about 40% of a pgbench profile. So a plain TCP connection
//! with a whole message waiting is handed to an engine worker, which reads,
//! runs and answers its messages itself, and waits up to the linger time
//! in `poll(2)` for the next one: a client in a tight loop (pgbench, an
//! application's request handler) is then woken straight into the worker,
//! as a PostgreSQL backend is. When the client pauses longer, the worker
//! gives the connection back to the network side, which waits for it
//! without holding a thread. Statements still only ever run on the engine
//! pool; TLS connections stay on the plain path.

use std::future::Future;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};

/// How long one `poll` waits at most before a blocking read or write
/// checks whether the server is stopping.
const STOP_CHECK: Duration = Duration::from_millis(250);

/// A second handle on a connection's socket for blocking use from an
/// engine worker. It shares the file status flags of the async stream's
/// descriptor, so it is non-blocking too: waits go through `poll`.
pub(crate) struct SyncSock {
    sock: TcpStream,
    stopping: Arc<AtomicBool>,
}

impl SyncSock {
    pub fn new(
        stream: &async_std::net::TcpStream,
        stopping: Arc<AtomicBool>,
    ) -> std::io::Result<SyncSock> {
        let fd = stream.as_fd().try_clone_to_owned()?;
        Ok(SyncSock {
            sock: TcpStream::from(fd),
            stopping,
        })
    }

    /// Waits until the socket is ready for `events` or `wait` passes
    /// (`None`: until ready or the server stops). True when ready.
    fn wait(&self, events: PollFlags, wait: Option<Duration>) -> std::io::Result<bool> {
        let deadline = wait.map(|w| Instant::now() + w);
        loop {
            let slice = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()).min(STOP_CHECK),
                None => STOP_CHECK,
            };
            let ts = Timespec::try_from(slice).unwrap_or(Timespec {
                tv_sec: 0,
                tv_nsec: 250_000_000,
            });
            let mut fds = [PollFd::new(&self.sock, events)];
            match poll(&mut fds, Some(&ts)) {
                Ok(n) if n > 0 => return Ok(true),
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
            if self.stopping.load(Ordering::Relaxed) {
                return Err(std::io::Error::new(
                    ErrorKind::ConnectionAborted,
                    "the server is shutting down",
                ));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
        }
    }

    /// Waits up to `wait` for the client to send something.
    pub fn readable(&self, wait: Duration) -> std::io::Result<bool> {
        self.wait(PollFlags::IN, Some(wait))
    }

    /// Reads what the client sent; waits up to `wait` for it (`None`:
    /// as long as it takes). `Ok(None)`: nothing came in time.
    pub fn read(&self, buf: &mut [u8], wait: Option<Duration>) -> std::io::Result<Option<usize>> {
        loop {
            match (&self.sock).read(buf) {
                Ok(n) => return Ok(Some(n)),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if !self.wait(PollFlags::IN, wait)? {
                        return Ok(None);
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Fills `buf` completely, waiting as long as it takes.
    pub fn read_exact(&self, mut buf: &mut [u8]) -> std::io::Result<()> {
        while !buf.is_empty() {
            match self.read(buf, None)? {
                Some(0) => return Err(ErrorKind::UnexpectedEof.into()),
                Some(n) => buf = &mut buf[n..],
                None => {}
            }
        }
        Ok(())
    }

    /// Writes all of `buf`, waiting for room in the socket as needed.
    pub fn write_all(&self, mut buf: &[u8]) -> std::io::Result<()> {
        while !buf.is_empty() {
            match (&self.sock).write(buf) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => buf = &buf[n..],
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.wait(PollFlags::OUT, None)?;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Wakes the thread that polls.
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to completion on this thread. The connection code is
/// shared with the network side and so is async; on a worker its I/O is
/// blocking and its engine calls are direct, so the future is ready at the
/// first poll and this costs no more than a function call.
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}
