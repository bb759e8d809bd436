//! The OpenAPI 3.1 document of the admin API, generated from the handlers' `#[utoipa::path]`
//! annotations and the types' `ToSchema` derives. This module is the one list of documented
//! operations; it serves the document at `GET /openapi.json` and Swagger UI at `GET /docs/`
//! (vendored in the binary by `utoipa-swagger-ui`'s `vendored` feature: no CDN, no download).
//!
//! `openapi.json` at the repository root is the committed snapshot; a unit test below fails on
//! any difference. After changing the API: `VODGATE_UPDATE_OPENAPI=1 cargo test --lib openapi`
//! rewrites it; review the diff and commit it with the change.

use crate::http::error::{ApiError, Problem};
use crate::http::routes;
use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use std::sync::{Arc, OnceLock};
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{self, ContentBuilder, HeaderBuilder, RefOr, ResponseBuilder};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "vodgate admin API",
        description = "Grant, read, revoke and refund time-limited access to private video; \
            exchange API keys for tokens; receive signed payment webhooks.\n\n\
            Authenticate with `Authorization: Bearer <access_token>` (from `POST /auth/api-key`) or \
            HTTP Basic with the API key as user name and an empty password. Every error is \
            `application/problem+json` with `type`, `title`, `status`, a stable snake_case `code` \
            and `detail`. Ten failed authentications from one client IP within a minute get 429 \
            with `Retry-After`, on every route that authenticates."
    ),
    paths(
        routes::auth::api_key,
        routes::auth::refresh,
        routes::entitlements::create,
        routes::entitlements::list,
        routes::entitlements::show,
        routes::entitlements::revoke,
        routes::entitlements::launch,
        routes::entitlements::refund,
        routes::playbacks::list,
        routes::playbacks::stop,
        routes::audit::list,
        routes::uploads::create,
        routes::uploads::list,
        routes::uploads::remove,
        routes::webhooks::payments,
        routes::webhooks::stripe,
        routes::webhooks::paddle,
        routes::webhooks::lemonsqueezy,
        routes::health::healthz,
        routes::health::readyz,
    ),
    components(schemas(Problem)),
    modifiers(&Components),
    tags(
        (name = "auth", description = "API keys for tokens, in api.video's shapes."),
        (name = "entitlements", description = "Who may watch what, until when."),
        (name = "playbacks", description = "The screens playing a rental."),
        (name = "audit", description = "The evidence trail of a rental or an order."),
        (name = "uploads", description = "api.video delegated upload tokens (with the api.video origin only; scope `uploads:write`)."),
        (name = "webhooks", description = "Signed events from a payment platform."),
        (name = "health", description = "Liveness and readiness probes."),
    )
)]
pub struct ApiDoc;

/// The document, as served and as committed (pretty-printed, stable ordering, trailing newline).
pub fn document() -> openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    // No license is claimed here; utoipa fills one in from Cargo metadata otherwise.
    doc.info.license = None;
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

pub fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let mut s = document()
            .to_pretty_json()
            .expect("the OpenAPI document serializes");
        s.push('\n');
        s
    })
}

/// Security schemes and the reusable problem responses.
struct Components;

impl utoipa::Modify for Components {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.bearer_format = Some("vg_at_…".into());
        bearer.description =
            Some("An access token from `POST /auth/api-key` or `POST /auth/refresh`.".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        let mut basic = Http::new(HttpAuthScheme::Basic);
        basic.description =
            Some("The API key as user name, an empty password (`curl -u KEY:`).".into());
        components.add_security_scheme("basic", SecurityScheme::Http(basic));
        for (name, response) in problem_responses() {
            components
                .responses
                .insert(name.to_owned(), RefOr::T(response));
        }
        optional_bodies_are_not_null(doc);
    }
}

/// `request_body = Option<T>` makes utoipa write `required: false` (right: the body may be
/// left out) and the schema `T | null` (wrong: a JSON `null` body is refused). Keep `T`.
fn optional_bodies_are_not_null(doc: &mut openapi::OpenApi) {
    use openapi::schema::{Schema, SchemaType, Type};
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            let Some(RefOr::T(body)) = op.request_body.as_mut() else {
                continue;
            };
            if matches!(body.required, Some(openapi::Required::True)) {
                continue;
            }
            for content in body.content.values_mut() {
                let RefOr::T(content) = content else { continue };
                let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema else {
                    continue;
                };
                let is_null = |s: &RefOr<Schema>| matches!(s, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null));
                let rest: Vec<_> = one_of
                    .items
                    .iter()
                    .filter(|s| !is_null(s))
                    .cloned()
                    .collect();
                if rest.len() == 1 && one_of.items.len() == 2 {
                    content.schema = rest.into_iter().next();
                }
            }
        }
    }
}

