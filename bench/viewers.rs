//! Many viewers on one instance: N simulated viewers (default 10,000), each with its own
//! entitlement, cookie and playback (granted up front through the API with a bearer token,
//! launched, watch page loaded), each loading the master and media playlist once and then
//! fetching its next segment every 6 s (≈ N/6 req/s) for DURATION_S (default 120) against one
//! release vodgate on Redis. Prints errors (target 0), vodgate's resident memory (VmRSS,
//! sampled every 100 ms: idle after start = the baseline, after the grants, peak under load;
//! target peak ≤ 150 MB) and vodgate's CPU over the load phase (utime+stime / wall; target
//! ≤ 1 core), plus segment latency and the load generator's own CPU (it shares the cores).
//!
//! Run: `cargo bench --bench viewers` (needs redis-server). `VIEWERS=2000 DURATION_S=30` for a
//! quick run. `HOG=4` starts four busy-looping processes beside it for the load phase (the
//! machine's cores shared with a build); `VODGATE_MAX_IN_FLIGHT=100000` turns the admission
//! limit off for the comparison. Segments are `media/sample/360p/seg0..3.ts` (~200 KB each, 4 s).

#[path = "common/mod.rs"]
mod common;
use common::*;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const PERIOD: Duration = Duration::from_secs(6);
const SEGMENTS: usize = 4;

async fn grant(
    http: &reqwest::Client,
    v: &str,
    bearer: &str,
    i: usize,
    tag: u16,
) -> Result<Viewer, String> {
    let body = serde_json::json!({"viewer_id": format!("viewer-{i}"), "video_id": "sample", "order_id": format!("viewers-{tag}-{i}")});
    watch(http, v, bearer, &body).await
}

#[derive(Default)]
struct Counters {
    ok: AtomicU64,
    errors: AtomicU64,
    bytes: AtomicU64,
    /// Errors by kind: 503 `overloaded` (refused at admission), 503 `store_unavailable`,
    /// anything else.
    overloaded: AtomicU64,
    store_unavailable: AtomicU64,
}

