//! An entitlement: "viewer V may watch video X until T". The grant itself never changes
//! once written; a revocation is a separate write-once record, so a revoke can never be
//! lost to a concurrent update of the grant.

use super::{EntitlementId, OrderId, VideoId, ViewerId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The longest rental window vodgate accepts (a year and a day).
pub const MAX_WINDOW_S: u64 = 366 * 24 * 3600;
/// The longest start window: as long as a rental window.
pub const MAX_START_WITHIN_S: u64 = MAX_WINDOW_S;
/// The most playbacks one entitlement may run at once.
pub const MAX_STREAMS: u32 = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entitlement {
    pub id: EntitlementId,
    pub viewer_id: ViewerId,
    pub video_id: VideoId,
    pub order_id: Option<OrderId>,
    pub created_at: DateTime<Utc>,
    /// The rental window's length.
    pub watch_for_s: u64,
    /// With a start window ("30 days to start, 48 h once started"): watching must start by
    /// this instant, and the window runs from the first segment served. Without one, the
    /// window runs from the grant.
    pub start_by: Option<DateTime<Utc>>,
    /// How many playbacks may run at once.
    pub max_streams: u32,
    pub age_gate: AgeGate,
    /// The proof an age check happened, for `AgeGate::Verified` grants.
    pub age_verification: Option<AgeVerification>,
    /// How this rental plays on api.video; `None`: the deployment's `VODGATE_APIVIDEO_MODE`.
    /// (Records written before the field existed read as `None`.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playback_mode: Option<PlaybackMode>,
    /// Where this rental's segments come from (local and http origins); `None`: the
    /// deployment's `VODGATE_DELIVERY`. (Records written before the field existed read as `None`.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
}

/// Where a playback's segments come from (local and http origins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Playlists, keys and segments flow through vodgate: a revocation stops the next segment.
    Relay,
    /// Playlists and keys from vodgate, segments from the operator's CDN with a token in the
    /// CDN's own format (`VODGATE_CDN_*`): a revocation stops at the next key change, or when
    /// the short cookie token is not renewed.
    Cdn,
}

/// How the watch page plays an api.video video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlaybackMode {
    /// Playlists and segments flow through vodgate: a revocation stops the next segment.
    Relay,
    /// The page embeds api.video's own player: a revocation takes effect at the next page
    /// load only, since the bytes never pass through vodgate.
    Embed,
}

/// What a viewer must do before playback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgeGate {
    #[default]
    None,
    /// The viewer confirms their age on an interstitial page; the confirmation is recorded.
    SelfDeclared,
    /// The site verified the viewer's age before the grant and sends the proof with it.
    Verified,
}

/// The proof that the site verified the viewer's age before the grant. `method` and
/// `reference` must hold a character other than whitespace (the schema pattern lists the
/// characters `str::trim` strips).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgeVerification {
    /// How the age was checked (`id_document`, `credit_card`, `age_estimation`, …).
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "[^\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]",
        example = "id_document"
    )]
    pub method: String,
    /// When the check happened; at most 5 minutes in the future.
    pub verified_at: DateTime<Utc>,
    /// The verification provider's reference, for audits.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "[^\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]",
        example = "kyc-7f3a"
    )]
    pub reference: String,
}

/// Why an entitlement was revoked. `Refund` covers refunds and chargebacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationKind {
    Revoke,
    Refund,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub kind: RevocationKind,
    pub at: DateTime<Utc>,
    /// Free text from the operator ("abuse", "chargeback 123"): shown to operators only.
    pub reason: Option<String>,
}

/// Where an entitlement stands now: only `active` ones play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntitlementStatus {
    Active,
    Expired,
    StartWindowPassed,
    Revoked,
    Refunded,
}

fn secs(s: u64) -> chrono::Duration {
    chrono::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000))
}

impl Entitlement {
    /// When the window ends: fixed at the grant, or (with a start window) known once the
    /// first segment was served.
    pub fn expires_at(&self, first_played_at: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        match (self.start_by, first_played_at) {
            (None, _) => Some(self.created_at + secs(self.watch_for_s)),
            (Some(_), Some(first)) => Some(first + secs(self.watch_for_s)),
            (Some(_), None) => None,
        }
    }

    /// The last instant this entitlement could possibly be live: bounds every TTL.
    pub fn latest_end(&self) -> DateTime<Utc> {
        self.start_by.unwrap_or(self.created_at) + secs(self.watch_for_s)
    }

    /// The status at `now`. A revocation wins over the clock: it is the more useful fact.
    /// A first play exactly at `start_by` is in time.
    pub fn status(
        &self,
        revocation: Option<&Revocation>,
        first_played_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> EntitlementStatus {
        match revocation.map(|r| r.kind) {
            Some(RevocationKind::Refund) => return EntitlementStatus::Refunded,
            Some(RevocationKind::Revoke) => return EntitlementStatus::Revoked,
            None => {}
        }
        match (self.start_by, self.expires_at(first_played_at)) {
            (Some(start_by), None) if now > start_by => EntitlementStatus::StartWindowPassed,
            (_, Some(end)) if now >= end => EntitlementStatus::Expired,
            _ => EntitlementStatus::Active,
        }
    }
}

/// Why a viewer may not play. One enum: the same snake_case codes appear in JSON bodies,
/// on the HTML deny page and in logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenyReason {
    Expired,
    Revoked,
    Refunded,
    NotStarted,
    PlaybackStopped,
    StartWindowPassed,
    TooManyStreams,
    AgeGateRequired,
    UnknownEntitlement,
    SessionMismatch,
    UpstreamUnavailable,
}

