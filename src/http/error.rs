//! One error shape for the whole API: `application/problem+json` (RFC 9457) with a stable
//! snake_case `code`. 5xx bodies stay opaque; the log carries the cause.

use crate::app::AppError;
use crate::domain::ErrorCode;
use crate::media::origin::UpstreamError;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub detail: String,
    pub retry_after_s: Option<u64>,
}

/// An error, as `application/problem+json` (RFC 9457).
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem<'a> {
    /// `urn:vodgate:error:` and the `code`.
    #[serde(rename = "type")]
    #[schema(
        pattern = "^urn:vodgate:error:[a-z0-9_]+$",
        example = "urn:vodgate:error:entitlement_not_found"
    )]
    pub kind: String,
    /// The HTTP status's reason phrase.
    #[schema(value_type = String, example = "Not Found")]
    pub title: &'a str,
    /// The HTTP status code, repeated.
    #[schema(minimum = 400, maximum = 599, example = 404)]
    pub status: u16,
    /// A stable snake_case code to branch on.
    #[schema(value_type = String, pattern = "^[a-z0-9_]+$", example = "entitlement_not_found")]
    pub code: &'a str,
    /// A sentence for a person (5xx: a generic one; the cause is in the log).
    #[schema(value_type = String, example = "No entitlement ent_0123456789abcdef0123456789abcdef.")]
    pub detail: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            retry_after_s: None,
        }
    }
    pub fn bad_request(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, detail)
    }
    pub fn not_found(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, detail)
    }
    pub fn too_many_requests(retry_after_s: u64) -> Self {
        Self {
            retry_after_s: Some(retry_after_s.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::TooManyFailedAttempts,
                "Too many failed authentication attempts from this client; wait and retry.",
            )
        }
    }
    /// An unexpected failure: the cause goes to the log, the client sees a generic sentence.
    pub fn internal(cause: impl fmt::Display) -> Self {
        tracing::error!(error.cause = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::InternalError,
            "Something went wrong on our side.",
        )
    }
    pub fn store_unavailable(cause: impl fmt::Display) -> Self {
        tracing::error!(error.cause = %cause, "state store unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::StoreUnavailable,
            "The state store is unavailable; retry shortly.",
        )
    }

    pub fn title(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("Error")
    }

    pub fn problem(&self) -> Problem<'_> {
        Problem {
            kind: format!("urn:vodgate:error:{}", self.code),
            title: self.title(),
            status: self.status.as_u16(),
            code: self.code.as_str(),
            detail: &self.detail,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        res.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        res.insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(s) = self.retry_after_s {
            res.insert_header((header::RETRY_AFTER, s.to_string()));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            res.insert_header((
                header::WWW_AUTHENTICATE,
                // Not `Basic`: a browser would prompt for the key and then send it with every
                // request to vodgate, including one a form on another site makes it send.
                "Bearer realm=\"vodgate\"",
            ));
        }
        res.body(serde_json::to_string(&self.problem()).unwrap_or_default())
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::NotReplicated { .. } => {
                tracing::error!(error.cause = %e, "write not confirmed by Redis replicas");
                Self {
                    retry_after_s: Some(1),
                    ..Self::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        ErrorCode::StoreUnavailable,
                        format!(
                            "Stored, but {e} (VODGATE_REDIS_WAIT_REPLICAS), so a Redis failover could \
                             still lose it. Retry: the call is idempotent."
                        ),
                    )
                }
            }
            e => ApiError::store_unavailable(e),
        }
    }
}

/// actix-web's own rejections that no extractor config reaches (a raw `Bytes` body over
/// the payload limit, a body that breaks off) come back as plain text; this puts them in
/// the one error shape. Responses already in that shape, and pages (which carry no error),
/// are left alone.
pub fn plain_errors_as_problems<B: 'static>() -> actix_web::middleware::ErrorHandlers<B> {
    use actix_web::dev::ServiceResponse;
    use actix_web::http::StatusCode;
    use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};

    fn to_problem<B: 'static>(
        res: ServiceResponse<B>,
    ) -> actix_web::Result<ErrorHandlerResponse<B>> {
        let already = res
            .response()
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
        if already || res.response().error().is_none() {
            return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
        }
        let e = match res.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::BodyTooLarge,
                format!(
                    "The request body is too large: {} bytes at most ({} for a payment provider's webhook).",
                    extractors::JSON_LIMIT,
                    crate::http::routes::webhooks::PROVIDER_BODY_LIMIT
                ),
            ),
            _ => ApiError::bad_request(
                ErrorCode::InvalidBody,
                "The request body could not be read.",
            ),
        };
        let (req, _) = res.into_parts();
        let res = ServiceResponse::new(req, e.error_response()).map_into_right_body();
        Ok(ErrorHandlerResponse::Response(res))
    }

    ErrorHandlers::new()
        .handler(StatusCode::PAYLOAD_TOO_LARGE, to_problem)
        .handler(StatusCode::BAD_REQUEST, to_problem)
}

/// Extractor configs that turn actix's own rejections (bad JSON, bad path, bad query,
/// oversized body) into the one error shape instead of plain-text 400s.
pub mod extractors {
    use super::ApiError;
    use crate::domain::ErrorCode;
    use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
    use actix_web::web;

