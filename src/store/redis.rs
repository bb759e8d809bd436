//! The Redis store: every command through one `ConnectionManager` (reconnects on its own),
//! TTLs written in the same command as the value (`SET … PX`) or the same MULTI, and a
//! pub/sub listener that forwards revocation events to this instance's subscribers.

use super::{Event, StoreError, ttl_millis};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;
use tokio::sync::broadcast;

#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    events: broadcast::Sender<Event>,
}

impl RedisStore {
    /// Connects lazily: vodgate starts even while Redis is still coming up, and `/readyz`
    /// says so until it answers.
    pub fn open(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            // Short, capped back-off: after an outage, be back within a second of Redis.
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500))
            .set_number_of_retries(3);
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        let (events, _) = broadcast::channel(1024);
        let store = Self { conn, prefix: prefix.to_owned(), events };
        tokio::spawn(listen(client, store.channel(), store.events.clone()));
        Ok(store)
    }

    fn key(&self, k: &str) -> String {
        format!("{}{}", self.prefix, k)
    }

    fn channel(&self) -> String {
        self.key("revocations")
    }

    pub async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        redis::cmd("SET").arg(self.key(key)).arg(value).arg("PX").arg(ttl_millis(ttl)).exec_async(&mut c).await?;
        Ok(())
    }

    pub async fn set_nx(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let r: Option<String> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(ttl_millis(ttl))
            .query_async(&mut c)
            .await?;
        Ok(r.is_some())
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let mut c = self.conn.clone();
        Ok(redis::cmd("GET").arg(self.key(key)).query_async(&mut c).await?)
    }

    pub async fn mget(&self, keys: &[&str]) -> Result<Vec<Option<String>>, StoreError> {
        let mut c = self.conn.clone();
        let mut cmd = redis::cmd("MGET");
        for k in keys {
            cmd.arg(self.key(k));
        }
        Ok(cmd.query_async(&mut c).await?)
    }

    pub async fn take(&self, key: &str) -> Result<Option<String>, StoreError> {
        let mut c = self.conn.clone();
        Ok(redis::cmd("GETDEL").arg(self.key(key)).query_async(&mut c).await?)
    }

    pub async fn del(&self, key: &str) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        redis::cmd("DEL").arg(self.key(key)).exec_async(&mut c).await?;
        Ok(())
    }

    pub async fn ttl(&self, key: &str) -> Result<Option<Duration>, StoreError> {
        let mut c = self.conn.clone();
        let ms: i64 = redis::cmd("PTTL").arg(self.key(key)).query_async(&mut c).await?;
        Ok(u64::try_from(ms).ok().map(Duration::from_millis))
    }

    pub async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let k = self.key(key);
        // GT: a set shared by several entitlements lives as long as the longest of them.
        // A new key has no TTL, which GT treats as infinite, so set it with NX first.
        redis::pipe()
            .atomic()
            .cmd("SADD").arg(&k).arg(member).ignore()
            .cmd("PEXPIRE").arg(&k).arg(ttl_millis(ttl)).arg("NX").ignore()
            .cmd("PEXPIRE").arg(&k).arg(ttl_millis(ttl)).arg("GT").ignore()
            .exec_async(&mut c)
            .await?;
        Ok(())
    }

    pub async fn set_remove(&self, key: &str, member: &str) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        redis::cmd("SREM").arg(self.key(key)).arg(member).exec_async(&mut c).await?;
        Ok(())
    }

    pub async fn set_members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let mut c = self.conn.clone();
        let mut m: Vec<String> = redis::cmd("SMEMBERS").arg(self.key(key)).query_async(&mut c).await?;
        m.sort();
        Ok(m)
    }

    pub async fn incr(&self, key: &str, ttl: Duration) -> Result<(i64, Duration), StoreError> {
        let mut c = self.conn.clone();
        let k = self.key(key);
        let (n, left): (i64, i64) = redis::pipe()
            .atomic()
            .cmd("INCR").arg(&k)
            .cmd("PEXPIRE").arg(&k).arg(ttl_millis(ttl)).arg("NX").ignore()
            .cmd("PTTL").arg(&k)
            .query_async(&mut c)
            .await?;
        Ok((n, Duration::from_millis(u64::try_from(left).unwrap_or(0))))
    }

    pub async fn active_touch(&self, key: &str, member: &str, now_ms: i64, stale_before_ms: i64, max: u32, ttl: Duration) -> Result<bool, StoreError> {
        // One script so the count and the add cannot interleave with another instance's.
        const SCRIPT: &str = r#"
            redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
            if redis.call('ZSCORE', KEYS[1], ARGV[2]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[4]) then
                redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
                redis.call('PEXPIRE', KEYS[1], ARGV[5])
                return 1
            end
            return 0
        "#;
        let mut c = self.conn.clone();
        let ok: i64 = redis::Script::new(SCRIPT)
            .key(self.key(key))
            .arg(stale_before_ms)
            .arg(member)
            .arg(now_ms)
            .arg(max)
            .arg(ttl_millis(ttl))
            .invoke_async(&mut c)
            .await?;
        Ok(ok == 1)
    }

    pub async fn active_list(&self, key: &str, since_ms: i64) -> Result<Vec<(String, i64)>, StoreError> {
        let mut c = self.conn.clone();
        Ok(redis::cmd("ZRANGE")
            .arg(self.key(key))
            .arg(since_ms)
            .arg("+inf")
            .arg("BYSCORE")
            .arg("WITHSCORES")
            .query_async(&mut c)
            .await?)
    }

    pub async fn active_remove(&self, key: &str, member: &str) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let n: i64 = redis::cmd("ZREM").arg(self.key(key)).arg(member).query_async(&mut c).await?;
        Ok(n > 0)
    }

    pub async fn log_append(&self, key: &str, entry: &str, max_len: usize, ttl: Duration) -> Result<String, StoreError> {
        let mut c = self.conn.clone();
        let k = self.key(key);
        let (id,): (String,) = redis::pipe()
            .atomic()
            .cmd("XADD").arg(&k).arg("MAXLEN").arg("~").arg(max_len).arg("*").arg("e").arg(entry)
            .cmd("PEXPIRE").arg(&k).arg(ttl_millis(ttl)).ignore()
            .query_async(&mut c)
            .await?;
        Ok(id)
    }

    pub async fn log_range(&self, key: &str, after: Option<&str>, count: usize) -> Result<Vec<(String, String)>, StoreError> {
        let mut c = self.conn.clone();
        let start = after.map(|a| format!("({a}")).unwrap_or_else(|| "-".into());
        let rows: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
            .arg(self.key(key))
            .arg(start)
            .arg("+")
            .arg("COUNT")
            .arg(count)
            .query_async(&mut c)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, fields)| fields.into_iter().find(|(k, _)| k == "e").map(|(_, v)| (id, v)))
            .collect())
    }

    pub async fn publish(&self, event: &Event) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let msg = serde_json::to_string(event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        redis::cmd("PUBLISH").arg(self.channel()).arg(msg).exec_async(&mut c).await?;
        Ok(())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        redis::cmd("PING").exec_async(&mut c).await?;
        Ok(())
    }
}

/// Keeps one pub/sub connection open for the life of the process. After any break it
/// reconnects and announces `Resync`, because events published meanwhile are lost and
/// caches must not trust what they hold.
async fn listen(client: redis::Client, channel: String, events: broadcast::Sender<Event>) {
    use futures_util::StreamExt;
    let mut first = true;
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if let Err(e) = pubsub.subscribe(&channel).await {
                    tracing::warn!(error = %e, "revocation bus: subscribe failed");
                } else {
                    if !first {
                        tracing::info!("revocation bus: reconnected; dropping cached decisions");
                    }
                    // Subscribed: anything cached before this point may have missed events.
                    let _ = events.send(Event::Resync);
                    first = false;
                    let mut stream = pubsub.into_on_message();
                    while let Some(msg) = stream.next().await {
                        match serde_json::from_slice::<Event>(msg.get_payload_bytes()) {
                            Ok(ev) => {
                                let _ = events.send(ev);
                            }
                            Err(e) => tracing::warn!(error = %e, "revocation bus: unreadable message"),
                        }
                    }
                    tracing::warn!("revocation bus: connection lost");
                    let _ = events.send(Event::Resync);
                }
            }
            Err(e) => tracing::debug!(error = %e, "revocation bus: cannot connect yet"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
