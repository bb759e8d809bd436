//! Rental rules through HTTP against real Redis: the rental clock, the refund webhook,
//! stream limits, the age gate and the audit trail.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

async fn get_ent(app: &TestApp, id: &str) -> Value {
    app.admin(Method::GET, &format!("/v1/entitlements/{id}"), None)
        .await
        .json()
        .await
        .unwrap()
}

async fn open_player(app: &TestApp, watch_url: &str) -> (Viewer, String) {
    let (status, viewer) = app.launch(watch_url).await;
    assert_eq!(status, 303);
    let html = app
        .get_as(&viewer, &format!("/watch/{}", viewer.entitlement_id))
        .await
        .text()
        .await
        .unwrap();
    let master = html
        .split("data-src=\"")
        .nth(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .unwrap_or_default();
    (viewer, master)
}

async fn audit_kinds(app: &TestApp, query: &str) -> Vec<String> {
    app.audit(query)
        .await
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_rental_clock_starts_at_the_first_segment_served() {
    let app = spawn_app().await;
    let (s, e) = app
        .grant(
            json!({"viewer_id": "v", "video_id": "sample", "start_within_s": 30, "watch_for_s": 3}),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(e["expires_at"], Value::Null, "not started: no end yet");
    assert!(e["start_by"].is_string());
    assert_eq!(e["first_played_at"], Value::Null);
    let id = e["id"].as_str().unwrap();
    let (viewer, master) = open_player(&app, e["watch_url"].as_str().unwrap()).await;
    // Playlists and keys do not start the clock; a segment does.
    assert_eq!(app.get_as(&viewer, &master).await.status(), 200);
    assert_eq!(get_ent(&app, id).await["first_played_at"], Value::Null);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        app.get_as(&viewer, &format!("{}/360p/seg0.ts", play_dir(&master)))
            .await
            .status(),
        200
    );
    let got = get_ent(&app, id).await;
    let first =
        chrono::DateTime::parse_from_rfc3339(got["first_played_at"].as_str().unwrap()).unwrap();
    let end = chrono::DateTime::parse_from_rfc3339(got["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        (end - first).num_seconds(),
        3,
        "the window runs from the first play: {got}"
    );
    tokio::time::sleep(Duration::from_millis(3300)).await;
    let r = app
        .get_as(&viewer, &format!("{}/360p/seg1.ts", play_dir(&master)))
        .await;
    assert_eq!(problem(r, 403).await, "expired");
}

#[tokio::test]
async fn a_start_window_that_passed_refuses_with_its_own_reason() {
    let app = spawn_app().await;
    let (_, e) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample", "start_within_s": 1}))
        .await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(
        get_ent(&app, e["id"].as_str().unwrap()).await["status"],
        "start_window_passed"
    );
    let r = app
        .client
        .get(e["watch_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("set-cookie").is_none(), "no session");
    let page = r.text().await.unwrap();
    assert!(
        page.contains(r#"data-code="start_window_passed""#),
        "the launch page says why: {page}"
    );
}

/// The entitlement's start deadline to the microsecond, as stored (the API shows whole seconds).
async fn exact_start_by(app: &TestApp, id: &str) -> chrono::DateTime<chrono::Utc> {
    let mut c = raw_redis().await;
    let json: String = redis::cmd("GET")
        .arg(format!("{}ent:{{e:{id}}}", app.config.redis_prefix))
        .query_async(&mut c)
        .await
        .unwrap();
    let v: Value = serde_json::from_str(&json).unwrap();
    chrono::DateTime::parse_from_rfc3339(v["start_by"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc)
}

/// Wait until `at` plus `offset_ms`.
async fn sleep_until(at: chrono::DateTime<chrono::Utc>, offset_ms: i64) {
    let left = (at + chrono::Duration::milliseconds(offset_ms)) - chrono::Utc::now();
    if let Ok(left) = left.to_std() {
        tokio::time::sleep(left).await;
    }
}

#[tokio::test]
async fn a_player_opened_in_time_but_first_playing_late_is_refused_at_its_first_segment() {
    let app = spawn_app().await;
    let (_, e) = app
        .grant(
            json!({"viewer_id": "v", "video_id": "sample", "start_within_s": 2, "watch_for_s": 60}),
        )
        .await;
    let (viewer, master) = open_player(&app, e["watch_url"].as_str().unwrap()).await;
    assert_eq!(app.get_as(&viewer, &master).await.status(), 200);
    sleep_until(exact_start_by(&app, e["id"].as_str().unwrap()).await, 300).await;
    let r = app
        .get_as(&viewer, &format!("{}/360p/seg0.ts", play_dir(&master)))
        .await;
    assert_eq!(problem(r, 403).await, "start_window_passed");
    let got = get_ent(&app, e["id"].as_str().unwrap()).await;
    assert_eq!(
        got["first_played_at"],
        Value::Null,
        "a refusal starts no clock"
    );
}

#[tokio::test]
async fn a_first_play_at_the_start_deadline_starts_the_clock_and_keeps_playing_past_it() {
    let app = spawn_app().await;
    let (_, e) = app
        .grant(
            json!({"viewer_id": "v", "video_id": "sample", "start_within_s": 2, "watch_for_s": 60}),
        )
        .await;
    let start_by = exact_start_by(&app, e["id"].as_str().unwrap()).await;
    let (viewer, master) = open_player(&app, e["watch_url"].as_str().unwrap()).await;
    // As close to the deadline as real HTTP on a busy CI machine allows: just inside it.
    sleep_until(start_by, -500).await;
    let r = app
        .get_as(&viewer, &format!("{}/360p/seg0.ts", play_dir(&master)))
        .await;
    assert_eq!(r.status(), 200, "a first play at the deadline is in time");
    let got = get_ent(&app, e["id"].as_str().unwrap()).await;
    let first =
        chrono::DateTime::parse_from_rfc3339(got["first_played_at"].as_str().unwrap()).unwrap();
    // The API shows whole seconds: the first play is no later than the deadline's second.
    assert!(first.timestamp() <= start_by.timestamp(), "{got}");
    let end = chrono::DateTime::parse_from_rfc3339(got["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!((end - first).num_seconds(), 60, "{got}");
    // Past the deadline the started rental plays on, on this instance (whose cache held the
    // record from before the first play) at once.
    sleep_until(start_by, 50).await;
    for seg in ["seg1.ts", "seg2.ts"] {
        let r = app
            .get_as(&viewer, &format!("{}/360p/{seg}", play_dir(&master)))
            .await;
        assert_eq!(r.status(), 200, "{seg}");
    }
    assert_eq!(
        get_ent(&app, e["id"].as_str().unwrap()).await["status"],
        "active"
    );
}

#[tokio::test]
async fn a_revoke_racing_the_first_play_is_never_lost() {
    let app = std::sync::Arc::new(spawn_app().await);
    for _ in 0..5 {
        let (_, e) = app.grant(json!({"viewer_id": "v", "video_id": "sample", "start_within_s": 60, "watch_for_s": 60})).await;
        let (viewer, master) = open_player(&app, e["watch_url"].as_str().unwrap()).await;
        let seg = format!("{}/360p/seg0.ts", play_dir(&master));
        let seg2 = format!("{}/360p/seg1.ts", play_dir(&master));
        let viewer2 = viewer.clone();
        let id = viewer.entitlement_id.clone();
        let a = app.clone();
        let play = tokio::spawn(async move { a.get_as(&viewer, &seg).await.status().as_u16() });
        let revoke = app
            .admin(Method::POST, &format!("/v1/entitlements/{id}/revoke"), None)
            .await;
        assert_eq!(revoke.status(), 200);
        let played = play.await.unwrap();
        assert!(played == 200 || played == 403);
        let got = get_ent(&app, &id).await;
        assert_eq!(
            got["status"], "revoked",
            "the revoke stands whatever the order: {got}"
        );
        // Whichever won, the next segment after the revoke's 200 is refused as revoked, and
        // the first play was recorded only if that segment was served.
        let r = app.get_as(&viewer2, &seg2).await;
        assert_eq!(problem(r, 403).await, "revoked");
        assert_eq!(
            got["first_played_at"].is_string(),
            played == 200,
            "first play recorded iff served: {got}"
        );
        let kinds = audit_kinds(&app, &format!("entitlement_id={id}")).await;
        assert_eq!(
            kinds.iter().filter(|k| *k == "revoke").count(),
            1,
            "{kinds:?}"
        );
        assert_eq!(
            kinds.iter().filter(|k| *k == "first_play").count(),
            usize::from(played == 200),
            "{kinds:?}"
        );
    }
}

fn sign(secret: &str, body: &str) -> String {
    let t = chrono::Utc::now().timestamp();
    format!(
        "t={t},v1={}",
        vodgate::webhook::sign(secret, t, body.as_bytes())
    )
}

const SECRET: &str = "whsec_test_0123456789abcdef";

async fn webhook_app() -> TestApp {
    let mut config = test_config(StoreKind::Redis);
    config.webhook_secrets = vec![secrecy::SecretString::from(SECRET)];
    spawn_app_with(config).await
}

async fn post_webhook(app: &TestApp, body: &str, signature: &str) -> reqwest::Response {
    app.client
        .post(app.url("/webhooks/payments"))
        .header("content-type", "application/json")
        .header("vodgate-signature", signature)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_signed_refund_webhook_revokes_the_order_once() {
    let app = webhook_app().await;
    let (_, a) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample", "order_id": "ord-w1"}))
        .await;
    let (_, b) = app
        .grant(json!({"viewer_id": "v", "video_id": "trailer", "order_id": "ord-w1"}))
        .await;
    let (viewer, master) = open_player(&app, a["watch_url"].as_str().unwrap()).await;
    assert_eq!(app.get_as(&viewer, &master).await.status(), 200);

    let body = r#"{"id":"evt_100","type":"chargeback","order_id":"ord-w1"}"#;
    let r = post_webhook(&app, body, &sign(SECRET, body)).await;
    assert_eq!(r.status(), 200);
    let out: Value = r.json().await.unwrap();
    assert_eq!(out["status"], "processed");
    assert_eq!(out["revoked"].as_array().unwrap().len(), 2);
    for e in [&a, &b] {
        assert_eq!(
            get_ent(&app, e["id"].as_str().unwrap()).await["status"],
            "refunded"
        );
    }
    assert_eq!(
        problem(app.get_as(&viewer, &master).await, 403).await,
        "refunded"
    );
    // The same event again: 200, nothing changes.
    let r = post_webhook(&app, body, &sign(SECRET, body)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "duplicate");
    // A second, different event for the same order: 200, the first revocation stands.
    let body2 = r#"{"id":"evt_101","type":"refund","order_id":"ord-w1"}"#;
    let r = post_webhook(&app, body2, &sign(SECRET, body2)).await;
    assert_eq!(r.status(), 200);
    let out: Value = r.json().await.unwrap();
    assert_eq!(out["status"], "processed");
    assert_eq!(out["revoked"], json!([]), "{out}");
    let mut already: Vec<_> = out["already_revoked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    already.sort();
    let mut both = vec![
        a["id"].as_str().unwrap().to_owned(),
        b["id"].as_str().unwrap().to_owned(),
    ];
    both.sort();
    assert_eq!(already, both);
    let got = get_ent(&app, a["id"].as_str().unwrap()).await;
    assert_eq!(got["revocation_reason"], "chargeback evt_100");
    // The trail says each entitlement was refunded once, by the first event.
    let kinds = audit_kinds(&app, "order_id=ord-w1").await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "refund").count(),
        2,
        "{kinds:?}"
    );
}

#[tokio::test]
async fn a_webhook_secret_rotation_accepts_both_secrets_and_several_signatures() {
    // Configured as an operator does it: two comma-separated secrets during a rotation.
    const OLD: &str = "whsec_old_0123456789abcdef";
    const NEW: &str = "whsec_new_0123456789abcdef";
    let secrets = format!("{NEW}, {OLD}");
    let config = vodgate::config::Config::from_sources(None, |var| {
        (var == "VODGATE_WEBHOOK_SECRET").then(|| secrets.clone())
    })
    .unwrap();
    assert_eq!(config.webhook_secrets.len(), 2);
    let mut test = test_config(StoreKind::Redis);
    test.webhook_secrets = config.webhook_secrets;
    let app = spawn_app_with(test).await;
    for (i, secret) in [OLD, NEW].into_iter().enumerate() {
        let order = format!("ord-rot-{i}");
        let (_, e) = app
            .grant(json!({"viewer_id": "v", "video_id": "sample", "order_id": order}))
            .await;
        let body = format!(r#"{{"id":"evt_rot_{i}","type":"refund","order_id":"{order}"}}"#);
        let r = post_webhook(&app, &body, &sign(secret, &body)).await;
        assert_eq!(r.status(), 200, "signed with secret {i}");
        assert_eq!(
            get_ent(&app, e["id"].as_str().unwrap()).await["status"],
            "refunded"
        );
    }
    // A sender in the middle of its own rotation sends two v1 values: one that matches is enough.
    let (_, e) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample", "order_id": "ord-rot-2"}))
        .await;
    let body = r#"{"id":"evt_rot_2","type":"refund","order_id":"ord-rot-2"}"#;
    let t = chrono::Utc::now().timestamp();
    let header = format!(
        "t={t},v1={},v1={}",
        vodgate::webhook::sign("whsec_retired_0123456789ab", t, body.as_bytes()),
        vodgate::webhook::sign(NEW, t, body.as_bytes())
    );
    assert_eq!(post_webhook(&app, body, &header).await.status(), 200);
    assert_eq!(
        get_ent(&app, e["id"].as_str().unwrap()).await["status"],
        "refunded"
    );
}

#[tokio::test]
async fn bad_stale_and_unknown_webhooks() {
    let app = webhook_app().await;
    let (_, e) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample", "order_id": "ord-w2"}))
        .await;
    let body = r#"{"id":"evt_200","type":"refund","order_id":"ord-w2"}"#;
    // Wrong secret.
    let r = post_webhook(&app, body, &sign("whsec_wrong_0123456789abc", body)).await;
    assert_eq!(problem(r, 400).await, "invalid_signature");
    // Missing header, tampered body.
    let r = app
        .client
        .post(app.url("/webhooks/payments"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 400).await, "invalid_signature");
    let r = post_webhook(&app, &body.replace("ord-w2", "ord-xx"), &sign(SECRET, body)).await;
    assert_eq!(problem(r, 400).await, "invalid_signature");
    // Older than five minutes.
    let t = chrono::Utc::now().timestamp() - 301;
    let stale = format!(
        "t={t},v1={}",
        vodgate::webhook::sign(SECRET, t, body.as_bytes())
    );
    let r = post_webhook(&app, body, &stale).await;
    assert_eq!(problem(r, 400).await, "signature_expired");
    // Nothing changed, and every refusal is in the order's trail.
    assert_eq!(
        get_ent(&app, e["id"].as_str().unwrap()).await["status"],
        "active"
    );
    let kinds = audit_kinds(&app, "order_id=ord-w2").await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "webhook_refused").count(),
        3,
        "wrong secret, no header, stale: {kinds:?}"
    );
    // A flood of unsigned requests naming the order cannot push its real events out of
    // its (capped) trail: the same refusal is filed under the order once a minute.
    for _ in 0..20 {
        let r = post_webhook(&app, body, &sign("whsec_wrong_0123456789abc", body)).await;
        assert_eq!(problem(r, 400).await, "invalid_signature");
    }
    let kinds = audit_kinds(&app, "order_id=ord-w2").await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "webhook_refused").count(),
        3,
        "{kinds:?}"
    );
    assert_eq!(kinds[0], "grant", "{kinds:?}");
    // A refund for an order vodgate never saw: 200, nothing changed, audited.
    let body = r#"{"id":"evt_201","type":"refund","order_id":"never-sold"}"#;
    let r = post_webhook(&app, body, &sign(SECRET, body)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["revoked"], json!([]));
    assert_eq!(
        audit_kinds(&app, "order_id=never-sold").await,
        vec!["webhook_unmatched"]
    );
    // Other event types are acknowledged and ignored.
    let body = r#"{"id":"evt_202","type":"payment_succeeded","order_id":"ord-w2"}"#;
    let r = post_webhook(&app, body, &sign(SECRET, body)).await;
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ignored");
    assert_eq!(
        get_ent(&app, e["id"].as_str().unwrap()).await["status"],
        "active"
    );
}

#[tokio::test]
async fn the_webhook_is_off_without_a_secret() {
    let app = spawn_app().await;
    let r = post_webhook(&app, "{}", "t=1,v1=00").await;
    assert_eq!(problem(r, 404).await, "webhook_not_configured");
}

#[tokio::test]
async fn stream_limits_refuse_an_extra_screen_and_operators_can_stop_one() {
    let mut config = test_config(StoreKind::Redis);
    config.stream_idle = Duration::from_secs(2);
    let app = spawn_app_with(config).await;
    let (_, e) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample", "max_streams": 1}))
        .await;
    let id = e["id"].as_str().unwrap().to_owned();
    let (phone, phone_master) = open_player(&app, e["watch_url"].as_str().unwrap()).await;
    assert!(!phone_master.is_empty());
    // The same browser reloading takes over its own place.
    let html = app
        .get_as(&phone, &format!("/watch/{id}"))
        .await
        .text()
        .await
        .unwrap();
    let phone_master = master_of(&html);
    assert_eq!(
        app.get_as(&phone, &format!("{}/360p/seg0.ts", play_dir(&phone_master)))
            .await
            .status(),
        200
    );
    // A second device: over the limit.
    let launch: Value = app
        .admin(Method::POST, &format!("/v1/entitlements/{id}/launch"), None)
        .await
        .json()
        .await
        .unwrap();
    let (tv, tv_master) = open_player(&app, launch["watch_url"].as_str().unwrap()).await;
    assert!(tv_master.is_empty(), "no player for the second screen");
    let r = app.get_as(&tv, &format!("/watch/{id}")).await;
    assert_eq!(r.status(), 403);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("too_many_streams") && html.contains("Close the player"),
        "the page says how to free a place"
    );
    // The operator sees the phone's playback and stops it.
    let list: Value = app
        .admin(
            Method::GET,
            &format!("/v1/entitlements/{id}/playbacks"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let playbacks = list["data"].as_array().unwrap();
    assert_eq!(playbacks.len(), 1, "{list}");
    let pb = playbacks[0]["id"].as_str().unwrap().to_owned();
    assert!(phone_master.contains(&pb));
    let r = app
        .admin(
            Method::DELETE,
            &format!("/v1/entitlements/{id}/playbacks/{pb}"),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    let r = app
        .get_as(&phone, &format!("{}/360p/seg1.ts", play_dir(&phone_master)))
        .await;
    assert_eq!(problem(r, 403).await, "playback_stopped");
    // Now the TV gets the place.
    let html = app
        .get_as(&tv, &format!("/watch/{id}"))
        .await
        .text()
        .await
        .unwrap();
    let tv_master = master_of(&html);
    assert_eq!(
        app.get_as(&tv, &format!("{}/360p/seg0.ts", play_dir(&tv_master)))
            .await
            .status(),
        200
    );
    // An idle playback stops counting after the idle gap: the phone (reloaded) gets back in.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let html = app
        .get_as(&phone, &format!("/watch/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("data-src"),
        "the TV idled out, so the phone may play again"
    );
    let r = app
        .admin(
            Method::DELETE,
            &format!("/v1/entitlements/{id}/playbacks/pb_{}", "0".repeat(32)),
            None,
        )
        .await;
    assert_eq!(problem(r, 404).await, "playback_not_found");
}

#[tokio::test]
async fn a_self_declared_age_gate_needs_a_confirmation_with_a_valid_csrf_token() {
    let app = spawn_app().await;
    let (_, e) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample", "age_gate": "self_declared"}))
        .await;
    assert_eq!(e["age_gate"], "self_declared");
    let (viewer, master) = open_player(&app, e["watch_url"].as_str().unwrap()).await;
    assert!(master.is_empty(), "no player before the confirmation");
    let id = viewer.entitlement_id.clone();
    let html = app
        .get_as(&viewer, &format!("/watch/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("age_gate_required"));
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let post = |form: Vec<(&'static str, String)>, cookie: Option<String>| {
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let mut r = app
            .client
            .post(app.url(&format!("/watch/{id}/age")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(c) = cookie {
            r = r.header("cookie", c);
        }
        r.send()
    };
    let r = post(
        vec![("csrf", "0".repeat(32)), ("confirm", "yes".into())],
        viewer.cookie.clone(),
    )
    .await
    .unwrap();
    assert_eq!(problem(r, 403).await, "invalid_csrf_token");
    let r = post(
        vec![("csrf", csrf.clone()), ("confirm", "yes".into())],
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403, "no session, no confirmation");
    let r = post(
        vec![("csrf", csrf), ("confirm", "yes".into())],
        viewer.cookie.clone(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 303);
    let html = app
        .get_as(&viewer, &format!("/watch/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("data-src"), "plays after the confirmation");
    assert!(
        audit_kinds(&app, &format!("entitlement_id={id}"))
            .await
            .contains(&"age_confirmed".to_string())
    );
}

#[tokio::test]
async fn a_verified_age_gate_needs_the_proof_in_the_grant() {
    let app = spawn_app().await;
    let r = app
        .admin(
            Method::POST,
            "/v1/entitlements",
            Some(json!({"viewer_id": "v", "video_id": "sample", "age_gate": "verified"})),
        )
        .await;
    assert_eq!(problem(r, 422).await, "age_verification_required");
    let proof = json!({"method": "id_document", "verified_at": "2026-01-02T03:04:05Z", "reference": "kyc-778"});
    let (s, e) = app.grant(json!({"viewer_id": "v", "video_id": "sample", "age_gate": "verified", "age_verification": proof})).await;
    assert_eq!(s, 201);
    assert_eq!(
        get_ent(&app, e["id"].as_str().unwrap()).await["age_verification"],
        proof
    );
    let r = app.admin(Method::POST, "/v1/entitlements", Some(json!({"viewer_id": "v", "video_id": "sample", "age_gate": "verified",
        "age_verification": {"method": "", "verified_at": "2026-01-02T03:04:05Z", "reference": "x"}}))).await;
    assert_eq!(problem(r, 422).await, "invalid_age_verification");
    let r = app
        .admin(
            Method::POST,
            "/v1/entitlements",
            Some(json!({"viewer_id": "v", "video_id": "sample", "age_gate": "maybe"})),
        )
        .await;
    assert_eq!(problem(r, 400).await, "invalid_body");
}

#[tokio::test]
async fn the_audit_trail_tells_the_story_of_a_rental_oldest_first_in_pages() {
    let app = spawn_app().await;
    let (_, e) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample", "order_id": "ord-audit"}))
        .await;
    let (viewer, master) = open_player(&app, e["watch_url"].as_str().unwrap()).await;
    let id = viewer.entitlement_id.clone();
    app.get_as(&viewer, &format!("{}/360p/seg0.ts", play_dir(&master)))
        .await;
    app.admin(
        Method::POST,
        &format!("/v1/entitlements/{id}/revoke"),
        Some(json!({"reason": "abuse"})),
    )
    .await;
    app.get_as(&viewer, &format!("{}/360p/seg1.ts", play_dir(&master)))
        .await;
    app.get_as(&viewer, &format!("{}/360p/seg2.ts", play_dir(&master)))
        .await;
    let kinds = audit_kinds(&app, &format!("entitlement_id={id}")).await;
    assert_eq!(
        kinds,
        vec!["grant", "launch", "first_play", "revoke", "deny"],
        "one deny per playback and reason"
    );
    let body: Value = app
        .admin(Method::GET, &format!("/v1/audit?entitlement_id={id}"), None)
        .await
        .json()
        .await
        .unwrap();
    let deny = &body["data"][4];
    assert_eq!(deny["reason"], "revoked");
    assert_eq!(deny["order_id"], "ord-audit");
    assert_eq!(deny["viewer_id"], "v");
    let ip = deny["client_ip_hash"].as_str().unwrap();
    assert!(
        ip.len() == 32 && !ip.contains("127.0.0.1"),
        "a keyed hash, never the address"
    );
    assert_eq!(body["data"][3]["reason"], "abuse");
    // Pages of two.
    let p1: Value = app
        .admin(
            Method::GET,
            &format!("/v1/audit?entitlement_id={id}&limit=2"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(p1["data"].as_array().unwrap().len(), 2);
    let cursor = p1["next_cursor"].as_str().unwrap();
    let p2: Value = app
        .admin(
            Method::GET,
            &format!("/v1/audit?entitlement_id={id}&limit=2&after={cursor}"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(p2["data"][0]["kind"], "first_play");
    // By order.
    assert_eq!(
        audit_kinds(&app, "order_id=ord-audit")
            .await
            .first()
            .map(String::as_str),
        Some("grant")
    );
    let r = app.admin(Method::GET, "/v1/audit", None).await;
    assert_eq!(problem(r, 400).await, "invalid_query");
}

#[tokio::test]
async fn a_refunded_viewer_reloading_cannot_push_the_evidence_out_of_the_trail() {
    // The disputer's move: refunded, they reload the watch page (and their player retries
    // its playlist) over and over, hoping the capped trail forgets the grant, the launch,
    // the first play and the refund. Each source of refusals files one `deny` a minute.
    let app = spawn_app().await;
    let (_, e) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample", "order_id": "ord-reload"}))
        .await;
    let (viewer, master) = open_player(&app, e["watch_url"].as_str().unwrap()).await;
    let id = viewer.entitlement_id.clone();
    let seg = format!("{}/360p/seg0.ts", play_dir(&master));
    assert_eq!(app.get_as(&viewer, &seg).await.status(), 200);
    let r = app
        .admin(
            Method::POST,
            "/v1/orders/ord-reload/refund",
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let watch = format!("/watch/{id}");
    for i in 0..1100 {
        let page = if i % 2 == 0 { &watch } else { &master };
        assert_eq!(app.get_as(&viewer, page).await.status(), 403);
    }
    for trail in [
        format!("entitlement_id={id}"),
        "order_id=ord-reload".to_owned(),
    ] {
        let kinds = audit_kinds(&app, &format!("{trail}&limit=1000")).await;
        assert_eq!(
            kinds,
            ["grant", "launch", "first_play", "refund", "deny"],
            "{trail}"
        );
    }
}

#[tokio::test]
async fn no_number_of_refusals_pushes_a_grant_or_refund_out_of_a_trail() {
    // Below the per-minute throttle, the trail's own rule: refusals are filed up to a cap,
    // whatever writes them (a year of minutes, many reasons, a bug upstream of the audit).
    use vodgate::app::audit::{Audit, AuditEvent, AuditKind, MAX_REFUSALS_PER_LOG, Trail};
    use vodgate::domain::{EntitlementId, OrderId, ViewerId};
    let store = vodgate::store::Store::Redis(
        vodgate::store::RedisStore::open(&redis_url(), &random_prefix()).unwrap(),
    );
    let audit = Audit::new(store, None);
    let id = EntitlementId::parse(&format!("ent_{}", uuid::Uuid::new_v4().simple())).unwrap();
    let order = OrderId::parse("ord-many").unwrap();
    let viewer = ViewerId::parse("v").unwrap();
    let ev = |kind| AuditEvent::new(kind).entitlement(&id, Some(&order), &viewer);
    audit.record(ev(AuditKind::Grant)).await;
    for _ in 0..1300 {
        audit.record(ev(AuditKind::Deny).reason("refunded")).await;
    }
    audit.record(ev(AuditKind::Refund)).await;
    for trail in [Trail::Entitlement(&id), Trail::Order(&order)] {
        let (events, _) = audit.list(trail, None, 1000).await.unwrap();
        let count = |k: AuditKind| events.iter().filter(|e| e.kind == k).count();
        assert_eq!(count(AuditKind::Grant), 1);
        assert_eq!(count(AuditKind::Refund), 1);
        assert_eq!(count(AuditKind::Deny) as i64, MAX_REFUSALS_PER_LOG);
        assert_eq!(events.first().map(|e| e.kind), Some(AuditKind::Grant));
        assert_eq!(events.last().map(|e| e.kind), Some(AuditKind::Refund));
    }
}

#[tokio::test]
async fn a_refund_whose_first_delivery_failed_is_applied_by_the_retry() {
    // The payment platform retries until it gets a 2xx. Marking the event id "seen" before
    // acting, and unmarking it when acting failed, lost the refund whenever the unmarking
    // failed too: every retry then answered `duplicate`. Here the first delivery fails (one
    // of the order's records is unreadable) on a Redis where DEL is refused, as it would be
    // with the store gone; the retry, after the record is readable again, must refund.
    let (port, _) = spawn_redis_server(&[
        "--user",
        "default",
        "off",
        "--user",
        "vg",
        "on",
        "'>vg-pass'",
        "'~*'",
        "'&*'",
        "+@all",
        "-del",
    ]);
    let mut config = test_config(StoreKind::Redis);
    config.redis_url = Some(secrecy::SecretString::from(format!(
        "redis://vg:vg-pass@127.0.0.1:{port}/"
    )));
    config.webhook_secrets = vec![secrecy::SecretString::from(SECRET)];
    let app = spawn_app_with(config).await;
    let (_, e) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample", "order_id": "ord-retry"}))
        .await;
    let id = e["id"].as_str().unwrap();
    let mut raw =
        vodgate::store::RedisStore::open(&format!("redis://vg:vg-pass@127.0.0.1:{port}/"), "")
            .unwrap()
            .raw_connection();
    let key = format!("{}ent:{{e:{id}}}", app.config.redis_prefix);
    let record: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut raw)
        .await
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg("not json")
        .query_async(&mut raw)
        .await
        .unwrap();
    let body = r#"{"id":"evt_retry","type":"refund","order_id":"ord-retry"}"#;
    let r = post_webhook(&app, body, &sign(SECRET, body)).await;
    assert!(r.status().is_server_error(), "{}", r.status());
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(&record)
        .query_async(&mut raw)
        .await
        .unwrap();
    let r = post_webhook(&app, body, &sign(SECRET, body)).await;
    assert_eq!(r.status(), 200);
    let out: Value = r.json().await.unwrap();
    assert_eq!(out["status"], "processed", "{out}");
    assert_eq!(out["revoked"], json!([id]), "{out}");
    assert_eq!(get_ent(&app, id).await["status"], "refunded");
    // And now it is done: the next delivery is a duplicate.
    let r = post_webhook(&app, body, &sign(SECRET, body)).await;
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "duplicate");
}

#[tokio::test]
async fn reloads_replace_their_playback_and_an_entitlement_holds_a_bounded_number() {
    // Each watch-page load starts a playback; a reload used to leave the earlier one alive
    // (its id kept serving playlists for the whole window): 200 reloads, 200 live ids.
    let app = spawn_app().await;
    let (_, e) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample", "max_streams": 100}))
        .await;
    let (viewer, first) = open_player(&app, e["watch_url"].as_str().unwrap()).await;
    let id = viewer.entitlement_id.clone();
    let mut masters = vec![first];
    for _ in 0..40 {
        let html = app
            .get_as(&viewer, &format!("/watch/{id}"))
            .await
            .text()
            .await
            .unwrap();
        masters.push(
            html.split("data-src=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap()
                .to_owned(),
        );
    }
    let (last, earlier) = masters.split_last().unwrap();
    assert_eq!(app.get_as(&viewer, last).await.status(), 200);
    for m in earlier {
        assert_eq!(
            problem(app.get_as(&viewer, m).await, 403).await,
            "playback_stopped",
            "{m}"
        );
    }

    // Many browsers (each its own launch link and session): the oldest beyond the bound go.
    let max = vodgate::app::MAX_PLAYBACKS;
    let mut screens = vec![(viewer, last.clone())];
    for _ in 0..max + 4 {
        let link: Value = app
            .admin(Method::POST, &format!("/v1/entitlements/{id}/launch"), None)
            .await
            .json()
            .await
            .unwrap();
        screens.push(open_player(&app, link["watch_url"].as_str().unwrap()).await);
    }
    let refused = screens.len() - max;
    for (i, (v, m)) in screens.iter().enumerate() {
        let r = app.get_as(v, m).await;
        if i < refused {
            assert_eq!(problem(r, 403).await, "playback_stopped", "screen {i}");
        } else {
            assert_eq!(r.status(), 200, "screen {i}");
        }
    }
}
