//! Retries, back-off and the rate-limit gate, apart from `client` because the bearer's own
//! `/auth/*` calls need them too: the API gate is shared with `auth::Bearer`, so a 429 on a
//! token renewal holds back every other API call, and the other way round. Only `client`
//! and `auth` use this, and it uses neither.

use super::super::UpstreamError;
use std::time::{Duration, Instant};

/// Attempts after the first for idempotent requests.
const RETRIES: u32 = 2;

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
pub struct Attempts {
    retries: u32,
    waited_for_rate_limit: bool,
}

impl Attempts {
    /// Send once. `Ok(None)`: a retryable connection failure, already backed off.
    pub async fn send(
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
    pub fn rate_limited(
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

    pub async fn server_error(
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
