//! The delivery side (vod.api.video / embed.api.video): one-time private tokens, session
//! tokens (`/session`, `avh`, `X-Token-Session`), HLS/thumbnail/mp4 assets and the embed page.

use std::collections::HashMap;
use std::path::{Component, Path};
use std::sync::Mutex;

use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::calls::{self, Endpoint};
use crate::error::ApiError;
use crate::state::Sim;
use crate::videos::{Content, Video, atom};

/// Built-in thumbnail and mp4 for videos whose folder has none.
const DEFAULT_THUMBNAIL: &[u8] = include_bytes!("../fixtures/media/sample/thumbnail.jpg");
const DEFAULT_MP4: &[u8] = include_bytes!("../fixtures/media/sample/source.mp4");

pub const SESSION_HEADER: &str = "X-Token-Session";

#[derive(Debug, Clone)]
struct PrivateToken {
    video_id: String,
    minted_at: DateTime<Utc>,
    /// The session opened by the first use; `None` while the token is fresh.
    session: Option<String>,
}

/// The time-related inputs of [`VodStore::access`].
#[derive(Debug, Clone, Copy)]
pub struct SessionClock {
    /// True for `/session`, which always needs a fresh token.
    pub session_call: bool,
    pub now: DateTime<Utc>,
    /// Lifetime of a session opened now.
    pub ttl: chrono::Duration,
    /// Treat every existing session as expired (fault injection).
    pub all_expired: bool,
}

#[derive(Debug, Clone)]
struct Session {
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub struct VodStore(Mutex<Inner>);

#[derive(Debug, Default)]
struct Inner {
    tokens: HashMap<String, PrivateToken>,
    sessions: HashMap<String, Session>,
}

/// Why a delivery request was refused (all answered 404).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    UnknownToken,
    /// The private token was already consumed and no valid session came with it.
    Reuse,
    ExpiredSession,
}

/// How a delivery request was let through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Granted {
    /// First use of the token: a session was opened.
    Opened(String),
    /// A valid session came with the request.
    Session(String),
    /// The video is public; no token involved.
    Public,
}

impl VodStore {
    pub fn mint(&self, video_id: &str, now: DateTime<Utc>) -> String {
        let token = uuid::Uuid::new_v4().to_string();
        let t = PrivateToken {
            video_id: video_id.to_owned(),
            minted_at: now,
            session: None,
        };
        self.0.lock().unwrap().tokens.insert(token.clone(), t);
        token
    }

    /// Apply the one-time rules.
    pub fn access(
        &self,
        video_id: &str,
        token: &str,
        presented: Option<&str>,
        clock: &SessionClock,
    ) -> Result<Granted, Denied> {
        let SessionClock {
            session_call,
            now,
            ttl,
            all_expired,
        } = *clock;
        let mut inner = self.0.lock().unwrap();
        let Inner { tokens, sessions } = &mut *inner;
        let t = tokens
            .get_mut(token)
            .filter(|t| t.video_id == video_id)
            .ok_or(Denied::UnknownToken)?;
        match &t.session {
            None => {
                let s = uuid::Uuid::new_v4().to_string();
                t.session = Some(s.clone());
                sessions.insert(
                    s.clone(),
                    Session {
                        created_at: now,
                        expires_at: now + ttl,
                    },
                );
                Ok(Granted::Opened(s))
            }
            Some(_) if session_call => Err(Denied::Reuse),
            Some(own) => match presented {
                Some(p) if p == own => {
                    let s = sessions.get(own).ok_or(Denied::ExpiredSession)?;
                    if all_expired || s.expires_at <= now {
                        Err(Denied::ExpiredSession)
                    } else {
                        Ok(Granted::Session(own.clone()))
                    }
                }
                _ => Err(Denied::Reuse),
            },
        }
    }

    /// State for `/_sim/tokens`.
    pub fn describe(&self, now: DateTime<Utc>) -> Value {
        let inner = self.0.lock().unwrap();
        let mut tokens: Vec<_> = inner.tokens.iter().collect();
        tokens.sort_by_key(|(_, t)| t.minted_at);
        let list: Vec<Value> = tokens
            .iter()
            .map(|(tok, t)| {
                let session = t
                    .session
                    .as_ref()
                    .and_then(|s| inner.sessions.get(s).map(|x| (s, x)));
                json!({
                    "token": tok,
                    "videoId": t.video_id,
                    "mintedAt": atom(t.minted_at),
                    "consumed": t.session.is_some(),
                    "session": session.map(|(s, x)| json!({
                        "sessionToken": s,
                        "createdAt": atom(x.created_at),
                        "expiresAt": atom(x.expires_at),
                        "expired": x.expires_at <= now,
                    })),
                })
            })
            .collect();
        let consumed = inner
            .tokens
            .values()
            .filter(|t| t.session.is_some())
            .count();
        json!({
            "minted": inner.tokens.len(),
            "consumed": consumed,
            "fresh": inner.tokens.len() - consumed,
            "sessions": inner.sessions.len(),
            "activeSessions": inner.sessions.values().filter(|s| s.expires_at > now).count(),
            "tokens": list,
        })
    }

