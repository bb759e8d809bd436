//! The local origin behind a real nginx (`VODGATE_ACCEL_REDIRECT_PREFIX`): vodgate decides
//! every playlist, key and segment request; for keys and segments it answers with
//! `X-Accel-Redirect` and nginx sends the file from an `internal` location.

use crate::helpers::*;
use reqwest::Method;
use std::path::Path;

/// One nginx proxying to vodgate, with the media folder behind an `internal` location, as
/// docs/behind-nginx.md shows.
fn spawn_nginx_in_front(vodgate_port: u16, media: &Path) -> Nginx {
    let m = media.canonicalize().unwrap();
    let m = m.display();
    spawn_nginx(&format!(
        "location /_media/ {{ internal; alias {m}/; }}\n\
         location / {{ proxy_pass http://127.0.0.1:{vodgate_port}; proxy_http_version 1.1; \
         proxy_set_header Connection \"\"; }}\n"
    ))
}

#[tokio::test]
async fn behind_nginx_vodgate_checks_every_request_and_nginx_sends_the_bytes() {
    let mut config = test_config(StoreKind::Redis);
    config.origin = vodgate::config::OriginConfig::Local {
        media_dir: "media".into(),
        accel_redirect: Some("/_media/".into()),
    };
    let app = spawn_app_with(config).await;
    let nginx = spawn_nginx_in_front(app.port, Path::new("media"));
    let (viewer, master) = app.start_watching("sample").await;
    let dir = play_dir(&master);
    let cookie = viewer.cookie.clone().unwrap();
    let seg = format!("{dir}/360p/seg0.ts");
    let file = std::fs::read("media/sample/360p/seg0.ts").unwrap();

    // vodgate itself answers a checked segment with the file nginx should send.
    let r = app.get_as(&viewer, &seg).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["x-accel-redirect"],
        "/_media/sample/360p/seg0.ts"
    );
    assert!(r.bytes().await.unwrap().is_empty());

    // Through nginx: the bytes, with Range, and vodgate's headers kept.
    let via = |path: &str| format!("http://127.0.0.1:{}{path}", nginx.port);
    let c = reqwest::Client::new();
    let r = c
        .get(via(&seg))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "video/mp2t");
    assert!(r.headers().get("x-accel-redirect").is_none());
    assert_eq!(r.headers()["cache-control"], "private, max-age=300");
    assert_eq!(r.bytes().await.unwrap().as_ref(), file.as_slice());
    let r = c
        .get(via(&seg))
        .header("cookie", &cookie)
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 100-199/{}", file.len())
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), &file[100..200]);
    let r = c
        .get(via(&format!("{dir}/enc.key")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.bytes().await.unwrap().len(), 16);
    // Playlists are still vodgate's own (rewritten) answers.
    let text = c
        .get(via(&master))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.starts_with("#EXTM3U") && text.contains("/play/"),
        "{text}"
    );

    // The internal location cannot be asked for directly, and no cookie means no bytes.
    let r = c
        .get(via("/_media/sample/360p/seg0.ts"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = c.get(via(&seg)).send().await.unwrap();
    assert_eq!(r.status(), 403);

    // A revocation stops the very next segment through nginx.
    let id = &viewer.entitlement_id;
    let r = app
        .admin(Method::POST, &format!("/v1/entitlements/{id}/revoke"), None)
        .await;
    assert_eq!(r.status(), 200);
    let r = c
        .get(via(&seg))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "revoked");
}
