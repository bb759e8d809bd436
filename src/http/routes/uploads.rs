//! `/v1/upload-tokens`: api.video's delegated upload tokens, relayed for operators whose
//! creators upload from a browser (the token goes to the creator's page; the upload itself
//! goes straight to api.video at `upload_url`). Scope `uploads:write`; only with the
//! apivideo origin (404 `not_configured` otherwise).

use crate::domain::ErrorCode;
use crate::http::AppState;
use crate::http::dto::{Pagination, UploadToken, UploadTokenList};
use crate::http::error::ApiError;
use crate::http::extract::{Authorized, Object, UploadsWrite};
use crate::media::origin::ApiVideoOrigin;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, delete, get, post, web};
use serde::Deserialize;
use serde_json::Value;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(create).service(list).service(remove);
}

fn apivideo(state: &AppState) -> Result<&ApiVideoOrigin, ApiError> {
    state.app.origin.apivideo().ok_or_else(|| {
        ApiError::not_found(
            ErrorCode::NotConfigured,
            "Upload tokens need the api.video origin (VODGATE_ORIGIN=apivideo).",
        )
    })
}

/// api.video's token object in vodgate's snake_case, plus where to upload with it.
fn token_view(o: &ApiVideoOrigin, t: &Value) -> UploadToken {
    let token = t["token"].as_str().unwrap_or_default();
    UploadToken {
        token: token.to_owned(),
        ttl: t["ttl"].as_u64().unwrap_or(0),
        created_at: t["createdAt"].clone(),
        expires_at: t["expiresAt"].clone(),
        upload_url: o.upload_url(token),
    }
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UploadTokenCreateBody)]
struct CreateBody {
    /// Seconds the token stays valid; 0 or absent: until deleted.
    #[schema(minimum = 0, maximum = 2147483647, example = 3600)]
    ttl: Option<u64>,
}

