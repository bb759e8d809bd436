//! api.video relay through apivideo-sim: one release vodgate (`VODGATE_ORIGIN=apivideo`, Redis)
//! in front of an in-process sim. For PLAYBACKS playbacks (each its own entitlement, cookie and
//! watch page) that load the master, the media playlist, the key and ROUNDS × the 4 segments,
//! prints the upstream calls per playback from the sim's counters (`GET /videos/{id}`,
//! `/session`, vod assets, auth). Then segment latency (sequential, keep-alive) through
//! vodgate vs fetching the same segment from the sim directly with `?avh=<session>` (the
//! baseline, same run), p50/p99 and the added latency.
//!
//! Run: `cargo bench --bench apivideo` (needs redis-server). `PLAYBACKS=`, `ROUNDS=`, `SAMPLES=`.

use apivideo_sim::{SimConfig, spawn};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A throwaway bootstrap key for this run, minted rather than written down.
static KEY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "vg_key_{}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..16],
        vodgate::token::Token::mint("").reveal()
    )
});

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(port: u16) {
    for _ in 0..400 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("nothing listens on {port}");
}

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn fetch(http: &reqwest::Client, url: &str, cookie: Option<&str>) -> Duration {
    let t = Instant::now();
    let mut req = http.get(url);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r.bytes().await.unwrap();
    t.elapsed()
}

