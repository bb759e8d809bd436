//! Admin calls with HTTP Basic (the API key on every call, as the README's examples do) vs
//! a bearer token, on one vodgate process and Redis: grants per second from 16 parallel
//! clients, each way, and the ratio. The key is checked with argon2 once; later calls find it
//! among the keys that verified lately (a record read, like a bearer's check), so Basic
//! should run at about the bearer's rate. (Before that memory: 40 vs 978 grants/s.)
//!
//! Run: `cargo bench --bench admin_auth` (needs redis-server). `DURATION_S=N` (default 10),
//! `CLIENTS=N` (default 16).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Grants per second over `duration`, `clients` at a time, each request made by `auth`.
async fn rate(
    http: &reqwest::Client,
    base: &str,
    clients: u64,
    duration: Duration,
    auth: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder + Send + Sync + 'static,
) -> (f64, u64) {
    let auth = Arc::new(auth);
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let end = Instant::now() + duration;
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (http, base, auth) = (http.clone(), base.to_owned(), auth.clone());
            let (ok, failed) = (ok.clone(), failed.clone());
            tokio::spawn(async move {
                while Instant::now() < end {
                    let r = auth(http.post(format!("{base}/v1/entitlements")))
                        .json(&serde_json::json!({"viewer_id": "bench", "video_id": "sample"}))
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == 201 => ok.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    (
        ok.load(Ordering::Relaxed) as f64 / secs,
        failed.load(Ordering::Relaxed),
    )
}

#[tokio::main]
async fn main() {
    let duration = Duration::from_secs(env_or("DURATION_S", 10));
    let clients = env_or("CLIENTS", 16);
    let key = format!(
        "vg_key_{}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..16],
        vodgate::token::Token::mint("").reveal()
    );
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
    let port = free_port();
    let _vodgate = Kill(
        Command::new(env!("CARGO_BIN_EXE_vodgate"))
            .env("VODGATE_LISTEN", format!("127.0.0.1:{port}"))
            .env("REDIS_URL", format!("redis://127.0.0.1:{rport}/"))
            .env("VODGATE_BOOTSTRAP_API_KEY", &key)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .spawn()
            .expect("start vodgate"),
    );
    wait_for(port);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let tok: serde_json::Value = http
        .post(format!("{base}/auth/api-key"))
        .json(&serde_json::json!({"apiKey": key}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = tok["access_token"].as_str().unwrap().to_owned();
    println!(
        "admin auth: POST /v1/entitlements, {clients} clients, {} s each way, one vodgate + Redis",
        duration.as_secs()
    );
    let (b, bf) = rate(&http, &base, clients, duration, move |r| {
        r.bearer_auth(&bearer)
    })
    .await;
    println!("  bearer token        {b:8.0} grants/s   ({bf} failed)");
    // One call first, as a backend's first call: a key's first verification is counted
    // against the client like any unverified key (so 16 at once from cold could meet 429).
    let warm = http
        .get(format!("{base}/v1/entitlements?viewer_id=bench"))
        .basic_auth(&key, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(warm.status(), 200);
    let k = key.clone();
    let (basic, kf) = rate(&http, &base, clients, duration, move |r| {
        r.basic_auth(&k, Some(""))
    })
    .await;
    println!("  HTTP Basic (key)    {basic:8.0} grants/s   ({kf} failed)");
    println!("  Basic / bearer      {:8.2}x", basic / b);
}
