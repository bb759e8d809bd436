//! Test and operator controls under `/_sim/*` (never counted, never faulted, no auth).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::faults;
use crate::state::Sim;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/_sim")
            .route("/health", web::get().to(health))
            .route("/calls", web::get().to(get_calls))
            .route("/calls", web::delete().to(reset_calls))
            .route("/faults", web::get().to(get_faults))
            .route("/faults", web::post().to(add_faults))
            .route("/faults", web::delete().to(clear_faults))
            .route("/tokens", web::get().to(tokens))
            .route("/clock", web::get().to(get_clock))
            .route("/clock", web::post().to(advance_clock))
            .route("/videos/{videoId}/public", web::put().to(set_public))
            .route("/reset", web::post().to(reset)),
    );
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn get_calls(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(sim.calls.snapshot())
}

async fn reset_calls(sim: web::Data<Sim>) -> HttpResponse {
    sim.calls.reset();
    HttpResponse::NoContent().finish()
}

async fn get_faults(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(sim.faults.rules())
}

async fn add_faults(sim: web::Data<Sim>, body: web::Bytes) -> HttpResponse {
    match faults::parse_rules(&String::from_utf8_lossy(&body)) {
        Ok(rules) => {
            sim.faults.add(rules);
            HttpResponse::Ok().json(sim.faults.rules())
        }
        Err(e) => actix_web::ResponseError::error_response(&ApiError::bad_request(
            "",
            format!("Invalid fault rule: {e}"),
        )),
    }
}

async fn clear_faults(sim: web::Data<Sim>) -> HttpResponse {
    sim.faults.clear();
    HttpResponse::NoContent().finish()
}

async fn tokens(sim: web::Data<Sim>) -> HttpResponse {
    let mut body = sim.vod.describe(sim.now());
    body["privateTokenReuseAttempts"] =
        json!(sim.calls.get(crate::calls::PRIVATE_TOKEN_REUSE_ATTEMPTS));
    HttpResponse::Ok().json(body)
}

fn clock_body(sim: &Sim) -> serde_json::Value {
    json!({"now": crate::videos::atom(sim.now()), "offsetSeconds": sim.clock_offset().num_seconds()})
}

async fn get_clock(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(clock_body(&sim))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Advance {
    advance_seconds: i64,
}

/// `POST /_sim/clock {"advanceSeconds": N}`: move the sim's clock forward (token, session,
/// upload-token expiry and the rate window all follow it).
async fn advance_clock(sim: web::Data<Sim>, body: web::Json<Advance>) -> HttpResponse {
    sim.advance_clock(chrono::Duration::seconds(body.advance_seconds));
    HttpResponse::Ok().json(clock_body(&sim))
}

#[derive(Debug, Deserialize)]
struct Public {
    public: bool,
}

async fn set_public(
    sim: web::Data<Sim>,
    id: web::Path<String>,
    body: web::Json<Public>,
) -> HttpResponse {
    if sim.videos.set_public(&id, body.public) {
        HttpResponse::NoContent().finish()
    } else {
        actix_web::ResponseError::error_response(&ApiError::not_found("videoId"))
    }
}

async fn reset(sim: web::Data<Sim>) -> HttpResponse {
    sim.reset();
    HttpResponse::NoContent().finish()
}
