//! `GET /static/{name}`: the watch page's own assets (vendored hls.js, the player glue, the
//! stylesheet), compiled into the binary so a deployment is one file, the page needs no
//! CDN, and `script-src 'self'` holds. Only the names below exist; anything else is 404.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::domain::ErrorCode;
use crate::http::error::ApiError;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// hls.js is vendored from npm by `static/vendor-hls.sh` (version in `static/hls.VERSION`).
const ASSETS: &[Asset] = &[
    Asset {
        name: "hls.min.js",
        content_type: JS,
        bytes: include_bytes!("../../../static/hls.min.js"),
    },
    Asset {
        name: "player.js",
        content_type: JS,
        bytes: include_bytes!("../../../static/player.js"),
    },
    Asset {
        name: "style.css",
        content_type: CSS,
        bytes: include_bytes!("../../../static/style.css"),
    },
];

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/{name}", web::get().to(serve))
        .route("/brand.css", web::get().to(brand_css))
        .route("/brand/logo", web::get().to(brand_logo));
}

/// The shop's colours (`VODGATE_BRAND_*`) over `style.css`'s, as CSS variables: a
/// stylesheet of its own, so the pages keep `style-src 'self'` and no inline style.
async fn brand_css(state: web::Data<crate::http::AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, CSS))
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(state.config().brand.css())
}

/// The logo file of `VODGATE_BRAND_LOGO`, read at start.
async fn brand_logo(state: web::Data<crate::http::AppState>) -> Result<HttpResponse, ApiError> {
    match &state.config().brand.logo {
        Some(crate::config::Logo::File {
            bytes,
            content_type,
        }) => Ok(HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, *content_type))
            .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            // An SVG opened on its own must not run script on vodgate's origin.
            .insert_header((
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; sandbox",
            ))
            .body(bytes.as_ref().clone())),
        _ => Err(ApiError::not_found(
            ErrorCode::NotFound,
            "No logo file is configured.",
        )),
    }
}

async fn serve(name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let asset = ASSETS
        .iter()
        .find(|a| a.name == name.as_str())
        .ok_or_else(|| ApiError::not_found(ErrorCode::NotFound, "No such static file."))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, asset.content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(asset.bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{App, test};

    #[actix_web::test]
    async fn serves_known_assets_with_types_and_404s_the_rest() {
        let app = test::init_service(App::new().configure(config)).await;
        for (path, ct) in [
            ("/static/hls.min.js", JS),
            ("/static/player.js", JS),
            ("/static/style.css", CSS),
        ] {
            let res =
                test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
            assert_eq!(res.status(), 200, "{path}");
            assert_eq!(
                res.headers().get(header::CONTENT_TYPE).unwrap(),
                ct,
                "{path}"
            );
            assert_eq!(
                res.headers().get(header::CACHE_CONTROL).unwrap(),
                "public, max-age=3600"
            );
            assert_eq!(
                res.headers().get(header::X_CONTENT_TYPE_OPTIONS).unwrap(),
                "nosniff"
            );
            assert!(!test::read_body(res).await.is_empty());
        }
        for path in [
            "/static/hls.LICENSE",
            "/static/vendor-hls.sh",
            "/static/..%2FCargo.toml",
            "/static/nope.js",
        ] {
            let res =
                test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
            assert_eq!(res.status(), 404, "{path}");
            assert_eq!(
                res.headers().get(header::CONTENT_TYPE).unwrap(),
                "application/problem+json"
            );
        }
    }
}
