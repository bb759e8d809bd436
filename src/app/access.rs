//! The one decision every playback request goes through: may this request of this
//! playback proceed? `decide` is pure (tested with fixtures); `Access::check` gathers the
//! facts, from a short-lived per-instance cache that revocation events evict at once.
//!
//! Caching rules (what must stay true):
//! - a revocation event for an entitlement evicts it before the next request decides;
//! - a `Resync` (the bus reconnected, events may be lost) drops everything;
//! - no cached entitlement is trusted for longer than `ENTITLEMENT_TTL`, even if every
//!   event was lost;
//! - a fetch that raced an eviction is not cached (generation check).
//!
//! Hand-written rather than a TTL cache crate (`moka`, `quick_cache`): the entries need a
//! `trusted` flag that a bus reconnect clears without dropping them (the outage grace reads
//! them while the store is away) and a generation check that refuses an insert which raced
//! an eviction; with a crate both would sit beside it, and its eviction policy would add
//! nothing to "at most 2 s, cleared past 100,000 entries".

use crate::app::entitlements::{EntitlementRecord, Entitlements};
use crate::domain::{DenyReason, EntitlementId, Playback, PlaybackId};
use crate::metrics::METRICS;
use crate::store::{Event, Heard, Store, StoreError, keys};
use crate::token::{TokenHash, constant_time_eq};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Longest time an instance trusts a cached entitlement without asking the store.
pub const ENTITLEMENT_TTL: Duration = Duration::from_secs(2);
/// A playback changes once, when an operator stops it (evicted by the stop event); as with
/// entitlements, a lost event must not let a stopped playback run for more than seconds.
const PLAYBACK_TTL: Duration = ENTITLEMENT_TTL;
/// How long a playback record outlives its entitlement's window: as long as the viewer's
/// session does.
const PLAYBACK_GRACE: Duration = crate::app::viewer_session::AFTER_THE_END;
/// Past this many entries a cache is simply cleared: cheap, and correct by construction.
const MAX_ENTRIES: usize = 100_000;

/// The decision itself. Order matters only for which reason a viewer sees first: a
/// stranger learns nothing about the entitlement's state.
pub fn decide(
    now: DateTime<Utc>,
    playback: &Playback,
    record: Option<&EntitlementRecord>,
    presented_sessions: &[TokenHash],
) -> Result<(), DenyReason> {
    let session_ok = presented_sessions
        .iter()
        .any(|h| constant_time_eq(h.as_str().as_bytes(), playback.session_hash.as_bytes()));
    if !session_ok {
        return Err(DenyReason::SessionMismatch);
    }
    let Some(record) = record else {
        return Err(DenyReason::UnknownEntitlement);
    };
    if record.entitlement.id != playback.entitlement_id {
        return Err(DenyReason::UnknownEntitlement);
    }
    if let Some(reason) = DenyReason::from_status(record.status(now)) {
        return Err(reason);
    }
    if playback.stopped_at.is_some() {
        return Err(DenyReason::PlaybackStopped);
    }
    Ok(())
}

struct Cached<T> {
    at: Instant,
    /// False once the revocation bus broke: the entry may have missed an event, so it is no
    /// longer a cache hit, only a fallback while the store is unreachable (outage grace).
    trusted: bool,
    value: Option<Arc<T>>,
}

impl<T> Cached<T> {
    fn fresh(&self, ttl: Duration) -> bool {
        self.trusted && self.at.elapsed() < ttl
    }
}

/// Access checks with this instance's cache.
#[derive(Clone)]
pub struct Access {
    store: Store,
    entitlements: Entitlements,
    inner: Arc<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    /// `VODGATE_STORE_OUTAGE_GRACE_S`: while the store is unreachable, decisions fetched at
    /// most this long ago still stand. Zero (the default): fail closed at once.
    outage_grace: Duration,
    entitlements: RwLock<HashMap<EntitlementId, Cached<EntitlementRecord>>>,
    playbacks: RwLock<HashMap<PlaybackId, Cached<Playback>>>,
    /// Bumped on every eviction; a fetch that started before a bump must not be cached.
    generation: AtomicU64,
}

