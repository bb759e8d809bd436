//! Real browsers: headless Chromium (through chromedriver, spoken to in plain W3C WebDriver
//! JSON) plays the watch page with hls.js, stops when the rental is revoked and shows why;
//! a second browser profile gets nothing from a shared URL or a used launch link.
//! Needs `chromium` and `chromedriver` on PATH (CI installs them); `VODGATE_SKIP_BROWSER=1`
//! skips these tests.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Browser {
    http: reqwest::Client,
    base: String,
    session: String,
    _driver: Driver,
}

/// chromedriver runs in a process group of its own, which the Chromium it launches
/// inherits: dropping the driver (also when a test panics before `quit`) kills the whole
/// group, so no browser outlives its test.
struct Driver(Child, std::path::PathBuf);
impl Drop for Driver {
    fn drop(&mut self) {
        // `kill -s SIG -- -PGID`: the `--` matters, procps' `kill -SIG -PGID` signals pid -1
        // (every process). Never a group id of 0 or 1.
        let pgid = self.0.id();
        if pgid > 1 {
            let _ = Command::new("kill")
                .args(["-s", "KILL", "--", &format!("-{pgid}")])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn skip() -> bool {
    if std::env::var("VODGATE_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("VODGATE_SKIP_BROWSER=1: browser test skipped");
        return true;
    }
    false
}

impl Browser {
    /// A fresh browser with its own empty profile: no cookies from any other test.
    async fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let profile =
            std::env::temp_dir().join(format!("vodgate-chrome-{}", uuid::Uuid::new_v4().simple()));
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver on PATH (apt-get install chromium chromium-driver), or set VODGATE_SKIP_BROWSER=1");
        let driver = Driver(child, profile.clone());
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--autoplay-policy=no-user-gesture-required", "--mute-audio",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--no-first-run", format!("--user-data-dir={}", profile.display())]
            }
        }}});
        let mut last = String::new();
        for _ in 0..100 {
            match http
                .post(format!("{base}/session"))
                .json(&caps)
                .send()
                .await
            {
                Ok(r) => {
                    let v: Value = r.json().await.unwrap();
                    if let Some(id) = v["value"]["sessionId"].as_str() {
                        return Browser {
                            http,
                            base,
                            session: id.to_owned(),
                            _driver: driver,
                        };
                    }
                    last = v.to_string();
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        panic!("chromedriver gave no session: {last}");
    }

    async fn cmd(&self, method: Method, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{}", self.base, self.session, path);
        let r = self
            .http
            .request(method, url)
            .json(&body)
            .send()
            .await
            .unwrap();
        r.json::<Value>().await.unwrap()["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.cmd(Method::POST, "/url", json!({"url": url})).await;
    }

    async fn js(&self, script: &str) -> Value {
        self.cmd(
            Method::POST,
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
        .await
    }

    /// Run `script` as an async WebDriver script: it ends by calling `done(value)`.
    async fn js_async(&self, script: &str) -> Value {
        let body = format!("var done = arguments[arguments.length - 1]; {script}");
        self.cmd(
            Method::POST,
            "/execute/async",
            json!({"script": body, "args": []}),
        )
        .await
    }

    /// Fetch `url` from inside the page, as the player would (same origin, its cookie):
    /// `[status, code]`, `code` being the problem+json code when there is one.
    async fn fetch_from_page(&self, url: &str) -> (u64, Value) {
        let script = format!(
            "fetch({url}, {{credentials: 'same-origin', cache: 'no-store'}})\
               .then(function (r) {{ return r.text().then(function (t) {{\
                 var c = null; try {{ c = JSON.parse(t).code; }} catch (e) {{}}\
                 done([r.status, c]); }}); }}, function (e) {{ done([0, String(e)]); }});",
            url = json!(url)
        );
        let v = self.js_async(&script).await;
        (v[0].as_u64().unwrap_or(0), v[1].clone())
    }

    /// The last segment the page loaded (Resource Timing), as an absolute URL.
    async fn last_segment_url(&self) -> Option<String> {
        self.js(
            "var n = performance.getEntriesByType('resource').map(function (r) { return r.name; })\
               .filter(function (u) { return /\\/play\\/.*\\.ts$/.test(u); });\
             return n.length ? n[n.length - 1] : null;",
        )
        .await
        .as_str()
        .map(str::to_owned)
    }

    async fn current_time(&self) -> f64 {
        self.js("var v = document.querySelector('#player'); return v ? v.currentTime : -1;")
            .await
            .as_f64()
            .unwrap_or(-1.0)
    }

    /// Poll `script` until it returns true.
    async fn wait_for(&self, script: &str, within: Duration) -> bool {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if self.js(script).await == json!(true) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        false
    }

    async fn cookies(&self) -> Vec<Value> {
        self.cmd(Method::GET, "/cookie", Value::Null)
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    async fn quit(self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await;
    }
}

const PLAYING_PAST_3S: &str =
    "var v = document.querySelector('#player'); return !!v && v.currentTime > 3;";
const DENIED: &str = "var d = document.querySelector('#denied'); return !!d && !d.hidden && d.offsetParent !== null;";

#[tokio::test]
async fn chromium_plays_and_stops_at_the_next_segment_when_revoked() {
    if skip() {
        return;
    }
    let app = spawn_app().await;
    let (_, e) = app
        .grant(json!({"viewer_id": "browser", "video_id": "sample"}))
        .await;
    let id = e["id"].as_str().unwrap().to_owned();
    let browser = Browser::start().await;
    browser.goto(e["watch_url"].as_str().unwrap()).await;
    let url = browser.js("return location.pathname;").await;
    assert_eq!(
        url,
        json!(format!("/watch/{id}")),
        "the launch link lands on the watch page"
    );
    assert!(
        browser
            .wait_for(PLAYING_PAST_3S, Duration::from_secs(30))
            .await,
        "hls.js played past 3 s"
    );
    assert_eq!(
        browser.js("return document.body.dataset.state;").await,
        json!("playing")
    );
    // A segment the player loaded, fetched again from the page with its cookie: served.
    let seg = browser
        .last_segment_url()
        .await
        .expect("the page loaded segments through /play/");
    assert_eq!(browser.fetch_from_page(&seg).await.0, 200);

    let r = app
        .admin(Method::POST, &format!("/v1/entitlements/{id}/revoke"), None)
        .await;
    assert_eq!(r.status(), 200);
    // The gateway itself refuses this browser's next segment request, whatever the page does.
    assert_eq!(browser.fetch_from_page(&seg).await, (403, json!("revoked")));
    // Within one more segment (4 s) plus the page's status poll, the page says why.
    assert!(
        browser.wait_for(DENIED, Duration::from_secs(7)).await,
        "the page shows the refusal"
    );
    let code = browser
        .js("return document.querySelector('#denied').dataset.code;")
        .await;
    assert_eq!(code, json!("revoked"));
    let text = browser
        .js("return document.querySelector('#denied').textContent;")
        .await;
    assert!(text.as_str().unwrap().contains("withdrawn"), "{text}");
    // And playback has stalled for real.
    let t1 = browser.current_time().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let t2 = browser.current_time().await;
    assert!(
        t2 <= t1 + 0.05,
        "playback kept going after the refusal: {t1} -> {t2}"
    );
    assert!(t2 < 16.0, "the whole video had not been buffered ahead");
    browser.quit().await;
}

#[tokio::test]
async fn the_page_counts_down_warns_before_the_end_and_says_when_the_rental_ended() {
    if skip() {
        return;
    }
    let app = spawn_app().await;
    // Twelve seconds: inside the five-minute warning from the start.
    let (_, e) = app
        .grant(json!({"viewer_id": "browser", "video_id": "sample", "watch_for_s": 12}))
        .await;
    let browser = Browser::start().await;
    browser.goto(e["watch_url"].as_str().unwrap()).await;
    let warning_shown = "var w = document.querySelector('#expiry-warning'); return !!w && !w.hidden && w.offsetParent !== null;";
    assert!(
        browser
            .wait_for(warning_shown, Duration::from_secs(5))
            .await,
        "the five-minute warning shows"
    );
    let left = |v: Value| -> u64 {
        let t = v.as_str().unwrap_or_default().to_owned();
        t.trim_end_matches(" s")
            .parse()
            .unwrap_or_else(|_| panic!("time left reads {t:?}"))
    };
    let t1 = left(
        browser
            .js("return document.querySelector('#time-left').textContent;")
            .await,
    );
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let t2 = left(
        browser
            .js("return document.querySelector('#time-left').textContent;")
            .await,
    );
    assert!(
        t1 <= 12 && t2 < t1,
        "the countdown runs: {t1} s then {t2} s"
    );
    // When the window closes the page says so in plain words, and the warning goes.
    assert!(
        browser.wait_for(DENIED, Duration::from_secs(16)).await,
        "the page shows the end of the rental"
    );
    assert_eq!(
        browser
            .js("return document.querySelector('#denied').dataset.code;")
            .await,
        json!("expired")
    );
    let text = browser
        .js("return document.querySelector('#denied-message').textContent;")
        .await;
    assert!(
        !text.as_str().unwrap_or_default().contains('_'),
        "plain words: {text}"
    );
    assert_eq!(browser.js(warning_shown).await, json!(false));
    browser.quit().await;
}

#[tokio::test]
async fn a_shared_watch_url_or_a_used_launch_link_plays_nowhere_else() {
    if skip() {
        return;
    }
    let app = spawn_app().await;
    let (_, e) = app
        .grant(json!({"viewer_id": "owner", "video_id": "sample"}))
        .await;
    let id = e["id"].as_str().unwrap().to_owned();
    let watch_url = e["watch_url"].as_str().unwrap().to_owned();
    let owner = Browser::start().await;
    owner.goto(&watch_url).await;
    assert!(
        owner
            .wait_for(PLAYING_PAST_3S, Duration::from_secs(30))
            .await,
        "the owner plays"
    );

    // A friend gets the address bar's URL and the launch link, in another profile.
    let friend = Browser::start().await;
    friend.goto(&app.url(&format!("/watch/{id}"))).await;
    let code = friend.js("var d = document.querySelector('[data-testid=deny]'); return d ? d.dataset.code : null;").await;
    assert_eq!(
        code,
        json!("session_mismatch"),
        "a deny page, not the video"
    );
    assert_eq!(
        friend
            .js("return !!document.querySelector('#player');")
            .await,
        json!(false)
    );

    friend.goto(&watch_url).await;
    let code = friend.js("var d = document.querySelector('[data-testid=deny]'); return d ? d.dataset.code : null;").await;
    assert_eq!(code, json!("launch_link_used"));
    assert!(
        friend.cookies().await.is_empty(),
        "no session for the second use"
    );
    friend.goto(&app.url(&format!("/watch/{id}"))).await;
    assert_eq!(
        friend
            .js("return !!document.querySelector('#player');")
            .await,
        json!(false)
    );
    // The owner is unaffected.
    assert_eq!(
        owner.js("return document.body.dataset.state;").await,
        json!("playing")
    );
    friend.quit().await;
    owner.quit().await;
}

#[tokio::test]
async fn the_demo_storefront_rents_plays_refunds_and_shows_the_refusal() {
    if skip() {
        return;
    }
    let mut config = test_config(StoreKind::Memory);
    config.demo = true;
    let app = spawn_app_with(config).await;
    let b = Browser::start().await;
    b.goto(&app.url("/")).await;
    assert!(
        b.wait_for(
            "return !!document.querySelector('[data-testid=demo-banner]');",
            Duration::from_secs(5)
        )
        .await
    );
    b.js("document.querySelector('[data-testid=rent-sample]').click(); return true;")
        .await;
    assert!(
        b.wait_for(
            "return location.pathname.startsWith('/watch/');",
            Duration::from_secs(10)
        )
        .await,
        "renting opens the watch page"
    );
    assert!(
        b.wait_for(
            "var v = document.querySelector('#player'); return !!v && v.currentTime > 1;",
            Duration::from_secs(30)
        )
        .await
    );
    let watch_path = b
        .js("return location.pathname;")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    // Refund from the storefront, then come back to the watch page.
    // (Stopping mid-play is what the revocation test above shows.)
    b.goto(&app.url("/")).await;
    assert!(
        b.wait_for(
            "return !!document.querySelector('form[action=\"/demo/refund\"] button');",
            Duration::from_secs(5)
        )
        .await
    );
    b.js("document.querySelector('form[action=\"/demo/refund\"] button').click(); return true;")
        .await;
    assert!(
        b.wait_for(
            "return document.body.textContent.includes('refunded');",
            Duration::from_secs(10)
        )
        .await,
        "the rental reads refunded"
    );
    b.goto(&app.url(&watch_path)).await;
    let shown = b.wait_for("var d = document.querySelector('[data-testid=deny]'); return !!d && d.dataset.code === 'refunded';", Duration::from_secs(10)).await;
    let where_ = b.js("return location.pathname + ' | ' + document.body.textContent.replace(/\\s+/g, ' ').slice(0, 300);").await;
    assert!(shown, "the reloaded watch page shows the refusal: {where_}");
    let text = b.js("return document.body.textContent;").await;
    assert!(text.as_str().unwrap().contains("refunded"), "{text}");
    assert_eq!(
        b.js("return !!document.querySelector('#player');").await,
        json!(false)
    );
    b.quit().await;
}

#[tokio::test]
async fn chromium_plays_an_api_video_private_video_through_the_relay_and_stops_on_revoke() {
    if skip() {
        return;
    }
    let sim = crate::apivideo::sim().await;
    let app = spawn_app_with(crate::apivideo::config_for(
        &sim,
        vodgate::config::PlaybackMode::Relay,
    ))
    .await;
    let (_, e) = app
        .grant(json!({"viewer_id": "browser", "video_id": "sample"}))
        .await;
    let id = e["id"].as_str().unwrap().to_owned();
    let browser = Browser::start().await;
    browser.goto(e["watch_url"].as_str().unwrap()).await;
    assert!(
        browser
            .wait_for(PLAYING_PAST_3S, Duration::from_secs(30))
            .await,
        "hls.js played the api.video video past 3 s"
    );
    let calls = sim.calls();
    assert_eq!(
        (calls.get("get_video"), calls.get("session")),
        (Some(&1), Some(&1)),
        "one playback start upstream: {calls:?}"
    );
    assert_eq!(sim.call_count("private_token_reuse_attempts"), 0);
    app.admin(Method::POST, &format!("/v1/entitlements/{id}/revoke"), None)
        .await;
    assert!(
        browser.wait_for(DENIED, Duration::from_secs(7)).await,
        "the page shows the refusal"
    );
    assert_eq!(
        browser
            .js("return document.querySelector('#denied').dataset.code;")
            .await,
        json!("revoked")
    );
    browser.quit().await;
}

/// CDN delivery in a real browser: the `rotating` title (a new key every 2 segments) with
/// its segments from nginx on another origin (nginx checks the `secure_link` tokens). hls.js
/// loads every segment from nginx and none from vodgate; after a revoke the next key is
/// refused, and the page stops and says why within a key period.
#[tokio::test]
async fn chromium_plays_segments_from_the_cdn_and_stops_within_a_key_period_of_a_revoke() {
    if skip() {
        return;
    }
    use crate::cdn::{SECURE_LINK_SECRET, cdn_config, spawn_secure_link_cdn};
    let nginx = spawn_secure_link_cdn();
    let app = spawn_app_with(cdn_config(
        vodgate::config::Delivery::Cdn,
        &format!(
            "http://127.0.0.1:{}/media/{{video_id}}/{{path}}",
            nginx.port
        ),
        vodgate::cdn::TokenKind::SecureLink,
        Some(SECURE_LINK_SECRET),
        None,
        vodgate::cdn::TokenPlace::Query,
    ))
    .await;
    let (_, e) = app
        .grant(json!({"viewer_id": "browser", "video_id": "rotating"}))
        .await;
    let id = e["id"].as_str().unwrap().to_owned();
    let browser = Browser::start().await;
    browser.goto(e["watch_url"].as_str().unwrap()).await;
    assert!(
        browser
            .wait_for(PLAYING_PAST_3S, Duration::from_secs(30))
            .await,
        "hls.js played past 3 s with segments from the CDN: {:?}",
        nginx.access_log()
    );
    let loaded = browser
        .js("return performance.getEntriesByType('resource').map(function (r) { return r.name; });")
        .await;
    let loaded: Vec<&str> = loaded
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let cdn = format!("http://127.0.0.1:{}/media/rotating/180p/seg", nginx.port);
    assert!(
        loaded.iter().any(|u| u.starts_with(&cdn)),
        "segments from nginx: {loaded:?}"
    );
    assert!(
        !loaded
            .iter()
            .any(|u| u.contains("/play/") && u.contains(".ts")),
        "no segment from vodgate: {loaded:?}"
    );
    let key = loaded
        .iter()
        .find(|u| u.contains("/play/") && u.contains("/keys/"))
        .expect("keys come from vodgate")
        .to_string();
    assert_eq!(browser.fetch_from_page(&key).await.0, 200);

    let r = app
        .admin(Method::POST, &format!("/v1/entitlements/{id}/revoke"), None)
        .await;
    assert_eq!(r.status(), 200);
    let revoked_at = browser.current_time().await;
    assert_eq!(browser.fetch_from_page(&key).await, (403, json!("revoked")));
    // One key period (2 segments of 2 s) plus the page's 2 s status poll.
    assert!(
        browser.wait_for(DENIED, Duration::from_secs(6)).await,
        "the page shows the refusal"
    );
    assert_eq!(
        browser
            .js("return document.querySelector('#denied').dataset.code;")
            .await,
        json!("revoked")
    );
    let t1 = browser.current_time().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let t2 = browser.current_time().await;
    assert!(
        t2 <= t1 + 0.05,
        "playback kept going after the refusal: {t1} -> {t2}"
    );
    assert!(
        t2 <= revoked_at + 4.5,
        "stopped within a key period of the revoke: {revoked_at} -> {t2}"
    );
    browser.quit().await;
}
