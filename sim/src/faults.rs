//! Fault injection: latency, 5xx, 429 storms, dropped connections and forced session expiry.
//!
//! Rules come from [`crate::SimConfig::faults`] and from the admin endpoint `/_sim/faults`.
//! A rule applies to the endpoints named in `endpoints` (counter names such as `get_video`, or
//! the groups `auth`, `api`, `vod`); an empty list means every endpoint except `/_sim/*`.

use std::io;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::web::Bytes;
use serde::{Deserialize, Serialize};

use crate::calls::Endpoint;

/// One fault rule. Every field is optional in JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultRule {
    /// Endpoint names or groups (`auth`, `api`, `vod`) this rule applies to; empty = all.
    pub endpoints: Vec<String>,
    /// Added latency before the request is handled, in milliseconds.
    pub latency_ms: u64,
    /// Share (0..=1) of matching requests answered with a 5xx.
    pub error_rate: f64,
    /// The next N matching requests are answered with a 5xx.
    pub error_next: u64,
    /// Status used for injected errors (default 500).
    pub error_status: Option<u16>,
    /// The next N matching requests get a 429 (a "429 storm").
    pub rate_limit_next: u64,
    /// Share (0..=1) of matching requests answered with 429.
    pub rate_limit_rate: f64,
    /// The next N matching requests have their connection dropped without a response.
    pub drop_next: u64,
    /// Share (0..=1) of matching requests whose connection is dropped.
    pub drop_rate: f64,
    /// While set, every session token is treated as expired (vod requests that need one get 404).
    pub expire_sessions: bool,
}

impl FaultRule {
    fn matches(&self, ep: Endpoint) -> bool {
        self.endpoints.is_empty()
            || self
                .endpoints
                .iter()
                .any(|e| e == ep.name() || e == ep.group() || e == "*")
    }
}

/// What the fault layer decided for one request.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    None,
    Error(u16),
    RateLimit,
    Drop,
}

#[derive(Debug, Default)]
pub struct Faults(Mutex<Vec<FaultRule>>);

impl Faults {
    pub fn new(rules: Vec<FaultRule>) -> Self {
        Faults(Mutex::new(rules))
    }

    pub fn add(&self, rules: Vec<FaultRule>) {
        self.0.lock().unwrap().extend(rules);
    }

    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }

    pub fn rules(&self) -> Vec<FaultRule> {
        self.0.lock().unwrap().clone()
    }

    pub fn sessions_expired(&self, ep: Endpoint) -> bool {
        self.0
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.expire_sessions && r.matches(ep))
    }

    /// Decide latency and action for one request to `ep`; consumes "next N" budgets.
    pub fn decide(&self, ep: Endpoint) -> (Duration, FaultAction) {
        let mut rules = self.0.lock().unwrap();
        let mut latency = 0u64;
        let mut action = FaultAction::None;
        for rule in rules.iter_mut().filter(|r| r.matches(ep)) {
            latency = latency.max(rule.latency_ms);
            if action != FaultAction::None {
                continue;
            }
            if rule.drop_next > 0 {
                rule.drop_next -= 1;
                action = FaultAction::Drop;
            } else if rule.rate_limit_next > 0 {
                rule.rate_limit_next -= 1;
                action = FaultAction::RateLimit;
            } else if rule.error_next > 0 {
                rule.error_next -= 1;
                action = FaultAction::Error(rule.error_status.unwrap_or(500));
            } else if chance(rule.drop_rate) {
                action = FaultAction::Drop;
            } else if chance(rule.rate_limit_rate) {
                action = FaultAction::RateLimit;
            } else if chance(rule.error_rate) {
                action = FaultAction::Error(rule.error_status.unwrap_or(500));
            }
        }
        (Duration::from_millis(latency), action)
    }
}

fn chance(p: f64) -> bool {
    p > 0.0 && (p >= 1.0 || rand::random_bool(p))
}

/// A response whose body fails before anything is written: actix-web then closes the TCP
/// connection without sending a status line, so the client sees the connection closed
/// with no response (hyper/reqwest: "connection closed before message completed").
pub fn dropped_connection() -> HttpResponse {
    let body = futures_util::stream::once(async {
        Err::<Bytes, io::Error>(io::Error::other(
            "apivideo-sim: injected dropped connection",
        ))
    });
    HttpResponse::Ok().streaming(body)
}

/// Parse a fault payload: a single rule object or an array of rules.
pub fn parse_rules(text: &str) -> Result<Vec<FaultRule>, serde_json::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<FaultRule>),
        One(FaultRule),
    }
    Ok(match serde_json::from_str::<OneOrMany>(text)? {
        OneOrMany::Many(v) => v,
        OneOrMany::One(r) => vec![r],
    })
}
