//! The local origin behind a real nginx (`VODGATE_ACCEL_REDIRECT_PREFIX`): vodgate decides
//! every playlist, key and segment request; for keys and segments it answers with
//! `X-Accel-Redirect` and nginx sends the file from an `internal` location.

use crate::helpers::*;
use reqwest::Method;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Nginx {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One nginx process (no master, no daemon) proxying to vodgate, with the media folder
/// behind an `internal` location, as docs/behind-nginx.md shows.
fn spawn_nginx(vodgate_port: u16, media: &Path) -> Nginx {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("vodgate-nginx-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    let d = dir.display();
    let media = media.canonicalize().unwrap();
    let m = media.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         error_log {d}/error.log warn;\nevents {{ worker_connections 256; }}\n\
         http {{\n  access_log off;\n  sendfile on;\n\
         types {{ video/mp2t ts; application/vnd.apple.mpegurl m3u8; }}\n\
         client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;\n\
         uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;\n\
         server {{\n    listen 127.0.0.1:{port};\n\
         location /_media/ {{ internal; alias {m}/; }}\n\
         location / {{ proxy_pass http://127.0.0.1:{vodgate_port}; proxy_http_version 1.1; \
         proxy_set_header Connection \"\"; }}\n  }}\n}}\n"
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

#[tokio::test]
async fn behind_nginx_vodgate_checks_every_request_and_nginx_sends_the_bytes() {
    let mut config = test_config(StoreKind::Redis);
    config.origin = vodgate::config::OriginConfig::Local {
        media_dir: "media".into(),
        accel_redirect: Some("/_media/".into()),
    };
    let app = spawn_app_with(config).await;
    let nginx = spawn_nginx(app.port, Path::new("media"));
    let (viewer, master) = app.start_watching("sample").await;
    let dir = play_dir(&master);
    let cookie = viewer.cookie.clone().unwrap();
    let seg = format!("{dir}/360p/seg0.ts");
    let file = std::fs::read("media/sample/360p/seg0.ts").unwrap();

    // vodgate itself answers a checked segment with the file nginx should send.
    let r = app.get_as(&viewer, &seg).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["x-accel-redirect"],
        "/_media/sample/360p/seg0.ts"
    );
    assert!(r.bytes().await.unwrap().is_empty());

    // Through nginx: the bytes, with Range, and vodgate's headers kept.
    let via = |path: &str| format!("http://127.0.0.1:{}{path}", nginx.port);
    let c = reqwest::Client::new();
    let r = c
        .get(via(&seg))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "video/mp2t");
    assert!(r.headers().get("x-accel-redirect").is_none());
    assert_eq!(r.headers()["cache-control"], "private, max-age=300");
    assert_eq!(r.bytes().await.unwrap().as_ref(), file.as_slice());
    let r = c
        .get(via(&seg))
        .header("cookie", &cookie)
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 100-199/{}", file.len())
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), &file[100..200]);
    let r = c
        .get(via(&format!("{dir}/enc.key")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.bytes().await.unwrap().len(), 16);
    // Playlists are still vodgate's own (rewritten) answers.
    let text = c
        .get(via(&master))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.starts_with("#EXTM3U") && text.contains("/play/"),
        "{text}"
    );

    // The internal location cannot be asked for directly, and no cookie means no bytes.
    let r = c
        .get(via("/_media/sample/360p/seg0.ts"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = c.get(via(&seg)).send().await.unwrap();
    assert_eq!(r.status(), 403);

    // A revocation stops the very next segment through nginx.
    let id = &viewer.entitlement_id;
    let r = app
        .admin(Method::POST, &format!("/v1/entitlements/{id}/revoke"), None)
        .await;
    assert_eq!(r.status(), 200);
    let r = c
        .get(via(&seg))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "revoked");
}
