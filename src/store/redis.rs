//! The Redis store, on one server or a Redis Cluster behind the same commands.
//!
//! - One server (`redis://`, `rediss://`, `redis+unix://`): every command through one
//!   `ConnectionManager`, which reconnects on its own.
//! - A cluster (`redis+cluster://host1:7000,host2:7001/`, `rediss+cluster://…` for TLS): the
//!   crate's async cluster client, which routes each command to the node owning its key's hash
//!   slot and follows MOVED/ASK and failovers. The listed nodes are only seeds; the client
//!   discovers the rest.
//!
//! All three are wrapped in `Conn`, so every command below is written once. On a cluster every
//! command must touch one hash slot: each command here takes one key, except `mget`, which
//! refuses keys that do not share a hash tag (on a single server too, so the normal test
//! run catches a cross-slot read). TTLs are written in the same command as the value
//! (`SET … PX`) or in the same MULTI / Lua script as it.
//!
//! - Redis Sentinel (`redis+sentinel://s1:26379,s2:26379/<service>`): the master the
//!   sentinels name, found again after a failover (`sentinel.rs`).
//!
//! The revocation bus is classic PUBLISH/SUBSCRIBE: on a cluster a PUBLISH on any node
//! reaches subscribers on every node, so the listener subscribes through one node and moves
//! to the next (seeds first, then nodes from `CLUSTER NODES`) when that node goes away.

use super::{Event, StoreError, ttl_millis};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// How long to wait for a TCP (and TLS) connection to a node.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long one command may take, retries and redirections included. Past this the request
/// that needed it fails with 503 `store_unavailable` rather than hanging.
pub(super) const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause between attempts of the revocation bus to (re)subscribe.
const BUS_RETRY: Duration = Duration::from_millis(200);
/// How long `replicated` lets Redis wait for replicas: well inside RESPONSE_TIMEOUT, so a
/// replica that does not answer becomes a clear 503 rather than a timed-out command.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(1);

const CLUSTER_SCHEMES: [(&str, &str); 2] =
    [("redis+cluster", "redis"), ("rediss+cluster", "rediss")];

/// A connection to either kind of deployment: one `ConnectionLike`, so commands, pipelines
/// and scripts are written once.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
    Sentinel(super::sentinel::SentinelConn),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => Box::pin(async move {
                let started = Instant::now();
                match c.req_packed_command(cmd).await {
                    Err(e) if stale_refusal(&e, started) => c.req_packed_command(cmd).await,
                    other => other,
                }
            }),
            Conn::Cluster(c) => c.req_packed_command(cmd),
            Conn::Sentinel(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => Box::pin(async move {
                let started = Instant::now();
                match c.req_packed_commands(pipeline, offset, count).await {
                    Err(e) if stale_refusal(&e, started) => {
                        c.req_packed_commands(pipeline, offset, count).await
                    }
                    other => other,
                }
            }),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Sentinel(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
            Conn::Sentinel(c) => c.get_db(),
        }
    }
}

/// The `ConnectionManager` keeps the failed connect of an outage until a command fails on
/// it; that command gets the old refusal at once and starts a fresh connect. Such a stale
/// refusal is worth one more try: a refused connection means the command was never sent, so
/// the retry is safe for any command (INCR and GETDEL included), and it awaits the fresh
/// connect, so the first request after Redis returns succeeds. A refusal that took a while
/// came from a fresh connect with its own back-off: Redis is still away, so fail now.
fn stale_refusal(e: &redis::RedisError, started: Instant) -> bool {
    e.is_connection_refusal() && started.elapsed() < Duration::from_millis(20)
}

/// Where pub/sub connections go.
enum Bus {
    Single(redis::Client),
    /// Seed node URLs (as configured), and the cluster connection to ask for the others.
    Cluster {
        seeds: Vec<String>,
        scheme: &'static str,
        userinfo: String,
        conn: ClusterConnection,
    },
    /// Whatever master the sentinels name at each attempt.
    Sentinel(tokio::sync::Mutex<redis::sentinel::SentinelClient>),
}

#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    prefix: String,
    events: broadcast::Sender<Event>,
    pub(super) local: super::LocalListeners,
    /// Replicas that must confirm a write before `replicated` says it is safe (0: the
    /// master's word is enough).
    wait_replicas: u8,
}

