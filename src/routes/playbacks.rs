//! `GET /v1/entitlements/{id}/playbacks` and `DELETE …/playbacks/{playback_id}`: which
//! screens are playing a rental, and stopping one (it is refused from its next request on).

use crate::access::PlaybackId;
use crate::audit::{AuditEvent, AuditKind};
use crate::auth::{Authorized, EntitlementsRead, EntitlementsWrite};
use crate::domain::EntitlementId;
use crate::error::ApiError;
use crate::routes::entitlements::rfc3339;
use crate::startup::AppState;
use actix_web::{HttpRequest, HttpResponse, delete, get, web};
use chrono::{TimeZone, Utc};
use serde_json::json;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(stop);
}

fn parse_ids(ent: &str, pb: Option<&str>) -> Result<(EntitlementId, Option<PlaybackId>), ApiError> {
    let e = EntitlementId::parse(ent).map_err(|e| ApiError::bad_request("invalid_entitlement_id", e.to_string()))?;
    let p = match pb {
        Some(pb) => Some(PlaybackId::parse(pb).ok_or_else(|| ApiError::bad_request("invalid_playback_id", "A playback id looks like pb_<32 hex digits>."))?),
        None => None,
    };
    Ok((e, p))
}

#[get("/entitlements/{id}/playbacks")]
async fn list(_auth: Authorized<EntitlementsRead>, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (id, _) = parse_ids(&path, None)?;
    if state.entitlements.get(&id).await?.is_none() {
        return Err(ApiError::not_found("entitlement_not_found", format!("No entitlement {id}.")));
    }
    let mut data = vec![];
    for (pb, seen_ms) in state.streams.active(&id).await? {
        let Some(p) = state.access.playback(&pb).await? else { continue };
        data.push(json!({
            "id": pb.to_string(),
            "started_at": rfc3339(p.started_at),
            "last_seen_at": Utc.timestamp_millis_opt(seen_ms).single().map(rfc3339),
            "stopped_at": p.stopped_at.map(rfc3339),
        }));
    }
    Ok(HttpResponse::Ok().json(json!({ "data": data })))
}

#[delete("/entitlements/{id}/playbacks/{playback_id}")]
async fn stop(
    req: HttpRequest,
    _auth: Authorized<EntitlementsWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, pb) = parse_ids(&path.0, Some(&path.1))?;
    let pb = pb.expect("parsed above");
    let not_found = || ApiError::not_found("playback_not_found", format!("No playback {pb} of entitlement {id}."));
    let Some(record) = state.entitlements.get(&id).await? else { return Err(not_found()) };
    match state.access.playback(&pb).await? {
        Some(p) if p.entitlement_id == id => {}
        _ => return Err(not_found()),
    }
    state.access.stop_playback(&pb).await?;
    state.streams.release(&id, &pb).await?;
    let e = &record.entitlement;
    let ev = AuditEvent::new(AuditKind::PlaybackStopped)
        .entitlement(&e.id, e.order_id.as_ref(), &e.viewer_id)
        .reason(pb.to_string())
        .client(&state.audit.client(&req).await);
    state.audit.record(ev).await;
    Ok(HttpResponse::NoContent().finish())
}
