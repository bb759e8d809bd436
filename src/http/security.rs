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
    // CDN delivery: hls.js fetches segments from the CDN's origin.
    let mut connect_src = String::from("'self'");
    if let Some(cdn) = &config.cdn {
        connect_src.push(' ');
        connect_src.push_str(&cdn.origin());
    }
    // A logo at a URL: its origin may serve the header's image.
    let mut img_src = String::from("'self' data:");
    if let Some(crate::config::Logo::Url(u)) = &config.brand.logo
        && let Ok(u) = url::Url::parse(u)
    {
        img_src.push(' ');
        img_src.push_str(&u.origin().ascii_serialization());
    }
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src {img_src}; media-src 'self' blob:; \
         worker-src 'self' blob:; connect-src {connect_src}; frame-src {frame_src}; frame-ancestors {}; base-uri 'none'; \
         form-action 'self'; object-src 'none'",
        config.frame_ancestors
    );
    let mut h = DefaultHeaders::new()
        .add(("Content-Security-Policy", csp))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add((
            "Permissions-Policy",
            "camera=(), microphone=(), geolocation=(), payment=()",
        ));
    if config.secure_cookies() {
        h = h.add(("Strict-Transport-Security", "max-age=31536000"));
    }
    h
}

/// Request headers larger than this in total are refused (431): no legitimate player or
/// operator backend sends more, and big headers are a cheap way to burn memory.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

pub async fn limit_headers(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<
    actix_web::dev::ServiceResponse<actix_web::body::EitherBody<impl actix_web::body::MessageBody>>,
    actix_web::Error,
> {
    use actix_web::ResponseError;
    let size: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if size > MAX_HEADER_BYTES {
        let refusal = crate::http::error::ApiError::new(
            actix_web::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            crate::domain::ErrorCode::HeadersTooLarge,
            format!("Request headers are limited to {MAX_HEADER_BYTES} bytes."),
        );
        // An Ok response (not an Err) so the outer middleware still adds the security headers.
        return Ok(req
            .into_response(refusal.error_response())
            .map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}