impl CacheInner {
    /// An event from the bus.
    fn evict(&self, event: &Event) {
        METRICS
            .revocation_events
            .with_label_values(&[event_kind(event)])
            .inc();
        self.evict_here(event);
    }

    /// Forget what `event` names in this instance's cache.
    fn evict_here(&self, event: &Event) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        let kind = event_kind(event);
        // Entries this event actually removed from this instance's cache.
        let evicted = match event {
            Event::Entitlement(id) => EntitlementId::parse(id)
                .ok()
                .and_then(|id| write(&self.entitlements).remove(&id))
                .map_or(0, |_| 1),
            Event::Playback(id) => PlaybackId::parse(id)
                .ok()
                .and_then(|id| write(&self.playbacks).remove(&id))
                .map_or(0, |_| 1),
            Event::Resync => {
                let mut e = write(&self.entitlements);
                let mut p = write(&self.playbacks);
                let n = e.len() + p.len();
                if self.outage_grace.is_zero() {
                    e.clear();
                    p.clear();
                } else {
                    // The entries stay, but none is trusted as a hit again: they only stand
                    // in while the store cannot be asked.
                    e.values_mut().for_each(|c| c.trusted = false);
                    p.values_mut().for_each(|c| c.trusted = false);
                }
                n
            }
        };
        if evicted > 0 {
            METRICS
                .cache_evictions
                .with_label_values(&[kind])
                .inc_by(evicted as u64);
        }
    }
}

fn event_kind(event: &Event) -> &'static str {
    match event {
        Event::Entitlement(_) => "entitlement",
        Event::Playback(_) => "playback",
        Event::Resync => "resync",
    }
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}
fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

impl Access {
    /// Also registers what applies revocation events to this instance's cache.
    pub fn new(store: Store, entitlements: Entitlements, outage_grace: Duration) -> Self {
        let inner = Arc::new(CacheInner {
            outage_grace,
            ..CacheInner::default()
        });
        // This instance's own revocations evict before the revoke is answered; everyone's
        // (this instance's again, harmlessly) as the bus reader reads them.
        let weak = Arc::downgrade(&inner);
        store.on_event(Box::new(move |event, heard| match weak.upgrade() {
            Some(inner) => {
                match heard {
                    Heard::Here => inner.evict_here(event),
                    Heard::Bus => inner.evict(event),
                }
                true
            }
            None => false,
        }));
        Self {
            store,
            entitlements,
            inner,
        }
    }

    /// Stop trusting this instance's cached record of an entitlement known to have changed
    /// (a first play recorded elsewhere): the next request reads it afresh instead of waiting
    /// for the event. The entry stays as an outage-grace fallback: a first play revokes nothing.
    pub fn forget_entitlement(&self, id: &EntitlementId) {
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
        if let Some(c) = write(&self.inner.entitlements).get_mut(id) {
            c.trusted = false;
        }
    }

    pub async fn start_playback(
        &self,
        playback: &Playback,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Kept past the window's end, so a player that asks after it hears `expired` (or
        // `revoked`), not "unknown link".
        let ttl = (until - Utc::now()).to_std().unwrap_or_default() + PLAYBACK_GRACE;
        let json =
            serde_json::to_string(playback).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.store
            .set(&keys::playback(&playback.id), &json, ttl)
            .await
    }

    /// Stop one playback: it is refused from its next request on, on every instance.
    pub async fn stop_playback(&self, id: &PlaybackId) -> Result<Option<Playback>, StoreError> {
        self.stop_keeping(id, None).await
    }

    /// Stop a playback that another replaced, and keep its record only `keep_for` (so an
    /// old tab hears "stopped", then the record goes).
    pub async fn retire_playback(
        &self,
        id: &PlaybackId,
        keep_for: Duration,
    ) -> Result<(), StoreError> {
        self.stop_keeping(id, Some(keep_for)).await.map(|_| ())
    }

