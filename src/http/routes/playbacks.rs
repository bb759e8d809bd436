//! `GET /v1/entitlements/{id}/playbacks` and `DELETE …/playbacks/{playback_id}`: which
//! screens are playing a rental, and stopping one (it is refused from its next request on).

use crate::app::Caller;
use crate::domain::ErrorCode;
use crate::domain::{EntitlementId, PlaybackId};
use crate::http::AppState;
use crate::http::dto::{PlaybackList, PlaybackView, rfc3339};
use crate::http::error::ApiError;
use crate::http::extract::{Authorized, EntitlementsRead, EntitlementsWrite};
use actix_web::{HttpResponse, delete, get, web};
use chrono::{TimeZone, Utc};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(stop);
}

fn parse_ids(ent: &str, pb: Option<&str>) -> Result<(EntitlementId, Option<PlaybackId>), ApiError> {
    let e = EntitlementId::parse(ent)
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidEntitlementId, e.to_string()))?;
    let p = match pb {
        Some(pb) => Some(PlaybackId::parse(pb).map_err(|_| {
            ApiError::bad_request(
                ErrorCode::InvalidPlaybackId,
                "A playback id looks like pb_<32 hex digits>.",
            )
        })?),
        None => None,
    };
    Ok((e, p))
}

/// List an entitlement's playbacks
///
/// The screens playing this rental now (a playback that fetched nothing for `stream_idle_s`
/// no longer counts).
#[utoipa::path(
    get,
    path = "/v1/entitlements/{id}/playbacks",
    tag = "playbacks",
    operation_id = "list_playbacks",
    params(("id" = EntitlementId, Path)),
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "The active playbacks.", body = crate::http::dto::PlaybackList),
        (status = 400, response = crate::http::openapi::InvalidEntitlementId),
        (status = 401, response = crate::http::openapi::Unauthorized),
        (status = 403, response = crate::http::openapi::Forbidden),
        (status = 404, response = crate::http::openapi::EntitlementNotFound),
        (status = 429, response = crate::http::openapi::TooManyRequests),
        (status = 500, response = crate::http::openapi::InternalError),
        (status = 503, response = crate::http::openapi::StoreUnavailable),
    )
)]
#[get("/entitlements/{id}/playbacks")]
async fn list(
    _auth: Authorized<EntitlementsRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (id, _) = parse_ids(&path, None)?;
    let data: Vec<_> = state
        .app
        .playbacks(&id)
        .await?
        .into_iter()
        .map(|(p, seen_ms)| PlaybackView {
            id: p.id.to_string(),
            started_at: rfc3339(p.started_at),
            last_seen_at: Utc.timestamp_millis_opt(seen_ms).single().map(rfc3339),
            stopped_at: p.stopped_at.map(rfc3339),
        })
        .collect();
    Ok(HttpResponse::Ok().json(PlaybackList { data }))
}

/// Stop a playback
///
/// That screen is refused from its next request on; the stream no longer counts against
/// `max_streams`.
#[utoipa::path(
    delete,
    path = "/v1/entitlements/{id}/playbacks/{playback_id}",
    tag = "playbacks",
    operation_id = "stop_playback",
    params(
        ("id" = EntitlementId, Path),
        ("playback_id" = String, Path, pattern = "^pb_[0-9a-f]{32}$", example = "pb_0123456789abcdef0123456789abcdef", description = "A playback id (`pb_` and 32 lowercase hex digits)."),
    ),
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 204, description = "Stopped."),
        (status = 400, response = crate::http::openapi::InvalidPlaybackIds),
        (status = 401, response = crate::http::openapi::Unauthorized),
        (status = 415, response = crate::http::openapi::UnsupportedMediaType),
        (status = 403, response = crate::http::openapi::Forbidden),
        (status = 404, response = crate::http::openapi::PlaybackNotFound),
        (status = 429, response = crate::http::openapi::TooManyRequests),
        (status = 500, response = crate::http::openapi::InternalError),
        (status = 503, response = crate::http::openapi::StoreUnavailable),
    )
)]
#[delete("/entitlements/{id}/playbacks/{playback_id}")]
async fn stop(
    caller: Caller,
    _auth: Authorized<EntitlementsWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, pb) = parse_ids(&path.0, Some(&path.1))?;
    let pb = pb.expect("parsed above");
    state.app.stop_playback(&id, &pb, &caller).await?;
    Ok(HttpResponse::NoContent().finish())
}
