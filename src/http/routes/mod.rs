//! The whole URL map in one place. Each module owns its routes.

pub mod audit;
pub mod auth;
pub mod checkout;
pub mod demo;
pub mod entitlements;
pub mod health;
pub mod play;
pub mod playbacks;
pub mod static_files;
pub mod uploads;
pub mod watch;
pub mod webhooks;

use crate::domain::ErrorCode;
use actix_web::web;

pub fn config(cfg: &mut web::ServiceConfig) {
    // actix tries routes in order, one pattern match each: the segment path, by far the
    // busiest, comes first so it does not pay for every other route's match.
    cfg.configure(play::config)
        .configure(health::config)
        .configure(crate::http::openapi::config)
        .configure(auth::config)
        .service(
            web::scope("/v1")
                .configure(entitlements::config)
                .configure(playbacks::config)
                .configure(audit::config)
                .configure(uploads::config),
        )
        .configure(webhooks::config)
        .configure(watch::config)
        .configure(checkout::config)
        .configure(demo::config)
        .configure(static_files::config);
}

/// Anything unrouted gets the one error shape rather than an empty 404.
pub async fn not_found() -> Result<actix_web::HttpResponse, crate::http::error::ApiError> {
    Err(crate::http::error::ApiError::not_found(
        ErrorCode::NotFound,
        "No such route.",
    ))
}
