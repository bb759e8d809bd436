//! CDN delivery (`VODGATE_DELIVERY=cdn`): playlists and keys from vodgate, segments from a
//! CDN stand-in that checks vodgate's tokens itself. nginx with its own `secure_link` module
//! verifies `secure_link` tokens; the other formats are verified by independent
//! implementations in `cdn_formats.rs`. vodgate's own code never checks its own tokens here.

use crate::helpers::*;
use serde_json::json;
use std::path::Path;
use std::time::Duration;
use vodgate::cdn::{Cdn, CdnSettings, TokenKind, TokenPlace};
use vodgate::config::{Config, Delivery};

pub const SECURE_LINK_SECRET: &str = "nginx-secure-link-secret";

/// nginx serving the media folder under `/media/`, checking `secure_link` exactly as
/// nginx's documentation writes it, answering CORS for the watch page's origin.
pub fn spawn_secure_link_cdn() -> Nginx {
    let m = Path::new("media").canonicalize().unwrap();
    spawn_nginx(&format!(
        "access_log {{dir}}/access.log short;\n\
         location /media/ {{\n\
           alias {}/;\n\
           secure_link $arg_md5,$arg_expires;\n\
           secure_link_md5 \"$secure_link_expires$uri {SECURE_LINK_SECRET}\";\n\
           if ($secure_link = \"\") {{ return 403; }}\n\
           if ($secure_link = \"0\") {{ return 410; }}\n\
           add_header Access-Control-Allow-Origin * always;\n\
         }}\n",
        m.display()
    ))
}

/// A vodgate whose segments come from `base_url` with `token`.
pub fn cdn_config(
    delivery: Delivery,
    base_url: &str,
    token: TokenKind,
    key: Option<&str>,
    key_id: Option<&str>,
    place: TokenPlace,
) -> Config {
    let mut config = test_config(StoreKind::Redis);
    config.delivery = delivery;
    config.cdn = Some(
        Cdn::new(CdnSettings {
            base_url: base_url.into(),
            token,
            key: key.map(|k| k.to_owned().into()),
            key_id: key_id.map(str::to_owned),
            place,
            cookie_domain: None,
            ttl: None,
            public_url: config.public_url.clone(),
        })
        .expect("CDN settings"),
    );
    config
}

