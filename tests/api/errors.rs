//! Bad input of every kind gets a clear 4xx in the one problem+json shape; never a 500.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn malformed_unknown_oversized_and_mistyped_bodies_are_4xx() {
    let app = spawn_app().await;
    let post = |body: &'static str, ct: &'static str| {
        app.client
            .post(app.url("/v1/entitlements"))
            .basic_auth(&app.api_key, Some(""))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    assert_eq!(
        problem(post("{", "application/json").await.unwrap(), 400).await,
        "invalid_body"
    );
    assert_eq!(
        problem(post("[]", "application/json").await.unwrap(), 400).await,
        "invalid_body"
    );
    assert_eq!(
        problem(
            post(r#"{"viewer_id":"v"}"#, "application/json")
                .await
                .unwrap(),
            400
        )
        .await,
        "invalid_body"
    );
    assert_eq!(
        problem(
            post(
                r#"{"viewer_id":"v","video_id":"x","extra":1}"#,
                "application/json"
            )
            .await
            .unwrap(),
            400
        )
        .await,
        "invalid_body"
    );
    assert_eq!(
        problem(
            post(r#"{"viewer_id":"v","video_id":"x"}"#, "text/plain")
                .await
                .unwrap(),
            415
        )
        .await,
        "unsupported_media_type"
    );
    let huge = format!(
        r#"{{"viewer_id":"v","video_id":"x","order_id":"{}"}}"#,
        "a".repeat(40_000)
    );
    let r = app
        .client
        .post(app.url("/v1/entitlements"))
        .basic_auth(&app.api_key, Some(""))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 413).await, "body_too_large");
}

#[tokio::test]
async fn ids_and_windows_are_validated_at_the_boundary() {
    let app = spawn_app().await;
    for body in [
        json!({"viewer_id": "", "video_id": "x"}),
        json!({"viewer_id": "a{b}", "video_id": "x"}),
        json!({"viewer_id": "v", "video_id": "../etc"}),
        json!({"viewer_id": "v", "video_id": "x".repeat(200)}),
        json!({"viewer_id": "v", "video_id": "x", "order_id": "with space"}),
        json!({"viewer_id": 7, "video_id": "x"}),
        json!({"viewer_id": "v", "video_id": "x", "watch_for_s": -1}),
        json!({"viewer_id": "v", "video_id": "x", "watch_for_s": "long"}),
    ] {
        let r = app
            .admin(Method::POST, "/v1/entitlements", Some(body.clone()))
            .await;
        assert_eq!(problem(r, 400).await, "invalid_body", "{body}");
    }
    for w in [0u64, 400 * 24 * 3600] {
        let r = app
            .admin(
                Method::POST,
                "/v1/entitlements",
                Some(json!({"viewer_id": "v", "video_id": "x", "watch_for_s": w})),
            )
            .await;
        assert_eq!(problem(r, 400).await, "invalid_watch_for");
    }
    // The local origin has no api.video player to embed.
    let r = app
        .admin(
            Method::POST,
            "/v1/entitlements",
            Some(json!({"viewer_id": "v", "video_id": "x", "playback_mode": "embed"})),
        )
        .await;
    assert_eq!(problem(r, 422).await, "playback_mode_unavailable");
    for path in [
        "/v1/entitlements/nope",
        "/v1/entitlements/ent_ZZZZ",
        "/v1/entitlements/ent_%7Bx%7D",
    ] {
        let r = app.admin(Method::GET, path, None).await;
        assert_eq!(problem(r, 400).await, "invalid_entitlement_id", "{path}");
    }
    let r = app
        .admin(Method::POST, "/v1/entitlements/nope/revoke", None)
        .await;
    assert_eq!(problem(r, 400).await, "invalid_entitlement_id");
    let r = app
        .admin(Method::POST, "/v1/orders/a%20b/refund", None)
        .await;
    assert_eq!(problem(r, 400).await, "invalid_order_id");
    let r = app.admin(Method::GET, "/v1/entitlements", None).await;
    assert_eq!(problem(r, 400).await, "invalid_query");
    let r = app
        .admin(Method::GET, "/v1/entitlements?viewer_id=a{b}", None)
        .await;
    assert_eq!(problem(r, 400).await, "invalid_query");
    let id = app
        .grant(json!({"viewer_id": "v", "video_id": "x"}))
        .await
        .1["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .admin(
            Method::POST,
            &format!("/v1/entitlements/{id}/revoke"),
            Some(json!({"reason": 5})),
        )
        .await;
    assert_eq!(problem(r, 400).await, "invalid_body");
    let r = app
        .admin(
            Method::POST,
            &format!("/v1/entitlements/{id}/revoke"),
            Some(json!({"reason": "x".repeat(600)})),
        )
        .await;
    assert_eq!(problem(r, 400).await, "invalid_body");
}

#[tokio::test]
async fn auth_endpoints_validate_their_bodies_too() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.url("/auth/api-key"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 400).await, "invalid_body");
    let r = app
        .client
        .post(app.url("/auth/refresh"))
        .json(&json!({"refresh_token": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        problem(r, 400).await,
        "invalid_body",
        "the body is camelCase, as api.video's"
    );
    let r = app
        .client
        .post(app.url("/auth/refresh"))
        .json(&json!({"refreshToken": "vg_rt_unknown"}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 401).await, "invalid_refresh_token");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_same_shape() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(app.url("/v2/whatever"))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 404).await, "not_found");
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["checks"]["store"]["status"], "ok");
    assert_eq!(body["checks"]["store"]["kind"], "redis");

    // A store that is not there: not ready, and admin calls get 503 store_unavailable.
    let mut config = test_config(StoreKind::Redis);
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    config.redis_url = Some(secrecy::SecretString::from(format!(
        "redis://127.0.0.1:{dead_port}/"
    )));
    config.bootstrap_api_key = None;
    let app = spawn_app_with(config).await;
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let r = app
        .client
        .post(app.url("/auth/api-key"))
        .json(&json!({"apiKey": TEST_API_KEY.as_str()}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 503).await, "store_unavailable");
}

