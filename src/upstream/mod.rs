//! Where the video bytes live. An `Origin` opens a playback (`Source`: the video's asset
//! base and its entry playlist), then serves playlists (bounded, as text, for rewriting) and
//! keys/segments (streamed, with Range). Everything a viewer asks for is resolved strictly
//! inside the source's asset base: vodgate is never an open proxy.

mod http;
mod local;

pub use self::http::HttpOrigin;
pub use self::local::LocalOrigin;

use crate::config::{Config, OriginConfig};
use crate::domain::VideoId;
use crate::error::ApiError;
use crate::hls::asset_path::AssetPath;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use url::Url;

/// A playlist larger than this is not a playlist we want to hold in memory.
pub const MAX_PLAYLIST_BYTES: usize = 4 * 1024 * 1024;

/// What a playback plays: fixed when the playback starts, stored with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// Everything of this video lives under here (ends with '/').
    pub asset_base: Url,
    /// The master (or only) playlist, relative to `asset_base`.
    pub entry: String,
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("the origin has no such video or file")]
    NotFound,
    #[error("the origin did not answer in time")]
    Timeout,
    #[error("the origin failed: {0}")]
    Unavailable(String),
    #[error("the origin sent something that is not a usable HLS playlist: {0}")]
    Invalid(String),
}

impl From<UpstreamError> for ApiError {
    fn from(e: UpstreamError) -> Self {
        match &e {
            UpstreamError::NotFound => ApiError::not_found("upstream_not_found", e.to_string()),
            UpstreamError::Timeout => ApiError::new(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout", e.to_string()),
            UpstreamError::Unavailable(cause) => {
                tracing::warn!(error.cause = %cause, "origin failed");
                ApiError::new(StatusCode::BAD_GATEWAY, "upstream_unavailable", "The video origin failed; retry shortly.")
            }
            UpstreamError::Invalid(_) => ApiError::new(StatusCode::BAD_GATEWAY, "upstream_invalid", e.to_string()),
        }
    }
}

#[derive(Clone)]
pub enum Origin {
    Local(LocalOrigin),
    Http(HttpOrigin),
}

impl Origin {
    pub fn from_config(config: &Config) -> Result<Self, String> {
        match &config.origin {
            OriginConfig::Local { media_dir } => Ok(Origin::Local(LocalOrigin::new(media_dir)?)),
            OriginConfig::Http { url_template } => Ok(Origin::Http(HttpOrigin::new(url_template, config.upstream_timeout)?)),
        }
    }

    /// Start a playback of this video.
    pub async fn open(&self, video: &VideoId) -> Result<Source, UpstreamError> {
        match self {
            Origin::Local(o) => o.open(video).await,
            Origin::Http(o) => o.open(video),
        }
    }

    /// A playlist's text, at most `MAX_PLAYLIST_BYTES`, checked to be HLS.
    pub async fn playlist(&self, source: &Source, path: &AssetPath) -> Result<String, UpstreamError> {
        let text = match self {
            Origin::Local(o) => o.playlist(source, path).await?,
            Origin::Http(o) => o.playlist(source, path).await?,
        };
        if !text.trim_start_matches('\u{feff}').starts_with("#EXTM3U") {
            return Err(UpstreamError::Invalid("it does not start with #EXTM3U".into()));
        }
        Ok(text)
    }

    /// A key or segment, streamed, honouring the viewer's Range header.
    pub async fn media(&self, req: &HttpRequest, source: &Source, path: &AssetPath) -> Result<HttpResponse, UpstreamError> {
        match self {
            Origin::Local(o) => o.media(req, source, path).await,
            Origin::Http(o) => o.media(req, source, path).await,
        }
    }

    /// A human title for the watch page, where the origin knows one.
    pub async fn title(&self, video: &VideoId) -> Option<String> {
        match self {
            Origin::Local(o) => o.title(video).await,
            Origin::Http(_) => None,
        }
    }
}
