//! The viewer side through real HTTP: launch links, the watch page, the /play relay with its
//! access check on every request, revocation at the next request, and real ffmpeg.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn a_launch_link_works_once_and_sets_a_locked_down_cookie() {
    let app = spawn_app().await;
    let (_, e) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample"}))
        .await;
    let url = e["watch_url"].as_str().unwrap();
    let r = app.client.get(url).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        format!("/watch/{}", e["id"].as_str().unwrap())
    );
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain http public URL: no Secure flag"
    );
    // Second use: a clear page, no session.
    let r = app.client.get(url).send().await.unwrap();
    assert_eq!(r.status(), 410);
    assert!(r.headers().get("set-cookie").is_none());
    assert!(r.text().await.unwrap().contains("launch_link_used"));
    // Garbage links are the same page.
    let r = app
        .client
        .get(app.url("/w/vg_wl_nonsense"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
}

#[tokio::test]
async fn cookies_are_secure_behind_an_https_public_url() {
    let mut config = test_config(StoreKind::Redis);
    config.public_url = "https://watch.example/".parse().unwrap();
    let app = spawn_app_with(config).await;
    let (_, e) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample"}))
        .await;
    let url = e["watch_url"]
        .as_str()
        .unwrap()
        .replace("https://watch.example", &app.address);
    let r = app.client.get(url).send().await.unwrap();
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Secure")
    );
}

/// A browser's cookie jar, as far as vodgate's cookies go: name → value, updated from
/// each response's Set-Cookie.
#[derive(Default)]
struct Jar(std::collections::BTreeMap<String, String>);

impl Jar {
    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
    fn take(&mut self, r: &reqwest::Response) {
        for c in r.headers().get_all("set-cookie") {
            let pair = c.to_str().unwrap().split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            self.0.insert(k.to_owned(), v.to_owned());
        }
    }
    async fn get(&mut self, app: &TestApp, url: &str) -> reqwest::Response {
        let mut req = app.client.get(url);
        if !self.0.is_empty() {
            req = req.header("cookie", self.header());
        }
        let r = req.send().await.unwrap();
        self.take(&r);
        r
    }
}