/// Reusable error responses: `(status = 404, response = crate::http::openapi::EntitlementNotFound)` in
/// a handler's annotation references `#/components/responses/EntitlementNotFound`.
macro_rules! problems {
    ($($name:ident: $status:literal $description:literal $([$($header:literal: $header_doc:literal),*])?;)*) => {
        $(
            #[doc = $description]
            pub struct $name;
            impl<'r> utoipa::ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<openapi::Response>) {
                    (stringify!($name), RefOr::Ref(openapi::Ref::from_response_name(stringify!($name))))
                }
            }
        )*
        fn problem_responses() -> Vec<(&'static str, openapi::Response)> {
            vec![$((stringify!($name), problem_response($status, $description, &[$($(($header, $header_doc)),*)?]))),*]
        }
    };
}

fn problem_response(status: u16, description: &str, headers: &[(&str, &str)]) -> openapi::Response {
    let example = serde_json::json!({
        "type": format!("urn:vodgate:error:{}", first_code(description)),
        "title": actix_web::http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error"),
        "status": status,
        "code": first_code(description),
        "detail": "…",
    });
    let content = ContentBuilder::new()
        .schema(Some(RefOr::Ref(openapi::Ref::from_schema_name("Problem"))))
        .example(Some(example))
        .build();
    let mut r = ResponseBuilder::new()
        .description(description)
        .content("application/problem+json", content);
    let string = || {
        openapi::ObjectBuilder::new()
            .schema_type(openapi::schema::Type::String)
            .build()
    };
    r = r.header(
        "Cache-Control",
        HeaderBuilder::new()
            .schema(Some(string()))
            .description(Some("`no-store`"))
            .build(),
    );
    for (name, doc) in headers {
        r = r.header(
            *name,
            HeaderBuilder::new()
                .schema(Some(string()))
                .description(Some(*doc))
                .build(),
        );
    }
    r.build()
}

/// The first `code` named in a description (they name codes in backticks).
fn first_code(description: &str) -> &str {
    description.split('`').nth(1).unwrap_or("error")
}

problems! {
    InvalidBody: 400 "`invalid_body`: the body is not JSON of the documented shape (unknown fields included).";
    InvalidGrant: 400 "`invalid_body` (not JSON of the documented shape), `invalid_watch_for`, `invalid_start_within` or `invalid_max_streams` (out of range).";
    InvalidQuery: 400 "`invalid_query`: a parameter is missing, malformed, out of range or unknown.";
    InvalidEntitlementId: 400 "`invalid_entitlement_id`: not `ent_` and 32 lowercase hex digits.";
    InvalidIdOrBody: 400 "`invalid_entitlement_id` or `invalid_body` (not JSON of the documented shape, or a reason over 500 characters).";
    InvalidOrderIdOrBody: 400 "`invalid_order_id` or `invalid_body` (not JSON of the documented shape, or a reason over 500 characters).";
    InvalidPlaybackIds: 400 "`invalid_entitlement_id` or `invalid_playback_id`.";
    InvalidSignature: 400 "`invalid_signature` (missing, malformed or not matching), `signature_expired` (timestamp outside ±5 minutes) or `invalid_body` (signed, but not a payment event).";
    Unauthorized: 401 "`unauthorized` (no, unreadable or invalid credentials) or, at `/auth/refresh`, `invalid_refresh_token`." ["WWW-Authenticate": "`Bearer realm=\"vodgate\"` (never `Basic`, so browsers do not prompt for and keep an API key)"];
    Forbidden: 403 "`insufficient_scope`: the API key lacks the scope this operation needs (`entitlements:read` for reads, `entitlements:write` for changes).";
    EntitlementNotFound: 404 "`entitlement_not_found`: no such entitlement.";
    OrderNotFound: 404 "`order_not_found`: no entitlement belongs to this order.";
    PlaybackNotFound: 404 "`entitlement_not_found` or `playback_not_found`: no such playback of this entitlement.";
    WebhookNotConfigured: 404 "`webhook_not_configured`: this server has no webhook secret.";
    OrderConflict: 409 "`order_conflict`: this order_id + video_id was granted to another viewer.";
    EntitlementNotActive: 409 "`entitlement_not_active`: revoked, refunded or expired; no watch link can be made.";
    PayloadTooLarge: 413 "`body_too_large`: the body is over 16 KiB.";
    ProviderPayloadTooLarge: 413 "`body_too_large`: the body is over 256 KiB.";
    UnsupportedMediaType: 415 "`unsupported_media_type`: send the body as `application/json` (a call that changes state takes JSON or no body and no `Content-Type`: form and text bodies are refused, so another site's form cannot make a browser call it).";
    InvalidAgeVerification: 422 "`age_verification_required` (age_gate `verified` without age_verification) or `invalid_age_verification` (blank or too long method/reference, verified_at in the future), or `playback_mode_unavailable` (`embed` without the api.video origin), or `delivery_unavailable` (`cdn` without a configured CDN, or on api.video).";
    OrderIdRequired: 422 "`order_id_required`: a refund or chargeback names its order_id.";
    InvalidPurchase: 422 "`invalid_purchase`: a paid checkout whose metadata or custom data make no grant (no video_id, no viewer, terms out of range); nothing granted, the event is audited, and the provider's retry is processed again.";
    TooManyRequests: 429 "`too_many_failed_attempts`: too many failed authentications from this client; retry after `Retry-After` seconds." ["Retry-After": "Seconds until the client may authenticate again."];
    InvalidTtl: 400 "`invalid_body`: the body is not JSON of the documented shape, or ttl is over 2147483647 seconds.";
    UploadsNotConfigured: 404 "`not_configured`: upload tokens need the api.video origin (`VODGATE_ORIGIN=apivideo`).";
    UploadTokenNotFound: 404 "`upload_token_not_found` (no such token) or `not_configured` (no api.video origin).";
    InternalError: 500 "`internal_error`: an unexpected failure (the log has the cause).";
    UpstreamFailed: 502 "`upstream_unavailable`, `upstream_invalid` or `upstream_auth_failed`: api.video failed or refused vodgate's credentials.";
    StoreUnavailable: 503 "`store_unavailable`: the state store does not answer; retry shortly.";
    StoreOrUpstreamUnavailable: 503 "`store_unavailable` (the state store does not answer) or `upstream_rate_limited` (api.video asked to slow down; see `Retry-After`)." ["Retry-After": "With `upstream_rate_limited`: seconds to wait."];
    UpstreamTimeout: 504 "`upstream_timeout`: api.video did not answer in time.";
}

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(openapi_json)
        .service(docs_redirect)
        .service(docs_file);
}

