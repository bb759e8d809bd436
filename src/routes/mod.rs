//! The whole URL map in one place. Each module owns its routes.

pub mod auth;
pub mod demo;
pub mod entitlements;
pub mod health;
pub mod play;
pub mod static_files;
pub mod watch;

use actix_web::web;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.configure(health::config)
        .configure(auth::config)
        .service(web::scope("/v1").configure(entitlements::config))
        .configure(watch::config)
        .configure(play::config)
        .configure(demo::config)
        .configure(static_files::config);
}

/// Anything unrouted gets the one error shape rather than an empty 404.
pub async fn not_found() -> Result<actix_web::HttpResponse, crate::error::ApiError> {
    Err(crate::error::ApiError::not_found("not_found", "No such route."))
}
