//! The CDN token formats that are not nginx's, each checked by a CDN stand-in built on an
//! independent implementation (`tests/cdn/`): Eyevinn's `@eyevinn/cat` validator for `cat`,
//! Akamai's `akamai-edgeauth` for `akamai`, `cryptography` + botocore's `CloudFrontSigner`
//! for `cloudfront`. Each stand-in serves the media folder only when the token checks out.
//! They are installed by `scripts/cdn-standins.sh` (run by `scripts/test`).

use crate::cdn::{cdn_config, ffmpeg_reads, uri_lines};
use crate::helpers::*;
use serde_json::json;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vodgate::cdn::{TokenKind, TokenPlace};
use vodgate::config::Delivery;

const HMAC_KEY: &str = "403697de87af64611c1d32a05dab0fe1fcb715a86ab435f1ec99192d79569388";

fn standins() -> PathBuf {
    let dir = std::env::var_os("VODGATE_CDN_STANDINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/cdn-standins"));
    assert!(
        dir.join("venv/bin/python").exists() && dir.join("node/node_modules/@eyevinn/cat").exists(),
        "the CDN stand-ins are not installed in {}: run scripts/cdn-standins.sh (scripts/test does)",
        dir.display()
    );
    dir.canonicalize().unwrap()
}

struct Standin {
    child: Child,
    port: u16,
    log: PathBuf,
    dir: PathBuf,
}

impl Drop for Standin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Standin {
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}/media/{{video_id}}/{{path}}", self.port)
    }

    fn log(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// Start a stand-in: `akamai`/`cloudfront` (Python) or `cat` (node), on a free port.
fn spawn_standin(format: &str, extra: &[&str]) -> Standin {
    let tools = standins();
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("vodgate-standin-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("access.log");
    let media = std::path::Path::new("media").canonicalize().unwrap();
    let here = std::path::Path::new("tests/cdn").canonicalize().unwrap();
    let mut cmd = if format == "cat" {
        let mut c = Command::new("node");
        c.arg(here.join("cat-standin.cjs"))
            .arg(port.to_string())
            .arg(&media)
            .args(extra)
            .arg(&log)
            .env("NODE_PATH", tools.join("node/node_modules"));
        c
    } else {
        let mut c = Command::new(tools.join("venv/bin/python"));
        c.arg(here.join("standin.py"))
            .arg(format)
            .arg(port.to_string())
            .arg(&media)
            .arg(&log)
            .args(extra);
        c
    };
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the CDN stand-in");
    let s = Standin {
        child,
        port,
        log,
        dir,
    };
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the {format} stand-in did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    s
}

/// An RSA key pair for CloudFront, made with `cryptography` (PKCS#8 PEM).
fn cloudfront_key(dir: &std::path::Path) -> PathBuf {
    let pem = dir.join("cloudfront.pem");
    let ok = Command::new(standins().join("venv/bin/python"))
        .arg("-c")
        .arg(
            "import sys\nfrom cryptography.hazmat.primitives.asymmetric import rsa\n\
             from cryptography.hazmat.primitives import serialization as s\n\
             k = rsa.generate_private_key(public_exponent=65537, key_size=2048)\n\
             open(sys.argv[1], 'wb').write(k.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()))",
        )
        .arg(&pem)
        .status()
        .unwrap();
    assert!(ok.success());
    pem
}

/// Replace one character in the middle of the token value `v` inside `uri`.
fn tamper(uri: &str, v: &str) -> String {
    let mid = v.len() / 2;
    let c = v.as_bytes()[mid];
    let repl = if c == b'A' { 'B' } else { 'A' };
    let tampered = format!("{}{repl}{}", &v[..mid], &v[mid + 1..]);
    uri.replace(v, &tampered)
}

/// Query tokens: every segment URI carries one; the stand-in serves it, refuses it
/// tampered, without it, or on another video; ffmpeg reads the whole film.
async fn query_tokens_play_and_hold(
    standin: &Standin,
    kind: TokenKind,
    key: &str,
    key_id: Option<&str>,
    token_param: &str,
) {
    let app = spawn_app_with(cdn_config(
        Delivery::Cdn,
        &standin.base(),
        kind,
        Some(key),
        key_id,
        TokenPlace::Query,
    ))
    .await;
    let (viewer, master) = app.start_watching("sample").await;
    let dir = play_dir(&master);
    let media = app
        .get_as(&viewer, &format!("{dir}/360p/index.m3u8"))
        .await
        .text()
        .await
        .unwrap();
    let segs = uri_lines(&media);
    let cdn = format!(
        "http://127.0.0.1:{}/media/sample/360p/seg0.ts?{token_param}=",
        standin.port
    );
    assert!(segs[0].starts_with(&cdn), "{}", segs[0]);
    let c = reqwest::Client::new();
    let get = |u: String| {
        let c = c.clone();
        async move { c.get(u).send().await.unwrap() }
    };
    let r = get(segs[0].clone()).await;
    assert_eq!(r.status(), 200, "{:?}", standin.log());
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        std::fs::read("media/sample/360p/seg0.ts")
            .unwrap()
            .as_slice()
    );
    let value = segs[0]
        .split(&format!("{token_param}="))
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let refused = |s: reqwest::StatusCode| s == 401 || s == 403;
    assert!(
        refused(get(tamper(&segs[0], &value)).await.status()),
        "tampered"
    );
    assert!(
        refused(
            get(segs[0].split('?').next().unwrap().to_owned())
                .await
                .status()
        ),
        "no token"
    );
    let other = segs[0].replace("/media/sample/360p/", "/media/trailer/360p/");
    assert!(
        refused(get(other).await.status()),
        "another video's file with this token"
    );

    let before = standin.log().len();
    let duration = ffmpeg_reads(&app.url(&master), viewer.cookie.as_deref().unwrap()).await;
    assert!(
        (duration - 16.0).abs() <= 4.0,
        "duration {duration} s vs 16 s"
    );
    let log = standin.log()[before..].to_vec();
    assert!(
        log.len() >= 4 && log.iter().all(|l| l.starts_with("20")),
        "{log:?}"
    );
}

/// `name=value` of every cookie a response sets.
fn set_cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect()
}

