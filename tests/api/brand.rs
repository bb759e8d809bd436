//! The shop's brand on the viewer pages (`VODGATE_BRAND_*`, `VODGATE_SHOP_URL`,
//! `VODGATE_SUPPORT_CONTACT`), configured as an operator does it, read back as a browser
//! would: the pages, their stylesheet, the logo and the CSP that must let it load.

use crate::helpers::*;

fn branded(extra: &[(&str, String)]) -> vodgate::config::Config {
    let logo = std::env::temp_dir().join(format!("vodgate-logo-{}.svg", std::process::id()));
    std::fs::write(
        &logo,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28"><circle cx="14" cy="14" r="12" fill="#e4572e"/></svg>"##,
    )
    .unwrap();
    let mut vars: Vec<(String, String)> = vec![
        ("VODGATE_BRAND_NAME".into(), "Midnight <Films>".into()),
        ("VODGATE_BRAND_LOGO".into(), logo.display().to_string()),
        ("VODGATE_BRAND_ACCENT".into(), "#E4572E".into()),
        ("VODGATE_BRAND_BACKGROUND".into(), "#fff8f0".into()),
        ("VODGATE_BRAND_HEADER".into(), "#2b2d42".into()),
        (
            "VODGATE_SHOP_URL".into(),
            "https://shop.example/films".into(),
        ),
        ("VODGATE_SUPPORT_CONTACT".into(), "help@shop.example".into()),
    ];
    for (k, v) in extra {
        vars.retain(|(n, _)| n != k);
        vars.push((k.to_string(), v.clone()));
    }
    let parsed = vodgate::config::Config::from_sources(None, |k| {
        vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    })
    .unwrap();
    let mut c = test_config(StoreKind::Memory);
    c.brand = parsed.brand;
    c
}

#[tokio::test]
async fn refusal_and_watch_pages_wear_the_shops_name_logo_colours_and_links() {
    let app = spawn_app_with(branded(&[])).await;
    // A refusal page (an unknown rental): the shop's name, logo, link back and support.
    let r = app
        .client
        .get(app.url("/watch/ent_00000000000000000000000000000000"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Midnight &#60;Films&#62;</span>"),
        "escaped, in the header: {html}"
    );
    assert!(
        html.contains("· Midnight &#60;Films&#62;</title>"),
        "{html}"
    );
    assert!(!html.contains(">vodgate<"), "{html}");
    assert!(
        html.contains(r#"<img class="brand-logo" src="/brand/logo" alt="">"#),
        "{html}"
    );
    assert!(
        html.contains(r#"href="https://shop.example/films""#),
        "{html}"
    );
    assert!(
        html.contains(r#"href="mailto:help@shop.example""#),
        "{html}"
    );
    assert!(html.contains(r#"<link rel="stylesheet" href="/brand.css">"#));

    // The watch page too.
    let (viewer, _) = app.start_watching("sample").await;
    let html = app
        .get_as(&viewer, &format!("/watch/{}", viewer.entitlement_id))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Midnight &#60;Films&#62;</span>") && html.contains("shop-link"),
        "{html}"
    );

    let css = app.client.get(app.url("/brand.css")).send().await.unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    let css = css.text().await.unwrap();
    for line in [
        "--accent: #e4572e;",
        "--bg: #fff8f0;",
        "--header-bg: #2b2d42;",
    ] {
        assert!(css.contains(line), "{css}");
    }
    let logo = app.client.get(app.url("/brand/logo")).send().await.unwrap();
    assert_eq!(logo.status(), 200);
    assert_eq!(logo.headers()["content-type"], "image/svg+xml");
    assert!(
        logo.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    assert!(logo.text().await.unwrap().contains("<circle"));
}

#[tokio::test]
async fn a_logo_at_a_url_joins_the_csp_and_the_defaults_stay_vodgate() {
    let app = spawn_app_with(branded(&[(
        "VODGATE_BRAND_LOGO",
        "https://cdn.shop.example/logo.png".into(),
    )]))
    .await;
    let r = app.client.get(app.url("/")).send().await.unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("img-src 'self' data: https://cdn.shop.example;"),
        "{csp}"
    );
    let r = app.client.get(app.url("/brand/logo")).send().await.unwrap();
    assert_eq!(problem(r, 404).await, "not_found");

    let plain = spawn_app().await;
    let html = plain
        .client
        .get(plain.url("/watch/ent_00000000000000000000000000000000"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(r#"data-testid="brand">vodgate</span>"#),
        "{html}"
    );
    assert!(!html.contains("shop-link") && !html.contains("support-line"));
    let css = plain
        .client
        .get(plain.url("/brand.css"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(css, ":root {\n}\n");
}

#[test]
fn bad_brand_settings_stop_the_start() {
    for (var, value, says) in [
        (
            "VODGATE_BRAND_ACCENT",
            "red; } body { display:none",
            "#rrggbb",
        ),
        ("VODGATE_BRAND_BACKGROUND", "#12345", "#rrggbb"),
        (
            "VODGATE_BRAND_LOGO",
            "http://cdn.shop.example/logo.png",
            "https",
        ),
        ("VODGATE_BRAND_LOGO", "/nonexistent/logo.png", "cannot read"),
        ("VODGATE_BRAND_LOGO", "/etc/passwd", ".png"),
        ("VODGATE_SHOP_URL", "javascript:alert(1)", "http(s)"),
        ("VODGATE_SUPPORT_CONTACT", "call us", "email address"),
        (
            "VODGATE_BRAND_NAME",
            "A name far longer than any header has room for, sixty-one chars",
            "1 to 60",
        ),
    ] {
        let e =
            vodgate::config::Config::from_sources(None, |k| (k == var).then(|| value.to_owned()))
                .unwrap_err()
                .to_string();
        assert!(e.contains(var) && e.contains(says), "{var}={value}: {e}");
    }
}
