//! `spawn_app()` and friends. A throwaway `redis-server` is started once per test binary
//! on a free port (or `VODGATE_TEST_REDIS_URL` is used: one server or a
//! `redis+cluster://` URL); every test gets a random key prefix, so tests run in parallel
//! without seeing each other's state.

use secrecy::SecretString;
use serde_json::{Value, json};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;
use vodgate::config::Config;
use vodgate::http::server::Application;

/// An API key in vodgate's format, minted per test process (never a literal in the repo).
pub fn mint_api_key() -> String {
    format!(
        "vg_key_{}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..16],
        vodgate::token::Token::mint("").reveal()
    )
}

/// The bootstrap key every test app accepts.
pub static TEST_API_KEY: std::sync::LazyLock<String> = std::sync::LazyLock::new(mint_api_key);

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A redis-server that lives as long as this test process: a small shell watchdog kills
/// it when the test process is gone, so no server outlives the run.
pub fn redis_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("VODGATE_TEST_REDIS_URL") {
            return url;
        }
        let (port, _) = spawn_redis_server(&[]);
        format!("redis://127.0.0.1:{port}/")
    })
    .clone()
}

/// A raw connection to the test Redis, one server or a cluster alike (`VODGATE_TEST_REDIS_URL`
/// may be `redis+cluster://…`), for tests that read or write keys behind vodgate's back.
/// Keys given to it are not prefixed.
pub async fn raw_redis() -> impl redis::aio::ConnectionLike + Clone {
    vodgate::store::RedisStore::open(&redis_url(), "")
        .expect("open the test Redis")
        .raw_connection()
}

/// Start a redis-server bound to this test process's lifetime. Returns its port and pid.
pub fn spawn_redis_server(extra: &[&str]) -> (u16, u32) {
    let port = free_port();
    spawn_redis_server_on(port, extra)
}

pub fn spawn_redis_server_on(port: u16, extra: &[&str]) -> (u16, u32) {
    spawn_redis_process(port, "", extra)
}

/// A Redis Sentinel on `port` watching the master on `master_port` as `service`, agreeing
/// with two other sentinels (quorum 2) and calling a master down after 1 s. Returns its pid.
pub fn spawn_sentinel_on(port: u16, master_port: u16, service: &str) -> u32 {
    let dir = std::env::temp_dir().join(format!("vodgate-test-redis-{port}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // Sentinel rewrites its configuration file as it learns the topology.
    let conf = dir.join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "sentinel monitor {service} 127.0.0.1 {master_port} 2\n\
             sentinel down-after-milliseconds {service} 1000\n\
             sentinel failover-timeout {service} 5000\n\
             sentinel parallel-syncs {service} 1\n"
        ),
    )
    .unwrap();
    spawn_redis_process(port, &format!("{} --sentinel", conf.display()), &[]).1
}

/// `redis-server <leading> --port <port> … <extra>`, killed when this test process ends.
fn spawn_redis_process(port: u16, leading: &str, extra: &[&str]) -> (u16, u32) {
    if Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!(
            "the tests need `redis-server` on PATH (Debian/Ubuntu: apt-get install redis-server), or VODGATE_TEST_REDIS_URL"
        );
    }
    let dir = std::env::temp_dir().join(format!("vodgate-test-redis-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let script = format!(
        "redis-server {leading} --port {port} --bind 127.0.0.1 --save '' --dir {dir} {extra} >{dir}/redis.log 2>&1 & r=$!; echo $r; \
         while kill -0 {me} 2>/dev/null && kill -0 $r 2>/dev/null; do sleep 0.5; done; kill $r 2>/dev/null",
        dir = dir.display(),
        extra = extra.join(" "),
        me = std::process::id()
    );
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server");
    let mut pid = String::new();
    {
        use std::io::BufRead;
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        out.read_line(&mut pid).unwrap();
    }
    let pid: u32 = pid.trim().parse().expect("redis-server pid");
    // The watchdog shell lives as long as this process; reap it when it ends.
    std::thread::spawn(move || child.wait());
    // Up to 15 s: on a loaded 2-core CI machine, with the suite's other servers starting
    // beside it, 5 s was once not enough.
    for _ in 0..600 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (port, pid);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("redis-server did not start on port {port} within 15 s");
}

