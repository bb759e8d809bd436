//! Delivery: where a playback's segments come from (relay through vodgate, or the operator's
//! CDN) and the CDN token that opens them. Playlists and keys always come from vodgate.
//!
//! In CDN delivery no segment reaches vodgate, so what counts as watching (the rental clock,
//! a stream place) is the traffic that still does: the media playlist, each key (a title
//! whose key changes every few segments asks at each change), and the watch page's status
//! poll, which also renews a cookie token while the rental is live.

use super::App;
use super::entitlements::EntitlementRecord;
use crate::cdn::VideoToken;
use crate::domain::{Delivery, Playback};
use chrono::Utc;
use std::sync::Arc;

impl App {
    /// This rental's delivery: the grant's choice, else the deployment's. api.video is its
    /// own CDN (the grant and the configuration refuse `cdn` there).
    pub fn delivery(&self, record: &EntitlementRecord) -> Delivery {
        if self.origin.apivideo().is_some() || self.config.cdn.is_none() {
            return Delivery::Relay;
        }
        record.entitlement.delivery.unwrap_or(self.config.delivery)
    }

    /// The CDN token for this playback now, if its segments come from the CDN: scoped to the
    /// video, ending at the earlier of the rental window's end and the token TTL.
    pub fn cdn_token(
        &self,
        playback: &Playback,
        record: &EntitlementRecord,
    ) -> Option<Arc<VideoToken>> {
        if self.delivery(record) != Delivery::Cdn {
            return None;
        }
        let cdn = self.config.cdn.as_ref()?;
        let now = Utc::now();
        // Not started yet: this request starts the clock, so the window runs from now.
        let end = record.expires_at().unwrap_or_else(|| {
            now + chrono::Duration::seconds(
                i64::try_from(record.entitlement.watch_for_s).unwrap_or(i64::MAX / 1000),
            )
        });
        Some(cdn.token(
            playback.video_id.as_str(),
            playback.id.as_str(),
            now.timestamp(),
            Some(end.timestamp()),
        ))
    }
}
