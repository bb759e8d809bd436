//! The state store contract. Everything vodgate shares between instances lives here:
//! entitlements, launch links, viewer sessions, tokens, counters, and the revocation bus.
//!
//! The contract is a handful of primitives with exact semantics (TTL written atomically
//! with the value, single-use `take`, set-if-absent, revocation events to subscribers).
//! Domain code is written once on top of them; `redis.rs` and `memory.rs` implement them and
//! one contract test suite (`tests/api/store_contract.rs`) runs against both.
//!
//! Keys passed in are logical (`ent:{e:ent_…}`); the store adds the configured prefix.
//! Keys that must share a Redis Cluster slot carry the same `{…}` hash tag.

pub mod keys;
mod memory;
mod redis;
mod sentinel;

pub use self::memory::MemoryStore;
pub use self::redis::RedisStore;

use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::broadcast;

/// Records without an end still need a TTL in the store's contract; ten years is "forever".
pub const FOREVER: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    #[error("stored value is corrupt: {0}")]
    Corrupt(String),
    /// The master stored it, but fewer replicas than `VODGATE_REDIS_WAIT_REPLICAS` confirmed
    /// it in time: a failover now could lose it. Retrying the (idempotent) call is safe.
    #[error("only {confirmed} of {wanted} Redis replicas confirmed the write in time")]
    NotReplicated { wanted: u8, confirmed: i64 },
}

/// Something every instance must forget now. Instances cache access decisions; these
/// messages evict them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Event {
    /// An entitlement was revoked or refunded.
    Entitlement(String),
    /// A playback was stopped by an operator.
    Playback(String),
    /// The bus itself reconnected: events may have been missed, so drop every cache.
    Resync,
}

/// Where a listener heard an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// This process published it: heard before `publish` returns, so the answer to a
    /// revoke never reaches the operator while this very instance could still serve the
    /// next segment from its cache.
    Here,
    /// It came over the bus (from any instance, this one's own included, later).
    Bus,
}

/// Listeners that hear every event synchronously: this process's own publications inside
/// `publish`, the bus's in the task that reads the bus, as each message is read. No channel
/// or task sits between the bus and the caches: on a busy machine each such hop is a
/// scheduling delay during which another instance's revoke is answered and this one still
/// serves from its cache.
#[derive(Clone, Default)]
pub struct LocalListeners(std::sync::Arc<std::sync::RwLock<Vec<Listener>>>);

/// Returns false once it has nothing left to listen for (its owner is gone). Runs on the
/// bus reader: it must not block.
pub type Listener = Box<dyn Fn(&Event, Heard) -> bool + Send + Sync>;

impl LocalListeners {
    fn add(&self, l: Listener) {
        self.0.write().unwrap_or_else(|p| p.into_inner()).push(l);
    }
    pub(crate) fn tell(&self, event: &Event, heard: Heard) {
        let mut ls = self.0.write().unwrap_or_else(|p| p.into_inner());
        ls.retain(|l| l(event, heard));
    }
}

#[derive(Clone)]
pub enum Store {
    Redis(RedisStore),
    Memory(MemoryStore),
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Store::Redis($s) => $e,
            Store::Memory($s) => $e,
        }
    };
}

impl Store {
    /// Redis when a URL is configured (`REDIS_URL`), else the embedded in-memory store.
    pub fn open(redis_url: Option<&str>, prefix: &str) -> Result<Self, StoreError> {
        match redis_url {
            Some(url) => Ok(Store::Redis(RedisStore::open(url, prefix)?)),
            None => Ok(Store::Memory(MemoryStore::new())),
        }
    }

    /// Writes are acknowledged only once `n` replicas confirm them (`replicated`). The
    /// embedded store has no replicas; the configuration refuses `n > 0` without Redis.
    pub fn require_replicas(mut self, n: u8) -> Self {
        if let Store::Redis(s) = &mut self {
            s.require_replicas(n);
        }
        self
    }

    /// Everything this process wrote so far is on the replicas `require_replicas` asked for
    /// (at once when it asked for none). Use cases whose answer promises durability (grant,
    /// revoke, refund) call it before they answer.
    pub async fn replicated(&self) -> Result<(), StoreError> {
        match self {
            Store::Redis(s) => s.replicated().await,
            Store::Memory(_) => Ok(()),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Store::Redis(_) => "redis",
            Store::Memory(_) => "memory",
        }
    }