pub fn random_prefix() -> String {
    format!("test:{}:", uuid::Uuid::new_v4().simple())
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum StoreKind {
    Redis,
    Memory,
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub api_key: String,
    pub config: Config,
}

pub fn test_config(store: StoreKind) -> Config {
    let mut c = Config::from_sources(None, |_| None).unwrap();
    c.listen = "127.0.0.1:0".parse().unwrap();
    c.public_url = "http://127.0.0.1:0/".parse().unwrap();
    c.bootstrap_api_key = Some(SecretString::from(TEST_API_KEY.as_str()));
    if store == StoreKind::Redis {
        c.redis_url = Some(SecretString::from(redis_url()));
        c.redis_prefix = random_prefix();
    }
    c
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(test_config(StoreKind::Redis)).await
}

pub async fn spawn_app_with(config: Config) -> TestApp {
    vodgate::telemetry::init_for_tests();
    let app = Application::build(config.clone()).await.expect("build app");
    let port = app.port();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let api_key = config
        .bootstrap_api_key
        .as_ref()
        .map(|k| secrecy::ExposeSecret::expose_secret(k).to_owned())
        .unwrap_or_default();
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client,
        api_key,
        config,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn tokens(&self) -> Value {
        let r = self
            .client
            .post(self.url("/auth/api-key"))
            .json(&json!({"apiKey": self.api_key}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    pub async fn bearer(&self) -> String {
        self.tokens().await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// An admin call with Basic auth (the API key as user name, empty password).
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .request(method, self.url(path))
            .basic_auth(&self.api_key, Some(""));
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    pub async fn grant(&self, body: Value) -> (u16, Value) {
        let r = self
            .admin(reqwest::Method::POST, "/v1/entitlements", Some(body))
            .await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }
}

/// Assert the one error shape and return its code.
pub async fn problem(r: reqwest::Response, status: u16) -> String {
    assert_eq!(r.status().as_u16(), status, "unexpected status");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = r.json().await.unwrap();
    for k in ["type", "title", "status", "code", "detail"] {
        assert!(body.get(k).is_some(), "problem body lacks {k}: {body}");
    }
    assert_eq!(body["status"], status);
    body["code"].as_str().unwrap().to_owned()
}

/// A viewer's browser, reduced to what matters: the session cookie it got from a launch link.
/// The player's master playlist URL on a watch page (its `data-src`).
pub fn master_of(html: &str) -> String {
    html.split("data-src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("watch page has a player")
        .to_owned()
}

/// The folder of a playback's master playlist: `/play/pb_…`.
pub fn play_dir(master: &str) -> String {
    master.rsplit_once('/').unwrap().0.to_owned()
}

/// `name=value` of the cookie a response sets, if it sets one.
pub fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get("set-cookie")
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned())
}

/// Grant on a vodgate reached by plain HTTP (a spawned binary), with the test API key.
pub async fn grant_through(c: &reqwest::Client, base: &str, body: Value) -> Value {
    let r = c
        .post(format!("{base}/v1/entitlements"))
        .basic_auth(TEST_API_KEY.as_str(), Some(""))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "grant");
    r.json().await.unwrap()
}

/// Open a watch link on a vodgate reached by plain HTTP (a spawned binary): follow the launch
/// link, load the watch page. The session cookie and the master playlist URL.
pub async fn watch_through(c: &reqwest::Client, base: &str, watch_url: &str) -> (String, String) {
    let r = c.get(watch_url).send().await.unwrap();
    assert_eq!(
        r.status(),
        303,
        "the launch link redirects to the watch page"
    );
    let cookie = session_cookie(&r).expect("the launch link sets a session cookie");
    let page = r.headers()["location"].to_str().unwrap().to_owned();
    let html = c
        .get(format!("{base}{page}"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (cookie, master_of(&html))
}

#[derive(Clone)]
pub struct Viewer {
    pub cookie: Option<String>,
    pub entitlement_id: String,
}

impl TestApp {
    /// Follow a watch_url like a browser: consume the launch link, keep the cookie.
    pub async fn launch(&self, watch_url: &str) -> (u16, Viewer) {
        let r = self.client.get(watch_url).send().await.unwrap();
        let status = r.status().as_u16();
        let cookie = session_cookie(&r);
        let entitlement_id = r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().trim_start_matches("/watch/").to_owned())
            .unwrap_or_default();
        (
            status,
            Viewer {
                cookie,
                entitlement_id,
            },
        )
    }

    /// Grant `video_id` to a fresh viewer and open it: the viewer and the master playlist URL.
    pub async fn start_watching(&self, video_id: &str) -> (Viewer, String) {
        let (_, e) = self
            .grant(json!({"viewer_id": "watcher", "video_id": video_id}))
            .await;
        let (status, viewer) = self.launch(e["watch_url"].as_str().unwrap()).await;
        assert_eq!(status, 303);
        let html = self
            .get_as(&viewer, &format!("/watch/{}", viewer.entitlement_id))
            .await
            .text()
            .await
            .unwrap();
        (viewer, master_of(&html))
    }

    /// One page of `GET /v1/audit?{query}`: its events.
    pub async fn audit(&self, query: &str) -> Vec<Value> {
        let body: Value = self
            .admin(reqwest::Method::GET, &format!("/v1/audit?{query}"), None)
            .await
            .json()
            .await
            .unwrap();
        body["data"].as_array().cloned().unwrap()
    }

    pub async fn get_as(&self, viewer: &Viewer, path: &str) -> reqwest::Response {
        let mut r = self.client.get(self.url(path));
        if let Some(c) = &viewer.cookie {
            r = r.header("cookie", c);
        }
        r.send().await.unwrap()
    }
}

/// An HTTP request sent byte for byte, so paths reach the server exactly as written
/// (HTTP clients normalise `..` away before sending).
pub async fn raw_get(port: u16, path: &str, cookie: Option<&str>) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{cookie}Connection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 64];
    let n = s.read(&mut buf).await.unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    head.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// What every node of a test cluster runs with. A node that misses its peers for 1 s is
/// failed; `replica-validity-factor 0` lets a replica take over however long it was cut off.
pub const CLUSTER_ARGS: [&str; 10] = [
    "--cluster-enabled",
    "yes",
    "--cluster-config-file",
    "nodes.conf",
    "--cluster-node-timeout",
    "1000",
    "--cluster-require-full-coverage",
    "no",
    "--cluster-replica-validity-factor",
    "0",
];

/// A cluster of this test's own: three masters with `replicas` replicas each. Returns
/// (ports, pids, redis+cluster:// URL of every node), once every node says the cluster is ok
/// and every replica's link to its master is up.
pub fn start_cluster(replicas: usize) -> (Vec<u16>, Vec<u32>, String) {
    let n = 3 * (1 + replicas);
    let mut ports = vec![];
    while ports.len() < n {
        let p = free_port();
        // Each node also listens on its cluster bus port, port + 10000.
        if p < 55_000
            && std::net::TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok()
            && !ports.contains(&p)
        {
            ports.push(p);
        }
    }
    let mut pids = vec![];
    for &p in &ports {
        let _ =
            std::fs::remove_dir_all(std::env::temp_dir().join(format!("vodgate-test-redis-{p}")));
        pids.push(spawn_redis_server_on(p, &CLUSTER_ARGS).1);
    }
    let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let out = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&nodes)
        .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
        .output()
        .expect("the tests need redis-cli (it comes with redis-server)");
    assert!(
        out.status.success(),
        "redis-cli --cluster create: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    for &p in &ports {
        loop {
            let info = redis_cli(p, &["cluster", "info"]);
            let repl = redis_cli(p, &["info", "replication"]);
            let linked = repl.contains("role:master") || repl.contains("master_link_status:up");
            if info.contains("cluster_state:ok") && linked {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "node {p} never became ok: {info}{repl}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    (ports, pids, format!("redis+cluster://{}/", nodes.join(",")))
}

/// `redis-cli -p <port> <args>`: its output (empty when the node does not answer).
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// A real nginx (no master, no daemon) on a free loopback port, with `server` as the inside
/// of its one `server {}` block. Killed, and its folder removed, on drop.
pub struct Nginx {
    child: std::process::Child,
    pub port: u16,
    pub dir: std::path::PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Nginx {
    /// Lines of its access log (`$status $request_uri` when `server` asks for `access_log
    /// {dir}/access.log short;`).
    pub fn access_log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("access.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

pub fn spawn_nginx(server: &str) -> Nginx {
    use std::path::Path;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("vodgate-nginx-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    let d = dir.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         error_log {d}/error.log warn;\nevents {{ worker_connections 256; }}\n\
         http {{\n  access_log off;\n  sendfile on;\n\
         log_format short '$status $request_uri';\n\
         types {{ video/mp2t ts; application/vnd.apple.mpegurl m3u8; video/mp4 mp4 m4s; }}\n\
         client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;\n\
         uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;\n\
         server {{\n    listen 127.0.0.1:{port};\n{}\n  }}\n}}\n",
        server.replace("{dir}", &d.to_string())
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    // Debian puts it in /usr/sbin, which is not on every user's PATH.
    let bin = ["/usr/sbin/nginx", "/usr/local/sbin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("nginx");
    let child = Command::new(bin)
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("error.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx is installed (apt-get install nginx)");
    let nginx = Nginx { child, port, dir };
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "nginx did not start: {}",
            std::fs::read_to_string(nginx.dir.join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    nginx
}
