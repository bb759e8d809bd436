//! Redis going away and coming back. While it is away every access decision fails closed
//! with 503 `store_unavailable` (quickly: no request hangs, nothing panics), `/readyz` says
//! so, and vodgate recovers on its own within about a second of Redis returning. What Redis
//! acknowledged with `appendonly` survives the restart.
//!
//! Each test kills and restarts its own redis-server, so these tests always use a dedicated
//! single server, also in the CI's cluster run (a cluster node outage is the cluster's own
//! failover business; the client side of it is the same code path).

use crate::helpers::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use vodgate::app::access::ENTITLEMENT_TTL;

/// No request may take longer than this while Redis is away (the store's response timeout
/// is 2 s).
const NO_HANG: Duration = Duration::from_secs(3);

struct Redis {
    port: u16,
    pid: u32,
    args: Vec<&'static str>,
}

impl Redis {
    /// A redis-server of this test's own, on a fresh data directory.
    fn start(args: &[&'static str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // The data directory is per port: a previous run's AOF on this port must not load.
        let _ = std::fs::remove_dir_all(
            std::env::temp_dir().join(format!("vodgate-test-redis-{port}")),
        );
        let (port, pid) = spawn_redis_server_on(port, args);
        Self {
            port,
            pid,
            args: args.to_vec(),
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// SIGKILL: no shutdown, no final save. Returns once the port is closed.
    fn kill(&self) {
        let ok = std::process::Command::new("kill")
            .arg("-KILL")
            .arg(self.pid.to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill redis-server {}", self.pid);
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(
                Instant::now() < deadline,
                "redis-server still accepts connections after SIGKILL"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The same server again: same port, same data directory, same arguments.
    fn restart(&mut self) {
        let (_, pid) = spawn_redis_server_on(self.port, &self.args);
        self.pid = pid;
    }
}

async fn app_on(redis: &Redis) -> TestApp {
    let mut config = test_config(StoreKind::Redis);
    config.redis_url = Some(redis.url().into());
    spawn_app_with(config).await
}

/// A GET that must answer within NO_HANG: its status and body.
async fn timed(req: reqwest::RequestBuilder) -> (u16, Value) {
    let t = Instant::now();
    let r = tokio::time::timeout(NO_HANG, req.send())
        .await
        .expect("a request hung while Redis was away")
        .unwrap();
    assert!(t.elapsed() < NO_HANG);
    let status = r.status().as_u16();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn viewer_get(app: &TestApp, viewer: &Viewer, path: &str) -> reqwest::RequestBuilder {
    app.client
        .get(app.url(path))
        .header("cookie", viewer.cookie.clone().unwrap())
}

#[tokio::test]
async fn a_redis_outage_fails_closed_and_heals_on_its_own() {
    let mut redis = Redis::start(&["--appendonly", "yes"]);
    let app = app_on(&redis).await;
    let (viewer, master) = app.start_watching("sample").await;
    let dir = play_dir(&master);
    let paths = [
        master.clone(),
        format!("{dir}/360p/index.m3u8"),
        format!("{dir}/enc.key"),
        format!("{dir}/360p/seg0.ts"),
    ];
    for p in &paths {
        assert_eq!(
            app.get_as(&viewer, p).await.status(),
            200,
            "{p} before the outage"
        );
    }
    let entitlement = format!("/v1/entitlements/{}", viewer.entitlement_id);

    redis.kill();
    let down = Instant::now();
    // Segments count streams in the store on every request: refused at once. Playlists and
    // keys are decided from a cache that the bus's connection loss evicts; whatever happens
    // to the eviction, no cached entitlement outlives ENTITLEMENT_TTL, so every path is
    // refused by then at the latest, and stays refused.
    let (status, body) = timed(viewer_get(&app, &viewer, &format!("{dir}/360p/seg1.ts"))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("store_unavailable")),
        "{body}"
    );
    let mut last_served = None;
    loop {
        let mut all_refused = true;
        for p in &paths {
            let asked = down.elapsed();
            let (status, body) = timed(viewer_get(&app, &viewer, p)).await;
            match status {
                503 => assert_eq!(body["code"], "store_unavailable", "{p}: {body}"),
                200 => {
                    all_refused = false;
                    last_served = Some(asked);
                    assert!(
                        asked < ENTITLEMENT_TTL,
                        "{p} served {asked:?} after Redis died: a cached decision outlived ENTITLEMENT_TTL"
                    );
                }
                other => panic!("{p} answered {other} while Redis was away: {body}"),
            }
        }
        if all_refused {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("last request served from the cache: {last_served:?} after Redis died");
    for p in &paths {
        assert_eq!(
            timed(viewer_get(&app, &viewer, p)).await.0,
            503,
            "{p} stays refused"
        );
    }
    let admin = app
        .client
        .get(app.url(&entitlement))
        .basic_auth(&app.api_key, Some(""));
    let (status, body) = timed(admin).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("store_unavailable")),
        "{body}"
    );
    let grant = app
        .client
        .post(app.url("/v1/entitlements"))
        .basic_auth(&app.api_key, Some(""))
        .json(&json!({"viewer_id": "v", "video_id": "sample"}));
    assert_eq!(timed(grant).await.0, 503);
    let r = problem(
        app.client
            .get(app.url(&format!("{dir}/status")))
            .header("cookie", viewer.cookie.clone().unwrap())
            .send()
            .await
            .unwrap(),
        503,
    )
    .await;
    assert_eq!(r, "store_unavailable");
    let (status, body) = timed(app.client.get(app.url("/readyz"))).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (503, Some("not_ready")),
        "{body}"
    );
    assert_eq!(
        timed(app.client.get(app.url("/healthz"))).await.0,
        200,
        "alive, just not ready"
    );

    // Stay down a moment longer than the store's reconnect back-off, so the recovery below
    // starts from a connection that has given up, not from one still retrying.
    tokio::time::sleep(Duration::from_millis(800)).await;
    redis.restart();
    let up = Instant::now();
    loop {
        let (status, _) = timed(viewer_get(&app, &viewer, &format!("{dir}/360p/seg2.ts"))).await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(
            up.elapsed() < Duration::from_secs(1),
            "still refused {:?} after Redis returned",
            up.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("serving again {:?} after Redis returned", up.elapsed());
    for p in &paths {
        assert_eq!(
            app.get_as(&viewer, p).await.status(),
            200,
            "{p} after the outage"
        );
    }
    assert_eq!(
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = app.admin(reqwest::Method::GET, &entitlement, None).await;
    assert_eq!(
        r.status(),
        200,
        "the entitlement survived the restart (appendonly)"
    );
}

#[tokio::test]
async fn an_idle_instance_is_ready_again_within_a_second_of_redis_returning() {
    let mut redis = Redis::start(&["--appendonly", "yes"]);
    let app = app_on(&redis).await;
    assert_eq!(
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Nothing asks the store during the outage: the first request after it must not be the
    // one that finds the old connection dead.
    redis.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    redis.restart();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, e) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample"}))
        .await;
    assert_eq!(
        e["status"], "active",
        "the first request a second after Redis returned: {e}"
    );
}

#[tokio::test]
async fn what_redis_acknowledged_with_appendfsync_always_survives_a_restart() {
    let mut redis = Redis::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let app = app_on(&redis).await;
    let (status, granted) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample", "order_id": "order-durable"}))
        .await;
    assert_eq!(status, 201);
    let (_, refunded) = app
        .grant(json!({"viewer_id": "v", "video_id": "trailer", "order_id": "order-refunded"}))
        .await;
    let r = app
        .admin(
            reqwest::Method::POST,
            "/v1/orders/order-refunded/refund",
            None,
        )
        .await;
    assert_eq!(r.status(), 200);

    // Killed right after the acknowledgements: no shutdown save.
    redis.kill();
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(3);
    while app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .status()
        != 200
    {
        assert!(Instant::now() < deadline, "not ready after the restart");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = app
        .admin(
            reqwest::Method::GET,
            &format!("/v1/entitlements/{}", granted["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(r.status(), 200, "an acknowledged grant is still there");
    let after: Value = r.json().await.unwrap();
    for k in [
        "id",
        "status",
        "viewer_id",
        "video_id",
        "order_id",
        "created_at",
        "expires_at",
    ] {
        assert_eq!(after[k], granted[k], "{k} unchanged");
    }
    let r = app
        .admin(
            reqwest::Method::GET,
            &format!("/v1/entitlements/{}", refunded["id"].as_str().unwrap()),
            None,
        )
        .await;
    let after: Value = r.json().await.unwrap();
    assert_eq!(
        after["status"], "refunded",
        "an acknowledged refund is never undone by a restart: {after}"
    );
    // The idempotency claim survived too: the same order + video is the same entitlement.
    let (status, again) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample", "order_id": "order-durable"}))
        .await;
    assert_eq!((status, &again["id"]), (200, &granted["id"]));
}

#[tokio::test]
async fn on_a_cluster_the_revocation_bus_moves_to_another_node_when_its_node_dies() {
    use vodgate::store::{Event, RedisStore, Store};
    let (ports, pids, url) = start_cluster(0);
    let prefix = random_prefix();
    let store = Store::Redis(RedisStore::open(&url, &prefix).unwrap());
    let mut rx = store.subscribe();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap(),
        Event::Resync,
        "subscribed"
    );
    store.ping().await.unwrap();
    store
        .set("k:{t}:1", "v", Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(
        store.mget(&["k:{t}:1", "k:{t}:2"]).await.unwrap(),
        vec![Some("v".into()), None]
    );
    store
        .publish(&Event::Entitlement("ent_before".into()))
        .await
        .unwrap();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(3), rx.recv())
            .await
            .unwrap()
            .unwrap(),
        Event::Entitlement("ent_before".into())
    );

    // The bus listens through the first seed. Kill that node: the loss is announced, the
    // bus resubscribes through another node, and says so again.
    std::process::Command::new("kill")
        .arg("-KILL")
        .arg(pids[0].to_string())
        .status()
        .unwrap();
    let t = Instant::now();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(3), rx.recv())
            .await
            .unwrap()
            .unwrap(),
        Event::Resync,
        "connection loss"
    );
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(3), rx.recv())
            .await
            .unwrap()
            .unwrap(),
        Event::Resync,
        "resubscribed"
    );
    eprintln!("revocation bus moved to another node in {:?}", t.elapsed());
    // An event published on a surviving node (PUBLISH is broadcast over the cluster bus)
    // reaches this instance.
    let mut other = redis::Client::open(format!("redis://127.0.0.1:{}/", ports[1]))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let msg = serde_json::to_string(&Event::Entitlement("ent_after".into())).unwrap();
    let _: () = redis::cmd("PUBLISH")
        .arg(format!("{prefix}revocations"))
        .arg(msg)
        .query_async(&mut other)
        .await
        .unwrap();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(3), rx.recv())
            .await
            .unwrap()
            .unwrap(),
        Event::Entitlement("ent_after".into())
    );
}

#[tokio::test]
async fn with_an_outage_grace_a_playing_rental_rides_out_a_short_outage_and_no_more() {
    // Every write on disk before it is acknowledged: the rental is still there after the restart.
    let mut redis = Redis::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut config = test_config(StoreKind::Redis);
    config.redis_url = Some(redis.url().into());
    config.store_outage_grace = Duration::from_secs(4);
    let app = spawn_app_with(config).await;
    let (viewer, master) = app.start_watching("sample").await;
    let dir = play_dir(&master);
    // A second rental, opened but not played yet: this instance has nothing cached for it.
    let (cold, cold_master) = app.start_watching("sample").await;
    for p in [&master, &format!("{dir}/360p/seg0.ts")] {
        assert_eq!(app.get_as(&viewer, p).await.status(), 200, "{p}");
    }
    // The first play's event made every instance drop the record; playing on reads it again.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(app.get_as(&viewer, &master).await.status(), 200);

    redis.kill();
    let down = Instant::now();
    // Inside the grace, the playing rental keeps going: playlists, keys and segments.
    for p in [
        format!("{dir}/360p/index.m3u8"),
        format!("{dir}/enc.key"),
        format!("{dir}/360p/seg1.ts"),
    ] {
        let (status, body) = timed(viewer_get(&app, &viewer, &p)).await;
        assert_eq!(status, 200, "{p} inside the grace: {body}");
    }
    assert!(
        down.elapsed() < Duration::from_secs(3),
        "the check above took too long to mean anything"
    );
    // What this instance never saw is refused at once: the grace only keeps what was known.
    let (status, body) = timed(viewer_get(&app, &cold, &cold_master)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("store_unavailable")),
        "{body}"
    );
    // Once the grace has run out, the playing rental is refused too.
    tokio::time::sleep(
        Duration::from_secs(4).saturating_sub(down.elapsed()) + Duration::from_millis(300),
    )
    .await;
    let (status, body) = timed(viewer_get(&app, &viewer, &format!("{dir}/360p/seg2.ts"))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("store_unavailable")),
        "{body}"
    );

    redis.restart();
    let up = Instant::now();
    loop {
        let (status, _) = timed(viewer_get(&app, &viewer, &format!("{dir}/360p/seg2.ts"))).await;
        if status == 200 {
            break;
        }
        assert!(
            up.elapsed() < Duration::from_secs(2),
            "still refused after Redis returned"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