#[tokio::main]
async fn main() {
    let viewers = env_num("VIEWERS", 10_000) as usize;
    let duration = Duration::from_secs(env_num("DURATION_S", 120));
    let rport = free_port();
    let dir = std::env::temp_dir().join(format!("vodgate-bench-viewers-{rport}"));
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
    let mut vodgate = Command::new(env!("CARGO_BIN_EXE_vodgate"));
    if let Ok(limit) = std::env::var("VODGATE_MAX_IN_FLIGHT") {
        vodgate.env("VODGATE_MAX_IN_FLIGHT", limit);
    }
    let child = vodgate
        .env("VODGATE_LISTEN", format!("127.0.0.1:{port}"))
        .env("REDIS_URL", format!("redis://127.0.0.1:{rport}/"))
        .env("VODGATE_REDIS_PREFIX", "bench:")
        .env("VODGATE_BOOTSTRAP_API_KEY", KEY.as_str())
        .env(
            "VODGATE_MEDIA_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/media"),
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start vodgate");
    let pid = child.id();
    let _vodgate = Kill(child);
    wait_for(port);
    let v = format!("http://127.0.0.1:{port}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle = rss_kib(pid);

    // Peak RSS sampler, on its own thread.
    let peak = Arc::new(AtomicU64::new(rss_idle));
    let threads_idle = status_field(pid, "Threads:");
    let peak_threads = Arc::new(AtomicU64::new(threads_idle));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, peak_threads, stop) = (peak.clone(), peak_threads.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                peak_threads.fetch_max(status_field(pid, "Threads:"), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(512)
        // Below actix's 5 s keep-alive: a pooled connection the server is closing is not reused.
        .pool_idle_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(30))
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

    // Grants, 64 at a time.
    let started = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = Vec::with_capacity(viewers);
    for i in 0..viewers {
        let (http, v, bearer, sem) = (http.clone(), v.clone(), bearer.clone(), sem.clone());
        tasks.push(tokio::spawn(async move {
            let _p = sem.acquire().await.unwrap();
            grant(&http, &v, &bearer, i, rport).await
        }));
    }
    let mut all = Vec::with_capacity(viewers);
    for t in tasks {
        match t.await.unwrap() {
            Ok(viewer) => all.push(viewer),
            Err(e) => panic!("grant failed: {e}"),
        }
    }
    let grant_time = started.elapsed();
    let rss_granted = rss_kib(pid);
    eprintln!(
        "{viewers} viewers granted in {:.1} s; load for {} s...",
        grant_time.as_secs_f64(),
        duration.as_secs()
    );

    // Load: viewer i starts at i/N of the period, then one segment every 6 s.
    let counters = Arc::new(Counters::default());
    let latencies = Arc::new(std::sync::Mutex::new(Vec::<Duration>::with_capacity(
        viewers * (duration.as_secs() as usize / 6 + 1),
    )));
    let hogs: Vec<Kill> = (0..env_num("HOG", 0))
        .map(|_| {
            Kill(
                Command::new("sh")
                    .args(["-c", "while :; do :; done"])
                    .spawn()
                    .expect("start a CPU hog"),
            )
        })
        .collect();
    let tck = clk_tck();
    let (cpu0, self0) = (cpu_ticks(&pid.to_string()), cpu_ticks("self"));
    let t0 = Instant::now();
    let deadline = tokio::time::Instant::now() + duration;
    let mut tasks = Vec::with_capacity(viewers);
    for (i, viewer) in all.into_iter().enumerate() {
        let (http, counters, latencies) = (http.clone(), counters.clone(), latencies.clone());
        let offset = PERIOD.mul_f64(i as f64 / viewers as f64);
        tasks.push(tokio::spawn(async move {
            let count = |ok: bool, bytes: usize| {
                if ok {
                    counters.ok.fetch_add(1, Ordering::Relaxed);
                    counters.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
                } else {
                    counters.errors.fetch_add(1, Ordering::Relaxed);
                }
            };
            let get = |url: String| {
                let req = http.get(url).header("cookie", &viewer.cookie);
                let counters = counters.clone();
                async move {
                    match req.send().await {
                        Ok(r) if r.status() == 200 => r
                            .bytes()
                            .await
                            .map(|b| b.len())
                            .map_err(|e| format!("{e:?}")),
                        Ok(r) => {
                            let status = r.status();
                            let body = r.text().await.unwrap_or_default();
                            if body.contains("\"overloaded\"") {
                                counters.overloaded.fetch_add(1, Ordering::Relaxed);
                            } else if body.contains("\"store_unavailable\"") {
                                counters.store_unavailable.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(format!("status {status}"))
                        }
                        Err(e) => Err(format!("{e:?}")),
                    }
                }
            };
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + offset, PERIOD);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut n = 0usize;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = tokio::time::sleep_until(deadline) => break,
                }
                if tokio::time::Instant::now() >= deadline {
                    break;
                }
                if n == 0 {
                    for pl in ["master.m3u8", "360p/index.m3u8"] {
                        let r = get(format!("{}/{pl}", viewer.play)).await;
                        count(r.is_ok(), *r.as_ref().unwrap_or(&0));
                    }
                }
                let t = Instant::now();
                let r = get(format!("{}/360p/seg{}.ts", viewer.play, n % SEGMENTS)).await;
                if let Err(e) = &r
                    && counters.errors.load(Ordering::Relaxed) < 5
                {
                    eprintln!("  error: {e}");
                }
                if r.is_ok() {
                    latencies.lock().unwrap().push(t.elapsed());
                }
                count(r.is_ok(), *r.as_ref().unwrap_or(&0));
                n += 1;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let wall = t0.elapsed().as_secs_f64();
    let hog = hogs.len();
    drop(hogs);
    let (cpu1, self1) = (cpu_ticks(&pid.to_string()), cpu_ticks("self"));
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let rss_end = rss_kib(pid);

    let ok = counters.ok.load(Ordering::Relaxed);
    let errors = counters.errors.load(Ordering::Relaxed);
    let bytes = counters.bytes.load(Ordering::Relaxed);
    let mut lat = std::mem::take(&mut *latencies.lock().unwrap());
    lat.sort();
    let cores = (cpu1 - cpu0) as f64 / tck / wall;
    let gen_cores = (self1 - self0) as f64 / tck / wall;
    let peak = peak.load(Ordering::Relaxed);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "many viewers: {viewers} viewers, one segment (~200 KB) each every 6 s, {:.0} s, one release vodgate on Redis",
        wall
    );
    println!(
        "  grants (entitlement + launch + watch page, 64 in parallel): {:.1} s, {:.0} viewers/s",
        grant_time.as_secs_f64(),
        viewers as f64 / grant_time.as_secs_f64()
    );
    println!(
        "  CPU hog: {hog} busy processes beside it; admission limit VODGATE_MAX_IN_FLIGHT={}",
        std::env::var("VODGATE_MAX_IN_FLIGHT").unwrap_or_else(|_| "256 (default)".into())
    );
    println!(
        "  requests ok {ok}  ({:.0} req/s, {:.1} MB/s)  errors {errors} (503 overloaded {}, 503 store_unavailable {}, other {})",
        ok as f64 / wall,
        bytes as f64 / wall / 1e6,
        counters.overloaded.load(Ordering::Relaxed),
        counters.store_unavailable.load(Ordering::Relaxed),
        errors
            - counters.overloaded.load(Ordering::Relaxed)
            - counters.store_unavailable.load(Ordering::Relaxed)
    );
    println!(
        "  segment latency p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(percentile(&lat, 1.0))
    );
    println!(
        "  vodgate VmRSS: idle {:.1} MB (baseline)  after grants {:.1} MB  peak {:.1} MB  end {:.1} MB  (peak / idle {:.1}x)",
        mib(rss_idle),
        mib(rss_granted),
        mib(peak),
        mib(rss_end),
        peak as f64 / rss_idle.max(1) as f64
    );
    println!(
        "  vodgate threads: idle {threads_idle}  peak {}",
        peak_threads.load(Ordering::Relaxed)
    );
    println!(
        "  vodgate CPU: {:.2} cores over the load phase ({:.0} µs per request); load generator {:.2} cores (same 2 cores)",
        cores,
        cores * 1e6 / (ok as f64 / wall),
        gen_cores
    );
    println!(
        "  targets: errors 0 {}, peak RSS <= 150 MB {}, CPU <= 1 core {}",
        if errors == 0 { "met" } else { "NOT met" },
        if mib(peak) <= 150.0 { "met" } else { "NOT met" },
        if cores <= 1.0 { "met" } else { "NOT met" }
    );
}
