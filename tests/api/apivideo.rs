//! The api.video origin against an in-process `apivideo-sim` serving media/sample (16 s,
//! AES-128): one upstream start per entitlement (also across instances), no private token
//! used twice, no upstream token in anything vodgate serves, bearer renewal, faults
//! (401, 429, 5xx, slow, dropped, expired sessions) and recovery, public videos, upload
//! tokens, embed mode.

use crate::helpers::*;
use apivideo_sim::{FaultRule, SimConfig, SimHandle};
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use vodgate::config::{ApiVideoConfig, Config, OriginConfig, PlaybackMode};

pub(crate) async fn sim_with(cfg: SimConfig) -> SimHandle {
    apivideo_sim::spawn(SimConfig {
        media_dir: Some("media".into()),
        ..cfg
    })
    .await
    .expect("spawn apivideo-sim")
}

pub(crate) async fn sim() -> SimHandle {
    sim_with(SimConfig::default()).await
}

pub(crate) fn config_for(sim: &SimHandle, mode: PlaybackMode) -> Config {
    let mut c = test_config(StoreKind::Redis);
    c.origin = OriginConfig::ApiVideo(ApiVideoConfig {
        base_url: sim.base_url().parse().unwrap(),
        mode,
        allow_public: false,
        session_ttl: Duration::from_secs(86_400),
    });
    c.apivideo_api_key = Some(SecretString::from(sim.api_key().to_owned()));
    c.upstream_timeout = Duration::from_millis(1500);
    c
}

/// Configured the way an operator does it, through the environment (so the page's CSP is
/// what the settings make it).
fn config_from_env(sim: &SimHandle, mode: &str) -> Config {
    let base = sim.base_url();
    let vars = [
        ("VODGATE_ORIGIN", "apivideo"),
        ("APIVIDEO_API_KEY", sim.api_key()),
        ("APIVIDEO_BASE_URL", base.as_str()),
        ("VODGATE_APIVIDEO_MODE", mode),
    ];
    let from_env = Config::from_sources(None, |k| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    })
    .unwrap();
    let mut config = test_config(StoreKind::Redis);
    config.origin = from_env.origin;
    config.apivideo_api_key = from_env.apivideo_api_key;
    config.frame_sources = from_env.frame_sources;
    config
}

async fn app_for(sim: &SimHandle) -> TestApp {
    spawn_app_with(config_for(sim, PlaybackMode::Relay)).await
}

fn faults(endpoints: &[&str], rule: FaultRule) -> Vec<FaultRule> {
    vec![FaultRule {
        endpoints: endpoints.iter().map(|s| s.to_string()).collect(),
        ..rule
    }]
}

