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

/// The process can do its job: the state store answers (and, with api.video, vodgate
/// can authenticate to it).
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let store = match state.store.ping().await {
        Ok(()) => json!({"status": "ok", "kind": state.store.kind()}),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: store unreachable");
            json!({"status": "unavailable", "kind": state.store.kind()})
        }
    };
    let mut checks = json!({"store": store});
    // api.video: can vodgate get a bearer? (cached a few seconds, so probes stay cheap)
    if let Some(o) = state.origin.apivideo() {
        checks["upstream_auth"] = match o.check_auth().await {
            Ok(()) => json!({"status": "ok", "kind": "apivideo"}),
            Err(e) => {
                tracing::warn!(error = %e, "readiness: api.video authentication failed");
                json!({"status": "unavailable", "kind": "apivideo"})
            }
        };
    }
    let ready = checks.as_object().is_some_and(|c| c.values().all(|c| c["status"] == "ok"));
    let body = json!({"status": if ready { "ready" } else { "not_ready" }, "checks": checks});
    if ready { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}
