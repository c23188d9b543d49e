//! The engine pool: the threads that run SQL for surfaces, so a long
//! statement never holds a network thread. Jobs queue in a bounded queue;
//! a full queue refuses new work at once (53000) rather than letting
//! latency grow without bound.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use aiondb_sdk::error::{AionError, SqlState};
use aiondb_sdk::surface::EngineJobBox;

/// Told the queue length whenever it changes (the queue-depth gauge).
pub(crate) type DepthObserver = Arc<dyn Fn(usize) + Send + Sync>;

pub(crate) struct EnginePool {
    tx: Mutex<Option<SyncSender<EngineJobBox>>>,
    queued: Arc<AtomicUsize>,
    observe: DepthObserver,
    stopped: AtomicBool,
    workers: Mutex<Vec<JoinHandle<()>>>,
    depth: usize,
}

impl EnginePool {
    /// `threads` 0 means one per CPU core.
    pub fn start(
        threads: usize,
        depth: usize,
        observe: DepthObserver,
    ) -> std::io::Result<EnginePool> {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            threads
        };
        let (tx, rx) = sync_channel::<EngineJobBox>(depth.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let queued = Arc::new(AtomicUsize::new(0));
        let mut workers = Vec::with_capacity(threads);
        for n in 0..threads {
            let rx: Arc<Mutex<Receiver<EngineJobBox>>> = Arc::clone(&rx);
            let queued = Arc::clone(&queued);
            let observe = Arc::clone(&observe);
            workers.push(
                std::thread::Builder::new()
                    .name(format!("aiondb-engine-{n}"))
                    .spawn(move || loop {
                        // One worker waits on the queue at a time; the lock
                        // is released before the job runs.
                        let next = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        let Ok(mut job) = next else { return };
                        observe(queued.fetch_sub(1, Ordering::Relaxed).saturating_sub(1));
                        // Jobs come from plugins: a panic in one must not
                        // take the worker down.
                        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run()))
                            .is_err()
                        {
                            log::error!("an engine job panicked; the worker continues");
                        }
                    })?,
            );
        }
        log::info!("engine pool: {threads} worker threads, queue depth {depth}");
        Ok(EnginePool {
            tx: Mutex::new(Some(tx)),
            queued,
            observe,
            stopped: AtomicBool::new(false),
            workers: Mutex::new(workers),
            depth,
        })
    }

    pub fn submit(&self, job: EngineJobBox) -> Result<(), AionError> {
        let guard = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tx) = guard.as_ref() else {
            return Err(stopped());
        };
        let before = self.queued.fetch_add(1, Ordering::Relaxed);
        match tx.try_send(job) {
            Ok(()) => {
                (self.observe)(before + 1);
                Ok(())
            }
            Err(TrySendError::Full(_)) => {
                self.queued.fetch_sub(1, Ordering::Relaxed);
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
                self.queued.fetch_sub(1, Ordering::Relaxed);
                Err(stopped())
            }
        }
    }

    /// Jobs waiting for a worker.
    #[cfg(test)]
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
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
        let pool = EnginePool::start(1, 1, Arc::new(|_| {})).expect("pool");
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
