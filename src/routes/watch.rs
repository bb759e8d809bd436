//! The viewer's way in: `GET /w/{launch_token}` (single use) turns a launch link into a
//! session cookie and redirects to `GET /watch/{entitlement_id}`, the watch page, so the
//! address bar never holds anything worth sharing.

use crate::access::{Playback, PlaybackId};
use crate::domain::{DenyReason, EntitlementId};
use crate::error::ApiError;
use crate::pages::{DenyPage, WatchPage, render};
use crate::routes::entitlements::rfc3339;
use crate::startup::AppState;
use crate::viewer_session;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::Utc;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(launch).service(watch);
}

/// The HTML twin of a deny reason, with the status the JSON API would use.
pub fn deny_page(reason: DenyReason) -> HttpResponse {
    let (status, heading, hint) = match reason {
        DenyReason::UnknownEntitlement => (StatusCode::NOT_FOUND, "Nothing to watch here", None),
        DenyReason::SessionMismatch => (
            StatusCode::FORBIDDEN,
            "Open your own watch link",
            Some("Watch links work in the browser that opened them first. Ask the site for a new link for this device."),
        ),
        DenyReason::UpstreamUnavailable => (StatusCode::BAD_GATEWAY, "The video is not reachable", None),
        DenyReason::TooManyStreams => (
            StatusCode::FORBIDDEN,
            "Too many screens",
            Some("Close the player on another device or tab, wait a minute, then reload this page."),
        ),
        _ => (StatusCode::FORBIDDEN, "This rental cannot be played", None),
    };
    render(status, &DenyPage { heading, code: reason.code(), message: reason.explain(), hint })
}

#[get("/w/{launch_token}")]
async fn launch(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let Some(id) = state.entitlements.consume_launch(&path).await? else {
        return Ok(render(
            StatusCode::GONE,
            &DenyPage {
                heading: "This watch link was already used",
                code: "launch_link_used",
                message: "A watch link opens the video once, in one browser. This one was already used or has expired.",
                hint: Some("Go back to the site you rented from and open the video from there to get a new link."),
            },
        ));
    };
    let Some(record) = state.entitlements.get(&id).await? else {
        return Ok(deny_page(DenyReason::UnknownEntitlement));
    };
    if let Some(reason) = DenyReason::from_status(record.entitlement.status(record.revocation.as_ref(), Utc::now())) {
        return Ok(deny_page(reason));
    }
    let cookie =
        viewer_session::start(&state.store, &id, record.entitlement.expires_at, state.config.secure_cookies()).await?;
    tracing::info!(entitlement.id = %id, "launch link used; viewer session started");
    Ok(HttpResponse::SeeOther()
        .cookie(cookie)
        .insert_header((header::LOCATION, format!("/watch/{id}")))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .finish())
}

#[get("/watch/{entitlement_id}")]
async fn watch(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let Ok(id) = EntitlementId::parse(&path) else {
        return Ok(deny_page(DenyReason::UnknownEntitlement));
    };
    let session = match viewer_session::presented(&req, &id) {
        Some(h) if viewer_session::is_valid(&state.store, &id, &h).await? => h,
        _ => return Ok(deny_page(DenyReason::SessionMismatch)),
    };
    let Some(record) = state.entitlements.get(&id).await? else {
        return Ok(deny_page(DenyReason::UnknownEntitlement));
    };
    let e = &record.entitlement;
    if let Some(reason) = DenyReason::from_status(e.status(record.revocation.as_ref(), Utc::now())) {
        return Ok(deny_page(reason));
    }
    let source = match state.origin.open(&e.video_id).await {
        Ok(s) => s,
        Err(err) => {
            tracing::warn!(entitlement.id = %id, video.id = %e.video_id, error = %err, "cannot start playback");
            return Ok(deny_page(DenyReason::UpstreamUnavailable));
        }
    };
    let playback = Playback {
        id: PlaybackId::new(),
        entitlement_id: id.clone(),
        video_id: e.video_id.clone(),
        session_hash: session.as_str().to_owned(),
        source,
        started_at: Utc::now(),
    };
    state.access.start_playback(&playback, e.expires_at).await?;
    tracing::info!(entitlement.id = %id, playback.id = %playback.id, "playback started");

    let title = state.origin.title(&e.video_id).await.unwrap_or_else(|| e.video_id.to_string());
    let master_url = format!("/play/{}/{}", playback.id, playback.source.entry);
    let status_url = format!("/play/{}/status", playback.id);
    let expires_at = rfc3339(e.expires_at);
    let page = WatchPage {
        title: &title,
        video_id: e.video_id.as_str(),
        entitlement_id: id.as_str(),
        playback_id: playback.id.as_str(),
        master_url: &master_url,
        status_url: &status_url,
        expires_at: &expires_at,
        seconds_left: (e.expires_at - Utc::now()).num_seconds().max(0),
        demo: state.config.demo,
    };
    Ok(render(StatusCode::OK, &page))
}
