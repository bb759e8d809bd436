//! `/play/{playback_id}/…`: every playlist, key and segment request of a playback, each
//! decided by `App::authorize` before a byte is read from the origin. Playlists are
//! rewritten so every URI in them comes back here; keys and segments stream through.

use crate::app::{Decision, PlaybackRequest, PlaybackStatus};
use crate::domain::ErrorCode;
use crate::domain::{DenyReason, PlaybackId};
use crate::http::AppState;
use crate::http::dto::{PlaybackStatusView, rfc3339};
use crate::http::error::{ApiError, denied};
use crate::http::extract::caller;
use crate::http::session::Cookies;
use crate::media::asset_path::{AssetKind, AssetPath};
use crate::media::body::{Media, MediaBody, MediaRequest};
use crate::media::hls::rewrite::{RewriteContext, UriPlan, rewrite_playlist};
use crate::media::origin::UpstreamError;
use actix_web::body::SizedStream;
use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, route, web};

pub fn config(cfg: &mut web::ServiceConfig) {
    // `status` first: the asset route below would otherwise take it as a file name.
    cfg.service(status).service(asset);
}

fn parse_playback(raw: &str) -> Result<PlaybackId, ApiError> {
    PlaybackId::parse(raw).map_err(|_| denied(DenyReason::UnknownEntitlement))
}

/// A media answer as an HTTP response.
fn respond(media: Media) -> HttpResponse {
    let code = StatusCode::from_u16(media.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut res = HttpResponse::build(code);
    res.insert_header((header::CONTENT_TYPE, media.content_type));
    for (name, value) in media.headers {
        res.insert_header((name, value));
    }
    match media.body {
        MediaBody::Empty => res.finish(),
        MediaBody::Sized { len, stream } => res.body(SizedStream::new(len, stream)),
        MediaBody::Unsized(stream) => res.streaming(stream),
    }
}

/// The page's side channel: state and time left, or why playback is refused.
#[get("/play/{playback_id}/status")]
async fn status(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_playback(&path)?;
    let mut cookies = vec![];
    let body = match state
        .app
        .playback_status(
            &id,
            &Cookies {
                req: &req,
                secure: state.config().secure_cookies(),
            },
        )
        .await?
    {
        PlaybackStatus::Active {
            expires_at,
            seconds_left,
            cdn,
        } => {
            // The renewal of a CDN cookie token: only here, only while the rental is live.
            cookies = cdn.map(|t| t.cookies()).unwrap_or_default();
            PlaybackStatusView {
                state: "active",
                code: None,
                message: None,
                expires_at: expires_at.map(rfc3339),
                seconds_left,
            }
        }
        PlaybackStatus::Denied { reason, expires_at } => PlaybackStatusView {
            state: "denied",
            code: Some(reason.code()),
            message: Some(reason.explain()),
            expires_at: expires_at.map(rfc3339),
            seconds_left: 0,
        },
    };
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CACHE_CONTROL, "no-store"));
    for c in cookies {
        res.append_header((header::SET_COOKIE, c));
    }
    Ok(res.json(body))
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
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidAssetPath, e.to_string()))?;

    let app = &state.app;
    let decision = app
        .authorize(PlaybackRequest {
            playback_id: &id,
            sessions: &Cookies {
                req: &req,
                secure: state.config().secure_cookies(),
            },
            kind: asset.kind(),
            serves_bytes: req.method() != Method::HEAD,
            caller: &|| caller(&req),
        })
        .await?;
    let (playback, record) = match decision {
        Decision::Allowed { playback, record } => (playback, record),
        Decision::Refused(reason) => return Err(denied(reason)),
    };
    // CDN delivery: segment URIs point at the CDN with this token; keys stay here.
    let cdn = app.cdn_token(&playback, &record);

    match asset.kind() {
        AssetKind::Playlist => {
            let text = app.origin.playlist(&playback, &asset).await?;
            let playlist_url = playback
                .source
                .asset_base
                .join(asset.as_str())
                .map_err(ApiError::internal)?;
            let ctx = RewriteContext {
                asset_base: &playback.source.asset_base,
                playlist_url: &playlist_url,
                plan: match &cdn {
                    Some(token) => UriPlan::cdn(&prefix, token),
                    None => UriPlan::gateway(&prefix),
                },
            };
            let rewritten = rewrite_playlist(&text, &ctx).map_err(|e| {
                // The error names upstream URIs: for the log only, never for the viewer.
                tracing::warn!(playback.id = %id, error = %e, "origin playlist refused");
                ApiError::from(UpstreamError::Invalid(
                    "a URI in it is unusable or outside the video's origin".into(),
                ))
            })?;
            let mut res = HttpResponse::Ok();
            res.insert_header((header::CONTENT_TYPE, asset.content_type()))
                .insert_header((header::CACHE_CONTROL, "no-store"));
            for c in cdn.map(|t| t.cookies()).unwrap_or_default() {
                res.append_header((header::SET_COOKIE, c));
            }
            Ok(res.body(rewritten))
        }
        AssetKind::Segment if cdn.is_some() => Err(ApiError::not_found(
            ErrorCode::UnknownAsset,
            "This playback's segments come from the CDN, not from vodgate.",
        )),
        AssetKind::Key | AssetKind::Segment => {
            let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
            let ask = MediaRequest {
                range: header(header::RANGE),
                if_range: header(header::IF_RANGE),
                head: req.method() == Method::HEAD,
            };
            let mut res = respond(app.origin.media(&ask, &playback, &asset).await?);
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
            ErrorCode::UnknownAsset,
            "This playback serves only playlists, keys and segments.",
        )),
    }
}
