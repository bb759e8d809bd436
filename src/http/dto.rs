//! The bodies the HTTP API answers with: handlers build these, and the OpenAPI document
//! (`openapi.rs`) describes these same types, so the document cannot drift from what is sent.

use crate::app::audit::AuditEvent;
use crate::app::entitlements::EntitlementRecord;
use crate::domain::{
    AgeGate, AgeVerification, Delivery, EntitlementId, EntitlementStatus, OrderId, PlaybackMode,
    VideoId, ViewerId,
};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// The entitlement as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EntitlementView {
    #[schema(value_type = EntitlementId)]
    pub id: String,
    pub status: EntitlementStatus,
    #[schema(value_type = ViewerId)]
    pub viewer_id: String,
    #[schema(value_type = VideoId)]
    pub video_id: String,
    #[schema(value_type = Option<OrderId>, required = true)]
    pub order_id: Option<String>,
    pub watch_for_s: u64,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The effective end of the window; null while a start window waits for the first play.
    #[schema(format = DateTime, required = true)]
    pub expires_at: Option<String>,
    /// With a start window: watching must start by then.
    #[schema(format = DateTime, required = true)]
    pub start_by: Option<String>,
    #[schema(format = DateTime, required = true)]
    pub first_played_at: Option<String>,
    pub max_streams: u32,
    pub age_gate: AgeGate,
    #[schema(required = true)]
    pub age_verification: Option<AgeVerification>,
    /// What the grant chose; null: the deployment's default.
    #[schema(required = true)]
    pub playback_mode: Option<PlaybackMode>,
    /// What the grant chose; null: the deployment's `VODGATE_DELIVERY`.
    #[schema(required = true)]
    pub delivery: Option<Delivery>,
    #[schema(format = DateTime, required = true)]
    pub revoked_at: Option<String>,
    #[schema(required = true)]
    pub revocation_reason: Option<String>,
    /// A fresh single-use launch link (grant and launch only): hand it to the viewer.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, format = "uri", example = "http://127.0.0.1:8080/w/vg_wl_…")]
    pub watch_url: Option<String>,
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl EntitlementView {
    pub fn new(r: &EntitlementRecord, watch_url: Option<String>) -> Self {
        let e = &r.entitlement;
        Self {
            id: e.id.to_string(),
            status: r.status(Utc::now()),
            viewer_id: e.viewer_id.to_string(),
            video_id: e.video_id.to_string(),
            order_id: e.order_id.as_ref().map(|o| o.to_string()),
            watch_for_s: e.watch_for_s,
            created_at: rfc3339(e.created_at),
            expires_at: r.expires_at().map(rfc3339),
            start_by: e.start_by.map(rfc3339),
            first_played_at: r.first_played_at.map(rfc3339),
            max_streams: e.max_streams,
            age_gate: e.age_gate,
            age_verification: e.age_verification.clone(),
            playback_mode: e.playback_mode,
            delivery: e.delivery,
            revoked_at: r.revocation.as_ref().map(|r| rfc3339(r.at)),
            revocation_reason: r.revocation.as_ref().and_then(|r| r.reason.clone()),
            watch_url,
        }
    }
}

/// `GET /v1/entitlements`.
#[derive(Serialize, ToSchema)]
pub struct EntitlementList {
    /// Without `watch_url`.
    pub data: Vec<EntitlementView>,
}

/// `POST /v1/orders/{order_id}/refund`.
#[derive(Serialize, ToSchema)]
pub struct RefundResult {
    pub order_id: OrderId,
    /// Every entitlement of the order, without `watch_url`.
    pub data: Vec<EntitlementView>,
}

/// A screen playing a rental.
#[derive(Serialize, ToSchema)]
#[schema(as = Playback)]
pub struct PlaybackView {
    #[schema(
        pattern = "^pb_[0-9a-f]{32}$",
        example = "pb_0123456789abcdef0123456789abcdef"
    )]
    pub id: String,
    #[schema(format = DateTime)]
    pub started_at: String,
    /// Its last playlist, key or segment request.
    #[schema(format = DateTime, required = true)]
    pub last_seen_at: Option<String>,
    /// Set once an operator stopped it.
    #[schema(format = DateTime, required = true)]
    pub stopped_at: Option<String>,
}

/// `GET /v1/entitlements/{id}/playbacks`.
#[derive(Serialize, ToSchema)]
pub struct PlaybackList {
    pub data: Vec<PlaybackView>,
}

/// `GET /v1/audit`: one page, oldest first.
#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub data: Vec<AuditEvent>,
    /// Pass as `after` for the next page; null on the last page.
    #[schema(required = true, example = "1763782793000-0")]
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookStatus {
    /// A refund or chargeback: the order's entitlements are revoked.
    Processed,
    /// Another event type: acknowledged, nothing done.
    Ignored,
    /// This event id was processed before: nothing done.
    Duplicate,
}

