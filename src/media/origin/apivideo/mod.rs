//! api.video private videos as the origin.
//!
//! Playback start (once per entitlement and upstream session, not per page load):
//! `GET {api}/videos/{id}` (its asset URLs carry a fresh one-time private token; they are
//! taken as returned, never rebuilt), then `GET {vod}/vod/{id}/token/{t}/session` →
//! `session_token`. The result — {private token, session token, asset base (the hls URL's
//! folder), entry, player URL} — is kept in the store under `up:{e:<entitlement>}` with a
//! TTL inside both the upstream session (24 h minus a margin) and the entitlement. Every
//! later watch-page load of that entitlement, on any instance, reuses it: a private token
//! is used once, ever. Concurrent starts are single-flight: in-process per entitlement, and
//! across instances by a short `SET NX` claim (`up:{e:<id>}:starting`) whose losers poll
//! for the winner's result.
//!
//! Relay: playlists and segments are fetched with `?avh={session}` and
//! `X-Token-Session: {session}`. `avh` parameters are stripped from playlists before they
//! are rewritten, and a playlist that still names an upstream token is refused: viewers
//! never see a private or session token in relay mode.
//!
//! Embed: the watch page embeds the `player` asset URL as returned, plus `&avh={session}`.

mod auth;
mod client;
mod retry;

use self::client::Client;
use self::retry::Retry;
use super::relay;
use super::{Opened, PlaybackStart, Source, UpstreamError};
use crate::config::{ApiVideoConfig, PlaybackMode};
use crate::domain::Playback;
use crate::domain::{EntitlementId, VideoId};
use crate::media::asset_path::AssetPath;
use crate::media::body::{Media, MediaRequest};
use crate::store::{Store, keys};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use url::Url;

/// How long this instance trusts an upstream session it read from the store.
const LOCAL_CACHE: Duration = Duration::from_secs(60);
const MAX_CACHED: usize = 50_000;

/// One upstream session of one entitlement, as stored (JSON) under `up:{e:<id>}`.
#[derive(Clone, Serialize, Deserialize)]
struct UpstreamSession {
    video_id: String,
    /// `None` for a public video.
    private_token: Option<String>,
    session_token: Option<String>,
    /// The hls URL's folder, e.g. `{vod}/vod/{id}/token/{t}/hls/`.
    asset_base: Url,
    /// e.g. `manifest.m3u8`
    entry: String,
    /// `assets.player` as returned (it carries the private token).
    player_url: Option<String>,
    title: Option<String>,
    started_at: DateTime<Utc>,
    session_expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for UpstreamSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamSession")
            .field("video_id", &self.video_id)
            .field("tokens", &"[REDACTED]")
            .field("started_at", &self.started_at)
            .field("session_expires_at", &self.session_expires_at)
            .finish()
    }
}

impl UpstreamSession {
    /// The embed URL: `player` as returned, plus `avh`.
    fn embed_url(&self) -> Result<String, UpstreamError> {
        let player = self
            .player_url
            .as_deref()
            .ok_or_else(|| UpstreamError::Invalid("the video has no player URL".into()))?;
        let mut url = Url::parse(player)
            .map_err(|_| UpstreamError::Invalid("the player URL is not a URL".into()))?;
        if let Some(s) = &self.session_token {
            url.query_pairs_mut().append_pair("avh", s);
        }
        Ok(url.into())
    }

    /// Strings that must never reach a viewer in relay mode.
    fn secrets(&self) -> impl Iterator<Item = &str> {
        self.private_token
            .iter()
            .chain(self.session_token.iter())
            .map(String::as_str)
            .filter(|s| s.len() >= 8)
    }
}

#[derive(Clone)]
pub struct ApiVideoOrigin {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    store: Store,
    config: ApiVideoConfig,
    /// asset base → session, read from the store (or started) by this instance.
    cache: RwLock<HashMap<String, (Instant, Arc<UpstreamSession>)>>,
    /// In-process single flight of starts, per entitlement.
    starting: std::sync::Mutex<HashMap<EntitlementId, Arc<tokio::sync::Mutex<()>>>>,
}