    /// Admin bodies are small; anything larger is a mistake or an attack.
    pub const JSON_LIMIT: usize = 16 * 1024;

    pub fn json() -> web::JsonConfig {
        web::JsonConfig::default()
            .limit(JSON_LIMIT)
            .error_handler(|err, _req| {
                let e = match &err {
                    JsonPayloadError::OverflowKnownLength { .. }
                    | JsonPayloadError::Overflow { .. } => ApiError::new(
                        actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                        crate::domain::ErrorCode::BodyTooLarge,
                        format!("The request body is larger than {JSON_LIMIT} bytes."),
                    ),
                    JsonPayloadError::ContentType => ApiError::new(
                        actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        crate::domain::ErrorCode::UnsupportedMediaType,
                        "Send the body as application/json.",
                    ),
                    JsonPayloadError::Deserialize(de) => {
                        ApiError::bad_request(ErrorCode::InvalidBody, de.to_string())
                    }
                    other => ApiError::bad_request(ErrorCode::InvalidBody, other.to_string()),
                };
                e.into()
            })
    }

    /// The forms of vodgate's own pages (the age gate, the demo store).
    pub fn form() -> web::FormConfig {
        web::FormConfig::default()
            .limit(JSON_LIMIT)
            .error_handler(|err, _req| {
                use actix_web::error::UrlencodedError;
                let e = match &err {
                    UrlencodedError::Overflow { .. } => ApiError::new(
                        actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                        ErrorCode::BodyTooLarge,
                        format!("The form is larger than {JSON_LIMIT} bytes."),
                    ),
                    UrlencodedError::ContentType => ApiError::new(
                        actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        ErrorCode::UnsupportedMediaType,
                        "Send the form as application/x-www-form-urlencoded.",
                    ),
                    other => ApiError::bad_request(ErrorCode::InvalidBody, other.to_string()),
                };
                e.into()
            })
    }

    pub fn path() -> web::PathConfig {
        web::PathConfig::default().error_handler(|err: PathError, _req| {
            ApiError::bad_request(ErrorCode::InvalidPath, err.to_string()).into()
        })
    }

    pub fn query() -> web::QueryConfig {
        web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req| {
            ApiError::bad_request(ErrorCode::InvalidQuery, err.to_string()).into()
        })
    }
}

impl From<UpstreamError> for ApiError {
    fn from(e: UpstreamError) -> Self {
        match &e {
            UpstreamError::NotFound => {
                ApiError::not_found(ErrorCode::UpstreamNotFound, e.to_string())
            }
            UpstreamError::Timeout => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                ErrorCode::UpstreamTimeout,
                e.to_string(),
            ),
            UpstreamError::Unavailable(cause) => {
                tracing::warn!(error.cause = %cause, "origin failed");
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    ErrorCode::UpstreamUnavailable,
                    "The video origin failed; retry shortly.",
                )
            }
            UpstreamError::Invalid(_) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                ErrorCode::UpstreamInvalid,
                e.to_string(),
            ),
            UpstreamError::RateLimited { retry_after_s } => ApiError {
                retry_after_s: Some((*retry_after_s).max(1)),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::UpstreamRateLimited,
                    "The video origin asked us to slow down; retry after the time in Retry-After.",
                )
            },
            UpstreamError::AuthFailed(cause) => {
                tracing::error!(error.cause = %cause, "origin refused vodgate's credentials");
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    ErrorCode::UpstreamAuthFailed,
                    "The video origin refused vodgate's credentials; the operator has to fix them.",
                )
            }
            UpstreamError::PublicVideo => ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::VideoIsPublic,
                "This video is public at the origin, so it cannot be sold as private; the operator has to make it private.",
            ),
            UpstreamError::SessionExpired => ApiError::new(
                StatusCode::GONE,
                ErrorCode::UpstreamSessionExpired,
                "This playback's session at the video origin has ended; reload the watch page to continue.",
            ),
            UpstreamError::Store(cause) => ApiError::store_unavailable(cause),
        }
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Invalid { code, message } => ApiError::bad_request(code, message),
            AppError::Unprocessable { code, message } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
            }
            AppError::NotFound { code, message } => ApiError::not_found(code, message),
            AppError::Conflict { code, message } => {
                ApiError::new(StatusCode::CONFLICT, code, message)
            }
            AppError::Forbidden { code, message } => {
                ApiError::new(StatusCode::FORBIDDEN, code, message)
            }
            AppError::Denied(reason) => denied(reason),
            AppError::Store(e) => e.into(),
            AppError::Upstream(e) => e.into(),
        }
    }
}

/// A viewer's refusal in the one error shape; `code` is the deny reason.
pub fn denied(reason: crate::domain::DenyReason) -> ApiError {
    use crate::domain::DenyReason;
    let status = match reason {
        DenyReason::UnknownEntitlement => StatusCode::NOT_FOUND,
        DenyReason::UpstreamUnavailable => StatusCode::BAD_GATEWAY,
        _ => StatusCode::FORBIDDEN,
    };
    ApiError::new(status, reason.error_code(), reason.explain())
}
