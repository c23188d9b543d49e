//! # aiondb-plugin-pgwire
//!
//! The PostgreSQL wire protocol surface (`surface/1`, key `pgwire`):
//! protocol 3.0 startup, SCRAM-SHA-256 authentication, the simple and
//! extended query protocols, over kernel sessions run on the kernel's
//! engine pool. See README.md for settings.

mod guard;
mod named;
pub mod proto;
pub mod scram;
mod server;
mod tls;
pub mod values;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aiondb_sdk::abi_stable::std_types::RSlice;
use aiondb_sdk::capability::Surface;
use aiondb_sdk::error::{AResult, AionError, DbResult, SqlState};
use aiondb_sdk::host::{HostRef, MetricId, MetricOp, SettingValue};
use aiondb_sdk::metrics::{
    standard, AUTH_FAILURES_TOTAL, PGWIRE_CONNECTIONS_ACTIVE, PGWIRE_CONNECTIONS_TOTAL,
};
use aiondb_sdk::plugin::Registration;
use aiondb_sdk::prelude::{RErr, ROk, RStr};
use rand::Rng;

const LISTEN_ADDR: &str = "AIONDB_LISTEN_ADDR";
const MAX_CONNECTIONS: &str = "AIONDB_PGWIRE_MAX_CONNECTIONS";
const MAX_CONNECTIONS_PER_IP: &str = "AIONDB_PGWIRE_MAX_CONNECTIONS_PER_IP";
const STARTUP_TIMEOUT_MS: &str = "AIONDB_PGWIRE_STARTUP_TIMEOUT_MS";
const AUTH_FAILURE_BACKOFF_MS: &str = "AIONDB_PGWIRE_AUTH_FAILURE_BACKOFF_MS";
const IDLE_TIMEOUT_MS: &str = "AIONDB_PGWIRE_IDLE_TIMEOUT_MS";
const WORKER_LINGER_US: &str = "AIONDB_PGWIRE_WORKER_LINGER_US";
const LANES: &str = "AIONDB_PGWIRE_LANES";
const LANE_AFFINITY: &str = "AIONDB_PGWIRE_LANE_AFFINITY";
const BENCH_MODE: &str = "AIONDB_BENCH_MODE";

fn text(host: &HostRef, key: &str) -> Option<String> {
    match host.setting(RStr::from_str(key)).into_option() {
        Some(SettingValue::Text(t)) => Some(t.to_string()),
        _ => None,
    }
}

fn number(host: &HostRef, key: &str, default: u64) -> u64 {
    match host.setting(RStr::from_str(key)).into_option() {
        Some(SettingValue::U64(n)) => n,
        _ => default,
    }
}

fn flag(host: &HostRef, key: &str) -> bool {
    matches!(
        host.setting(RStr::from_str(key)).into_option(),
        Some(SettingValue::Bool(true))
    )
}

/// A standard metric family's id; `None` (nothing recorded) when the host
/// refuses it.
fn metric(host: &HostRef, name: &str) -> Option<MetricId> {
    let desc = standard(name)?;
    match host.register_metric(desc).into_result() {
        Ok(id) => Some(id),
        Err(e) => {
            log::warn!("metric {name} unavailable: {}", e.message);
            None
        }
    }
}

fn record(host: &HostRef, id: Option<MetricId>, delta: f64) {
    if let Some(id) = id {
        host.record_metric(id, RSlice::from_slice(&[]), MetricOp::Add(delta));
    }
}

struct Running {
    addr: SocketAddr,
    /// Tells engine workers blocked on a client to give up.
    stopping: Arc<AtomicBool>,
    stop: async_std::channel::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

/// The `surface/1` provider.
#[derive(Default)]
pub struct PgWireSurface {
    running: Mutex<Option<Running>>,
}

/// Open connections, in total and per client address.
#[derive(Default)]
struct Counts {
    total: AtomicUsize,
    per_ip: Mutex<HashMap<std::net::IpAddr, usize>>,
}

impl PgWireSurface {
    /// The address the listener is bound to, once started.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|r| r.addr)
    }