/// Every private and session token the sim ever handed out.
pub(crate) async fn sim_tokens(sim: &SimHandle) -> Vec<String> {
    let v: Value = reqwest::get(format!("{}/_sim/tokens", sim.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut out = vec![];
    for t in v["tokens"].as_array().unwrap() {
        out.push(t["token"].as_str().unwrap().to_owned());
        if let Some(s) = t["session"]["sessionToken"].as_str() {
            out.push(s.to_owned());
        }
    }
    out
}

/// Grant, launch, open the watch page: (viewer, watch page response).
async fn open_watch(app: &TestApp, body: Value) -> (Viewer, reqwest::Response) {
    let (status, e) = app.grant(body).await;
    assert_eq!(status, 201, "{e}");
    let (status, viewer) = app.launch(e["watch_url"].as_str().unwrap()).await;
    assert_eq!(status, 303);
    let page = app
        .get_as(&viewer, &format!("/watch/{}", viewer.entitlement_id))
        .await;
    (viewer, page)
}

/// Fetch the master, every variant and every key/segment they name; return all playlist
/// texts vodgate served. Every request must succeed.
async fn fetch_everything(app: &TestApp, viewer: &Viewer, master: &str) -> Vec<String> {
    let dir = play_dir(master);
    let text = app.get_as(viewer, master).await.text().await.unwrap();
    let mut texts = vec![text.clone()];
    let variants: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    assert!(!variants.is_empty(), "{text}");
    for v in variants {
        assert!(v.starts_with(&dir), "variant URI {v} points at vodgate");
        let r = app.get_as(viewer, &v).await;
        assert_eq!(r.status(), 200, "{v}");
        let t = r.text().await.unwrap();
        let vdir = play_dir(&v);
        for line in t.lines() {
            let uri = if let Some(i) = line.find("URI=\"") {
                line[i + 5..].split('"').next().unwrap().to_owned()
            } else if !line.starts_with('#') && !line.trim().is_empty() {
                line.trim().to_owned()
            } else {
                continue;
            };
            assert!(uri.starts_with(&dir) || !uri.contains("://"), "{uri}");
            let path = if uri.starts_with('/') {
                uri
            } else {
                format!("{vdir}/{uri}")
            };
            let r = app.get_as(viewer, &path).await;
            assert!(
                r.status() == 200 || r.status() == 206,
                "{path}: {}",
                r.status()
            );
            assert!(!r.bytes().await.unwrap().is_empty());
        }
        texts.push(t);
    }
    texts
}

fn assert_no_upstream_token(texts: &[String], tokens: &[String]) {
    assert!(!tokens.is_empty());
    for t in texts {
        assert!(!t.contains("avh"), "avh reached a viewer:\n{t}");
        assert!(
            !t.contains("/token/"),
            "an upstream path reached a viewer:\n{t}"
        );
        for tok in tokens {
            assert!(
                !t.contains(tok.as_str()),
                "upstream token {tok} reached a viewer:\n{t}"
            );
        }
    }
}

#[tokio::test]
async fn relay_plays_through_ffmpeg_with_one_upstream_start_and_no_token_reaching_the_viewer() {
    let sim = sim().await;
    let app = app_for(&sim).await;
    let (viewer, master) = app.start_watching("sample").await;
    assert_eq!(sim.call_count("auth_api_key"), 1);
    assert_eq!(sim.call_count("get_video"), 1);
    assert_eq!(sim.call_count("session"), 1);

    // The title comes with the start; it is read once, not with a second GET /videos.
    let out = std::env::temp_dir().join(format!(
        "vodgate-apivideo-{}.ts",
        uuid::Uuid::new_v4().simple()
    ));
    let cookie = viewer.cookie.clone().unwrap();
    let status = tokio::process::Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y", "-headers"])
        .arg(format!("Cookie: {cookie}\r\n"))
        .args([
            "-i",
            &app.url(&master),
            "-map",
            "0:v:0",
            "-map",
            "0:a:0",
            "-c",
            "copy",
        ])
        .arg(&out)
        .status()
        .await
        .expect("ffmpeg is installed (apt-get install ffmpeg)");
    assert!(status.success(), "ffmpeg failed");
    let probe = tokio::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(&out)
        .output()
        .await
        .unwrap();
    let duration: f64 = String::from_utf8_lossy(&probe.stdout)
        .trim()
        .parse()
        .unwrap();
    assert!(
        (duration - 16.0).abs() <= 4.0,
        "duration {duration} s vs 16 s source"
    );
    let _ = std::fs::remove_file(out);

    // Everything again by hand, then a reload of the page: still one upstream start.
    let texts = fetch_everything(&app, &viewer, &master).await;
    let page = app
        .get_as(&viewer, &format!("/watch/{}", viewer.entitlement_id))
        .await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let master2 = master_of(&html);
    assert_ne!(master, master2, "a reload is a new playback");
    let texts2 = fetch_everything(&app, &viewer, &master2).await;
    assert_eq!(
        sim.call_count("get_video"),
        1,
        "one GET /videos per entitlement"
    );
    assert_eq!(sim.call_count("session"), 1, "one /session per entitlement");
    assert_eq!(sim.call_count("auth_api_key"), 1);
    assert_eq!(sim.call_count("private_token_reuse_attempts"), 0);
    assert_eq!(sim.call_count("vod_rejections"), 0);

    let tokens = sim_tokens(&sim).await;
    assert_no_upstream_token(&texts, &tokens);
    assert_no_upstream_token(&texts2, &tokens);
    for t in &tokens {
        assert!(
            !html.contains(t.as_str()),
            "the relay-mode page names no upstream token"
        );
    }
    // The title of the video (media/sample/title.txt) came from the start.
    assert!(html.contains("<title>"), "{html}");
    sim.stop().await;
}

#[tokio::test]
async fn avh_written_into_playlists_by_the_upstream_never_reaches_the_viewer() {
    let sim = sim_with(SimConfig {
        rewrite_playlists: true,
        ..Default::default()
    })
    .await;
    let app = app_for(&sim).await;
    let (viewer, master) = app.start_watching("sample").await;
    let texts = fetch_everything(&app, &viewer, &master).await;
    assert_no_upstream_token(&texts, &sim_tokens(&sim).await);
    assert_eq!(sim.call_count("private_token_reuse_attempts"), 0);
    sim.stop().await;
}

#[tokio::test]
async fn concurrent_page_loads_on_two_instances_make_one_upstream_start() {
    let sim = sim().await;
    let config = config_for(&sim, PlaybackMode::Relay);
    let a = spawn_app_with(config.clone()).await;
    let b = spawn_app_with(config).await; // same Redis prefix: one deployment, two instances
    let (_, e) = a
        .grant(json!({"viewer_id": "v", "video_id": "sample", "max_streams": 20}))
        .await;
    let (status, viewer) = a.launch(e["watch_url"].as_str().unwrap()).await;
    assert_eq!(status, 303);
    let path = format!("/watch/{}", viewer.entitlement_id);
    let mut loads = vec![];
    for i in 0..12 {
        let app = if i % 2 == 0 { &a } else { &b };
        loads.push(app.get_as(&viewer, &path));
    }
    let pages = futures_util::future::join_all(loads).await;
    let mut masters = vec![];
    for (i, p) in pages.into_iter().enumerate() {
        assert_eq!(p.status(), 200, "load {i}");
        masters.push(master_of(&p.text().await.unwrap()));
    }
    assert_eq!(
        sim.call_count("get_video"),
        1,
        "one upstream start for the entitlement"
    );
    assert_eq!(sim.call_count("session"), 1);
    // Each instance serves the last playback (the others were taken over by the reloads).
    let last = masters.last().unwrap();
    for app in [&a, &b] {
        let r = app.get_as(&viewer, last).await;
        assert_eq!(r.status(), 200);
    }
    // Another entitlement is another upstream start.
    let (other, _) = b.start_watching("sample").await;
    assert!(other.cookie.is_some());
    assert_eq!(sim.call_count("get_video"), 2);
    assert_eq!(sim.call_count("session"), 2);
    assert_eq!(sim.call_count("private_token_reuse_attempts"), 0);
    sim.stop().await;
}

#[tokio::test]
async fn a_hundred_concurrent_first_calls_make_one_api_key_exchange() {
    let sim = sim().await;
    let app = app_for(&sim).await;
    let bearer = app.bearer().await;
    let calls = (0..100).map(|_| {
        app.client
            .get(app.url("/v1/upload-tokens"))
            .bearer_auth(&bearer)
            .send()
    });
    for r in futures_util::future::join_all(calls).await {
        assert_eq!(r.unwrap().status(), 200);
    }
    assert_eq!(sim.call_count("auth_api_key"), 1);
    assert_eq!(sim.call_count("auth_refresh"), 0);
    assert_eq!(sim.call_count("list_upload_tokens"), 100);
    sim.stop().await;
}

#[tokio::test]
async fn a_hundred_concurrent_calls_on_an_ageing_bearer_make_one_renewal() {
    let sim = sim_with(SimConfig {
        access_token_ttl: Duration::from_secs(2),
        ..Default::default()
    })
    .await;
    let app = app_for(&sim).await;
    let bearer = app.bearer().await;
    let list = || {
        app.client
            .get(app.url("/v1/upload-tokens"))
            .bearer_auth(&bearer)
            .send()
    };
    assert_eq!(list().await.unwrap().status(), 200);
    assert_eq!(sim.call_count("auth_api_key"), 1);
    // Past 80 % of the token's life: the next callers renew, but only one of them does.
    tokio::time::sleep(Duration::from_millis(1700)).await;
    for r in futures_util::future::join_all((0..100).map(|_| list())).await {
        assert_eq!(r.unwrap().status(), 200);
    }
    assert_eq!(sim.call_count("auth_refresh"), 1, "{:?}", sim.calls());
    assert_eq!(sim.call_count("auth_api_key"), 1, "{:?}", sim.calls());
    assert_eq!(sim.call_count("list_upload_tokens"), 101);
    sim.stop().await;
}

#[tokio::test]
async fn an_expiring_bearer_is_renewed_invisibly_while_playback_goes_on() {
    let sim = sim_with(SimConfig {
        access_token_ttl: Duration::from_secs(2),
        ..Default::default()
    })
    .await;
    let app = app_for(&sim).await;
    let (viewer, master) = app.start_watching("sample").await;
    let first = fetch_everything(&app, &viewer, &master).await;
    assert!(!first.is_empty());
    // Past 80 % of the token's life, and then past its end: renewed with /auth/refresh.
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let (v2, m2) = app.start_watching("sample").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (v3, m3) = app.start_watching("sample").await;
    assert_eq!(
        sim.call_count("auth_api_key"),
        1,
        "renewals use the refresh token"
    );
    assert!(sim.call_count("auth_refresh") >= 2, "{:?}", sim.calls());
    // The upstream expires the token early (its clock jumps): one 401, renewal, retry.
    sim.advance_clock(Duration::from_secs(3600));
    let (v4, m4) = app.start_watching("sample").await;
    assert!(sim.call_count("unauthorized") >= 1, "{:?}", sim.calls());
    assert_eq!(sim.call_count("auth_api_key"), 1);
    // Every playback, the first included, still plays.
    for (v, m) in [(&viewer, &master), (&v2, &m2), (&v3, &m3), (&v4, &m4)] {
        fetch_everything(&app, v, m).await;
    }
    assert_eq!(sim.call_count("unauthorized"), 1);
    assert_eq!(
        sim.call_count("get_video"),
        5,
        "four starts, one of them sent again after its 401"
    );
    assert_eq!(sim.call_count("session"), 4);
    assert_eq!(sim.call_count("private_token_reuse_attempts"), 0);
    sim.stop().await;
}

async fn page_code(r: reqwest::Response, status: u16) -> String {
    assert_eq!(r.status().as_u16(), status);
    let html = r.text().await.unwrap();
    html.split("data-code=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn api_failures_at_playback_start_are_retried_or_explained_and_recover() {
    let sim = sim().await;
    let app = app_for(&sim).await;
    let (_, e) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample"}))
        .await;
    let (_, viewer) = app.launch(e["watch_url"].as_str().unwrap()).await;
    let watch = format!("/watch/{}", viewer.entitlement_id);

    // One 5xx and one dropped connection: retried, invisible.
    sim.add_faults(faults(
        &["get_video"],
        FaultRule {
            error_next: 1,
            error_status: Some(503),
            ..Default::default()
        },
    ));
    sim.add_faults(faults(
        &["get_video"],
        FaultRule {
            drop_next: 1,
            ..Default::default()
        },
    ));
    let r = app.get_as(&viewer, &watch).await;
    assert_eq!(r.status(), 200);
    assert_eq!(sim.call_count("get_video"), 3);
    sim.clear_faults();

    // A second entitlement while api.video keeps failing: a clear page, then recovery.
    let (_, e2) = app
        .grant(json!({"viewer_id": "v2", "video_id": "sample"}))
        .await;
    let (_, v2) = app.launch(e2["watch_url"].as_str().unwrap()).await;
    let watch2 = format!("/watch/{}", v2.entitlement_id);
    sim.add_faults(faults(
        &["get_video"],
        FaultRule {
            error_next: 100,
            ..Default::default()
        },
    ));
    assert_eq!(
        page_code(app.get_as(&v2, &watch2).await, 502).await,
        "upstream_unavailable"
    );
    sim.clear_faults();
    sim.add_faults(faults(
        &["get_video"],
        FaultRule {
            drop_next: 100,
            ..Default::default()
        },
    ));
    assert_eq!(
        page_code(app.get_as(&v2, &watch2).await, 502).await,
        "upstream_unavailable"
    );
    sim.clear_faults();

    // Slow: bounded by the upstream timeout, not retried.
    sim.add_faults(faults(
        &["get_video"],
        FaultRule {
            latency_ms: 4000,
            ..Default::default()
        },
    ));
    let t = Instant::now();
    assert_eq!(
        page_code(app.get_as(&v2, &watch2).await, 502).await,
        "upstream_unavailable"
    );
    assert!(
        t.elapsed() < Duration::from_millis(3500),
        "{:?}",
        t.elapsed()
    );
    sim.clear_faults();

    // A /session failure burns nothing: the next load starts again with a fresh token.
    sim.add_faults(faults(
        &["session"],
        FaultRule {
            error_next: 1,
            ..Default::default()
        },
    ));
    assert_eq!(
        page_code(app.get_as(&v2, &watch2).await, 502).await,
        "upstream_unavailable"
    );
    sim.clear_faults();

    let r = app.get_as(&v2, &watch2).await;
    assert_eq!(r.status(), 200);
    let master = master_of(&r.text().await.unwrap());
    fetch_everything(&app, &v2, &master).await;
    assert_eq!(sim.call_count("private_token_reuse_attempts"), 0);
    sim.stop().await;
}

#[tokio::test]
async fn rate_limits_are_waited_out_when_short_and_surfaced_with_retry_after_when_long() {
    let sim = sim().await;
    let app = app_for(&sim).await; // upstream timeout 1.5 s: waits of up to 1.5 s are absorbed
    let (_, _) = app.start_watching("sample").await; // opens the sim's one-minute window

    // The window ends in ~3 s: a 429 that says so is too long to wait inside a request.
    sim.advance_clock(Duration::from_secs(57));
    sim.add_faults(faults(
        &["get_video"],
        FaultRule {
            rate_limit_next: 1,
            ..Default::default()
        },
    ));
    let (_, e) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample"}))
        .await;
    let (_, viewer) = app.launch(e["watch_url"].as_str().unwrap()).await;
    let watch = format!("/watch/{}", viewer.entitlement_id);
    let r = app.get_as(&viewer, &watch).await;
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((2..=4).contains(&retry), "Retry-After {retry}");
    assert_eq!(page_code(r, 503).await, "upstream_rate_limited");
    // vodgate backs off: it does not ask again before the window ends.
    let calls = sim.call_count("get_video");
    let r = app.get_as(&viewer, &watch).await;
    assert_eq!(page_code(r, 503).await, "upstream_rate_limited");
    assert_eq!(
        sim.call_count("get_video"),
        calls,
        "no call while backing off"
    );
    tokio::time::sleep(Duration::from_secs(retry)).await;
    let r = app.get_as(&viewer, &watch).await;
    assert_eq!(r.status(), 200, "recovered after Retry-After");

    // A short wait (the window ends in ~1 s) is absorbed: the viewer never notices.
    sim.advance_clock(Duration::from_secs(59));
    sim.add_faults(faults(
        &["get_video"],
        FaultRule {
            rate_limit_next: 1,
            ..Default::default()
        },
    ));
    let (_, m) = app.start_watching("sample").await;
    assert!(m.ends_with("manifest.m3u8"));
    assert_eq!(sim.call_count("faults_rate_limited"), 2);

    // The admin API says the same in problem+json.
    sim.add_faults(faults(
        &["list_upload_tokens"],
        FaultRule {
            rate_limit_next: 1,
            ..Default::default()
        },
    ));
    sim.advance_clock(Duration::from_secs(30));
    let r = app.admin(Method::GET, "/v1/upload-tokens", None).await;
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(problem(r, 503).await, "upstream_rate_limited");
    sim.stop().await;
}

#[tokio::test]
async fn vod_failures_during_playback_are_retried_or_explained_and_recover() {
    let sim = sim().await;
    let app = app_for(&sim).await;
    let (viewer, master) = app.start_watching("sample").await;
    let dir = play_dir(&master);
    let seg = format!("{dir}/360p/seg1.ts");
    let variant = format!("{dir}/360p/index.m3u8");

    // One 5xx, one dropped connection: retried.
    sim.add_faults(faults(
        &["vod_asset"],
        FaultRule {
            error_next: 1,
            ..Default::default()
        },
    ));
    assert_eq!(app.get_as(&viewer, &seg).await.status(), 200);
    sim.add_faults(faults(
        &["vod_asset"],
        FaultRule {
            drop_next: 1,
            ..Default::default()
        },
    ));
    assert_eq!(app.get_as(&viewer, &variant).await.status(), 200);
    sim.clear_faults();

    // Persistent failures: 502; slow: 504. Both recover.
    sim.add_faults(faults(
        &["vod_asset"],
        FaultRule {
            error_next: 100,
            ..Default::default()
        },
    ));
    assert_eq!(
        problem(app.get_as(&viewer, &seg).await, 502).await,
        "upstream_unavailable"
    );
    sim.clear_faults();
    sim.add_faults(faults(
        &["vod_asset"],
        FaultRule {
            drop_next: 100,
            ..Default::default()
        },
    ));
    assert_eq!(
        problem(app.get_as(&viewer, &variant).await, 502).await,
        "upstream_unavailable"
    );
    sim.clear_faults();
    sim.add_faults(faults(
        &["vod_asset"],
        FaultRule {
            latency_ms: 3000,
            ..Default::default()
        },
    ));
    assert_eq!(
        problem(app.get_as(&viewer, &seg).await, 504).await,
        "upstream_timeout"
    );
    sim.clear_faults();
    assert_eq!(app.get_as(&viewer, &seg).await.status(), 200);
    // A segment api.video does not have, on a live session: not found, and the session stays.
    assert_eq!(
        problem(
            app.get_as(&viewer, &format!("{dir}/360p/seg99.ts")).await,
            404
        )
        .await,
        "upstream_not_found"
    );
    assert_eq!(app.get_as(&viewer, &seg).await.status(), 200);

    // The upstream session ends early, mid-film: the next segment gets a clear 410 (not a
    // 404 the player would retry), and a reload starts a new session.
    sim.add_faults(faults(
        &["vod"],
        FaultRule {
            expire_sessions: true,
            ..Default::default()
        },
    ));
    assert_eq!(
        problem(app.get_as(&viewer, &seg).await, 410).await,
        "upstream_session_expired"
    );
    assert_eq!(
        problem(app.get_as(&viewer, &master).await, 410).await,
        "upstream_session_expired"
    );
    sim.clear_faults();
    let page = app
        .get_as(&viewer, &format!("/watch/{}", viewer.entitlement_id))
        .await;
    assert_eq!(page.status(), 200);
    let master2 = master_of(&page.text().await.unwrap());
    fetch_everything(&app, &viewer, &master2).await;
    assert_eq!(sim.call_count("get_video"), 2);
    assert_eq!(sim.call_count("session"), 2);
    // The old playback stays refused: the reload replaced it (and its session is gone).
    assert_eq!(
        problem(app.get_as(&viewer, &master).await, 403).await,
        "playback_stopped"
    );
    assert_eq!(sim.call_count("private_token_reuse_attempts"), 0);
    sim.stop().await;
}

#[tokio::test]
async fn a_refused_api_key_shows_in_readiness_and_as_a_clear_page() {
    let sim = sim().await;
    let good = app_for(&sim).await;
    let r: Value = good
        .client
        .get(good.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "ready", "{r}");
    assert_eq!(r["checks"]["upstream_auth"]["status"], "ok", "{r}");

    let mut config = config_for(&sim, PlaybackMode::Relay);
    config.apivideo_api_key = Some(SecretString::from("not-the-sim-key"));
    let bad = spawn_app_with(config).await;
    let r = bad.client.get(bad.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let r: Value = r.json().await.unwrap();
    assert_eq!(r["checks"]["upstream_auth"]["status"], "unavailable", "{r}");
    assert_eq!(r["checks"]["store"]["status"], "ok");
    assert!(!r.to_string().contains("not-the-sim-key"));
    let (_, page) = open_watch(&bad, json!({"viewer_id": "v", "video_id": "sample"})).await;
    assert_eq!(page_code(page, 502).await, "upstream_unavailable");
    let r = bad.admin(Method::GET, "/v1/upload-tokens", None).await;
    assert_eq!(problem(r, 502).await, "upstream_auth_failed");
    assert_eq!(
        sim.call_count("get_video"),
        0,
        "nothing is asked without a bearer"
    );
    sim.stop().await;
}

#[tokio::test]
async fn public_videos_are_refused_unless_allowed() {
    let sim = sim().await;
    assert!(sim.set_public("sample", true));
    let app = app_for(&sim).await;
    let (_, page) = open_watch(&app, json!({"viewer_id": "v", "video_id": "sample"})).await;
    assert_eq!(page_code(page, 403).await, "video_is_public");

    let mut config = config_for(&sim, PlaybackMode::Relay);
    if let OriginConfig::ApiVideo(c) = &mut config.origin {
        c.allow_public = true;
    }
    let open = spawn_app_with(config).await;
    let (viewer, master) = open.start_watching("sample").await;
    fetch_everything(&open, &viewer, &master).await;
    assert_eq!(
        sim.call_count("session"),
        0,
        "public videos need no session"
    );
    // Unknown videos: a clear page that does not blame an outage.
    let (_, page) = open_watch(&open, json!({"viewer_id": "v", "video_id": "nope"})).await;
    assert_eq!(page_code(page, 404).await, "video_not_found");
    sim.stop().await;
}

#[tokio::test]
async fn upload_tokens_are_relayed_behind_their_own_scope() {
    let sim = sim().await;
    let app = app_for(&sim).await;
    let r = app
        .admin(
            Method::POST,
            "/v1/upload-tokens",
            Some(json!({"ttl": 3600})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let t: Value = r.json().await.unwrap();
    let token = t["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("to"), "{t}");
    assert_eq!(t["ttl"], 3600);
    assert!(
        t["expires_at"].is_string() && t["created_at"].is_string(),
        "{t}"
    );
    assert_eq!(
        t["upload_url"],
        format!("{}/upload?token={token}", sim.base_url())
    );
    let r = app.admin(Method::POST, "/v1/upload-tokens", None).await;
    assert_eq!(r.status(), 201, "no body: a token without expiry");
    let untimed: Value = r.json().await.unwrap();
    assert_eq!(untimed["ttl"], 0);
    let r = app
        .admin(Method::POST, "/v1/upload-tokens", Some(json!({"ttl": -1})))
        .await;
    assert_eq!(problem(r, 400).await, "invalid_body");

    let r = app
        .admin(Method::GET, "/v1/upload-tokens?page_size=10", None)
        .await;
    assert_eq!(r.status(), 200);
    let list: Value = r.json().await.unwrap();
    let tokens: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["token"].as_str().unwrap())
        .collect();
    assert!(tokens.contains(&token.as_str()), "{list}");
    assert_eq!(list["pagination"]["items_total"], 2);

    let r = app
        .admin(Method::DELETE, &format!("/v1/upload-tokens/{token}"), None)
        .await;
    assert_eq!(r.status(), 204);
    let r = app
        .admin(Method::DELETE, &format!("/v1/upload-tokens/{token}"), None)
        .await;
    assert_eq!(problem(r, 404).await, "upload_token_not_found");
    let r = app
        .admin(Method::DELETE, "/v1/upload-tokens/..%2Fvideos", None)
        .await;
    assert_eq!(r.status(), 404);
    assert_eq!(sim.call_count("delete_upload_token"), 2);

    // Without credentials or without the scope: refused before api.video is asked.
    let r = app
        .client
        .post(app.url("/v1/upload-tokens"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 401).await, "unauthorized");
    let auth = vodgate::auth::AdminAuth::new(
        vodgate::store::Store::open(app.config.redis_url(), &app.config.redis_prefix).unwrap(),
    );
    let key = auth
        .create_key(
            "shop",
            vec![
                vodgate::auth::Scope::EntitlementsRead,
                vodgate::auth::Scope::EntitlementsWrite,
            ],
        )
        .await
        .unwrap();
    let r = app
        .client
        .post(app.url("/v1/upload-tokens"))
        .basic_auth(secrecy::ExposeSecret::expose_secret(&key.secret), Some(""))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 403).await, "insufficient_scope");
    assert_eq!(sim.call_count("create_upload_token"), 2);
    // Another origin: not configured.
    let local = spawn_app().await;
    let r = local.admin(Method::GET, "/v1/upload-tokens", None).await;
    assert_eq!(problem(r, 404).await, "not_configured");
    sim.stop().await;
}

#[tokio::test]
async fn embed_mode_embeds_the_player_url_with_the_private_and_session_tokens() {
    let sim = sim().await;
    let base = sim.base_url();
    let config = config_from_env(&sim, "embed");
    let app = spawn_app_with(config).await;
    let (viewer, page) = open_watch(
        &app,
        json!({"viewer_id": "v", "video_id": "sample", "start_within_s": 3600}),
    )
    .await;
    assert_eq!(page.status(), 200);
    // vodgate never sees a segment in embed mode: the page load starts the rental clock.
    let r = app
        .admin(
            Method::GET,
            &format!("/v1/entitlements/{}", viewer.entitlement_id),
            None,
        )
        .await;
    let ent: Value = r.json().await.unwrap();
    assert!(
        ent["first_played_at"].is_string() && ent["expires_at"].is_string(),
        "{ent}"
    );
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains(&format!("frame-src 'self' {base};")),
        "the page's CSP lets the player be framed: {csp}"
    );
    let html = page.text().await.unwrap();
    let v: Value = reqwest::get(format!("{}/_sim/tokens", sim.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let t = v["tokens"][0]["token"].as_str().unwrap();
    let s = v["tokens"][0]["session"]["sessionToken"].as_str().unwrap();
    let src = html
        .split("<iframe id=\"embed-player\"")
        .nth(1)
        .and_then(|x| x.split("src=\"").nth(1))
        .and_then(|x| x.split('"').next())
        .expect("an iframe");
    let src = src.replace("&#38;", "&").replace("&amp;", "&");
    assert_eq!(
        src,
        format!("{}/vod/sample?token={t}&avh={s}", sim.base_url())
    );
    assert!(!html.contains("id=\"player\""));
    // The embed URL plays (the session opened by vodgate), without burning anything.
    let r = reqwest::get(&src).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(sim.call_count("private_token_reuse_attempts"), 0);
    // A reload embeds the same session: no new token.
    let html2 = app
        .get_as(&viewer, &format!("/watch/{}", viewer.entitlement_id))
        .await
        .text()
        .await
        .unwrap();
    assert!(html2.contains(s));
    assert_eq!(sim.call_count("get_video"), 1);
    assert_eq!(sim.call_count("session"), 1);
    sim.stop().await;
}

#[tokio::test]
async fn upstream_sessions_are_stored_per_entitlement_inside_both_lifetimes() {
    let sim = sim().await;
    let app = app_for(&sim).await;
    // One server or a cluster alike (CI runs this suite against both).
    let mut con = raw_redis().await;
    let prefix = app.config.redis_prefix.clone();

    // A day-long rental: the upstream session (24 h) minus its margin is the limit.
    let (long, page) = open_watch(&app, json!({"viewer_id": "v", "video_id": "sample"})).await;
    assert_eq!(page.status(), 200);
    let key = format!("{prefix}up:{{e:{}}}", long.entitlement_id);
    let ttl: i64 = redis::cmd("TTL")
        .arg(&key)
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(
        (78_900..=79_200).contains(&ttl),
        "24 h minus a 2 h margin, got {ttl}"
    );
    let json: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut con)
        .await
        .unwrap();
    let v: Value = serde_json::from_str(&json).unwrap();
    assert!(v["asset_base"].as_str().unwrap().ends_with("/hls/"), "{v}");
    assert!(v["session_token"].is_string() && v["private_token"].is_string());

    // A short rental: its own end is the limit.
    let (short, page) = open_watch(
        &app,
        json!({"viewer_id": "v", "video_id": "sample", "watch_for_s": 120, "start_within_s": 60}),
    )
    .await;
    assert_eq!(page.status(), 200);
    let ttl: i64 = redis::cmd("TTL")
        .arg(format!("{prefix}up:{{e:{}}}", short.entitlement_id))
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(
        (1..=180).contains(&ttl),
        "inside the entitlement, got {ttl}"
    );
    // The start claim is gone once the start is done.
    let claims: i64 = redis::cmd("EXISTS")
        .arg(format!("{key}:starting"))
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(claims, 0);
    sim.stop().await;
}

#[tokio::test]
async fn a_grant_chooses_embed_or_relay_over_the_deployment_default() {
    let sim = sim().await;
    let base = sim.base_url();
    // The deployment relays; this rental asks for api.video's player.
    let app = spawn_app_with(config_from_env(&sim, "relay")).await;
    let (viewer, page) = open_watch(
        &app,
        json!({"viewer_id": "v1", "video_id": "sample", "playback_mode": "embed"}),
    )
    .await;
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains(&format!("frame-src 'self' {base};")), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains("<iframe id=\"embed-player\""), "{html}");
    assert!(!html.contains("id=\"player\""));
    let mode_of = |viewer: &Viewer| {
        let path = format!("/v1/entitlements/{}", viewer.entitlement_id);
        let app = &app;
        async move {
            let e: Value = app
                .admin(Method::GET, &path, None)
                .await
                .json()
                .await
                .unwrap();
            e["playback_mode"].clone()
        }
    };
    assert_eq!(mode_of(&viewer).await, "embed");

    // A rental that does not choose gets the deployment's relay.
    let (viewer, page) = open_watch(&app, json!({"viewer_id": "v2", "video_id": "sample"})).await;
    let html = page.text().await.unwrap();
    assert!(!html.contains("embed-player"));
    let master = master_of(&html);
    assert!(fetch_everything(&app, &viewer, &master).await[0].starts_with("#EXTM3U"));
    assert_eq!(mode_of(&viewer).await, Value::Null);

    // The other way round: an embed deployment relays a rental that asks for relay, and
    // the bytes then pass through vodgate (so a revocation stops the next segment).
    let app = spawn_app_with(config_from_env(&sim, "embed")).await;
    let (viewer, page) = open_watch(
        &app,
        json!({"viewer_id": "v3", "video_id": "sample", "playback_mode": "relay"}),
    )
    .await;
    let html = page.text().await.unwrap();
    assert!(!html.contains("embed-player"));
    let master = master_of(&html);
    fetch_everything(&app, &viewer, &master).await;
    let id = &viewer.entitlement_id;
    let r = app
        .admin(Method::POST, &format!("/v1/entitlements/{id}/revoke"), None)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.get_as(&viewer, &master).await.status(), 403);

    // Unknown modes are refused at the boundary.
    let (status, body) = app
        .grant(json!({"viewer_id": "v4", "video_id": "sample", "playback_mode": "download"}))
        .await;
    assert_eq!(status, 400, "{body}");
    sim.stop().await;
}
