//! A Redis failover drill: what vodgate answered 200 survives the death of the master that
//! took it. Redis replicates asynchronously, so without `VODGATE_REDIS_WAIT_REPLICAS` a
//! revocation the master acknowledged and then lost with its death is undone by the
//! promoted replica (the refunded film plays again). With it, a revocation is answered 200
//! only once the replica holds it, and 503 when the replica cannot confirm it.
//!
//! These tests run their own Redis (a cluster of three masters with one replica each, or a
//! master, a replica and three sentinels), also in the CI's cluster run: they kill and stop
//! its servers.

use crate::helpers::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The cluster takes over within about two node timeouts (1 s each); generous for a busy CI.
const FAILOVER_WITHIN: Duration = Duration::from_secs(20);

/// A node of the cluster, as `CLUSTER NODES` describes it.
#[derive(Debug, Clone)]
struct Node {
    id: String,
    port: u16,
    master: bool,
    /// The master this node replicates ("-" for a master).
    replicates: String,
    slots: Vec<(u16, u16)>,
}

fn nodes(port: u16) -> Vec<Node> {
    redis_cli(port, &["cluster", "nodes"])
        .lines()
        .filter(|l| !l.contains("fail") && !l.contains("noaddr"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let port = f.get(1)?.split(['@', ':']).nth(1)?.parse().ok()?;
            let slots = f[8..]
                .iter()
                .filter(|s| !s.starts_with('['))
                .map(|s| match s.split_once('-') {
                    Some((a, b)) => (a.parse().unwrap(), b.parse().unwrap()),
                    None => (s.parse().unwrap(), s.parse().unwrap()),
                })
                .collect();
            Some(Node {
                id: f[0].to_owned(),
                port,
                master: f[2].contains("master"),
                replicates: f[3].to_owned(),
                slots,
            })
        })
        .collect()
}

/// The master holding an entitlement's keys and that master's replica.
fn master_and_replica_of(port: u16, entitlement: &str) -> (Node, Node) {
    let slot: u16 = redis_cli(
        port,
        &["cluster", "keyslot", &format!("{{e:{entitlement}}}")],
    )
    .trim()
    .parse()
    .unwrap();
    let all = nodes(port);
    let master = all
        .iter()
        .find(|n| n.master && n.slots.iter().any(|&(a, b)| (a..=b).contains(&slot)))
        .unwrap_or_else(|| panic!("no master serves slot {slot}: {all:?}"))
        .clone();
    let replica = all
        .iter()
        .find(|n| n.replicates == master.id)
        .unwrap_or_else(|| panic!("master {} has no replica: {all:?}", master.port))
        .clone();
    (master, replica)
}

fn signal(pid: u32, sig: &str) {
    assert!(
        std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
            .success(),
        "kill {sig} {pid}"
    );
}

fn pid_of(ports: &[u16], pids: &[u32], port: u16) -> u32 {
    pids[ports.iter().position(|&p| p == port).unwrap()]
}

