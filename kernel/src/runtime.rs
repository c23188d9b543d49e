//! The async runtime, confined here so it can be swapped: everything else in
//! the kernel calls these functions, never async-std directly.

use std::future::Future;
use std::time::Duration;

/// Runs a future to completion on the current thread.
pub fn block_on<F: Future>(future: F) -> F::Output {
    async_std::task::block_on(future)
}

/// Runs blocking work (engine calls, file I/O) off the async threads.
pub async fn spawn_blocking<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    async_std::task::spawn_blocking(f).await
}

pub async fn sleep(d: Duration) {
    async_std::task::sleep(d).await
}

/// Which signal asked the process to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownSignal {
    Interrupt,
    Terminate,
}

/// Listens for SIGINT and SIGTERM from the moment it is installed, so a
/// signal that arrives while plugins are still starting is not lost (or
/// fatal, under the default disposition).
///
/// signal-hook's iterator runs on a dedicated thread and hands the signal to
/// the async side through a channel; the handler itself only sets flags,
/// which is all a signal handler may safely do.
pub struct ShutdownListener {
    rx: async_std::channel::Receiver<ShutdownSignal>,
    handle: signal_hook::iterator::Handle,
}

impl ShutdownListener {
    pub fn install() -> std::io::Result<Self> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
        let (tx, rx) = async_std::channel::bounded(1);
        let handle = signals.handle();
        std::thread::Builder::new()
            .name("aiondb-signals".into())
            .spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    let which = if sig == SIGINT {
                        ShutdownSignal::Interrupt
                    } else {
                        ShutdownSignal::Terminate
                    };
                    let _ = tx.try_send(which);
                }
            })?;
        Ok(ShutdownListener { rx, handle })
    }

    /// Resolves when SIGINT or SIGTERM arrives.
    pub async fn wait(self) -> std::io::Result<ShutdownSignal> {
        let result = self
            .rx
            .recv()
            .await
            .map_err(|_| std::io::Error::other("signal thread ended without a signal"));
        self.handle.close();
        result
    }
}