/// A parsed `redis+cluster://` URL: one `redis://` URL per seed node.
struct ClusterUrl {
    scheme: &'static str,
    /// `user:password@` as written (percent-encoded), or empty.
    userinfo: String,
    nodes: Vec<String>,
}

/// A URL naming several nodes: `scheme://[user:password@]host1:port1,host2:port2/path`.
pub(super) struct NodeList {
    /// The scheme each node is reached with (`redis` or `rediss`).
    pub scheme: &'static str,
    /// `user:password@` as written (percent-encoded), or empty.
    pub userinfo: String,
    /// `host:port` of each node, as written.
    pub nodes: Vec<String>,
    /// What follows the first `/` after the hosts (may be empty).
    pub path: String,
}

/// `Ok(None)` when `url`'s scheme is none of `schemes` (multi-node scheme → node scheme).
/// Errors are sentences starting with `form`, and never repeat the URL (it may hold a
/// password).
pub(super) fn parse_node_list(
    url: &str,
    schemes: &[(&str, &'static str)],
    form: &str,
) -> Result<Option<NodeList>, String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Ok(None);
    };
    let Some(&(_, node_scheme)) = schemes.iter().find(|(s, _)| s.eq_ignore_ascii_case(scheme))
    else {
        return Ok(None);
    };
    // Hosts and ports cannot hold `@`; a password can (percent-encoded or not).
    let (userinfo, hosts) = match rest.rfind('@') {
        Some(at) => (&rest[..=at], &rest[at + 1..]),
        None => ("", rest),
    };
    let (hosts, path) = hosts.split_once('/').unwrap_or((hosts, ""));
    if hosts.contains(['?', '#']) || path.contains(['?', '#']) {
        return Err(format!("{form}: no query or fragment"));
    }
    let mut nodes = vec![];
    for node in hosts.split(',') {
        let node = node.trim();
        let Some((host, port)) = node.rsplit_once(':') else {
            return Err(format!("{form}: node {node:?} has no port"));
        };
        let host_ok = if let Some(v6) = host.strip_prefix('[') {
            v6.strip_suffix(']')
                .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok())
        } else {
            !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        };
        if !host_ok || port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(format!("{form}: node {node:?} is not host:port"));
        }
        let node_url = format!("{node_scheme}://{userinfo}{host}:{port}/");
        redis::IntoConnectionInfo::into_connection_info(node_url.as_str()).map_err(|e| {
            format!(
                "{form}: node {node:?} is unusable ({})",
                e.detail().unwrap_or("bad URL")
            )
        })?;
        nodes.push(node.to_owned());
    }
    Ok(Some(NodeList {
        scheme: node_scheme,
        userinfo: userinfo.to_owned(),
        nodes,
        path: path.to_owned(),
    }))
}

fn parse_cluster_url(url: &str) -> Result<Option<ClusterUrl>, String> {
    const FORM: &str = "must look like redis+cluster://[user:password@]host1:port1,host2:port2/ (rediss+cluster:// for TLS)";
    let Some(list) = parse_node_list(url, &CLUSTER_SCHEMES, FORM)? else {
        return Ok(None);
    };
    if !list.path.is_empty() {
        return Err(format!(
            "{FORM}: a cluster has only database 0, so nothing may follow the last `/`"
        ));
    }
    Ok(Some(ClusterUrl {
        scheme: list.scheme,
        nodes: list
            .nodes
            .iter()
            .map(|n| format!("{}://{}{n}/", list.scheme, list.userinfo))
            .collect(),
        userinfo: list.userinfo,
    }))
}

impl RedisStore {
    /// For `REDIS_URL` validation: `Ok(true)` for a well-formed cluster or Sentinel URL
    /// (`redis+cluster://`, `redis+sentinel://` and their `rediss+` forms), `Ok(false)` for
    /// any other scheme, `Err(sentence)` for a malformed one. The sentence never repeats
    /// the URL (it may hold a password).
    pub fn is_multi_node_url(url: &str) -> Result<bool, String> {
        Ok(parse_cluster_url(url)?.is_some() || super::sentinel::parse_url(url)?.is_some())
    }

