//! Security headers on every response. Pages get a CSP that allows only vodgate's own
//! scripts and styles (the templates carry no inline code) plus what hls.js needs (media
//! and workers from `blob:`); `frame-ancestors` is configurable so operators can embed the
//! watch page in their own site. A handler that sets its own CSP (the API docs page) keeps it.

use crate::config::Config;
use actix_web::middleware::DefaultHeaders;

pub fn headers(config: &Config) -> DefaultHeaders {
    let mut frame_src = String::from("'self'");
    for host in &config.frame_sources {
        frame_src.push(' ');
        frame_src.push_str(host);
    }
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob:; \
         worker-src 'self' blob:; connect-src 'self'; frame-src {frame_src}; frame-ancestors {}; base-uri 'none'; \
         form-action 'self'; object-src 'none'",
        config.frame_ancestors
    );
    let mut h = DefaultHeaders::new()
        .add(("Content-Security-Policy", csp))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add(("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"));
    if config.secure_cookies() {
        h = h.add(("Strict-Transport-Security", "max-age=31536000"));
    }
    h
}
