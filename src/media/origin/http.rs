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

/// Whether `url` (the template with a video id in it) is still where the template points:
/// the same text up to the id and as many path segments as the template has. Video ids are
/// never dot segments (`VideoId`), so this holds by construction; it is checked anyway,
/// because a URL that normalised to another folder would serve another title's files.
fn within_template(template: &str, url: &Url) -> bool {
    const PROBE: &str = "vgvideoidprobe";
    let Ok(probe) = Url::parse(&template.replace("{video_id}", PROBE)) else {
        return false;
    };
    let Some(at) = probe.as_str().find(PROBE) else {
        return false;
    };
    let segments = |u: &Url| u.path_segments().map(Iterator::count);
    url.as_str().starts_with(&probe.as_str()[..at]) && segments(url) == segments(&probe)
}

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
        if !within_template(&self.template, &entry_url) {
            tracing::warn!(video.id = %video.as_str(), "video id leaves the origin template's folder");
            return Err(UpstreamError::NotFound);
        }
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

#[cfg(test)]
mod tests {
    use super::within_template;
    use url::Url;

    #[test]
    fn a_url_that_normalised_out_of_the_template_is_refused() {
        let t = "https://origin.example/titles/{video_id}/master.m3u8";
        let ok = |u: &str| within_template(t, &Url::parse(u).unwrap());
        assert!(ok("https://origin.example/titles/film-1/master.m3u8"));
        // What `.` and `..` in the id turn into once parsed: one folder fewer, or another root.
        assert!(!ok("https://origin.example/titles/master.m3u8"));
        assert!(!ok("https://origin.example/master.m3u8"));
        assert!(!ok("https://elsewhere.example/titles/film-1/master.m3u8"));
        // An id in the host part: still the template's shape.
        let host = "https://{video_id}.cdn.example/hls/master.m3u8";
        assert!(within_template(
            host,
            &Url::parse("https://film-1.cdn.example/hls/master.m3u8").unwrap()
        ));
        assert!(!within_template(
            host,
            &Url::parse("https://film-1.cdn.example/master.m3u8").unwrap()
        ));
    }
}
