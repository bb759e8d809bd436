//! `POST /auth/api-key` and `POST /auth/refresh`, in api.video's request and response shapes.

use crate::auth::AuthError;
use crate::auth::extract_client_id;
use crate::error::ApiError;
use crate::startup::AppState;
use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(api_key).service(refresh);
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ApiKeyBody {
    api_key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RefreshBody {
    refresh_token: String,
}

fn token_response(pair: crate::auth::TokenPair) -> HttpResponse {
    HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(pair)
}

#[post("/auth/api-key")]
async fn api_key(req: HttpRequest, state: web::Data<AppState>, body: web::Json<ApiKeyBody>) -> Result<HttpResponse, ApiError> {
    let client = extract_client_id(&req);
    state.throttle.check(&client).await?;
    match state.auth.exchange_api_key(&body.api_key).await {
        Ok(pair) => Ok(token_response(pair)),
        Err(AuthError::Store(e)) => Err(e.into()),
        Err(AuthError::Hashing(e)) => Err(ApiError::internal(e)),
        Err(_) => {
            state.throttle.failed(&client).await?;
            Err(ApiError::unauthorized("The API key is invalid."))
        }
    }
}

#[post("/auth/refresh")]
async fn refresh(req: HttpRequest, state: web::Data<AppState>, body: web::Json<RefreshBody>) -> Result<HttpResponse, ApiError> {
    let client = extract_client_id(&req);
    state.throttle.check(&client).await?;
    match state.auth.refresh(&body.refresh_token).await {
        Ok(pair) => Ok(token_response(pair)),
        Err(AuthError::Store(e)) => Err(e.into()),
        Err(AuthError::Hashing(e)) => Err(ApiError::internal(e)),
        Err(_) => {
            state.throttle.failed(&client).await?;
            Err(ApiError::new(
                actix_web::http::StatusCode::UNAUTHORIZED,
                "invalid_refresh_token",
                "The refresh token is invalid; exchange your API key again at /auth/api-key.",
            ))
        }
    }
}
