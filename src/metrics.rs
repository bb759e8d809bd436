//! Prometheus metrics, served at `/metrics` on `VODGATE_METRICS_LISTEN`, never on the public
//! port. Counters are process-wide statics so any module can count without plumbing.

use prometheus::{Encoder, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
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
    pub overloaded: IntCounter,
    active_playbacks: IntGauge,
}

/// A playback counts as active while it fetched a segment within this window.
const ACTIVE_WINDOW: Duration = Duration::from_secs(60);
/// Past this many playbacks in one thread's map, the ones outside the window are dropped
/// (`render` drops them too; this only bounds a map nobody scrapes).
const SEEN_PRUNE_AT: usize = 200_000;

/// The playbacks one thread served a segment to, and when it last did.
type Seen = Arc<Mutex<HashMap<Box<str>, Instant>>>;

/// Every thread's map, for `render`. Locked only when a thread first counts a playback and
/// when `/metrics` is scraped.
static SEEN_BY_THREAD: Mutex<Vec<Seen>> = Mutex::new(Vec::new());

thread_local! {
    /// Per thread, not one map for the process: `playback_seen` runs on every segment, and one
    /// shared map made every worker take the same lock (and allocate the id) per segment. A
    /// worker now locks only its own map, which nothing else locks but a scrape, and allocates
    /// only the first time it sees a playback. `render` takes the union of the maps, so a
    /// playback served by two workers still counts once.
    static SEEN: Seen = {
        let seen = Seen::default();
        SEEN_BY_THREAD
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(seen.clone());
        seen
    };
}

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
    let overloaded = IntCounter::new(
        "vodgate_overloaded_refusals_total",
        "Requests refused with 503 overloaded because VODGATE_MAX_IN_FLIGHT were in progress",
    )
    .expect("valid metric");
    registry
        .register(Box::new(overloaded.clone()))
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
        overloaded,
        registry,
    }
});

impl Metrics {
    /// This playback fetched a segment now (for `vodgate_active_playbacks`).
    pub fn playback_seen(&self, playback: &str) {
        let now = Instant::now();
        SEEN.with(|seen| {
            let mut m = seen.lock().unwrap_or_else(PoisonError::into_inner);
            // Looked up by the borrowed id: the id is copied only the first time.
            if let Some(at) = m.get_mut(playback) {
                *at = now;
                return;
            }
            m.insert(playback.into(), now);
            if m.len() > SEEN_PRUNE_AT {
                m.retain(|_, t| t.elapsed() < ACTIVE_WINDOW);
            }
        });
    }

    /// Playbacks that fetched a segment from any thread within `ACTIVE_WINDOW`; forgets the
    /// others, and the maps of threads that ended once they hold nothing recent.
    fn count_active(&self) -> usize {
        let mut threads = SEEN_BY_THREAD
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut maps = Vec::with_capacity(threads.len());
        threads.retain(|seen| {
            let mut m = seen.lock().unwrap_or_else(PoisonError::into_inner);
            m.retain(|_, t| t.elapsed() < ACTIVE_WINDOW);
            // Only this list holds it: its thread is gone.
            let alive = Arc::strong_count(seen) > 1 || !m.is_empty();
            if alive && !m.is_empty() {
                maps.push(m.keys().cloned().collect::<Vec<_>>());
            }
            alive
        });
        drop(threads);
        match maps.as_slice() {
            [] => 0,
            [one] => one.len(),
            _ => maps.iter().flatten().collect::<HashSet<_>>().len(),
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        self.active_playbacks
            .set(i64::try_from(self.count_active()).unwrap_or(i64::MAX));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_playback_served_by_two_threads_counts_once() {
        // Ids of this test only: other tests in this process count playbacks too.
        let ids = [
            "pb_metrics_test_a",
            "pb_metrics_test_b",
            "pb_metrics_test_c",
        ];
        let count = || {
            SEEN_BY_THREAD
                .lock()
                .unwrap()
                .iter()
                .flat_map(|s| s.lock().unwrap().keys().cloned().collect::<Vec<_>>())
                .filter(|k| ids.contains(&&**k))
                .collect::<HashSet<_>>()
                .len()
        };
        METRICS.playback_seen(ids[0]);
        METRICS.playback_seen(ids[1]);
        std::thread::spawn(move || {
            METRICS.playback_seen(ids[1]);
            METRICS.playback_seen(ids[2]);
        })
        .join()
        .unwrap();
        assert_eq!(count(), 3);
        // The ended thread's map is kept while it holds recent playbacks.
        let _ = METRICS.render();
        assert_eq!(count(), 3);
        assert!(METRICS.count_active() >= 3);
    }
}
