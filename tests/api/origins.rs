//! The http origin against a real HTTP server that misbehaves on demand: not HLS, huge (sized
//! or endless), slow (headers or a trickling body), failing, down, and URIs that try to leave
//! the video's base.

use crate::helpers::*;
use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::json;
use std::time::Duration;
use vodgate::config::OriginConfig;

/// Serves `/{video}/{file}`: `sample` from media/sample, the others misbehave by name.
async fn origin(req: actix_web::HttpRequest, path: web::Path<(String, String)>) -> HttpResponse {
    let (video, file) = path.into_inner();
    match video.as_str() {
        // A well-behaved origin: files with Range support.
        "sample" => match actix_files::NamedFile::open(format!("media/sample/{file}")) {
            Ok(f) => f.into_response(&req),
            Err(_) => HttpResponse::NotFound().finish(),
        },
        "nothls" => HttpResponse::Ok().content_type("text/html").body("<html>login page</html>"),
        "huge" => {
            let mut body = String::from("#EXTM3U\n#EXT-X-TARGETDURATION:4\n");
            while body.len() < 5 * 1024 * 1024 {
                body.push_str("#EXTINF:4,\nsegment-with-a-rather-long-name.ts\n");
            }
            HttpResponse::Ok().body(body)
        }
        "slow" => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            HttpResponse::Ok().body("#EXTM3U\n")
        }
        // Chunked, no Content-Length, and it never stops (well, at 64 MiB): only counting the
        // bytes as they arrive catches it.
        "endless" => {
            let line = web::Bytes::from_static(b"#EXTINF:4,\nsegment-with-a-rather-long-name.ts\n");
            let chunks = (0..64 * 1024 * 1024 / line.len())
                .map(move |_| Ok::<_, std::convert::Infallible>(line.clone()));
            HttpResponse::Ok().streaming(futures_util::stream::iter(chunks))
        }
        // Headers at once, then a line every 300 ms: each read is quick, the whole never ends.
        "trickle" => {
            let ticks = futures_util::stream::unfold(0u32, |n| async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let line = if n == 0 { "#EXTM3U\n" } else { "#EXT-X-TARGETDURATION:4\n" };
                (n < 100).then(|| (Ok::<_, std::convert::Infallible>(web::Bytes::from(line)), n + 1))
            });
            HttpResponse::Ok().streaming(ticks)
        }
        "failing" => HttpResponse::InternalServerError().finish(),
        "escape" => HttpResponse::Ok().body("#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\nhttp://169.254.169.254/latest/meta-data\n"),
        _ => HttpResponse::NotFound().finish(),
    }
}

async fn spawn_origin() -> u16 {
    let server = HttpServer::new(|| App::new().route("/{video}/{file:.*}", web::get().to(origin)))
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    port
}

async fn app_on_origin(port: u16) -> TestApp {
    let mut config = test_config(StoreKind::Redis);
    config.origin = OriginConfig::Http {
        url_template: format!("http://127.0.0.1:{port}/{{video_id}}/master.m3u8"),
    };
    config.upstream_timeout = Duration::from_millis(700);
    spawn_app_with(config).await
}

#[tokio::test]
async fn an_http_origin_is_relayed_like_a_local_one() {
    let app = app_on_origin(spawn_origin().await).await;
    let (viewer, master) = app.start_watching("sample").await;
    let text = app.get_as(&viewer, &master).await.text().await.unwrap();
    assert!(
        text.contains("/360p/index.m3u8") && text.contains("/play/pb_"),
        "{text}"
    );
    let dir = master.rsplit_once('/').unwrap().0;
    let r = app
        .client
        .get(app.url(&format!("{dir}/360p/seg0.ts")))
        .header("cookie", viewer.cookie.clone().unwrap())
        .header("range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-type"], "video/mp2t");
    assert_eq!(r.bytes().await.unwrap().len(), 10);
    let r = app.get_as(&viewer, &format!("{dir}/enc.key")).await;
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        std::fs::read("media/sample/enc.key").unwrap().as_slice()
    );
}

#[tokio::test]
async fn a_misbehaving_origin_gets_a_clear_quick_gateway_error() {
    let app = app_on_origin(spawn_origin().await).await;
    for (video, status, code) in [
        ("nothls", 502, "upstream_invalid"),
        ("huge", 502, "upstream_invalid"),
        ("failing", 502, "upstream_unavailable"),
        ("escape", 502, "upstream_invalid"),
        ("missing", 404, "upstream_not_found"),
        ("slow", 504, "upstream_timeout"),
        ("endless", 502, "upstream_invalid"),
        ("trickle", 504, "upstream_timeout"),
    ] {
        let (viewer, master) = app.start_watching(video).await;
        let started = std::time::Instant::now();
        let r = app.get_as(&viewer, &master).await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{video}: no hang"
        );
        let body_status = r.status().as_u16();
        let got = problem(r, status).await;
        assert_eq!((body_status, got.as_str()), (status, code), "{video}");
    }
}

#[tokio::test]
async fn an_origin_that_is_down_is_a_502_not_a_hang() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = app_on_origin(dead).await;
    let (viewer, master) = app.start_watching("sample").await;
    let started = std::time::Instant::now();
    let r = app.get_as(&viewer, &master).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(problem(r, 502).await, "upstream_unavailable");
}

#[tokio::test]
async fn a_video_id_of_dots_cannot_climb_out_of_its_title() {
    // An unvalidated SKU of `.` or `..` put into `http://origin/{video_id}/master.m3u8`
    // would be parsed to `http://origin/master.m3u8` (the origin's root) or to the
    // template's folder itself: another title's files. Refused at the grant.
    let app = app_on_origin(spawn_origin().await).await;
    for id in [".", "..", "..."] {
        let (status, body) = app.grant(json!({"viewer_id": "v", "video_id": id})).await;
        assert_eq!(status, 400, "{id}: {body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("not only dots"),
            "{id}: {body}"
        );
    }
    // Dots inside an id are fine: it is one path segment.
    let (status, _) = app
        .grant(json!({"viewer_id": "v", "video_id": "season.2..final"}))
        .await;
    assert_eq!(status, 201);
}
