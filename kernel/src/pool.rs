//! The engine pool: the threads that run SQL for surfaces, so a long
//! statement never holds a network thread. Jobs queue in a bounded queue;
//! a full queue refuses new work at once (53000) rather than letting
//! latency grow without bound.
//!
//! A statement may block on a row lock held by another session's open
//! transaction, whose next statement then needs a thread of its own: with
//! a fixed number of threads, waiters could occupy all of them and nothing
//! would ever release the lock (pgbench's TPC-B with more clients than
//! cores did). So when more jobs are queued than workers are idle, the
//! pool adds a worker (up to [`MAX_WORKERS`]); workers beyond the configured
//! number leave after [`EXTRA_IDLE`] without work.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use aiondb_sdk::error::{AionError, SqlState};
use aiondb_sdk::surface::EngineJobBox;

/// Told the queue length whenever it changes (the queue-depth gauge).
pub(crate) type DepthObserver = Arc<dyn Fn(usize) + Send + Sync>;

/// Workers at most, extra ones included.
pub(crate) const MAX_WORKERS: usize = 1024;
/// How long an extra worker waits for work before it leaves.
const EXTRA_IDLE: Duration = Duration::from_secs(30);

pub(crate) struct EnginePool {
    tx: Mutex<Option<SyncSender<EngineJobBox>>>,
    shared: Arc<Shared>,
    stopped: AtomicBool,
    workers: Mutex<Vec<JoinHandle<()>>>,
    depth: usize,
    max_workers: usize,
}

/// What the workers share.
struct Shared {
    rx: Mutex<Receiver<EngineJobBox>>,
    queued: AtomicUsize,
    observe: DepthObserver,
    /// Workers waiting for a job, and workers alive.
    idle: AtomicUsize,
    live: AtomicUsize,
    next_name: AtomicUsize,
}

fn spawn_worker(shared: &Arc<Shared>, extra: bool) -> std::io::Result<JoinHandle<()>> {
    let n = shared.next_name.fetch_add(1, Ordering::Relaxed);
    let sh = Arc::clone(shared);
    sh.live.fetch_add(1, Ordering::SeqCst);
    let spawned = std::thread::Builder::new()
        .name(format!("aiondb-engine-{n}"))
        .spawn(move || loop {
            sh.idle.fetch_add(1, Ordering::SeqCst);
            // One worker waits on the queue at a time; the lock is released
            // before the job runs.
            let next = {
                let rx = sh.rx.lock().unwrap_or_else(|e| e.into_inner());
                if extra {
                    rx.recv_timeout(EXTRA_IDLE).map_err(|_| ())
                } else {
                    rx.recv().map_err(|_| ())
                }
            };
            sh.idle.fetch_sub(1, Ordering::SeqCst);
            let Ok(mut job) = next else {
                sh.live.fetch_sub(1, Ordering::SeqCst);
                return;
            };
            (sh.observe)(sh.queued.fetch_sub(1, Ordering::Relaxed).saturating_sub(1));
            // Jobs come from plugins: a panic in one must not take the
            // worker down.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run())).is_err() {
                log::error!("an engine job panicked; the worker continues");
            }
        });
    if spawned.is_err() {
        shared.live.fetch_sub(1, Ordering::SeqCst);
    }
    spawned
}

impl EnginePool {
    /// `threads` 0 means one per CPU core.
    pub fn start(
        threads: usize,
        depth: usize,
        observe: DepthObserver,
    ) -> std::io::Result<EnginePool> {
        Self::start_with_max(threads, MAX_WORKERS, depth, observe)
    }

    /// `start` with at most `max_workers` workers (at least `threads`).
    pub fn start_with_max(
        threads: usize,
        max_workers: usize,
        depth: usize,
        observe: DepthObserver,
    ) -> std::io::Result<EnginePool> {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            threads
        };
        let (tx, rx) = sync_channel::<EngineJobBox>(depth.max(1));
        let shared = Arc::new(Shared {
            rx: Mutex::new(rx),
            queued: AtomicUsize::new(0),
            observe,
            idle: AtomicUsize::new(0),
            live: AtomicUsize::new(0),
            next_name: AtomicUsize::new(0),
        });
        let mut workers = Vec::with_capacity(threads);
        for _ in 0..threads {
            workers.push(spawn_worker(&shared, false)?);
        }
        log::info!(
            "engine pool: {threads} worker threads (more while statements wait on locks, up to {MAX_WORKERS}), queue depth {depth}"
        );
        Ok(EnginePool {
            tx: Mutex::new(Some(tx)),
            shared,
            stopped: AtomicBool::new(false),
            workers: Mutex::new(workers),
            depth,
            max_workers: max_workers.max(threads),
        })
    }

    pub fn submit(&self, job: EngineJobBox) -> Result<(), AionError> {
        let guard = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tx) = guard.as_ref() else {
            return Err(stopped());
        };
        let sh = &self.shared;
        let before = sh.queued.fetch_add(1, Ordering::Relaxed);
        match tx.try_send(job) {
            Ok(()) => {
                (sh.observe)(before + 1);
                drop(guard);
                // More queued jobs than idle workers: a worker counted idle
                // may be about to take an earlier job and then block on a
                // lock this job's transaction holds, so `idle == 0` alone
                // would leave this job stranded (a pgbench TPC-B hang).
                if before + 1 > sh.idle.load(Ordering::SeqCst)
                    && sh.live.load(Ordering::SeqCst) < self.max_workers
                {
                    match spawn_worker(sh, true) {
                        Ok(h) => {
                            let mut w = self.workers.lock().unwrap_or_else(|e| e.into_inner());
                            w.retain(|h| !h.is_finished());
                            w.push(h);
                        }
                        Err(e) => log::warn!("engine pool: cannot add a worker: {e}"),
                    }
                }
                Ok(())
            }
            Err(TrySendError::Full(_)) => {
                sh.queued.fetch_sub(1, Ordering::Relaxed);
                Err(AionError::new(
                    SqlState::new(b"53000"),
                    format!(
                        "the engine pool is overloaded: {} statements are already queued",
                        self.depth
                    ),
                )
                .with_hint("Retry later, or raise AIONDB_ENGINE_POOL_QUEUE_DEPTH or AIONDB_ENGINE_POOL_WORKER_THREADS."))
            }
            Err(TrySendError::Disconnected(_)) => {
                sh.queued.fetch_sub(1, Ordering::Relaxed);
                Err(stopped())
            }
        }
    }

    /// Jobs waiting for a worker.
    #[cfg(test)]
    pub fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::Relaxed)
    }

    /// Stops taking jobs, lets queued ones finish and joins the workers.
    pub fn stop(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        let workers = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|e| e.into_inner()));
        for w in workers {
            let _ = w.join();
        }
    }
}

