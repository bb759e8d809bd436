//! Relaying HTTP upstream answers to viewers, shared by every HTTP-speaking origin (the
//! plain http origin and api.video): which request headers go up, which response headers
//! come back, playlists read whole (bounded), keys and segments streamed without buffering.

use super::{MAX_PLAYLIST_BYTES, UpstreamError};
use crate::media::asset_path::AssetPath;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use futures_util::StreamExt;
use std::time::Duration;

/// Request headers worth passing to the origin: only what affects which bytes come back.
const FORWARDED: &[&str] = &["range", "if-range"];
/// Response headers worth passing back.
const RETURNED: &[&str] = &[
    "content-length",
    "content-range",
    "accept-ranges",
    "etag",
    "last-modified",
];

/// A client for media origins: bounded connect and read times, no redirects (a redirect
/// could leave the asset base; origins must serve in place).
pub fn media_client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(timeout.min(Duration::from_secs(3)))
        // A stalled body read ends the response instead of hanging the viewer forever.
        .read_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

pub fn classify(e: reqwest::Error) -> UpstreamError {
    if e.is_timeout() {
        UpstreamError::Timeout
    } else {
        UpstreamError::Unavailable(e.to_string())
    }
}

/// Copy the viewer's Range / If-Range onto an upstream request.
pub fn forward_headers(
    mut r: reqwest::RequestBuilder,
    req: Option<&HttpRequest>,
) -> reqwest::RequestBuilder {
    if let Some(req) = req {
        for name in FORWARDED {
            if let Some(v) = req.headers().get(*name).and_then(|v| v.to_str().ok()) {
                r = r.header(*name, v);
            }
        }
    }
    r
}

/// Statuses of a media answer worth relaying as they are.
pub fn relayable(status: u16) -> bool {
    matches!(status, 200 | 206 | 304 | 416)
}

/// Read a playlist body: at most `MAX_PLAYLIST_BYTES`, within `timeout`, UTF-8.
pub async fn read_playlist(
    resp: reqwest::Response,
    timeout: Duration,
) -> Result<String, UpstreamError> {
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_PLAYLIST_BYTES as u64)
    {
        return Err(UpstreamError::Invalid(format!(
            "playlist larger than {MAX_PLAYLIST_BYTES} bytes"
        )));
    }
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    let read = async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(classify)?;
            if body.len() + chunk.len() > MAX_PLAYLIST_BYTES {
                return Err(UpstreamError::Invalid(format!(
                    "playlist larger than {MAX_PLAYLIST_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(())
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| UpstreamError::Timeout)??;
    String::from_utf8(body).map_err(|_| UpstreamError::Invalid("playlist is not UTF-8".into()))
}

/// Stream a key or segment answer to the viewer: its status, the byte-range headers and the
/// body as it arrives (sized when the length is known).
pub fn stream_media(resp: reqwest::Response, path: &AssetPath) -> HttpResponse {
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut out = HttpResponse::build(status);
    out.insert_header(("content-type", path.content_type()));
    for name in RETURNED {
        if let Some(v) = resp.headers().get(*name).and_then(|v| v.to_str().ok()) {
            out.insert_header((*name, v.to_owned()));
        }
    }
    let len = resp.content_length();
    let stream = resp
        .bytes_stream()
        .map(|r| r.map_err(|e| std::io::Error::other(e.to_string())));
    // With a known length, stream as a sized body so clients get Content-Length.
    match len {
        Some(n) => out.no_chunking(n).streaming(stream),
        None => out.streaming(stream),
    }
}
