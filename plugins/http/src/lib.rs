//! # aiondb-plugin-http
//!
//! The HTTP observability surface (`surface/1`, key `http`), served with
//! tide: `/livez`, `/healthz`, `/readyz`, `/metrics` (Prometheus text
//! format 0.0.4) and `/info`. Everything it reports comes from the host API
//! (kernel status, settings, the metric registry): it knows no other plugin.
//!
//! Configuration (validated by the kernel): `AIONDB_OBSERVABILITY_ENABLED`,
//! `_BIND`, `_PORT`, `_FAIL_FAST`, `_ALLOW_NON_LOOPBACK`.

mod render;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Mutex;

use aiondb_sdk::capability::Surface;
use aiondb_sdk::error::{AResult, AionError, DbResult, SqlState};
use aiondb_sdk::host::{HostRef, Readiness, SettingValue};
use aiondb_sdk::plugin::Registration;
use aiondb_sdk::prelude::{RErr, ROk, RStr};

pub use render::{info_json, prometheus_text, readiness_json};

const ENABLED: &str = "AIONDB_OBSERVABILITY_ENABLED";
const BIND: &str = "AIONDB_OBSERVABILITY_BIND";
const PORT: &str = "AIONDB_OBSERVABILITY_PORT";
const FAIL_FAST: &str = "AIONDB_OBSERVABILITY_FAIL_FAST";

const DEFAULT_PORT: u16 = 9187;

/// Media type of the Prometheus text exposition format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Settings of the endpoint, read from the host once per start.
#[derive(Clone, Debug, PartialEq)]
struct Settings {
    enabled: bool,
    addr: SocketAddr,
    fail_fast: bool,
}

fn bool_setting(host: &HostRef, key: &str, default: bool) -> bool {
    match host.setting(RStr::from_str(key)).into_option() {
        Some(SettingValue::Bool(b)) => b,
        _ => default,
    }
}

impl Settings {
    fn from_host(host: &HostRef) -> Settings {
        let ip = match host.setting(RStr::from_str(BIND)).into_option() {
            Some(SettingValue::Text(t)) => t.as_str().parse::<IpAddr>().ok(),
            _ => None,
        }
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let port = match host.setting(RStr::from_str(PORT)).into_option() {
            Some(SettingValue::U64(p)) => u16::try_from(p).unwrap_or(DEFAULT_PORT),
            _ => DEFAULT_PORT,
        };
        Settings {
            enabled: bool_setting(host, ENABLED, true),
            addr: SocketAddr::new(ip, port),
            fail_fast: bool_setting(host, FAIL_FAST, false),
        }
    }
}

struct Running {
    addr: SocketAddr,
    stop: async_std::channel::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Running {
    fn shut(self) {
        let _ = self.stop.try_send(());
        if self.thread.join().is_err() {
            log::warn!("observability endpoint thread panicked");
        }
        log::info!("observability endpoint on {} stopped", self.addr);
    }
}

/// The `surface/1` provider.
#[derive(Default)]
pub struct HttpSurface {
    running: Mutex<Option<Running>>,
}

impl HttpSurface {
    /// The address the endpoint listens on, once started.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|r| r.addr)
    }

    fn start_inner(&self, host: HostRef) -> DbResult<()> {
        let settings = Settings::from_host(&host);
        if !settings.enabled {
            log::info!("observability endpoint disabled");
            return Ok(());
        }
        if !settings.addr.ip().is_loopback() {
            // The kernel only accepts this with an explicit opt-in.
            log::warn!(
                "observability endpoint binds to non-loopback address {}: health, metrics and \
                 plugin information are reachable from other hosts",
                settings.addr.ip()
            );
        }
        // Bound here, synchronously, so a failure is known before start returns.
        let listener = match TcpListener::bind(settings.addr) {
            Ok(l) => l,
            Err(e) => {
                let message = format!("observability endpoint cannot bind {}: {e}", settings.addr);
                if settings.fail_fast {
                    return Err(AionError::new(SqlState::new(b"58000"), message)
                        .with_hint("free the port, choose another with --observability-port, or unset AIONDB_OBSERVABILITY_FAIL_FAST"));
                }
                log::error!("{message}; continuing without it (set {FAIL_FAST}=true to refuse to start instead)");
                return Ok(());
            }
        };
        let addr = listener.local_addr().unwrap_or(settings.addr);
        let app = server::app(host);
        let (stop, stopped) = async_std::channel::bounded::<()>(1);
        // A thread of its own rather than a spawned task: spawning needs the
        // server future to be provably `Send`, which rustc cannot show for
        // the ABI trait objects it holds.
        let thread = std::thread::Builder::new()
            .name("aiondb-http".into())
            .spawn(move || {
                async_std::task::block_on(async move {
                    let serve = async move {
                        if let Err(e) = app.listen(listener).await {
                            log::error!("observability endpoint stopped: {e}");
                        }
                    };
                    let stop = async move {
                        let _ = stopped.recv().await;
                    };
                    // Dropping the listen future closes the listening socket;
                    // requests in flight finish on their own tasks.
                    async_std::prelude::FutureExt::race(serve, stop).await;
                })
            })
            .map_err(|e| {
                AionError::new(
                    SqlState::new(b"58000"),
                    format!("cannot start the observability endpoint thread: {e}"),
                )
            })?;
        log::info!("observability endpoint listening on http://{addr}");
        let previous = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(Running { addr, stop, thread });
        if let Some(old) = previous {
            old.shut();
        }
        Ok(())
    }
}