impl Drop for EnginePool {
    fn drop(&mut self) {
        self.stop();
    }
}

fn stopped() -> AionError {
    AionError::new(
        SqlState::new(b"57P01"),
        "terminating connection due to administrator command: the engine pool has stopped",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aiondb_sdk::surface::job;
    use std::sync::mpsc::channel;
    use std::time::Duration;

    #[test]
    fn jobs_run_on_pool_threads_and_a_full_queue_refuses() {
        let pool = EnginePool::start_with_max(1, 1, 1, Arc::new(|_| {})).expect("pool");
        let (done_tx, done_rx) = channel();
        let (gate_tx, gate_rx) = channel::<()>();
        // Blocks the only worker until the gate opens.
        let d = done_tx.clone();
        pool.submit(job(move || {
            let _ = gate_rx.recv();
            let _ = d.send(std::thread::current().name().map(str::to_owned));
        }))
        .expect("first");
        // Wait until the worker took it, so the queue is empty again.
        while pool.queued() > 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        let d = done_tx.clone();
        pool.submit(job(move || {
            let _ = d.send(None);
        }))
        .expect("queued");
        let e = pool.submit(job(|| {})).expect_err("queue full");
        assert_eq!(e.sqlstate, SqlState::new(b"53000"));
        let _ = gate_tx.send(());
        let first = done_rx.recv_timeout(Duration::from_secs(5)).expect("ran");
        assert_eq!(first.as_deref(), Some("aiondb-engine-0"));
        done_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("second ran");
        pool.stop();
        let e = pool.submit(job(|| {})).expect_err("stopped");
        assert_eq!(e.sqlstate, SqlState::new(b"57P01"));
    }

    #[test]
    fn a_blocked_worker_gets_company() {
        // The only configured worker waits for a job queued after it: a
        // second worker must run that one, or both wait forever.
        let pool = EnginePool::start(1, 8, Arc::new(|_| {})).expect("pool");
        let (gate_tx, gate_rx) = channel::<()>();
        let (done_tx, done_rx) = channel();
        pool.submit(job(move || {
            let _ = gate_rx.recv_timeout(Duration::from_secs(10));
            let _ = done_tx.send(());
        }))
        .expect("first");
        while pool.queued() > 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        pool.submit(job(move || {
            let _ = gate_tx.send(());
        }))
        .expect("second");
        assert!(done_rx.recv_timeout(Duration::from_secs(5)).is_ok());
    }

    #[test]
    fn jobs_queued_together_get_a_worker_each_when_one_blocks() {
        // One idle worker, two jobs submitted back to back: the worker
        // may still count as idle when the second arrives, yet it takes the
        // first, which waits for the second. The window is short, so the
        // scenario runs many times.
        for _ in 0..300 {
            let pool = EnginePool::start(1, 8, Arc::new(|_| {})).expect("pool");
            while pool.shared.idle.load(Ordering::SeqCst) == 0 {
                std::thread::yield_now();
            }
            let (gate_tx, gate_rx) = channel::<()>();
            let (done_tx, done_rx) = channel();
            pool.submit(job(move || {
                // Only a stranded second job lets this time out.
                let _ = gate_rx.recv_timeout(Duration::from_secs(30));
                let _ = done_tx.send(());
            }))
            .expect("first");
            pool.submit(job(move || {
                let _ = gate_tx.send(());
            }))
            .expect("second");
            assert!(
                done_rx.recv_timeout(Duration::from_secs(10)).is_ok(),
                "the second job never ran while the first waited for it"
            );
            pool.stop();
        }
    }

    #[test]
    fn a_panicking_job_leaves_the_worker_alive() {
        let pool = EnginePool::start(1, 4, Arc::new(|_| {})).expect("pool");
        pool.submit(job(|| panic!("boom"))).expect("submit");
        let (tx, rx) = channel();
        pool.submit(job(move || {
            let _ = tx.send(1);
        }))
        .expect("submit");
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).ok(), Some(1));
    }
}
