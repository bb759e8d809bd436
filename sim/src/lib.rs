//! apivideo-sim: a faithful local stand-in for api.video (in the spirit of stripe-mock).
//!
//! It serves the API side (`/auth/*`, `/videos*`, `/upload-tokens*`, `/upload`), the delivery
//! side (`/vod/...`, normally vod.api.video and embed.api.video) and test controls (`/_sim/*`)
//! from one listener, with all state in memory.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let sim = apivideo_sim::spawn(apivideo_sim::SimConfig {
//!     media_dir: Some("media".into()),
//!     ..Default::default()
//! })
//! .await?;
//! println!("api.video stand-in at {}", sim.base_url());
//! sim.stop().await;
//! # Ok(()) }
//! ```

pub mod admin;
pub mod auth;
pub mod calls;
pub mod error;
pub mod faults;
pub mod rate_limit;
pub mod state;
pub mod upload_tokens;
pub mod videos;
pub mod vod;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, ResponseError, web};

pub use calls::Endpoint;
pub use error::ApiError;
pub use faults::FaultRule;
pub use state::Sim;

/// The API key accepted when none is configured.
pub const DEFAULT_API_KEY: &str = "sim-api-key";

/// How to run a sim.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address to bind; port 0 picks a free port (see [`SimHandle::addr`]).
    pub listen: SocketAddr,
    /// The one API key the sim accepts (`/auth/api-key`, Basic auth).
    pub api_key: String,
    /// Folder whose subfolders (each with a `master.m3u8`) become videos.
    pub media_dir: Option<PathBuf>,
    /// Ids of seeded videos to mark public (the rest are private).
    pub public_videos: Vec<String>,
    /// Base URL used in pagination links; default `http://{bound address}`.
    pub api_host: Option<String>,
    /// Base URL of `hls`/`thumbnail`/`mp4` asset URLs; default `http://{bound address}`.
    pub vod_host: Option<String>,
    /// Base URL of `player`/`iframe` asset URLs; default `http://{bound address}`.
    pub embed_host: Option<String>,
    /// Lifetime of access tokens (`expires_in`); api.video: 3600 s.
    pub access_token_ttl: Duration,
    /// Lifetime of delivery sessions, from their creation; api.video: 24 h.
    pub session_ttl: Duration,
    /// Requests per minute on regular endpoints (`X-RateLimit-Limit`).
    pub rate_limit: u32,
    /// Append `avh=<session>` to every URI in playlists served under a session
    /// (off by default: children must carry `avh` or `X-Token-Session` themselves).
    pub rewrite_playlists: bool,
    /// Fault rules active from the start.
    pub faults: Vec<FaultRule>,
    /// actix worker threads.
    pub workers: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_key: DEFAULT_API_KEY.to_owned(),
            media_dir: None,
            public_videos: Vec::new(),
            api_host: None,
            vod_host: None,
            embed_host: None,
            access_token_ttl: Duration::from_secs(3600),
            session_ttl: Duration::from_secs(24 * 3600),
            rate_limit: 500,
            rewrite_playlists: false,
            faults: Vec::new(),
            workers: 1,
        }
    }
}

/// A running sim. Dropping it leaves the server running until the runtime stops; call
/// [`SimHandle::stop`] to stop it.
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    sim: web::Data<Sim>,
    server: ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn trim_host(h: &str) -> String {
    h.trim_end_matches('/').to_owned()
}

/// Bind, seed the videos and start serving on the current tokio runtime
/// (the server future is `tokio::spawn`ed; actix runs its workers on their own threads).
pub async fn spawn(config: SimConfig) -> std::io::Result<SimHandle> {
    let listener = std::net::TcpListener::bind(config.listen)?;
    let addr = listener.local_addr()?;
    let own = format!("http://{addr}");
    let now = chrono::Utc::now();
    let videos = match &config.media_dir {
        Some(dir) => videos::VideoStore::from_media_dir(dir, &config.public_videos, now)?,
        None => videos::VideoStore::default(),
    };
    let sim = web::Data::new(Sim::new(
        config.api_key.clone(),
        config
            .api_host
            .as_deref()
            .map_or_else(|| own.clone(), trim_host),
        config
            .vod_host
            .as_deref()
            .map_or_else(|| own.clone(), trim_host),
        config
            .embed_host
            .as_deref()
            .map_or_else(|| own.clone(), trim_host),
        chrono_duration(config.access_token_ttl),
        chrono_duration(config.session_ttl),
        config.rate_limit,
        config.rewrite_playlists,
        faults::Faults::new(config.faults.clone()),
        videos,
    ));
    let data = sim.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .configure(routes)
            .default_service(web::to(unrecognized))
    })
    .workers(config.workers.max(1))
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    let handle = server.handle();
    let task = tokio::spawn(server);
    Ok(SimHandle {
        addr,
        sim,
        server: handle,
        task,
    })
}

