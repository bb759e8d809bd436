//! Redis Sentinel: the master of a named service, found through the sentinels and found
//! again after they fail it over.
//!
//! `redis+sentinel://[user:password@]host1:26379,host2:26379/<service>[/<db>]`
//! (`rediss+sentinel://` for TLS to sentinels and Redis alike). The credentials and the
//! database are the Redis servers'; sentinels are asked without credentials.
//!
//! The crate's `SentinelClient` finds the master (asking each sentinel, checking the
//! answer with `ROLE`) but hands out a plain connection that stays with that server
//! forever, and the crate has no reconnecting manager for Sentinel as it has for one server
//! (`ConnectionManager`) and for a cluster. `SentinelConn` is that missing part, kept small:
//! one multiplexed connection to the current master, dropped when it fails in a way that
//! says the master may have moved (I/O, timeout, `READONLY` from a demoted master,
//! `MASTERDOWN`, `LOADING`), so the next command asks the sentinels again. A command that
//! surely did not run there (a refused connect, `READONLY`) is tried once more on the new
//! master; anything else fails as it would on one server (503 `store_unavailable`), because
//! a command that may have run must not run twice.

use super::redis::{CONNECT_TIMEOUT, RESPONSE_TIMEOUT};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Cmd, ErrorKind, IntoConnectionInfo, Pipeline, RedisError, RedisFuture,
    RedisResult, ServerErrorKind, TlsMode, Value,
};
use std::sync::{Arc, RwLock};

pub(super) const SCHEMES: [(&str, &str); 2] =
    [("redis+sentinel", "redis"), ("rediss+sentinel", "rediss")];
const FORM: &str = "must look like redis+sentinel://[user:password@]host1:26379,host2:26379/<service>[/<db>] (rediss+sentinel:// for TLS)";

/// A parsed `redis+sentinel://` URL.
pub(super) struct SentinelUrl {
    /// `redis://host:port/` of each sentinel (no credentials).
    pub sentinels: Vec<String>,
    /// The name the sentinels monitor the master under (`sentinel monitor <name> …`).
    pub service: String,
    /// How to talk to the master once found: credentials, database, TLS.
    pub node: SentinelNodeConnectionInfo,
    pub db: i64,
}

/// `Ok(None)` for any other scheme; errors never repeat the URL.
pub(super) fn parse_url(url: &str) -> Result<Option<SentinelUrl>, String> {
    let Some(list) = super::redis::parse_node_list(url, &SCHEMES, FORM)? else {
        return Ok(None);
    };
    let (service, db) = match list.path.trim_end_matches('/').split_once('/') {
        Some((s, db)) => (s, Some(db)),
        None => (list.path.trim_end_matches('/'), None),
    };
    if service.is_empty()
        || service.len() > 64
        || !service
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Err(format!(
            "{FORM}: the service is the master's name as the sentinels monitor it (letters, digits, . - _)"
        ));
    }
    let db = match db {
        None => "0",
        Some(d) if !d.is_empty() && d.len() <= 2 && d.bytes().all(|b| b.is_ascii_digit()) => d,
        Some(_) => return Err(format!("{FORM}: the database is a number")),
    };
    // The crate parses the credentials and the database as it would for one server.
    let settings = format!("{}://{}localhost/{db}", list.scheme, list.userinfo)
        .as_str()
        .into_connection_info()
        .map_err(|e| format!("{FORM}: {}", e.detail().unwrap_or("bad credentials")))?
        .redis_settings()
        .clone();
    let db = settings.db();
    let mut node = SentinelNodeConnectionInfo::default().set_redis_connection_info(settings);
    if list.scheme == "rediss" {
        node = node.set_tls_mode(TlsMode::Secure);
    }
    Ok(Some(SentinelUrl {
        sentinels: list
            .nodes
            .iter()
            .map(|n| format!("{}://{n}/", list.scheme))
            .collect(),
        service: service.to_owned(),
        node,
        db,
    }))
}

impl SentinelUrl {
    /// A client that finds the service's master through the sentinels.
    pub fn client(&self) -> RedisResult<SentinelClient> {
        SentinelClient::build(
            self.sentinels.iter().map(String::as_str).collect(),
            &self.service,
            Some(self.node.clone()),
            SentinelServerType::Master,
        )
    }
}

/// The current master's connection, found again after a failover (see the module comment).
#[derive(Clone)]
pub(super) struct SentinelConn {
    /// Held while asking the sentinels, so a failover makes one lookup, not one per request.
    sentinels: Arc<tokio::sync::Mutex<SentinelClient>>,
    /// The master's connection and a generation number, so a failure on an old connection
    /// does not drop the one that already replaced it.
    current: Arc<RwLock<(u64, Option<MultiplexedConnection>)>>,
    db: i64,
}

