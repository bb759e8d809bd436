//! CDN delivery: what still reaches vodgate when the bytes come from the CDN.
//!
//! 1. **Requests per viewer-minute, relay vs cdn.** The same film (`rotating`: 12 × 2 s
//!    segments, a new key every 2 segments) watched by `AB_VIEWERS` (20) viewers per mode at
//!    playback speed by the same simulated player: watch page, master and media playlist, then
//!    per segment its key (when the key URI changes) and the segment, wherever the rewritten
//!    playlist points, plus the page's status poll at the interval the page names
//!    (`data-poll-ms`). Segments in cdn mode come from nginx (checking `secure_link`). Counted
//!    per destination; the baseline is relay mode in the same run.
//! 2. **One instance, `VIEWERS` (50,000) cdn-mode viewers** with cookie tokens (`akamai`):
//!    each loads the master and media playlist once, then polls the status (which renews its
//!    cookie) at the page's interval and fetches a key every `KEY_PERIOD_S` (12: a key every
//!    2 segments of 6 s; the `rotating` sample's own cadence is 4) for `DURATION_S` (60).
//!    At most `CONNECTIONS` (256, vodgate's admission limit) requests in flight, as behind a load balancer; latency
//!    counts from when a request was due. Prints errors, p50/p99 per request kind,
//!    vodgate's RSS and CPU, the generator's CPU.
//! 3. **Token cost**: µs to sign one token per format (cat, cloudfront, akamai, secure_link),
//!    in process, against an HMAC-SHA256 of the same input as the baseline.
//!
//! Run: `cargo bench --bench cdn` (needs redis-server, nginx, openssl).
//! `VIEWERS=5000 DURATION_S=20` is a quick run; `PART=1`, `PART=2` or `PART=3` runs one part.

#[path = "common/mod.rs"]
mod common;
use common::*;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const SECRET: &str = "bench-secure-link-secret";
const AKAMAI_KEY: &str = "403697de87af64611c1d32a05dab0fe1fcb715a86ab435f1ec99192d79569388";

fn media() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/media").to_owned()
}

