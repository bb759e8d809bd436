//! Brute-force brake: failed authentications are counted per client (by a hash of its IP,
//! so the store holds no addresses) in a one-minute window shared by all instances. Over the
//! limit, the client gets 429 with `Retry-After` before any key is even looked at.
//!
//! An API key is checked with argon2 (tens of milliseconds of CPU and ~19 MiB each), so it
//! is counted *before* it is verified (`attempt`, one atomic INCR) and given back when it
//! verifies (`succeeded`): twenty wrong keys sent at once get the limit's worth of
//! verifications and 429s for the rest, where check-then-count let all twenty through.
//! Tokens are looked up, not hashed, so they are checked first and counted when wrong.

use crate::store::{Store, StoreError, keys};
use std::time::Duration;

const WINDOW: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct Throttle {
    store: Store,
    limit: u32,
}

impl Throttle {
    pub fn new(store: Store, limit: u32) -> Self {
        Self { store, limit }
    }

    /// Refuse early when this client has failed too often: `Some(seconds)` until it may
    /// try again.
    pub async fn check(&self, client: &str) -> Result<Option<u64>, StoreError> {
        let key = keys::auth_failures(client);
        let n: u32 = self
            .store
            .get(&key)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if n >= self.limit {
            let left = self.store.ttl(&key).await?.unwrap_or(WINDOW);
            return Ok(Some(left.as_secs() + 1));
        }
        Ok(None)
    }

    /// Count an attempt before making it: `Some(seconds)` when it is over the limit (and is
    /// not to be made). Give it back with `succeeded` if it verifies.
    pub async fn attempt(&self, client: &str) -> Result<Option<u64>, StoreError> {
        let key = keys::auth_failures(client);
        let (n, left) = self.store.incr(&key, WINDOW).await?;
        if n > i64::from(self.limit) {
            // Not made, so not counted: the count stays "failures plus attempts being
            // verified", and a right key that met a burst does not lock its client out.
            self.store.decr(&key).await?;
            return Ok(Some(left.as_secs() + 1));
        }
        Ok(None)
    }

    /// The attempt counted by `attempt` verified: it was not a failure.
    pub async fn succeeded(&self, client: &str) -> Result<(), StoreError> {
        self.store.decr(&keys::auth_failures(client)).await
    }

    pub async fn failed(&self, client: &str) -> Result<(), StoreError> {
        self.store
            .incr(&keys::auth_failures(client), WINDOW)
            .await?;
        Ok(())
    }
}
