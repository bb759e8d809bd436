//! The whole URL map in one place. Each module owns its routes.

pub mod auth;
pub mod entitlements;
pub mod health;

use actix_web::web;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.configure(health::config).configure(auth::config).service(web::scope("/v1").configure(entitlements::config));
}

/// Anything unrouted gets the one error shape rather than an empty 404.
pub async fn not_found() -> Result<actix_web::HttpResponse, crate::error::ApiError> {
    Err(crate::error::ApiError::not_found("not_found", "No such route."))
}