    /// Connects lazily: vodgate starts even while Redis is still coming up, and `/readyz`
    /// says so until it answers.
    pub fn open(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let invalid = |e: String| {
            StoreError::Redis(redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "REDIS_URL",
                e,
            )))
        };
        let sentinel = super::sentinel::parse_url(url).map_err(invalid)?;
        let (conn, bus) = match parse_cluster_url(url).map_err(invalid)? {
            None if let Some(sentinel) = sentinel => {
                // The bus has a client of its own: its lookups never wait behind commands'.
                let conn = super::sentinel::SentinelConn::new(sentinel.client()?, sentinel.db);
                let bus = Bus::Sentinel(tokio::sync::Mutex::new(sentinel.client()?));
                (Conn::Sentinel(conn), bus)
            }
            None => {
                let client = redis::Client::open(url)?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT))
                    // Short, capped back-off: after an outage, be back within a second of Redis.
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_millis(500))
                    .set_number_of_retries(3);
                let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
                (Conn::Single(conn), Bus::Single(client))
            }
            Some(cluster) => {
                let client = ClusterClientBuilder::new(cluster.nodes.iter().map(String::as_str))
                    // Redirections and failovers are retried quickly; the whole command is still
                    // bounded by RESPONSE_TIMEOUT.
                    .retries(6)
                    .min_retry_wait(20)
                    .max_retry_wait(400)
                    .overall_response_timeout(Some(RESPONSE_TIMEOUT))
                    .build()?;
                let config = ClusterConfig::new()
                    .set_connection_timeout(CONNECT_TIMEOUT)
                    .set_response_timeout(RESPONSE_TIMEOUT);
                let conn = client.get_pending_async_connection_with_config(config);
                let bus = Bus::Cluster {
                    seeds: cluster.nodes,
                    scheme: cluster.scheme,
                    userinfo: cluster.userinfo,
                    conn: conn.clone(),
                };
                (Conn::Cluster(conn), bus)
            }
        };
        let (events, _) = broadcast::channel(1024);
        let store = Self {
            conn,
            prefix: prefix.to_owned(),
            events,
            local: super::LocalListeners::default(),
            wait_replicas: 0,
        };
        tokio::spawn(listen(
            bus,
            store.conn.clone(),
            store.channel(),
            store.events.clone(),
            store.local.clone(),
        ));
        Ok(store)
    }

    /// From now on `replicated` waits for `n` replicas (`VODGATE_REDIS_WAIT_REPLICAS`).
    pub fn require_replicas(&mut self, n: u8) {
        self.wait_replicas = n;
    }

    /// WAIT: every write this process sent before this call is on at least `wait_replicas`
    /// replicas of its master, or the answer is `StoreError::NotReplicated`. Replication is
    /// asynchronous, so without this a write the master acknowledged and then lost in a
    /// failover is gone (a revocation undone). On a cluster the crate sends WAIT to every
    /// primary and answers the smallest count, so the writes of one call are covered
    /// whichever slots they went to. WAIT counts the writes of the connection it is sent on;
    /// all commands share one multiplexed connection per node, so ours are among them.
    pub async fn replicated(&self) -> Result<(), StoreError> {
        if self.wait_replicas == 0 {
            return Ok(());
        }
        let mut c = self.conn.clone();
        let confirmed: i64 = redis::cmd("WAIT")
            .arg(self.wait_replicas)
            .arg(ttl_millis(WAIT_TIMEOUT))
            .query_async(&mut c)
            .await?;
        if confirmed < i64::from(self.wait_replicas) {
            return Err(StoreError::NotReplicated {
                wanted: self.wait_replicas,
                confirmed: confirmed.max(0),
            });
        }
        Ok(())
    }

    /// The underlying connection (either kind), for tools and tests that must look at raw
    /// keys. Keys given to it are not prefixed.
    pub fn raw_connection(&self) -> impl ConnectionLike + Clone + Send + Sync + use<> {
        self.conn.clone()
    }

    fn key(&self, k: &str) -> String {
        format!("{}{}", self.prefix, k)
    }

    fn channel(&self) -> String {
        self.key("revocations")
    }

    pub async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("PX")
            .arg(ttl_millis(ttl))
            .exec_async(&mut c)
            .await?;
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
        Ok(redis::cmd("GET")
            .arg(self.key(key))
            .query_async(&mut c)
            .await?)
    }

    pub async fn mget(&self, keys: &[&str]) -> Result<Vec<Option<String>>, StoreError> {
        // The cluster client would quietly split a cross-slot MGET into one read per node:
        // no longer one snapshot. Refuse it everywhere instead, so a new call site that
        // forgets its hash tag fails its tests on a single server too.
        if let Some(first) = keys.first()
            && keys.iter().any(|k| hash_tag(k) != hash_tag(first))
        {
            return Err(StoreError::Redis(redis::RedisError::from((
                redis::ErrorKind::Server(redis::ServerErrorKind::CrossSlot),
                "MGET keys must share a hash tag",
                keys.join(" "),
            ))));
        }
        let mut c = self.conn.clone();
        let mut cmd = redis::cmd("MGET");
        for k in keys {
            cmd.arg(self.key(k));
        }
        Ok(cmd.query_async(&mut c).await?)
    }

    pub async fn take(&self, key: &str) -> Result<Option<String>, StoreError> {
        let mut c = self.conn.clone();
        Ok(redis::cmd("GETDEL")
            .arg(self.key(key))
            .query_async(&mut c)
            .await?)
    }

    pub async fn del(&self, key: &str) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        redis::cmd("DEL")
            .arg(self.key(key))
            .exec_async(&mut c)
            .await?;
        Ok(())
    }

    pub async fn ttl(&self, key: &str) -> Result<Option<Duration>, StoreError> {
        let mut c = self.conn.clone();
        let ms: i64 = redis::cmd("PTTL")
            .arg(self.key(key))
            .query_async(&mut c)
            .await?;
        Ok(u64::try_from(ms).ok().map(Duration::from_millis))
    }

    pub async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let k = self.key(key);
        // GT: a set shared by several entitlements lives as long as the longest of them.
        // A new key has no TTL, which GT treats as infinite, so set it with NX first.
        // One key, so one slot: the MULTI is valid on a cluster.
        redis::pipe()
            .atomic()
            .cmd("SADD")
            .arg(&k)
            .arg(member)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&k)
            .arg(ttl_millis(ttl))
            .arg("NX")
            .ignore()
            .cmd("PEXPIRE")
            .arg(&k)
            .arg(ttl_millis(ttl))
            .arg("GT")
            .ignore()
            .exec_async(&mut c)
            .await?;
        Ok(())
    }

    pub async fn set_remove(&self, key: &str, member: &str) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        redis::cmd("SREM")
            .arg(self.key(key))
            .arg(member)
            .exec_async(&mut c)
            .await?;
        Ok(())
    }

    pub async fn set_members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let mut c = self.conn.clone();
        let mut m: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.key(key))
            .query_async(&mut c)
            .await?;
        m.sort();
        Ok(m)
    }

    pub async fn incr(&self, key: &str, ttl: Duration) -> Result<(i64, Duration), StoreError> {
        let mut c = self.conn.clone();
        let k = self.key(key);
        let (n, left): (i64, i64) = redis::pipe()
            .atomic()
            .cmd("INCR")
            .arg(&k)
            .cmd("PEXPIRE")
            .arg(&k)
            .arg(ttl_millis(ttl))
            .arg("NX")
            .ignore()
            .cmd("PTTL")
            .arg(&k)
            .query_async(&mut c)
            .await?;
        Ok((n, Duration::from_millis(u64::try_from(left).unwrap_or(0))))
    }

    pub async fn decr(&self, key: &str) -> Result<(), StoreError> {
        // A plain DECR would create a counter of -1 without an expiry when the window has
        // just ended; the script only lowers a live, positive one.
        const SCRIPT: &str = r#"
            local n = tonumber(redis.call('GET', KEYS[1]) or '0')
            if n > 0 then redis.call('DECR', KEYS[1]) end
            return 0
        "#;
        let mut c = self.conn.clone();
        let _: i64 = redis::Script::new(SCRIPT)
            .key(self.key(key))
            .invoke_async(&mut c)
            .await?;
        Ok(())
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
        // One script so the count and the add cannot interleave with another instance's.
        // It touches KEYS[1] only (one slot on a cluster); everything else is an argument.
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

    pub async fn active_list(
        &self,
        key: &str,
        since_ms: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
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
        let n: i64 = redis::cmd("ZREM")
            .arg(self.key(key))
            .arg(member)
            .query_async(&mut c)
            .await?;
        Ok(n > 0)
    }

    pub async fn log_append(
        &self,
        key: &str,
        entry: &str,
        max_len: usize,
        ttl: Duration,
    ) -> Result<String, StoreError> {
        let mut c = self.conn.clone();
        let k = self.key(key);
        let (id,): (String,) = redis::pipe()
            .atomic()
            .cmd("XADD")
            .arg(&k)
            .arg("MAXLEN")
            .arg("~")
            .arg(max_len)
            .arg("*")
            .arg("e")
            .arg(entry)
            .cmd("PEXPIRE")
            .arg(&k)
            .arg(ttl_millis(ttl))
            .ignore()
            .query_async(&mut c)
            .await?;
        Ok(id)
    }

    pub async fn log_range(
        &self,
        key: &str,
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
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
            .filter_map(|(id, fields)| {
                fields
                    .into_iter()
                    .find(|(k, _)| k == "e")
                    .map(|(_, v)| (id, v))
            })
            .collect())
    }

    pub async fn publish(&self, event: &Event) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let msg = serde_json::to_string(event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        redis::cmd("PUBLISH")
            .arg(self.channel())
            .arg(msg)
            .exec_async(&mut c)
            .await?;
        Ok(())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// On a cluster PING goes to every primary: ready means every slot can be served.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        redis::cmd("PING").exec_async(&mut c).await?;
        Ok(())
    }
}

