//! `POST /auth/api-key` and `POST /auth/refresh`, in api.video's request and response shapes.

use crate::auth::AuthError;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::extract::Object;
use crate::http::extract::client_id as extract_client_id;
use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(api_key).service(refresh);
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ApiKeyBody {
    /// An API key (`vg_key_…`).
    #[schema(example = "vg_key_…")]
    api_key: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RefreshBody {
    /// The `refresh_token` of the last exchange or refresh.
    #[schema(example = "vg_rt_…")]
    refresh_token: String,
}

/// Both endpoints: refuse a throttled client before trying, answer a pair with `no-store`,
/// count a refusal against the client. `attempt` is lazy: it runs only after the check.
async fn exchange(
    req: &HttpRequest,
    state: &AppState,
    secret: Secret,
    attempt: impl std::future::Future<Output = Result<crate::auth::TokenPair, AuthError>>,
    refused: ApiError,
) -> Result<HttpResponse, ApiError> {
    let client = extract_client_id(req);
    // A key is counted before argon2 runs; a refresh token is a lookup (see `auth::throttle`).
    let counted = secret == Secret::ApiKey;
    let over = if counted {
        state.throttle.attempt(&client).await?
    } else {
        state.throttle.check(&client).await?
    };
    if let Some(wait) = over {
        return Err(ApiError::too_many_requests(wait));
    }
    match attempt.await {
        Ok(pair) => {
            if counted {
                state.throttle.succeeded(&client).await?;
            }
            Ok(HttpResponse::Ok()
                .insert_header(("Cache-Control", "no-store"))
                .json(pair))
        }
        Err(AuthError::Store(e)) => Err(e.into()),
        Err(AuthError::Hashing(e)) => Err(ApiError::internal(e)),
        Err(_) => {
            if !counted {
                state.throttle.failed(&client).await?;
            }
            Err(refused)
        }
    }
}

/// What an exchange presents.
#[derive(PartialEq, Eq)]
enum Secret {
    ApiKey,
    RefreshToken,
}

/// Exchange an API key for tokens
///
/// A 1 h access token and a refresh token that starts a new family.
#[utoipa::path(
    post,
    path = "/auth/api-key",
    tag = "auth",
    operation_id = "exchange_api_key",
    request_body = ApiKeyBody,
    responses(
        (status = 200, description = "A token pair.", body = crate::auth::TokenPair, headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, response = crate::http::openapi::InvalidBody),
        (status = 401, response = crate::http::openapi::Unauthorized),
        (status = 413, response = crate::http::openapi::PayloadTooLarge),
        (status = 415, response = crate::http::openapi::UnsupportedMediaType),
        (status = 429, response = crate::http::openapi::TooManyRequests),
        (status = 500, response = crate::http::openapi::InternalError),
        (status = 503, response = crate::http::openapi::StoreUnavailable),
    )
)]
#[post("/auth/api-key")]
async fn api_key(
    req: HttpRequest,
    state: web::Data<AppState>,
    web::Json(Object(body)): web::Json<Object<ApiKeyBody>>,
) -> Result<HttpResponse, ApiError> {
    exchange(
        &req,
        &state,
        Secret::ApiKey,
        state.auth.exchange_api_key(&body.api_key),
        ApiError::unauthorized("The API key is invalid."),
    )
    .await
}

/// Rotate a refresh token
///
/// A refresh token works once: presenting it again revokes its whole family, live access
/// tokens included (`401 invalid_refresh_token`; exchange the API key again).
#[utoipa::path(
    post,
    path = "/auth/refresh",
    tag = "auth",
    operation_id = "refresh_tokens",
    request_body = RefreshBody,
    responses(
        (status = 200, description = "A new token pair of the same family.", body = crate::auth::TokenPair, headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, response = crate::http::openapi::InvalidBody),
        (status = 401, response = crate::http::openapi::Unauthorized),
        (status = 413, response = crate::http::openapi::PayloadTooLarge),
        (status = 415, response = crate::http::openapi::UnsupportedMediaType),
        (status = 429, response = crate::http::openapi::TooManyRequests),
        (status = 500, response = crate::http::openapi::InternalError),
        (status = 503, response = crate::http::openapi::StoreUnavailable),
    )
)]
#[post("/auth/refresh")]
async fn refresh(
    req: HttpRequest,
    state: web::Data<AppState>,
    web::Json(Object(body)): web::Json<Object<RefreshBody>>,
) -> Result<HttpResponse, ApiError> {
    exchange(
        &req,
        &state,
        Secret::RefreshToken,
        state.auth.refresh(&body.refresh_token),
        ApiError::new(
            actix_web::http::StatusCode::UNAUTHORIZED,
            crate::domain::ErrorCode::InvalidRefreshToken,
            "The refresh token is invalid; exchange your API key again at /auth/api-key.",
        ),
    )
    .await
}
