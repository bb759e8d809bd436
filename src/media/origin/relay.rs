//! Relaying HTTP upstream answers to viewers, shared by every HTTP-speaking origin (the
//! plain http origin and api.video): which request headers go up, which response headers
//! come back, playlists read whole (bounded), keys and segments streamed without buffering.

use super::{MAX_PLAYLIST_BYTES, UpstreamError};
use crate::media::asset_path::AssetPath;
use crate::media::body::{Media, MediaBody, MediaRequest};
use futures_util::StreamExt;
use std::time::Duration;

/// Response headers worth passing back (the length goes with the body).
const RETURNED: &[&str] = &["content-range", "accept-ranges", "etag", "last-modified"];

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

/// Copy the viewer's Range / If-Range onto an upstream request: only what affects which
/// bytes come back.
pub fn forward_headers(
    mut r: reqwest::RequestBuilder,
    req: Option<&MediaRequest<'_>>,
) -> reqwest::RequestBuilder {
    if let Some(req) = req {
        if let Some(v) = req.range {
            r = r.header("range", v);
        }
        if let Some(v) = req.if_range {
            r = r.header("if-range", v);
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
pub fn stream_media(resp: reqwest::Response, path: &AssetPath) -> Media {
    let headers = RETURNED
        .iter()
        .filter_map(|name| {
            let v = resp.headers().get(*name)?.to_str().ok()?;
            Some((*name, v.to_owned()))
        })
        .collect();
    let status = resp.status().as_u16();
    let len = resp.content_length();
    let stream = resp
        .bytes_stream()
        .map(|r| r.map_err(|e| std::io::Error::other(e.to_string())))
        .boxed();
    // With a known length, a sized body, so clients get Content-Length.
    let body = match len {
        Some(len) => MediaBody::Sized { len, stream },
        None => MediaBody::Unsized(stream),
    };
    Media {
        status,
        content_type: path.content_type(),
        headers,
        body,
    }
}
