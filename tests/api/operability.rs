//! What a production team checks: security headers, metrics off the public port, limits,
//! logs free of secrets, graceful shutdown.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test]
async fn every_page_and_answer_carries_security_headers() {
    let app = spawn_app().await;
    let (viewer, master) = app.start_watching("sample").await;
    for r in [
        app.get_as(&viewer, &format!("/watch/{}", viewer.entitlement_id))
            .await,
        app.get_as(&viewer, &master).await,
        app.client.get(app.url("/healthz")).send().await.unwrap(),
        app.client.get(app.url("/nope")).send().await.unwrap(),
    ] {
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'self'"), "{csp}");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    }
    let mut config = test_config(StoreKind::Redis);
    config.frame_ancestors = "'self' https://shop.example".into();
    let app = spawn_app_with(config).await;
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'self' https://shop.example")
    );
}

#[test]
fn frame_ancestors_is_validated() {
    let e = vodgate::config::Config::from_sources(None, |k| {
        (k == "VODGATE_FRAME_ANCESTORS").then(|| "javascript:x".to_owned())
    })
    .unwrap_err();
    assert!(e.to_string().contains("VODGATE_FRAME_ANCESTORS"), "{e}");
}

#[tokio::test]
async fn metrics_are_served_apart_from_the_public_port() {
    let mut config = test_config(StoreKind::Redis);
    config.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    vodgate::telemetry::init_for_tests();
    let app = vodgate::http::server::Application::build(config)
        .await
        .unwrap();
    let (port, mport) = (app.port(), app.metrics_port().expect("metrics listener"));
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let r = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "not on the public port");
    client
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .unwrap();
    let text = client
        .get(format!("http://127.0.0.1:{mport}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            "vodgate_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}"
        ),
        "{text}"
    );
    assert!(
        text.contains("vodgate_active_playbacks"),
        "the gauge is exported"
    );

    // A rental played, revoked, refused: each step shows in the counters. They are
    // process-wide and other tests run alongside, so this looks at increases.
    let metrics = || {
        let client = client.clone();
        async move {
            client
                .get(format!("http://127.0.0.1:{mport}/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let before = metrics().await;
    let app = spawn_app().await;
    let (viewer, master) = app.start_watching("sample").await;
    let seg = format!("{}/360p/seg0.ts", play_dir(&master));
    assert_eq!(app.get_as(&viewer, &master).await.status(), 200);
    assert_eq!(app.get_as(&viewer, &seg).await.status(), 200);
    // The first play made this instance forget its record; this reads (and caches) it again.
    assert_eq!(app.get_as(&viewer, &seg).await.status(), 200);
    let r = app
        .admin(
            reqwest::Method::POST,
            &format!("/v1/entitlements/{}/revoke", viewer.entitlement_id),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        problem(app.get_as(&viewer, &seg).await, 403).await,
        "revoked"
    );
    let after = metrics().await;
    let grew = |series: &str| {
        let v = |text: &str| metric_value(text, series).unwrap_or(0.0);
        v(&after) - v(&before)
    };
    assert!(
        grew(r#"vodgate_access_decisions_total{outcome="allowed"}"#) >= 2.0,
        "{after}"
    );
    assert!(
        grew(r#"vodgate_access_decisions_total{outcome="revoked"}"#) >= 1.0,
        "{after}"
    );
    assert!(
        grew(r#"vodgate_revocation_events_total{kind="entitlement"}"#) >= 1.0,
        "{after}"
    );
    assert!(
        grew(r#"vodgate_cache_evictions_total{cause="entitlement"}"#) >= 1.0,
        "{after}"
    );
    assert!(
        grew(r#"vodgate_cache_lookups_total{cache="entitlement",result="hit"}"#) >= 1.0,
        "{after}"
    );
    assert!(
        grew(
            r#"vodgate_http_requests_total{method="GET",route="/play/{playback_id}/{tail:.*}",status="403"}"#
        ) >= 1.0,
        "{after}"
    );
    assert!(
        metric_value(&after, "vodgate_active_playbacks").unwrap() >= 1.0,
        "{after}"
    );
}

/// The value of one series in Prometheus text (`name{labels} value`).
fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn oversized_headers_and_bodies_are_refused() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(app.url("/healthz"))
        .header("x-junk", "a".repeat(20_000))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers().contains_key("content-security-policy"),
        "refusals carry the headers too"
    );
    assert_eq!(problem(r, 431).await, "headers_too_large");
    let r = app
        .client
        .get(app.url("/healthz"))
        .header("x-fine", "a".repeat(4_000))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .post(app.url("/v1/orders/o/refund"))
        .basic_auth(&app.api_key, Some(""))
        .header("content-type", "application/json")
        .body(format!("{{\"reason\":\"{}\"}}", "a".repeat(100_000)))
        .send()
        .await
        .unwrap();
    // A raw body (optional JSON) over the limit: the same problem shape as everywhere.
    assert_eq!(problem(r, 413).await, "body_too_large");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn_binary(env: &[(&str, String)]) -> (std::process::Child, u16) {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vodgate"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("VODGATE_LISTEN", format!("127.0.0.1:{port}"))
        .env("VODGATE_BOOTSTRAP_API_KEY", TEST_API_KEY.as_str())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    (child, port)
}

#[tokio::test]
async fn a_full_run_logs_none_of_the_secrets_it_minted() {
    let prefix = random_prefix();
    let (child, port) = spawn_binary(&[
        ("RUST_LOG", "debug".into()),
        ("REDIS_URL", redis_url()),
        ("VODGATE_REDIS_PREFIX", prefix),
        ("VODGATE_WEBHOOK_SECRET", "whsec_log_test_0123456789".into()),
    ]);
    let base = format!("http://127.0.0.1:{port}");
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut secrets: Vec<String> = vec![
        TEST_API_KEY.as_str().to_owned(),
        "whsec_log_test_0123456789".into(),
    ];
    let t: Value = c
        .post(format!("{base}/auth/api-key"))
        .json(&json!({"apiKey": TEST_API_KEY.as_str()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let t2: Value = c
        .post(format!("{base}/auth/refresh"))
        .json(&json!({"refreshToken": t["refresh_token"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // A replayed refresh token is a security event that must be logged without the token.
    c.post(format!("{base}/auth/refresh"))
        .json(&json!({"refreshToken": t["refresh_token"]}))
        .send()
        .await
        .unwrap();
    for v in [
        &t["access_token"],
        &t["refresh_token"],
        &t2["access_token"],
        &t2["refresh_token"],
    ] {
        secrets.push(v.as_str().unwrap().to_owned());
    }
    let e = grant_through(
        &c,
        &base,
        json!({"viewer_id": "v", "video_id": "sample", "order_id": "log-order"}),
    )
    .await;
    let watch_url = e["watch_url"].as_str().unwrap().to_owned();
    secrets.push(watch_url.rsplit('/').next().unwrap().to_owned());
    let (cookie, master) = watch_through(&c, &base, &watch_url).await;
    secrets.push(cookie.split_once('=').unwrap().1.to_owned());
    c.get(&watch_url).send().await.unwrap(); // a second use, refused
    let id = e["id"].as_str().unwrap();
    let dir = play_dir(&master);
    for p in [
        master.clone(),
        format!("{dir}/360p/index.m3u8"),
        format!("{dir}/enc.key"),
        format!("{dir}/360p/seg0.ts"),
    ] {
        assert_eq!(
            c.get(format!("{base}{p}"))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    c.post(format!("{base}/v1/entitlements/{id}/revoke"))
        .bearer_auth(t2["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    c.post(format!("{base}/v1/entitlements/{id}/revoke"))
        .basic_auth(TEST_API_KEY.as_str(), Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(
        c.get(format!("{base}{dir}/360p/seg1.ts"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    c.post(format!("{base}/webhooks/payments"))
        .header("vodgate-signature", "t=1,v1=00")
        .body("{}")
        .send()
        .await
        .unwrap();
    // Stop and read everything it wrote.
    unsafe_kill(child.id(), "TERM");
    let out = child.wait_with_output().unwrap();
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        logs.contains("entitlement revoked"),
        "the run was logged at all"
    );
    assert!(
        logs.contains("refresh_token_reuse"),
        "the security event was logged"
    );
    for s in &secrets {
        // Any 16-character piece of a secret is enough to flag a leak.
        let probe = &s[s.len() - 16..];
        assert!(
            !logs.contains(probe),
            "a secret ending in …{probe} reached the logs"
        );
    }
}

#[tokio::test]
async fn an_api_video_run_logs_none_of_the_upstream_secrets() {
    let sim = crate::apivideo::sim().await;
    let (child, port) = spawn_binary(&[
        ("RUST_LOG", "debug".into()),
        ("REDIS_URL", redis_url()),
        ("VODGATE_REDIS_PREFIX", random_prefix()),
        ("VODGATE_ORIGIN", "apivideo".into()),
        ("APIVIDEO_BASE_URL", sim.base_url()),
        ("APIVIDEO_API_KEY", sim.api_key().to_owned()),
    ]);
    let base = format!("http://127.0.0.1:{port}");
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let e = grant_through(&c, &base, json!({"viewer_id": "v", "video_id": "sample"})).await;
    let (cookie, master) = watch_through(&c, &base, e["watch_url"].as_str().unwrap()).await;
    let id = e["id"].as_str().unwrap();
    let dir = play_dir(&master);
    for p in [
        master.clone(),
        format!("{dir}/360p/index.m3u8"),
        format!("{dir}/enc.key"),
        format!("{dir}/360p/seg0.ts"),
    ] {
        let r = c
            .get(format!("{base}{p}"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{p}");
    }
    let upload: Value = c
        .post(format!("{base}/v1/upload-tokens"))
        .basic_auth(TEST_API_KEY.as_str(), Some(""))
        .json(&json!({"ttl": 600}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let upload_token = upload["token"]
        .as_str()
        .expect("an upload token")
        .to_owned();
    c.post(format!("{base}/v1/entitlements/{id}/revoke"))
        .basic_auth(TEST_API_KEY.as_str(), Some(""))
        .send()
        .await
        .unwrap();

    // Everything upstream that is a secret: the workspace key, every bearer and refresh token
    // the sim issued, every private and session token, the upload token.
    let mut secrets = vec![sim.api_key().to_owned(), upload_token];
    secrets.extend(sim.state().auth.issued());
    let minted = crate::apivideo::sim_tokens(&sim).await;
    assert!(
        minted.len() >= 2,
        "a private token and its session: {minted:?}"
    );
    secrets.extend(minted);
    unsafe_kill(child.id(), "TERM");
    let out = child.wait_with_output().unwrap();
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        logs.contains("playback started"),
        "the run was logged at all"
    );
    assert!(logs.contains("upload"), "the upload-token call was logged");
    for s in &secrets {
        let probe = &s[s.len().saturating_sub(16)..];
        assert!(
            !logs.contains(probe),
            "an upstream secret ending in …{probe} reached the logs"
        );
    }
    sim.stop().await;
}

#[tokio::test]
async fn two_vodgate_processes_on_one_redis_a_revoke_on_one_stops_the_other() {
    let prefix = random_prefix();
    let env = || {
        vec![
            ("REDIS_URL", redis_url()),
            ("VODGATE_REDIS_PREFIX", prefix.clone()),
            ("RUST_LOG", "warn".to_owned()),
        ]
    };
    let (a_child, a_port) = spawn_binary(&env());
    let b_metrics_port = free_port();
    let mut b_env = env();
    b_env.push((
        "VODGATE_METRICS_LISTEN",
        format!("127.0.0.1:{b_metrics_port}"),
    ));
    let (b_child, b_port) = spawn_binary(&b_env);
    let (a, b) = (
        format!("http://127.0.0.1:{a_port}"),
        format!("http://127.0.0.1:{b_port}"),
    );
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Granted through A; the viewer lands on B (a load balancer may pick either).
    let e = grant_through(&c, &a, json!({"viewer_id": "v", "video_id": "sample"})).await;
    let launch = e["watch_url"].as_str().unwrap().replace(&a, &b);
    let (cookie, master) = watch_through(&c, &b, &launch).await;
    let id = e["id"].as_str().unwrap();
    let dir = play_dir(&master);
    let get = |path: String| c.get(format!("{b}{path}")).header("cookie", &cookie).send();
    // Playing on B, with B's cache holding the record (first play, then a second segment).
    for seg in ["seg0.ts", "seg1.ts", "seg2.ts"] {
        assert_eq!(
            get(format!("{dir}/360p/{seg}")).await.unwrap().status(),
            200
        );
    }
    let r = c
        .post(format!("{a}/v1/entitlements/{id}/revoke"))
        .basic_auth(TEST_API_KEY.as_str(), Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // B hears the revocation over the bus and evicts its cached record: its next segments
    // are refused well inside the 2 s a cached decision may live. The revoke is answered
    // once the event is published; B applies it as its bus reader reads it, so a request
    // sent to B in the same millisecond may still find the record cached: the test asks
    // until the refusal (every 5 ms) and holds B to 500 ms, a quarter of the cache's life.
    let started = std::time::Instant::now();
    let (mut r, mut served_after) = (get(format!("{dir}/360p/seg3.ts")).await.unwrap(), 0);
    while r.status() == 200 && started.elapsed() < Duration::from_millis(500) {
        served_after += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
        r = get(format!("{dir}/360p/seg3.ts")).await.unwrap();
    }
    let waited = started.elapsed();
    assert_eq!(
        r.status(),
        403,
        "B still served after {waited:?} ({served_after} segments after the revoke)"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "revoked");
    assert!(
        waited < Duration::from_millis(500),
        "refused only after {waited:?}"
    );
    // And it was the event, not the cache's 2 s running out: B's own counters say so.
    let metrics = c
        .get(format!("http://127.0.0.1:{b_metrics_port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        r#"vodgate_revocation_events_total{kind="entitlement"}"#,
        r#"vodgate_cache_evictions_total{cause="entitlement"}"#,
    ] {
        assert!(
            metric_value(&metrics, series).unwrap_or(0.0) >= 1.0,
            "B: {series} missing in\n{metrics}"
        );
    }
    for child in [a_child, b_child] {
        unsafe_kill(child.id(), "TERM");
        let _ = child.wait_with_output();
    }
}

fn unsafe_kill(pid: u32, signal: &str) {
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_segment_finish() {
    // A title with one large segment, so the transfer is still running when SIGTERM comes.
    let media = std::env::temp_dir().join(format!("vodgate-big-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(media.join("big")).unwrap();
    std::fs::write(
        media.join("big/master.m3u8"),
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\nbig.ts\n#EXT-X-ENDLIST\n",
    )
    .unwrap();
    let size = 64 * 1024 * 1024;
    std::fs::write(media.join("big/big.ts"), vec![0x47u8; size]).unwrap();
    let (child, port) = spawn_binary(&[
        ("RUST_LOG", "warn".into()),
        ("VODGATE_MEDIA_DIR", media.display().to_string()),
    ]);
    let base = format!("http://127.0.0.1:{port}");
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let e = grant_through(&c, &base, json!({"viewer_id": "v", "video_id": "big"})).await;
    let (cookie, master) = watch_through(&c, &base, e["watch_url"].as_str().unwrap()).await;
    let seg = format!("{base}{}/big.ts", play_dir(&master));
    let mut resp = c.get(&seg).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut got = 0usize;
    // Read a little, then ask the server to stop, then read the rest slowly.
    if let Some(chunk) = resp.chunk().await.unwrap() {
        got += chunk.len();
    }
    unsafe_kill(child.id(), "TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // New connections are refused once shutdown began…
    assert!(
        c.get(format!("{base}/healthz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_err()
    );
    // …but the segment in flight arrives whole.
    while let Some(chunk) = resp.chunk().await.unwrap() {
        got += chunk.len();
    }
    assert_eq!(got, size);
    let status = child.wait_with_output().unwrap().status;
    assert!(status.success(), "clean exit after draining: {status:?}");
    let _ = Method::GET;
}

#[tokio::test]
async fn past_max_in_flight_requests_are_refused_at_once_with_retry_after() {
    // Redis that stops answering (a starved or paused server): every admitted request waits
    // on it until the store's 2 s timeout. With two places, the third request is not queued
    // behind them but refused at once, cheaply, with Retry-After; health checks still answer.
    let (rport, rpid) = spawn_redis_server(&[]);
    let mut config = test_config(StoreKind::Redis);
    config.redis_url = Some(format!("redis://127.0.0.1:{rport}/").into());
    config.max_in_flight = 2;
    let app = spawn_app_with(config).await;
    let (status, _) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample"}))
        .await;
    assert_eq!(status, 201, "admitted while the instance is idle");
    unsafe_kill(rpid, "STOP");
    // A `Pending` borrows nothing, so it can run on its own task.
    let grant = || {
        app.client
            .post(app.url("/v1/entitlements"))
            .basic_auth(&app.api_key, Some(""))
            .json(&json!({"viewer_id": "v", "video_id": "sample"}))
            .send()
    };
    let (slow1, slow2) = (tokio::spawn(grant()), tokio::spawn(grant()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = std::time::Instant::now();
    let r = grant().await.unwrap();
    let took = t.elapsed();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(problem(r, 503).await, "overloaded");
    assert!(
        took < Duration::from_millis(1500),
        "refused without waiting on Redis ({took:?})"
    );
    // The viewer's pages get the HTML twin.
    let r = app
        .client
        .get(app.url("/watch/ent_0123456789abcdef0123456789abcdef"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.text().await.unwrap().contains("overloaded"));
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200, "health checks are never refused");
    unsafe_kill(rpid, "CONT");
    // The two admitted requests end (answered or timed out), and their places come back.
    for s in [slow1, slow2] {
        let status = s.await.unwrap().unwrap().status();
        assert!(status == 201 || status == 503, "{status}");
    }
    let (status, body) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample"}))
        .await;
    assert_eq!(status, 201, "admitted again: {body}");
}
