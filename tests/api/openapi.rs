//! The OpenAPI document a running vodgate serves is the committed `openapi.json`, and the docs
//! page is served from the binary.

use crate::helpers::{StoreKind, spawn_app_with, test_config};
use serde_json::Value;

#[tokio::test]
async fn get_openapi_json_serves_the_committed_snapshot() {
    let app = spawn_app_with(test_config(StoreKind::Memory)).await;
    let r = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let served = r.text().await.unwrap();
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json")).unwrap();
    assert!(
        served == committed,
        "GET /openapi.json differs from the committed openapi.json; regenerate it with \
         `VODGATE_UPDATE_OPENAPI=1 cargo test --lib openapi` and review the diff"
    );
    let doc: Value = serde_json::from_str(&served).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/v1/entitlements"]["post"].is_object());
}

#[tokio::test]
async fn the_docs_page_loads_nothing_from_elsewhere() {
    let app = spawn_app_with(test_config(StoreKind::Memory)).await;
    let r = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["location"], "/docs/");
    let r = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("http"),
        "{csp}"
    );
    let html = r.text().await.unwrap();
    assert!(
        !html.contains("//"),
        "the docs page names another host:\n{html}"
    );
    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "swagger-initializer.js",
    ] {
        let r = app
            .client
            .get(app.url(&format!("/docs/{asset}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{asset}");
        let body = r.text().await.unwrap();
        assert!(!body.is_empty(), "{asset}");
        if asset == "swagger-initializer.js" {
            assert!(body.contains("\"/openapi.json\""), "{body}");
        }
    }
}
