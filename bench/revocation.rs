//! Revocation propagation across instances: two vodgate processes on one Redis; a playback
//! runs through instance B; the operator revokes through instance A. Measures the time from
//! A's 200 to B's first refusal of a segment, over many revocations, and prints p50/p99
//! next to a baseline measured in the same run (one plain segment request to B).
//!
//! Run: `cargo bench --bench revocation` (needs redis-server). `REVOCATIONS=N` changes the count.

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

/// GET a segment that must be served, whole; how long it took.
async fn fetch_segment(http: &reqwest::Client, url: &str, cookie: &str) -> Duration {
    let started = Instant::now();
    let r = http.get(url).header("cookie", cookie).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap();
    started.elapsed()
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

fn vodgate(port: u16, redis: &str) -> Kill {
    let child = Command::new(env!("CARGO_BIN_EXE_vodgate"))
        .env("VODGATE_LISTEN", format!("127.0.0.1:{port}"))
        .env("REDIS_URL", redis)
        .env("VODGATE_REDIS_PREFIX", "bench:")
        .env("VODGATE_BOOTSTRAP_API_KEY", KEY.as_str())
        .env("VODGATE_DEFAULT_MAX_STREAMS", "100")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .spawn()
        .expect("start vodgate");
    wait_for(port);
    Kill(child)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("REVOCATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let rport = free_port();
    let dir = std::env::temp_dir().join(format!("vodgate-bench-redis-{rport}"));
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
                "--dir",
            ])
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server on PATH"),
    );
    wait_for(rport);
    let redis = format!("redis://127.0.0.1:{rport}/");
    let (pa, pb) = (free_port(), free_port());
    let _a = vodgate(pa, &redis);
    let _b = vodgate(pb, &redis);
    let (a, b) = (
        format!("http://127.0.0.1:{pa}"),
        format!("http://127.0.0.1:{pb}"),
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let tok: serde_json::Value = http
        .post(format!("{a}/auth/api-key"))
        .json(&serde_json::json!({"apiKey": KEY.as_str()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = tok["access_token"].as_str().unwrap().to_owned();

    let mut propagation = Vec::with_capacity(n);
    let mut baseline = Vec::with_capacity(n);
    let mut polls_total = 0usize;
    for i in 0..n {
        let e: serde_json::Value = http
            .post(format!("{a}/v1/entitlements"))
            .bearer_auth(&bearer)
            .json(&serde_json::json!({"viewer_id": "bench", "video_id": "sample", "order_id": format!("bench-{i}-{rport}")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = e["id"].as_str().unwrap().to_owned();
        let launch = e["watch_url"].as_str().unwrap().replace(&a, &b);
        let r = http.get(&launch).send().await.unwrap();
        let cookie = r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let html = http
            .get(format!("{b}/watch/{id}"))
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
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned();
        let dir = master.rsplit_once('/').unwrap().0.to_owned();
        let first = format!("{b}{dir}/360p/seg0.ts");
        let seg = format!("{b}{dir}/360p/seg1.ts");
        // The first segment starts the rental clock, and its event makes every instance
        // drop the record. Let that settle, then the next segment puts the record back in
        // B's cache: from there on only the revocation event can tell B (its cache trusts
        // the record for 2 s), which is what this measures. That request is the baseline.
        fetch_segment(&http, &first, &cookie).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        baseline.push(fetch_segment(&http, &seg, &cookie).await);

        let r = http
            .post(format!("{a}/v1/entitlements/{id}/revoke"))
            .bearer_auth(&bearer)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let acked = Instant::now();
        loop {
            polls_total += 1;
            let r = http
                .get(&seg)
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            if r.status() == 403 {
                propagation.push(acked.elapsed());
                break;
            }
            assert!(
                acked.elapsed() < Duration::from_secs(5),
                "B still serving 5 s after the revoke"
            );
        }
    }
    propagation.sort();
    baseline.sort();
    let (p50, p99, max) = (
        percentile(&propagation, 0.5),
        percentile(&propagation, 0.99),
        *propagation.last().unwrap(),
    );
    let b50 = percentile(&baseline, 0.5);
    println!("revocation propagation across two instances ({n} revocations, Redis pub/sub)");
    println!(
        "  revoke 200 on A -> first refusal on B: p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        ms(p50),
        ms(p99),
        ms(max)
    );
    println!(
        "  baseline (one segment request to B, same run): p50 {:.2} ms",
        ms(b50)
    );
    println!(
        "  ratio p99 / baseline p50: {:.1}x   polls per revocation: {:.2}",
        ms(p99) / ms(b50),
        polls_total as f64 / n as f64
    );
    println!(
        "  target p99 <= 50 ms: {}",
        if ms(p99) <= 50.0 { "met" } else { "NOT met" }
    );
}