/// Waits until the cluster has promoted `replica` and every surviving node agrees.
fn wait_promoted(replica: u16, survivors: &[u16]) -> Duration {
    let t = Instant::now();
    loop {
        let promoted = redis_cli(replica, &["role"]).starts_with("master");
        let ok = survivors
            .iter()
            .all(|&p| redis_cli(p, &["cluster", "info"]).contains("cluster_state:ok"));
        if promoted && ok {
            return t.elapsed();
        }
        assert!(
            t.elapsed() < FAILOVER_WITHIN,
            "replica {replica} was not promoted within {FAILOVER_WITHIN:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Retries a call while the cluster client catches up with the new topology (MOVED, a
/// connection to the dead node): at most FAILOVER_WITHIN, then its last answer.
async fn settled<F, Fut>(mut call: F) -> (u16, Value)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = reqwest::Response>,
{
    let t = Instant::now();
    loop {
        let r = call().await;
        let status = r.status().as_u16();
        let body = r.json().await.unwrap_or(Value::Null);
        if status != 503 || t.elapsed() > FAILOVER_WITHIN {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An instance on the cluster; `like`: one more instance of that one's deployment.
async fn app_on_cluster(url: &str, like: Option<&TestApp>) -> TestApp {
    let mut config = test_config(StoreKind::Redis);
    config.redis_url = Some(url.to_owned().into());
    if let Some(other) = like {
        config.redis_prefix = other.config.redis_prefix.clone();
    }
    config.redis_wait_replicas = 1;
    spawn_app_with(config).await
}

/// Grants `n` rentals, each acknowledged with 201: their ids.
async fn grant_many(app: &TestApp, n: usize) -> Vec<String> {
    let mut grants = vec![];
    for i in 0..n {
        let (status, body) = app
            .grant(json!({"viewer_id": format!("v{i}"), "video_id": "sample", "order_id": format!("order-{i}")}))
            .await;
        assert_eq!(status, 201, "grant {i}: {body}");
        grants.push(body["id"].as_str().unwrap().to_owned());
    }
    grants
}

/// Revokes as a chargeback, answered 200.
async fn revoke(app: &TestApp, id: &str) {
    let r = app
        .admin(
            reqwest::Method::POST,
            &format!("/v1/entitlements/{id}/revoke"),
            Some(json!({"reason": "chargeback"})),
        )
        .await;
    assert_eq!(r.status(), 200, "revocation with a healthy replica");
}

/// After the failover: the promoted replica holds the revocation (the entitlement says so
/// and playback stays refused, on this instance and on one that never saw the revocation's
/// event), and every grant acknowledged with 201 is still there.
async fn revocation_and_grants_stand(
    app: &TestApp,
    url: &str,
    viewer: &Viewer,
    segment: &str,
    grants: &[String],
) {
    let path = format!("/v1/entitlements/{}", viewer.entitlement_id);
    let (status, body) = settled(|| app.admin(reqwest::Method::GET, &path, None)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "revoked", "{body}");
    assert_eq!(body["revocation_reason"], "chargeback", "{body}");
    let fresh = app_on_cluster(url, Some(app)).await;
    for instance in [app, &fresh] {
        let (status, body) = settled(|| instance.get_as(viewer, segment)).await;
        assert_eq!(status, 403, "a revoked playback after the failover: {body}");
    }
    for g in grants {
        let path = format!("/v1/entitlements/{g}");
        let (status, body) = settled(|| app.admin(reqwest::Method::GET, &path, None)).await;
        assert_eq!(status, 200, "grant {g} after the failover: {body}");
        assert_eq!(body["status"], "active", "{body}");
    }
}

#[tokio::test]
async fn a_revocation_answered_200_survives_the_death_of_its_master() {
    let (ports, pids, url) = start_cluster(1);
    let app = app_on_cluster(&url, None).await;
    let grants = grant_many(&app, 20).await;
    let (viewer, master_playlist) = app.start_watching("sample").await;
    let segment = format!("{}/360p/seg0.ts", play_dir(&master_playlist));
    assert_eq!(app.get_as(&viewer, &segment).await.status(), 200);
    let (master, replica) = master_and_replica_of(ports[0], &viewer.entitlement_id);

    // Revoked, answered 200, and at once the master holding it dies.
    revoke(&app, &viewer.entitlement_id).await;
    signal(pid_of(&ports, &pids, master.port), "-KILL");
    let survivors: Vec<u16> = ports
        .iter()
        .copied()
        .filter(|&p| p != master.port)
        .collect();
    let took = wait_promoted(replica.port, &survivors);
    eprintln!(
        "replica {} promoted {took:?} after its master died",
        replica.port
    );
    revocation_and_grants_stand(&app, &url, &viewer, &segment, &grants).await;
}

#[tokio::test]
async fn a_revocation_no_replica_confirmed_is_not_answered_200() {
    let (ports, pids, url) = start_cluster(1);
    let app = app_on_cluster(&url, None).await;
    let (viewer, master_playlist) = app.start_watching("sample").await;
    let segment = format!("{}/360p/seg0.ts", play_dir(&master_playlist));
    let id = viewer.entitlement_id.clone();
    let (_, replica) = master_and_replica_of(ports[0], &id);
    let replica_pid = pid_of(&ports, &pids, replica.port);

    // The replica stops answering (a pause, a partition): the master stores the revocation
    // but cannot have it confirmed, so the site is not told it is safe.
    signal(replica_pid, "-STOP");
    let path = format!("/v1/entitlements/{id}/revoke");
    let revoke = || {
        app.admin(
            reqwest::Method::POST,
            &path,
            Some(json!({"reason": "refund"})),
        )
    };
    let t = Instant::now();
    let r = revoke().await;
    let waited = t.elapsed();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    signal(replica_pid, "-CONT");
    assert_eq!(status, 503, "unconfirmed revocation: {body}");
    assert_eq!(body["code"], "store_unavailable");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("only 0 of 1 Redis replicas") && detail.contains("Retry"),
        "{detail}"
    );
    eprintln!("unconfirmed revocation answered after {waited:?}");
    // It was applied on the master all the same: playback is refused at once.
    assert_eq!(app.get_as(&viewer, &segment).await.status(), 403);

    // The retry the 503 asks for is confirmed once the replica is back.
    let (status, body) = settled(revoke).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "revoked");
}

/// `SENTINEL <args>` on a sentinel, as field → value (the reply alternates them).
fn sentinel_fields(port: u16, args: &[&str]) -> Vec<String> {
    let mut all = vec!["sentinel"];
    all.extend_from_slice(args);
    redis_cli(port, &all).lines().map(str::to_owned).collect()
}

fn field(reply: &[String], name: &str) -> Option<String> {
    reply
        .iter()
        .position(|l| l == name)
        .and_then(|i| reply.get(i + 1).cloned())
}

/// A master, its replica and three sentinels watching them as `vodgate` (quorum 2), ready:
/// the replica in sync and every sentinel knowing the replica and the two other sentinels
/// (needed to agree on a failover). Returns the master's port and pid, the replica's port,
/// the sentinels' ports and the redis+sentinel:// URL.
fn start_sentinel_set() -> (u16, u32, u16, Vec<u16>, String) {
    let (master_port, master_pid) = spawn_redis_server(&[]);
    let master_arg = master_port.to_string();
    let (replica_port, _) = spawn_redis_server(&["--replicaof", "127.0.0.1", &master_arg]);
    let sentinels: Vec<u16> = (0..3).map(|_| free_port()).collect();
    for &s in &sentinels {
        spawn_sentinel_on(s, master_port, "vodgate");
    }
    let t = Instant::now();
    loop {
        let linked =
            redis_cli(replica_port, &["info", "replication"]).contains("master_link_status:up");
        let known = sentinels.iter().all(|&s| {
            let m = sentinel_fields(s, &["master", "vodgate"]);
            field(&m, "num-slaves").as_deref() == Some("1")
                && field(&m, "num-other-sentinels").as_deref() == Some("2")
        });
        if linked && known {
            break;
        }
        assert!(
            t.elapsed() < FAILOVER_WITHIN,
            "the sentinels never saw the whole setup"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let url = format!(
        "redis+sentinel://{}/vodgate",
        sentinels
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    (master_port, master_pid, replica_port, sentinels, url)
}

/// Waits until every sentinel names the server on `port` as the master and it says so.
fn wait_named_master(sentinels: &[u16], port: u16) -> Duration {
    let t = Instant::now();
    loop {
        let named = sentinels.iter().all(|&s| {
            sentinel_fields(s, &["get-master-addr-by-name", "vodgate"]).get(1)
                == Some(&port.to_string())
        });
        if named && redis_cli(port, &["role"]).starts_with("master") {
            return t.elapsed();
        }
        assert!(
            t.elapsed() < FAILOVER_WITHIN,
            "the sentinels never promoted {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn under_sentinel_a_revocation_answered_200_survives_a_failover_during_playback() {
    let (_, master_pid, replica_port, sentinels, url) = start_sentinel_set();
    let app = app_on_cluster(&url, None).await;
    let grants = grant_many(&app, 20).await;
    let (refunded, refunded_master) = app.start_watching("sample").await;
    let (watching, watching_master) = app.start_watching("sample").await;
    let refunded_segment = format!("{}/360p/seg0.ts", play_dir(&refunded_master));
    let watching_segment = format!("{}/360p/seg1.ts", play_dir(&watching_master));
    assert_eq!(app.get_as(&refunded, &refunded_segment).await.status(), 200);
    assert_eq!(app.get_as(&watching, &watching_segment).await.status(), 200);

    revoke(&app, &refunded.entitlement_id).await;
    signal(master_pid, "-KILL");
    let took = wait_named_master(&sentinels, replica_port);
    eprintln!("sentinels promoted the replica {took:?} after the master died");

    // The viewer who was not refunded plays on, from the new master.
    let t = Instant::now();
    let (status, body) = settled(|| app.get_as(&watching, &watching_segment)).await;
    assert_eq!(status, 200, "playing through the failover: {body}");
    eprintln!(
        "playing again {:?} after the sentinels named the new master",
        t.elapsed()
    );
    revocation_and_grants_stand(&app, &url, &refunded, &refunded_segment, &grants).await;
}

#[tokio::test]
async fn under_sentinel_a_planned_failover_moves_writes_to_the_new_master() {
    // `SENTINEL FAILOVER` kills nothing: the old master is told to replicate the new one
    // and its clients are disconnected. vodgate must ask the sentinels again and write to
    // the new master, not reconnect to the old address, where writes answer READONLY.
    let (master_port, _, replica_port, sentinels, url) = start_sentinel_set();
    let app = app_on_cluster(&url, None).await;
    grant_many(&app, 1).await;
    let out = redis_cli(sentinels[0], &["sentinel", "failover", "vodgate"]);
    assert!(out.trim() == "OK", "SENTINEL FAILOVER: {out}");
    let took = wait_named_master(&sentinels, replica_port);
    eprintln!("planned failover done in {took:?}");
    // The sentinels then turn the old master into the new one's replica.
    let t = Instant::now();
    while !redis_cli(master_port, &["role"]).starts_with("slave") {
        assert!(
            t.elapsed() < FAILOVER_WITHIN,
            "the old master never became a replica"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The new master's replica (the old master) must confirm each grant, so one grant can
    // still answer 503 while it resyncs; `settled` retries those.
    let t = Instant::now();
    // A client of its own: the test's pooled connection sat idle past actix's keep-alive
    // while the sentinels worked.
    let client = reqwest::Client::new();
    let (status, body) = settled(|| async {
        client
            .post(app.url("/v1/entitlements"))
            .basic_auth(&app.api_key, Some(""))
            .json(&json!({"viewer_id": "after", "video_id": "sample"}))
            .send()
            .await
            .unwrap()
    })
    .await;
    assert_eq!(status, 201, "a write after the planned failover: {body}");
    eprintln!("writing again {:?} after the failover", t.elapsed());
    let id = body["id"].as_str().unwrap();
    let on_new_master = redis_cli(
        replica_port,
        &[
            "exists",
            &format!("{}ent:{{e:{id}}}", app.config.redis_prefix),
        ],
    );
    assert_eq!(
        on_new_master.trim(),
        "1",
        "the grant went to the new master"
    );
}