/// The part of a key Redis Cluster hashes: the first non-empty `{…}`, else the whole key.
fn hash_tag(key: &str) -> &str {
    if let Some(open) = key.find('{')
        && let Some(len) = key[open + 1..].find('}')
        && len > 0
    {
        return &key[open + 1..open + 1 + len];
    }
    key
}

impl Bus {
    /// The node to subscribe through on attempt `n`: one server, or on a cluster the
    /// seeds and then every node the cluster knows of, in turn, so a dead node is left
    /// behind at the next attempt.
    async fn client(&self, n: usize) -> Result<redis::Client, redis::RedisError> {
        match self {
            Bus::Single(c) => Ok(c.clone()),
            Bus::Sentinel(sentinels) => {
                let lookup = async { sentinels.lock().await.async_get_client().await };
                tokio::time::timeout(RESPONSE_TIMEOUT, lookup)
                    .await
                    .unwrap_or_else(|_| {
                        Err(redis::RedisError::from((
                            redis::ErrorKind::Io,
                            "no master found through the sentinels in time",
                        )))
                    })
            }
            Bus::Cluster {
                seeds,
                scheme,
                userinfo,
                conn,
            } => {
                let mut urls = seeds.clone();
                let mut c = conn.clone();
                let nodes = tokio::time::timeout(
                    CONNECT_TIMEOUT,
                    redis::cmd("CLUSTER")
                        .arg("NODES")
                        .query_async::<String>(&mut c),
                )
                .await;
                if let Ok(Ok(text)) = nodes {
                    for addr in cluster_node_addresses(&text) {
                        let url = format!("{scheme}://{userinfo}{addr}/");
                        if !urls.contains(&url) {
                            urls.push(url);
                        }
                    }
                }
                redis::Client::open(urls[n % urls.len()].as_str())
            }
        }
    }
}