async fn method_not_allowed() -> HttpResponse {
    ApiError::new(405, "method-not-allowed", "Method not allowed.", None).error_response()
}

/// A resource whose unmatched methods answer 405 in api.video's error shape.
fn res(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

async fn unrecognized() -> HttpResponse {
    ApiError::unrecognized_url().error_response()
}

/// All routes (API, delivery and `/_sim`), for embedding the sim in another actix `App`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    admin::configure(cfg);
    cfg.service(res("/auth/api-key").route(web::post().to(auth::api_key)))
        .service(res("/auth/refresh").route(web::post().to(auth::refresh)))
        .service(res("/videos").route(web::get().to(videos::list_videos)))
        .service(res("/videos/{videoId}").route(web::get().to(videos::get_video)))
        .service(res("/videos/{videoId}/status").route(web::get().to(videos::get_status)))
        .service(
            res("/upload-tokens")
                .route(web::get().to(upload_tokens::list))
                .route(web::post().to(upload_tokens::create)),
        )
        .service(
            res("/upload-tokens/{uploadToken}")
                .route(web::get().to(upload_tokens::get))
                .route(web::delete().to(upload_tokens::delete)),
        )
        .service(res("/upload").route(web::post().to(upload_tokens::upload)))
        .service(res("/vod/{videoId}/token/{token}/session").route(web::get().to(vod::session)))
        .service(
            res("/vod/{videoId}/token/{token}/{tail:.+}").route(web::get().to(vod::private_asset)),
        )
        .service(res("/vod/{videoId}").route(web::get().to(vod::embed)))
        .service(res("/vod/{videoId}/{tail:.+}").route(web::get().to(vod::public_asset)));
}

impl SimHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://{addr}`: the API base URL (what `https://ws.api.video` is in production).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn api_key(&self) -> &str {
        &self.sim.api_key
    }

    pub fn vod_host(&self) -> &str {
        &self.sim.vod_host
    }

    pub fn embed_host(&self) -> &str {
        &self.sim.embed_host
    }

    /// The shared state, for direct inspection.
    pub fn state(&self) -> Arc<Sim> {
        self.sim.clone().into_inner()
    }

    /// The counters served at `GET /_sim/calls`.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.sim.calls.snapshot()
    }

    /// One counter (0 when unknown).
    pub fn call_count(&self, name: &str) -> u64 {
        self.sim.calls.get(name)
    }

    pub fn reset_calls(&self) {
        self.sim.calls.reset();
    }

    pub fn add_faults(&self, rules: Vec<FaultRule>) {
        self.sim.faults.add(rules);
    }

    pub fn clear_faults(&self) {
        self.sim.faults.clear();
    }

    /// Move the sim's clock forward (access tokens, sessions, upload tokens, rate window).
    pub fn advance_clock(&self, by: Duration) {
        self.sim.advance_clock(chrono_duration(by));
    }

    /// Add (or replace) a video served from an HLS folder.
    pub fn add_video_folder(&self, id: &str, dir: &Path, public: bool) {
        self.sim
            .videos
            .insert_folder(id, dir, public, self.sim.now());
    }

    /// Mark a video public or private; false when the id is unknown.
    pub fn set_public(&self, id: &str, public: bool) -> bool {
        self.sim.videos.set_public(id, public)
    }

    /// Stop the server gracefully and wait for it.
    pub async fn stop(self) {
        self.server.stop(true).await;
        let _ = self.task.await;
    }

    /// Wait until the server stops (for the binary).
    pub async fn wait(self) -> std::io::Result<()> {
        self.task.await.map_err(std::io::Error::other)?
    }

    /// A handle that can stop the server from elsewhere.
    pub fn server_handle(&self) -> ServerHandle {
        self.server.clone()
    }
}