    fn start_inner(&self, host: HostRef) -> DbResult<()> {
        // TLS files are checked before the port is taken: a bad file is a
        // start failure naming its key.
        let mode = tls::Mode::parse(text(&host, tls::TLS_MODE).as_deref().unwrap_or(
            if text(&host, tls::TLS_CERT_PATH).is_some() {
                "prefer"
            } else {
                "disable"
            },
        ))?;
        let tls = tls::load(
            mode,
            text(&host, tls::TLS_CERT_PATH).as_deref(),
            text(&host, tls::TLS_KEY_PATH).as_deref(),
            text(&host, tls::TLS_CLIENT_CA_PATH).as_deref(),
        )?;
        let want = text(&host, LISTEN_ADDR).unwrap_or_else(|| "127.0.0.1:5432".into());
        let listener = TcpListener::bind(want.as_str()).map_err(|e| {
            AionError::new(
                SqlState::new(b"58000"),
                format!("could not listen for PostgreSQL connections on {want}: {e}"),
            )
            .with_hint("free the port or choose another with --listen-addr")
        })?;
        let addr = listener.local_addr().map_err(|e| {
            AionError::new(SqlState::new(b"58000"), format!("listener address: {e}"))
        })?;
        let bench_mode = flag(&host, BENCH_MODE);
        if bench_mode {
            log::warn!(
                "AIONDB_BENCH_MODE is on: pgwire accepts every connection WITHOUT a password; \
                 never use this outside a benchmark"
            );
        }
        // Per-process: unknown users get stable fake salts within a run.
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let idle_ms = number(&host, IDLE_TIMEOUT_MS, 0);
        let active = metric(&host, PGWIRE_CONNECTIONS_ACTIVE);
        let accepted = metric(&host, PGWIRE_CONNECTIONS_TOTAL);
        let stopping = Arc::new(AtomicBool::new(false));
        let linger = Duration::from_micros(number(&host, WORKER_LINGER_US, 5_000));
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        let lanes = match number(&host, LANES, cores) {
            _ if linger.is_zero() => None,
            0 => None,
            n => server::Lanes::new(
                n as usize,
                !matches!(
                    host.setting(RStr::from_str(LANE_AFFINITY)).into_option(),
                    Some(SettingValue::Bool(false))
                ),
                host.clone(),
                linger,
                Arc::clone(&stopping),
            ),
        };
        let cfg = server::Config {
            startup_timeout: Duration::from_millis(number(&host, STARTUP_TIMEOUT_MS, 10_000)),
            idle_timeout: (idle_ms > 0).then(|| Duration::from_millis(idle_ms)),
            bench_mode,
            mock_secret: Arc::from(&secret[..]),
            tls,
            cancels: Arc::default(),
            backoff: Arc::new(guard::Backoff::new(Duration::from_millis(number(
                &host,
                AUTH_FAILURE_BACKOFF_MS,
                500,
            )))),
            auth_failures: metric(&host, AUTH_FAILURES_TOTAL),
            linger,
            stopping: Arc::clone(&stopping),
            lanes,
        };
        let max_total = number(&host, MAX_CONNECTIONS, 100) as usize;
        let max_per_ip = number(&host, MAX_CONNECTIONS_PER_IP, 64) as usize;
        let (stop, stopped) = async_std::channel::bounded::<()>(1);
        let listener = async_std::net::TcpListener::from(listener);
        let thread = std::thread::Builder::new()
            .name("aiondb-pgwire".into())
            .spawn(move || {
                async_std::task::block_on(async move {
                    let counts = Arc::new(Counts::default());
                    let accept = async {
                        loop {
                            let (stream, peer) = match listener.accept().await {
                                Ok(x) => x,
                                Err(e) => {
                                    log::warn!("pgwire accept failed: {e}");
                                    async_std::task::sleep(Duration::from_millis(50)).await;
                                    continue;
                                }
                            };
                            let _ = stream.set_nodelay(true);
                            let ip = peer.ip();
                            let admitted = {
                                let mut per =
                                    counts.per_ip.lock().unwrap_or_else(|e| e.into_inner());
                                let n = per.entry(ip).or_insert(0);
                                let total = counts.total.load(Ordering::Relaxed);
                                if total >= max_total || *n >= max_per_ip {
                                    false
                                } else {
                                    *n += 1;
                                    counts.total.fetch_add(1, Ordering::Relaxed);
                                    true
                                }
                            };
                            if !admitted {
                                let (host, cfg) = (host.clone(), cfg.clone());
                                async_std::task::spawn(server::serve_client(
                                    stream, ip, host, cfg, true,
                                ));
                                continue;
                            }
                            record(&host, accepted, 1.0);
                            record(&host, active, 1.0);
                            let host = host.clone();
                            let cfg = cfg.clone();
                            let counts = Arc::clone(&counts);
                            async_std::task::spawn(async move {
                                server::serve_client(stream, ip, host.clone(), cfg, false).await;
                                record(&host, active, -1.0);
                                counts.total.fetch_sub(1, Ordering::Relaxed);
                                let mut per =
                                    counts.per_ip.lock().unwrap_or_else(|e| e.into_inner());
                                if let Some(n) = per.get_mut(&ip) {
                                    *n -= 1;
                                    if *n == 0 {
                                        per.remove(&ip);
                                    }
                                }
                            });
                        }
                    };
                    let stop = async move {
                        let _ = stopped.recv().await;
                    };
                    async_std::prelude::FutureExt::race(accept, stop).await;
                })
            })
            .map_err(|e| {
                AionError::new(
                    SqlState::new(b"58000"),
                    format!("cannot start the pgwire thread: {e}"),
                )
            })?;
        log::info!(
            "listening for PostgreSQL connections on {addr} (TLS {})",
            match mode {
                tls::Mode::Disable => "disabled",
                tls::Mode::Prefer => "offered",
                tls::Mode::Require => "required",
            }
        );
        let previous = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(Running {
                addr,
                stopping,
                stop,
                thread,
            });
        if let Some(old) = previous {
            old.shut();
        }
        Ok(())
    }
}

impl Running {
    fn shut(self) {
        self.stopping.store(true, Ordering::Relaxed);
        let _ = self.stop.try_send(());
        if self.thread.join().is_err() {
            log::warn!("pgwire listener thread panicked");
        }
        log::info!("pgwire listener on {} stopped", self.addr);
    }
}

impl Surface for PgWireSurface {
    fn start(&self, host: HostRef) -> AResult<()> {
        match self.start_inner(host) {
            Ok(()) => ROk(()),
            Err(e) => RErr(e),
        }
    }

    fn stop(&self) -> AResult<()> {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(r) = running {
            r.shut();
        }
        ROk(())
    }
}

fn register(_host: HostRef) -> DbResult<Registration> {
    Ok(Registration::new().surface("pgwire", PgWireSurface::default()))
}

aiondb_sdk::declare_plugin! {
    name: "pgwire",
    version: env!("CARGO_PKG_VERSION"),
    description: "PostgreSQL wire protocol v3: psql, pgbench and drivers",
    register: register,
}