impl DenyReason {
    pub fn code(self) -> &'static str {
        self.error_code().as_str()
    }

    pub fn error_code(self) -> super::ErrorCode {
        use super::ErrorCode as C;
        match self {
            Self::Expired => C::Expired,
            Self::Revoked => C::Revoked,
            Self::Refunded => C::Refunded,
            Self::NotStarted => C::NotStarted,
            Self::PlaybackStopped => C::PlaybackStopped,
            Self::StartWindowPassed => C::StartWindowPassed,
            Self::TooManyStreams => C::TooManyStreams,
            Self::AgeGateRequired => C::AgeGateRequired,
            Self::UnknownEntitlement => C::UnknownEntitlement,
            Self::SessionMismatch => C::SessionMismatch,
            Self::UpstreamUnavailable => C::UpstreamUnavailable,
        }
    }

    /// The sentence a viewer reads.
    pub fn explain(self) -> &'static str {
        match self {
            Self::Expired => "Your rental period has ended.",
            Self::Revoked => "Access to this video was withdrawn by the site.",
            Self::Refunded => "This rental was refunded, so it can no longer be watched.",
            Self::NotStarted => "This rental has not started yet.",
            Self::PlaybackStopped => {
                "This screen was stopped. Reload the page to watch here again."
            }
            Self::StartWindowPassed => "The time to start watching this rental has passed.",
            Self::TooManyStreams => {
                "This rental is already playing on too many screens. Stop one of them and try again."
            }
            Self::AgeGateRequired => "Please confirm your age before watching.",
            Self::UnknownEntitlement => "This watch link is not valid.",
            Self::SessionMismatch => {
                "This player session belongs to another browser. Open your own watch link."
            }
            Self::UpstreamUnavailable => {
                "The video source is not reachable right now. Try again in a minute."
            }
        }
    }

    pub fn from_status(status: EntitlementStatus) -> Option<Self> {
        match status {
            EntitlementStatus::Active => None,
            EntitlementStatus::Expired => Some(Self::Expired),
            EntitlementStatus::StartWindowPassed => Some(Self::StartWindowPassed),
            EntitlementStatus::Revoked => Some(Self::Revoked),
            EntitlementStatus::Refunded => Some(Self::Refunded),
        }
    }
}

impl std::fmt::Display for DenyReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn grant(now: DateTime<Utc>) -> Entitlement {
        Entitlement {
            id: EntitlementId::new(),
            viewer_id: ViewerId::parse("v1").unwrap(),
            video_id: VideoId::parse("sample").unwrap(),
            order_id: None,
            created_at: now,
            watch_for_s: 60,
            start_by: None,
            max_streams: 2,
            age_gate: AgeGate::None,
            age_verification: None,
            playback_mode: None,
            delivery: None,
        }
    }

    #[test]
    fn records_written_before_playback_mode_existed_still_read() {
        let mut e = grant(Utc::now());
        let old = serde_json::to_string(&e).unwrap();
        assert!(!old.contains("playback_mode"), "None is not written: {old}");
        assert_eq!(serde_json::from_str::<Entitlement>(&old).unwrap(), e);
        e.playback_mode = Some(PlaybackMode::Embed);
        let new = serde_json::to_string(&e).unwrap();
        assert!(new.contains(r#""playback_mode":"embed""#), "{new}");
        assert_eq!(serde_json::from_str::<Entitlement>(&new).unwrap(), e);
    }

    #[test]
    fn status_follows_the_clock_and_revocation_wins() {
        let now = Utc::now();
        let e = grant(now);
        assert_eq!(e.status(None, None, now), EntitlementStatus::Active);
        assert_eq!(
            e.status(None, None, now + Duration::seconds(60)),
            EntitlementStatus::Expired
        );
        let refund = Revocation {
            kind: RevocationKind::Refund,
            at: now,
            reason: None,
        };
        assert_eq!(
            e.status(Some(&refund), None, now + Duration::days(9)),
            EntitlementStatus::Refunded
        );
    }

    #[test]
    fn a_start_window_runs_the_clock_from_the_first_play() {
        let now = Utc::now();
        let e = Entitlement {
            start_by: Some(now + Duration::seconds(30)),
            ..grant(now)
        };
        assert_eq!(e.expires_at(None), None);
        assert_eq!(
            e.status(None, None, now + Duration::seconds(30)),
            EntitlementStatus::Active,
            "deadline itself is in time"
        );
        assert_eq!(
            e.status(None, None, now + Duration::seconds(31)),
            EntitlementStatus::StartWindowPassed
        );
        let first = now + Duration::seconds(30);
        assert_eq!(
            e.expires_at(Some(first)),
            Some(first + Duration::seconds(60))
        );
        assert_eq!(
            e.status(None, Some(first), now + Duration::seconds(89)),
            EntitlementStatus::Active
        );
        assert_eq!(
            e.status(None, Some(first), now + Duration::seconds(90)),
            EntitlementStatus::Expired
        );
        assert_eq!(e.latest_end(), now + Duration::seconds(90));
    }

    #[test]
    fn deny_codes_match_their_serde_names() {
        for r in [
            DenyReason::Expired,
            DenyReason::StartWindowPassed,
            DenyReason::SessionMismatch,
        ] {
            assert_eq!(
                serde_json::to_value(r).unwrap(),
                serde_json::json!(r.code())
            );
        }
    }
}