impl SentinelConn {
    pub fn new(client: SentinelClient, db: i64) -> Self {
        Self {
            sentinels: Arc::new(tokio::sync::Mutex::new(client)),
            current: Arc::new(RwLock::new((0, None))),
            db,
        }
    }

    fn cached(&self) -> (u64, Option<MultiplexedConnection>) {
        let g = self.current.read().unwrap_or_else(|e| e.into_inner());
        (g.0, g.1.clone())
    }

    /// The master's connection: the one in use, or a new one to whatever master the
    /// sentinels name now. Bounded by RESPONSE_TIMEOUT.
    async fn connection(&self) -> RedisResult<(u64, MultiplexedConnection)> {
        if let (generation, Some(c)) = self.cached() {
            return Ok((generation, c));
        }
        let lookup = async {
            let mut sentinels = self.sentinels.lock().await;
            // Another request may have connected while this one waited for the lock.
            if let (generation, Some(c)) = self.cached() {
                return Ok((generation, c));
            }
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(CONNECT_TIMEOUT))
                .set_response_timeout(Some(RESPONSE_TIMEOUT));
            let c = sentinels.get_async_connection_with_config(&config).await?;
            let mut g = self.current.write().unwrap_or_else(|e| e.into_inner());
            g.0 += 1;
            g.1 = Some(c.clone());
            Ok((g.0, c))
        };
        match tokio::time::timeout(RESPONSE_TIMEOUT, lookup).await {
            Ok(r) => r,
            Err(_) => Err(RedisError::from((
                ErrorKind::Io,
                "no master found through the sentinels in time",
            ))),
        }
    }

    /// After `e` on the connection of `generation`: forget it if the master may have moved.
    /// Returns whether the command surely did not run, so it may be sent again.
    fn failed(&self, generation: u64, e: &RedisError) -> bool {
        let moved = e.is_io_error()
            || e.is_timeout()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_unrecoverable_error()
            || matches!(
                e.kind(),
                ErrorKind::Server(
                    ServerErrorKind::ReadOnly
                        | ServerErrorKind::MasterDown
                        | ServerErrorKind::BusyLoading
                        | ServerErrorKind::ExecAbort
                )
            );
        if moved {
            let mut g = self.current.write().unwrap_or_else(|e| e.into_inner());
            if g.0 == generation {
                g.1 = None;
            }
        }
        e.is_connection_refusal()
            || matches!(e.kind(), ErrorKind::Server(ServerErrorKind::ReadOnly))
    }
}

impl ConnectionLike for SentinelConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let mut retried = false;
            loop {
                let (generation, mut c) = self.connection().await?;
                match c.req_packed_command(cmd).await {
                    Err(e) if self.failed(generation, &e) && !retried => retried = true,
                    other => return other,
                }
            }
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let mut retried = false;
            loop {
                let (generation, mut c) = self.connection().await?;
                match c.req_packed_commands(pipeline, offset, count).await {
                    // A pipeline is resent only when refused before anything ran.
                    Err(e)
                        if self.failed(generation, &e) && !retried && e.is_connection_refusal() =>
                    {
                        retried = true
                    }
                    other => return other,
                }
            }
        })
    }

    fn get_db(&self) -> i64 {
        self.db
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_urls_name_sentinels_service_and_database() {
        let u =
            parse_url("redis+sentinel://app:s%40cret@10.0.0.1:26379,sentinel-2:26379/vodgate/2")
                .unwrap()
                .unwrap();
        assert_eq!(
            u.sentinels,
            ["redis://10.0.0.1:26379/", "redis://sentinel-2:26379/"]
        );
        assert_eq!(u.service, "vodgate");
        let u = parse_url("rediss+sentinel://h:26379/mymaster/")
            .unwrap()
            .unwrap();
        assert_eq!(u.sentinels, ["rediss://h:26379/"]);
        assert_eq!(u.service, "mymaster");
        assert!(parse_url("redis://h:6379/").unwrap().is_none());
        for bad in [
            "redis+sentinel://h:26379/",
            "redis+sentinel://h:26379",
            "redis+sentinel://h/vodgate",
            "redis+sentinel://h:26379/vod gate",
            "redis+sentinel://h:26379/vodgate/x",
            "redis+sentinel://h:26379/vodgate?db=1",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
        let e = parse_url("redis+sentinel://u:hunter2@h/vodgate")
            .err()
            .unwrap();
        assert!(
            !e.contains("hunter2"),
            "errors never repeat a password: {e}"
        );
    }
}
