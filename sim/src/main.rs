//! `apivideo-sim`: run the api.video stand-in from the command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use apivideo_sim::{FaultRule, SimConfig, faults};
use clap::Parser;

/// A local stand-in for api.video: auth, private videos with one-time tokens and sessions,
/// HLS delivery, upload tokens, rate limits and fault injection.
#[derive(Debug, Parser)]
#[command(name = "apivideo-sim", version)]
struct Cli {
    /// Address to listen on (API, vod and embed are served together).
    #[arg(long, env = "APIVIDEO_SIM_LISTEN", default_value = "127.0.0.1:8089")]
    listen: SocketAddr,
    /// Folder whose subfolders (with master.m3u8) become private videos named after them.
    #[arg(long, env = "APIVIDEO_SIM_MEDIA")]
    media: Option<PathBuf>,
    /// The API key the sim accepts.
    #[arg(long, env = "APIVIDEO_SIM_API_KEY", default_value = apivideo_sim::DEFAULT_API_KEY)]
    api_key: String,
    /// Mark a seeded video public (repeatable).
    #[arg(long = "public", value_name = "VIDEO_ID")]
    public: Vec<String>,
    /// Base URL for hls/thumbnail/mp4 asset URLs (default http://LISTEN).
    #[arg(long, env = "APIVIDEO_SIM_VOD_HOST")]
    vod_host: Option<String>,
    /// Base URL for player/iframe asset URLs (default http://LISTEN).
    #[arg(long, env = "APIVIDEO_SIM_EMBED_HOST")]
    embed_host: Option<String>,
    /// Base URL used in pagination links (default http://LISTEN).
    #[arg(long, env = "APIVIDEO_SIM_API_HOST")]
    api_host: Option<String>,
    /// Access token lifetime in seconds (expires_in).
    #[arg(long, default_value_t = 3600)]
    access_token_ttl: u64,
    /// Delivery session lifetime in seconds.
    #[arg(long, default_value_t = 86400)]
    session_ttl: u64,
    /// Requests per minute on regular endpoints.
    #[arg(long, default_value_t = 500)]
    rate_limit: u32,
    /// Append avh=<session> to the URIs of playlists served under a session.
    #[arg(long)]
    rewrite_playlists: bool,
    /// Fault rules as JSON (one rule or an array), or @FILE to read them from a file.
    #[arg(long)]
    faults: Option<String>,
    /// actix worker threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    let faults: Vec<FaultRule> = match cli.faults.as_deref() {
        None => Vec::new(),
        Some(spec) => {
            let text = match spec.strip_prefix('@') {
                Some(file) => std::fs::read_to_string(file)?,
                None => spec.to_owned(),
            };
            faults::parse_rules(&text)
                .map_err(|e| std::io::Error::other(format!("--faults: {e}")))?
        }
    };
    let sim = apivideo_sim::spawn(SimConfig {
        listen: cli.listen,
        api_key: cli.api_key,
        media_dir: cli.media,
        public_videos: cli.public,
        api_host: cli.api_host,
        vod_host: cli.vod_host,
        embed_host: cli.embed_host,
        access_token_ttl: Duration::from_secs(cli.access_token_ttl),
        session_ttl: Duration::from_secs(cli.session_ttl),
        rate_limit: cli.rate_limit,
        rewrite_playlists: cli.rewrite_playlists,
        faults,
        workers: cli.workers,
    })
    .await?;
    let videos = sim.state().videos.all();
    eprintln!(
        "apivideo-sim listening on {} ({} video(s): {})",
        sim.base_url(),
        videos.len(),
        videos
            .iter()
            .map(|v| format!("{}{}", v.id, if v.public { " [public]" } else { "" }))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let stopper = sim.server_handle();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stopper.stop(true).await;
        }
    });
    sim.wait().await
}
