//! Stream limits: how many playbacks of one entitlement may run at once. A playback counts
//! while it keeps fetching segments; one that fetched nothing for `idle` stops counting.
//! The set lives in the store (`streams:{e:<id>}`, member = playback id, score = last seen),
//! and claiming a place is one atomic step, so two instances cannot both give out the last
//! one.

use crate::app::access::Access;
use crate::domain::EntitlementId;
use crate::domain::PlaybackId;
use crate::store::{Store, StoreError, keys};
use chrono::Utc;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
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

#[derive(Clone)]
pub struct StreamLimit {
    store: Store,
    idle: Duration,
    last_refresh: Arc<Mutex<HashMap<PlaybackId, Instant>>>,
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
            let mut m = self.last_refresh.lock().unwrap_or_else(|p| p.into_inner());
            if m.len() > 100_000 {
                m.clear();
            }
            m.insert(playback.clone(), Instant::now());
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
            .lock()
            .unwrap_or_else(|p| p.into_inner())
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
        self.last_refresh
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(playback);
        self.store
            .active_remove(&keys::streams(e), playback.as_str())
            .await
    }

    /// Release the places held by other playbacks of the same viewer session: a reload or
    /// a second tab in the same browser takes over instead of waiting for the old one to idle out.
    pub async fn release_same_session(
        &self,
        access: &Access,
        e: &EntitlementId,
        session_hash: &str,
    ) -> Result<(), StoreError> {
        for (id, _) in self.active(e).await? {
            if let Some(p) = access.playback(&id).await?
                && p.session_hash == session_hash
            {
                self.release(e, &id).await?;
            }
        }
        Ok(())
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
}
