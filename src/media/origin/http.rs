//! A plain HLS origin over HTTP(S), named by a URL template such as
//! `https://origin.example/{video_id}/master.m3u8`. The video's asset base is the
//! template's folder; every request stays inside it.

use super::relay::{self, classify};
use super::{Source, UpstreamError};
use crate::domain::VideoId;
use crate::media::asset_path::AssetPath;
use crate::media::body::{Media, MediaRequest};
use std::time::Duration;
use url::Url;

#[derive(Clone)]
pub struct HttpOrigin {
    template: String,
    client: reqwest::Client,
    timeout: Duration,
}

impl HttpOrigin {
    pub fn new(template: &str, timeout: Duration) -> Result<Self, String> {
        Ok(Self {
            template: template.to_owned(),
            client: relay::media_client(timeout)?,
            timeout,
        })
    }

    pub fn open(&self, video: &VideoId) -> Result<Source, UpstreamError> {
        let entry_url = Url::parse(&self.template.replace("{video_id}", video.as_str()))
            .map_err(|e| UpstreamError::Unavailable(format!("origin template: {e}")))?;
        let asset_base = entry_url
            .join("./")
            .map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
        let entry = entry_url
            .path_segments()
            .and_then(|mut s| s.next_back())
            .unwrap_or("master.m3u8")
            .to_owned();
        Ok(Source { asset_base, entry })
    }

    fn url(source: &Source, path: &AssetPath) -> Result<Url, UpstreamError> {
        // AssetPath has no '..', '%' or ':', so the join cannot climb out of the base.
        source
            .asset_base
            .join(path.as_str())
            .map_err(|e| UpstreamError::Unavailable(e.to_string()))
    }

    async fn get(
        &self,
        url: Url,
        req: Option<&MediaRequest<'_>>,
    ) -> Result<reqwest::Response, UpstreamError> {
        let r = relay::forward_headers(self.client.get(url), req);
        // Bound the wait for the status line and headers; the body has its read timeout.
        let sent = tokio::time::timeout(self.timeout, r.send()).await;
        let label = match &sent {
            Ok(Ok(r)) => r.status().as_u16().to_string(),
            Ok(Err(e)) if !e.is_timeout() => "connection_error".into(),
            _ => "timeout".into(),
        };
        let endpoint = if req.is_some() { "media" } else { "playlist" };
        crate::metrics::METRICS
            .upstream_requests
            .with_label_values(&["http", endpoint, &label])
            .inc();
        let resp = sent
            .map_err(|_| UpstreamError::Timeout)?
            .map_err(classify)?;
        match resp.status().as_u16() {
            s if relay::relayable(s) => Ok(resp),
            404 | 410 => Err(UpstreamError::NotFound),
            s => Err(UpstreamError::Unavailable(format!("origin answered {s}"))),
        }
    }

    pub async fn playlist(
        &self,
        source: &Source,
        path: &AssetPath,
    ) -> Result<String, UpstreamError> {
        let resp = self.get(Self::url(source, path)?, None).await?;
        relay::read_playlist(resp, self.timeout).await
    }

    pub async fn media(
        &self,
        req: &MediaRequest<'_>,
        source: &Source,
        path: &AssetPath,
    ) -> Result<Media, UpstreamError> {
        let resp = self.get(Self::url(source, path)?, Some(req)).await?;
        Ok(relay::stream_media(resp, path))
    }
}