/// `host:port` of every reachable node in a `CLUSTER NODES` reply.
fn cluster_node_addresses(text: &str) -> Vec<String> {
    let mut out = vec![];
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(addr), Some(flags)) = (fields.get(1), fields.get(2)) else {
            continue;
        };
        if flags
            .split(',')
            .any(|f| matches!(f, "fail" | "fail?" | "handshake" | "noaddr"))
        {
            continue;
        }
        // ip:port@cport[,hostname]
        let hostport = addr.split('@').next().unwrap_or_default();
        let Some((host, port)) = hostport.rsplit_once(':') else {
            continue;
        };
        if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
            continue;
        }
        out.push(if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        });
    }
    out
}

/// Keeps one pub/sub connection open for the life of the process. After any break it
/// reconnects (on a cluster, through the next node) and announces `Resync`, because events
/// published meanwhile are lost and caches must not trust what they hold. The connection
/// dropping announces `Resync` too, so cached decisions are dropped as soon as the loss is
/// seen: from then on every access decision asks the store, and fails closed while it is
/// away.
async fn listen(
    bus: Bus,
    conn: Conn,
    channel: String,
    events: broadcast::Sender<Event>,
    listeners: super::LocalListeners,
) {
    // The caches hear each event right here, before anything else is read from the bus;
    // `events` is for whoever else subscribes (tools, tests).
    let announce = |ev: Event| {
        listeners.tell(&ev, super::Heard::Bus);
        let _ = events.send(ev);
    };
    use futures_util::StreamExt;
    let mut first = true;
    let mut attempt = 0usize;
    loop {
        let pubsub = match bus.client(attempt).await {
            Ok(client) => {
                match tokio::time::timeout(CONNECT_TIMEOUT, client.get_async_pubsub()).await {
                    Ok(r) => r,
                    Err(_) => Err(redis::RedisError::from((
                        redis::ErrorKind::Io,
                        "pub/sub connect timed out",
                    ))),
                }
            }
            Err(e) => Err(e),
        };
        match pubsub {
            Ok(mut pubsub) => {
                if let Err(e) = pubsub.subscribe(&channel).await {
                    tracing::warn!(error = %e, "revocation bus: subscribe failed");
                } else {
                    if !first {
                        tracing::info!("revocation bus: reconnected; dropping cached decisions");
                    }
                    // Subscribed: anything cached before this point may have missed events.
                    announce(Event::Resync);
                    if !first {
                        // Redis is back: make sure the command connection is too, even if no
                        // request has come in to notice (a connection that died quietly fails
                        // its next command once, and that should not be a viewer's request).
                        let mut c = conn.clone();
                        for _ in 0..3 {
                            if redis::cmd("PING").exec_async(&mut c).await.is_ok() {
                                break;
                            }
                        }
                    }
                    first = false;
                    let mut stream = pubsub.into_on_message();
                    while let Some(msg) = stream.next().await {
                        match serde_json::from_slice::<Event>(msg.get_payload_bytes()) {
                            Ok(ev) => announce(ev),
                            Err(e) => {
                                tracing::warn!(error = %e, "revocation bus: unreadable message")
                            }
                        }
                    }
                    tracing::warn!("revocation bus: connection lost");
                    announce(Event::Resync);
                }
            }
            Err(e) => tracing::debug!(error = %e, "revocation bus: cannot connect yet"),
        }
        attempt = attempt.wrapping_add(1);
        tokio::time::sleep(BUS_RETRY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_name_seed_nodes() {
        let c = parse_cluster_url(
            "redis+cluster://127.0.0.1:7000,127.0.0.1:7001,redis-2.internal:7002/",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            c.nodes,
            [
                "redis://127.0.0.1:7000/",
                "redis://127.0.0.1:7001/",
                "redis://redis-2.internal:7002/"
            ]
        );
        let c = parse_cluster_url("rediss+cluster://app:s%40cret@[::1]:7000")
            .unwrap()
            .unwrap();
        assert_eq!(c.nodes, ["rediss://app:s%40cret@[::1]:7000/"]);
        assert_eq!(c.userinfo, "app:s%40cret@");
        assert!(
            parse_cluster_url("redis://127.0.0.1:6379/")
                .unwrap()
                .is_none()
        );
        for bad in [
            "redis+cluster://",
            "redis+cluster://h1",
            "redis+cluster://h1:70000/",
            "redis+cluster://h1:7000/3",
            "redis+cluster://h1:7000,/",
            "redis+cluster://h 1:7000/",
        ] {
            assert!(parse_cluster_url(bad).is_err(), "{bad}");
        }
        let e = parse_cluster_url("redis+cluster://u:hunter2@h1/")
            .err()
            .unwrap();
        assert!(
            !e.contains("hunter2"),
            "errors never repeat a password: {e}"
        );
    }

    #[test]
    fn hash_tags_follow_redis_cluster_rules() {
        assert_eq!(hash_tag("vodgate:ent:{e:ent_1}:revoked"), "e:ent_1");
        assert_eq!(hash_tag("vodgate:ent:{e:ent_1}"), "e:ent_1");
        assert_eq!(hash_tag("vodgate:launch:abc"), "vodgate:launch:abc");
        assert_eq!(
            hash_tag("a{}b{c}"),
            "a{}b{c}",
            "an empty first tag means the whole key"
        );
        assert_eq!(hash_tag("a{b}{c}"), "b");
    }

    #[test]
    fn cluster_nodes_replies_give_reachable_node_addresses() {
        let text = "07c3 127.0.0.1:30004@31004,redis-4 slave e7d1 0 1 4 connected\n\
                    67ed 127.0.0.1:30002@31002 master - 0 1 2 connected 5461-10922\n\
                    292f 127.0.0.1:30003@31003 master,fail - 0 1 3 disconnected 10923-16383\n\
                    e7d1 ::1:30001@31001 myself,master - 0 0 1 connected 0-5460\n\
                    aaaa :0@0 master,noaddr - 0 0 1 disconnected\n";
        assert_eq!(
            cluster_node_addresses(text),
            ["127.0.0.1:30004", "127.0.0.1:30002", "[::1]:30001"]
        );
    }
}
