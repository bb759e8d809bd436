//! Shared helpers for the sim's integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use apivideo_sim::{SimConfig, SimHandle};
use base64::Engine as _;
use serde_json::Value;

pub fn media_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/media")
}

pub fn config() -> SimConfig {
    SimConfig {
        media_dir: Some(media_dir()),
        ..Default::default()
    }
}

pub async fn start(cfg: SimConfig) -> (SimHandle, reqwest::Client) {
    let sim = apivideo_sim::spawn(cfg).await.expect("sim starts");
    (sim, client())
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

pub fn basic(sim: &SimHandle) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{}:", sim.api_key()));
    format!("Basic {b64}")
}

pub async fn get(c: &reqwest::Client, sim: &SimHandle, path: &str) -> reqwest::Response {
    c.get(format!("{}{path}", sim.base_url()))
        .header("Authorization", basic(sim))
        .send()
        .await
        .unwrap()
}

pub async fn json(resp: reqwest::Response) -> Value {
    resp.json().await.unwrap()
}

/// `GET /videos/{id}` with Basic auth; the body.
pub async fn video(c: &reqwest::Client, sim: &SimHandle, id: &str) -> Value {
    let resp = get(c, sim, &format!("/videos/{id}")).await;
    assert_eq!(resp.status(), 200);
    json(resp).await
}

/// `https://vod/.../vod/{id}/token/{t}` from an `assets.hls` URL.
pub fn token_base(video: &Value) -> String {
    let hls = video["assets"]["hls"].as_str().unwrap();
    hls.strip_suffix("/hls/manifest.m3u8").unwrap().to_owned()
}

pub fn private_token(video: &Value) -> String {
    token_base(video).rsplit('/').next().unwrap().to_owned()
}

pub async fn status_of(c: &reqwest::Client, url: &str) -> u16 {
    c.get(url).send().await.unwrap().status().as_u16()
}

/// Open a session with `/session`.
pub async fn open_session(c: &reqwest::Client, base: &str) -> String {
    let resp = c.get(format!("{base}/session")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    json(resp).await["session_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub fn assert_error_shape(body: &Value, status: u16) {
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .starts_with("https://docs.api.video/reference/"),
        "{body}"
    );
    assert!(body["title"].is_string(), "{body}");
}
