//! The viewer's way in: `GET /w/{launch_token}` (single use) turns a launch link into a
//! session cookie and redirects to `GET /watch/{entitlement_id}`, the watch page, so the
//! address bar never holds anything worth sharing. The watch page is where a playback
//! starts: age gate, stream limit, origin, then the player.

use crate::access::{Playback, PlaybackId};
use crate::audit::AuditKind;
use crate::domain::{AgeGate, DenyReason, EntitlementId};
use crate::entitlements::EntitlementRecord;
use crate::error::ApiError;
use crate::pages::{AgeGatePage, DenyPage, WatchPage, render};
use crate::routes::entitlements::rfc3339;
use crate::startup::AppState;
use crate::token::{TokenHash, constant_time_eq};
use crate::viewer_session;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::Utc;
use serde::Deserialize;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(launch).service(watch).service(confirm_age);
}

/// The HTML twin of a deny reason, with the status the JSON API would use.
pub fn deny_page(reason: DenyReason) -> HttpResponse {
    let (status, heading, hint) = match reason {
        DenyReason::UnknownEntitlement => (StatusCode::NOT_FOUND, "Nothing to watch here", None),
        DenyReason::SessionMismatch => (
            StatusCode::FORBIDDEN,
            "Open your own watch link",
            Some(
                "Watch links work in the browser that opened them first. Ask the site for a new link for this device.",
            ),
        ),
        DenyReason::UpstreamUnavailable => {
            (StatusCode::BAD_GATEWAY, "The video is not reachable", None)
        }
        DenyReason::TooManyStreams => (
            StatusCode::FORBIDDEN,
            "Too many screens",
            Some(
                "Close the player on your other device or tab (or pause it for a minute), then reload this page.",
            ),
        ),
        _ => (StatusCode::FORBIDDEN, "This rental cannot be played", None),
    };
    render(
        status,
        &DenyPage {
            heading,
            code: reason.code(),
            message: reason.explain(),
            hint,
        },
    )
}

async fn audit_deny(
    state: &AppState,
    req: &HttpRequest,
    record: &EntitlementRecord,
    reason: DenyReason,
) {
    let e = &record.entitlement;
    let event = state
        .audit
        .about(AuditKind::Deny, e, req)
        .await
        .reason(reason.code());
    state.audit.record(event).await;
}

#[get("/w/{launch_token}")]
async fn launch(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let Some(id) = state.entitlements.consume_launch(&path).await? else {
        return Ok(render(
            StatusCode::GONE,
            &DenyPage {
                heading: "This watch link was already used",
                code: "launch_link_used",
                message: "A watch link opens the video once, in one browser. This one was already used or has expired.",
                hint: Some(
                    "Go back to the site you rented from and open the video from there to get a new link.",
                ),
            },
        ));
    };
    let Some(record) = state.entitlements.get(&id).await? else {
        return Ok(deny_page(DenyReason::UnknownEntitlement));
    };
    if let Some(reason) = DenyReason::from_status(record.status(Utc::now())) {
        audit_deny(&state, &req, &record, reason).await;
        return Ok(deny_page(reason));
    }
    let e = &record.entitlement;
    let until = record.expires_at().unwrap_or_else(|| e.latest_end());
    let cookie =
        viewer_session::start(&state.store, &id, until, state.config.secure_cookies()).await?;
    state
        .audit
        .record(state.audit.about(AuditKind::Launch, e, &req).await)
        .await;
    tracing::info!(entitlement.id = %id, "launch link used; viewer session started");
    Ok(HttpResponse::SeeOther()
        .cookie(cookie)
        .insert_header((header::LOCATION, format!("/watch/{id}")))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .finish())
}

fn age_key(id: &EntitlementId, session: &TokenHash) -> String {
    format!("age:{{e:{id}}}:{}", session.as_str())
}

/// The age form's CSRF token: derived from the viewer's own (secret) session, so a page on
/// another site cannot produce it.
fn age_csrf(session: &TokenHash) -> String {
    TokenHash::of(&format!("vodgate-age-gate:{}", session.as_str())).as_str()[..32].to_owned()
}

/// The viewer session of this request, if it is live and belongs to this entitlement.
async fn session_of(
    state: &AppState,
    req: &HttpRequest,
    id: &EntitlementId,
) -> Result<Option<TokenHash>, ApiError> {
    match viewer_session::presented(req, id) {
        Some(h) if viewer_session::is_valid(&state.store, id, &h).await? => Ok(Some(h)),
        _ => Ok(None),
    }
}

