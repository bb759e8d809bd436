//! Liveness and readiness for load balancers and orchestrators.

use crate::startup::AppState;
use actix_web::{HttpResponse, get, web};
use serde_json::json;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz);
}

/// The process is up and serving HTTP.
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The process can do its job: the state store answers.
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let store = match state.store.ping().await {
        Ok(()) => json!({"status": "ok", "kind": state.store.kind()}),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: store unreachable");
            json!({"status": "unavailable", "kind": state.store.kind()})
        }
    };
    let ready = store["status"] == "ok";
    let body = json!({"status": if ready { "ready" } else { "not_ready" }, "checks": {"store": store}});
    if ready { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}