impl ApiVideoOrigin {
    pub fn new(
        config: &ApiVideoConfig,
        api_key: SecretString,
        timeout: Duration,
        store: Store,
    ) -> Result<Self, String> {
        let client = Client::new(config.base_url.clone(), api_key, timeout)?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                store,
                config: config.clone(),
                cache: RwLock::new(HashMap::new()),
                starting: std::sync::Mutex::new(HashMap::new()),
            }),
        })
    }

    pub fn mode(&self) -> PlaybackMode {
        self.inner.config.mode
    }

    /// Can vodgate authenticate to api.video right now? (cached a few seconds)
    pub async fn check_auth(&self) -> Result<(), String> {
        self.inner.client.bearer.check().await
    }

    pub async fn open(
        &self,
        video: &VideoId,
        start: &PlaybackStart<'_>,
    ) -> Result<Opened, UpstreamError> {
        let s = self
            .session(start.entitlement_id, video, start.until)
            .await?;
        let embed_url = match start.mode.unwrap_or(self.inner.config.mode) {
            PlaybackMode::Embed => Some(s.embed_url()?),
            PlaybackMode::Relay => None,
        };
        Ok(Opened {
            source: Source {
                asset_base: s.asset_base.clone(),
                entry: s.entry.clone(),
            },
            embed_url,
            title: s.title.clone(),
        })
    }

    /// The entitlement's live upstream session, or a new one (single flight).
    async fn session(
        &self,
        id: &EntitlementId,
        video: &VideoId,
        until: DateTime<Utc>,
    ) -> Result<Arc<UpstreamSession>, UpstreamError> {
        let local = {
            let mut m = self
                .inner
                .starting
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            m.entry(id.clone()).or_default().clone()
        };
        let result = {
            let _one_at_a_time = local.lock().await;
            self.session_locked(id, video, until).await
        };
        // Forget the guard when nobody else holds it.
        let mut m = self
            .inner
            .starting
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if m.get(id).is_some_and(|g| Arc::strong_count(g) <= 2) {
            m.remove(id);
        }
        drop(m);
        result
    }

    async fn session_locked(
        &self,
        id: &EntitlementId,
        video: &VideoId,
        until: DateTime<Utc>,
    ) -> Result<Arc<UpstreamSession>, UpstreamError> {
        let store = &self.inner.store;
        let key = keys::upstream_session(id);
        let claim = keys::upstream_starting(id);
        // Long enough for auth, the video read and the session call, each with retries.
        let claim_ttl = self.inner.client.timeout * 10 + Duration::from_secs(5);
        let deadline = Instant::now() + claim_ttl;
        loop {
            if let Some(s) = self.load(&key).await?
                && s.video_id == video.as_str()
                && s.session_expires_at > Utc::now()
            {
                return Ok(self.remember(s));
            }
            let nonce = uuid::Uuid::new_v4().to_string();
            if store
                .set_nx(&claim, &nonce, claim_ttl)
                .await
                .map_err(store_err)?
            {
                // Another instance may have finished between our read and our claim.
                if let Some(s) = self.load(&key).await?
                    && s.video_id == video.as_str()
                    && s.session_expires_at > Utc::now()
                {
                    let _ = store.del(&claim).await;
                    return Ok(self.remember(s));
                }
                let started = self.start(video).await;
                let result = match started {
                    Ok(s) => {
                        let ttl = self.record_ttl(&s, until);
                        let json = serde_json::to_string(&s)
                            .map_err(|e| UpstreamError::Invalid(e.to_string()))?;
                        store.set(&key, &json, ttl).await.map_err(store_err)?;
                        tracing::info!(entitlement.id = %id, video.id = %video, ttl_s = ttl.as_secs(), "api.video session started");
                        Ok(self.remember(Arc::new(s)))
                    }
                    Err(e) => Err(e),
                };
                let _ = store.del(&claim).await;
                return result;
            }
            // Someone else is starting it: wait for their result (or for their claim to go).
            if Instant::now() >= deadline {
                return Err(UpstreamError::Timeout);
            }
            tokio::time::sleep(Duration::from_millis(50 + rand::random_range(0..50u64))).await;
        }
    }

    /// Inside the upstream session (minus a margin, so a film started late still ends
    /// inside it) and inside the entitlement.
    fn record_ttl(&self, s: &UpstreamSession, until: DateTime<Utc>) -> Duration {
        let now = Utc::now();
        let by_session = (s.session_expires_at - now).to_std().unwrap_or_default();
        let by_entitlement = (until - now).to_std().unwrap_or_default();
        by_session.min(by_entitlement).max(Duration::from_secs(1))
    }

    async fn load(&self, key: &str) -> Result<Option<Arc<UpstreamSession>>, UpstreamError> {
        let Some(json) = self.inner.store.get(key).await.map_err(store_err)? else {
            return Ok(None);
        };
        match serde_json::from_str::<UpstreamSession>(&json) {
            Ok(s) => Ok(Some(Arc::new(s))),
            Err(e) => {
                tracing::warn!(error = %e, "unreadable upstream session record; starting a new one");
                Ok(None)
            }
        }
    }

    fn remember(&self, s: Arc<UpstreamSession>) -> Arc<UpstreamSession> {
        let mut c = self.inner.cache.write().unwrap_or_else(|p| p.into_inner());
        if c.len() >= MAX_CACHED {
            c.clear();
        }
        c.insert(s.asset_base.to_string(), (Instant::now(), s.clone()));
        s
    }

    fn forget(&self, asset_base: &Url) {
        self.inner
            .cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(asset_base.as_str());
    }

    /// The upstream session a running playback was started with.
    async fn session_of(&self, playback: &Playback) -> Result<Arc<UpstreamSession>, UpstreamError> {
        let base = &playback.source.asset_base;
        if let Some((at, s)) = self
            .inner
            .cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(base.as_str())
            && at.elapsed() < LOCAL_CACHE
            && s.session_expires_at > Utc::now()
        {
            return Ok(s.clone());
        }
        match self
            .load(&keys::upstream_session(&playback.entitlement_id))
            .await?
        {
            Some(s) if &s.asset_base == base && s.session_expires_at > Utc::now() => {
                Ok(self.remember(s))
            }
            // Gone (TTL) or replaced by a newer session: this playback's session is over.
            _ => {
                self.forget(base);
                Err(UpstreamError::SessionExpired)
            }
        }
    }

    /// The upstream ended this session before we expected (a 404 on the entry playlist):
    /// drop the record so the next watch-page load starts a new one.
    async fn drop_session(&self, playback: &Playback) {
        self.forget(&playback.source.asset_base);
        let key = keys::upstream_session(&playback.entitlement_id);
        if let Ok(Some(s)) = self.load(&key).await
            && s.asset_base == playback.source.asset_base
        {
            let _ = self.inner.store.del(&key).await;
        }
    }

    /// `GET /videos/{id}` once, then `/session` once with the token it carries.
    async fn start(&self, video: &VideoId) -> Result<UpstreamSession, UpstreamError> {
        let client = &self.inner.client;
        let resp = client
            .api(
                reqwest::Method::GET,
                &format!("videos/{}", video.as_str()),
                None,
                Retry::Idempotent,
            )
            .await?;
        let v: Value = match resp.status().as_u16() {
            200 => read_json(resp, client.timeout).await?,
            404 => return Err(UpstreamError::NotFound),
            s => {
                return Err(UpstreamError::Unavailable(format!(
                    "api.video answered {s} to GET /videos/{{id}}"
                )));
            }
        };
        let hls = v["assets"]["hls"].as_str().ok_or_else(|| {
            UpstreamError::Invalid("the video has no HLS asset (not encoded yet?)".into())
        })?;
        let hls = Url::parse(hls)
            .map_err(|_| UpstreamError::Invalid("the video's HLS asset is not a URL".into()))?;
        if !matches!(hls.scheme(), "http" | "https") || hls.cannot_be_a_base() {
            return Err(UpstreamError::Invalid(
                "the video's HLS asset is not an http(s) URL".into(),
            ));
        }
        let token = private_token_of(&hls);
        let public = v["public"].as_bool().unwrap_or(token.is_none());
        if public && !self.inner.config.allow_public {
            return Err(UpstreamError::PublicVideo);
        }
        let asset_base = hls
            .join("./")
            .map_err(|e| UpstreamError::Invalid(e.to_string()))?;
        let entry = hls
            .path_segments()
            .and_then(|mut s| s.next_back())
            .filter(|e| !e.is_empty())
            .unwrap_or("manifest.m3u8")
            .to_owned();
        let player_url = v["assets"]["player"].as_str().map(str::to_owned);
        let title = v["title"]
            .as_str()
            .map(|t| t.trim().chars().take(200).collect::<String>())
            .filter(|t| !t.is_empty());
        let started_at = Utc::now();
        let ttl = self.inner.config.session_ttl;
        // A film started just before the session ends must still end inside it.
        let margin = (ttl / 10).min(Duration::from_secs(2 * 3600));
        let session_expires_at =
            started_at + chrono::Duration::from_std(ttl - margin).unwrap_or_default();

        let (private_token, session_token) = match (public, token) {
            (true, _) => (None, None),
            (false, None) => {
                return Err(UpstreamError::Invalid(
                    "a private video's HLS URL carries no /token/".into(),
                ));
            }
            (false, Some(t)) => {
                let url = session_url(&hls, &t)?;
                // Consumes the private token: never repeated once it may have been seen.
                let resp = client.vod(&url, None, None, Retry::ConnectOnly).await?;
                let s = match resp.status().as_u16() {
                    200 => read_json(resp, client.timeout).await?,
                    404 => {
                        return Err(UpstreamError::Unavailable(
                            "api.video refused a fresh private token (404 on /session)".into(),
                        ));
                    }
                    s => {
                        return Err(UpstreamError::Unavailable(format!(
                            "api.video answered {s} to /session"
                        )));
                    }
                };
                let session = s["session_token"]
                    .as_str()
                    .filter(|s| !s.is_empty() && s.len() <= 512);
                let session = session.ok_or_else(|| {
                    UpstreamError::Invalid("/session answered no session_token".into())
                })?;
                (Some(t), Some(session.to_owned()))
            }
        };
        Ok(UpstreamSession {
            video_id: video.as_str().to_owned(),
            private_token,
            session_token,
            asset_base,
            entry,
            player_url,
            title,
            started_at,
            session_expires_at,
        })
    }

    pub async fn playlist(
        &self,
        playback: &Playback,
        path: &AssetPath,
    ) -> Result<String, UpstreamError> {
        let s = self.session_of(playback).await?;
        let url = s
            .asset_base
            .join(path.as_str())
            .map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
        let resp = self
            .inner
            .client
            .vod(&url, s.session_token.as_deref(), None, Retry::Idempotent)
            .await?;
        let resp = self.check_status(resp, playback, &s, path).await?;
        let text = relay::read_playlist(resp, self.inner.client.timeout).await?;
        let text = strip_avh(&text);
        // Absolute URIs inside the asset base are fine (the rewriter makes them relative);
        // an upstream token anywhere else would reach the viewer.
        let outside_base = text.replace(s.asset_base.as_str(), "");
        if s.secrets().any(|secret| outside_base.contains(secret)) {
            return Err(UpstreamError::Invalid(
                "the playlist names an upstream token outside its URIs".into(),
            ));
        }
        Ok(text)
    }

    pub async fn media(
        &self,
        req: &MediaRequest<'_>,
        playback: &Playback,
        path: &AssetPath,
    ) -> Result<Media, UpstreamError> {
        let s = self.session_of(playback).await?;
        let url = s
            .asset_base
            .join(path.as_str())
            .map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
        let resp = self
            .inner
            .client
            .vod(
                &url,
                s.session_token.as_deref(),
                Some(req),
                Retry::Idempotent,
            )
            .await?;
        let resp = self.check_status(resp, playback, &s, path).await?;
        Ok(relay::stream_media(resp, path))
    }

    async fn check_status(
        &self,
        resp: reqwest::Response,
        playback: &Playback,
        s: &UpstreamSession,
        path: &AssetPath,
    ) -> Result<reqwest::Response, UpstreamError> {
        match resp.status().as_u16() {
            st if relay::relayable(st) => Ok(resp),
            404 | 410 if path.as_str() == s.entry => {
                tracing::warn!(playback.id = %playback.id, "api.video no longer accepts this session; dropping it");
                self.drop_session(playback).await;
                Err(UpstreamError::SessionExpired)
            }
            // A variant, key or segment that api.video does not know: either it really does
            // not exist, or the session ended (api.video answers 404 to both). One look at
            // the entry playlist tells which, so a player mid-film hears "session expired"
            // (reload the page) rather than "not found".
            404 | 410 if self.session_is_gone(s).await => {
                tracing::warn!(playback.id = %playback.id, "api.video no longer accepts this session; dropping it");
                self.drop_session(playback).await;
                Err(UpstreamError::SessionExpired)
            }
            404 | 410 => Err(UpstreamError::NotFound),
            st => Err(UpstreamError::Unavailable(format!(
                "api.video answered {st} to a vod request"
            ))),
        }
    }

    /// Does api.video refuse this session's entry playlist? Only a definite 404/410 says so.
    async fn session_is_gone(&self, s: &UpstreamSession) -> bool {
        let Ok(url) = s.asset_base.join(&s.entry) else {
            return false;
        };
        match self
            .inner
            .client
            .vod(&url, s.session_token.as_deref(), None, Retry::Idempotent)
            .await
        {
            Ok(resp) => matches!(resp.status().as_u16(), 404 | 410),
            Err(_) => false,
        }
    }

    // ---- delegated upload tokens -------------------------------------------------

    /// `POST /upload-tokens {ttl}`.
    pub async fn create_upload_token(&self, ttl: u32) -> Result<Value, UpstreamError> {
        let body = serde_json::json!({"ttl": ttl});
        let resp = self
            .inner
            .client
            .api(
                reqwest::Method::POST,
                "upload-tokens",
                Some(&body),
                Retry::ConnectOnly,
            )
            .await?;
        match resp.status().as_u16() {
            200 | 201 => read_json(resp, self.inner.client.timeout).await,
            s => Err(UpstreamError::Unavailable(format!(
                "api.video answered {s} to POST /upload-tokens"
            ))),
        }
    }

    /// `GET /upload-tokens?currentPage=&pageSize=`.
    pub async fn list_upload_tokens(
        &self,
        page: u32,
        page_size: u32,
    ) -> Result<Value, UpstreamError> {
        let path = format!(
            "upload-tokens?currentPage={page}&pageSize={page_size}&sortBy=createdAt&sortOrder=desc"
        );
        let resp = self
            .inner
            .client
            .api(reqwest::Method::GET, &path, None, Retry::Idempotent)
            .await?;
        match resp.status().as_u16() {
            200 => read_json(resp, self.inner.client.timeout).await,
            s => Err(UpstreamError::Unavailable(format!(
                "api.video answered {s} to GET /upload-tokens"
            ))),
        }
    }

    /// `DELETE /upload-tokens/{token}`: false when api.video does not know it.
    pub async fn delete_upload_token(&self, token: &str) -> Result<bool, UpstreamError> {
        let path = format!("upload-tokens/{token}");
        // Deleting twice is harmless: idempotent.
        let resp = self
            .inner
            .client
            .api(reqwest::Method::DELETE, &path, None, Retry::Idempotent)
            .await?;
        match resp.status().as_u16() {
            200 | 204 => Ok(true),
            404 => Ok(false),
            s => Err(UpstreamError::Unavailable(format!(
                "api.video answered {s} to DELETE /upload-tokens/{{token}}"
            ))),
        }
    }

    /// Where creators upload with a delegated token: `{api}/upload?token=…`.
    pub fn upload_url(&self, token: &str) -> String {
        let mut u = self
            .inner
            .config
            .base_url
            .join("upload")
            .expect("a fixed relative path joins");
        u.query_pairs_mut().append_pair("token", token);
        u.into()
    }
}