    pub fn reset(&self) {
        *self.0.lock().unwrap() = Inner::default();
    }
}

#[derive(Debug, Deserialize)]
pub struct VodQuery {
    pub avh: Option<String>,
    pub token: Option<String>,
}

fn presented_session<'a>(req: &'a HttpRequest, q: &'a VodQuery) -> Option<&'a str> {
    q.avh
        .as_deref()
        .or_else(|| {
            req.headers()
                .get(SESSION_HEADER)
                .and_then(|v| v.to_str().ok())
        })
        .filter(|s| !s.is_empty())
}

fn not_found() -> HttpResponse {
    ApiError::not_found("token").error_response()
}

fn cors(mut resp: HttpResponse) -> HttpResponse {
    use actix_web::http::header::{HeaderName, HeaderValue};
    let h = resp.headers_mut();
    h.insert(
        HeaderName::from_static("access-control-allow-origin"),
        HeaderValue::from_static("*"),
    );
    h.insert(
        HeaderName::from_static("access-control-expose-headers"),
        HeaderValue::from_static("X-Token-Session"),
    );
    resp
}

/// Check a private-token delivery request, counting refusals (`Err` is answered 404).
fn check(
    sim: &Sim,
    ep: Endpoint,
    id: &str,
    token: &str,
    presented: Option<&str>,
) -> Result<(Video, Granted), Denied> {
    let deny = |d: Denied| {
        sim.calls.hit(calls::VOD_REJECTIONS);
        match d {
            Denied::Reuse => sim.calls.hit(calls::PRIVATE_TOKEN_REUSE_ATTEMPTS),
            Denied::ExpiredSession => sim.calls.hit(calls::EXPIRED_SESSION_REJECTIONS),
            Denied::UnknownToken => {}
        }
        d
    };
    let Some(video) = sim.videos.get(id) else {
        return Err(deny(Denied::UnknownToken));
    };
    let granted = sim
        .vod
        .access(
            id,
            token,
            presented,
            &SessionClock {
                session_call: ep == Endpoint::Session,
                now: sim.now(),
                ttl: sim.session_ttl,
                all_expired: sim.faults.sessions_expired(ep),
            },
        )
        .map_err(deny)?;
    if let Granted::Opened(_) = granted {
        sim.calls.hit(calls::SESSIONS_OPENED);
    }
    Ok((video, granted))
}

/// `GET /vod/{videoId}/token/{privateToken}/session` → `{"session_token": "..."}`.
pub async fn session(
    sim: web::Data<Sim>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    q: web::Query<VodQuery>,
) -> HttpResponse {
    let ep = Endpoint::Session;
    if let Err(resp) = sim.enter(ep).await {
        return resp;
    }
    let (id, token) = path.into_inner();
    match check(&sim, ep, &id, &token, presented_session(&req, &q)) {
        Ok((_, Granted::Opened(s))) => cors(
            HttpResponse::Ok()
                .insert_header((SESSION_HEADER, s.as_str()))
                .json(json!({"session_token": s})),
        ),
        Ok(_) | Err(_) => cors(not_found()),
    }
}

/// `GET /vod/{videoId}/token/{privateToken}/{asset}`: `hls/manifest.m3u8`, `hls/...`,
/// `thumbnail.jpg`, `mp4/source.mp4`.
pub async fn private_asset(
    sim: web::Data<Sim>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    q: web::Query<VodQuery>,
) -> HttpResponse {
    let ep = Endpoint::VodAsset;
    if let Err(resp) = sim.enter(ep).await {
        return resp;
    }
    let (id, token, tail) = path.into_inner();
    let Ok((video, granted)) = check(&sim, ep, &id, &token, presented_session(&req, &q)) else {
        return cors(not_found());
    };
    serve(&sim, &video, &tail, &granted).await
}

/// `GET /vod/{videoId}/{asset}` for public videos.
pub async fn public_asset(sim: web::Data<Sim>, path: web::Path<(String, String)>) -> HttpResponse {
    let ep = Endpoint::VodAsset;
    if let Err(resp) = sim.enter(ep).await {
        return resp;
    }
    let (id, tail) = path.into_inner();
    match sim.videos.get(&id).filter(|v| v.public) {
        Some(video) => serve(&sim, &video, &tail, &Granted::Public).await,
        None => {
            sim.calls.hit(calls::VOD_REJECTIONS);
            cors(not_found())
        }
    }
}

async fn serve(sim: &Sim, video: &Video, tail: &str, granted: &Granted) -> HttpResponse {
    let Some((mut bytes, content_type)) = load_asset(video, tail).await else {
        sim.calls.hit(calls::VOD_REJECTIONS);
        return cors(not_found());
    };
    let session = match granted {
        Granted::Opened(s) | Granted::Session(s) => Some(s.as_str()),
        Granted::Public => None,
    };
    if let (true, Some(s), true) = (sim.rewrite_playlists, session, tail.ends_with(".m3u8")) {
        bytes = rewrite_playlist(&String::from_utf8_lossy(&bytes), s).into_bytes();
    }
    let mut resp = HttpResponse::Ok();
    resp.content_type(content_type);
    if let Granted::Opened(s) = granted {
        resp.insert_header((SESSION_HEADER, s.as_str()));
    }
    cors(resp.body(bytes))
}