/// Create a delegated upload token
///
/// api.video's delegated upload token: the creator's page uploads straight to `upload_url`.
/// The body is optional: without one, the token never expires.
#[utoipa::path(
    post,
    path = "/v1/upload-tokens",
    tag = "uploads",
    operation_id = "create_upload_token",
    request_body(content = Option<CreateBody>, content_type = "application/json"),
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 201, description = "The new token.", body = crate::http::dto::UploadToken, headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, response = crate::http::openapi::InvalidTtl),
        (status = 401, response = crate::http::openapi::Unauthorized),
        (status = 415, response = crate::http::openapi::UnsupportedMediaType),
        (status = 403, response = crate::http::openapi::Forbidden),
        (status = 404, response = crate::http::openapi::UploadsNotConfigured),
        (status = 413, response = crate::http::openapi::PayloadTooLarge),
        (status = 429, response = crate::http::openapi::TooManyRequests),
        (status = 500, response = crate::http::openapi::InternalError),
        (status = 502, response = crate::http::openapi::UpstreamFailed),
        (status = 503, response = crate::http::openapi::StoreOrUpstreamUnavailable),
        (status = 504, response = crate::http::openapi::UpstreamTimeout),
    )
)]
#[post("/upload-tokens")]
async fn create(
    _auth: Authorized<UploadsWrite>,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let o = apivideo(&state)?;
    // No body at all is fine (a token without expiry); a bad one is not.
    let body: CreateBody = if body.iter().all(u8::is_ascii_whitespace) {
        CreateBody::default()
    } else {
        serde_json::from_slice(&body)
            .map(|Object(b)| b)
            .map_err(|e| ApiError::bad_request(ErrorCode::InvalidBody, e.to_string()))?
    };
    let ttl = body.ttl.unwrap_or(0);
    let ttl = u32::try_from(ttl)
        .ok()
        .filter(|t| *t <= i32::MAX as u32)
        .ok_or_else(|| {
            ApiError::bad_request(
                ErrorCode::InvalidBody,
                "ttl must be between 0 (no expiry) and 2147483647 seconds.",
            )
        })?;
    let t = o.create_upload_token(ttl).await?;
    if t["token"].as_str().is_none_or(str::is_empty) {
        return Err(crate::media::origin::UpstreamError::Invalid(
            "api.video answered an upload token without a token".into(),
        )
        .into());
    }
    tracing::info!(ttl_s = ttl, "upload token created");
    Ok(HttpResponse::build(StatusCode::CREATED)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(token_view(o, &t)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// From 1 (default 1).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 4294967295_u64, example = 1)]
    page: Option<u32>,
    /// Tokens per page (default 25).
    #[param(minimum = 1, maximum = 100, example = 25)]
    page_size: Option<u32>,
}

/// List delegated upload tokens
///
/// Newest first.
#[utoipa::path(
    get,
    path = "/v1/upload-tokens",
    tag = "uploads",
    operation_id = "list_upload_tokens",
    params(ListQuery),
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "One page of tokens.", body = crate::http::dto::UploadTokenList, headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, response = crate::http::openapi::InvalidQuery),
        (status = 401, response = crate::http::openapi::Unauthorized),
        (status = 403, response = crate::http::openapi::Forbidden),
        (status = 404, response = crate::http::openapi::UploadsNotConfigured),
        (status = 429, response = crate::http::openapi::TooManyRequests),
        (status = 500, response = crate::http::openapi::InternalError),
        (status = 502, response = crate::http::openapi::UpstreamFailed),
        (status = 503, response = crate::http::openapi::StoreOrUpstreamUnavailable),
        (status = 504, response = crate::http::openapi::UpstreamTimeout),
    )
)]
#[get("/upload-tokens")]
async fn list(
    _auth: Authorized<UploadsWrite>,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let o = apivideo(&state)?;
    let page = q.page.unwrap_or(1);
    let page_size = q.page_size.unwrap_or(25);
    if page == 0 || !(1..=100).contains(&page_size) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidQuery,
            "page starts at 1; page_size is between 1 and 100.",
        ));
    }
    let v = o.list_upload_tokens(page, page_size).await?;
    let data = v["data"]
        .as_array()
        .map(|a| a.iter().map(|t| token_view(o, t)).collect())
        .unwrap_or_default();
    let p = &v["pagination"];
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(UploadTokenList {
            data,
            pagination: Pagination {
                page: p["currentPage"].as_u64().unwrap_or(page.into()),
                page_size: p["pageSize"].as_u64().unwrap_or(page_size.into()),
                pages_total: p["pagesTotal"].as_u64(),
                items_total: p["itemsTotal"].as_u64(),
            },
        }))
}

/// Delete a delegated upload token
#[utoipa::path(
    delete,
    path = "/v1/upload-tokens/{token}",
    tag = "uploads",
    operation_id = "delete_upload_token",
    params(("token" = String, Path, description = "The token (api.video's are `to` and letters and digits).", example = "to1tcmSFHeYY5KzyhOqVKMKb")),
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = crate::http::openapi::Unauthorized),
        (status = 415, response = crate::http::openapi::UnsupportedMediaType),
        (status = 403, response = crate::http::openapi::Forbidden),
        (status = 404, response = crate::http::openapi::UploadTokenNotFound),
        (status = 429, response = crate::http::openapi::TooManyRequests),
        (status = 500, response = crate::http::openapi::InternalError),
        (status = 502, response = crate::http::openapi::UpstreamFailed),
        (status = 503, response = crate::http::openapi::StoreOrUpstreamUnavailable),
        (status = 504, response = crate::http::openapi::UpstreamTimeout),
    )
)]
#[delete("/upload-tokens/{token}")]
async fn remove(
    _auth: Authorized<UploadsWrite>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let o = apivideo(&state)?;
    let token = path.into_inner();
    // api.video tokens are `to` + alphanumerics; anything else never reaches its URL.
    if token.is_empty() || token.len() > 64 || !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ApiError::not_found(
            ErrorCode::UploadTokenNotFound,
            "No such upload token.",
        ));
    }
    if o.delete_upload_token(&token).await? {
        tracing::info!("upload token deleted");
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found(
            ErrorCode::UploadTokenNotFound,
            "No such upload token.",
        ))
    }
}
