use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};

async fn both_stores() -> Vec<TestApp> {
    vec![
        spawn_app_with(test_config(StoreKind::Redis)).await,
        spawn_app_with(test_config(StoreKind::Memory)).await,
    ]
}

#[tokio::test]
async fn a_grant_returns_201_with_the_entitlement_and_a_watch_url() {
    for app in both_stores().await {
        let (status, e) = app
            .grant(json!({"viewer_id": "viewer-1", "video_id": "sample", "order_id": "order-1"}))
            .await;
        assert_eq!(status, 201, "{e}");
        assert!(e["id"].as_str().unwrap().starts_with("ent_"));
        assert_eq!(e["status"], "active");
        assert_eq!(e["viewer_id"], "viewer-1");
        assert_eq!(e["video_id"], "sample");
        assert_eq!(e["order_id"], "order-1");
        let created =
            chrono::DateTime::parse_from_rfc3339(e["created_at"].as_str().unwrap()).unwrap();
        let expires =
            chrono::DateTime::parse_from_rfc3339(e["expires_at"].as_str().unwrap()).unwrap();
        assert_eq!(
            (expires - created).num_seconds(),
            86_400,
            "default window is 24 h"
        );
        assert!(e["created_at"].as_str().unwrap().ends_with('Z'));
        let url = e["watch_url"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("{}/w/vg_wl_", app.address)),
            "{url}"
        );
        let (_, no_order) = app
            .grant(json!({"viewer_id": "viewer-1", "video_id": "sample"}))
            .await;
        assert_eq!(no_order["order_id"], Value::Null);
    }
}

#[tokio::test]
async fn the_same_order_and_video_again_returns_the_existing_entitlement() {
    for app in both_stores().await {
        let body = json!({"viewer_id": "v1", "video_id": "sample", "order_id": "o-77", "watch_for_s": 600});
        let (s1, a) = app.grant(body.clone()).await;
        let (s2, b) = app.grant(body.clone()).await;
        assert_eq!((s1, s2), (201, 200));
        assert_eq!(a["id"], b["id"]);
        assert_ne!(
            a["watch_url"], b["watch_url"],
            "each answer carries its own fresh launch link"
        );
        // Another video in the same order is another entitlement.
        let (s3, c) = app
            .grant(json!({"viewer_id": "v1", "video_id": "trailer", "order_id": "o-77"}))
            .await;
        assert_eq!(s3, 201);
        assert_ne!(a["id"], c["id"]);
        // The same order and video for another viewer is a conflict, not a silent swap.
        let r = app
            .admin(
                Method::POST,
                "/v1/entitlements",
                Some(json!({"viewer_id": "v2", "video_id": "sample", "order_id": "o-77"})),
            )
            .await;
        assert_eq!(problem(r, 409).await, "order_conflict");
    }
}