#[tokio::main]
async fn main() {
    let playbacks = env_num("PLAYBACKS", 20);
    let rounds = env_num("ROUNDS", 3);
    let samples = env_num("SAMPLES", 300);
    let media = concat!(env!("CARGO_MANIFEST_DIR"), "/media");
    let sim = spawn(SimConfig {
        media_dir: Some(media.into()),
        workers: 2,
        rate_limit: 100_000,
        ..Default::default()
    })
    .await
    .expect("start apivideo-sim");
    let sim_url = sim.base_url();

    let rport = free_port();
    let dir = std::env::temp_dir().join(format!("vodgate-bench-apivideo-{rport}"));
    std::fs::create_dir_all(&dir).unwrap();
    let _redis = Kill(
        Command::new("redis-server")
            .args([
                "--port",
                &rport.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
            ])
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server on PATH"),
    );
    wait_for(rport);
    let port = free_port();
    let _vodgate = Kill(
        Command::new(env!("CARGO_BIN_EXE_vodgate"))
            .env("VODGATE_LISTEN", format!("127.0.0.1:{port}"))
            .env("REDIS_URL", format!("redis://127.0.0.1:{rport}/"))
            .env("VODGATE_REDIS_PREFIX", "bench:")
            .env("VODGATE_BOOTSTRAP_API_KEY", KEY.as_str())
            .env("VODGATE_DEFAULT_MAX_STREAMS", "100")
            .env("VODGATE_ORIGIN", "apivideo")
            .env("APIVIDEO_BASE_URL", &sim_url)
            .env("APIVIDEO_API_KEY", sim.api_key())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start vodgate"),
    );
    wait_for(port);
    let v = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let tok: serde_json::Value = http
        .post(format!("{v}/auth/api-key"))
        .json(&serde_json::json!({"apiKey": KEY.as_str()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = tok["access_token"].as_str().unwrap().to_owned();

    // Phase 1: upstream calls per playback.
    sim.reset_calls();
    let mut first = None;
    for i in 0..playbacks {
        let e: serde_json::Value = http
            .post(format!("{v}/v1/entitlements"))
            .bearer_auth(&bearer)
            .json(&serde_json::json!({"viewer_id": format!("v{i}"), "video_id": "sample", "order_id": format!("apivideo-{rport}-{i}")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = e["id"].as_str().unwrap().to_owned();
        let r = http
            .get(e["watch_url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        let cookie = r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let html = http
            .get(format!("{v}/watch/{id}"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let master = html
            .split("data-src=\"")
            .nth(1)
            .expect("data-src on the watch page")
            .split('"')
            .next()
            .unwrap()
            .to_owned();
        let play = format!("{v}{}", master.rsplit_once('/').unwrap().0);
        fetch(&http, &format!("{v}{master}"), Some(&cookie)).await;
        let media_pl = http
            .get(format!("{play}/360p/index.m3u8"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let key = media_pl
            .split("URI=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .map(str::to_owned);
        if let Some(k) = &key {
            fetch(&http, &format!("{v}{k}"), Some(&cookie)).await;
        }
        for _ in 0..rounds {
            for s in 0..4 {
                fetch(&http, &format!("{play}/360p/seg{s}.ts"), Some(&cookie)).await;
            }
        }
        first.get_or_insert((play, cookie));
    }
    let calls = sim.calls();
    let requests = playbacks * (3 + 4 * rounds);
    println!(
        "api.video relay through apivideo-sim: {playbacks} playbacks, each master + media playlist + key + {rounds} x 4 segments ({requests} viewer requests)"
    );
    let mut line = String::new();
    for (name, n) in calls.iter().filter(|(_, n)| **n > 0) {
        line.push_str(&format!(
            " {name} {n} ({:.2}/playback)",
            *n as f64 / playbacks as f64
        ));
    }
    println!("  upstream calls:{line}");
    let upstream_api = [
        "auth_api_key",
        "auth_refresh",
        "get_video",
        "session",
        "list_videos",
    ]
    .iter()
    .map(|k| calls.get(*k).copied().unwrap_or(0))
    .sum::<u64>();
    let vod = calls.get("vod_asset").copied().unwrap_or(0);
    println!(
        "  per playback: {:.2} API/session calls, {:.2} vod fetches for {:.0} viewer requests (ratio upstream/viewer {:.2}); reuse attempts {}",
        upstream_api as f64 / playbacks as f64,
        vod as f64 / playbacks as f64,
        requests as f64 / playbacks as f64,
        (upstream_api + vod) as f64 / requests as f64,
        calls
            .get("private_token_reuse_attempts")
            .copied()
            .unwrap_or(0)
    );

    // Phase 2: segment latency, vodgate vs the sim directly (baseline), interleaved.
    let (play, cookie) = first.unwrap();
    let st: serde_json::Value = http
        .post(format!("{sim_url}/auth/api-key"))
        .json(&serde_json::json!({"apiKey": sim.api_key()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let video: serde_json::Value = http
        .get(format!("{sim_url}/videos/sample"))
        .bearer_auth(st["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hls = video["assets"]["hls"].as_str().unwrap();
    let hls_base = hls.rsplit_once('/').unwrap().0;
    let session: serde_json::Value = http
        .get(format!("{}/session", hls_base.trim_end_matches("/hls")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let avh = session["session_token"].as_str().unwrap();
    let (mut through, mut direct) = (Vec::with_capacity(samples), Vec::with_capacity(samples));
    for i in 0..samples + 20 {
        let s = i % 4;
        let a = fetch(&http, &format!("{play}/360p/seg{s}.ts"), Some(&cookie)).await;
        let b = fetch(&http, &format!("{hls_base}/360p/seg{s}.ts?avh={avh}"), None).await;
        if i >= 20 {
            through.push(a);
            direct.push(b);
        }
    }
    through.sort();
    direct.sort();
    let (t50, t99, d50, d99) = (
        percentile(&through, 0.5),
        percentile(&through, 0.99),
        percentile(&direct, 0.5),
        percentile(&direct, 0.99),
    );
    println!("  segment (~200 KB) latency, {samples} sequential requests each, interleaved:");
    println!(
        "    through vodgate:          p50 {:.2} ms  p99 {:.2} ms",
        ms(t50),
        ms(t99)
    );
    println!(
        "    sim directly with avh:    p50 {:.2} ms  p99 {:.2} ms  (baseline)",
        ms(d50),
        ms(d99)
    );
    println!(
        "    added by vodgate: p50 +{:.2} ms  p99 +{:.2} ms  ratio p50 {:.2}x",
        ms(t50) - ms(d50),
        ms(t99) - ms(d99),
        ms(t50) / ms(d50)
    );
    sim.stop().await;
}
