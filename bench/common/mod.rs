//! What the benchmarks that start processes share: ports, process handles, /proc readings.
#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command};
use std::time::Duration;

/// A child process killed on drop.
pub struct Kill(pub Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_for(port: u16) {
    for _ in 0..400 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("nothing listens on {port}");
}

pub fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// VmRSS of `pid` in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    status_field(pid, "VmRSS:")
}

pub fn status_field(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// utime + stime of `pid` in clock ticks.
pub fn cpu_ticks(pid: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which ends with ')'): state is field 3, utime 14, stime 15.
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

pub fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0)
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A viewer with its own entitlement, launched: its session cookie, its playback's folder
/// (`http://…/play/pb_…`) and the watch page's status poll interval.
pub struct Viewer {
    pub cookie: String,
    pub play: String,
    pub poll_ms: u64,
}

/// Grant `body` through the API with `bearer`, follow the launch link, load the watch page.
pub async fn watch(
    http: &reqwest::Client,
    v: &str,
    bearer: &str,
    body: &serde_json::Value,
) -> Result<Viewer, String> {
    let e: serde_json::Value = http
        .post(format!("{v}/v1/entitlements"))
        .bearer_auth(bearer)
        .json(body)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .error_for_status()
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let id = e["id"].as_str().ok_or("no id")?.to_owned();
    let launch = e["watch_url"].as_str().ok_or("no watch_url")?;
    let r = http.get(launch).send().await.map_err(|e| e.to_string())?;
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|c| c.to_str().ok())
        .and_then(|c| c.split(';').next())
        .ok_or_else(|| format!("launch answered {} without a cookie", r.status()))?
        .to_owned();
    let html = http
        .get(format!("{v}/watch/{id}"))
        .header("cookie", &cookie)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let attr = |name: &str| {
        html.split(&format!("{name}=\""))
            .nth(1)
            .and_then(|s| s.split('"').next())
            .map(str::to_owned)
    };
    let master = attr("data-src").ok_or("no data-src on the watch page")?;
    Ok(Viewer {
        cookie,
        play: format!("{v}{}", master.rsplit_once('/').unwrap().0),
        poll_ms: attr("data-poll-ms")
            .and_then(|p| p.parse().ok())
            .unwrap_or(2000),
    })
}

/// Start a redis-server on a free port (no persistence): its handle and port.
pub fn spawn_redis(dir: &std::path::Path) -> (Kill, u16) {
    let port = free_port();
    let k = Kill(
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
            ])
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server on PATH"),
    );
    wait_for(port);
    (k, port)
}

/// A throwaway bootstrap key for this run, minted rather than written down.
pub static KEY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "{}{}_{}",
        vodgate::token::API_KEY_PREFIX,
        &uuid::Uuid::new_v4().simple().to_string()[..16],
        vodgate::token::Token::mint("").reveal()
    )
});
