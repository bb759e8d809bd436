//! The viewer's way in: `GET /w/{launch_token}` (single use) turns a launch link into a
//! session cookie and redirects to `GET /watch/{entitlement_id}`, the watch page, so the
//! address bar never holds anything worth sharing. The watch page is where a playback
//! starts: age gate, stream limit, origin, then the player.

use crate::app::{Caller, LaunchOpened, StartOutcome};
use crate::config::Brand;
use crate::domain::ErrorCode;
use crate::domain::{DenyReason, EntitlementId};
use crate::http::AppState;
use crate::http::dto::rfc3339;
use crate::http::error::ApiError;
use crate::http::pages::{AgeGatePage, DenyPage, WatchPage, render};
use crate::http::session;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::Utc;
use serde::Deserialize;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(launch).service(watch).service(confirm_age);
}

/// The HTML twin of a deny reason, with the status the JSON API would use.
pub fn deny_page(brand: &Brand, reason: DenyReason) -> HttpResponse {
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
            brand,
            heading,
            code: reason.error_code(),
            message: reason.explain(),
            hint,
        },
    )
}

#[get("/w/{launch_token}")]
async fn launch(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let secure = state.config().secure_cookies();
    let browser = session::browser_session(&req, secure);
    let opened = state
        .app
        .open_launch_link(&path, browser.as_deref(), &caller)
        .await?;
    Ok(launch_answer(&state.config().brand, opened, secure))
}

/// What opening a launch link answers: the session cookie and the watch page, or why not.
pub fn launch_answer(brand: &Brand, opened: LaunchOpened, secure: bool) -> HttpResponse {
    match opened {
        LaunchOpened::Used => render(
            StatusCode::GONE,
            &DenyPage {
                brand,
                heading: "This watch link was already used",
                code: ErrorCode::LaunchLinkUsed,
                message: "A watch link opens the video once, in one browser. This one was already used or has expired.",
                hint: Some(
                    "Go back to the site you rented from and open the video from there to get a new link.",
                ),
            },
        ),
        LaunchOpened::Denied(reason) => deny_page(brand, reason),
        LaunchOpened::Session {
            entitlement_id: id,
            session: started,
        } => HttpResponse::SeeOther()
            .cookie(session::cookie(&started, secure))
            .insert_header((header::LOCATION, format!("/watch/{id}")))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::REFERRER_POLICY, "no-referrer"))
            .finish(),
    }
}

#[get("/watch/{entitlement_id}")]
async fn watch(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let brand = &state.config().brand;
    let Ok(id) = EntitlementId::parse(&path) else {
        return Ok(deny_page(brand, DenyReason::UnknownEntitlement));
    };
    let presented = session::presented(&req, &id, state.config().secure_cookies());
    let started = match state.app.start_playback(&id, presented, &caller).await? {
        StartOutcome::Denied(reason) => return Ok(deny_page(brand, reason)),
        StartOutcome::Unavailable(err) => return Ok(upstream_failure_page(brand, &err)),
        StartOutcome::AgeGate { title, csrf } => {
            let action = format!("/watch/{id}/age");
            return Ok(render(
                StatusCode::OK,
                &AgeGatePage {
                    brand,
                    title: &title,
                    action: &action,
                    csrf: &csrf,
                },
            ));
        }
        StartOutcome::Started(started) => started,
    };
    let (playback, record) = (&started.playback, &started.record);
    let e = &record.entitlement;
    let master_url = format!("/play/{}/{}", playback.id, playback.source.entry);
    let cdn = state.app.delivery(record) == crate::domain::Delivery::Cdn;
    let status_url = format!("/play/{}/status", playback.id);
    let expires_at = record.expires_at().map(rfc3339).unwrap_or_default();
    let page = WatchPage {
        brand,
        title: &started.title,
        video_id: e.video_id.as_str(),
        entitlement_id: id.as_str(),
        playback_id: playback.id.as_str(),
        master_url: &master_url,
        status_url: &status_url,
        expires_at: &expires_at,
        seconds_left: record.seconds_left(Utc::now()),
        demo: state.config().demo,
        embed_url: started.embed_url.as_deref(),
        cdn_cookies: cdn
            && state
                .config()
                .cdn
                .as_ref()
                .is_some_and(|c| c.place() == crate::cdn::TokenPlace::Cookie),
        // CDN delivery: a refused key makes the page ask at once, so the poll is a fallback
        // and the cookie's renewal (10 s is a twelfth of the default 120 s cookie TTL); at
        // 2 s it would be most of the traffic vodgate sees.
        poll_ms: if cdn { 10_000 } else { 2_000 },
    };
    Ok(render(StatusCode::OK, &page))
}

/// The page for a playback the origin could not start.
fn upstream_failure_page(brand: &Brand, err: &crate::media::origin::UpstreamError) -> HttpResponse {
    use crate::media::origin::UpstreamError;
    match err {
        UpstreamError::PublicVideo => render(
            StatusCode::FORBIDDEN,
            &DenyPage {
                brand,
                heading: "This video cannot be played here",
                code: ErrorCode::VideoIsPublic,
                message: "This video is not set up for private playback.",
                hint: Some("Tell the site you rented from; they have to make the video private."),
            },
        ),
        UpstreamError::RateLimited { retry_after_s } => {
            let mut res = render(
                StatusCode::SERVICE_UNAVAILABLE,
                &DenyPage {
                    brand,
                    heading: "The video source is busy",
                    code: ErrorCode::UpstreamRateLimited,
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
                brand,
                heading: "This video is not available",
                code: ErrorCode::VideoNotFound,
                message: "The video source does not have this video (any more).",
                hint: Some("Tell the site you rented from."),
            },
        ),
        _ => deny_page(brand, DenyReason::UpstreamUnavailable),
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
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let id = EntitlementId::parse(&path)
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidEntitlementId, e.to_string()))?;
    let presented = session::presented(&req, &id, state.config().secure_cookies());
    let refused = state
        .app
        .confirm_age(&id, presented, &form.csrf, form.confirm == "yes", &caller)
        .await?;
    if let Some(reason) = refused {
        return Ok(deny_page(&state.config().brand, reason));
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/watch/{id}")))
        .finish())
}
