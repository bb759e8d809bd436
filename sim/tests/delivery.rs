//! Private tokens, sessions and the vod/embed side.

mod common;

use std::time::Duration;

use apivideo_sim::SimConfig;
use common::*;

#[tokio::test]
async fn every_get_mints_a_fresh_uuid_token_in_all_asset_urls() {
    let (sim, c) = start(config()).await;
    let a = video(&c, &sim, "sample").await;
    let b = video(&c, &sim, "sample").await;
    let (ta, tb) = (private_token(&a), private_token(&b));
    assert_ne!(ta, tb);
    assert!(uuid::Uuid::parse_str(&ta).is_ok(), "{ta}");
    assert_eq!(a["public"], false);
    let base = sim.base_url();
    let assets = &a["assets"];
    assert_eq!(assets["player"], format!("{base}/vod/sample?token={ta}"));
    assert_eq!(
        assets["hls"],
        format!("{base}/vod/sample/token/{ta}/hls/manifest.m3u8")
    );
    assert_eq!(
        assets["thumbnail"],
        format!("{base}/vod/sample/token/{ta}/thumbnail.jpg")
    );
    assert_eq!(
        assets["mp4"],
        format!("{base}/vod/sample/token/{ta}/mp4/source.mp4")
    );
    let iframe = assets["iframe"].as_str().unwrap();
    assert!(
        iframe.starts_with(&format!("<iframe src=\"{base}/vod/sample?token={ta}\"")),
        "{iframe}"
    );
    assert!(iframe.ends_with("></iframe>"));
    // The list mints tokens too.
    let list = json(get(&c, &sim, "/videos").await).await;
    let tl = private_token(&list["data"][0]);
    assert!(tl != ta && tl != tb);
    assert_eq!(sim.call_count("private_tokens_minted"), 3);
    sim.stop().await;
}

#[tokio::test]
async fn session_consumes_the_token_and_a_second_session_call_is_404() {
    let (sim, c) = start(config()).await;
    let v = video(&c, &sim, "sample").await;
    let base = token_base(&v);
    let s = open_session(&c, &base).await;
    assert!(!s.is_empty());
    assert_eq!(status_of(&c, &format!("{base}/session")).await, 404);
    assert_eq!(status_of(&c, &format!("{base}/session?avh={s}")).await, 404);
    // Without the session, every asset is now refused.
    assert_eq!(
        status_of(&c, &format!("{base}/hls/manifest.m3u8")).await,
        404
    );
    assert_eq!(sim.call_count("session"), 3);
    assert!(sim.call_count("private_token_reuse_attempts") >= 2);
    sim.stop().await;
}

