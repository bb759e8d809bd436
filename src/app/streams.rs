//! Stream limits: how many playbacks of one entitlement may run at once. A playback counts
//! while it keeps fetching segments; one that fetched nothing for `idle` stops counting.
//! The set lives in the store (`streams:{e:<id>}`, member = playback id, score = last seen),
//! and claiming a place is one atomic step, so two instances cannot both give out the last
//! one.

use crate::domain::EntitlementId;
use crate::domain::PlaybackId;
use crate::store::{Store, StoreError, keys};
use chrono::Utc;
use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// A playing segment refreshes its place at most this often (each refresh is a store
/// round trip running a script; segments come every 2–10 s), and always well within
/// `idle`, so a playing stream never looks idle: see `refresh_every`.
const REFRESH_AT_MOST_EVERY: Duration = Duration::from_secs(20);

/// A third of the idle time, capped: with the default 60 s idle, a player fetching a
/// segment every 6 s refreshes on one request in four instead of on every one.
fn refresh_every(idle: Duration) -> Duration {
    (idle / 3).min(REFRESH_AT_MOST_EVERY)
}

/// Playbacks remembered at most (over all shards); past it a shard starts over, and its
/// playbacks refresh their place one segment early.
const LAST_REFRESH_MAX: usize = 100_000;
const SHARDS: usize = 32;

/// When this instance last refreshed each playback's place.
///
/// Sharded, each shard a `RwLock` picked by the playback id's hash: every segment reads it,
/// and one map behind one mutex made all workers queue on it. A segment takes one shard's
/// read lock (workers read in parallel, even the same playback); only a claim (once per
/// `refresh_every` per playback) or a release writes, and only to its shard. Not per worker:
/// a place refreshed by one worker counts for all of them (one store trip per playback per
/// `refresh_every` for the instance), and a release must be seen by every worker at once.
struct LastRefresh {
    hasher: RandomState,
    shards: Box<[RwLock<HashMap<PlaybackId, Instant>>]>,
}

impl Default for LastRefresh {
    fn default() -> Self {
        Self {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
        }
    }
}

impl LastRefresh {
    fn shard(&self, playback: &PlaybackId) -> &RwLock<HashMap<PlaybackId, Instant>> {
        let i = self.hasher.hash_one(playback.as_str()) as usize % self.shards.len();
        &self.shards[i]
    }

    fn get(&self, playback: &PlaybackId) -> Option<Instant> {
        let m = self
            .shard(playback)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        m.get(playback).copied()
    }

    fn put(&self, playback: &PlaybackId, at: Instant) {
        let mut m = self
            .shard(playback)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if m.len() > LAST_REFRESH_MAX / SHARDS {
            m.clear();
        }
        m.insert(playback.clone(), at);
    }

    fn remove(&self, playback: &PlaybackId) {
        self.shard(playback)
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(playback);
    }
}

#[derive(Clone)]
pub struct StreamLimit {
    store: Store,
    idle: Duration,
    last_refresh: Arc<LastRefresh>,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl StreamLimit {
    pub fn new(store: Store, idle: Duration) -> Self {
        Self {
            store,
            idle,
            last_refresh: Arc::default(),
        }
    }

    /// Take or keep a place for this playback. False: the entitlement is already playing on
    /// `max` other screens.
    pub async fn claim(
        &self,
        e: &EntitlementId,
        playback: &PlaybackId,
        max: u32,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = Utc::now().timestamp_millis();
        let ok = self
            .store
            .active_touch(
                &keys::streams(e),
                playback.as_str(),
                now,
                now - ms(self.idle),
                max,
                ttl.max(self.idle),
            )
            .await?;
        if ok {
            self.last_refresh.put(playback, Instant::now());
        }
        Ok(ok)
    }

    /// Called for every segment: refresh the place, but only every few seconds.
    pub async fn refresh(
        &self,
        e: &EntitlementId,
        playback: &PlaybackId,
        max: u32,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let recent = self
            .last_refresh
            .get(playback)
            .is_some_and(|t| t.elapsed() < refresh_every(self.idle));
        if recent {
            return Ok(true);
        }
        self.claim(e, playback, max, ttl).await
    }

    /// Playbacks that count right now, with when each was last seen (unix ms).
    pub async fn active(&self, e: &EntitlementId) -> Result<Vec<(PlaybackId, i64)>, StoreError> {
        let since = Utc::now().timestamp_millis() - ms(self.idle);
        Ok(self
            .store
            .active_list(&keys::streams(e), since)
            .await?
            .into_iter()
            .filter_map(|(id, seen)| PlaybackId::parse(&id).ok().map(|id| (id, seen)))
            .collect())
    }

    /// Free the place of a playback (it is being stopped or replaced).
    pub async fn release(
        &self,
        e: &EntitlementId,
        playback: &PlaybackId,
    ) -> Result<bool, StoreError> {
        self.last_refresh.remove(playback);
        self.store
            .active_remove(&keys::streams(e), playback.as_str())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_is_refreshed_well_within_the_idle_time() {
        assert_eq!(
            refresh_every(Duration::from_secs(60)),
            Duration::from_secs(20)
        );
        assert_eq!(
            refresh_every(Duration::from_secs(3600)),
            Duration::from_secs(20)
        );
        for idle in [1, 2, 9, 30] {
            let idle = Duration::from_secs(idle);
            assert!(refresh_every(idle) * 2 < idle, "{idle:?}");
        }
    }

    #[test]
    fn last_refresh_remembers_forgets_and_stays_bounded() {
        let m = LastRefresh::default();
        let a = PlaybackId::new();
        let now = Instant::now();
        assert_eq!(m.get(&a), None);
        m.put(&a, now);
        assert_eq!(m.get(&a), Some(now));
        m.remove(&a);
        assert_eq!(m.get(&a), None);
        for _ in 0..LAST_REFRESH_MAX * 2 {
            m.put(&PlaybackId::new(), now);
        }
        let total: usize = m.shards.iter().map(|s| s.read().unwrap().len()).sum();
        assert!(total <= LAST_REFRESH_MAX + SHARDS, "{total}");
    }
}