impl Surface for HttpSurface {
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

mod server {
    use std::sync::Arc;

    use aiondb_sdk::host::{Host, HostRef, KernelStatus, MetricFamily};
    use aiondb_sdk::prelude::RVec;
    use tide::http::headers::{ALLOW, CONTENT_TYPE};
    use tide::{Request, Response, StatusCode};

    use super::*;

    /// What the handlers read from the kernel. A plain `dyn` object rather
    /// than the ABI trait object: rustc cannot prove the latter's auto traits
    /// for every lifetime inside tide's spawned futures.
    pub(super) trait Source: Send + Sync {
        fn status(&self) -> KernelStatus;
        fn metrics(&self) -> RVec<MetricFamily>;
        fn setting(&self, key: &str) -> Option<SettingValue>;
    }

    impl Source for HostRef {
        fn status(&self) -> KernelStatus {
            Host::status(self)
        }
        fn metrics(&self) -> RVec<MetricFamily> {
            Host::metrics(self)
        }
        fn setting(&self, key: &str) -> Option<SettingValue> {
            Host::setting(self, RStr::from_str(key)).into_option()
        }
    }

    type State = Arc<dyn Source>;

    pub(super) fn app(host: HostRef) -> tide::Server<State> {
        let mut app = tide::with_state(Arc::new(host) as State);
        // tide answers 405 for a known path with another method; say which
        // methods are allowed (HEAD is served by the GET handlers).
        app.with(tide::utils::After(|mut res: Response| async move {
            if res.status() == StatusCode::MethodNotAllowed {
                res.insert_header(ALLOW, "GET, HEAD");
            }
            Ok(res)
        }));
        app.at("/livez").get(livez);
        app.at("/healthz").get(readiness);
        app.at("/readyz").get(readiness);
        app.at("/metrics").get(metrics);
        app.at("/info").get(info);
        app
    }

    fn json(status: u16, body: String) -> Response {
        let mut res = Response::new(status);
        res.set_body(body);
        res.insert_header(CONTENT_TYPE, "application/json");
        res.insert_header("Cache-Control", "no-store");
        res
    }

    async fn livez(_req: Request<State>) -> tide::Result {
        let mut res = Response::new(200);
        res.set_body("ok\n");
        res.insert_header(CONTENT_TYPE, "text/plain; charset=utf-8");
        res.insert_header("Cache-Control", "no-store");
        Ok(res)
    }

    async fn readiness(req: Request<State>) -> tide::Result {
        let host = req.state();
        let status = host.status();
        let families = host.metrics();
        let code = if status.readiness == Readiness::Ready {
            200
        } else {
            503
        };
        Ok(json(code, readiness_json(&status, &families)))
    }

    async fn metrics(req: Request<State>) -> tide::Result {
        let families = req.state().metrics();
        let mut res = Response::new(200);
        res.set_body(prometheus_text(&families));
        // After the body: set_body would otherwise impose its own type.
        res.insert_header(CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE);
        res.insert_header("Cache-Control", "no-store");
        Ok(res)
    }

    async fn info(req: Request<State>) -> tide::Result {
        let host = req.state();
        Ok(json(
            200,
            info_json(&host.status(), &|key| host.setting(key)),
        ))
    }
}

fn register(_host: HostRef) -> DbResult<Registration> {
    Ok(Registration::new().surface("http", HttpSurface::default()))
}

aiondb_sdk::declare_plugin! {
    name: "http",
    version: env!("CARGO_PKG_VERSION"),
    description: "HTTP observability endpoint: /livez, /healthz, /readyz, /metrics, /info",
    register: register,
}