/// What a payment provider's event did.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderWebhookStatus {
    /// A paid checkout: the entitlement is granted (or was, by an earlier delivery).
    Granted,
    /// A full refund or a chargeback: the order's entitlements are revoked.
    Revoked,
    /// A refund or chargeback of a payment not bought yet: applied when its purchase arrives.
    Remembered,
    /// Audited, nothing changed: a partial refund kept, a refund awaiting approval, an unpaid checkout.
    Noted,
    /// An event type vodgate does not act on: audited, nothing done.
    Ignored,
    /// This event was processed before: nothing done.
    Duplicate,
}

/// `POST /webhooks/stripe`, `/webhooks/paddle`, `/webhooks/lemonsqueezy`.
#[derive(Serialize, ToSchema)]
pub struct ProviderWebhookResult {
    /// The provider's event id (Lemon Squeezy: event name, order id and the order's `updated_at`).
    pub id: String,
    pub status: ProviderWebhookStatus,
    /// With `granted`: the entitlement of the order and video.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub entitlement_id: Option<EntitlementId>,
    /// With `revoked`, and with `granted` when a refund that came first revoked it at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub revoked: Option<Vec<EntitlementId>>,
    /// With `revoked`: the order's entitlements an earlier revocation had already ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub already_revoked: Option<Vec<EntitlementId>>,
}

/// `POST /webhooks/payments`.
#[derive(Serialize, ToSchema)]
pub struct WebhookResult {
    /// The event's id.
    pub id: String,
    pub status: WebhookStatus,
    /// With `processed` only: the entitlements this event revoked (empty when the order has
    /// none, or when all were revoked before).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub revoked: Option<Vec<EntitlementId>>,
    /// With `processed` only: the order's entitlements an earlier revocation or refund had
    /// already ended; that one stands, with its own time and reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub already_revoked: Option<Vec<EntitlementId>>,
}

/// `GET /healthz`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(pattern = "^ok$", example = "ok")]
    pub status: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadinessStatus {
    Ready,
    NotReady,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Ok,
    Unavailable,
}

#[derive(Serialize, ToSchema)]
pub struct Check {
    pub status: CheckStatus,
    /// What was checked: `redis` or `memory` for the store.
    #[schema(example = "redis")]
    pub kind: String,
}

#[derive(Serialize, ToSchema)]
pub struct Checks {
    pub store: Check,
    /// With the api.video origin: can vodgate authenticate to it (`kind` `apivideo`)?
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub upstream_auth: Option<Check>,
}

/// A delegated upload token (api.video's, in snake_case) and where to upload with it.
#[derive(Serialize, ToSchema)]
pub struct UploadToken {
    #[schema(example = "to1tcmSFHeYY5KzyhOqVKMKb")]
    pub token: String,
    /// Seconds it is valid from creation; 0: until deleted.
    #[schema(minimum = 0)]
    pub ttl: u64,
    /// As api.video reports it.
    #[schema(value_type = Value, required = true, example = "2026-11-22T03:39:53+00:00")]
    pub created_at: serde_json::Value,
    /// As api.video reports it; null without expiry.
    #[schema(value_type = Value, required = true)]
    pub expires_at: serde_json::Value,
    /// POST the file here (multipart `file`), straight to api.video.
    #[schema(
        format = "uri",
        example = "https://ws.api.video/upload?token=to1tcmSFHeYY5KzyhOqVKMKb"
    )]
    pub upload_url: String,
}

#[derive(Serialize, ToSchema)]
pub struct Pagination {
    pub page: u64,
    pub page_size: u64,
    #[schema(required = true)]
    pub pages_total: Option<u64>,
    #[schema(required = true)]
    pub items_total: Option<u64>,
}

/// `GET /v1/upload-tokens`.
#[derive(Serialize, ToSchema)]
pub struct UploadTokenList {
    pub data: Vec<UploadToken>,
    pub pagination: Pagination,
}

/// `GET /readyz`.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    pub status: ReadinessStatus,
    pub checks: Checks,
}

/// `GET /play/{playback_id}/status`: what the watch page polls (the player's own channel,
/// not part of the admin API's document).
#[derive(Serialize)]
pub struct PlaybackStatusView {
    /// `active` or `denied`.
    pub state: &'static str,
    /// The deny reason's code when denied.
    pub code: Option<&'static str>,
    /// The sentence the page shows when denied.
    pub message: Option<&'static str>,
    pub expires_at: Option<String>,
    pub seconds_left: i64,
}
