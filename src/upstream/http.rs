//! A plain HLS origin over HTTP(S), named by a URL template such as
//! `https://origin.example/{video_id}/master.m3u8`. The video's asset base is the
//! template's folder; every request stays inside it.

use super::{MAX_PLAYLIST_BYTES, Source, UpstreamError};
use crate::domain::VideoId;
use crate::hls::asset_path::AssetPath;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use futures_util::StreamExt;
use std::time::Duration;
use url::Url;

#[derive(Clone)]
pub struct HttpOrigin {
    template: String,
    client: reqwest::Client,
    timeout: Duration,
}

/// Request headers worth passing to the origin: only what affects which bytes come back.
const FORWARDED: &[&str] = &["range", "if-range"];
/// Response headers worth passing back.
const RETURNED: &[&str] = &["content-length", "content-range", "accept-ranges", "etag", "last-modified"];

fn classify(e: reqwest::Error) -> UpstreamError {
    if e.is_timeout() { UpstreamError::Timeout } else { UpstreamError::Unavailable(e.to_string()) }
}

impl HttpOrigin {
    pub fn new(template: &str, timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            // A stalled body read ends the response instead of hanging the viewer forever.
            .read_timeout(timeout)
            // Redirects could leave the asset base; the origin must serve in place.
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self { template: template.to_owned(), client, timeout })
    }

    pub fn open(&self, video: &VideoId) -> Result<Source, UpstreamError> {
        let entry_url = Url::parse(&self.template.replace("{video_id}", video.as_str()))
            .map_err(|e| UpstreamError::Unavailable(format!("origin template: {e}")))?;
        let asset_base = entry_url.join("./").map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
        let entry = entry_url.path_segments().and_then(|mut s| s.next_back()).unwrap_or("master.m3u8").to_owned();
        Ok(Source { asset_base, entry })
    }

    fn url(source: &Source, path: &AssetPath) -> Result<Url, UpstreamError> {
        // AssetPath has no '..', '%' or ':', so the join cannot climb out of the base.
        source.asset_base.join(path.as_str()).map_err(|e| UpstreamError::Unavailable(e.to_string()))
    }

    async fn get(&self, url: Url, req: Option<&HttpRequest>) -> Result<reqwest::Response, UpstreamError> {
        let mut r = self.client.get(url);
        if let Some(req) = req {
            for name in FORWARDED {
                if let Some(v) = req.headers().get(*name).and_then(|v| v.to_str().ok()) {
                    r = r.header(*name, v);
                }
            }
        }
        // Bound the wait for the status line and headers; the body has its read timeout.
        let resp = tokio::time::timeout(self.timeout, r.send()).await.map_err(|_| UpstreamError::Timeout)?.map_err(classify)?;
        match resp.status().as_u16() {
            200 | 206 | 304 | 416 => Ok(resp),
            404 | 410 => Err(UpstreamError::NotFound),
            s => Err(UpstreamError::Unavailable(format!("origin answered {s}"))),
        }
    }

    pub async fn playlist(&self, source: &Source, path: &AssetPath) -> Result<String, UpstreamError> {
        let resp = self.get(Self::url(source, path)?, None).await?;
        if resp.content_length().is_some_and(|n| n > MAX_PLAYLIST_BYTES as u64) {
            return Err(UpstreamError::Invalid(format!("playlist larger than {MAX_PLAYLIST_BYTES} bytes")));
        }
        let mut body = Vec::new();
        let mut stream = resp.bytes_stream();
        let read = async {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(classify)?;
                if body.len() + chunk.len() > MAX_PLAYLIST_BYTES {
                    return Err(UpstreamError::Invalid(format!("playlist larger than {MAX_PLAYLIST_BYTES} bytes")));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(())
        };
        tokio::time::timeout(self.timeout, read).await.map_err(|_| UpstreamError::Timeout)??;
        String::from_utf8(body).map_err(|_| UpstreamError::Invalid("playlist is not UTF-8".into()))
    }

    pub async fn media(&self, req: &HttpRequest, source: &Source, path: &AssetPath) -> Result<HttpResponse, UpstreamError> {
        let resp = self.get(Self::url(source, path)?, Some(req)).await?;
        let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        let mut out = HttpResponse::build(status);
        out.insert_header(("content-type", path.content_type()));
        for name in RETURNED {
            if let Some(v) = resp.headers().get(*name).and_then(|v| v.to_str().ok()) {
                out.insert_header((*name, v.to_owned()));
            }
        }
        let len = resp.content_length();
        let stream = resp.bytes_stream().map(|r| r.map_err(|e| std::io::Error::other(e.to_string())));
        // With a known length, stream as a sized body so clients get Content-Length.
        Ok(match len {
            Some(n) => out.no_chunking(n).streaming(stream),
            None => out.streaming(stream),
        })
    }
}
