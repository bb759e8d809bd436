//! Calls to api.video with the rules every call follows:
//! - each attempt is bounded by `upstream_timeout` (status line and headers);
//! - idempotent GETs are retried twice, with jittered back-off, on 5xx and connection
//!   errors only (never on a timeout: a slow upstream is not helped by more load);
//! - API calls carry the bearer and re-authenticate once on 401;
//! - a 429 closes a back-off gate until `X-RateLimit-Retry-After` has passed: calls wait
//!   for it when that is short, and fail fast with `RateLimited` (503 + Retry-After for the
//!   client) when it is not;
//! - error values never carry URLs (they hold private and session tokens).

use super::super::UpstreamError;
use super::auth::Bearer;
use super::retry::{Attempts, RateGate, Retry};
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// The session header of api.video's delivery side.
pub const SESSION_HEADER: &str = "X-Token-Session";

pub struct Client {
    pub http: reqwest::Client,
    pub base: Url,
    pub timeout: Duration,
    pub bearer: Bearer,
    api_gate: Arc<RateGate>,
    vod_gate: RateGate,
}

impl Client {
    pub fn new(base: Url, api_key: SecretString, timeout: Duration) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .read_timeout(timeout)
            // Asset URLs are taken as returned; a redirect could leave them.
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("vodgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let max_wait = timeout.min(Duration::from_secs(2));
        let api_gate = Arc::new(RateGate::new(max_wait));
        let bearer = Bearer::new(
            http.clone(),
            base.clone(),
            api_key,
            timeout,
            api_gate.clone(),
        );
        Ok(Self {
            http,
            base,
            timeout,
            bearer,
            api_gate,
            vod_gate: RateGate::new(max_wait),
        })
    }

    /// A call to the API (`ws.api.video`) with the bearer. Answers other than 401, 429 and
    /// (retried) 5xx are returned for the caller to interpret.
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
        retry: Retry,
    ) -> Result<reqwest::Response, UpstreamError> {
        let url = self
            .base
            .join(path)
            .map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
        // For logs and errors: upload tokens in paths are credentials of their own.
        let shown = match url.path().split_once("/upload-tokens/") {
            Some((before, _)) => format!("{before}/upload-tokens/{{token}}"),
            None => url.path().to_owned(),
        };
        let what = format!("{method} {shown}");
        let mut reauthed = false;
        let mut state = Attempts::default();
        loop {
            self.api_gate.pass().await?;
            let token = self.bearer.get().await?;
            let mut r = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(token.expose());
            if let Some(b) = body {
                r = r.json(b);
            }
            let resp = match state.send(r, self.timeout, retry, &what).await? {
                Some(resp) => resp,
                None => continue,
            };
            match resp.status().as_u16() {
                401 if !reauthed => {
                    // Expired early, revoked, or the clock drifted: renew once and retry.
                    tracing::info!(call = %what, "api.video answered 401; renewing the access token");
                    self.bearer.invalidate(&token);
                    reauthed = true;
                }
                401 | 403 => {
                    return Err(UpstreamError::AuthFailed(format!(
                        "api.video refused {what} with a fresh token"
                    )));
                }
                429 => state.rate_limited(&resp, &self.api_gate)?,
                s if s >= 500 => state.server_error(s, retry, &what).await?,
                _ => return Ok(resp),
            }
        }
    }

    /// A request to the delivery side (`vod.api.video`). The session token goes both as
    /// `avh` and as `X-Token-Session`. `forward` copies the viewer's Range headers.
    pub async fn vod(
        &self,
        url: &Url,
        session: Option<&str>,
        forward: Option<&crate::media::body::MediaRequest<'_>>,
        retry: Retry,
    ) -> Result<reqwest::Response, UpstreamError> {
        let mut url = url.clone();
        if let Some(s) = session {
            url.query_pairs_mut().append_pair("avh", s);
        }
        let what = "a vod request".to_owned();
        let mut state = Attempts::default();
        loop {
            self.vod_gate.pass().await?;
            let mut r = self.http.get(url.clone());
            if let Some(s) = session {
                r = r.header(SESSION_HEADER, s);
            }
            let r = crate::media::origin::relay::forward_headers(r, forward);
            let resp = match state.send(r, self.timeout, retry, &what).await? {
                Some(resp) => resp,
                None => continue,
            };
            match resp.status().as_u16() {
                429 => state.rate_limited(&resp, &self.vod_gate)?,
                s if s >= 500 => state.server_error(s, retry, &what).await?,
                _ => return Ok(resp),
            }
        }
    }
}
