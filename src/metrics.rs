//! Prometheus metrics, served at `/metrics` on `VODGATE_METRICS_LISTEN`, never on the public
//! port. Counters are process-wide statics so any module can count without plumbing.

use prometheus::{Encoder, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub access_decisions: IntCounterVec,
    pub upstream_requests: IntCounterVec,
    pub token_renewals: IntCounterVec,
    pub cache_lookups: IntCounterVec,
    pub cache_evictions: IntCounterVec,
    pub revocation_events: IntCounterVec,
    active_playbacks: IntGauge,
    recent_playbacks: Mutex<HashMap<String, Instant>>,
}

/// A playback counts as active while it fetched a segment within this window.
const ACTIVE_WINDOW: Duration = Duration::from_secs(60);

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("unique metric");
    c
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let registry = Registry::new();
    let active_playbacks = IntGauge::new(
        "vodgate_active_playbacks",
        "Playbacks that fetched a segment from this instance in the last minute",
    )
    .expect("valid metric");
    registry
        .register(Box::new(active_playbacks.clone()))
        .expect("unique metric");
    Metrics {
        http_requests: counter(
            &registry,
            "vodgate_http_requests_total",
            "HTTP requests by route pattern, method and status",
            &["route", "method", "status"],
        ),
        access_decisions: counter(
            &registry,
            "vodgate_access_decisions_total",
            "Playback access decisions by outcome (allowed or the deny reason)",
            &["outcome"],
        ),
        upstream_requests: counter(
            &registry,
            "vodgate_upstream_requests_total",
            "Requests to the video origin by endpoint and status",
            &["origin", "endpoint", "status"],
        ),
        token_renewals: counter(
            &registry,
            "vodgate_upstream_token_renewals_total",
            "Upstream bearer renewals by kind and result",
            &["kind", "result"],
        ),
        cache_lookups: counter(
            &registry,
            "vodgate_cache_lookups_total",
            "Access cache lookups by cache and result",
            &["cache", "result"],
        ),
        cache_evictions: counter(
            &registry,
            "vodgate_cache_evictions_total",
            "Access cache evictions by cause",
            &["cause"],
        ),
        revocation_events: counter(
            &registry,
            "vodgate_revocation_events_total",
            "Revocation bus events received by kind",
            &["kind"],
        ),
        active_playbacks,
        recent_playbacks: Mutex::default(),
        registry,
    }
});

impl Metrics {
    pub fn playback_seen(&self, playback: &str) {
        let mut m = self
            .recent_playbacks
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        m.insert(playback.to_owned(), Instant::now());
        if m.len() > 200_000 {
            m.retain(|_, t| t.elapsed() < ACTIVE_WINDOW);
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        {
            let mut m = self
                .recent_playbacks
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            m.retain(|_, t| t.elapsed() < ACTIVE_WINDOW);
            self.active_playbacks
                .set(i64::try_from(m.len()).unwrap_or(i64::MAX));
        }
        let mut buf = vec![];
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// The metrics app: `/metrics` only.
pub fn config(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.route(
        "/metrics",
        actix_web::web::get().to(|| async {
            actix_web::HttpResponse::Ok()
                .content_type("text/plain; version=0.0.4; charset=utf-8")
                .body(METRICS.render())
        }),
    );
}
