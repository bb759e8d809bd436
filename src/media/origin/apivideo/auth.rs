//! The api.video bearer: the workspace API key exchanged at `POST /auth/api-key` for a
//! 1 h access token, renewed at 80 % of its life with `POST /auth/refresh` (falling back to
//! `/auth/api-key` when the refresh token is refused), one renewal in flight at a time.
//!
//! Single flight: the fast path reads the current token under a std `RwLock`; a stale or
//! missing token takes an async `Mutex` and re-checks under it, so 100 concurrent first
//! requests make exactly one `/auth/api-key` call and the other 99 wait for its answer.
//! A 401 elsewhere calls `invalidate(token)`, which drops that token (only if it is still
//! the current one, so a burst of 401s causes one renewal, not one per request).
//!
//! Secrets (the API key, access and refresh tokens) are `SecretString`s: never logged,
//! masked in Debug, and never part of an error message.

use super::super::UpstreamError;
use super::retry::{RateGate, backoff, retry_after};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use url::Url;

/// Renew once this share of the token's life has passed.
const RENEW_AT: f64 = 0.8;
/// Attempts after the first on 5xx or connection errors.
const RETRIES: u32 = 2;
/// How long a readiness answer is reused.
const READY_CACHE: Duration = Duration::from_secs(5);

pub struct AccessToken {
    secret: SecretString,
    obtained: Instant,
    lifetime: Duration,
}

impl AccessToken {
    pub fn expose(&self) -> &str {
        self.secret.expose_secret()
    }
    fn fresh(&self) -> bool {
        self.obtained.elapsed() < self.lifetime.mul_f64(RENEW_AT)
    }
    fn valid(&self) -> bool {
        self.obtained.elapsed() < self.lifetime
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &"[REDACTED]")
            .field("lifetime", &self.lifetime)
            .finish()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    token_type: Option<String>,
}

/// Why a renewal call failed: the refresh token was refused (fall back to the API key) or
/// something else.
enum AuthCallError {
    Refused,
    Other(UpstreamError),
}

pub struct Bearer {
    http: reqwest::Client,
    base: Url,
    api_key: SecretString,
    timeout: Duration,
    gate: Arc<RateGate>,
    current: RwLock<Option<Arc<AccessToken>>>,
    /// The single-flight guard; it holds the newest refresh token.
    renewing: tokio::sync::Mutex<Option<SecretString>>,
    ready: std::sync::Mutex<Option<(Instant, Result<(), String>)>>,
}

impl Bearer {
    pub fn new(
        http: reqwest::Client,
        base: Url,
        api_key: SecretString,
        timeout: Duration,
        gate: Arc<RateGate>,
    ) -> Self {
        Self {
            http,
            base,
            api_key,
            timeout,
            gate,
            current: RwLock::new(None),
            renewing: tokio::sync::Mutex::new(None),
            ready: std::sync::Mutex::new(None),
        }
    }

    fn current(&self) -> Option<Arc<AccessToken>> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A usable access token, renewing it first when 80 % of its life has passed.
    pub async fn get(&self) -> Result<Arc<AccessToken>, UpstreamError> {
        if let Some(t) = self.current().filter(|t| t.fresh()) {
            return Ok(t);
        }
        let mut refresh = self.renewing.lock().await;
        // Someone else may have renewed while we waited for the guard.
        let current = self.current();
        if let Some(t) = current.as_ref().filter(|t| t.fresh()) {
            return Ok(t.clone());
        }
        let answer = match refresh.take() {
            Some(rt) => match self
                .call(
                    "auth/refresh",
                    serde_json::json!({"refreshToken": rt.expose_secret()}),
                )
                .await
            {
                Ok(a) => Ok(a),
                Err(AuthCallError::Refused) => {
                    tracing::info!(
                        "api.video refused the refresh token; exchanging the API key again"
                    );
                    self.exchange_key().await
                }
                Err(AuthCallError::Other(e)) => {
                    tracing::warn!(error = %e, "api.video token refresh failed; exchanging the API key again");
                    self.exchange_key().await
                }
            },
            None => self.exchange_key().await,
        };
        match answer {
            Ok(a) => {
                if !a
                    .token_type
                    .as_deref()
                    .unwrap_or("bearer")
                    .eq_ignore_ascii_case("bearer")
                {
                    tracing::warn!(
                        "api.video answered a token type other than Bearer; using it as a bearer anyway"
                    );
                }
                let lifetime =
                    Duration::from_secs(a.expires_in.unwrap_or(3600).clamp(1, 24 * 3600));
                *refresh = a.refresh_token.map(SecretString::from);
                let token = Arc::new(AccessToken {
                    secret: SecretString::from(a.access_token),
                    obtained: Instant::now(),
                    lifetime,
                });
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(token.clone());
                tracing::debug!(
                    lifetime_s = lifetime.as_secs(),
                    "api.video access token renewed"
                );
                Ok(token)
            }
            // A failed renewal does not throw away a token that still works.
            Err(e) => match current.filter(|t| t.valid()) {
                Some(t) => {
                    tracing::warn!(error = %e, "api.video token renewal failed; the current token is still valid");
                    Ok(t)
                }
                None => Err(e),
            },
        }
    }

