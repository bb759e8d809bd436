//! Liveness and readiness for load balancers and orchestrators.

use crate::http::AppState;
use crate::http::dto::{Check, CheckStatus, Checks, Health, Readiness, ReadinessStatus};
use actix_web::{HttpResponse, get, web};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz);
}

/// The process is up and serving HTTP.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    operation_id = "healthz",
    responses((status = 200, description = "Alive.", body = crate::http::dto::Health)),
)]
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
    })
}

/// The process can do its job: the state store answers (and, with api.video, vodgate
/// can authenticate to it).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    operation_id = "readyz",
    responses(
        (status = 200, description = "Ready: every check is `ok`.", body = crate::http::dto::Readiness),
        (status = 503, description = "Not ready: a check is `unavailable`.", body = crate::http::dto::Readiness),
    ),
)]
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let check = |ok: bool, kind: &str| Check {
        status: if ok {
            CheckStatus::Ok
        } else {
            CheckStatus::Unavailable
        },
        kind: kind.to_owned(),
    };
    let store_ok = match state.app.store.ping().await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "readiness: store unreachable");
            false
        }
    };
    // api.video: can vodgate get a bearer? (cached a few seconds, so probes stay cheap)
    let upstream_ok = match state.app.origin.apivideo() {
        Some(o) => Some(match o.check_auth().await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "readiness: api.video authentication failed");
                false
            }
        }),
        None => None,
    };
    let ready = store_ok && upstream_ok != Some(false);
    let body = Readiness {
        status: if ready {
            ReadinessStatus::Ready
        } else {
            ReadinessStatus::NotReady
        },
        checks: Checks {
            store: check(store_ok, state.app.store.kind()),
            upstream_auth: upstream_ok.map(|ok| check(ok, "apivideo")),
        },
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