fn store_err(e: crate::store::StoreError) -> UpstreamError {
    UpstreamError::Store(e.to_string())
}

async fn read_json(resp: reqwest::Response, timeout: Duration) -> Result<Value, UpstreamError> {
    match tokio::time::timeout(timeout, resp.json::<Value>()).await {
        Err(_) => Err(UpstreamError::Timeout),
        Ok(Err(_)) => Err(UpstreamError::Invalid(
            "api.video answered something that is not JSON".into(),
        )),
        Ok(Ok(v)) => Ok(v),
    }
}

/// The `{t}` of `…/token/{t}/…` in an asset URL's path.
fn private_token_of(url: &Url) -> Option<String> {
    let segs: Vec<&str> = url.path_segments()?.collect();
    let i = segs.iter().position(|s| *s == "token")?;
    segs.get(i + 1)
        .filter(|t| !t.is_empty())
        .map(|t| (*t).to_owned())
}

/// `…/token/{t}/session` on the hls URL's own host (as api.video documents it).
fn session_url(hls: &Url, token: &str) -> Result<Url, UpstreamError> {
    let path = hls.path();
    let marker = format!("/token/{token}/");
    let end = path
        .find(&marker)
        .ok_or_else(|| UpstreamError::Invalid("the HLS URL has no /token/ segment".into()))?
        + marker.len();
    let mut url = hls.clone();
    url.set_path(&format!("{}session", &path[..end]));
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// Remove every `avh=` query parameter from a playlist's URIs (`?avh=x&b` → `?b`,
/// `?avh=x` → ``, `&avh=x` → ``). The value ends at `&`, `"`, `#` or whitespace.
pub fn strip_avh(text: &str) -> String {
    if !text.contains("avh=") {
        return text.to_owned();
    }
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0;
    while let Some(off) = text[i..].find("avh=") {
        let at = i + off;
        let prev = if at > 0 { b[at - 1] } else { 0 };
        if prev != b'?' && prev != b'&' {
            i = at + 4;
            continue;
        }
        let mut end = at + 4;
        while end < b.len()
            && !matches!(
                b[end],
                b'&' | b'"' | b'#' | b' ' | b'\t' | b'\r' | b'\n' | b','
            )
        {
            end += 1;
        }
        let next_amp = b.get(end) == Some(&b'&');
        if copied == at {
            // The previous parameter (first of its query) was just dropped with its `&`:
            // the `?` is already in `out`.
            if next_amp {
                copied = end + 1;
            } else {
                if out.ends_with('?') {
                    out.pop();
                }
                copied = end;
            }
        } else if prev == b'?' && next_amp {
            // `?avh=x&rest` → `?rest`
            out.push_str(&text[copied..at]);
            copied = end + 1;
        } else {
            // `?avh=x` → `` and `&avh=x` → ``: drop the separator too.
            out.push_str(&text[copied..at - 1]);
            copied = end;
        }
        i = end;
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avh_is_stripped_from_every_uri_and_nothing_else_changes() {
        let input = "#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"../enc.key?avh=s-1\",IV=0x01\nseg0.ts?avh=s-1\r\nseg1.ts?a=1&avh=s-1\nseg2.ts?avh=s-1&b=2\nseg3.ts\n#EXT-X-MAP:URI=\"init.mp4?avh=s-1&x=y&avh=s-1\"\n#COMMENT avh=keep\nhavh=keep?avh=\n";
        let out = strip_avh(input);
        assert_eq!(
            out,
            "#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"../enc.key\",IV=0x01\nseg0.ts\r\nseg1.ts?a=1\nseg2.ts?b=2\nseg3.ts\n#EXT-X-MAP:URI=\"init.mp4?x=y\"\n#COMMENT avh=keep\nhavh=keep\n"
        );
        assert_eq!(strip_avh("#EXTM3U\nseg.ts\n"), "#EXTM3U\nseg.ts\n");
        assert_eq!(
            strip_avh("a.ts?avh=1&avh=2\nb.ts?avh=1&avh=2&c=3\nc.ts?c=3&avh=1&avh=2\n"),
            "a.ts\nb.ts?c=3\nc.ts?c=3\n"
        );
    }

    #[test]
    fn tokens_and_session_urls_come_from_the_returned_hls_url() {
        let hls = Url::parse("https://vod.api.video/vod/vi1/token/0092d5ef-5750-471d-9e7e-48d0a7580238/hls/manifest.m3u8").unwrap();
        let t = private_token_of(&hls).unwrap();
        assert_eq!(t, "0092d5ef-5750-471d-9e7e-48d0a7580238");
        assert_eq!(
            session_url(&hls, &t).unwrap().as_str(),
            "https://vod.api.video/vod/vi1/token/0092d5ef-5750-471d-9e7e-48d0a7580238/session"
        );
        assert_eq!(
            hls.join("./").unwrap().as_str(),
            "https://vod.api.video/vod/vi1/token/0092d5ef-5750-471d-9e7e-48d0a7580238/hls/"
        );
        assert!(
            private_token_of(
                &Url::parse("https://vod.api.video/vod/vi1/hls/manifest.m3u8").unwrap()
            )
            .is_none()
        );
    }

    #[test]
    fn session_records_never_show_tokens_in_debug() {
        let s = UpstreamSession {
            video_id: "vi1".into(),
            private_token: Some("private-token-value".into()),
            session_token: Some("session-token-value".into()),
            asset_base: "https://vod.example/vod/vi1/token/private-token-value/hls/"
                .parse()
                .unwrap(),
            entry: "manifest.m3u8".into(),
            player_url: Some("https://embed.example/vod/vi1?token=private-token-value".into()),
            title: None,
            started_at: Utc::now(),
            session_expires_at: Utc::now(),
        };
        let d = format!("{s:?}");
        assert!(!d.contains("token-value"), "{d}");
        assert_eq!(
            s.embed_url().unwrap(),
            "https://embed.example/vod/vi1?token=private-token-value&avh=session-token-value"
        );
    }
}