    /// api.video answered 401 to `stale`: drop it, so the next `get` renews (through the
    /// refresh token). A token renewed by someone else in the meantime is kept.
    pub fn invalidate(&self, stale: &AccessToken) {
        let mut cur = self.current.write().unwrap_or_else(|p| p.into_inner());
        if cur
            .as_ref()
            .is_some_and(|c| std::ptr::eq(c.as_ref(), stale))
        {
            *cur = None;
        }
    }

    /// For readiness: can a bearer be obtained? The answer is reused for a few seconds.
    pub async fn check(&self) -> Result<(), String> {
        if let Some((at, r)) = self
            .ready
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            && at.elapsed() < READY_CACHE
        {
            return r.clone();
        }
        let r = self.get().await.map(|_| ()).map_err(|e| e.to_string());
        *self.ready.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), r.clone()));
        r
    }

    async fn exchange_key(&self) -> Result<TokenAnswer, UpstreamError> {
        match self
            .call(
                "auth/api-key",
                serde_json::json!({"apiKey": self.api_key.expose_secret()}),
            )
            .await
        {
            Ok(a) => Ok(a),
            Err(AuthCallError::Refused) => Err(UpstreamError::AuthFailed(
                "api.video refused the API key (check APIVIDEO_API_KEY and APIVIDEO_BASE_URL)"
                    .into(),
            )),
            Err(AuthCallError::Other(e)) => Err(e),
        }
    }

    /// One `/auth/*` call with bounded time, retries on 5xx and connection errors (minting
    /// a token twice is harmless), and 429 handled through the shared back-off gate.
    async fn call(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> Result<TokenAnswer, AuthCallError> {
        let url = self
            .base
            .join(path)
            .map_err(|e| AuthCallError::Other(UpstreamError::Unavailable(e.to_string())))?;
        let mut attempt = 0;
        let mut waited = false;
        loop {
            self.gate.pass().await.map_err(AuthCallError::Other)?;
            let sent =
                tokio::time::timeout(self.timeout, self.http.post(url.clone()).json(&body).send())
                    .await;
            let label = match &sent {
                Ok(Ok(r)) => r.status().as_u16().to_string(),
                Ok(Err(e)) if !e.is_timeout() => "connection_error".into(),
                _ => "timeout".into(),
            };
            let endpoint = if path.contains("refresh") {
                "auth_refresh"
            } else {
                "auth_api_key"
            };
            crate::metrics::METRICS
                .upstream_requests
                .with_label_values(&["apivideo", endpoint, &label])
                .inc();
            let outcome = if label.starts_with('2') {
                "ok"
            } else {
                "failed"
            };
            crate::metrics::METRICS
                .token_renewals
                .with_label_values(&[endpoint, outcome])
                .inc();
            let resp = match sent {
                Err(_) => return Err(AuthCallError::Other(UpstreamError::Timeout)),
                Ok(Err(e)) if e.is_timeout() => {
                    return Err(AuthCallError::Other(UpstreamError::Timeout));
                }
                Ok(Err(e)) => {
                    if attempt < RETRIES {
                        attempt += 1;
                        backoff(attempt).await;
                        continue;
                    }
                    return Err(AuthCallError::Other(UpstreamError::Unavailable(format!(
                        "api.video {path}: {}",
                        e.without_url()
                    ))));
                }
                Ok(Ok(r)) => r,
            };
            let status = resp.status().as_u16();
            match status {
                200..=299 => {
                    let read = tokio::time::timeout(self.timeout, resp.json::<TokenAnswer>()).await;
                    return match read {
                        Err(_) => Err(AuthCallError::Other(UpstreamError::Timeout)),
                        Ok(Err(_)) => Err(AuthCallError::Other(UpstreamError::Invalid(format!(
                            "api.video {path} answered an unreadable token"
                        )))),
                        Ok(Ok(a)) => Ok(a),
                    };
                }
                // api.video answers a wrong key with 400 and an unknown refresh token with 401.
                400 | 401 | 403 => return Err(AuthCallError::Refused),
                429 => {
                    let wait = retry_after(&resp);
                    self.gate.close(wait);
                    if !waited && wait <= self.gate.max_wait() {
                        waited = true;
                        continue;
                    }
                    return Err(AuthCallError::Other(UpstreamError::RateLimited {
                        retry_after_s: wait.as_secs().max(1),
                    }));
                }
                s if s >= 500 && attempt < RETRIES => {
                    attempt += 1;
                    backoff(attempt).await;
                }
                s => {
                    return Err(AuthCallError::Other(UpstreamError::Unavailable(format!(
                        "api.video {path} answered {s}"
                    ))));
                }
            }
        }
    }
}
