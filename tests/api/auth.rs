use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn api_key_exchange_gives_an_api_video_shaped_token_pair() {
    let app = spawn_app().await;
    let t = app.tokens().await;
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 3600);
    assert!(t["access_token"].as_str().unwrap().starts_with("vg_at_"));
    assert!(t["refresh_token"].as_str().unwrap().starts_with("vg_rt_"));
    let r = app
        .client
        .get(app.url("/v1/entitlements?viewer_id=v"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn wrong_and_unknown_keys_are_refused_alike() {
    let app = spawn_app().await;
    // The key is `vg_key_<id>_<secret>`: change the secret's last character, or swap
    // the id for one no key has.
    let (head, last) = app.api_key.split_at(app.api_key.len() - 1);
    let wrong_secret = format!("{head}{}", if last == "x" { "y" } else { "x" });
    let secret = &app.api_key["vg_key_".len() + 17..]; // the secret may contain '_'
    let unknown_id = format!(
        "vg_key_{}_{secret}",
        &uuid::Uuid::new_v4().simple().to_string()[..16]
    );
    assert_ne!(wrong_secret, app.api_key);
    assert_ne!(unknown_id, app.api_key);
    for key in [wrong_secret.as_str(), unknown_id.as_str(), "not-a-key", ""] {
        let r = app
            .client
            .post(app.url("/auth/api-key"))
            .json(&json!({"apiKey": key}))
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r, 401).await, "unauthorized");
    }
}

