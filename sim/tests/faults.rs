//! Fault injection through config and `/_sim/faults`.

mod common;

use std::time::{Duration, Instant};

use apivideo_sim::{FaultRule, SimConfig};
use common::*;
use serde_json::json;

#[tokio::test]
async fn latency_is_added_to_scoped_endpoints_only() {
    let cfg = SimConfig {
        faults: vec![FaultRule {
            endpoints: vec!["get_video".into()],
            latency_ms: 300,
            ..Default::default()
        }],
        ..config()
    };
    let (sim, c) = start(cfg).await;
    let t = Instant::now();
    assert_eq!(get(&c, &sim, "/videos/sample").await.status(), 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    let t = Instant::now();
    assert_eq!(get(&c, &sim, "/videos").await.status(), 200);
    assert!(t.elapsed() < Duration::from_millis(300));
    assert_eq!(sim.call_count("faults_delayed"), 1);
    sim.stop().await;
}

#[tokio::test]
async fn error_share_and_next_n_errors() {
    let (sim, c) = start(config()).await;
    let base = sim.base_url();
    let r = c
        .post(format!("{base}/_sim/faults"))
        .json(&json!({"endpoints": ["api"], "error_rate": 1.0, "error_status": 503}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for _ in 0..3 {
        let r = get(&c, &sim, "/videos/sample").await;
        assert_eq!(r.status(), 503);
        assert!(r.headers().get("x-ratelimit-limit").is_some());
        assert_error_shape(&json(r).await, 503);
    }
    // Auth is not in the "api" group.
    let r = c
        .post(format!("{base}/auth/api-key"))
        .json(&json!({"apiKey": sim.api_key()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        c.delete(format!("{base}/_sim/faults"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(get(&c, &sim, "/videos/sample").await.status(), 200);

    // A 0.5 share fails roughly half.
    sim.add_faults(vec![FaultRule {
        error_rate: 0.5,
        ..Default::default()
    }]);
    let mut failed = 0;
    for _ in 0..60 {
        if get(&c, &sim, "/videos").await.status() == 500 {
            failed += 1;
        }
    }
    assert!((10..=50).contains(&failed), "{failed}");
    sim.clear_faults();

    sim.add_faults(vec![FaultRule {
        error_next: 2,
        ..Default::default()
    }]);
    assert_eq!(get(&c, &sim, "/videos").await.status(), 500);
    assert_eq!(get(&c, &sim, "/videos").await.status(), 500);
    assert_eq!(get(&c, &sim, "/videos").await.status(), 200);
    assert_eq!(sim.call_count("faults_error"), 5 + failed);
    sim.stop().await;
}

#[tokio::test]
async fn rate_limit_storm_for_the_next_n_requests() {
    let (sim, c) = start(config()).await;
    let base = sim.base_url();
    c.post(format!("{base}/_sim/faults"))
        .json(&json!({"rate_limit_next": 2}))
        .send()
        .await
        .unwrap();
    for _ in 0..2 {
        let r = get(&c, &sim, "/videos/sample").await;
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
        assert!(r.headers().get("x-ratelimit-retry-after").is_some());
        assert_eq!(
            json(r).await,
            json!({"type": "https://docs.api.video/reference/too-many-requests", "title": "Too many requests.", "status": 429})
        );
    }
    assert_eq!(get(&c, &sim, "/videos/sample").await.status(), 200);
    sim.add_faults(vec![FaultRule {
        rate_limit_rate: 1.0,
        endpoints: vec!["list_videos".into()],
        ..Default::default()
    }]);
    assert_eq!(get(&c, &sim, "/videos").await.status(), 429);
    assert_eq!(get(&c, &sim, "/videos/sample").await.status(), 200);
    assert_eq!(sim.call_count("faults_rate_limited"), 3);
    sim.stop().await;
}

#[tokio::test]
async fn dropped_connections_get_no_response() {
    let (sim, c) = start(config()).await;
    let base = sim.base_url();
    c.post(format!("{base}/_sim/faults"))
        .json(&json!({"drop_next": 1, "endpoints": ["get_video"]}))
        .send()
        .await
        .unwrap();
    let err = c
        .get(format!("{base}/videos/sample"))
        .header("Authorization", basic(&sim))
        .send()
        .await
        .unwrap_err();
    assert!(err.status().is_none(), "{err:?}");
    assert!(!err.is_timeout(), "{err:?}");
    assert_eq!(get(&c, &sim, "/videos/sample").await.status(), 200);
    // Drops on the vod side too.
    let v = video(&c, &sim, "sample").await;
    let b = token_base(&v);
    sim.add_faults(vec![FaultRule {
        drop_rate: 1.0,
        endpoints: vec!["session".into()],
        ..Default::default()
    }]);
    assert!(c.get(format!("{b}/session")).send().await.is_err());
    assert_eq!(sim.call_count("faults_dropped"), 2);
    sim.clear_faults();
    // The dropped /session never reached the token rules: the token is still fresh.
    assert_eq!(
        c.get(format!("{b}/session")).send().await.unwrap().status(),
        200
    );
    sim.stop().await;
}

#[tokio::test]
async fn expire_sessions_forces_every_session_expired() {
    let (sim, c) = start(config()).await;
    let base = sim.base_url();
    let b = token_base(&video(&c, &sim, "sample").await);
    let s = open_session(&c, &b).await;
    let url = format!("{b}/hls/manifest.m3u8?avh={s}");
    assert_eq!(status_of(&c, &url).await, 200);
    c.post(format!("{base}/_sim/faults"))
        .json(&json!({"expire_sessions": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(status_of(&c, &url).await, 404);
    assert_eq!(sim.call_count("expired_session_rejections"), 1);
    // Fresh tokens still open sessions (a new GET /videos/{id} is the way out).
    let b2 = token_base(&video(&c, &sim, "sample").await);
    assert_eq!(status_of(&c, &format!("{b2}/thumbnail.jpg")).await, 200);
    c.delete(format!("{base}/_sim/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(status_of(&c, &url).await, 200);
    sim.stop().await;
}

#[tokio::test]
async fn faults_admin_endpoint_round_trips_and_rejects_garbage() {
    let (sim, c) = start(config()).await;
    let base = sim.base_url();
    let rules =
        json!([{"endpoints": ["vod"], "latency_ms": 5}, {"error_next": 1, "error_status": 502}]);
    assert_eq!(
        c.post(format!("{base}/_sim/faults"))
            .json(&rules)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let got = json(c.get(format!("{base}/_sim/faults")).send().await.unwrap()).await;
    assert_eq!(got.as_array().unwrap().len(), 2);
    assert_eq!(got[1]["error_status"], 502);
    let r = c
        .post(format!("{base}/_sim/faults"))
        .json(&json!({"latency": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(get(&c, &sim, "/videos").await.status(), 502);
    // Reset clears faults and counters.
    assert_eq!(
        c.post(format!("{base}/_sim/reset"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        json(c.get(format!("{base}/_sim/faults")).send().await.unwrap()).await,
        json!([])
    );
    assert_eq!(sim.call_count("list_videos"), 0);
    sim.stop().await;
}
