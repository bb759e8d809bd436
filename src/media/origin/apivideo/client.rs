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
use secrecy::SecretString;
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

/// Attempts after the first for idempotent requests.
const RETRIES: u32 = 2;
/// The session header of api.video's delivery side.
pub const SESSION_HEADER: &str = "X-Token-Session";

/// Back off before retry `attempt` (1-based): 100 ms, 200 ms, … plus up to 100 ms jitter.
pub async fn backoff(attempt: u32) {
    let base = 100u64 << attempt.saturating_sub(1).min(5);
    tokio::time::sleep(Duration::from_millis(base + rand::random_range(0..100u64))).await;
}

/// `X-RateLimit-Retry-After` (api.video), else `Retry-After`, else one second.
pub fn retry_after(resp: &reqwest::Response) -> Duration {
    ["x-ratelimit-retry-after", "retry-after"]
        .iter()
        .find_map(|h| {
            resp.headers()
                .get(*h)?
                .to_str()
                .ok()?
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map(|s| Duration::from_secs(s.clamp(1, 3600)))
        .unwrap_or(Duration::from_secs(1))
}

/// "Do not call before": shared by every call to one side of api.video.
pub struct RateGate {
    until: std::sync::Mutex<Option<Instant>>,
    max_wait: Duration,
}

impl RateGate {
    pub fn new(max_wait: Duration) -> Self {
        Self {
            until: std::sync::Mutex::new(None),
            max_wait,
        }
    }

    /// The longest a request waits for the gate instead of failing.
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }

    pub fn close(&self, for_: Duration) {
        let mut u = self.until.lock().unwrap_or_else(|p| p.into_inner());
        let new = Instant::now() + for_;
        if u.is_none_or(|old| old < new) {
            *u = Some(new);
        }
    }

    /// Wait for the gate when it opens soon enough; otherwise say when to come back.
    pub async fn pass(&self) -> Result<(), UpstreamError> {
        let until = *self.until.lock().unwrap_or_else(|p| p.into_inner());
        let Some(until) = until else { return Ok(()) };
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        if left <= self.max_wait {
            tokio::time::sleep(left).await;
            return Ok(());
        }
        Err(UpstreamError::RateLimited {
            retry_after_s: left.as_secs_f64().ceil() as u64,
        })
    }
}

/// Which requests may be sent again after a failure.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Safe to repeat: 5xx and connection errors are retried.
    Idempotent,
    /// Not safe to repeat once the upstream may have seen it (a `/session` call consumes
    /// the private token; a POST creates something): only a refused connection is retried.
    ConnectOnly,
}

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

/// A low-cardinality name for a call (its `what` holds ids).
fn endpoint_label(what: &str) -> &'static str {
    if what.contains("/upload-tokens") {
        "upload_tokens"
    } else if what.ends_with("/status") {
        "video_status"
    } else if what.contains("/videos") {
        "videos"
    } else {
        "vod"
    }
}

/// The retry bookkeeping of one logical call.
#[derive(Default)]
struct Attempts {
    retries: u32,
    waited_for_rate_limit: bool,
}

impl Attempts {
    /// Send once. `Ok(None)`: a retryable connection failure, already backed off.
    async fn send(
        &mut self,
        r: reqwest::RequestBuilder,
        timeout: Duration,
        retry: Retry,
        what: &str,
    ) -> Result<Option<reqwest::Response>, UpstreamError> {
        let sent = tokio::time::timeout(timeout, r.send()).await;
        let status = match &sent {
            Ok(Ok(resp)) => resp.status().as_u16().to_string(),
            Ok(Err(e)) if e.is_timeout() => "timeout".into(),
            Err(_) => "timeout".into(),
            Ok(Err(_)) => "connection_error".into(),
        };
        crate::metrics::METRICS
            .upstream_requests
            .with_label_values(&["apivideo", endpoint_label(what), &status])
            .inc();
        match sent {
            Err(_) => Err(UpstreamError::Timeout),
            Ok(Err(e)) if e.is_timeout() => Err(UpstreamError::Timeout),
            Ok(Err(e)) => {
                let retryable = match retry {
                    Retry::Idempotent => true,
                    Retry::ConnectOnly => e.is_connect(),
                };
                if retryable && self.retries < RETRIES {
                    self.retries += 1;
                    tracing::info!(call = %what, attempt = self.retries, "api.video connection failed; retrying");
                    backoff(self.retries).await;
                    return Ok(None);
                }
                // `without_url`: the URL may hold a private or session token.
                Err(UpstreamError::Unavailable(format!(
                    "api.video {what}: {}",
                    e.without_url()
                )))
            }
            Ok(Ok(resp)) => Ok(Some(resp)),
        }
    }

    /// A 429: close the gate; go round again (waiting at the gate) once when the wait is
    /// short, else fail with when to come back.
    fn rate_limited(
        &mut self,
        resp: &reqwest::Response,
        gate: &RateGate,
    ) -> Result<(), UpstreamError> {
        let wait = retry_after(resp);
        gate.close(wait);
        tracing::warn!(
            retry_after_s = wait.as_secs(),
            "api.video rate limit reached; backing off"
        );
        if !self.waited_for_rate_limit && wait <= gate.max_wait() {
            self.waited_for_rate_limit = true;
            return Ok(());
        }
        Err(UpstreamError::RateLimited {
            retry_after_s: wait.as_secs().max(1),
        })
    }

    async fn server_error(
        &mut self,
        status: u16,
        retry: Retry,
        what: &str,
    ) -> Result<(), UpstreamError> {
        if retry == Retry::Idempotent && self.retries < RETRIES {
            self.retries += 1;
            tracing::info!(call = %what, status, attempt = self.retries, "api.video failed; retrying");
            backoff(self.retries).await;
            return Ok(());
        }
        Err(UpstreamError::Unavailable(format!(
            "api.video answered {status} to {what}"
        )))
    }
}
