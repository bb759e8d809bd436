//! Auth, videos, upload tokens, uploads, rate limits and counters.

mod common;

use std::time::Duration;

use apivideo_sim::SimConfig;
use common::*;
use serde_json::{Value, json};

async fn api_key(c: &reqwest::Client, base: &str, key: &str) -> reqwest::Response {
    c.post(format!("{base}/auth/api-key"))
        .json(&json!({"apiKey": key}))
        .send()
        .await
        .unwrap()
}

async fn refresh(c: &reqwest::Client, base: &str, token: &str) -> reqwest::Response {
    c.post(format!("{base}/auth/refresh"))
        .json(&json!({"refreshToken": token}))
        .send()
        .await
        .unwrap()
}

async fn bearer_get(c: &reqwest::Client, url: &str, token: &str) -> reqwest::Response {
    c.get(url).bearer_auth(token).send().await.unwrap()
}

#[tokio::test]
async fn api_key_gives_a_bearer_token_and_refresh_rotates() {
    let (sim, c) = start(config()).await;
    let base = sim.base_url();
    let r = api_key(&c, &base, sim.api_key()).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers().get("x-ratelimit-limit").is_none(),
        "no rate-limit headers on /auth"
    );
    let t1 = json(r).await;
    assert_eq!(t1["token_type"], "Bearer");
    assert_eq!(t1["expires_in"], 3600);
    let access1 = t1["access_token"].as_str().unwrap();
    assert_eq!(access1.split('.').count(), 3, "JWT-shaped");
    assert_eq!(
        bearer_get(&c, &format!("{base}/videos/sample"), access1)
            .await
            .status(),
        200
    );

    let r = refresh(&c, &base, t1["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), 200);
    let t2 = json(r).await;
    assert_ne!(t2["access_token"], t1["access_token"]);
    assert_ne!(t2["refresh_token"], t1["refresh_token"]);
    assert_eq!(
        bearer_get(
            &c,
            &format!("{base}/videos"),
            t2["access_token"].as_str().unwrap()
        )
        .await
        .status(),
        200
    );

    // The old refresh token was used once: it is dead now.
    let r = refresh(&c, &base, t1["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), 401);
    let body = json(r).await;
    assert_error_shape(&body, 401);
    assert_eq!(
        body["type"],
        "https://docs.api.video/reference/authentication-invalid-refresh-token"
    );
    // The newest one still works, once.
    assert_eq!(
        refresh(&c, &base, t2["refresh_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
    assert_eq!(
        refresh(&c, &base, t2["refresh_token"].as_str().unwrap())
            .await
            .status(),
        401
    );
    assert_eq!(sim.call_count("auth_api_key"), 1);
    assert_eq!(sim.call_count("auth_refresh"), 4);
    sim.stop().await;
}

#[tokio::test]
async fn wrong_api_key_and_bad_payloads_are_400() {
    let (sim, c) = start(config()).await;
    let base = sim.base_url();
    let r = api_key(&c, &base, "nope").await;
    assert_eq!(r.status(), 400);
    let body = json(r).await;
    assert_error_shape(&body, 400);
    assert_eq!(
        body["type"],
        "https://docs.api.video/reference/authentication-invalid-user-credentials"
    );
    assert_eq!(body["name"], "");
    let r = c
        .post(format!("{base}/auth/api-key"))
        .body("{}")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["name"], "apiKey");
    sim.stop().await;
}

#[tokio::test]
async fn access_tokens_expire_after_expires_in() {
    let cfg = SimConfig {
        access_token_ttl: Duration::from_secs(1),
        ..config()
    };
    let (sim, c) = start(cfg).await;
    let base = sim.base_url();
    let t = json(api_key(&c, &base, sim.api_key()).await).await;
    assert_eq!(t["expires_in"], 1);
    let access = t["access_token"].as_str().unwrap();
    assert_eq!(
        bearer_get(&c, &format!("{base}/videos/sample"), access)
            .await
            .status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let r = bearer_get(&c, &format!("{base}/videos/sample"), access).await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("x-ratelimit-remaining").is_some());
    let body = json(r).await;
    assert_error_shape(&body, 401);
    assert_eq!(
        body["type"],
        "https://docs.api.video/reference/authentication-expired-access-token"
    );
    // Refresh still works after the access token expired.
    let t2 = json(refresh(&c, &base, t["refresh_token"].as_str().unwrap()).await).await;
    assert_eq!(
        bearer_get(
            &c,
            &format!("{base}/videos/sample"),
            t2["access_token"].as_str().unwrap()
        )
        .await
        .status(),
        200
    );
    sim.stop().await;
}

#[tokio::test]
async fn regular_endpoints_need_valid_credentials() {
    let (sim, c) = start(config()).await;
    let base = sim.base_url();
    let url = format!("{base}/videos/sample");
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "authentication-missing-authorization-header"),
        (
            Some("Bearer not-a-token".into()),
            "authentication-invalid-access-token",
        ),
        (
            Some(format!("Basic {}", base64_of("wrong-key:"))),
            "authentication-invalid-api-key",
        ),
        (
            Some("Basic !!!".into()),
            "authentication-invalid-authorization-header",
        ),
        (
            Some("Token abc".into()),
            "authentication-invalid-authorization-header",
        ),
    ];
    for (header, slug) in cases {
        let mut req = c.get(&url);
        if let Some(h) = &header {
            req = req.header("Authorization", h);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{header:?}");
        assert_eq!(r.headers()["content-type"], "application/json");
        let body = json(r).await;
        assert_error_shape(&body, 401);
        assert!(body.get("name").is_some(), "{body}");
        assert_eq!(
            body["type"],
            format!("https://docs.api.video/reference/{slug}"),
            "{header:?}"
        );
    }
    // Basic with the key as user and an empty password works (curl -u key:).
    let r = c
        .get(&url)
        .basic_auth(sim.api_key(), Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(sim.call_count("unauthorized"), 5);
    sim.stop().await;
}

fn base64_of(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn unknown_videos_are_404_in_api_video_shape() {
    let (sim, c) = start(config()).await;
    for path in ["/videos/vi000", "/videos/vi000/status"] {
        let r = get(&c, &sim, path).await;
        assert_eq!(r.status(), 404);
        assert!(r.headers().get("x-ratelimit-limit").is_some());
        let body = json(r).await;
        assert_eq!(
            body,
            json!({
                "type": "https://docs.api.video/reference/resource-not-found",
                "title": "The requested resource was not found.",
                "name": "videoId",
                "status": 404
            })
        );
    }
    let r = get(&c, &sim, "/nothing/here").await;
    assert_eq!(r.status(), 404);
    assert_eq!(json(r).await["title"], "Unrecognized request URL.");
    let r = c
        .put(format!("{}/videos", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_error_shape(&json(r).await, 405);
    sim.stop().await;
}

#[tokio::test]
async fn status_reports_a_playable_video() {
    let (sim, c) = start(config()).await;
    let s = json(get(&c, &sim, "/videos/sample/status").await).await;
    assert_eq!(s["encoding"]["playable"], true);
    assert_eq!(s["ingest"]["status"], "uploaded");
    assert_eq!(
        s["encoding"]["qualities"][0],
        json!({"type": "hls", "quality": "360p", "status": "encoded"})
    );
    assert_eq!(s["encoding"]["metadata"]["width"], 160);
    assert_eq!(sim.call_count("get_video_status"), 1);
    sim.stop().await;
}

fn media_with(n: usize) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("apivideo-sim-test-{}", uuid::Uuid::new_v4()));
    for i in 0..n {
        let v = dir.join(format!("v{i:02}"));
        std::fs::create_dir_all(&v).unwrap();
        std::fs::write(v.join("master.m3u8"), "#EXTM3U\n").unwrap();
        std::fs::write(v.join("title"), format!("Title {}", n - i)).unwrap();
    }
    std::fs::create_dir_all(dir.join("not-a-video")).unwrap();
    dir
}

#[tokio::test]
async fn list_videos_paginates() {
    let dir = media_with(5);
    let (sim, c) = start(SimConfig {
        media_dir: Some(dir.clone()),
        ..Default::default()
    })
    .await;
    let page = json(get(&c, &sim, "/videos?pageSize=2&currentPage=2").await).await;
    let p = &page["pagination"];
    assert_eq!(p["itemsTotal"], 5);
    assert_eq!(p["pagesTotal"], 3);
    assert_eq!(p["pageSize"], 2);
    assert_eq!(p["currentPage"], 2);
    assert_eq!(p["currentPageItems"], 2);
    let ids: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["videoId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["v02", "v03"]);
    let rels: Vec<&str> = p["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rel"].as_str().unwrap())
        .collect();
    assert_eq!(rels, ["self", "first", "previous", "next", "last"]);
    assert_eq!(
        p["links"][3]["uri"],
        format!("{}/videos?currentPage=3&pageSize=2", sim.base_url())
    );
    // Every private item carries its own token.
    let tokens: Vec<String> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(private_token)
        .collect();
    assert_ne!(tokens[0], tokens[1]);
    let sorted =
        json(get(&c, &sim, "/videos?sortBy=title&sortOrder=desc&pageSize=100").await).await;
    assert_eq!(sorted["data"][0]["title"], "Title 5");
    assert_eq!(
        json(get(&c, &sim, "/videos?pageSize=101").await).await["name"],
        "pageSize"
    );
    assert_eq!(get(&c, &sim, "/videos?currentPage=0").await.status(), 400);
    assert_eq!(get(&c, &sim, "/videos?sortOrder=up").await.status(), 400);
    let beyond = json(get(&c, &sim, "/videos?currentPage=9").await).await;
    assert_eq!(beyond["data"], json!([]));
    sim.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

async fn create_token(
    c: &reqwest::Client,
    sim: &apivideo_sim::SimHandle,
    body: Value,
) -> reqwest::Response {
    c.post(format!("{}/upload-tokens", sim.base_url()))
        .header("Authorization", basic(sim))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn upload_tokens_lifecycle() {
    let (sim, c) = start(config()).await;
    let r = create_token(&c, &sim, json!({"ttl": 60})).await;
    assert_eq!(r.status(), 200);
    let t60 = json(r).await;
    let tok60 = t60["token"].as_str().unwrap().to_owned();
    assert!(tok60.starts_with("to") && tok60.len() == 24, "{tok60}");
    assert_eq!(t60["ttl"], 60);
    assert!(t60["expiresAt"].is_string());
    let t0 = json(create_token(&c, &sim, json!({})).await).await;
    assert_eq!(t0["ttl"], 0);
    assert_eq!(t0["expiresAt"], Value::Null);
    let tok0 = t0["token"].as_str().unwrap().to_owned();
    assert_eq!(
        create_token(&c, &sim, json!({"ttl": -1})).await.status(),
        400
    );
    assert_eq!(
        create_token(&c, &sim, json!({"ttl": 2147483648u64}))
            .await
            .status(),
        400
    );

    let list = json(get(&c, &sim, "/upload-tokens?sortBy=ttl&sortOrder=desc").await).await;
    assert_eq!(list["pagination"]["itemsTotal"], 2);
    assert_eq!(list["data"][0]["token"], tok60);
    let list = json(
        get(
            &c,
            &sim,
            "/upload-tokens?sortBy=ttl&sortOrder=asc&pageSize=1",
        )
        .await,
    )
    .await;
    assert_eq!(list["data"][0]["token"], tok0);
    assert_eq!(list["pagination"]["pagesTotal"], 2);
    assert_eq!(
        get(&c, &sim, "/upload-tokens?sortBy=size").await.status(),
        400
    );

    assert_eq!(
        json(get(&c, &sim, &format!("/upload-tokens/{tok0}")).await).await["token"],
        tok0
    );
    let del = c
        .delete(format!("{}/upload-tokens/{tok0}", sim.base_url()))
        .header("Authorization", basic(&sim))
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);
    assert_eq!(
        get(&c, &sim, &format!("/upload-tokens/{tok0}"))
            .await
            .status(),
        404
    );
    let del = c
        .delete(format!("{}/upload-tokens/{tok0}", sim.base_url()))
        .header("Authorization", basic(&sim))
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 404);

    // Expiry follows the clock.
    sim.advance_clock(Duration::from_secs(61));
    assert_eq!(
        get(&c, &sim, &format!("/upload-tokens/{tok60}"))
            .await
            .status(),
        404
    );
    assert_eq!(
        json(get(&c, &sim, "/upload-tokens").await).await["pagination"]["itemsTotal"],
        0
    );
    // Upload tokens endpoints need API auth.
    assert_eq!(
        c.get(format!("{}/upload-tokens", sim.base_url()))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    for name in [
        "create_upload_token",
        "list_upload_tokens",
        "get_upload_token",
        "delete_upload_token",
    ] {
        assert!(sim.call_count(name) > 0, "{name}");
    }
    sim.stop().await;
}

fn form(bytes: &'static [u8]) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name("holiday.mp4"),
    )
}

#[tokio::test]
async fn upload_with_a_delegated_token() {
    let (sim, c) = start(config()).await;
    let base = sim.base_url();
    let tok = json(create_token(&c, &sim, json!({"ttl": 30})).await).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = c
        .post(format!("{base}/upload?token={tok}"))
        .multipart(form(b"fake video bytes"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(r.headers().get("x-ratelimit-limit").is_some());
    let v = json(r).await;
    let id = v["videoId"].as_str().unwrap().to_owned();
    assert!(id.starts_with("vi") && id.len() == 24, "{id}");
    assert_eq!(v["title"], "holiday");
    // The token is reusable until it expires; the video is stored.
    let r = c
        .post(format!("{base}/upload?token={tok}"))
        .multipart(form(b"again"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let got = video(&c, &sim, &id).await;
    assert_eq!(got["videoId"], id);
    let mp4 = c
        .get(got["assets"]["mp4"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(mp4.bytes().await.unwrap().as_ref(), b"fake video bytes");
    let status = json(get(&c, &sim, &format!("/videos/{id}/status")).await).await;
    assert_eq!(status["ingest"]["filesize"], 16);

    for url in [
        format!("{base}/upload"),
        format!("{base}/upload?token=to000"),
        format!("{base}/upload?token="),
    ] {
        let r = c.post(&url).multipart(form(b"x")).send().await.unwrap();
        assert_eq!(r.status(), 401, "{url}");
        assert_error_shape(&json(r).await, 401);
    }
    sim.advance_clock(Duration::from_secs(31));
    let r = c
        .post(format!("{base}/upload?token={tok}"))
        .multipart(form(b"late"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        json(r).await["type"],
        "https://docs.api.video/reference/authentication-invalid-upload-token"
    );
    // No file field.
    let tok2 = json(create_token(&c, &sim, json!({})).await).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = c
        .post(format!("{base}/upload?token={tok2}"))
        .multipart(reqwest::multipart::Form::new().text("title", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["name"], "file");
    assert_eq!(sim.call_count("upload"), 7);
    sim.stop().await;
}

#[tokio::test]
async fn rate_limit_headers_and_429() {
    let cfg = SimConfig {
        rate_limit: 3,
        ..config()
    };
    let (sim, c) = start(cfg).await;
    for expected in [2, 1, 0] {
        let r = get(&c, &sim, "/videos/sample").await;
        assert_eq!(r.status(), 200);
        let h = r.headers();
        assert_eq!(h["x-ratelimit-limit"], "3");
        assert_eq!(h["x-ratelimit-remaining"], expected.to_string().as_str());
        let retry: i64 = h["x-ratelimit-retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
    }
    let r = get(&c, &sim, "/videos").await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(
        json(r).await,
        json!({"type": "https://docs.api.video/reference/too-many-requests", "title": "Too many requests.", "status": 429})
    );
    assert_eq!(sim.call_count("rate_limited"), 1);
    // Auth and delivery are not limited.
    let r = c
        .post(format!("{}/auth/api-key", sim.base_url()))
        .json(&json!({"apiKey": sim.api_key()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A new window opens after a minute.
    sim.advance_clock(Duration::from_secs(61));
    let r = get(&c, &sim, "/videos/sample").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ratelimit-remaining"], "2");
    sim.stop().await;
}

#[tokio::test]
async fn calls_endpoint_counts_and_resets() {
    let (sim, c) = start(config()).await;
    let base = sim.base_url();
    let _ = get(&c, &sim, "/videos/sample").await;
    let _ = get(&c, &sim, "/videos/sample").await;
    let _ = get(&c, &sim, "/videos").await;
    let calls = json(c.get(format!("{base}/_sim/calls")).send().await.unwrap()).await;
    assert_eq!(calls["get_video"], 2);
    assert_eq!(calls["list_videos"], 1);
    for key in [
        "auth_api_key",
        "auth_refresh",
        "session",
        "vod_asset",
        "embed",
        "upload",
        "private_token_reuse_attempts",
    ] {
        assert_eq!(calls[key], 0, "{key}");
    }
    assert_eq!(
        c.delete(format!("{base}/_sim/calls"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let calls = json(c.get(format!("{base}/_sim/calls")).send().await.unwrap()).await;
    assert_eq!(calls["get_video"], 0);
    assert_eq!(sim.calls()["get_video"], 0);
    sim.stop().await;
}