/// Cookie tokens: the media playlist sets them (segment URIs carry none), the stand-in
/// serves segments with them and refuses without; the status poll renews them while the
/// rental is live and not after a revoke; a token bounded by a 3 s rental expires.
async fn cookie_tokens_renew_until_revoked(
    standin: &Standin,
    kind: TokenKind,
    key: &str,
    key_id: Option<&str>,
    names: &[&str],
) {
    let app = spawn_app_with(cdn_config(
        Delivery::Cdn,
        &standin.base(),
        kind,
        Some(key),
        key_id,
        TokenPlace::Cookie,
    ))
    .await;
    let (viewer, master) = app.start_watching("sample").await;
    let dir = play_dir(&master);
    let r = app.get_as(&viewer, &format!("{dir}/360p/index.m3u8")).await;
    let r_headers: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .collect();
    let jar = set_cookies(&r);
    let got: Vec<&str> = jar.iter().map(|c| c.split('=').next().unwrap()).collect();
    assert_eq!(got, names, "{r_headers:?}");
    assert!(
        r_headers
            .iter()
            .all(|h| h.contains("Path=/media/sample/") && h.contains("HttpOnly"))
    );
    let media = r.text().await.unwrap();
    let seg = uri_lines(&media)[0].clone();
    assert!(!seg.contains('?'), "no token in the URI: {seg}");
    let c = reqwest::Client::new();
    let get = |cookie: Option<String>| {
        let (c, seg) = (c.clone(), seg.clone());
        async move {
            let mut r = c.get(seg);
            if let Some(k) = cookie {
                r = r.header("cookie", k);
            }
            r.send().await.unwrap().status().as_u16()
        }
    };
    assert_eq!(get(Some(jar.join("; "))).await, 200, "{:?}", standin.log());
    assert!(matches!(get(None).await, 401 | 403));

    // The status poll renews the cookie while the rental is live...
    let status = format!("{dir}/status");
    let r = app.get_as(&viewer, &status).await;
    assert_eq!(r.status(), 200);
    let renewed = set_cookies(&r);
    assert_eq!(renewed.len(), names.len());
    assert_eq!(get(Some(renewed.join("; "))).await, 200);
    // ...and not once it is revoked.
    let r = app
        .admin(
            reqwest::Method::POST,
            &format!("/v1/entitlements/{}/revoke", viewer.entitlement_id),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = app.get_as(&viewer, &status).await;
    assert!(set_cookies(&r).is_empty(), "no renewal after a revoke");

    // A 3 s rental: its cookie token ends with it, and the stand-in refuses it after.
    let (_, e) = app
        .grant(json!({"viewer_id": "short", "video_id": "sample", "watch_for_s": 3}))
        .await;
    let (_, short) = app.launch(e["watch_url"].as_str().unwrap()).await;
    let html = app
        .get_as(&short, &format!("/watch/{}", short.entitlement_id))
        .await
        .text()
        .await
        .unwrap();
    let r = app
        .get_as(
            &short,
            &format!("{}/360p/index.m3u8", play_dir(&master_of(&html))),
        )
        .await;
    let jar = set_cookies(&r).join("; ");
    assert_eq!(get(Some(jar.clone())).await, 200);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        matches!(get(Some(jar)).await, 401 | 403),
        "expired with the rental"
    );
}

