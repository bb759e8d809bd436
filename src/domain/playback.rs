//! A playback: one watch-page load, bound to one entitlement and one viewer session, and
//! what it plays.

use super::{EntitlementId, PlaybackId, VideoId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

/// One watch-page load: bound to the entitlement and to the viewer session that opened it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Playback {
    pub id: PlaybackId,
    pub entitlement_id: EntitlementId,
    pub video_id: VideoId,
    /// SHA-256 of the viewer-session cookie that started this playback.
    pub session_hash: String,
    pub source: Source,
    pub started_at: DateTime<Utc>,
    /// Set when an operator stopped this playback; it is refused from its next request on.
    #[serde(default)]
    pub stopped_at: Option<DateTime<Utc>>,
}

/// What a playback plays: fixed when the playback starts, stored with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// Everything of this video lives under here (ends with '/').
    pub asset_base: Url,
    /// The master (or only) playlist, relative to `asset_base`.
    pub entry: String,
}