    /// SET key value EX ttl.
    pub async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        dispatch!(self, s => s.set(key, value, ttl).await)
    }
    /// SET key value NX EX ttl: true when this call wrote it.
    pub async fn set_nx(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, StoreError> {
        dispatch!(self, s => s.set_nx(key, value, ttl).await)
    }
    pub async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        dispatch!(self, s => s.get(key).await)
    }
    /// Several keys in one round trip. On Redis Cluster they must share a hash tag.
    pub async fn mget(&self, keys: &[&str]) -> Result<Vec<Option<String>>, StoreError> {
        dispatch!(self, s => s.mget(keys).await)
    }
    /// GETDEL: read and delete atomically, so exactly one caller gets the value (single use).
    pub async fn take(&self, key: &str) -> Result<Option<String>, StoreError> {
        dispatch!(self, s => s.take(key).await)
    }
    pub async fn del(&self, key: &str) -> Result<(), StoreError> {
        dispatch!(self, s => s.del(key).await)
    }
    /// Remaining time to live; None when the key does not exist or never expires.
    pub async fn ttl(&self, key: &str) -> Result<Option<Duration>, StoreError> {
        dispatch!(self, s => s.ttl(key).await)
    }
    /// SADD member and push the set's expiry out to at least `ttl`, atomically.
    pub async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> Result<(), StoreError> {
        dispatch!(self, s => s.set_add(key, member, ttl).await)
    }
    pub async fn set_remove(&self, key: &str, member: &str) -> Result<(), StoreError> {
        dispatch!(self, s => s.set_remove(key, member).await)
    }
    pub async fn set_members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        dispatch!(self, s => s.set_members(key).await)
    }
    /// INCR; a new counter gets `ttl` (a fixed window), an existing one keeps its expiry.
    /// Returns the new value and the time left in the window.
    pub async fn incr(&self, key: &str, ttl: Duration) -> Result<(i64, Duration), StoreError> {
        dispatch!(self, s => s.incr(key, ttl).await)
    }
    /// Take one back from a counter `incr` made, keeping its window; a counter that expired
    /// (or never was) stays absent, and none goes below zero.
    pub async fn decr(&self, key: &str) -> Result<(), StoreError> {
        dispatch!(self, s => s.decr(key).await)
    }
    /// A set of things that are active while they keep checking in (playbacks of an
    /// entitlement), atomically: drop members last seen before `stale_before`, then
    /// refresh `member` if present, or add it if fewer than `max` remain. False = no room.
    pub async fn active_touch(
        &self,
        key: &str,
        member: &str,
        now_ms: i64,
        stale_before_ms: i64,
        max: u32,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        dispatch!(self, s => s.active_touch(key, member, now_ms, stale_before_ms, max, ttl).await)
    }
    /// Members last seen at or after `since_ms`, with their last-seen time, oldest first.
    pub async fn active_list(
        &self,
        key: &str,
        since_ms: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        dispatch!(self, s => s.active_list(key, since_ms).await)
    }
    pub async fn active_remove(&self, key: &str, member: &str) -> Result<bool, StoreError> {
        dispatch!(self, s => s.active_remove(key, member).await)
    }
    /// Append to a capped log (a Redis stream trimmed to about `max_len`). Returns its id;
    /// ids sort in append order.
    pub async fn log_append(
        &self,
        key: &str,
        entry: &str,
        max_len: usize,
        ttl: Duration,
    ) -> Result<String, StoreError> {
        dispatch!(self, s => s.log_append(key, entry, max_len, ttl).await)
    }
    /// Up to `count` entries after `after` (exclusive; None = from the start), oldest first.
    pub async fn log_range(
        &self,
        key: &str,
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        dispatch!(self, s => s.log_range(key, after, count).await)
    }
    /// Tell every instance (this one included) to forget something. This instance's
    /// listeners have heard it when this returns.
    pub async fn publish(&self, event: &Event) -> Result<(), StoreError> {
        dispatch!(self, s => s.local.tell(event, Heard::Here));
        dispatch!(self, s => s.publish(event).await)
    }
    /// Hear every event at once, this process's own and the bus's (see `LocalListeners`).
    pub fn on_event(&self, listener: Listener) {
        dispatch!(self, s => s.local.add(listener))
    }
    /// Events published by any instance, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        dispatch!(self, s => s.subscribe())
    }
    pub async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self, s => s.ping().await)
    }
}

/// Millisecond TTLs let tests use sub-second windows; Redis takes PX.
pub(crate) fn ttl_millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}