#[get("/openapi.json")]
async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(document_json())
}

/// What the Swagger UI page needs: its own scripts and styles (it sets inline styles from
/// script), images from `data:` URLs, and fetches to this origin only.
pub const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
    font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

#[get("/docs")]
async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}

/// The Swagger UI files the page loads; nothing else of the distribution is served.
const DOCS_FILES: &[&str] = &[
    "",
    "index.html",
    "index.css",
    "swagger-ui.css",
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "swagger-initializer.js",
    "favicon-32x32.png",
    "favicon-16x16.png",
];

#[get("/docs/{file:.*}")]
async fn docs_file(file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    static CONFIG: OnceLock<Arc<utoipa_swagger_ui::Config<'static>>> = OnceLock::new();
    let not_found = || ApiError::not_found(crate::domain::ErrorCode::NotFound, "No such route.");
    if !DOCS_FILES.contains(&file.as_str()) {
        return Err(not_found());
    }
    let config = CONFIG.get_or_init(|| {
        Arc::new(
            utoipa_swagger_ui::Config::new(["/openapi.json"])
                // No badge from the public validator (a third-party image and a leak of the URL).
                .validator_url("none")
                .try_it_out_enabled(true),
        )
    });
    let served = utoipa_swagger_ui::serve(&file, config.clone())
        .map_err(ApiError::internal)?
        .ok_or_else(not_found)?;
    let mut res = HttpResponse::Ok();
    res.content_type(served.content_type)
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, DOCS_CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if served.gzpipped {
        res.insert_header((header::CONTENT_ENCODING, "gzip"));
    }
    Ok(res.body(served.bytes.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ErrorCode;
    use std::path::PathBuf;

    /// The error descriptions name codes in backticks; each must be a code vodgate has, so
    /// the document cannot promise a code no handler sends (or miss a rename).
    #[test]
    fn every_code_the_document_names_is_an_error_code() {
        let known: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        let mut named = 0;
        for (name, response) in problem_responses() {
            let first = first_code(&response.description);
            assert!(
                known.contains(&first),
                "{name} leads with {first:?}, not a code"
            );
            for token in response.description.split('`').skip(1).step_by(2) {
                let code_shaped = token.contains('_')
                    && !token.ends_with('_')
                    && token.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
                if code_shaped || token == first {
                    named += 1;
                    assert!(known.contains(&token), "{name} names {token:?}, not a code");
                }
            }
        }
        assert!(
            named > 30,
            "only {named} codes found: is the parsing right?"
        );
    }

    fn snapshot_path() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("openapi.json")
    }

    /// The committed `openapi.json` is what the code generates.
    #[test]
    fn openapi_json_matches_the_committed_snapshot() {
        let generated = document_json();
        let path = snapshot_path();
        if std::env::var_os("VODGATE_UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, generated).expect("write openapi.json");
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != generated {
            let line = committed
                .lines()
                .zip(generated.lines())
                .position(|(a, b)| a != b)
                .map_or_else(
                    || committed.lines().count().min(generated.lines().count()) + 1,
                    |i| i + 1,
                );
            panic!(
                "openapi.json differs from the document the code generates (first difference at line {line}).\n\
                 If the API change is intended, regenerate and review the snapshot:\n\n    \
                 VODGATE_UPDATE_OPENAPI=1 cargo test --lib openapi\n    git diff openapi.json\n"
            );
        }
    }

    #[test]
    fn the_document_is_openapi_3_1_and_every_operation_is_secured_or_signed() {
        let v: serde_json::Value = serde_json::from_str(document_json()).unwrap();
        assert_eq!(v["openapi"], "3.1.0");
        for (path, item) in v["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let public = path.starts_with("/webhooks/")
                    || path == "/healthz"
                    || path == "/readyz"
                    || path.starts_with("/auth/");
                assert_eq!(
                    op.get("security").is_some(),
                    !public,
                    "{method} {path}: security"
                );
                let codes: Vec<&String> = op["responses"].as_object().unwrap().keys().collect();
                if !path.starts_with("/healthz") && !path.starts_with("/readyz") {
                    assert!(
                        codes.iter().any(|c| c.as_str() == "503"),
                        "{method} {path}: no 503"
                    );
                }
                if !public {
                    for c in ["401", "403", "429"] {
                        assert!(
                            codes.iter().any(|k| k.as_str() == c),
                            "{method} {path}: no {c}"
                        );
                    }
                }
            }
        }
        // Every referenced response exists.
        let responses = v["components"]["responses"].as_object().unwrap();
        for r in document_json().split("\"#/components/responses/").skip(1) {
            let name = r.split('"').next().unwrap();
            assert!(
                responses.contains_key(name),
                "missing response component {name}"
            );
        }
    }

    #[test]
    fn deny_unknown_fields_bodies_forbid_additional_properties() {
        let v: serde_json::Value = serde_json::from_str(document_json()).unwrap();
        for name in [
            "CreateBody",
            "RevokeBody",
            "ApiKeyBody",
            "RefreshBody",
            "AgeVerification",
        ] {
            assert_eq!(
                v["components"]["schemas"][name]["additionalProperties"], false,
                "{name}"
            );
        }
    }

    #[actix_web::test]
    async fn docs_are_served_from_the_binary_with_their_own_csp() {
        use actix_web::{App, test};
        let app = test::init_service(App::new().configure(config)).await;
        let res =
            test::call_service(&app, test::TestRequest::get().uri("/docs").to_request()).await;
        assert_eq!(res.status(), 308);
        assert_eq!(res.headers().get(header::LOCATION).unwrap(), "/docs/");
        let res =
            test::call_service(&app, test::TestRequest::get().uri("/docs/").to_request()).await;
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers().get(header::CONTENT_SECURITY_POLICY).unwrap(),
            DOCS_CSP
        );
        let html = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
        // Every script and stylesheet is relative: served here, from the binary.
        for attr in html
            .split("src=\"")
            .skip(1)
            .chain(html.split("href=\"").skip(1))
        {
            let url = attr.split('"').next().unwrap();
            assert!(
                !url.contains("//"),
                "the docs page loads {url} from elsewhere"
            );
        }
        let res = test::call_service(
            &app,
            test::TestRequest::get()
                .uri("/docs/swagger-initializer.js")
                .to_request(),
        )
        .await;
        let js = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
        assert!(js.contains("/openapi.json"), "{js}");
        assert!(!js.contains("petstore"), "{js}");
        let res = test::call_service(
            &app,
            test::TestRequest::get()
                .uri("/docs/swagger-ui-bundle.js")
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), 200);
        for path in [
            "/docs/oauth2-redirect.html",
            "/docs/../Cargo.toml",
            "/docs/swagger-ui.js.map",
        ] {
            let res =
                test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
            assert_eq!(res.status(), 404, "{path}");
        }
    }
}
