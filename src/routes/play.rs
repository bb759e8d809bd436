//! `/play/{playback_id}/…`: every playlist, key and segment request of a playback, each
//! decided by `access::Access::check` before a byte is read from the origin. Playlists are
//! rewritten so every URI in them comes back here; keys and segments stream through.

use crate::access::{Playback, PlaybackId};
use crate::audit::AuditKind;
use crate::domain::DenyReason;
use crate::error::ApiError;
use crate::hls::asset_path::{AssetKind, AssetPath};
use crate::hls::rewrite::{RewriteContext, rewrite_playlist};
use crate::routes::entitlements::rfc3339;
use crate::startup::AppState;
use crate::store::StoreError;
use crate::upstream::UpstreamError;
use crate::viewer_session;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, route, web};
use chrono::Utc;
use serde_json::json;

pub fn config(cfg: &mut web::ServiceConfig) {
    // `status` first: the asset route below would otherwise take it as a file name.
    cfg.service(status).service(asset);
}

/// A refusal in the one error shape; `code` is the deny reason.
pub fn denied(reason: DenyReason) -> ApiError {
    let code = match reason {
        DenyReason::UnknownEntitlement => StatusCode::NOT_FOUND,
        DenyReason::UpstreamUnavailable => StatusCode::BAD_GATEWAY,
        _ => StatusCode::FORBIDDEN,
    };
    ApiError::new(code, reason.code(), reason.explain())
}

/// Refuse, and put it in the audit trail once per playback, reason and minute (a refused
/// player retries; the trail should say so once, not fill up).
async fn refuse(
    state: &AppState,
    req: &HttpRequest,
    playback: &Playback,
    reason: DenyReason,
) -> ApiError {
    tracing::info!(playback.id = %playback.id, entitlement.id = %playback.entitlement_id, deny.reason = %reason, "playback request refused");
    count_decision(reason.code());
    if reason != DenyReason::SessionMismatch {
        let marker = format!("denied:{}:{}", playback.id, reason.code());
        if let Ok(true) = state
            .store
            .set_nx(&marker, "1", std::time::Duration::from_secs(60))
            .await
            && let Ok(Some(record)) = state.access.entitlement(&playback.entitlement_id).await
        {
            let e = &record.entitlement;
            let event = state
                .audit
                .about(AuditKind::Deny, e, req)
                .await
                .reason(reason.code());
            state.audit.record(event).await;
        }
    }
    denied(reason)
}

/// `vodgate_access_decisions_total`: one per playlist, key or segment request, counted where
/// the request's fate is settled (a segment can still lose its stream place after the check).
fn count_decision(outcome: &str) {
    crate::metrics::METRICS
        .access_decisions
        .with_label_values(&[outcome])
        .inc();
}

/// A store write on the segment path failed. Without an outage grace that fails the
/// request closed (503 `store_unavailable`); with one, a viewer whose access was just decided
/// from this instance's recent view keeps playing, and the write is skipped.
fn ride_out(state: &AppState, err: StoreError, what: &str) -> Result<(), ApiError> {
    if state.access.has_outage_grace() {
        tracing::warn!(error = %err, write = what, "store unreachable; skipped inside the outage grace");
        Ok(())
    } else {
        Err(err.into())
    }
}

fn parse_playback(raw: &str) -> Result<PlaybackId, ApiError> {
    PlaybackId::parse(raw).ok_or_else(|| denied(DenyReason::UnknownEntitlement))
}

/// The page's side channel: state and time left, or why playback is refused.
#[get("/play/{playback_id}/status")]
async fn status(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_playback(&path)?;
    let Some(playback) = state.access.playback(&id).await? else {
        return Err(denied(DenyReason::UnknownEntitlement));
    };
    let session = viewer_session::presented(&req, &playback.entitlement_id);
    let record = state.access.entitlement(&playback.entitlement_id).await?;
    let decision =
        crate::access::decide(Utc::now(), &playback, record.as_deref(), session.as_ref());
    if decision == Err(DenyReason::SessionMismatch) {
        // Strangers learn nothing about the rental.
        return Err(denied(DenyReason::SessionMismatch));
    }
    let (expires_at, seconds_left) = match &record {
        Some(r) => (r.expires_at().map(rfc3339), r.seconds_left(Utc::now())),
        None => (None, 0),
    };
    let body = match decision {
        Ok(()) => {
            json!({"state": "active", "code": null, "message": null, "expires_at": expires_at, "seconds_left": seconds_left})
        }
        Err(r) => {
            json!({"state": "denied", "code": r.code(), "message": r.explain(), "expires_at": expires_at, "seconds_left": 0})
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body))
}