fn content_type(path: &str) -> &'static str {
    match Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
    {
        "m3u8" => "application/vnd.apple.mpegurl",
        "ts" => "video/mp2t",
        "m4s" => "video/iso.segment",
        "mp4" => "video/mp4",
        "aac" => "audio/aac",
        "vtt" => "text/vtt",
        "jpg" | "jpeg" => "image/jpeg",
        _ => "application/octet-stream",
    }
}

/// A relative path made only of normal components (no `..`, no root).
fn safe_relative(rel: &str) -> bool {
    !rel.is_empty()
        && Path::new(rel)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

async fn load_asset(video: &Video, tail: &str) -> Option<(Vec<u8>, &'static str)> {
    match (&video.content, tail) {
        (_, "mp4/source.mp4") if !video.mp4_support => None,
        (Content::Uploaded { bytes, .. }, "mp4/source.mp4") => Some((bytes.to_vec(), "video/mp4")),
        (Content::Uploaded { .. }, "thumbnail.jpg") => {
            Some((DEFAULT_THUMBNAIL.to_vec(), "image/jpeg"))
        }
        (Content::Uploaded { .. }, _) => None,
        (Content::Folder(dir), "thumbnail.jpg") => Some((
            tokio::fs::read(dir.join("thumbnail.jpg"))
                .await
                .unwrap_or_else(|_| DEFAULT_THUMBNAIL.to_vec()),
            "image/jpeg",
        )),
        (Content::Folder(dir), "mp4/source.mp4") => Some((
            tokio::fs::read(dir.join("source.mp4"))
                .await
                .unwrap_or_else(|_| DEFAULT_MP4.to_vec()),
            "video/mp4",
        )),
        (Content::Folder(dir), "hls/manifest.m3u8") => Some((
            tokio::fs::read(dir.join("master.m3u8")).await.ok()?,
            content_type("m.m3u8"),
        )),
        (Content::Folder(dir), t) => {
            let rel = t.strip_prefix("hls/")?;
            if !safe_relative(rel) {
                return None;
            }
            let path = dir.join(rel);
            Some((tokio::fs::read(&path).await.ok()?, content_type(rel)))
        }
    }
}

fn with_avh(uri: &str, session: &str) -> String {
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}avh={session}")
}

/// Append `avh={session}` to every URI of a playlist (only with `rewrite_playlists`).
pub fn rewrite_playlist(text: &str, session: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            out.push_str(line);
        } else if !trimmed.starts_with('#') {
            out.push_str(&with_avh(trimmed, session));
        } else if let Some(start) = line.find("URI=\"") {
            let start = start + 5;
            match line[start..].find('"') {
                Some(len) => {
                    out.push_str(&line[..start]);
                    out.push_str(&with_avh(&line[start..start + len], session));
                    out.push_str(&line[start + len..]);
                }
                None => out.push_str(line),
            }
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// `GET /vod/{videoId}?token=...&avh=...`: the embed player page.
pub async fn embed(
    sim: web::Data<Sim>,
    req: HttpRequest,
    id: web::Path<String>,
    q: web::Query<VodQuery>,
) -> HttpResponse {
    let ep = Endpoint::Embed;
    if let Err(resp) = sim.enter(ep).await {
        return resp;
    }
    let id = id.into_inner();
    let (video, granted) = match (sim.videos.get(&id), q.token.as_deref()) {
        (Some(v), _) if v.public => (v, Granted::Public),
        (Some(_), Some(token)) => match check(&sim, ep, &id, token, presented_session(&req, &q)) {
            Ok(x) => x,
            Err(_) => return cors(not_found()),
        },
        _ => {
            sim.calls.hit(calls::VOD_REJECTIONS);
            return cors(not_found());
        }
    };
    let src = match (&granted, q.token.as_deref()) {
        (Granted::Opened(s) | Granted::Session(s), Some(t)) => {
            format!(
                "{}/vod/{id}/token/{t}/hls/manifest.m3u8?avh={s}",
                sim.vod_host
            )
        }
        _ => format!("{}/vod/{id}/hls/manifest.m3u8", sim.vod_host),
    };
    let title = html_escape(&video.title);
    let src = html_escape(&src);
    let html = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body style=\"margin:0;background:#000\">\n\
         <video id=\"apivideo-sim-player\" data-video-id=\"{id}\" controls playsinline \
         style=\"width:100%;height:100%\" src=\"{src}\"></video>\n</body></html>\n"
    );
    let mut resp = HttpResponse::Ok();
    resp.content_type("text/html; charset=utf-8");
    if let Granted::Opened(s) = &granted {
        resp.insert_header((SESSION_HEADER, s.as_str()));
    }
    cors(resp.body(html))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
