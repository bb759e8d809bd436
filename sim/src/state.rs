//! The sim's shared in-memory state and the request prologue (counters, faults, rate limit).

use std::sync::Mutex;

use actix_web::{HttpRequest, HttpResponse, ResponseError};
use chrono::{DateTime, Utc};

use crate::auth::{self, AuthStore};
use crate::calls::{self, Calls, Endpoint};
use crate::error::ApiError;
use crate::faults::{self, FaultAction, Faults};
use crate::rate_limit::{RateHeaders, RateLimiter};
use crate::upload_tokens::UploadTokenStore;
use crate::videos::VideoStore;
use crate::vod::VodStore;

/// Everything the handlers share. One per running sim.
#[derive(Debug)]
pub struct Sim {
    pub api_key: String,
    /// Base URL of the API itself (used in pagination links), without trailing slash.
    pub api_host: String,
    /// Base URL used in `hls`, `thumbnail`, `mp4` asset URLs.
    pub vod_host: String,
    /// Base URL used in `player` and `iframe` asset URLs.
    pub embed_host: String,
    pub access_token_ttl: chrono::Duration,
    pub session_ttl: chrono::Duration,
    pub rewrite_playlists: bool,
    clock_offset: Mutex<chrono::Duration>,
    pub calls: Calls,
    pub faults: Faults,
    pub rate: RateLimiter,
    pub auth: AuthStore,
    pub videos: VideoStore,
    pub vod: VodStore,
    pub upload_tokens: UploadTokenStore,
}

/// The outcome of the prologue for a request that goes on to be handled.
#[derive(Debug, Clone, Copy)]
pub struct Gate {
    rate: Option<RateHeaders>,
}

impl Gate {
    /// Turn a handler result into the response, adding the rate-limit headers.
    pub fn finish(self, result: Result<HttpResponse, ApiError>) -> HttpResponse {
        let mut resp = match result {
            Ok(r) => r,
            Err(e) => e.error_response(),
        };
        if let Some(h) = self.rate {
            h.apply(&mut resp);
        }
        resp
    }
}

impl Sim {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        api_key: String,
        api_host: String,
        vod_host: String,
        embed_host: String,
        access_token_ttl: chrono::Duration,
        session_ttl: chrono::Duration,
        rate_limit: u32,
        rewrite_playlists: bool,
        faults: Faults,
        videos: VideoStore,
    ) -> Self {
        Sim {
            api_key,
            api_host,
            vod_host,
            embed_host,
            access_token_ttl,
            session_ttl,
            rewrite_playlists,
            clock_offset: Mutex::new(chrono::Duration::zero()),
            calls: Calls::default(),
            faults,
            rate: RateLimiter::new(rate_limit),
            auth: AuthStore::default(),
            videos,
            vod: VodStore::default(),
            upload_tokens: UploadTokenStore::default(),
        }
    }

    /// The sim's clock: wall time plus any offset set through `/_sim/clock`.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + *self.clock_offset.lock().unwrap()
    }

    pub fn advance_clock(&self, by: chrono::Duration) {
        *self.clock_offset.lock().unwrap() += by;
    }

    pub fn clock_offset(&self) -> chrono::Duration {
        *self.clock_offset.lock().unwrap()
    }

    /// Count the call, apply faults and (for regular endpoints) the rate limit.
    /// `Err` is a finished response (fault, 429).
    pub async fn enter(&self, ep: Endpoint) -> Result<Gate, HttpResponse> {
        self.calls.hit(ep.name());
        let (latency, action) = self.faults.decide(ep);
        if !latency.is_zero() {
            self.calls.hit(calls::FAULT_DELAYED);
            tokio::time::sleep(latency).await;
        }
        match action {
            FaultAction::None => {}
            FaultAction::Drop => {
                self.calls.hit(calls::FAULT_DROPPED);
                return Err(faults::dropped_connection());
            }
            FaultAction::RateLimit => {
                self.calls.hit(calls::FAULT_RATE_LIMITED);
                let h = self.rate.exhausted(self.now());
                return Err(Gate { rate: Some(h) }.finish(Err(ApiError::too_many_requests())));
            }
            FaultAction::Error(status) => {
                self.calls.hit(calls::FAULT_ERRORS);
                let rate = ep
                    .is_rate_limited()
                    .then(|| self.rate.exhausted(self.now()));
                let rate = rate.map(|mut h| {
                    // An injected error does not spend the budget; report what is left.
                    h.remaining = self.rate.peek_remaining(self.now());
                    h
                });
                return Err(Gate { rate }.finish(Err(ApiError::server_error(status))));
            }
        }
        if !ep.is_rate_limited() {
            return Ok(Gate { rate: None });
        }
        match self.rate.check(self.now()) {
            Ok(h) => Ok(Gate { rate: Some(h) }),
            Err(h) => {
                self.calls.hit(calls::RATE_LIMITED);
                Err(Gate { rate: Some(h) }.finish(Err(ApiError::too_many_requests())))
            }
        }
    }

    /// Prologue plus API authentication, then the handler; for regular endpoints.
    pub async fn api(
        &self,
        req: &HttpRequest,
        ep: Endpoint,
        handler: impl FnOnce() -> Result<HttpResponse, ApiError>,
    ) -> HttpResponse {
        let gate = match self.enter(ep).await {
            Ok(g) => g,
            Err(resp) => return resp,
        };
        gate.finish(auth::authorize(self, req).and_then(|()| handler()))
    }

    /// Forget tokens, sessions, counters, faults and the rate window; keep videos.
    pub fn reset(&self) {
        self.calls.reset();
        self.faults.clear();
        self.rate.reset();
        self.auth.reset();
        self.vod.reset();
        *self.clock_offset.lock().unwrap() = chrono::Duration::zero();
    }
}
