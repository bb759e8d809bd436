//! Liveness and readiness for load balancers and orchestrators.

use crate::http::AppState;
use actix_web::{HttpResponse, get, web};
use serde_json::json;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz);
}

/// The process is up and serving HTTP.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    operation_id = "healthz",
    responses((status = 200, description = "Alive.", body = crate::http::openapi::Health)),
)]
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The process can do its job: the state store answers (and, with api.video, vodgate
/// can authenticate to it).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    operation_id = "readyz",
    responses(
        (status = 200, description = "Ready: every check is `ok`.", body = crate::http::openapi::Readiness),
        (status = 503, description = "Not ready: a check is `unavailable`.", body = crate::http::openapi::Readiness),
    ),
)]
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let store = match state.app.store.ping().await {
        Ok(()) => json!({"status": "ok", "kind": state.app.store.kind()}),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: store unreachable");
            json!({"status": "unavailable", "kind": state.app.store.kind()})
        }
    };
    let mut checks = json!({"store": store});
    // api.video: can vodgate get a bearer? (cached a few seconds, so probes stay cheap)
    if let Some(o) = state.app.origin.apivideo() {
        checks["upstream_auth"] = match o.check_auth().await {
            Ok(()) => json!({"status": "ok", "kind": "apivideo"}),
            Err(e) => {
                tracing::warn!(error = %e, "readiness: api.video authentication failed");
                json!({"status": "unavailable", "kind": "apivideo"})
            }
        };
    }
    let ready = checks
        .as_object()
        .is_some_and(|c| c.values().all(|c| c["status"] == "ok"));
    let body = json!({"status": if ready { "ready" } else { "not_ready" }, "checks": checks});
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
