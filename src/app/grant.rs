//! Grant: "viewer V may watch video X". `GrantTerms` is the only way to build a grant, so
//! the API, the command line and the demo store accept and refuse exactly the same terms,
//! with the same sentence.

use super::{App, AppError, Caller};
use crate::app::audit::AuditKind;
use crate::app::entitlements::{EntitlementError, EntitlementRecord, GrantRequest};
use crate::domain::ErrorCode;
use crate::domain::{
    AgeGate, AgeVerification, Delivery, MAX_START_WITHIN_S, MAX_STREAMS, MAX_WINDOW_S, OrderId,
    PlaybackMode, VideoId, ViewerId,
};
use crate::token::Token;
use chrono::Utc;

/// What a caller asks for; absent fields take the deployment's defaults.
#[derive(Debug, Clone)]
pub struct GrantInput {
    pub viewer_id: ViewerId,
    pub video_id: VideoId,
    pub order_id: Option<OrderId>,
    pub watch_for_s: Option<u64>,
    pub start_within_s: Option<u64>,
    pub max_streams: Option<u32>,
    pub age_gate: AgeGate,
    pub age_verification: Option<AgeVerification>,
    pub playback_mode: Option<PlaybackMode>,
    pub delivery: Option<Delivery>,
}

impl GrantInput {
    /// Viewer and video only; everything else as the deployment's defaults.
    pub fn new(viewer_id: ViewerId, video_id: VideoId) -> Self {
        Self {
            viewer_id,
            video_id,
            order_id: None,
            watch_for_s: None,
            start_within_s: None,
            max_streams: None,
            age_gate: AgeGate::None,
            age_verification: None,
            playback_mode: None,
            delivery: None,
        }
    }
}

/// Terms that passed every rule; built only by `App::terms`.
#[derive(Debug, Clone)]
pub struct GrantTerms(GrantRequest);

/// A grant as it stands after the call.
pub struct Granted {
    pub record: EntitlementRecord,
    /// False: this order + video was granted before, and that grant is returned.
    pub created: bool,
    /// A fresh single-use launch link; `App::watch_url_of` makes it a URL.
    pub launch: Token,
}

fn check_age_verification(v: &Option<AgeVerification>, gate: AgeGate) -> Result<(), AppError> {
    match (gate, v) {
        (AgeGate::Verified, None) => Err(AppError::unprocessable(
            ErrorCode::AgeVerificationRequired,
            "age_gate \"verified\" needs age_verification: {method, verified_at, reference}.",
        )),
        (_, Some(v)) => {
            let bad = |f: &str, n: usize| f.trim().is_empty() || f.chars().count() > n;
            if bad(&v.method, 64) || bad(&v.reference, 200) {
                return Err(AppError::unprocessable(
                    ErrorCode::InvalidAgeVerification,
                    "method (1-64 chars) and reference (1-200 chars) are required.",
                ));
            }
            if v.verified_at > Utc::now() + chrono::Duration::minutes(5) {
                return Err(AppError::unprocessable(
                    ErrorCode::InvalidAgeVerification,
                    "verified_at is in the future.",
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

impl App {
    /// Check a grant's terms against the rules and this deployment.
    pub fn terms(&self, input: GrantInput) -> Result<GrantTerms, AppError> {
        let watch_for_s = input.watch_for_s.unwrap_or(self.config.default_watch_for_s);
        if !(1..=MAX_WINDOW_S).contains(&watch_for_s) {
            return Err(AppError::invalid(
                ErrorCode::InvalidWatchFor,
                format!("watch_for_s must be between 1 and {MAX_WINDOW_S} seconds."),
            ));
        }
        if let Some(s) = input.start_within_s
            && !(1..=MAX_START_WITHIN_S).contains(&s)
        {
            return Err(AppError::invalid(
                ErrorCode::InvalidStartWithin,
                format!("start_within_s must be between 1 and {MAX_START_WITHIN_S} seconds."),
            ));
        }
        let max_streams = input.max_streams.unwrap_or(self.config.default_max_streams);
        if !(1..=MAX_STREAMS).contains(&max_streams) {
            return Err(AppError::invalid(
                ErrorCode::InvalidMaxStreams,
                format!("max_streams must be between 1 and {MAX_STREAMS}."),
            ));
        }
        check_age_verification(&input.age_verification, input.age_gate)?;
        if input.playback_mode == Some(PlaybackMode::Embed) && self.origin.apivideo().is_none() {
            return Err(AppError::unprocessable(
                ErrorCode::PlaybackModeUnavailable,
                "playback_mode \"embed\" embeds api.video's player; this vodgate serves another origin.",
            ));
        }
        if input.delivery == Some(Delivery::Cdn) {
            if self.origin.apivideo().is_some() {
                return Err(AppError::unprocessable(
                    ErrorCode::DeliveryUnavailable,
                    "delivery \"cdn\" applies to the local and http origins; api.video is its own CDN (use playback_mode).",
                ));
            }
            if self.config.cdn.is_none() {
                return Err(AppError::unprocessable(
                    ErrorCode::DeliveryUnavailable,
                    "delivery \"cdn\" needs a CDN, and this vodgate has none configured (VODGATE_CDN_BASE_URL, VODGATE_CDN_TOKEN).",
                ));
            }
        }
        Ok(GrantTerms(GrantRequest {
            viewer_id: input.viewer_id,
            video_id: input.video_id,
            order_id: input.order_id,
            watch_for_s,
            start_within_s: input.start_within_s,
            max_streams,
            age_gate: input.age_gate,
            age_verification: input.age_verification,
            playback_mode: input.playback_mode,
            delivery: input.delivery,
        }))
    }

    /// Grant, idempotently per order and video; a new grant goes in the audit trail.
    pub async fn grant(&self, terms: GrantTerms, caller: &Caller) -> Result<Granted, AppError> {
        self.grant_noted(terms, caller, None).await
    }

    /// As `grant`, with what caused it in the trail's `reason` (a payment provider's event).
    pub async fn grant_noted(
        &self,
        terms: GrantTerms,
        caller: &Caller,
        cause: Option<String>,
    ) -> Result<Granted, AppError> {
        let granted = self
            .entitlements
            .grant(terms.0)
            .await
            .map_err(|e| match e {
                EntitlementError::OrderConflict { .. } => {
                    AppError::conflict(ErrorCode::OrderConflict, e.to_string())
                }
                EntitlementError::Store(e) => e.into(),
            })?;
        let id = &granted.entitlement.id;
        let record = self.entitlement(id).await?;
        if granted.created {
            tracing::info!(entitlement.id = %id, video.id = %record.entitlement.video_id, "entitlement granted");
            let mut ev = self
                .audit
                .about(AuditKind::Grant, &record.entitlement, caller)
                .await;
            ev.reason = cause;
            self.audit.record(ev).await;
        }
        let launch = self.entitlements.mint_launch(id).await?;
        // Answered only once the replicas asked for hold it (and its audit event): a grant
        // the site was told about must not vanish in a failover. A retry is the same grant.
        self.store.replicated().await?;
        Ok(Granted {
            record,
            created: granted.created,
            launch,
        })
    }
}