// HEAD answers what GET would (status, length, type) without a body; it neither holds a
// stream's place nor starts the rental clock, since nothing is served.
#[route("/play/{playback_id}/{tail:.*}", method = "GET", method = "HEAD")]
async fn asset(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_playback(&path.0)?;
    // Validate the raw, undecoded tail: `%2f`, `%00`, `..` and friends never get decoded
    // into something that could name another file.
    let prefix = format!("/play/{id}/");
    let raw_tail = req.uri().path().strip_prefix(&prefix).unwrap_or_default();
    let asset = AssetPath::parse(raw_tail)
        .map_err(|e| ApiError::bad_request("invalid_asset_path", e.to_string()))?;

    let Some(playback) = state.access.playback(&id).await? else {
        count_decision(DenyReason::UnknownEntitlement.code());
        return Err(denied(DenyReason::UnknownEntitlement));
    };
    let session = viewer_session::presented(&req, &playback.entitlement_id);
    let record = match state.access.check(&playback, session.as_ref()).await? {
        Ok(record) => record,
        Err(reason) => return Err(refuse(&state, &req, &playback, reason).await),
    };

    match asset.kind() {
        AssetKind::Playlist => {
            count_decision("allowed");
            let text = state.origin.playlist(&playback, &asset).await?;
            let playlist_url = playback
                .source
                .asset_base
                .join(asset.as_str())
                .map_err(ApiError::internal)?;
            let ctx = RewriteContext {
                asset_base: &playback.source.asset_base,
                playlist_url: &playlist_url,
                gateway_prefix: &prefix,
            };
            let rewritten = rewrite_playlist(&text, &ctx).map_err(|e| {
                // The error names upstream URIs: for the log only, never for the viewer.
                tracing::warn!(playback.id = %id, error = %e, "origin playlist refused");
                ApiError::from(UpstreamError::Invalid(
                    "a URI in it is unusable or outside the video's origin".into(),
                ))
            })?;
            Ok(HttpResponse::Ok()
                .insert_header((header::CONTENT_TYPE, asset.content_type()))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .body(rewritten))
        }
        AssetKind::Key | AssetKind::Segment => {
            if asset.kind() == AssetKind::Segment && req.method() != actix_web::http::Method::HEAD {
                crate::metrics::METRICS.playback_seen(playback.id.as_str());
                // A segment is what counts as watching: it holds the stream's place and
                // starts the rental clock.
                let e = &record.entitlement;
                let ttl = (record.expires_at().unwrap_or_else(|| e.latest_end()) - Utc::now())
                    .to_std()
                    .unwrap_or_default();
                match state
                    .streams
                    .refresh(&e.id, &playback.id, e.max_streams, ttl)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => {
                        return Err(
                            refuse(&state, &req, &playback, DenyReason::TooManyStreams).await
                        );
                    }
                    Err(err) => ride_out(&state, err, "stream place")?,
                }
                if record.first_played_at.is_none() {
                    let started = match state.entitlements.record_first_play(e, Utc::now()).await {
                        Ok(started) => started,
                        Err(err) => {
                            ride_out(&state, err, "first play")?;
                            false
                        }
                    };
                    if started {
                        // Its event has already dropped this instance's cached record.
                        let event = state.audit.about(AuditKind::FirstPlay, e, &req).await;
                        state.audit.record(event).await;
                    } else {
                        // Another request or instance started the clock; the cached record
                        // still has no first play and, with a start window, would read as
                        // `start_window_passed` once `start_by` is behind us until that
                        // event arrives. Read it afresh instead.
                        state.access.forget_entitlement(&e.id);
                    }
                }
            }
            count_decision("allowed");
            let mut res = state.origin.media(&req, &playback, &asset).await?;
            // Keys are the real secret of encrypted media: never cached. Segments may sit
            // in the viewer's own cache only, never in a shared one.
            let cache = if asset.kind() == AssetKind::Key {
                "no-store"
            } else {
                "private, max-age=300"
            };
            res.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static(cache),
            );
            Ok(res)
        }
        AssetKind::Other => Err(ApiError::not_found(
            "unknown_asset",
            "This playback serves only playlists, keys and segments.",
        )),
    }
}