/// nginx serving the media folder under /media/ behind secure_link.
fn spawn_nginx(dir: &std::path::Path) -> (Kill, u16) {
    let port = free_port();
    let d = dir.display();
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         error_log {d}/error.log warn;\nevents {{ worker_connections 1024; }}\n\
         http {{\n access_log off;\n sendfile on;\n types {{ video/mp2t ts; }}\n\
         client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;\n\
         uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;\n\
         server {{ listen 127.0.0.1:{port};\n location /media/ {{ alias {}/;\n\
         secure_link $arg_md5,$arg_expires;\n\
         secure_link_md5 \"$secure_link_expires$uri {SECRET}\";\n\
         if ($secure_link = \"\") {{ return 403; }}\n if ($secure_link = \"0\") {{ return 410; }} }} }}\n}}\n",
        media()
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let bin = ["/usr/sbin/nginx", "/usr/local/sbin/nginx"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("nginx");
    let k = Kill(
        Command::new(bin)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx installed"),
    );
    wait_for(port);
    (k, port)
}

fn spawn_vodgate(rport: u16, prefix: &str, env: &[(&str, String)]) -> (Kill, u32, String) {
    let port = free_port();
    let mut c = Command::new(env!("CARGO_BIN_EXE_vodgate"));
    c.env("VODGATE_LISTEN", format!("127.0.0.1:{port}"))
        .env("REDIS_URL", format!("redis://127.0.0.1:{rport}/"))
        .env("VODGATE_REDIS_PREFIX", prefix)
        .env("VODGATE_BOOTSTRAP_API_KEY", KEY.as_str())
        .env("VODGATE_MEDIA_DIR", media())
        .env("VODGATE_DEFAULT_MAX_STREAMS", "100")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    let child = c.spawn().expect("start vodgate");
    let pid = child.id();
    wait_for(port);
    (Kill(child), pid, format!("http://127.0.0.1:{port}"))
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(env_num("CONNECTIONS", 256) as usize)
        .pool_idle_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn bearer(http: &reqwest::Client, v: &str) -> String {
    let tok: serde_json::Value = http
        .post(format!("{v}/auth/api-key"))
        .json(&serde_json::json!({"apiKey": KEY.as_str()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tok["access_token"].as_str().unwrap().to_owned()
}

/// One viewer watching `rotating` to the end at playback speed: requests to vodgate and to
/// the CDN, and the seconds watched.
async fn watch_film(http: &reqwest::Client, v: &str, viewer: &Viewer) -> (u64, u64, f64) {
    let (mut to_vodgate, mut to_cdn) = (2u64, 0u64); // the launch link and the watch page
    let get = |url: String| {
        let req = http.get(&url).header("cookie", &viewer.cookie);
        async move {
            let r = req.send().await.expect("request");
            assert!(r.status().is_success(), "{url}: {}", r.status());
            r.bytes().await.unwrap()
        }
    };
    let mut count = |url: &str| {
        if url.starts_with(v) {
            to_vodgate += 1
        } else {
            to_cdn += 1
        }
    };
    let abs = |u: &str| {
        if u.starts_with("http") {
            u.to_owned()
        } else {
            format!("{v}{u}")
        }
    };
    let master = format!("{}/master.m3u8", viewer.play);
    get(master.clone()).await;
    count(&master);
    let media_url = format!("{}/180p/index.m3u8", viewer.play);
    let media = String::from_utf8(get(media_url.clone()).await.to_vec()).unwrap();
    count(&media_url);
    let status = format!("{}/status", viewer.play);
    let started = Instant::now();
    let mut next_poll = Duration::ZERO;
    let (mut last_key, mut at) = (String::new(), Duration::ZERO);
    for line in media.lines() {
        if let Some(k) = line
            .split("URI=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
        {
            if k != last_key {
                let k = abs(k);
                get(k.clone()).await;
                count(&k);
                last_key = line
                    .split("URI=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap()
                    .to_owned();
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            // A player fetches the next segment about when the previous one plays out.
            tokio::time::sleep_until(tokio::time::Instant::from_std(started + at)).await;
            while next_poll <= at {
                get(status.clone()).await;
                count(&status);
                next_poll += Duration::from_millis(viewer.poll_ms);
            }
            let s = abs(line);
            get(s.clone()).await;
            count(&s);
            at += Duration::from_secs(2);
        }
    }
    tokio::time::sleep_until(tokio::time::Instant::from_std(started + at)).await;
    (to_vodgate, to_cdn, at.as_secs_f64())
}

async fn part1(rport: u16, nginx_port: u16) {
    let viewers = env_num("AB_VIEWERS", 20) as usize;
    let (_v, _pid, v) = spawn_vodgate(
        rport,
        "bench-ab:",
        &[
            (
                "VODGATE_CDN_BASE_URL",
                format!("http://127.0.0.1:{nginx_port}/media/{{video_id}}/{{path}}"),
            ),
            ("VODGATE_CDN_TOKEN", "secure_link".into()),
            ("VODGATE_CDN_KEY", SECRET.into()),
        ],
    );
    let http = client();
    let b = bearer(&http, &v).await;
    println!(
        "requests per viewer-minute: `rotating` (24 s, 12 x 2 s segments, a key every 2), {viewers} viewers per mode at playback speed, one release vodgate on Redis, CDN = nginx secure_link"
    );
    let mut relay_rate = 0.0;
    for delivery in ["relay", "cdn"] {
        let mut tasks = vec![];
        for i in 0..viewers {
            let (http, v, b) = (http.clone(), v.clone(), b.clone());
            let body = serde_json::json!({"viewer_id": format!("ab-{i}"), "video_id": "rotating", "delivery": delivery});
            tasks.push(tokio::spawn(async move {
                let viewer = watch(&http, &v, &b, &body).await.expect("launch");
                watch_film(&http, &v, &viewer).await
            }));
        }
        let (mut vg, mut cdn, mut secs) = (0, 0, 0.0);
        for t in tasks {
            let (a, c, s) = t.await.unwrap();
            vg += a;
            cdn += c;
            secs += s;
        }
        let minutes = secs / 60.0;
        let rate = vg as f64 / minutes;
        if delivery == "relay" {
            relay_rate = rate;
        }
        println!(
            "  {delivery:5}: to vodgate {rate:6.1} req/viewer-min, to the CDN {:6.1} req/viewer-min  (vodgate: {:.2}x relay)",
            cdn as f64 / minutes,
            rate / relay_rate
        );
    }
}

async fn part2(rport: u16) {
    let viewers = env_num("VIEWERS", 50_000) as usize;
    let duration = Duration::from_secs(env_num("DURATION_S", 60));
    let key_period = Duration::from_secs(env_num("KEY_PERIOD_S", 12));
    let (_v, pid, v) = spawn_vodgate(
        rport,
        "bench-cdn:",
        &[
            ("VODGATE_DELIVERY", "cdn".into()),
            (
                "VODGATE_CDN_BASE_URL",
                "http://127.0.0.1:9/media/{video_id}/{path}".into(),
            ),
            ("VODGATE_CDN_TOKEN", "akamai".into()),
            ("VODGATE_CDN_KEY", AKAMAI_KEY.into()),
            ("VODGATE_CDN_TOKEN_DELIVERY", "cookie".into()),
        ],
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_idle = rss_kib(pid);
    let peak = Arc::new(AtomicU64::new(rss_idle));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let http = client();
    let b = bearer(&http, &v).await;
    let t = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = Vec::with_capacity(viewers);
    for i in 0..viewers {
        let (http, v, b, sem) = (http.clone(), v.clone(), b.clone(), sem.clone());
        tasks.push(tokio::spawn(async move {
            let _p = sem.acquire().await.unwrap();
            let body = serde_json::json!({"viewer_id": format!("cdn-{i}"), "video_id": "rotating"});
            watch(&http, &v, &b, &body).await
        }));
    }
    let mut all = Vec::with_capacity(viewers);
    for t in tasks {
        all.push(t.await.unwrap().expect("grant and launch"));
    }
    let grant_s = t.elapsed().as_secs_f64();
    let rss_granted = rss_kib(pid);
    let poll = Duration::from_millis(all[0].poll_ms);
    // Viewers start over RAMP_S (default: one poll interval), then run to the end.
    let ramp = Duration::from_secs(env_num("RAMP_S", poll.as_secs()));
    eprintln!(
        "{viewers} viewers launched in {grant_s:.0} s; load for {} s...",
        duration.as_secs()
    );

    #[derive(Default)]
    struct Kind {
        ok: AtomicU64,
        errors: AtomicU64,
        renewed: AtomicU64,
        lat: std::sync::Mutex<Vec<Duration>>,
        why: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
    }
    let kinds: Arc<[Kind; 3]> = Arc::new(Default::default()); // playlist, key, status
    // At most CONNECTIONS (256: VODGATE_MAX_IN_FLIGHT's default) requests in flight, as a load balancer's connection pool to
    // one instance would hold: 50,000 viewers' sockets on one loopback would take more file
    // descriptors and ports than the generator has, and what failed then was the generator.
    // Latency is counted from when the request was due, so time queued for a connection
    // counts against vodgate.
    let conns = env_num("CONNECTIONS", 256) as usize;
    let lanes = Arc::new(tokio::sync::Semaphore::new(conns));
    let tck = clk_tck();
    let (cpu0, self0) = (cpu_ticks(&pid.to_string()), cpu_ticks("self"));
    let t0 = Instant::now();
    let deadline = tokio::time::Instant::now() + duration;
    let mut tasks = Vec::with_capacity(viewers);
    for (i, viewer) in all.into_iter().enumerate() {
        let (http, kinds, lanes) = (http.clone(), kinds.clone(), lanes.clone());
        let offset = ramp.mul_f64(i as f64 / viewers as f64);
        tasks.push(tokio::spawn(async move {
            let get = |url: String, kind: usize| {
                let req = http.get(url).header("cookie", &viewer.cookie);
                let (kinds, lanes) = (kinds.clone(), lanes.clone());
                async move {
                    let t = Instant::now();
                    let _lane = lanes.acquire().await.unwrap();
                    // While viewers are still arriving (the first ramp), or after.
                    let phase = if t0.elapsed() < ramp { "arrival" } else { "steady" };
                    let k = &kinds[kind];
                    match req.send().await {
                        Ok(r) if r.status() == 200 => {
                            if r.headers().contains_key("set-cookie") && kind == 2 {
                                k.renewed.fetch_add(1, Ordering::Relaxed);
                            }
                            let _ = r.bytes().await;
                            k.ok.fetch_add(1, Ordering::Relaxed);
                            if phase == "steady" {
                                k.lat.lock().unwrap().push(t.elapsed());
                            }
                        }
                        other => {
                            k.errors.fetch_add(1, Ordering::Relaxed);
                            let why = match other {
                                Ok(r) => {
                                    let status = r.status().as_u16();
                                    let body: serde_json::Value =
                                        r.json().await.unwrap_or_default();
                                    format!(
                                        "{phase}: {status} {}",
                                        body["code"].as_str().unwrap_or("-")
                                    )
                                }
                                Err(e) if e.is_timeout() => format!("{phase}: timeout"),
                                Err(_) => format!("{phase}: connection"),
                            };
                            *k.why.lock().unwrap().entry(why).or_default() += 1;
                        }
                    }
                }
            };
            tokio::time::sleep(offset).await;
            get(format!("{}/master.m3u8", viewer.play), 0).await;
            get(format!("{}/180p/index.m3u8", viewer.play), 0).await;
            let start = tokio::time::Instant::now();
            let mut polls = tokio::time::interval_at(start + poll, poll);
            let mut keys = tokio::time::interval_at(start, key_period);
            let mut n = 0;
            loop {
                tokio::select! {
                    _ = polls.tick() => get(format!("{}/status", viewer.play), 2).await,
                    _ = keys.tick() => { get(format!("{}/keys/k{}.key", viewer.play, n % 6), 1).await; n += 1; }
                    _ = tokio::time::sleep_until(deadline) => break,
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let wall = t0.elapsed().as_secs_f64();
    let (cpu1, self1) = (cpu_ticks(&pid.to_string()), cpu_ticks("self"));
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let total: u64 = kinds.iter().map(|k| k.ok.load(Ordering::Relaxed)).sum();
    let errors: u64 = kinds.iter().map(|k| k.errors.load(Ordering::Relaxed)).sum();
    let cores = (cpu1 - cpu0) as f64 / tck / wall;
    println!(
        "one instance, {viewers} cdn-mode viewers (akamai cookie tokens) arriving over {} s, at most {conns} requests in flight: status poll every {} s (the page's), a key every {} s, {:.0} s; one release vodgate on Redis, generator on the same 2 cores",
        ramp.as_secs(),
        poll.as_secs(),
        key_period.as_secs(),
        wall
    );
    println!(
        "  launches (grant + launch link + watch page, 64 in parallel): {grant_s:.0} s, {:.0} viewers/s",
        viewers as f64 / grant_s
    );
    println!(
        "  requests ok {total} ({:.0} req/s)  errors {errors}",
        total as f64 / wall
    );
    for (i, name) in ["playlist", "key", "status"].iter().enumerate() {
        let k = &kinds[i];
        let mut lat = std::mem::take(&mut *k.lat.lock().unwrap());
        lat.sort();
        println!(
            "  {name:8}: ok {:7}  errors {:5}  steady-state p50 {:6.2} ms  p99 {:7.2} ms  max {:7.1} ms{}",
            k.ok.load(Ordering::Relaxed),
            k.errors.load(Ordering::Relaxed),
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 0.99)),
            ms(percentile(&lat, 1.0)),
            if i == 2 {
                format!(
                    "  (cookie renewed on {})",
                    k.renewed.load(Ordering::Relaxed)
                )
            } else {
                String::new()
            }
        );
        let why = k.why.lock().unwrap();
        if !why.is_empty() {
            println!("            errors by kind: {why:?}");
        }
    }
    println!(
        "  vodgate VmRSS: idle {:.1} MB  after launches {:.1} MB  peak {:.1} MB",
        mib(rss_idle),
        mib(rss_granted),
        mib(peak.load(Ordering::Relaxed))
    );
    println!(
        "  vodgate CPU {:.2} cores ({:.0} µs per request); load generator {:.2} cores",
        cores,
        cores * 1e6 / (total as f64 / wall).max(1.0),
        (self1 - self0) as f64 / tck / wall
    );
}

fn part3(dir: &std::path::Path) {
    use vodgate::cdn::{Cdn, CdnSettings, TokenKind, TokenPlace};
    let pem = dir.join("cf.pem");
    let ok = Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&pem)
        .arg("2048")
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(ok.success());
    let n = 2_000;
    let time = |f: &dyn Fn(usize)| {
        let t = Instant::now();
        for i in 0..n {
            f(i);
        }
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    };
    let base = {
        use hmac::{KeyInit, Mac};
        time(&|i| {
            let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"key").unwrap();
            m.update(format!("st=1~exp=2~acl=/media/rotating/*~id=pb_{i}").as_bytes());
            std::hint::black_box(m.finalize());
        })
    };
    println!("token cost, in process, {n} tokens each (each a new playback: no cache)");
    println!("  baseline HMAC-SHA256 of the same line: {base:.2} µs");
    for (kind, key, kid) in [
        (TokenKind::Cat, AKAMAI_KEY.to_owned(), Some("k1")),
        (
            TokenKind::CloudFront,
            pem.display().to_string(),
            Some("K2JCJMDEHXQW5F"),
        ),
        (TokenKind::Akamai, AKAMAI_KEY.to_owned(), None),
        (TokenKind::SecureLink, SECRET.to_owned(), None),
    ] {
        let cdn = Cdn::new(CdnSettings {
            base_url: "https://cdn.shop.example/media/{video_id}/{path}".into(),
            token: kind,
            key: Some(key.into()),
            key_id: kid.map(str::to_owned),
            place: TokenPlace::Query,
            cookie_domain: None,
            ttl: None,
            public_url: url::Url::parse("https://watch.shop.example/").unwrap(),
        })
        .unwrap();
        // secure_link signs per URI: one token = the 12 segment URIs of `rotating`.
        let us = time(&|i| {
            let t = cdn.token("rotating", &format!("pb_{i}"), 1_000_000, None);
            let mut out = String::new();
            for s in 0..12 {
                t.push_segment_uri(&format!("180p/seg{s}.ts"), &mut out);
            }
            std::hint::black_box(out);
        });
        println!(
            "  {:11}: {us:8.2} µs per playback's token and 12 segment URIs ({:.0}x the HMAC)",
            kind.as_str(),
            us / base
        );
    }
}

#[tokio::main]
async fn main() {
    let part = env_num("PART", 0);
    let dir = std::env::temp_dir().join(format!("vodgate-bench-cdn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (_redis, rport) = spawn_redis(&dir);
    if part == 0 || part == 3 {
        part3(&dir);
    }
    if part == 0 || part == 1 {
        let (_nginx, nport) = spawn_nginx(&dir.join("nginx"));
        part1(rport, nport).await;
    }
    if part == 0 || part == 2 {
        part2(rport).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}