#[tokio::test]
async fn a_browser_with_two_hundred_rentals_keeps_one_cookie_and_plays_every_one() {
    // One cookie per rental put ~90 bytes per rental in every request: past ~170 rentals
    // the 16 KiB header limit answered 431 to everything, and browsers drop cookies past
    // their per-site cap long before. Now a browser holds one session for all its rentals.
    let app = spawn_app().await;
    let mut jar = Jar::default();
    let mut ids = vec![];
    for i in 0..200 {
        let (status, e) = app
            .grant(json!({"viewer_id": "collector", "video_id": "sample", "order_id": format!("o-{i}")}))
            .await;
        assert_eq!(status, 201);
        let r = jar.get(&app, e["watch_url"].as_str().unwrap()).await;
        assert_eq!(r.status(), 303, "launch {i}");
        ids.push(e["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(jar.0.len(), 1, "one cookie: {:?}", jar.0.keys());
    assert!(jar.header().len() < 100, "{}", jar.header());
    for id in [&ids[0], &ids[99], &ids[199]] {
        let r = jar.get(&app, &app.url(&format!("/watch/{id}"))).await;
        assert_eq!(r.status(), 200, "watch page of {id}");
        let master = master_of(&r.text().await.unwrap());
        let r = jar.get(&app, &app.url(&master)).await;
        assert_eq!(r.status(), 200, "master playlist of {id}");
    }
    // Revoking one rental leaves the browser's others playing.
    let r = app
        .admin(
            Method::POST,
            &format!("/v1/entitlements/{}/revoke", ids[0]),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = jar.get(&app, &app.url(&format!("/watch/{}", ids[0]))).await;
    assert_eq!(r.status(), 403);
    let r = jar.get(&app, &app.url(&format!("/watch/{}", ids[1]))).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn over_https_the_session_cookie_cannot_be_planted_from_a_sibling_host() {
    let mut config = test_config(StoreKind::Redis);
    config.public_url = "https://watch.example/".parse().unwrap();
    let app = spawn_app_with(config).await;
    let launch = |e: &Value| {
        e["watch_url"]
            .as_str()
            .unwrap()
            .replace("https://watch.example", &app.address)
    };
    let (_, e) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample"}))
        .await;
    let r = app.client.get(launch(&e)).send().await.unwrap();
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set.starts_with("__Host-vg_session=vg_vs_"), "{set}");
    assert!(set.contains("; Secure") && set.contains("; Path=/") && !set.contains("Domain"));
    let token = set
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let watch = app.url(&format!("/watch/{}", e["id"].as_str().unwrap()));
    let with = |cookie: String| app.client.get(&watch).header("cookie", cookie).send();
    assert_eq!(
        with(format!("__Host-vg_session={token}"))
            .await
            .unwrap()
            .status(),
        200
    );
    // What a sibling host (evil.example next to watch.example) can set: a cookie without
    // the prefix. It is not the session, even holding a live token.
    let r = with(format!("vg_session={token}")).await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("session_mismatch"));
}

#[tokio::test]
async fn a_launch_adopts_only_a_session_vodgate_made() {
    let app = spawn_app().await;
    let (_, e) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample"}))
        .await;
    // A made-up token of the right shape, as someone fixing a victim's session would plant.
    let planted = format!("vg_vs_{}", "A".repeat(43));
    let r = app
        .client
        .get(e["watch_url"].as_str().unwrap())
        .header("cookie", format!("vg_session={planted}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let set = session_cookie(&r).unwrap();
    assert!(
        set.starts_with("vg_session=vg_vs_") && !set.contains(&planted),
        "{set}"
    );
    // The planted token opens nothing.
    let r = app
        .client
        .get(app.url(&format!("/watch/{}", e["id"].as_str().unwrap())))
        .header("cookie", format!("vg_session={planted}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn a_session_of_one_rental_from_before_still_plays_until_it_ends() {
    // Before sessions were per browser, each rental had its own `vg_<entitlement>` cookie
    // and `vsess:<hash>` record. Those viewers keep watching after an upgrade.
    let app = spawn_app().await;
    let (_, e) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample"}))
        .await;
    let id = e["id"].as_str().unwrap();
    let token = format!("vg_vs_{}", "b".repeat(43));
    let mut redis = raw_redis().await;
    let hash = vodgate::token::TokenHash::of(&token);
    let _: () = redis::cmd("SET")
        .arg(format!(
            "{}vsess:{}",
            app.config.redis_prefix,
            hash.as_str()
        ))
        .arg(id)
        .arg("EX")
        .arg(3600)
        .query_async(&mut redis)
        .await
        .unwrap();
    let r = app
        .client
        .get(app.url(&format!("/watch/{id}")))
        .header("cookie", format!("vg_{id}={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let master = master_of(&r.text().await.unwrap());
    let r = app
        .client
        .get(app.url(&master))
        .header("cookie", format!("vg_{id}={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // It opens only its own rental.
    let (_, other) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample"}))
        .await;
    let other = other["id"].as_str().unwrap();
    let r = app
        .client
        .get(app.url(&format!("/watch/{other}")))
        .header("cookie", format!("vg_{other}={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn the_watch_page_needs_the_session_of_that_entitlement() {
    let app = spawn_app().await;
    let (viewer, _) = app.start_watching("sample").await;
    let stranger = Viewer {
        cookie: None,
        entitlement_id: viewer.entitlement_id.clone(),
    };
    let r = app
        .get_as(&stranger, &format!("/watch/{}", viewer.entitlement_id))
        .await;
    assert_eq!(r.status(), 403);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("session_mismatch") && !html.contains("data-src"),
        "a deny page, not the video"
    );
    // A session of another rental does not open this one.
    let (other, _) = app.start_watching("trailer").await;
    let borrowed = Viewer {
        cookie: other.cookie.clone(),
        entitlement_id: viewer.entitlement_id.clone(),
    };
    assert_eq!(
        app.get_as(&borrowed, &format!("/watch/{}", viewer.entitlement_id))
            .await
            .status(),
        403
    );
}

#[tokio::test]
async fn playlists_are_rewritten_and_segments_and_keys_stream_with_range() {
    let app = spawn_app().await;
    let (viewer, master) = app.start_watching("sample").await;
    let dir = play_dir(&master);
    let r = app.get_as(&viewer, &master).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/vnd.apple.mpegurl");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let text = r.text().await.unwrap();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        assert!(line.starts_with(&format!("{dir}/")), "{line}");
    }
    let media = app
        .get_as(&viewer, &format!("{dir}/360p/index.m3u8"))
        .await
        .text()
        .await
        .unwrap();
    assert!(media.contains(&format!("URI=\"{dir}/enc.key\"")), "{media}");

    let r = app.get_as(&viewer, &format!("{dir}/360p/seg0.ts")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "video/mp2t");
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("private")
    );
    let full = r.bytes().await.unwrap();
    assert_eq!(
        full.as_ref(),
        std::fs::read("media/sample/360p/seg0.ts")
            .unwrap()
            .as_slice()
    );

    let r = app
        .client
        .get(app.url(&format!("{dir}/360p/seg0.ts")))
        .header("cookie", viewer.cookie.clone().unwrap())
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 100-199/{}", full.len())
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), &full[100..200]);

    // Past the end: 416 naming the length. Several ranges, a malformed one, or an
    // If-Range (vodgate hands out no validators): the whole segment.
    let seg = app.url(&format!("{dir}/360p/seg0.ts"));
    let with = |name: &'static str, value: &str| {
        app.client
            .get(&seg)
            .header("cookie", viewer.cookie.clone().unwrap())
            .header(name, value.to_owned())
    };
    let r = with("range", &format!("bytes={}-", full.len() + 10))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes */{}", full.len())
    );
    for value in ["bytes=0-9,20-29", "bytes=oops"] {
        let r = with("range", value).send().await.unwrap();
        assert_eq!(r.status(), 200, "{value}");
        assert_eq!(r.bytes().await.unwrap(), full, "{value}");
    }
    let r = with("if-range", "\"some-etag\"")
        .header("range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), full);

    // HEAD: the same headers, no body.
    let r = app
        .client
        .head(&seg)
        .header("cookie", viewer.cookie.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], full.len().to_string());
    assert_eq!(r.headers()["content-type"], "video/mp2t");
    assert!(r.bytes().await.unwrap().is_empty());

    let r = app.get_as(&viewer, &format!("{dir}/enc.key")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.bytes().await.unwrap().len(), 16);
}

#[tokio::test]
async fn without_the_session_cookie_nothing_is_served() {
    let app = spawn_app().await;
    let (viewer, master) = app.start_watching("sample").await;
    let dir = play_dir(&master);
    let nobody = Viewer {
        cookie: None,
        entitlement_id: viewer.entitlement_id.clone(),
    };
    for path in [
        master.clone(),
        format!("{dir}/360p/index.m3u8"),
        format!("{dir}/enc.key"),
        format!("{dir}/360p/seg0.ts"),
    ] {
        let r = app.get_as(&nobody, &path).await;
        assert_eq!(problem(r, 403).await, "session_mismatch", "{path}");
    }
    let r = app.get_as(&nobody, &format!("{dir}/status")).await;
    assert_eq!(problem(r, 403).await, "session_mismatch");
}

#[tokio::test]
async fn after_a_revoke_the_very_next_playlist_key_and_segment_are_refused() {
    let app = spawn_app().await;
    let (viewer, master) = app.start_watching("sample").await;
    let dir = play_dir(&master);
    // Warm every cache first.
    for p in [
        master.clone(),
        format!("{dir}/enc.key"),
        format!("{dir}/360p/seg0.ts"),
    ] {
        assert_eq!(app.get_as(&viewer, &p).await.status(), 200);
    }
    let r = app
        .admin(
            Method::POST,
            &format!("/v1/entitlements/{}/revoke", viewer.entitlement_id),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    for p in [
        master.clone(),
        format!("{dir}/enc.key"),
        format!("{dir}/360p/seg1.ts"),
    ] {
        let r = app.get_as(&viewer, &p).await;
        assert_eq!(problem(r, 403).await, "revoked", "{p}");
    }
    let status: Value = app
        .get_as(&viewer, &format!("{dir}/status"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["state"], "denied");
    assert_eq!(status["code"], "revoked");
    assert!(status["message"].as_str().unwrap().contains("withdrawn"));
}

#[tokio::test]
async fn a_refund_reads_as_refunded_to_the_player() {
    let app = spawn_app().await;
    let (_, e) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample", "order_id": "ord-5"}))
        .await;
    let (_, viewer) = app.launch(e["watch_url"].as_str().unwrap()).await;
    let html = app
        .get_as(&viewer, &format!("/watch/{}", viewer.entitlement_id))
        .await
        .text()
        .await
        .unwrap();
    let master = master_of(&html);
    app.admin(Method::POST, "/v1/orders/ord-5/refund", None)
        .await;
    assert_eq!(
        problem(app.get_as(&viewer, &master).await, 403).await,
        "refunded"
    );
}

#[tokio::test]
async fn an_expired_rental_stops_by_itself() {
    let app = spawn_app().await;
    let (_, e) = app
        .grant(json!({"viewer_id": "v", "video_id": "sample", "watch_for_s": 2}))
        .await;
    let (_, viewer) = app.launch(e["watch_url"].as_str().unwrap()).await;
    let html = app
        .get_as(&viewer, &format!("/watch/{}", viewer.entitlement_id))
        .await
        .text()
        .await
        .unwrap();
    let master = master_of(&html);
    assert_eq!(app.get_as(&viewer, &master).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        problem(app.get_as(&viewer, &master).await, 403).await,
        "expired"
    );
}

#[tokio::test]
async fn a_revocation_through_one_instance_stops_playback_on_another() {
    let a = spawn_app().await;
    let mut config_b = test_config(StoreKind::Redis);
    config_b.redis_prefix = a.config.redis_prefix.clone();
    let b = spawn_app_with(config_b).await;
    let (_, e) = a
        .grant(json!({"viewer_id": "v", "video_id": "sample"}))
        .await;
    // The viewer lands on instance B (a load balancer would pick any).
    let url = e["watch_url"]
        .as_str()
        .unwrap()
        .replace(&a.address, &b.address);
    let (_, viewer) = b.launch(&url).await;
    let html = b
        .get_as(&viewer, &format!("/watch/{}", viewer.entitlement_id))
        .await
        .text()
        .await
        .unwrap();
    let master = master_of(&html);
    let dir = play_dir(&master);
    assert_eq!(
        b.get_as(&viewer, &format!("{dir}/360p/seg0.ts"))
            .await
            .status(),
        200
    );
    a.admin(
        Method::POST,
        &format!("/v1/entitlements/{}/revoke", viewer.entitlement_id),
        None,
    )
    .await;
    // The event travels through Redis pub/sub; allow it a moment, far below the cache TTL.
    let mut refused = false;
    for _ in 0..20 {
        if b.get_as(&viewer, &format!("{dir}/360p/seg1.ts"))
            .await
            .status()
            == 403
        {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "instance B kept serving after the revoke on A");
}

#[tokio::test]
async fn no_cached_decision_outlives_its_ttl_even_if_the_event_is_lost() {
    let app = spawn_app().await;
    let (viewer, master) = app.start_watching("sample").await;
    assert_eq!(app.get_as(&viewer, &master).await.status(), 200);
    // Write a revocation behind the bus's back: no event is published.
    let mut c = raw_redis().await;
    let key = format!(
        "{}ent:{{e:{}}}:revoked",
        app.config.redis_prefix, viewer.entitlement_id
    );
    let rev = json!({"kind": "revoke", "at": chrono::Utc::now(), "reason": null}).to_string();
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(rev)
        .arg("EX")
        .arg(60)
        .query_async(&mut c)
        .await
        .unwrap();
    tokio::time::sleep(vodgate::app::access::ENTITLEMENT_TTL + Duration::from_millis(200)).await;
    assert_eq!(
        problem(app.get_as(&viewer, &master).await, 403).await,
        "revoked"
    );
}

#[tokio::test]
async fn ffmpeg_reads_the_whole_stream_through_vodgate() {
    let app = spawn_app().await;
    let (viewer, master) = app.start_watching("sample").await;
    let out = std::env::temp_dir().join(format!(
        "vodgate-ffmpeg-{}.ts",
        uuid::Uuid::new_v4().simple()
    ));
    let url = app.url(&master);
    let cookie = viewer.cookie.clone().unwrap();
    let status = tokio::process::Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y", "-headers"])
        .arg(format!("Cookie: {cookie}\r\n"))
        .args(["-i", &url, "-map", "0:v:0", "-map", "0:a:0", "-c", "copy"])
        .arg(&out)
        .status()
        .await
        .expect("ffmpeg is installed (apt-get install ffmpeg)");
    assert!(status.success(), "ffmpeg failed");
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
    let duration: f64 = String::from_utf8_lossy(&probe.stdout)
        .trim()
        .parse()
        .unwrap();
    assert!(
        (duration - 16.0).abs() <= 4.0,
        "duration {duration} s vs 16 s source"
    );
    let _ = std::fs::remove_file(out);

    // The same command without the cookie gets nothing.
    let status = tokio::process::Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-loglevel",
            "quiet",
            "-y",
            "-i",
            &url,
            "-c",
            "copy",
            "-f",
            "null",
            "-",
        ])
        .status()
        .await
        .unwrap();
    assert!(!status.success());
}

#[tokio::test]
async fn bad_asset_paths_and_playback_ids_are_refused() {
    let app = spawn_app().await;
    let (viewer, master) = app.start_watching("sample").await;
    let dir = play_dir(&master);
    let cookie = viewer.cookie.as_deref();
    let long = "a/".repeat(300) + "x.ts";
    for (path, want) in [
        (format!("{dir}/../../Cargo.toml"), 400),
        (format!("{dir}/360p/../../../etc/passwd"), 400),
        (format!("{dir}/..%2f..%2fCargo.toml"), 400),
        (format!("{dir}/360p%2fseg0.ts"), 400),
        (format!("{dir}/seg0.ts%00.m3u8"), 400),
        (format!("{dir}/360p\\seg0.ts"), 400),
        (format!("{dir}//etc/passwd"), 400),
        (format!("{dir}/{long}"), 400),
        (format!("{dir}/360p/nope.ts"), 404),
        (format!("{dir}/title.txt"), 404),
        (
            "/play/pb_00000000000000000000000000000000/master.m3u8".to_owned(),
            404,
        ),
        ("/play/not-a-playback/master.m3u8".to_owned(), 404),
    ] {
        assert_eq!(raw_get(app.port, &path, cookie).await, want, "{path}");
    }
}

#[tokio::test]
async fn a_symlink_out_of_the_media_folder_is_not_followed() {
    let media =
        std::env::temp_dir().join(format!("vodgate-media-{}", uuid::Uuid::new_v4().simple()));
    let title = media.join("linked");
    std::fs::create_dir_all(&title).unwrap();
    std::fs::write(
        title.join("master.m3u8"),
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\nsecret.ts\n#EXT-X-ENDLIST\n",
    )
    .unwrap();
    let outside = std::env::temp_dir().join(format!(
        "vodgate-secret-{}.ts",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&outside, b"secret bytes").unwrap();
    std::os::unix::fs::symlink(&outside, title.join("secret.ts")).unwrap();
    let mut config = test_config(StoreKind::Redis);
    config.origin = vodgate::config::OriginConfig::Local {
        media_dir: media.clone(),
        accel_redirect: None,
    };
    let app = spawn_app_with(config).await;
    let (viewer, master) = app.start_watching("linked").await;
    assert_eq!(app.get_as(&viewer, &master).await.status(), 200);
    let r = app
        .get_as(&viewer, &format!("{}/secret.ts", play_dir(&master)))
        .await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn a_huge_local_playlist_is_refused_without_being_read() {
    let media =
        std::env::temp_dir().join(format!("vodgate-media-{}", uuid::Uuid::new_v4().simple()));
    let title = media.join("huge");
    std::fs::create_dir_all(&title).unwrap();
    let mut body = String::from("#EXTM3U\n#EXT-X-TARGETDURATION:4\n");
    while body.len() <= vodgate::media::origin::MAX_PLAYLIST_BYTES {
        body.push_str("#EXTINF:4,\nsegment-with-a-rather-long-name.ts\n");
    }
    std::fs::write(title.join("master.m3u8"), body).unwrap();
    let mut config = test_config(StoreKind::Redis);
    config.origin = vodgate::config::OriginConfig::Local {
        media_dir: media.clone(),
        accel_redirect: None,
    };
    let app = spawn_app_with(config).await;
    let (viewer, master) = app.start_watching("huge").await;
    assert_eq!(
        problem(app.get_as(&viewer, &master).await, 502).await,
        "upstream_invalid"
    );
    let _ = std::fs::remove_dir_all(&media);
}

#[tokio::test]
async fn a_segment_replaced_or_rewritten_on_disk_is_served_as_it_is_now() {
    // Small segments served whole are kept in memory (the local origin's hot files); what a
    // viewer gets must still be what the file holds now: replaced by a rename (a new
    // inode), rewritten in place to the same length, removed.
    let media =
        std::env::temp_dir().join(format!("vodgate-media-{}", uuid::Uuid::new_v4().simple()));
    let title = media.join("changing");
    std::fs::create_dir_all(&title).unwrap();
    std::fs::write(
        title.join("master.m3u8"),
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\nseg.ts\n#EXT-X-ENDLIST\n",
    )
    .unwrap();
    let seg = title.join("seg.ts");
    std::fs::write(&seg, [b'a'; 4096]).unwrap();
    let mut config = test_config(StoreKind::Redis);
    config.origin = vodgate::config::OriginConfig::Local {
        media_dir: media.clone(),
        accel_redirect: None,
    };
    let app = spawn_app_with(config).await;
    let (viewer, master) = app.start_watching("changing").await;
    let path = format!("{}/seg.ts", play_dir(&master));
    // What came back, said briefly: "4096 × 'a'".
    let body = |r: reqwest::Response| async move {
        assert_eq!(r.status().as_u16() / 100, 2);
        let b = r.bytes().await.unwrap();
        match b.first() {
            Some(&c) if b.iter().all(|&x| x == c) => format!("{} × {:?}", b.len(), c as char),
            _ => format!("{} mixed bytes", b.len()),
        }
    };
    // Twice: the second answer comes from the kept copy.
    for _ in 0..2 {
        assert_eq!(body(app.get_as(&viewer, &path).await).await, "4096 × 'a'");
    }
    // A range of the kept copy.
    let r = app
        .client
        .get(app.url(&path))
        .header("cookie", viewer.cookie.as_deref().unwrap())
        .header("range", "bytes=4000-4095")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(body(r).await, "96 × 'a'");

    // Rewritten in place, same length. (Past the filesystem's timestamp tick, as any real
    // rewrite is: a same-length rewrite inside the one tick the copy was read in cannot be
    // told apart by a stat, nor by nginx's open_file_cache.)
    tokio::time::sleep(Duration::from_millis(30)).await;
    std::fs::write(&seg, [b'b'; 4096]).unwrap();
    assert_eq!(body(app.get_as(&viewer, &path).await).await, "4096 × 'b'");
    assert_eq!(body(app.get_as(&viewer, &path).await).await, "4096 × 'b'");

    // Replaced by a rename, as packagers publish.
    tokio::time::sleep(Duration::from_millis(30)).await;
    let fresh = title.join("seg.ts.tmp");
    std::fs::write(&fresh, [b'c'; 4096]).unwrap();
    std::fs::rename(&fresh, &seg).unwrap();
    assert_eq!(body(app.get_as(&viewer, &path).await).await, "4096 × 'c'");

    // Gone.
    std::fs::remove_file(&seg).unwrap();
    assert_eq!(app.get_as(&viewer, &path).await.status(), 404);
    let _ = std::fs::remove_dir_all(&media);
}

#[tokio::test]
async fn a_fairplay_title_plays_through_with_its_skd_key_uri_as_packaged() {
    // Once refused whole (502 upstream_invalid): no DRM title could pass through vodgate.
    let media =
        std::env::temp_dir().join(format!("vodgate-media-{}", uuid::Uuid::new_v4().simple()));
    let title = media.join("drm");
    std::fs::create_dir_all(&title).unwrap();
    let key = "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://c0ffee\",KEYFORMAT=\"com.apple.streamingkeydelivery\",KEYFORMATVERSIONS=\"1\"";
    std::fs::write(
        title.join("master.m3u8"),
        format!("#EXTM3U\n#EXT-X-TARGETDURATION:4\n{key}\n#EXTINF:4,\nseg0.ts\n#EXT-X-ENDLIST\n"),
    )
    .unwrap();
    std::fs::write(title.join("seg0.ts"), b"encrypted bytes").unwrap();
    let mut config = test_config(StoreKind::Redis);
    config.origin = vodgate::config::OriginConfig::Local {
        media_dir: media.clone(),
        accel_redirect: None,
    };
    let app = spawn_app_with(config).await;
    let (viewer, master) = app.start_watching("drm").await;
    let r = app.get_as(&viewer, &master).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains(key), "{text}");
    assert!(
        text.contains(&format!("{}/seg0.ts", play_dir(&master))),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&media);
}
