//! The `vodgate` binary itself: key management against Redis, and config errors at start.

use crate::helpers::*;
use std::process::Command;

fn vodgate(env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vodgate"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("RUST_LOG", "error");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[tokio::test]
async fn api_key_create_list_revoke_against_redis() {
    let url = redis_url();
    let prefix = random_prefix();
    let env = [
        ("REDIS_URL", url.as_str()),
        ("VODGATE_REDIS_PREFIX", prefix.as_str()),
    ];
    let out = vodgate(
        &env,
        &[
            "api-key",
            "create",
            "--name",
            "shop backend",
            "--scopes",
            "entitlements:read",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let key = stdout.lines().last().unwrap().to_owned();
    assert!(
        key.starts_with("vg_key_"),
        "the key alone on the last line: {stdout}"
    );

    // The key works against a server on the same Redis, with its scope.
    let mut config = test_config(StoreKind::Redis);
    config.redis_prefix = prefix.clone();
    config.bootstrap_api_key = None;
    let app = spawn_app_with(config).await;
    let r = app
        .client
        .get(app.url("/v1/entitlements?viewer_id=v"))
        .basic_auth(&key, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let out = vodgate(&env, &["api-key", "list"]);
    let listing = String::from_utf8(out.stdout).unwrap();
    assert!(
        listing.contains("shop backend") && listing.contains("entitlements:read"),
        "{listing}"
    );
    assert!(!listing.contains(&key[20..]), "list never shows secrets");
    let id = listing.split('\t').next().unwrap().to_owned();

    // Only the argon2id hash is stored.
    let mut c = raw_redis().await;
    let rec: String = redis::cmd("GET")
        .arg(format!("{prefix}key:{{k:{id}}}"))
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(
        rec.contains("$argon2id$") && !rec.contains(&key[24..]),
        "{rec}"
    );

    let out = vodgate(&env, &["api-key", "revoke", &id]);
    assert!(out.status.success());
    let r = app
        .client
        .get(app.url("/v1/entitlements?viewer_id=v"))
        .basic_auth(&key, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let out = vodgate(&env, &["api-key", "revoke", &id]);
    assert!(!out.status.success(), "revoking an unknown key is an error");
}

#[test]
fn api_key_commands_explain_that_they_need_redis() {
    let out = vodgate(&[], &["api-key", "list"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("REDIS_URL"));
    let out = vodgate(
        &[],
        &[
            "api-key",
            "create",
            "--name",
            "x",
            "--scopes",
            "videos:delete",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown scope"));
}

#[test]
fn a_bad_setting_stops_the_start_with_a_sentence_naming_it() {
    let out = vodgate(&[("VODGATE_LISTEN", "not-an-address")], &["serve"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("VODGATE_LISTEN") && err.contains("must be"),
        "{err}"
    );
    let out = vodgate(&[("VODGATE_CONFIG", "/nonexistent/vodgate.toml")], &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/vodgate.toml"));
}

#[tokio::test]
async fn grant_and_revoke_from_the_command_line() {
    let url = redis_url();
    let prefix = random_prefix();
    let env = [
        ("REDIS_URL", url.as_str()),
        ("VODGATE_REDIS_PREFIX", prefix.as_str()),
    ];
    let out = vodgate(
        &env,
        &[
            "grant",
            "--viewer",
            "cli-viewer",
            "--video",
            "sample",
            "--order",
            "cli-1",
            "--watch-for",
            "600",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["status"], "active");
    assert_eq!(e["watch_for_s"], 600);
    assert!(e["watch_url"].as_str().unwrap().contains("/w/vg_wl_"));
    let id = e["id"].as_str().unwrap();
    let out = vodgate(&env, &["revoke", id, "--reason", "support ticket 9"]);
    assert!(out.status.success());
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (r["status"].as_str(), r["revocation_reason"].as_str()),
        (Some("revoked"), Some("support ticket 9"))
    );
    let out = vodgate(&env, &["revoke", "--order", "cli-1"]);
    assert!(
        out.status.success(),
        "refunding an order of revoked entitlements still answers"
    );
    let out = vodgate(&env, &["revoke", "--order", "never"]);
    assert!(!out.status.success());
    let out = vodgate(&env, &["grant", "--viewer", "a{b}", "--video", "sample"]);
    assert!(!out.status.success());

    // The command line leaves the same evidence as the API: the grant and the one revocation
    // that happened (the refund of an already revoked order changed nothing, so says nothing).
    let mut config = test_config(StoreKind::Redis);
    config.redis_prefix = prefix.clone();
    let app = spawn_app_with(config).await;
    let trail: serde_json::Value = app
        .admin(
            reqwest::Method::GET,
            &format!("/v1/audit?entitlement_id={id}"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let events = trail["data"].as_array().unwrap();
    let kinds: Vec<_> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["grant", "revoke"], "{trail}");
    assert_eq!(events[1]["reason"], "support ticket 9");
    assert!(
        events[0]["user_agent"]
            .as_str()
            .unwrap()
            .starts_with("vodgate-cli/")
    );
}

#[test]
fn check_config_prints_settings_with_secrets_masked_and_fails_on_a_bad_one() {
    let bootstrap = mint_api_key();
    let out = vodgate(
        &[
            ("REDIS_URL", "redis://:hunter2-password@127.0.0.1:6379/0"),
            ("VODGATE_BOOTSTRAP_API_KEY", bootstrap.as_str()),
            ("VODGATE_WEBHOOK_SECRET", "whsec_do_not_print_0123"),
        ],
        &["check-config"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("listen") && text.contains("127.0.0.1:8080") && text.contains("redis_prefix"),
        "{text}"
    );
    for secret in ["hunter2-password", &bootstrap[24..], "whsec_do_not_print"] {
        assert!(!text.contains(secret), "{secret} printed:\n{text}");
    }
    assert!(text.contains("masked"));
    let out = vodgate(&[("VODGATE_DEFAULT_MAX_STREAMS", "0")], &["check-config"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("default_max_streams"));
}

/// The command line and the API take a grant through the same rules: a bad one is refused
/// by both, with the same sentence (the CLI used to clamp max_streams and pass any
/// start window through).
#[tokio::test]
async fn the_command_line_and_the_api_refuse_the_same_bad_grant_with_the_same_sentence() {
    let url = redis_url();
    let prefix = random_prefix();
    let env = [
        ("REDIS_URL", url.as_str()),
        ("VODGATE_REDIS_PREFIX", prefix.as_str()),
    ];
    let mut config = test_config(StoreKind::Redis);
    config.redis_prefix = prefix.clone();
    let app = spawn_app_with(config).await;
    let cases: [(&[&str], serde_json::Value); 3] = [
        (
            &["--max-streams", "0"],
            serde_json::json!({"max_streams": 0}),
        ),
        (
            &["--max-streams", "101"],
            serde_json::json!({"max_streams": 101}),
        ),
        (
            &["--start-within", "0"],
            serde_json::json!({"start_within_s": 0}),
        ),
    ];
    for (flags, extra) in cases {
        let mut args = vec!["grant", "--viewer", "v-same", "--video", "sample"];
        args.extend_from_slice(flags);
        let out = vodgate(&env, &args);
        assert!(!out.status.success(), "{flags:?} was granted by the CLI");
        let stderr = String::from_utf8_lossy(&out.stderr);

        let mut body = serde_json::json!({"viewer_id": "v-same", "video_id": "sample"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (status, problem) = app.grant(body).await;
        assert_eq!(status, 400, "{problem}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            stderr.contains(detail),
            "the CLI said {stderr:?}, the API {detail:?}"
        );
    }
    // Nothing was granted by either.
    let r = app
        .admin(
            reqwest::Method::GET,
            "/v1/entitlements?viewer_id=v-same",
            None,
        )
        .await;
    let list: serde_json::Value = r.json().await.unwrap();
    assert_eq!(list["data"], serde_json::json!([]));
}
