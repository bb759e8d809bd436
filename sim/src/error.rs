//! api.video's error bodies (RFC 7807-like problem details: `type`, `title`, `name`, `status`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{Map, Value, json};

const DOCS: &str = "https://docs.api.video/reference/";

/// An error answered in api.video's JSON shape.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {title}")]
pub struct ApiError {
    pub status: StatusCode,
    /// Slug appended to `https://docs.api.video/reference/`.
    pub slug: &'static str,
    pub title: String,
    /// The parameter at fault; `None` leaves the key out (as in `too-many-requests`).
    pub name: Option<String>,
}

impl ApiError {
    pub fn new(
        status: u16,
        slug: &'static str,
        title: impl Into<String>,
        name: Option<&str>,
    ) -> Self {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            slug,
            title: title.into(),
            name: name.map(str::to_owned),
        }
    }

    pub fn not_found(name: &str) -> Self {
        Self::new(
            404,
            "resource-not-found",
            "The requested resource was not found.",
            Some(name),
        )
    }

    pub fn unrecognized_url() -> Self {
        Self::new(
            404,
            "unrecognized-request-url",
            "Unrecognized request URL.",
            None,
        )
    }

    pub fn bad_request(name: &str, title: impl Into<String>) -> Self {
        Self::new(400, "invalid-attribute", title, Some(name))
    }

    pub fn out_of_range(name: &str) -> Self {
        Self::new(
            400,
            "invalid-attribute",
            "This parameter is out of the allowed range of values.",
            Some(name),
        )
    }

    pub fn too_many_requests() -> Self {
        Self::new(429, "too-many-requests", "Too many requests.", None)
    }

    pub fn server_error(status: u16) -> Self {
        Self::new(
            status,
            "internal-server-error",
            "An unexpected error occurred (injected by apivideo-sim).",
            Some(""),
        )
    }

    pub fn body(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), json!(format!("{DOCS}{}", self.slug)));
        m.insert("title".into(), json!(self.title));
        if let Some(name) = &self.name {
            m.insert("name".into(), json!(name));
        }
        m.insert("status".into(), json!(self.status.as_u16()));
        Value::Object(m)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status)
            .content_type("application/json")
            .body(self.body().to_string())
    }
}