#[tokio::test]
async fn cat_tokens_pass_eyevinns_validator_in_the_query_and_in_a_cookie() {
    // The issuer is vodgate's public URL as the test config has it.
    let issuer = test_config(StoreKind::Memory)
        .public_url
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let s = spawn_standin("cat", &[HMAC_KEY, "vodgate-1", &issuer]);
    query_tokens_play_and_hold(&s, TokenKind::Cat, HMAC_KEY, Some("vodgate-1"), "cat").await;
    cookie_tokens_renew_until_revoked(
        &s,
        TokenKind::Cat,
        HMAC_KEY,
        Some("vodgate-1"),
        &["cta-common-access-token"],
    )
    .await;
    // Another key (same kid) is refused by the validator.
    let other = "11".repeat(32);
    let app = spawn_app_with(cdn_config(
        Delivery::Cdn,
        &s.base(),
        TokenKind::Cat,
        Some(&other),
        Some("vodgate-1"),
        TokenPlace::Query,
    ))
    .await;
    let (viewer, master) = app.start_watching("sample").await;
    let media = app
        .get_as(&viewer, &format!("{}/360p/index.m3u8", play_dir(&master)))
        .await
        .text()
        .await
        .unwrap();
    let r = reqwest::get(&uri_lines(&media)[0]).await.unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn akamai_tokens_are_what_akamais_edgeauth_makes() {
    let s = spawn_standin("akamai", &[HMAC_KEY]);
    query_tokens_play_and_hold(&s, TokenKind::Akamai, HMAC_KEY, None, "hdnts").await;
    cookie_tokens_renew_until_revoked(&s, TokenKind::Akamai, HMAC_KEY, None, &["hdnts"]).await;
}

#[tokio::test]
async fn cloudfront_signatures_verify_and_match_botocores_signer() {
    let keys = std::env::temp_dir().join(format!("vodgate-cf-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&keys).unwrap();
    let pem = cloudfront_key(&keys);
    let pem = pem.to_str().unwrap();
    let s = spawn_standin("cloudfront", &[pem, "K2JCJMDEHXQW5F"]);
    query_tokens_play_and_hold(
        &s,
        TokenKind::CloudFront,
        pem,
        Some("K2JCJMDEHXQW5F"),
        "Policy",
    )
    .await;
    cookie_tokens_renew_until_revoked(
        &s,
        TokenKind::CloudFront,
        pem,
        Some("K2JCJMDEHXQW5F"),
        &[
            "CloudFront-Policy",
            "CloudFront-Signature",
            "CloudFront-Key-Pair-Id",
        ],
    )
    .await;
    let _ = std::fs::remove_dir_all(keys);
}
