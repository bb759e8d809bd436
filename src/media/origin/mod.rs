//! Where the video bytes live. An `Origin` opens a playback (`Source`: the video's asset
//! base and its entry playlist), then serves playlists (bounded, as text, for rewriting) and
//! keys/segments (streamed, with Range). Everything a viewer asks for is resolved strictly
//! inside the source's asset base: vodgate is never an open proxy.

pub mod apivideo;
mod file;
mod http;
mod local;
mod relay;

pub use self::apivideo::ApiVideoOrigin;
pub use self::http::HttpOrigin;
pub use self::local::LocalOrigin;

use crate::config::{Config, OriginConfig};
use crate::domain::{EntitlementId, VideoId};
use crate::domain::{Playback, Source};
use crate::media::asset_path::AssetPath;
use crate::media::body::{Media, MediaRequest};
use crate::store::Store;
use chrono::{DateTime, Utc};

/// A playlist larger than this is not a playlist we want to hold in memory.
pub const MAX_PLAYLIST_BYTES: usize = 4 * 1024 * 1024;

/// What an origin may need to know when a playback starts.
pub struct PlaybackStart<'a> {
    pub entitlement_id: &'a EntitlementId,
    /// When the entitlement ends (or the latest it can end): nothing kept for this
    /// playback upstream outlives it.
    pub until: DateTime<Utc>,
    /// The grant's `playback_mode`, if it chose one (api.video only).
    pub mode: Option<crate::domain::PlaybackMode>,
}

/// A started playback: what to relay, and for embed mode the URL the page embeds.
pub struct Opened {
    pub source: Source,
    /// api.video embed mode: the player URL (it carries the upstream tokens by design).
    pub embed_url: Option<String>,
    /// A title the origin knows.
    pub title: Option<String>,
}

impl From<Source> for Opened {
    fn from(source: Source) -> Self {
        Self {
            source,
            embed_url: None,
            title: None,
        }
    }
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
    #[error("the origin's rate limit was reached; retry in {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },
    #[error("the origin refused vodgate's credentials: {0}")]
    AuthFailed(String),
    #[error("the video is public at the origin, and public videos are not served")]
    PublicVideo,
    #[error("the origin's session for this playback has ended")]
    SessionExpired,
    #[error("the state store failed: {0}")]
    Store(String),
}

#[derive(Clone)]
pub enum Origin {
    Local(LocalOrigin),
    Http(HttpOrigin),
    ApiVideo(ApiVideoOrigin),
}

impl Origin {
    /// The store is where origins keep what instances share (api.video sessions).
    pub fn from_config(config: &Config, store: &Store) -> Result<Self, String> {
        match &config.origin {
            OriginConfig::Local {
                media_dir,
                accel_redirect,
            } => Ok(Origin::Local(LocalOrigin::new(
                media_dir,
                accel_redirect.clone(),
            )?)),
            OriginConfig::Http { url_template } => Ok(Origin::Http(HttpOrigin::new(
                url_template,
                config.upstream_timeout,
            )?)),
            OriginConfig::ApiVideo(c) => {
                let key = config
                    .apivideo_api_key
                    .clone()
                    .ok_or("the apivideo origin needs APIVIDEO_API_KEY")?;
                Ok(Origin::ApiVideo(ApiVideoOrigin::new(
                    c,
                    key,
                    config.upstream_timeout,
                    store.clone(),
                )?))
            }
        }
    }

    /// Start a playback of this video.
    pub async fn open(
        &self,
        video: &VideoId,
        start: &PlaybackStart<'_>,
    ) -> Result<Opened, UpstreamError> {
        match self {
            Origin::Local(o) => o.open(video).await.map(Opened::from),
            Origin::Http(o) => o.open(video).map(Opened::from),
            Origin::ApiVideo(o) => o.open(video, start).await,
        }
    }

    /// A playlist's text, at most `MAX_PLAYLIST_BYTES`, checked to be HLS.
    pub async fn playlist(
        &self,
        playback: &Playback,
        path: &AssetPath,
    ) -> Result<String, UpstreamError> {
        let source = &playback.source;
        let text = match self {
            Origin::Local(o) => o.playlist(source, path).await?,
            Origin::Http(o) => o.playlist(source, path).await?,
            Origin::ApiVideo(o) => o.playlist(playback, path).await?,
        };
        if !crate::media::hls::is_playlist(&text) {
            return Err(UpstreamError::Invalid(
                "it does not start with #EXTM3U".into(),
            ));
        }
        Ok(text)
    }

    /// A key or segment, streamed, honouring the viewer's Range header.
    pub async fn media(
        &self,
        req: &MediaRequest<'_>,
        playback: &Playback,
        path: &AssetPath,
    ) -> Result<Media, UpstreamError> {
        let source = &playback.source;
        match self {
            Origin::Local(o) => o.media(req, source, path).await,
            Origin::Http(o) => o.media(req, source, path).await,
            Origin::ApiVideo(o) => o.media(req, playback, path).await,
        }
    }

    /// api.video, when it is the origin (upload tokens, readiness).
    pub fn apivideo(&self) -> Option<&ApiVideoOrigin> {
        match self {
            Origin::ApiVideo(o) => Some(o),
            _ => None,
        }
    }

    /// A human title for the watch page, where the origin knows one.
    pub async fn title(&self, video: &VideoId) -> Option<String> {
        match self {
            Origin::Local(o) => o.title(video).await,
            // api.video: reading the video would mint a private token; its title comes
            // with `open` instead.
            Origin::Http(_) | Origin::ApiVideo(_) => None,
        }
    }
}
