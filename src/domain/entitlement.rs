//! An entitlement: "viewer V may watch video X until T". The grant itself never changes
//! once written; a revocation is a separate write-once record, so a revoke can never be
//! lost to a concurrent update of the grant.

use super::{EntitlementId, OrderId, VideoId, ViewerId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entitlement {
    pub id: EntitlementId,
    pub viewer_id: ViewerId,
    pub video_id: VideoId,
    pub order_id: Option<OrderId>,
    pub created_at: DateTime<Utc>,
    pub watch_for_s: u64,
    pub expires_at: DateTime<Utc>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntitlementStatus {
    Active,
    Expired,
    Revoked,
    Refunded,
}

impl Entitlement {
    /// The status at `now`. A revocation wins over expiry: it is the more useful fact.
    pub fn status(&self, revocation: Option<&Revocation>, now: DateTime<Utc>) -> EntitlementStatus {
        match revocation.map(|r| r.kind) {
            Some(RevocationKind::Refund) => EntitlementStatus::Refunded,
            Some(RevocationKind::Revoke) => EntitlementStatus::Revoked,
            None if now >= self.expires_at => EntitlementStatus::Expired,
            None => EntitlementStatus::Active,
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
    StartWindowPassed,
    TooManyStreams,
    AgeGateRequired,
    UnknownEntitlement,
    SessionMismatch,
    UpstreamUnavailable,
}

impl DenyReason {
    pub fn code(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::Refunded => "refunded",
            Self::NotStarted => "not_started",
            Self::StartWindowPassed => "start_window_passed",
            Self::TooManyStreams => "too_many_streams",
            Self::AgeGateRequired => "age_gate_required",
            Self::UnknownEntitlement => "unknown_entitlement",
            Self::SessionMismatch => "session_mismatch",
            Self::UpstreamUnavailable => "upstream_unavailable",
        }
    }

    /// The sentence a viewer reads.
    pub fn explain(self) -> &'static str {
        match self {
            Self::Expired => "Your rental period has ended.",
            Self::Revoked => "Access to this video was withdrawn by the site.",
            Self::Refunded => "This rental was refunded, so it can no longer be watched.",
            Self::NotStarted => "This rental has not started yet.",
            Self::StartWindowPassed => "The time to start watching this rental has passed.",
            Self::TooManyStreams => {
                "This rental is already playing on too many screens. Stop one of them and try again."
            }
            Self::AgeGateRequired => "Please confirm your age before watching.",
            Self::UnknownEntitlement => "This watch link is not valid.",
            Self::SessionMismatch => {
                "This player session belongs to another browser. Open your own watch link."
            }
            Self::UpstreamUnavailable => "The video source is not reachable right now. Try again in a minute.",
        }
    }

    pub fn from_status(status: EntitlementStatus) -> Option<Self> {
        match status {
            EntitlementStatus::Active => None,
            EntitlementStatus::Expired => Some(Self::Expired),
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
            expires_at: now + Duration::seconds(60),
        }
    }

    #[test]
    fn status_follows_the_clock_and_revocation_wins() {
        let now = Utc::now();
        let e = grant(now);
        assert_eq!(e.status(None, now), EntitlementStatus::Active);
        assert_eq!(e.status(None, now + Duration::seconds(60)), EntitlementStatus::Expired);
        let refund = Revocation { kind: RevocationKind::Refund, at: now, reason: None };
        assert_eq!(e.status(Some(&refund), now + Duration::days(9)), EntitlementStatus::Refunded);
    }

    #[test]
    fn deny_codes_match_their_serde_names() {
        for r in [DenyReason::Expired, DenyReason::StartWindowPassed, DenyReason::SessionMismatch] {
            assert_eq!(serde_json::to_value(r).unwrap(), serde_json::json!(r.code()));
        }
    }
}
