//! `Application::build(config)` opens the store, binds the listener (port 0 in tests) and
//! wires the app; `run_until_stopped()` serves until SIGINT/SIGTERM.

use crate::config::Config;
use crate::http::AppState;
use crate::http::error::extractors;
use crate::media::origin::Origin;
use crate::store::{Store, StoreError};
use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use secrecy::SecretString;
use std::net::TcpListener;
use tracing_actix_web::TracingLogger;

/// Enough to keep the disk busy for segment reads; see `.worker_max_blocking_threads` below.
const BLOCKING_THREADS_PER_WORKER: usize = 16;

pub struct Application {
    port: u16,
    server: Server,
    metrics: Option<(u16, Server)>,
    /// A key minted at start for the embedded store; the caller prints it once.
    pub minted_api_key: Option<SecretString>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Origin(String),
    #[error("cannot set up the API key: {0}")]
    ApiKey(String),
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let store = Store::open(config.redis_url(), &config.redis_prefix)?
            .require_replicas(config.redis_wait_replicas);
        if matches!(store, Store::Memory(_)) {
            tracing::warn!(
                "no REDIS_URL: state is kept in memory, lost on restart and not shared with other instances"
            );
        }
        let origin = Origin::from_config(&config, &store).map_err(StartupError::Origin)?;
        let state = AppState::new(crate::app::App::new(config, store, origin));
        let minted_api_key = prepare_api_keys(&state).await?;

        let listener =
            TcpListener::bind(state.app.config.listen).map_err(|source| StartupError::Bind {
                addr: state.app.config.listen,
                source,
            })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind {
                addr: state.app.config.listen,
                source,
            })?
            .port();
        let addr = state.app.config.listen;
        let state_config_metrics = state.app.config.metrics_listen;
        let mut state = state;
        if state.app.config.public_url.port() == Some(0) {
            // Listening on port 0 (tests): links must carry the port actually bound.
            let _ = state.app.config.public_url.set_port(Some(port));
        }
        let state = web::Data::new(state);
        let headers_config = state.app.config.clone();
        let admission = crate::http::admission::Admission::new(state.app.config.max_in_flight);
        let server = HttpServer::new(move || {
            let admission = admission.clone();
            App::new()
                // Innermost: a refusal is still logged, counted and given the security headers.
                .wrap(actix_web::middleware::from_fn(move |req, next| {
                    admission.clone().admit(req, next)
                }))
                .wrap(actix_web::middleware::from_fn(
                    crate::http::security::limit_headers,
                ))
                .wrap(crate::http::security::headers(&headers_config))
                .wrap(crate::http::error::plain_errors_as_problems())
                .wrap_fn(|req, srv| {
                    use actix_web::dev::Service;
                    let route = req.match_pattern().unwrap_or_else(|| "[unmatched]".into());
                    let method = req.method().to_string();
                    let fut = srv.call(req);
                    async move {
                        let res = fut.await;
                        let status = match &res {
                            Ok(r) => r.status().as_u16(),
                            Err(e) => e.as_response_error().status_code().as_u16(),
                        };
                        crate::metrics::METRICS
                            .http_requests
                            .with_label_values(&[
                                route.as_str(),
                                method.as_str(),
                                &status.to_string(),
                            ])
                            .inc();
                        res
                    }
                })
                .wrap(TracingLogger::<crate::telemetry::RedactingRootSpan>::new())
                .app_data(state.clone())
                .app_data(extractors::json())
                .app_data(extractors::form())
                .app_data(extractors::path())
                .app_data(extractors::query())
                .app_data(web::PayloadConfig::new(extractors::JSON_LIMIT))
                .configure(crate::http::routes::config)
                .default_service(web::to(crate::http::routes::not_found))
        })
        // In-flight responses (a segment mid-transfer) get this long to finish on SIGTERM.
        .shutdown_timeout(30)
        // Segments are written in chunks; without this, Nagle + delayed ACK add ~40 ms.
        .tcp_nodelay(true)
        // File reads run on each worker's blocking pool. Under load a bounded pool queues
        // reads instead of growing to hundreds of threads, each with its own stack and
        // malloc arena (the default, 512 / cores, took 650 MB at 10,000 viewers).
        .worker_max_blocking_threads(BLOCKING_THREADS_PER_WORKER)
        .listen(listener)
        .map_err(|source| StartupError::Bind { addr, source })?
        .run();
        let metrics = match state_config_metrics {
            Some(maddr) => {
                let l = TcpListener::bind(maddr).map_err(|source| StartupError::Bind {
                    addr: maddr,
                    source,
                })?;
                let mport = l
                    .local_addr()
                    .map_err(|source| StartupError::Bind {
                        addr: maddr,
                        source,
                    })?
                    .port();
                let s = HttpServer::new(|| App::new().configure(crate::metrics::config))
                    .workers(1)
                    .listen(l)
                    .map_err(|source| StartupError::Bind {
                        addr: maddr,
                        source,
                    })?
                    .run();
                Some((mport, s))
            }
            None => None,
        };
        Ok(Self {
            port,
            server,
            metrics,
            minted_api_key,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port `/metrics` listens on, when enabled.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(p, _)| *p)
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        match self.metrics {
            Some((_, metrics)) => {
                let handle = metrics.handle();
                let metrics = tokio::spawn(metrics);
                let result = self.server.await;
                // The public server stopped (signal): take the metrics server down with it.
                handle.stop(true).await;
                let _ = metrics.await;
                result
            }
            None => self.server.await,
        }
    }
}

/// With the embedded store nothing outside this process can create keys, so a key is
/// minted at start (or `VODGATE_BOOTSTRAP_API_KEY` accepted) for the operator to use.
async fn prepare_api_keys(state: &AppState) -> Result<Option<SecretString>, StartupError> {
    if let Some(key) = &state.app.config.bootstrap_api_key {
        state
            .auth
            .import_key("bootstrap", key)
            .await
            .map_err(|e| StartupError::ApiKey(e.to_string()))?;
        return Ok(None);
    }
    if matches!(state.app.store, Store::Memory(_)) {
        let new = state
            .auth
            .create_key("minted-at-start", crate::auth::Scope::ALL.to_vec())
            .await
            .map_err(|e| StartupError::ApiKey(e.to_string()))?;
        return Ok(Some(new.secret));
    }
    Ok(None)
}