/// The lines of a playlist that are not tags.
pub fn uri_lines(playlist: &str) -> Vec<String> {
    playlist
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// ffmpeg reads the whole film from `url` with the cookie; the duration it wrote.
pub async fn ffmpeg_reads(url: &str, cookie: &str) -> f64 {
    let out =
        std::env::temp_dir().join(format!("vodgate-cdn-{}.ts", uuid::Uuid::new_v4().simple()));
    let o = tokio::process::Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y", "-headers"])
        .arg(format!("Cookie: {cookie}\r\n"))
        .args(["-i", url, "-map", "0:v:0", "-map", "0:a:0", "-c", "copy"])
        .arg(&out)
        .output()
        .await
        .expect("ffmpeg is installed (apt-get install ffmpeg)");
    assert!(
        o.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let probe = tokio::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(&out)
        .output()
        .await
        .unwrap();
    let _ = std::fs::remove_file(&out);
    String::from_utf8_lossy(&probe.stdout)
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn ffmpeg_reads_a_whole_film_with_every_segment_from_nginx_and_none_from_vodgate() {
    let nginx = spawn_secure_link_cdn();
    let base = format!(
        "http://127.0.0.1:{}/media/{{video_id}}/{{path}}",
        nginx.port
    );
    let app = spawn_app_with(cdn_config(
        Delivery::Cdn,
        &base,
        TokenKind::SecureLink,
        Some(SECURE_LINK_SECRET),
        None,
        TokenPlace::Query,
    ))
    .await;
    let (viewer, master) = app.start_watching("sample").await;
    let cookie = viewer.cookie.clone().unwrap();
    let dir = play_dir(&master);

    // The master playlist's variants and the media playlist's key stay at vodgate; every
    // segment points at nginx with its own token.
    let text = app.get_as(&viewer, &master).await.text().await.unwrap();
    assert!(
        uri_lines(&text).iter().all(|u| u.starts_with(&dir)),
        "{text}"
    );
    let r = app.get_as(&viewer, &format!("{dir}/360p/index.m3u8")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let media = r.text().await.unwrap();
    assert!(media.contains(&format!("URI=\"{dir}/enc.key\"")), "{media}");
    let segs = uri_lines(&media);
    assert_eq!(segs.len(), 4);
    let cdn = format!("http://127.0.0.1:{}/media/sample/360p/", nginx.port);
    for (i, s) in segs.iter().enumerate() {
        assert!(s.starts_with(&format!("{cdn}seg{i}.ts?md5=")), "{s}");
    }

    // nginx's own secure_link check accepts each one and sends the file.
    let c = reqwest::Client::new();
    let r = c.get(&segs[0]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        std::fs::read("media/sample/360p/seg0.ts")
            .unwrap()
            .as_slice()
    );

    // ffmpeg plays the whole film: playlists and key from vodgate, segments from nginx.
    let before = nginx.access_log().len();
    let duration = ffmpeg_reads(&app.url(&master), &cookie).await;
    assert!(
        (duration - 16.0).abs() <= 4.0,
        "duration {duration} s vs 16 s source"
    );
    let log = nginx.access_log()[before..].to_vec();
    // (ffmpeg asks with Range: nginx answers 206.)
    let served = |l: &&String| l.starts_with("200 ") || l.starts_with("206 ");
    let fetched: Vec<&String> = log
        .iter()
        .filter(|l| l.contains(" /media/sample/"))
        .collect();
    assert!(
        fetched.len() >= 4,
        "ffmpeg fetched its segments from nginx: {log:?}"
    );
    assert!(
        log.iter().all(|l| served(&l)),
        "nginx refused nothing: {log:?}"
    );

    // vodgate serves no segment of a cdn playback, even to its own viewer.
    let code = problem(
        app.get_as(&viewer, &format!("{dir}/360p/seg0.ts")).await,
        404,
    )
    .await;
    assert_eq!(code, "unknown_asset");
}

#[tokio::test]
async fn nginx_refuses_a_tampered_an_expired_and_another_videos_token() {
    let nginx = spawn_secure_link_cdn();
    let base = format!(
        "http://127.0.0.1:{}/media/{{video_id}}/{{path}}",
        nginx.port
    );
    let app = spawn_app_with(cdn_config(
        Delivery::Relay,
        &base,
        TokenKind::SecureLink,
        Some(SECURE_LINK_SECRET),
        None,
        TokenPlace::Query,
    ))
    .await;
    // A grant asks for cdn delivery; the deployment's default stays relay. The rental
    // ends in 3 s, and so does every token it gets.
    let (s, e) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample", "delivery": "cdn", "watch_for_s": 3}))
        .await;
    assert_eq!(s, 201, "{e}");
    assert_eq!(e["delivery"], "cdn");
    let (status, viewer) = app.launch(e["watch_url"].as_str().unwrap()).await;
    assert_eq!(status, 303);
    let html = app
        .get_as(&viewer, &format!("/watch/{}", viewer.entitlement_id))
        .await
        .text()
        .await
        .unwrap();
    let dir = play_dir(&master_of(&html));
    let media = app
        .get_as(&viewer, &format!("{dir}/360p/index.m3u8"))
        .await
        .text()
        .await
        .unwrap();
    let seg = uri_lines(&media)[0].clone();
    let c = reqwest::Client::new();
    let status = |u: String| {
        let c = c.clone();
        async move { c.get(u).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(seg.clone()).await, 200);
    let (path, query) = seg.split_once('?').unwrap();
    let expires: i64 = query.split("expires=").nth(1).unwrap().parse().unwrap();
    assert!(
        expires <= chrono::Utc::now().timestamp() + 3,
        "bounded by the rental's end"
    );
    // Tampered: a later expiry, a changed hash, no token.
    let later = format!(
        "{path}?{}",
        query.replace(
            &format!("expires={expires}"),
            &format!("expires={}", expires + 3600)
        )
    );
    assert_eq!(status(later).await, 403);
    let md5 = query.split('&').next().unwrap().trim_start_matches("md5=");
    let flipped = format!(
        "{}{}",
        if md5.starts_with('A') { "B" } else { "A" },
        &md5[1..]
    );
    assert_eq!(status(seg.replace(md5, &flipped)).await, 403);
    assert_eq!(status(path.to_owned()).await, 403);
    // Another video (or another file of it) with this token.
    assert_eq!(
        status(seg.replace("/media/sample/", "/media/trailer/")).await,
        403
    );
    assert_eq!(status(seg.replace("seg0.ts", "seg1.ts")).await, 403);
    // Expired with the rental: nginx answers 410, its "expired" verdict.
    tokio::time::sleep(Duration::from_secs(
        (expires - chrono::Utc::now().timestamp() + 1).max(0) as u64,
    ))
    .await;
    assert_eq!(status(seg).await, 410);

    // A relay grant on the same deployment still gets gateway segment URIs.
    let (relay, relay_master) = app.start_watching("sample").await;
    let media = app
        .get_as(
            &relay,
            &format!("{}/360p/index.m3u8", play_dir(&relay_master)),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(
        uri_lines(&media).iter().all(|u| u.starts_with("/play/")),
        "{media}"
    );
}

#[tokio::test]
async fn cdn_delivery_without_a_cdn_is_a_422_never_unsigned_urls() {
    let app = spawn_app().await;
    let (s, body) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample", "delivery": "cdn"}))
        .await;
    assert_eq!(s, 422);
    assert_eq!(body["code"], "delivery_unavailable");
    let (s, body) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample", "delivery": "edge"}))
        .await;
    assert_eq!(s, 400, "{body}");
}

/// Keys are the checkpoint: the `rotating` title changes its key every 2 segments (4 s),
/// its segments come from nginx, and ffmpeg reads it at playback speed. After a revoke the
/// next key is refused, so what ffmpeg wrote stops within one key period of the revoke,
/// though every segment URI it holds is still good at nginx.
#[tokio::test]
async fn after_a_revoke_playback_stops_at_the_next_key_change_while_segments_come_from_nginx() {
    let nginx = spawn_secure_link_cdn();
    let base = format!(
        "http://127.0.0.1:{}/media/{{video_id}}/{{path}}",
        nginx.port
    );
    let app = spawn_app_with(cdn_config(
        Delivery::Cdn,
        &base,
        TokenKind::SecureLink,
        Some(SECURE_LINK_SECRET),
        None,
        TokenPlace::Query,
    ))
    .await;
    let (viewer, master) = app.start_watching("rotating").await;
    let cookie = viewer.cookie.clone().unwrap();
    let dir = play_dir(&master);
    let media = app
        .get_as(&viewer, &format!("{dir}/180p/index.m3u8"))
        .await
        .text()
        .await
        .unwrap();
    let keys: Vec<&str> = media
        .lines()
        .filter_map(|l| l.split("URI=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(keys.len(), 12, "a key tag before every segment: {media}");
    assert!(
        keys.iter().all(|k| k.starts_with(&format!("{dir}/keys/k"))),
        "keys stay at vodgate"
    );
    assert_eq!(app.get_as(&viewer, keys[0]).await.status(), 200);

    let out =
        std::env::temp_dir().join(format!("vodgate-rot-{}.ts", uuid::Uuid::new_v4().simple()));
    let ffmpeg = tokio::process::Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y", "-re", "-headers"])
        .arg(format!("Cookie: {cookie}\r\n"))
        .args(["-i", &app.url(&master), "-c", "copy"])
        .arg(&out)
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg is installed");
    // Revoke 6 s into the 24 s film.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let r = app
        .admin(
            reqwest::Method::POST,
            &format!("/v1/entitlements/{}/revoke", viewer.entitlement_id),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let revoked_at = std::time::Instant::now();
    let _ = tokio::time::timeout(Duration::from_secs(40), ffmpeg.wait_with_output()).await;
    // The next key is refused, with the reason; the segments themselves are still served.
    assert_eq!(
        problem(app.get_as(&viewer, keys[11]).await, 403).await,
        "revoked"
    );
    let segs = uri_lines(&media);
    assert_eq!(
        reqwest::get(&segs[11]).await.unwrap().status(),
        200,
        "nginx still serves ciphertext"
    );

    let probe = tokio::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(&out)
        .output()
        .await
        .unwrap();
    let _ = std::fs::remove_file(&out);
    let written: f64 = String::from_utf8_lossy(&probe.stdout)
        .trim()
        .parse()
        .unwrap_or(0.0);
    // 6 s were played before the revoke; ffmpeg reads a little ahead, and at most one key
    // period (4 s) more was already unlocked.
    assert!(
        written >= 4.0,
        "playback ran before the revoke: {written} s"
    );
    assert!(
        written <= 6.0 + 4.0 + 2.5,
        "stopped within one key period of the revoke: {written} s of 24"
    );
    assert!(revoked_at.elapsed() < Duration::from_secs(40));
}