#[tokio::test]
async fn twenty_identical_grants_at_once_make_one_entitlement() {
    for app in both_stores().await {
        let app = std::sync::Arc::new(app);
        let body = json!({"viewer_id": "racer", "video_id": "sample", "order_id": "order-race"});
        let bearer = app.bearer().await;
        let mut tasks = vec![];
        for _ in 0..20 {
            let (app, body, bearer) = (app.clone(), body.clone(), bearer.clone());
            tasks.push(tokio::spawn(async move {
                let r = app
                    .client
                    .post(app.url("/v1/entitlements"))
                    .bearer_auth(bearer)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let s = r.status().as_u16();
                (
                    s,
                    r.json::<Value>().await.unwrap()["id"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                )
            }));
        }
        let mut created = 0;
        let mut ids = std::collections::HashSet::new();
        for t in tasks {
            let (s, id) = t.await.unwrap();
            assert!(s == 201 || s == 200, "status {s}");
            created += usize::from(s == 201);
            ids.insert(id);
        }
        assert_eq!(created, 1, "exactly one 201");
        assert_eq!(ids.len(), 1, "every answer names the same entitlement");
        let r = app
            .admin(Method::GET, "/v1/entitlements?viewer_id=racer", None)
            .await;
        let list: Value = r.json().await.unwrap();
        assert_eq!(
            list["data"].as_array().unwrap().len(),
            1,
            "no duplicate was stored: {list}"
        );
    }
}

#[tokio::test]
async fn entitlements_can_be_read_one_by_one_and_per_viewer() {
    let app = spawn_app().await;
    let (_, a) = app
        .grant(json!({"viewer_id": "alice", "video_id": "sample"}))
        .await;
    let (_, b) = app
        .grant(json!({"viewer_id": "alice", "video_id": "trailer"}))
        .await;
    app.grant(json!({"viewer_id": "bob", "video_id": "sample"}))
        .await;
    let r = app
        .admin(
            Method::GET,
            &format!("/v1/entitlements/{}", a["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let got: Value = r.json().await.unwrap();
    assert_eq!(got["id"], a["id"]);
    assert!(
        got.get("watch_url").is_none(),
        "reads never mint launch links"
    );
    let r = app
        .admin(Method::GET, "/v1/entitlements?viewer_id=alice", None)
        .await;
    let list: Value = r.json().await.unwrap();
    let ids: Vec<_> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].clone())
        .collect();
    assert_eq!(ids, vec![a["id"].clone(), b["id"].clone()]);
    let r = app
        .admin(Method::GET, "/v1/entitlements?viewer_id=nobody", None)
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["data"], json!([]));
    let r = app
        .admin(
            Method::GET,
            &format!("/v1/entitlements/ent_{}", "0".repeat(32)),
            None,
        )
        .await;
    assert_eq!(problem(r, 404).await, "entitlement_not_found");
}

#[tokio::test]
async fn a_revocation_is_visible_through_the_api_and_announced() {
    for app in both_stores().await {
        let store =
            vodgate::store::Store::open(app.config.redis_url(), &app.config.redis_prefix).unwrap();
        let (_, e) = app
            .grant(json!({"viewer_id": "v", "video_id": "sample"}))
            .await;
        let id = e["id"].as_str().unwrap();
        // Listen on the bus as another instance would (the embedded store's bus is in-process,
        // so for it we check the API only).
        let mut events = store.subscribe();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let r = app
            .admin(
                Method::POST,
                &format!("/v1/entitlements/{id}/revoke"),
                Some(json!({"reason": "abuse"})),
            )
            .await;
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["status"], "revoked");
        assert_eq!(body["revocation_reason"], "abuse");
        assert!(body["revoked_at"].is_string());
        let r = app
            .admin(Method::GET, &format!("/v1/entitlements/{id}"), None)
            .await;
        assert_eq!(r.json::<Value>().await.unwrap()["status"], "revoked");
        if matches!(store, vodgate::store::Store::Redis(_)) {
            let ev = tokio::time::timeout(std::time::Duration::from_secs(3), async {
                loop {
                    match events.recv().await.unwrap() {
                        vodgate::store::Event::Entitlement(got) => return got,
                        _ => continue,
                    }
                }
            })
            .await
            .expect("a revocation event on the bus");
            assert_eq!(ev, id);
        }
        // Revoking again changes nothing; a new watch link is refused.
        let r = app
            .admin(Method::POST, &format!("/v1/entitlements/{id}/revoke"), None)
            .await;
        assert_eq!(
            r.json::<Value>().await.unwrap()["revocation_reason"],
            "abuse"
        );
        let r = app
            .admin(Method::POST, &format!("/v1/entitlements/{id}/launch"), None)
            .await;
        assert_eq!(problem(r, 409).await, "entitlement_not_active");
    }
}

#[tokio::test]
async fn a_refund_revokes_every_entitlement_of_the_order() {
    let app = spawn_app().await;
    let (_, a) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample", "order_id": "bundle-9"}))
        .await;
    let (_, b) = app
        .grant(json!({"viewer_id": "v", "video_id": "trailer", "order_id": "bundle-9"}))
        .await;
    let (_, other) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample", "order_id": "bundle-10"}))
        .await;
    let r = app
        .admin(Method::POST, "/v1/orders/bundle-9/refund", None)
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    for e in [&a, &b] {
        let r = app
            .admin(
                Method::GET,
                &format!("/v1/entitlements/{}", e["id"].as_str().unwrap()),
                None,
            )
            .await;
        assert_eq!(r.json::<Value>().await.unwrap()["status"], "refunded");
    }
    let r = app
        .admin(
            Method::GET,
            &format!("/v1/entitlements/{}", other["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "active");
    let r = app
        .admin(Method::POST, "/v1/orders/never-sold/refund", None)
        .await;
    assert_eq!(problem(r, 404).await, "order_not_found");
}

#[tokio::test]
async fn launch_mints_a_fresh_watch_link_for_another_device() {
    let app = spawn_app().await;
    let (_, e) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample"}))
        .await;
    let r = app
        .admin(
            Method::POST,
            &format!("/v1/entitlements/{}/launch", e["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let l: Value = r.json().await.unwrap();
    assert!(l["watch_url"].as_str().unwrap().contains("/w/vg_wl_"));
    assert_ne!(l["watch_url"], e["watch_url"]);
}

#[tokio::test]
async fn a_short_window_expires_by_itself() {
    for app in both_stores().await {
        let (_, e) = app
            .grant(json!({"viewer_id": "v", "video_id": "sample", "watch_for_s": 1}))
            .await;
        let path = format!("/v1/entitlements/{}", e["id"].as_str().unwrap());
        assert_eq!(e["status"], "active");
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        let r = app.admin(Method::GET, &path, None).await;
        let got: Value = r.json().await.unwrap();
        assert_eq!(got["status"], "expired", "{got}");
        let r = app
            .admin(Method::POST, &format!("{path}/launch"), None)
            .await;
        assert_eq!(problem(r, 409).await, "entitlement_not_active");
    }
}
