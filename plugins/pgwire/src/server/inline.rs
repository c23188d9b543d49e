//! Serving a connection from an engine worker.
//!
//! The plain path costs three thread hand-offs per statement: the reactor
//! wakes the connection's task, the task wakes an engine worker, the
//! worker wakes the task to write the answer. On a busy 2-core host those
//! wake-ups were about 40% of a pgbench profile. So a plain TCP connection
//! with a whole message waiting is handed to an engine worker, which reads,
//! runs and answers its messages itself, and waits up to the linger time
//! in `recv(2)` for the next one: a client in a tight loop (pgbench, an
//! application's request handler) is then woken straight into the worker,
//! as a PostgreSQL backend is. When the client pauses longer, the worker
//! gives the connection back to the network side, which waits for it
//! without holding a thread. Statements still only ever run on the engine
//! pool; TLS connections stay on the plain path.

use std::future::Future;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, AsRawFd};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// How long a blocked write waits at most before it checks whether the
/// server is stopping.
const STOP_CHECK: Duration = Duration::from_millis(250);

/// A second handle on a connection's socket for an engine worker. While
/// the worker has the connection the socket is in blocking mode, so a
/// wait for the client's next message is the `recv` itself (one system
/// call, as in a PostgreSQL backend, rather than `poll` and then `recv`);
/// `SO_RCVTIMEO` bounds it to the linger time (the kernel rounds it up to
/// its clock tick). The mode is shared with the async stream's descriptor
/// and is set back before the network side gets the connection again.
pub(crate) struct SyncSock {
    sock: TcpStream,
    stopping: Arc<AtomicBool>,
}

fn timed_out(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

impl SyncSock {
    pub fn new(
        stream: &async_std::net::TcpStream,
        linger: Duration,
        stopping: Arc<AtomicBool>,
    ) -> std::io::Result<SyncSock> {
        let sock = TcpStream::from(stream.as_fd().try_clone_to_owned()?);
        // Only blocking calls heed these; the async side never blocks.
        sock.set_read_timeout(Some(linger.max(Duration::from_micros(1))))?;
        sock.set_write_timeout(Some(STOP_CHECK))?;
        Ok(SyncSock { sock, stopping })
    }

    /// Blocking mode for a worker (`true`), non-blocking for the network
    /// side.
    pub fn set_blocking(&self, blocking: bool) -> std::io::Result<()> {
        self.sock.set_nonblocking(!blocking)
    }

    fn check_stop(&self) -> std::io::Result<()> {
        if self.stopping.load(Ordering::Relaxed) {
            return Err(std::io::Error::new(
                ErrorKind::ConnectionAborted,
                "the server is shutting down",
            ));
        }
        Ok(())
    }

    /// Reads what the client sent; waits for it until about `deadline`
    /// (`None`: as long as it takes, or until the server stops).
    /// `Ok(None)`: nothing came in time. The clock is read only when a
    /// wait timed out.
    pub fn read(
        &self,
        buf: &mut [u8],
        deadline: Option<Instant>,
    ) -> std::io::Result<Option<usize>> {
        loop {
            match (&self.sock).read(buf) {
                Ok(n) => return Ok(Some(n)),
                Err(e) if timed_out(&e) => {
                    self.check_stop()?;
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(None);
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The descriptor, for a lane's epoll set.
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.sock.as_raw_fd()
    }

    /// The CPU that last handled a packet from the client (for loopback
    /// clients, the CPU the client ran on when it sent); `None` when the
    /// system does not say.
    pub fn incoming_cpu(&self) -> Option<usize> {
        let mut cpu: libc::c_int = -1;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `cpu` and `len` are live and sized as the option wants.
        let r = unsafe {
            libc::getsockopt(
                self.sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_INCOMING_CPU,
                (&mut cpu as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        (r == 0 && cpu >= 0).then_some(cpu as usize)
    }

    /// Reads what the socket has without waiting, whatever its mode;
    /// `Ok(None)`: nothing yet.
    pub fn read_now(&self, buf: &mut [u8]) -> std::io::Result<Option<usize>> {
        loop {
            // SAFETY: `buf` is live and writable for its whole length.
            let n = unsafe {
                libc::recv(
                    self.sock.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n >= 0 {
                return Ok(Some(n as usize));
            }
            let e = std::io::Error::last_os_error();
            match e.kind() {
                ErrorKind::WouldBlock => return Ok(None),
                ErrorKind::Interrupted => {}
                _ => return Err(e),
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
                Err(e) if timed_out(&e) => self.check_stop()?,
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
/// first poll and this costs no more than a function call. (async-std's
/// `block_on` would also run the runtime's other tasks on this thread.)
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    thread_local! {
        // Made once per thread: a lane runs this for every batch.
        static WAKER: Waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    }
    let mut fut = pin!(fut);
    WAKER.with(|waker| {
        let mut cx = Context::from_waker(waker);
        loop {
            if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::park();
        }
    })
}