#[get("/watch/{entitlement_id}")]
async fn watch(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let Ok(id) = EntitlementId::parse(&path) else {
        return Ok(deny_page(DenyReason::UnknownEntitlement));
    };
    let Some(session) = session_of(&state, &req, &id).await? else {
        return Ok(deny_page(DenyReason::SessionMismatch));
    };
    let Some(record) = state.entitlements.get(&id).await? else {
        return Ok(deny_page(DenyReason::UnknownEntitlement));
    };
    let e = &record.entitlement;
    if let Some(reason) = DenyReason::from_status(record.status(Utc::now())) {
        audit_deny(&state, &req, &record, reason).await;
        return Ok(deny_page(reason));
    }
    let title = state
        .origin
        .title(&e.video_id)
        .await
        .unwrap_or_else(|| e.video_id.to_string());
    if e.age_gate == AgeGate::SelfDeclared
        && state.store.get(&age_key(&id, &session)).await?.is_none()
    {
        let action = format!("/watch/{id}/age");
        return Ok(render(
            StatusCode::OK,
            &AgeGatePage {
                title: &title,
                action: &action,
                csrf: &age_csrf(&session),
            },
        ));
    }

    let playback_id = PlaybackId::new();
    let until = record.expires_at().unwrap_or_else(|| e.latest_end());
    let ttl = (until - Utc::now()).to_std().unwrap_or_default();
    // A reload or a second tab of the same browser takes over its own earlier playback.
    state
        .streams
        .release_same_session(&state.access, &id, session.as_str())
        .await?;
    if !state
        .streams
        .claim(&id, &playback_id, e.max_streams, ttl)
        .await?
    {
        audit_deny(&state, &req, &record, DenyReason::TooManyStreams).await;
        return Ok(deny_page(DenyReason::TooManyStreams));
    }
    let start = crate::upstream::PlaybackStart {
        entitlement_id: &id,
        until,
        mode: e.playback_mode,
    };
    let opened = match state.origin.open(&e.video_id, &start).await {
        Ok(o) => o,
        Err(err) => {
            state.streams.release(&id, &playback_id).await?;
            tracing::warn!(entitlement.id = %id, video.id = %e.video_id, error = %err, "cannot start playback");
            return Ok(upstream_failure_page(&err));
        }
    };
    let title = opened.title.unwrap_or(title);
    let source = opened.source;
    let playback = Playback {
        id: playback_id,
        entitlement_id: id.clone(),
        video_id: e.video_id.clone(),
        session_hash: session.as_str().to_owned(),
        source,
        started_at: Utc::now(),
        stopped_at: None,
    };
    state.access.start_playback(&playback, until).await?;
    tracing::info!(entitlement.id = %id, playback.id = %playback.id, "playback started");
    // Embed mode: the player fetches straight from api.video and vodgate never sees a
    // segment, so this page load is the first play: it starts the rental clock.
    let record = if opened.embed_url.is_some() && record.first_played_at.is_none() {
        if state.entitlements.record_first_play(e, Utc::now()).await? {
            let event = state.audit.about(AuditKind::FirstPlay, e, &req).await;
            state.audit.record(event).await;
        }
        state.entitlements.get(&id).await?.unwrap_or(record)
    } else {
        record
    };
    let e = &record.entitlement;

    let master_url = format!("/play/{}/{}", playback.id, playback.source.entry);
    let status_url = format!("/play/{}/status", playback.id);
    let expires_at = record.expires_at().map(rfc3339).unwrap_or_default();
    let page = WatchPage {
        title: &title,
        video_id: e.video_id.as_str(),
        entitlement_id: id.as_str(),
        playback_id: playback.id.as_str(),
        master_url: &master_url,
        status_url: &status_url,
        expires_at: &expires_at,
        seconds_left: record.seconds_left(Utc::now()),
        demo: state.config.demo,
        embed_url: opened.embed_url.as_deref(),
    };
    Ok(render(StatusCode::OK, &page))
}

/// The page for a playback the origin could not start.
fn upstream_failure_page(err: &crate::upstream::UpstreamError) -> HttpResponse {
    use crate::upstream::UpstreamError;
    match err {
        UpstreamError::PublicVideo => render(
            StatusCode::FORBIDDEN,
            &DenyPage {
                heading: "This video cannot be played here",
                code: "video_is_public",
                message: "This video is not set up for private playback.",
                hint: Some("Tell the site you rented from; they have to make the video private."),
            },
        ),
        UpstreamError::RateLimited { retry_after_s } => {
            let mut res = render(
                StatusCode::SERVICE_UNAVAILABLE,
                &DenyPage {
                    heading: "The video source is busy",
                    code: "upstream_rate_limited",
                    message: "The video source asked us to slow down.",
                    hint: Some("Reload this page in a minute."),
                },
            );
            if let Ok(v) = header::HeaderValue::from_str(&retry_after_s.max(&1).to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            res
        }
        // Not an outage: the source has no such video (a wrong id in the grant, or the
        // video was deleted). Retrying will not help, so the page does not suggest it.
        UpstreamError::NotFound => render(
            StatusCode::NOT_FOUND,
            &DenyPage {
                heading: "This video is not available",
                code: "video_not_found",
                message: "The video source does not have this video (any more).",
                hint: Some("Tell the site you rented from."),
            },
        ),
        _ => deny_page(DenyReason::UpstreamUnavailable),
    }
}

#[derive(Deserialize)]
struct AgeForm {
    csrf: String,
    confirm: String,
}

/// The viewer confirms their age. Recorded per entitlement and session, and audited.
#[post("/watch/{entitlement_id}/age")]
async fn confirm_age(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<AgeForm>,
) -> Result<HttpResponse, ApiError> {
    let id = EntitlementId::parse(&path)
        .map_err(|e| ApiError::bad_request("invalid_entitlement_id", e.to_string()))?;
    let Some(session) = session_of(&state, &req, &id).await? else {
        return Ok(deny_page(DenyReason::SessionMismatch));
    };
    if !constant_time_eq(form.csrf.as_bytes(), age_csrf(&session).as_bytes())
        || form.confirm != "yes"
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "invalid_csrf_token",
            "This form is stale or came from another site; reload the page.",
        ));
    }
    let Some(record) = state.entitlements.get(&id).await? else {
        return Ok(deny_page(DenyReason::UnknownEntitlement));
    };
    let e = &record.entitlement;
    let ttl = (e.latest_end() - Utc::now())
        .to_std()
        .unwrap_or_default()
        .max(std::time::Duration::from_secs(1));
    state
        .store
        .set(&age_key(&id, &session), &rfc3339(Utc::now()), ttl)
        .await?;
    state
        .audit
        .record(state.audit.about(AuditKind::AgeConfirmed, e, &req).await)
        .await;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/watch/{id}")))
        .finish())
}
