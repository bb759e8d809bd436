//! api.video's per-minute rate limit with `X-RateLimit-*` headers on regular endpoints.

use std::sync::Mutex;

use actix_web::HttpResponseBuilder;
use actix_web::http::header::{HeaderName, HeaderValue};
use chrono::{DateTime, Utc};

pub const LIMIT: &str = "X-RateLimit-Limit";
pub const REMAINING: &str = "X-RateLimit-Remaining";
pub const RETRY_AFTER: &str = "X-RateLimit-Retry-After";

/// The values sent in the three headers for one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateHeaders {
    pub limit: u32,
    pub remaining: u32,
    pub retry_after: i64,
}

impl RateHeaders {
    pub fn apply(&self, resp: &mut actix_web::HttpResponse) {
        let h = resp.headers_mut();
        for (name, value) in self.pairs() {
            h.insert(HeaderName::from_static(name), HeaderValue::from(value));
        }
    }

    pub fn apply_builder(&self, b: &mut HttpResponseBuilder) {
        for (name, value) in self.pairs() {
            b.insert_header((name, value));
        }
    }

    fn pairs(&self) -> [(&'static str, i64); 3] {
        [
            ("x-ratelimit-limit", self.limit as i64),
            ("x-ratelimit-remaining", self.remaining as i64),
            ("x-ratelimit-retry-after", self.retry_after),
        ]
    }
}

/// A fixed one-minute window shared by every regular endpoint (one API key per sim).
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    window: Mutex<(Option<DateTime<Utc>>, u32)>,
}

impl RateLimiter {
    pub fn new(limit: u32) -> Self {
        RateLimiter {
            limit,
            window: Mutex::new((None, 0)),
        }
    }

    /// Count one request. `Ok` when allowed, `Err` when over the limit; both carry headers.
    pub fn check(&self, now: DateTime<Utc>) -> Result<RateHeaders, RateHeaders> {
        let mut w = self.window.lock().unwrap();
        let start = match w.0 {
            Some(start) if now < start + chrono::Duration::seconds(60) => start,
            _ => {
                *w = (Some(now), 0);
                now
            }
        };
        let retry_after = ((start + chrono::Duration::seconds(60)) - now).num_milliseconds();
        let retry_after = (retry_after + 999) / 1000;
        if w.1 >= self.limit {
            return Err(RateHeaders {
                limit: self.limit,
                remaining: 0,
                retry_after,
            });
        }
        w.1 += 1;
        Ok(RateHeaders {
            limit: self.limit,
            remaining: self.limit - w.1,
            retry_after,
        })
    }

    /// Headers for an injected 429 (does not count the request).
    pub fn exhausted(&self, now: DateTime<Utc>) -> RateHeaders {
        let w = self.window.lock().unwrap();
        let retry_after = match w.0 {
            Some(start) if now < start + chrono::Duration::seconds(60) => {
                ((start + chrono::Duration::seconds(60) - now).num_milliseconds() + 999) / 1000
            }
            _ => 60,
        };
        RateHeaders {
            limit: self.limit,
            remaining: 0,
            retry_after,
        }
    }

    pub fn reset(&self) {
        *self.window.lock().unwrap() = (None, 0);
    }
}

impl RateLimiter {
    /// Requests left in the current window, without counting one.
    pub fn peek_remaining(&self, now: DateTime<Utc>) -> u32 {
        let w = self.window.lock().unwrap();
        match w.0 {
            Some(start) if now < start + chrono::Duration::seconds(60) => {
                self.limit.saturating_sub(w.1)
            }
            _ => self.limit,
        }
    }
}
