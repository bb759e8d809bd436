//! The embedded store: the same contract as Redis, in this process only. It exists so
//! `cargo run` works with nothing installed; its state is lost on restart and invisible to
//! other instances, which the service says once at start.

use super::{Event, StoreError};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::Instant;

enum Value {
    Str(String),
    Set(BTreeSet<String>),
    Counter(i64),
    Active(HashMap<String, i64>),
    /// (id, entry); ids are `<ms>-<seq>` like Redis stream ids.
    Log(VecDeque<(String, String)>, u64),
}

struct Entry {
    value: Value,
    expires_at: Instant,
}

#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Mutex<HashMap<String, Entry>>>,
    events: broadcast::Sender<Event>,
    pub(super) local: super::LocalListeners,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(1024);
        let store = Self {
            inner: Arc::default(),
            events,
            local: super::LocalListeners::default(),
        };
        // Lazy expiry keeps reads correct; the sweep only bounds memory.
        let weak = Arc::downgrade(&store.inner);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(5));
                loop {
                    tick.tick().await;
                    let Some(inner) = weak.upgrade() else { break };
                    let now = Instant::now();
                    inner
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .retain(|_, e| e.expires_at > now);
                }
            });
        }
        store
    }

    /// The map with expired entries invisible. A poisoned lock only means another request
    /// panicked mid-operation; every operation here leaves the map consistent, so go on.
    fn map(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn live<'a>(map: &'a mut HashMap<String, Entry>, key: &str) -> Option<&'a mut Entry> {
        let now = Instant::now();
        if map.get(key).is_some_and(|e| e.expires_at <= now) {
            map.remove(key);
        }
        map.get_mut(key)
    }

    pub async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        self.map().insert(
            key.to_owned(),
            Entry {
                value: Value::Str(value.to_owned()),
                expires_at: Instant::now() + ttl,
            },
        );
        Ok(())
    }

    pub async fn set_nx(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut map = self.map();
        if Self::live(&mut map, key).is_some() {
            return Ok(false);
        }
        map.insert(
            key.to_owned(),
            Entry {
                value: Value::Str(value.to_owned()),
                expires_at: Instant::now() + ttl,
            },
        );
        Ok(true)
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let mut map = self.map();
        match Self::live(&mut map, key) {
            None => Ok(None),
            Some(Entry {
                value: Value::Str(s),
                ..
            }) => Ok(Some(s.clone())),
            Some(Entry {
                value: Value::Counter(n),
                ..
            }) => Ok(Some(n.to_string())),
            Some(_) => Err(wrong_type(key)),
        }
    }

    pub async fn mget(&self, keys: &[&str]) -> Result<Vec<Option<String>>, StoreError> {
        let mut map = self.map();
        Ok(keys
            .iter()
            .map(|k| match Self::live(&mut map, k) {
                Some(Entry {
                    value: Value::Str(s),
                    ..
                }) => Some(s.clone()),
                Some(Entry {
                    value: Value::Counter(n),
                    ..
                }) => Some(n.to_string()),
                _ => None, // like Redis MGET: wrong types read as nil
            })
            .collect())
    }

    pub async fn take(&self, key: &str) -> Result<Option<String>, StoreError> {
        let mut map = self.map();
        match Self::live(&mut map, key) {
            None => Ok(None),
            Some(Entry {
                value: Value::Str(_),
                ..
            }) => match map.remove(key) {
                Some(Entry {
                    value: Value::Str(s),
                    ..
                }) => Ok(Some(s)),
                _ => unreachable!("checked above under the same lock"),
            },
            Some(_) => Err(wrong_type(key)),
        }
    }

    pub async fn del(&self, key: &str) -> Result<(), StoreError> {
        self.map().remove(key);
        Ok(())
    }

    pub async fn ttl(&self, key: &str) -> Result<Option<Duration>, StoreError> {
        let mut map = self.map();
        Ok(Self::live(&mut map, key)
            .map(|e| e.expires_at.saturating_duration_since(Instant::now())))
    }

    pub async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> Result<(), StoreError> {
        let mut map = self.map();
        let until = Instant::now() + ttl;
        match Self::live(&mut map, key) {
            Some(Entry {
                value: Value::Set(s),
                expires_at,
            }) => {
                s.insert(member.to_owned());
                *expires_at = (*expires_at).max(until);
            }
            Some(_) => return Err(wrong_type(key)),
            None => {
                map.insert(
                    key.to_owned(),
                    Entry {
                        value: Value::Set([member.to_owned()].into()),
                        expires_at: until,
                    },
                );
            }
        }
        Ok(())
    }

    pub async fn set_remove(&self, key: &str, member: &str) -> Result<(), StoreError> {
        let mut map = self.map();
        if let Some(Entry {
            value: Value::Set(s),
            ..
        }) = Self::live(&mut map, key)
        {
            s.remove(member);
            if s.is_empty() {
                map.remove(key);
            }
        }
        Ok(())
    }

    pub async fn set_members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let mut map = self.map();
        match Self::live(&mut map, key) {
            None => Ok(vec![]),
            Some(Entry {
                value: Value::Set(s),
                ..
            }) => Ok(s.iter().cloned().collect()),
            Some(_) => Err(wrong_type(key)),
        }
    }

    pub async fn decr(&self, key: &str) -> Result<(), StoreError> {
        let mut map = self.map();
        match Self::live(&mut map, key) {
            Some(Entry {
                value: Value::Counter(n),
                ..
            }) => {
                *n = (*n - 1).max(0);
                Ok(())
            }
            Some(_) => Err(wrong_type(key)),
            None => Ok(()),
        }
    }

    pub async fn incr(&self, key: &str, ttl: Duration) -> Result<(i64, Duration), StoreError> {
        let mut map = self.map();
        let now = Instant::now();
        match Self::live(&mut map, key) {
            Some(Entry {
                value: Value::Counter(n),
                expires_at,
            }) => {
                *n += 1;
                Ok((*n, expires_at.saturating_duration_since(now)))
            }
            Some(_) => Err(wrong_type(key)),
            None => {
                map.insert(
                    key.to_owned(),
                    Entry {
                        value: Value::Counter(1),
                        expires_at: now + ttl,
                    },
                );
                Ok((1, ttl))
            }
        }
    }

    pub async fn active_touch(
        &self,
        key: &str,
        member: &str,
        now_ms: i64,
        stale_before_ms: i64,
        max: u32,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut map = self.map();
        let until = Instant::now() + ttl;
        if Self::live(&mut map, key).is_none() {
            map.insert(
                key.to_owned(),
                Entry {
                    value: Value::Active(HashMap::new()),
                    expires_at: until,
                },
            );
        }
        let Some(Entry {
            value: Value::Active(m),
            expires_at,
        }) = map.get_mut(key)
        else {
            return Err(wrong_type(key));
        };
        m.retain(|_, seen| *seen >= stale_before_ms);
        if m.contains_key(member) || m.len() < max as usize {
            m.insert(member.to_owned(), now_ms);
            *expires_at = until;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    pub async fn active_list(
        &self,
        key: &str,
        since_ms: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let mut map = self.map();
        match Self::live(&mut map, key) {
            None => Ok(vec![]),
            Some(Entry {
                value: Value::Active(m),
                ..
            }) => {
                let mut v: Vec<_> = m
                    .iter()
                    .filter(|(_, s)| **s >= since_ms)
                    .map(|(k, s)| (k.clone(), *s))
                    .collect();
                v.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
                Ok(v)
            }
            Some(_) => Err(wrong_type(key)),
        }
    }

    pub async fn active_remove(&self, key: &str, member: &str) -> Result<bool, StoreError> {
        let mut map = self.map();
        match Self::live(&mut map, key) {
            Some(Entry {
                value: Value::Active(m),
                ..
            }) => Ok(m.remove(member).is_some()),
            _ => Ok(false),
        }
    }

    pub async fn log_append(
        &self,
        key: &str,
        entry: &str,
        max_len: usize,
        ttl: Duration,
    ) -> Result<String, StoreError> {
        let mut map = self.map();
        let until = Instant::now() + ttl;
        if Self::live(&mut map, key).is_none() {
            map.insert(
                key.to_owned(),
                Entry {
                    value: Value::Log(VecDeque::new(), 0),
                    expires_at: until,
                },
            );
        }
        let Some(Entry {
            value: Value::Log(log, seq),
            expires_at,
        }) = map.get_mut(key)
        else {
            return Err(wrong_type(key));
        };
        *seq += 1;
        let ms = chrono::Utc::now().timestamp_millis();
        let id = format!("{ms}-{seq}");
        log.push_back((id.clone(), entry.to_owned()));
        while log.len() > max_len {
            log.pop_front();
        }
        *expires_at = until;
        Ok(id)
    }

    pub async fn log_range(
        &self,
        key: &str,
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut map = self.map();
        match Self::live(&mut map, key) {
            None => Ok(vec![]),
            Some(Entry {
                value: Value::Log(log, _),
                ..
            }) => {
                let after = after.and_then(parse_log_id);
                Ok(log
                    .iter()
                    .filter(|(id, _)| after.is_none_or(|a| parse_log_id(id).is_some_and(|i| i > a)))
                    .take(count)
                    .cloned()
                    .collect())
            }
            Some(_) => Err(wrong_type(key)),
        }
    }

    pub async fn publish(&self, event: &Event) -> Result<(), StoreError> {
        // The embedded store's bus is this process: what it publishes, it hears back.
        self.local.tell(event, super::Heard::Bus);
        // No subscribers is fine: nobody has anything cached.
        let _ = self.events.send(event.clone());
        Ok(())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

fn parse_log_id(id: &str) -> Option<(i64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

fn wrong_type(key: &str) -> StoreError {
    StoreError::Corrupt(format!("key {key} holds another type"))
}