#[tokio::test]
async fn avh_query_and_x_token_session_header_both_authorise_every_asset() {
    let (sim, c) = start(config()).await;
    let v = video(&c, &sim, "sample").await;
    let base = token_base(&v);
    let s = open_session(&c, &base).await;
    for asset in [
        "hls/manifest.m3u8",
        "hls/360p/index.m3u8",
        "hls/360p/seg0.ts",
        "hls/enc.key",
        "thumbnail.jpg",
        "mp4/source.mp4",
    ] {
        let by_query = c
            .get(format!("{base}/{asset}?avh={s}"))
            .send()
            .await
            .unwrap();
        assert_eq!(by_query.status(), 200, "{asset} with avh");
        let by_header = c
            .get(format!("{base}/{asset}"))
            .header("X-Token-Session", &s)
            .send()
            .await
            .unwrap();
        assert_eq!(by_header.status(), 200, "{asset} with X-Token-Session");
        assert_eq!(
            status_of(&c, &format!("{base}/{asset}")).await,
            404,
            "{asset} bare"
        );
        assert_eq!(
            status_of(&c, &format!("{base}/{asset}?avh=not-the-session")).await,
            404,
            "{asset} wrong avh"
        );
    }
    let manifest = c
        .get(format!("{base}/hls/manifest.m3u8?avh={s}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        manifest.headers()["content-type"],
        "application/vnd.apple.mpegurl"
    );
    let text = manifest.text().await.unwrap();
    assert!(
        text.starts_with("#EXTM3U") && text.contains("360p/index.m3u8"),
        "{text}"
    );
    let seg = c
        .get(format!("{base}/hls/360p/seg0.ts?avh={s}"))
        .send()
        .await
        .unwrap();
    assert_eq!(seg.headers()["content-type"], "video/mp2t");
    let on_disk = std::fs::read(media_dir().join("sample/360p/seg0.ts")).unwrap();
    assert_eq!(seg.bytes().await.unwrap().as_ref(), on_disk.as_slice());
    // Unknown files and escapes stay 404 even with a session.
    assert_eq!(
        status_of(&c, &format!("{base}/hls/360p/nope.ts?avh={s}")).await,
        404
    );
    assert_eq!(
        status_of(&c, &format!("{base}/hls/%2E%2E/%2E%2E/Cargo.toml?avh={s}")).await,
        404
    );
    assert_eq!(sim.call_count("private_token_reuse_attempts"), 12);
    sim.stop().await;
}

#[tokio::test]
async fn first_asset_request_opens_the_session_and_the_token_cannot_be_reused() {
    let (sim, c) = start(config()).await;
    let v = video(&c, &sim, "sample").await;
    let base = token_base(&v);
    // The documented example: a thumbnail, then the mp4 with the bare token.
    let first = c.get(format!("{base}/thumbnail.jpg")).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let s = first.headers()["x-token-session"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(status_of(&c, &format!("{base}/mp4/source.mp4")).await, 404);
    assert_eq!(status_of(&c, &format!("{base}/session")).await, 404);
    assert_eq!(
        status_of(&c, &format!("{base}/mp4/source.mp4?avh={s}")).await,
        200
    );
    assert_eq!(sim.call_count("sessions_opened"), 1);
    assert_eq!(sim.call_count("private_token_reuse_attempts"), 2);
    // A session only works with its own token.
    let other = token_base(&video(&c, &sim, "sample").await);
    assert_eq!(
        status_of(&c, &format!("{other}/thumbnail.jpg?avh={s}")).await,
        200,
        "fresh token opens its own session"
    );
    sim.stop().await;
}

#[tokio::test]
async fn sessions_expire_after_the_configured_ttl() {
    let cfg = SimConfig {
        session_ttl: Duration::from_millis(1200),
        ..config()
    };
    let (sim, c) = start(cfg).await;
    let base = token_base(&video(&c, &sim, "sample").await);
    let s = open_session(&c, &base).await;
    let url = format!("{base}/hls/manifest.m3u8?avh={s}");
    assert_eq!(status_of(&c, &url).await, 200);
    tokio::time::sleep(Duration::from_millis(1400)).await;
    assert_eq!(status_of(&c, &url).await, 404);
    assert_eq!(sim.call_count("expired_session_rejections"), 1);
    sim.stop().await;
}

#[tokio::test]
async fn advancing_the_clock_expires_a_24h_session() {
    let (sim, c) = start(config()).await;
    let base = token_base(&video(&c, &sim, "sample").await);
    let s = open_session(&c, &base).await;
    let url = format!("{base}/thumbnail.jpg?avh={s}");
    sim.advance_clock(Duration::from_secs(23 * 3600));
    assert_eq!(status_of(&c, &url).await, 200);
    // Through the admin endpoint this time.
    let r = c
        .post(format!("{}/_sim/clock", sim.base_url()))
        .json(&serde_json::json!({"advanceSeconds": 3600}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(status_of(&c, &url).await, 404);
    sim.stop().await;
}

#[tokio::test]
async fn embed_page_follows_the_same_rules() {
    let (sim, c) = start(config()).await;
    let v = video(&c, &sim, "sample").await;
    let player = v["assets"]["player"].as_str().unwrap().to_owned();
    let page = c.get(&player).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let s = page.headers()["x-token-session"]
        .to_str()
        .unwrap()
        .to_owned();
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<video") && html.contains(&format!("avh={s}")),
        "{html}"
    );
    assert_eq!(
        status_of(&c, &player).await,
        404,
        "token reused without avh"
    );
    assert_eq!(status_of(&c, &format!("{player}&avh={s}")).await, 200);
    assert_eq!(
        status_of(&c, &format!("{}/vod/sample", sim.base_url())).await,
        404,
        "no token"
    );
    assert_eq!(
        status_of(
            &c,
            &format!(
                "{}/vod/sample?token=00000000-0000-0000-0000-000000000000",
                sim.base_url()
            )
        )
        .await,
        404
    );
    assert_eq!(sim.call_count("embed"), 5);
    sim.stop().await;
}

#[tokio::test]
async fn public_videos_have_token_less_urls() {
    let cfg = SimConfig {
        public_videos: vec!["sample".into()],
        ..config()
    };
    let (sim, c) = start(cfg).await;
    let v = video(&c, &sim, "sample").await;
    assert_eq!(v["public"], true);
    let base = sim.base_url();
    assert_eq!(
        v["assets"]["hls"],
        format!("{base}/vod/sample/hls/manifest.m3u8")
    );
    assert_eq!(v["assets"]["player"], format!("{base}/vod/sample"));
    for _ in 0..2 {
        assert_eq!(
            status_of(&c, &format!("{base}/vod/sample/hls/manifest.m3u8")).await,
            200
        );
        assert_eq!(
            status_of(&c, &format!("{base}/vod/sample/hls/360p/seg1.ts")).await,
            200
        );
        assert_eq!(status_of(&c, &format!("{base}/vod/sample")).await, 200);
    }
    assert_eq!(sim.call_count("private_tokens_minted"), 0);
    // Flip it private: token-less delivery stops.
    assert!(sim.set_public("sample", false));
    assert_eq!(
        status_of(&c, &format!("{base}/vod/sample/hls/manifest.m3u8")).await,
        404
    );
    sim.stop().await;
}

#[tokio::test]
async fn vod_and_embed_hosts_are_configurable() {
    let cfg = SimConfig {
        vod_host: Some("https://vod.example.test/".into()),
        embed_host: Some("https://embed.example.test".into()),
        ..config()
    };
    let (sim, c) = start(cfg).await;
    let v = video(&c, &sim, "sample").await;
    let t = private_token(&v);
    assert_eq!(
        v["assets"]["hls"],
        format!("https://vod.example.test/vod/sample/token/{t}/hls/manifest.m3u8")
    );
    assert_eq!(
        v["assets"]["player"],
        format!("https://embed.example.test/vod/sample?token={t}")
    );
    sim.stop().await;
}

#[tokio::test]
async fn rewrite_playlists_puts_avh_on_child_uris() {
    let cfg = SimConfig {
        rewrite_playlists: true,
        ..config()
    };
    let (sim, c) = start(cfg).await;
    let base = token_base(&video(&c, &sim, "sample").await);
    let s = open_session(&c, &base).await;
    let master = c
        .get(format!("{base}/hls/manifest.m3u8?avh={s}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        master.contains(&format!("360p/index.m3u8?avh={s}")),
        "{master}"
    );
    let media = c
        .get(format!("{base}/hls/360p/index.m3u8?avh={s}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        media.contains(&format!("URI=\"../enc.key?avh={s}\"")),
        "{media}"
    );
    assert!(media.contains(&format!("seg0.ts?avh={s}")), "{media}");
    sim.stop().await;
}

#[tokio::test]
async fn tokens_admin_endpoint_reports_consumption() {
    let (sim, c) = start(config()).await;
    let base = token_base(&video(&c, &sim, "sample").await);
    let _fresh = video(&c, &sim, "sample").await;
    let _s = open_session(&c, &base).await;
    let _ = status_of(&c, &format!("{base}/thumbnail.jpg")).await;
    let t = json(
        c.get(format!("{}/_sim/tokens", sim.base_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(t["minted"], 2);
    assert_eq!(t["consumed"], 1);
    assert_eq!(t["fresh"], 1);
    assert_eq!(t["activeSessions"], 1);
    assert_eq!(t["privateTokenReuseAttempts"], 1);
    sim.stop().await;
}
