//! Brute-force brake: failed authentications are counted per client (by a hash of its IP,
//! so the store holds no addresses) in a one-minute window shared by all instances. Over the
//! limit, the client gets 429 with `Retry-After` before any key is even looked at.

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

    pub async fn failed(&self, client: &str) -> Result<(), StoreError> {
        self.store
            .incr(&keys::auth_failures(client), WINDOW)
            .await?;
        Ok(())
    }
}