    async fn stop_keeping(
        &self,
        id: &PlaybackId,
        keep_for: Option<Duration>,
    ) -> Result<Option<Playback>, StoreError> {
        let key = keys::playback(id);
        let Some(json) = self.store.get(&key).await? else {
            return Ok(None);
        };
        let mut p: Playback =
            serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if p.stopped_at.is_none() || keep_for.is_some() {
            p.stopped_at.get_or_insert_with(Utc::now);
            let ttl = self
                .store
                .ttl(&key)
                .await?
                .unwrap_or(Duration::from_secs(60));
            let ttl = keep_for.map_or(ttl, |k| k.min(ttl));
            let json = serde_json::to_string(&p).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            self.store.set(&key, &json, ttl).await?;
        }
        self.store.publish(&Event::Playback(id.to_string())).await?;
        Ok(Some(p))
    }

    pub async fn playback(&self, id: &PlaybackId) -> Result<Option<Arc<Playback>>, StoreError> {
        if let Some(c) = read(&self.inner.playbacks).get(id)
            && c.fresh(PLAYBACK_TTL)
        {
            METRICS
                .cache_lookups
                .with_label_values(&["playback", "hit"])
                .inc();
            return Ok(c.value.clone());
        }
        METRICS
            .cache_lookups
            .with_label_values(&["playback", "miss"])
            .inc();
        let generation = self.inner.generation.load(Ordering::SeqCst);
        let stored = match self.store.get(&keys::playback(id)).await {
            Ok(v) => v,
            Err(e) => return self.stale(&self.inner.playbacks, id).ok_or(e),
        };
        let value = match stored {
            Some(json) => Some(Arc::new(
                serde_json::from_str::<Playback>(&json)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            )),
            None => None,
        };
        // Unknown ids are not cached: a flood of random ids must not fill memory.
        if value.is_some() {
            self.insert(&self.inner.playbacks, id.clone(), value.clone(), generation);
        }
        Ok(value)
    }

    pub async fn entitlement(
        &self,
        id: &EntitlementId,
    ) -> Result<Option<Arc<EntitlementRecord>>, StoreError> {
        if let Some(c) = read(&self.inner.entitlements).get(id)
            && c.fresh(ENTITLEMENT_TTL)
        {
            METRICS
                .cache_lookups
                .with_label_values(&["entitlement", "hit"])
                .inc();
            return Ok(c.value.clone());
        }
        METRICS
            .cache_lookups
            .with_label_values(&["entitlement", "miss"])
            .inc();
        let generation = self.inner.generation.load(Ordering::SeqCst);
        let value = match self.entitlements.get(id).await {
            Ok(v) => v.map(Arc::new),
            Err(e) => return self.stale(&self.inner.entitlements, id).ok_or(e),
        };
        self.insert(
            &self.inner.entitlements,
            id.clone(),
            value.clone(),
            generation,
        );
        Ok(value)
    }

    /// The store did not answer: what this instance last read, if that is inside the outage
    /// grace. The operator's trade: a revocation this instance was told about already removed
    /// its entry, but one whose event was lost in the outage is honoured only when the grace
    /// runs out (or the store answers again).
    fn stale<K: std::hash::Hash + Eq, T>(
        &self,
        map: &RwLock<HashMap<K, Cached<T>>>,
        key: &K,
    ) -> Option<Option<Arc<T>>> {
        let grace = self.inner.outage_grace;
        let m = read(map);
        let c = m
            .get(key)
            .filter(|c| !grace.is_zero() && c.at.elapsed() < grace)?;
        METRICS
            .cache_lookups
            .with_label_values(&["outage_grace", "hit"])
            .inc();
        Some(c.value.clone())
    }

    /// Whether the store being away may be ridden out (see `stale`).
    pub fn has_outage_grace(&self) -> bool {
        !self.inner.outage_grace.is_zero()
    }