#[tokio::test]
async fn the_demo_storefront_exists_only_in_demo_mode_and_refuses_cross_site_forms() {
    // Demo mode off (the default with Redis or a public address; config.rs tests that
    // choice): no storefront, no demo forms.
    let mut config = test_config(StoreKind::Redis);
    config.demo = false;
    let app = spawn_app_with(config).await;
    let r = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(problem(r, 404).await, "not_found");
    let r = app
        .client
        .post(app.url("/demo/rent"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("video_id=sample")
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 404).await, "not_found");

    // Demo mode: the page says it is a demo; its forms refuse other sites' pages.
    let mut config = test_config(StoreKind::Memory);
    config.demo = true;
    let demo = spawn_app_with(config).await;
    let r = demo.client.get(demo.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("demo-banner"), "{page}");
    for (name, value) in [
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://evil.example"),
    ] {
        let r = demo
            .client
            .post(demo.url("/demo/rent"))
            .header(name, value)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("video_id=sample")
            .send()
            .await
            .unwrap();
        assert_eq!(
            problem(r, 403).await,
            "cross_site_request",
            "{name}: {value}"
        );
    }
    // From its own page it rents and sends the viewer to the watch link.
    let r = demo
        .client
        .post(demo.url("/demo/rent"))
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("video_id=sample")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/w/vg_wl_"),
        "{:?}",
        r.headers()["location"]
    );
}

#[tokio::test]
async fn a_json_array_is_not_a_body() {
    // serde would read the fields by position: this array was once a grant, `["x"]` a revoke.
    let app = spawn_app().await;
    let send = |method: reqwest::Method, path: String, body: &'static str| {
        app.client
            .request(method, app.url(&path))
            .basic_auth(&app.api_key, Some(""))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let r = send(
        Method::POST,
        "/v1/entitlements".into(),
        r#"["viewer","sample","order-1",3600]"#,
    )
    .await
    .unwrap();
    assert_eq!(problem(r, 400).await, "invalid_body");
    let (_, e) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample", "order_id": "ord-array"}))
        .await;
    let id = e["id"].as_str().unwrap();
    for path in [
        format!("/v1/entitlements/{id}/revoke"),
        "/v1/orders/ord-array/refund".to_owned(),
    ] {
        let r = send(Method::POST, path.clone(), r#"["x"]"#).await.unwrap();
        assert_eq!(problem(r, 400).await, "invalid_body", "{path}");
    }
    let r = app
        .client
        .post(app.url("/auth/api-key"))
        .header("content-type", "application/json")
        .body(format!(r#"["{}"]"#, app.api_key))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 400).await, "invalid_body");
    let still: serde_json::Value = app
        .admin(Method::GET, &format!("/v1/entitlements/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(still["status"], "active", "nothing was revoked: {still}");
}

#[tokio::test]
async fn another_sites_form_cannot_revoke_or_refund_with_a_browsers_credentials() {
    // A 401 does not invite the browser to prompt for (and then keep) Basic credentials.
    let app = spawn_app().await;
    let r = app
        .client
        .get(app.url("/v1/entitlements?viewer_id=v"))
        .send()
        .await
        .unwrap();
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert_eq!(challenge, "Bearer realm=\"vodgate\"");
    // And even with credentials attached (as a browser that kept them would), the content
    // types a cross-site form or a simple fetch can send are refused before anything changes.
    let (_, e) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample", "order_id": "ord-csrf"}))
        .await;
    let id = e["id"].as_str().unwrap();
    for ct in [
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/plain",
    ] {
        for path in [
            format!("/v1/entitlements/{id}/revoke"),
            "/v1/orders/ord-csrf/refund".to_owned(),
            format!("/v1/entitlements/{id}/launch"),
        ] {
            let r = app
                .client
                .post(app.url(&path))
                .basic_auth(&app.api_key, Some(""))
                .header("content-type", ct)
                .body("")
                .send()
                .await
                .unwrap();
            assert_eq!(
                problem(r, 415).await,
                "unsupported_media_type",
                "{ct} {path}"
            );
        }
    }
    let still: serde_json::Value = app
        .admin(Method::GET, &format!("/v1/entitlements/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(still["status"], "active", "{still}");
    // JSON, or no body and no Content-Type (curl -X POST), still work.
    let r = app
        .client
        .post(app.url(&format!("/v1/entitlements/{id}/revoke")))
        .basic_auth(&app.api_key, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn the_age_form_with_the_wrong_content_type_is_a_problem_not_plain_text() {
    let app = spawn_app().await;
    let id = format!("ent_{}", "0".repeat(32));
    let r = app
        .client
        .post(app.url(&format!("/watch/{id}/age")))
        .header("content-type", "application/json")
        .body(r#"{"csrf":"x","confirm":"yes"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 415).await, "unsupported_media_type");
    let r = app
        .client
        .post(app.url(&format!("/watch/{id}/age")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("csrf=x")
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 400).await, "invalid_body");
}
