//! The HTML a viewer sees: the watch page, the deny page and the demo storefront.
//!
//! Templates live in `templates/` and are compiled into the binary by askama, so a page can
//! never fail at run time for a missing file and every value is HTML-escaped by default.
//! The pages carry no inline script or style: they link `/static/style.css`,
//! `/static/hls.min.js` and `/static/player.js` (see `routes::static_files`) and hand data to
//! the player through `data-` attributes, so a strict `script-src 'self'; style-src 'self'`
//! CSP holds.

use crate::config::Brand;
use actix_web::http::header;
use actix_web::{HttpResponse, http::StatusCode};

/// The watch page: title, time left, the player, and the (hidden) boxes the player shows
/// when the rental is about to end or has been denied.
#[derive(askama::Template)]
#[template(path = "watch.html")]
pub struct WatchPage<'a> {
    pub brand: &'a Brand,
    pub title: &'a str,
    pub video_id: &'a str,
    pub entitlement_id: &'a str,
    pub playback_id: &'a str,
    /// e.g. `/play/pb_x/master.m3u8`
    pub master_url: &'a str,
    /// e.g. `/play/pb_x/status`
    pub status_url: &'a str,
    /// RFC 3339
    pub expires_at: &'a str,
    pub seconds_left: i64,
    pub demo: bool,
    /// api.video embed mode: the player URL the page embeds instead of the relayed stream.
    pub embed_url: Option<&'a str>,
    /// CDN delivery with cookie tokens: the player sends cookies with its cross-origin
    /// segment requests.
    pub cdn_cookies: bool,
    /// How often the page asks `status_url` (ms).
    pub poll_ms: u32,
}

impl WatchPage<'_> {
    /// The countdown's first value, so the page reads right before the script runs.
    pub fn time_left(&self) -> String {
        format_time_left(self.seconds_left)
    }
}

/// A viewer-facing refusal: why this browser may not watch (the same snake_case codes as
/// the JSON API and the logs), and what to do about it.
#[derive(askama::Template)]
#[template(path = "deny.html")]
pub struct DenyPage<'a> {
    pub brand: &'a Brand,
    pub heading: &'a str,
    /// snake_case deny code
    pub code: crate::domain::ErrorCode,
    pub message: &'a str,
    pub hint: Option<&'a str>,
}

/// Back from a payment provider's checkout before its webhook arrived: reloads itself
/// (a meta refresh: the page's CSP allows no inline script) until the grant is there.
#[derive(askama::Template)]
#[template(path = "checkout_wait.html")]
pub struct CheckoutWaitPage<'a> {
    pub brand: &'a Brand,
    pub refresh_s: u32,
}

/// The demo storefront: rent, watch and refund against the embedded store.
#[derive(askama::Template)]
#[template(path = "demo.html")]
pub struct DemoPage<'a> {
    pub brand: &'a Brand,
    pub titles: Vec<DemoTitle>,
    pub rentals: Vec<DemoRental>,
}

pub struct DemoTitle {
    pub video_id: String,
    pub title: String,
}

pub struct DemoRental {
    pub entitlement_id: String,
    pub title: String,
    /// active | revoked | refunded | expired
    pub status: String,
    pub expires_at: String,
}

/// The self-declared age gate: a form the viewer must confirm before any playback. The
/// form carries a CSRF token derived from the viewer's own session, so another site cannot
/// confirm on their behalf.
#[derive(askama::Template)]
#[template(path = "age_gate.html")]
pub struct AgeGatePage<'a> {
    pub brand: &'a Brand,
    pub title: &'a str,
    pub action: &'a str,
    pub csrf: &'a str,
}

impl DemoRental {
    /// "2026-11-23 05:28 UTC": the expiry as a person reads it (the raw RFC 3339 stays in
    /// the `<time datetime>` attribute).
    pub fn expires_display(&self) -> String {
        match chrono::DateTime::parse_from_rfc3339(&self.expires_at) {
            Ok(t) => t
                .with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M UTC")
                .to_string(),
            Err(_) if self.expires_at.is_empty() => "clock starts at first play".to_owned(),
            Err(_) => self.expires_at.clone(),
        }
    }
}