#[tokio::test]
async fn refresh_rotates_and_the_old_refresh_token_stops_working() {
    let app = spawn_app().await;
    let first = app.tokens().await;
    let r = app
        .client
        .post(app.url("/auth/refresh"))
        .json(&json!({"refreshToken": first["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let second: serde_json::Value = r.json().await.unwrap();
    assert_ne!(second["access_token"], first["access_token"]);
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    // The new access token works.
    let r = app
        .client
        .get(app.url("/v1/entitlements?viewer_id=v"))
        .bearer_auth(second["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The new refresh token works once more.
    let r = app
        .client
        .post(app.url("/auth/refresh"))
        .json(&json!({"refreshToken": second["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn reusing_a_refresh_token_revokes_the_whole_family_and_its_access_token() {
    let app = spawn_app().await;
    let first = app.tokens().await;
    let other_family = app.tokens().await;
    let r = app
        .client
        .post(app.url("/auth/refresh"))
        .json(&json!({"refreshToken": first["refresh_token"]}))
        .send()
        .await
        .unwrap();
    let second: serde_json::Value = r.json().await.unwrap();
    // A thief replays the first refresh token.
    let r = app
        .client
        .post(app.url("/auth/refresh"))
        .json(&json!({"refreshToken": first["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 401).await, "invalid_refresh_token");
    // Every token of that family is dead now: the live access token and the newest refresh token.
    for at in [&first["access_token"], &second["access_token"]] {
        let r = app
            .client
            .get(app.url("/v1/entitlements?viewer_id=v"))
            .bearer_auth(at.as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r, 401).await, "unauthorized");
    }
    let r = app
        .client
        .post(app.url("/auth/refresh"))
        .json(&json!({"refreshToken": second["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Another family of the same key is untouched.
    let r = app
        .client
        .get(app.url("/v1/entitlements?viewer_id=v"))
        .bearer_auth(other_family["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn basic_auth_takes_the_key_as_user_with_an_empty_password() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(app.url("/v1/entitlements?viewer_id=v"))
        .basic_auth(&app.api_key, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .get(app.url("/v1/entitlements?viewer_id=v"))
        .basic_auth(&app.api_key, Some("pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 401).await, "unauthorized");
    let r = app
        .client
        .get(app.url("/v1/entitlements?viewer_id=v"))
        .header("Authorization", "Basic !!!")
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 401).await, "unauthorized");
    let r = app
        .client
        .get(app.url("/v1/entitlements?viewer_id=v"))
        .header("Authorization", "Digest x")
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 401).await, "unauthorized");
    let r = app
        .client
        .get(app.url("/v1/entitlements?viewer_id=v"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"vodgate\"");
    assert_eq!(problem(r, 401).await, "unauthorized");
}

#[tokio::test]
async fn scopes_are_enforced_per_route() {
    let app = spawn_app().await;
    let auth = vodgate::auth::AdminAuth::new(
        vodgate::store::Store::open(app.config.redis_url(), &app.config.redis_prefix).unwrap(),
    );
    let reader = auth
        .create_key("reader", vec![vodgate::auth::Scope::EntitlementsRead])
        .await
        .unwrap();
    let key = secrecy::ExposeSecret::expose_secret(&reader.secret).to_owned();
    let r = app
        .client
        .get(app.url("/v1/entitlements?viewer_id=v"))
        .basic_auth(&key, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .post(app.url("/v1/entitlements"))
        .basic_auth(&key, Some(""))
        .json(&json!({"viewer_id": "v", "video_id": "sample"}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 403).await, "insufficient_scope");
    // The same through a bearer minted from that key.
    let r = app
        .client
        .post(app.url("/auth/api-key"))
        .json(&json!({"apiKey": key}))
        .send()
        .await
        .unwrap();
    let t: serde_json::Value = r.json().await.unwrap();
    let r = app
        .client
        .post(app.url("/v1/orders/o/refund"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 403).await, "insufficient_scope");
}

#[tokio::test]
async fn revoking_a_key_kills_the_tokens_minted_from_it() {
    let app = spawn_app().await;
    let auth = vodgate::auth::AdminAuth::new(
        vodgate::store::Store::open(app.config.redis_url(), &app.config.redis_prefix).unwrap(),
    );
    let k = auth
        .create_key("temp", vodgate::auth::Scope::ALL.to_vec())
        .await
        .unwrap();
    let key = secrecy::ExposeSecret::expose_secret(&k.secret).to_owned();
    let r = app
        .client
        .post(app.url("/auth/api-key"))
        .json(&json!({"apiKey": key}))
        .send()
        .await
        .unwrap();
    let t: serde_json::Value = r.json().await.unwrap();
    assert!(auth.revoke_key(&k.key.id).await.unwrap());
    let r = app
        .client
        .get(app.url("/v1/entitlements?viewer_id=v"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .client
        .post(app.url("/auth/refresh"))
        .json(&json!({"refreshToken": t["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn repeated_failures_from_one_client_get_429_with_retry_after() {
    let mut config = test_config(StoreKind::Redis);
    config.auth_failures_per_minute = 3;
    let app = spawn_app_with(config).await;
    for _ in 0..3 {
        let r = app
            .client
            .post(app.url("/auth/api-key"))
            .json(&json!({"apiKey": format!("{}x", &app.api_key[..app.api_key.len() - 1])}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    // Now even the right key is refused until the window passes: that is the point.
    let r = app
        .client
        .post(app.url("/auth/api-key"))
        .json(&json!({"apiKey": app.api_key}))
        .send()
        .await
        .unwrap();
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=61).contains(&retry), "Retry-After {retry}");
    assert_eq!(problem(r, 429).await, "too_many_failed_attempts");
    let r = app
        .admin(Method::GET, "/v1/entitlements?viewer_id=v", None)
        .await;
    assert_eq!(r.status(), 429);
}

#[tokio::test]
async fn behind_a_trusted_proxy_failures_count_per_forwarded_client() {
    let mut config = test_config(StoreKind::Redis);
    config.auth_failures_per_minute = 3;
    config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let app = spawn_app_with(config).await;
    let attempt = |client: &'static str, key: String| {
        app.client
            .post(app.url("/auth/api-key"))
            .header("x-forwarded-for", client)
            .json(&json!({"apiKey": key}))
            .send()
    };
    let wrong = format!("{}x", &app.api_key[..app.api_key.len() - 1]);
    for _ in 0..3 {
        assert_eq!(
            attempt("203.0.113.7", wrong.clone())
                .await
                .unwrap()
                .status(),
            401
        );
    }
    let r = attempt("203.0.113.7", app.api_key.clone()).await.unwrap();
    assert_eq!(problem(r, 429).await, "too_many_failed_attempts");
    // Another client behind the same proxy is not locked out by the first one.
    let r = attempt("198.51.100.9", app.api_key.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    // And the audit trail's client hashes tell the two apart too.
    let e = app
        .client
        .post(app.url("/v1/entitlements"))
        .header("x-forwarded-for", "198.51.100.9")
        .basic_auth(&app.api_key, Some(""))
        .json(&json!({"viewer_id": "v", "video_id": "sample"}))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let id = e["id"].as_str().unwrap();
    let r = app
        .client
        .get(e["watch_url"].as_str().unwrap())
        .header("x-forwarded-for", "192.0.2.44")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let trail: serde_json::Value = app
        .admin(Method::GET, &format!("/v1/audit?entitlement_id={id}"), None)
        .await
        .json()
        .await
        .unwrap();
    let hashes: Vec<_> = trail["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["client_ip_hash"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(hashes.len(), 2, "grant and launch: {trail}");
    assert_ne!(hashes[0], hashes[1], "two clients, two hashes: {trail}");
}

#[tokio::test]
async fn embedded_store_mints_a_key_at_start_when_none_is_given() {
    let mut config = test_config(StoreKind::Memory);
    config.bootstrap_api_key = None;
    let app = vodgate::http::server::Application::build(config)
        .await
        .unwrap();
    let key =
        secrecy::ExposeSecret::expose_secret(app.minted_api_key.as_ref().expect("a minted key"))
            .to_owned();
    let port = app.port();
    tokio::spawn(app.run_until_stopped());
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/auth/api-key"))
        .json(&json!({"apiKey": key}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_client_behind_a_proxy_that_appends_ports_cannot_pick_its_own_address() {
    // The proxy appends `ip:port`; the client sends a fresh left-most entry every time.
    // Failures still count against the address the proxy saw.
    let mut config = test_config(StoreKind::Redis);
    config.auth_failures_per_minute = 3;
    config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let app = spawn_app_with(config).await;
    let wrong = format!("{}x", &app.api_key[..app.api_key.len() - 1]);
    let mut statuses = vec![];
    for n in 0..6 {
        let r = app
            .client
            .post(app.url("/auth/api-key"))
            .header("x-forwarded-for", format!("6.6.6.{n}, 198.51.100.7:4711"))
            .json(&json!({"apiKey": wrong}))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429, 429]);
}

#[tokio::test]
async fn a_burst_of_wrong_keys_gets_the_limits_worth_of_verifications_and_no_more() {
    // Check-then-count let twenty parallel guesses through (each an argon2 run); counted
    // before verifying, the burst gets `limit` tries and 429 for the rest, on either door.
    let mut config = test_config(StoreKind::Redis);
    config.auth_failures_per_minute = 5;
    let app = spawn_app_with(config).await;
    let wrong = format!("{}x", &app.api_key[..app.api_key.len() - 1]);
    let exchange = (0..20).map(|_| {
        app.client
            .post(app.url("/auth/api-key"))
            .json(&json!({"apiKey": wrong}))
            .send()
    });
    let statuses: Vec<u16> = futures_util::future::join_all(exchange)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    let count = |s: u16| statuses.iter().filter(|&&x| x == s).count();
    assert_eq!((count(401), count(429)), (5, 15), "{statuses:?}");
    // The client is now locked out of Basic too, right key or not.
    let r = app
        .client
        .get(app.url("/v1/entitlements?viewer_id=v"))
        .basic_auth(&app.api_key, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 429).await, "too_many_failed_attempts");

    // Another client (another instance's view of another address does not matter here: a
    // fresh app) sending the Basic burst the same way.
    let mut config = test_config(StoreKind::Redis);
    config.auth_failures_per_minute = 5;
    let app = spawn_app_with(config).await;
    let wrong = format!("{}x", &app.api_key[..app.api_key.len() - 1]);
    let basic = (0..20).map(|_| {
        app.client
            .get(app.url("/v1/entitlements?viewer_id=v"))
            .basic_auth(&wrong, Some(""))
            .send()
    });
    let statuses: Vec<u16> = futures_util::future::join_all(basic)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    let count = |s: u16| statuses.iter().filter(|&&x| x == s).count();
    assert_eq!((count(401), count(429)), (5, 15), "{statuses:?}");
}

#[tokio::test]
async fn a_key_that_verifies_is_given_back_and_a_revoked_one_stops_at_once_everywhere() {
    // Counted before verifying, a right key must not use up the client's allowance; and the
    // verified key remembered for Basic must not outlive its revocation on any instance.
    let mut config = test_config(StoreKind::Redis);
    config.auth_failures_per_minute = 3;
    let a = spawn_app_with(config.clone()).await;
    let b = spawn_app_with(config).await; // same Redis, same prefix: another instance
    let auth = vodgate::auth::AdminAuth::new(
        vodgate::store::Store::open(a.config.redis_url(), &a.config.redis_prefix).unwrap(),
    );
    let k = auth
        .create_key("shop", vodgate::auth::Scope::ALL.to_vec())
        .await
        .unwrap();
    let key = secrecy::ExposeSecret::expose_secret(&k.secret).to_owned();
    let list = |app: &TestApp| {
        app.client
            .get(app.url("/v1/entitlements?viewer_id=v"))
            .basic_auth(&key, Some(""))
            .send()
    };
    for _ in 0..10 {
        assert_eq!(list(&a).await.unwrap().status(), 200);
        assert_eq!(list(&b).await.unwrap().status(), 200);
    }
    assert!(auth.revoke_key(&k.key.id).await.unwrap());
    assert_eq!(problem(list(&a).await.unwrap(), 401).await, "unauthorized");
    assert_eq!(problem(list(&b).await.unwrap(), 401).await, "unauthorized");
}