    fn insert<K: std::hash::Hash + Eq, T>(
        &self,
        map: &RwLock<HashMap<K, Cached<T>>>,
        key: K,
        value: Option<Arc<T>>,
        generation: u64,
    ) {
        let mut m = write(map);
        // Checked under the write lock: an eviction after this point removes our entry.
        if self.inner.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if m.len() >= MAX_ENTRIES {
            m.clear();
        }
        m.insert(
            key,
            Cached {
                at: Instant::now(),
                trusted: true,
                value,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        AgeGate, Entitlement, Revocation, RevocationKind, Source, VideoId, ViewerId,
    };

    fn fixture(now: DateTime<Utc>) -> (Playback, EntitlementRecord, TokenHash) {
        let session = TokenHash::of("vg_vs_cookie");
        let e = Entitlement {
            id: EntitlementId::new(),
            viewer_id: ViewerId::parse("v").unwrap(),
            video_id: VideoId::parse("sample").unwrap(),
            order_id: None,
            created_at: now,
            watch_for_s: 60,
            start_by: None,
            max_streams: 1,
            age_gate: AgeGate::None,
            age_verification: None,
            playback_mode: None,
            delivery: None,
        };
        let p = Playback {
            id: PlaybackId::new(),
            entitlement_id: e.id.clone(),
            video_id: e.video_id.clone(),
            session_hash: session.as_str().to_owned(),
            source: Source {
                asset_base: "file:///m/sample/".parse().unwrap(),
                entry: "master.m3u8".into(),
            },
            started_at: now,
            stopped_at: None,
        };
        (
            p,
            EntitlementRecord {
                entitlement: e,
                revocation: None,
                first_played_at: None,
            },
            session,
        )
    }

    #[test]
    fn a_live_entitlement_with_its_own_session_plays() {
        let now = Utc::now();
        let (p, r, s) = fixture(now);
        assert_eq!(decide(now, &p, Some(&r), std::slice::from_ref(&s)), Ok(()));
    }

    #[test]
    fn another_session_or_none_is_refused_before_anything_else_is_revealed() {
        let now = Utc::now();
        let (p, mut r, _) = fixture(now);
        r.revocation = Some(Revocation {
            kind: RevocationKind::Refund,
            at: now,
            reason: None,
        });
        assert_eq!(
            decide(now, &p, Some(&r), &[]),
            Err(DenyReason::SessionMismatch)
        );
        assert_eq!(
            decide(now, &p, Some(&r), &[TokenHash::of("other")]),
            Err(DenyReason::SessionMismatch)
        );
    }

    #[test]
    fn revoked_refunded_expired_and_missing_entitlements_are_refused_with_their_reason() {
        let now = Utc::now();
        let (p, r, s) = fixture(now);
        assert_eq!(
            decide(
                now + chrono::Duration::seconds(60),
                &p,
                Some(&r),
                std::slice::from_ref(&s)
            ),
            Err(DenyReason::Expired)
        );
        let mut revoked = r.clone();
        revoked.revocation = Some(Revocation {
            kind: RevocationKind::Revoke,
            at: now,
            reason: None,
        });
        assert_eq!(
            decide(now, &p, Some(&revoked), std::slice::from_ref(&s)),
            Err(DenyReason::Revoked)
        );
        let mut refunded = r.clone();
        refunded.revocation = Some(Revocation {
            kind: RevocationKind::Refund,
            at: now,
            reason: None,
        });
        assert_eq!(
            decide(now, &p, Some(&refunded), std::slice::from_ref(&s)),
            Err(DenyReason::Refunded)
        );
        assert_eq!(
            decide(now, &p, None, std::slice::from_ref(&s)),
            Err(DenyReason::UnknownEntitlement)
        );
    }

    #[test]
    fn a_stopped_playback_is_refused_and_a_missed_start_window_says_so() {
        let now = Utc::now();
        let (mut p, r, s) = fixture(now);
        p.stopped_at = Some(now);
        assert_eq!(
            decide(now, &p, Some(&r), std::slice::from_ref(&s)),
            Err(DenyReason::PlaybackStopped)
        );
        let (p, mut r, s) = fixture(now);
        r.entitlement.start_by = Some(now);
        assert_eq!(
            decide(now, &p, Some(&r), std::slice::from_ref(&s)),
            Ok(()),
            "the deadline itself is in time"
        );
        assert_eq!(
            decide(
                now + chrono::Duration::seconds(1),
                &p,
                Some(&r),
                std::slice::from_ref(&s)
            ),
            Err(DenyReason::StartWindowPassed)
        );
    }
}