/// Render a page as `text/html; charset=utf-8`, never cached (pages reflect live
/// entitlement state). A render error is logged and answered with a plain 500 page.
pub fn render<T: askama::Template>(status: StatusCode, page: &T) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body),
        Err(e) => {
            tracing::error!(error.cause = %e, "page render failed");
            HttpResponse::InternalServerError()
                .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .body(INTERNAL_ERROR_PAGE)
        }
    }
}

const INTERNAL_ERROR_PAGE: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Something went wrong</title></head><body><h1>Something went wrong</h1>\
<p>Something went wrong on our side. Please reload the page in a moment.</p></body></html>\n";

/// "1 h 02 min", "4 min 05 s", "42 s"; the same wording as `static/player.js`.
pub fn format_time_left(seconds: i64) -> String {
    let s = seconds.max(0);
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{h} h {m:02} min")
    } else if m > 0 {
        format!("{m} min {sec:02} s")
    } else {
        format!("{sec} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use askama::Template;

    fn brand() -> &'static Brand {
        Box::leak(Box::new(Brand::default()))
    }

    fn watch(demo: bool) -> WatchPage<'static> {
        WatchPage {
            brand: brand(),
            title: "Big <Buck> & \"Bunny\"",
            video_id: "sample",
            entitlement_id: "ent_1",
            playback_id: "pb_1",
            master_url: "/play/pb_1/master.m3u8",
            cdn_cookies: false,
            poll_ms: 2000,
            status_url: "/play/pb_1/status",
            expires_at: "2030-01-01T00:00:00Z",
            seconds_left: 3720,
            demo,
            embed_url: None,
        }
    }

    #[test]
    fn time_left_wording() {
        assert_eq!(format_time_left(3720), "1 h 02 min");
        assert_eq!(format_time_left(250), "4 min 10 s");
        assert_eq!(format_time_left(65), "1 min 05 s");
        assert_eq!(format_time_left(42), "42 s");
        assert_eq!(format_time_left(-5), "0 s");
        assert_eq!(format_time_left(86_400), "24 h 00 min");
    }

    #[test]
    fn watch_page_has_player_data_and_no_inline_code() {
        let html = watch(false).render().unwrap();
        assert!(html.contains(r#"<video id="player" controls playsinline"#));
        assert!(html.contains(r#"data-src="/play/pb_1/master.m3u8""#));
        assert!(html.contains(r#"data-status="/play/pb_1/status""#));
        assert!(html.contains(r#"data-seconds-left="3720""#));
        assert!(html.contains(r#"data-expires-at="2030-01-01T00:00:00Z""#));
        assert!(html.contains(r#"id="time-left""#) && html.contains("1 h 02 min"));
        assert!(html.contains(r#"id="expiry-warning""#) && html.contains(r#"id="denied""#));
        assert!(html.contains(r#"<script src="/static/hls.min.js"></script>"#));
        assert!(html.contains(r#"<script src="/static/player.js"></script>"#));
        assert!(html.contains(r#"href="/static/style.css""#));
        assert!(
            html.contains("Big &#60;Buck&#62; &#38; &#34;Bunny&#34;")
                || html.contains("Big &lt;Buck&gt; &amp; &quot;Bunny&quot;")
        );
        assert!(!html.contains("Demo mode"));
        assert_no_inline_code(&html);
    }

    #[test]
    fn watch_page_in_embed_mode_shows_the_iframe_instead_of_the_player() {
        let page = WatchPage {
            embed_url: Some("https://embed.api.video/vod/vi1?token=t-1&avh=s-1"),
            ..watch(false)
        };
        let html = page.render().unwrap();
        assert!(html.contains(r#"<iframe id="embed-player""#), "{html}");
        assert!(
            html.contains("https://embed.api.video/vod/vi1?token=t-1&#38;avh=s-1")
                || html.contains("token=t-1&amp;avh=s-1"),
            "{html}"
        );
        assert!(
            !html.contains(r#"id="player""#),
            "no relayed player in embed mode"
        );
        assert_no_inline_code(&html);
    }

    #[test]
    fn watch_page_before_the_rental_clock_starts_names_no_end() {
        let html = WatchPage {
            expires_at: "",
            ..watch(false)
        }
        .render()
        .unwrap();
        assert!(html.contains("the clock starts when playback starts"));
        assert!(!html.contains("<time"));
    }

    #[test]
    fn watch_page_demo_note_links_home() {
        let html = watch(true).render().unwrap();
        assert!(html.contains("Demo mode") && html.contains(r#"href="/""#));
    }

    #[test]
    fn deny_page_shows_code_message_and_optional_hint() {
        let page = DenyPage {
            brand: brand(),
            heading: "Link already used",
            code: crate::domain::ErrorCode::LaunchLinkUsed,
            message: "This link was used.",
            hint: Some("Ask for a new link."),
        };
        let html = page.render().unwrap();
        assert!(html.contains(r#"data-code="launch_link_used""#));
        assert!(html.contains("This link was used.") && html.contains("Ask for a new link."));
        assert!(!html.contains(r#"id="player""#));
        assert_no_inline_code(&html);
        let html = DenyPage { hint: None, ..page }.render().unwrap();
        assert!(!html.contains("class=\"hint\""));
    }

    #[test]
    fn demo_page_lists_titles_and_actions_for_active_rentals_only() {
        let page = DemoPage {
            brand: brand(),
            titles: vec![DemoTitle {
                video_id: "sample".into(),
                title: "Sample".into(),
            }],
            rentals: vec![
                DemoRental {
                    entitlement_id: "ent_a".into(),
                    title: "Sample".into(),
                    status: "active".into(),
                    expires_at: "2030-01-01T00:00:00Z".into(),
                },
                DemoRental {
                    entitlement_id: "ent_r".into(),
                    title: "Sample".into(),
                    status: "refunded".into(),
                    expires_at: "2030-01-01T00:00:00Z".into(),
                },
            ],
        };
        let html = page.render().unwrap();
        assert!(html.contains("This is a demo storefront"));
        assert!(html.contains("2030-01-01 00:00 UTC"));
        assert!(
            html.contains(r#"action="/demo/rent""#)
                && html.contains(r#"data-testid="rent-sample""#)
        );
        assert!(
            html.contains(r#"data-testid="watch-ent_a""#)
                && html.contains(r#"data-testid="refund-ent_a""#)
        );
        assert!(
            !html.contains(r#"data-testid="watch-ent_r""#)
                && !html.contains(r#"data-testid="refund-ent_r""#)
        );
        assert_no_inline_code(&html);
        let empty = DemoPage {
            brand: brand(),
            titles: vec![],
            rentals: vec![],
        }
        .render()
        .unwrap();
        assert!(empty.contains("No rentals yet."));
    }

    #[test]
    fn render_sets_html_and_no_store() {
        let res = render(
            StatusCode::FORBIDDEN,
            &DenyPage {
                brand: brand(),
                heading: "h",
                code: crate::domain::ErrorCode::Revoked,
                message: "m",
                hint: None,
            },
        );
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            res.headers().get(header::CONTENT_TYPE).unwrap(),
            "text/html; charset=utf-8"
        );
        assert_eq!(
            res.headers().get(header::CACHE_CONTROL).unwrap(),
            "no-store"
        );
    }

    /// The CSP forbids inline script, inline style and event-handler attributes.
    fn assert_no_inline_code(html: &str) {
        assert!(!html.contains("<style"), "inline <style>");
        assert!(!html.contains("style="), "inline style attribute");
        for (i, _) in html.match_indices("<script") {
            let tag_end = html[i..].find('>').unwrap() + i;
            assert!(html[i..tag_end].contains("src="), "inline <script>");
            assert!(
                html[tag_end..].starts_with("></script>"),
                "script with a body"
            );
        }
        for handler in ["onclick=", "onload=", "onerror=", "onsubmit=", "onchange="] {
            assert!(!html.contains(handler), "inline event handler {handler}");
        }
    }
}
