//! `/v1/entitlements` and `/v1/orders/{order_id}/refund`: what the operator's backend calls
//! when a viewer pays, asks for another device, or gets a refund.

use crate::app::{Caller, GrantInput};
use crate::domain::ErrorCode;
use crate::domain::{
    AgeGate, AgeVerification, Delivery, EntitlementId, OrderId, PlaybackMode, VideoId, ViewerId,
};
use crate::http::AppState;
use crate::http::dto::{EntitlementList, EntitlementView, RefundResult};
use crate::http::error::ApiError;
use crate::http::extract::{Authorized, EntitlementsRead, EntitlementsWrite, Object};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use serde::Deserialize;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(show)
        .service(revoke)
        .service(launch)
        .service(refund);
}

/// A grant: viewer V may watch video X.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    viewer_id: ViewerId,
    video_id: VideoId,
    /// The site's order; the same order_id + video_id again returns the first grant.
    order_id: Option<OrderId>,
    /// The rental window in seconds (default: the server's `default_watch_for_s`, 86400 unless configured).
    #[schema(minimum = 1, maximum = 31622400, example = 86400)]
    watch_for_s: Option<u64>,
    /// A start window: watching must start within this many seconds, and the rental window
    /// runs from the first play. Absent: the window runs from the grant.
    #[schema(minimum = 1, maximum = 31622400, example = 2592000)]
    start_within_s: Option<u64>,
    /// Playbacks that may run at once (default: the server's `default_max_streams`, 2 unless configured).
    #[schema(minimum = 1, maximum = 100, example = 2)]
    max_streams: Option<u32>,
    /// Default `none`. `verified` needs `age_verification`.
    #[serde(default)]
    age_gate: AgeGate,
    age_verification: Option<AgeVerification>,
    /// api.video only: `relay` or `embed` for this rental; absent: the deployment's
    /// `VODGATE_APIVIDEO_MODE`. `embed` needs the api.video origin.
    playback_mode: Option<PlaybackMode>,
    /// Local and http origins: `relay` (through vodgate) or `cdn` (segments from the
    /// configured CDN with its token) for this rental; absent: the deployment's
    /// `VODGATE_DELIVERY`. `cdn` needs a configured CDN.
    delivery: Option<Delivery>,
}

/// Optional; the whole body may be left out.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    /// Shown to operators only (entitlement reads, the audit trail).
    #[schema(max_length = 500, example = "abuse")]
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    viewer_id: Option<ViewerId>,
    order_id: Option<OrderId>,
}

fn parse_id(raw: &str) -> Result<EntitlementId, ApiError> {
    EntitlementId::parse(raw)
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidEntitlementId, e.to_string()))
}

/// A body that may be left out entirely, but when sent must be valid JSON of this shape.
fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map(|Object(t)| t)
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidBody, e.to_string()))
}

/// Grant access
///
/// The same order_id + video_id again returns the first grant (200), never a duplicate; the
/// same order_id + video_id for another viewer is a conflict (409).
#[utoipa::path(
    post,
    path = "/v1/entitlements",
    tag = "entitlements",
    operation_id = "grant_entitlement",
    request_body = CreateBody,
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 201, description = "Granted, with a fresh watch link.", body = EntitlementView),
        (status = 200, description = "This order_id + video_id was granted before: the first grant, with a fresh watch link.", body = EntitlementView),
        (status = 400, response = crate::http::openapi::InvalidGrant),
        (status = 401, response = crate::http::openapi::Unauthorized),
        (status = 403, response = crate::http::openapi::Forbidden),
        (status = 409, response = crate::http::openapi::OrderConflict),
        (status = 413, response = crate::http::openapi::PayloadTooLarge),
        (status = 415, response = crate::http::openapi::UnsupportedMediaType),
        (status = 422, response = crate::http::openapi::InvalidAgeVerification),
        (status = 429, response = crate::http::openapi::TooManyRequests),
        (status = 500, response = crate::http::openapi::InternalError),
        (status = 503, response = crate::http::openapi::StoreUnavailable),
    )
)]
#[post("/entitlements")]
async fn create(
    caller: Caller,
    _auth: Authorized<EntitlementsWrite>,
    state: web::Data<AppState>,
    web::Json(Object(body)): web::Json<Object<CreateBody>>,
) -> Result<HttpResponse, ApiError> {
    let terms = state.app.terms(GrantInput {
        viewer_id: body.viewer_id,
        video_id: body.video_id,
        order_id: body.order_id,
        watch_for_s: body.watch_for_s,
        start_within_s: body.start_within_s,
        max_streams: body.max_streams,
        age_gate: body.age_gate,
        age_verification: body.age_verification,
        playback_mode: body.playback_mode,
        delivery: body.delivery,
    })?;
    let granted = state.app.grant(terms, &caller).await?;
    let status = if granted.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(EntitlementView::new(
        &granted.record,
        Some(state.app.watch_url_of(&granted.launch)),
    )))
}

/// List a viewer's or an order's entitlements
///
/// Give exactly one of `viewer_id` and `order_id` (an order bought on a provider's
/// checkout is found by its order: `client_reference_id`, the session, the transaction).
#[utoipa::path(
    get,
    path = "/v1/entitlements",
    tag = "entitlements",
    operation_id = "list_entitlements",
    params(
        ("viewer_id" = Option<ViewerId>, Query, description = "Whose entitlements."),
        ("order_id" = Option<OrderId>, Query, description = "The order's entitlements."),
    ),
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "The viewer's or order's entitlements (none: an empty list).", body = crate::http::dto::EntitlementList),
        (status = 400, response = crate::http::openapi::InvalidQuery),
        (status = 401, response = crate::http::openapi::Unauthorized),
        (status = 403, response = crate::http::openapi::Forbidden),
        (status = 429, response = crate::http::openapi::TooManyRequests),
        (status = 500, response = crate::http::openapi::InternalError),
        (status = 503, response = crate::http::openapi::StoreUnavailable),
    )
)]
#[get("/entitlements")]
async fn list(
    _auth: Authorized<EntitlementsRead>,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let records = match (&q.viewer_id, &q.order_id) {
        (Some(v), None) => state.app.entitlements.list_for_viewer(v).await?,
        (None, Some(o)) => state.app.entitlements.list_for_order(o).await?,
        _ => {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidQuery,
                "Give exactly one of viewer_id or order_id.",
            ));
        }
    };
    let data: Vec<_> = records
        .iter()
        .map(|r| EntitlementView::new(r, None))
        .collect();
    Ok(HttpResponse::Ok().json(EntitlementList { data }))
}

/// Read an entitlement
#[utoipa::path(
    get,
    path = "/v1/entitlements/{id}",
    tag = "entitlements",
    operation_id = "get_entitlement",
    params(("id" = EntitlementId, Path)),
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "The entitlement (revoked and expired ones stay readable).", body = EntitlementView),
        (status = 400, response = crate::http::openapi::InvalidEntitlementId),
        (status = 401, response = crate::http::openapi::Unauthorized),
        (status = 403, response = crate::http::openapi::Forbidden),
        (status = 404, response = crate::http::openapi::EntitlementNotFound),
        (status = 429, response = crate::http::openapi::TooManyRequests),
        (status = 500, response = crate::http::openapi::InternalError),
        (status = 503, response = crate::http::openapi::StoreUnavailable),
    )
)]
#[get("/entitlements/{id}")]
async fn show(
    _auth: Authorized<EntitlementsRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let record = state.app.entitlement(&id).await?;
    Ok(HttpResponse::Ok().json(EntitlementView::new(&record, None)))
}

/// Revoke an entitlement
///
/// Every instance refuses the next playlist, key or segment request of its playbacks.
/// Write-once: revoking again returns the entitlement as first revoked.
#[utoipa::path(
    post,
    path = "/v1/entitlements/{id}/revoke",
    tag = "entitlements",
    operation_id = "revoke_entitlement",
    params(("id" = EntitlementId, Path)),
    request_body(content = Option<RevokeBody>, content_type = "application/json", description = "Optional: an empty body revokes without a reason."),
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "The entitlement, now `revoked` (or as it was first revoked or refunded).", body = EntitlementView),
        (status = 400, response = crate::http::openapi::InvalidIdOrBody),
        (status = 401, response = crate::http::openapi::Unauthorized),
        (status = 415, response = crate::http::openapi::UnsupportedMediaType),
        (status = 403, response = crate::http::openapi::Forbidden),
        (status = 404, response = crate::http::openapi::EntitlementNotFound),
        (status = 413, response = crate::http::openapi::PayloadTooLarge),
        (status = 429, response = crate::http::openapi::TooManyRequests),
        (status = 500, response = crate::http::openapi::InternalError),
        (status = 503, response = crate::http::openapi::StoreUnavailable),
    )
)]
#[post("/entitlements/{id}/revoke")]
async fn revoke(
    caller: Caller,
    _auth: Authorized<EntitlementsWrite>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let reason = optional_json::<RevokeBody>(&body)?.reason;
    let revoked = state.app.revoke(&id, reason, &caller).await?;
    Ok(HttpResponse::Ok().json(EntitlementView::new(&revoked.record, None)))
}

/// Another device: a fresh single-use watch link for a live entitlement.
#[utoipa::path(
    post,
    path = "/v1/entitlements/{id}/launch",
    tag = "entitlements",
    operation_id = "launch_entitlement",
    params(("id" = EntitlementId, Path)),
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "The entitlement with a fresh `watch_url`.", body = EntitlementView),
        (status = 400, response = crate::http::openapi::InvalidEntitlementId),
        (status = 401, response = crate::http::openapi::Unauthorized),
        (status = 415, response = crate::http::openapi::UnsupportedMediaType),
        (status = 403, response = crate::http::openapi::Forbidden),
        (status = 404, response = crate::http::openapi::EntitlementNotFound),
        (status = 409, response = crate::http::openapi::EntitlementNotActive),
        (status = 429, response = crate::http::openapi::TooManyRequests),
        (status = 500, response = crate::http::openapi::InternalError),
        (status = 503, response = crate::http::openapi::StoreUnavailable),
    )
)]
#[post("/entitlements/{id}/launch")]
async fn launch(
    _auth: Authorized<EntitlementsWrite>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let (record, url) = state.app.launch(&id).await?;
    Ok(HttpResponse::Ok().json(EntitlementView::new(&record, Some(url))))
}

/// Refund an order
///
/// Every entitlement of the order becomes `refunded`; every instance refuses their playbacks
/// from the next request on.
#[utoipa::path(
    post,
    path = "/v1/orders/{order_id}/refund",
    tag = "entitlements",
    operation_id = "refund_order",
    params(("order_id" = OrderId, Path)),
    request_body(content = Option<RevokeBody>, content_type = "application/json", description = "Optional: an empty body refunds without a reason."),
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "The order's entitlements, now `refunded` (or as first revoked).", body = crate::http::dto::RefundResult),
        (status = 400, response = crate::http::openapi::InvalidOrderIdOrBody),
        (status = 401, response = crate::http::openapi::Unauthorized),
        (status = 415, response = crate::http::openapi::UnsupportedMediaType),
        (status = 403, response = crate::http::openapi::Forbidden),
        (status = 404, response = crate::http::openapi::OrderNotFound),
        (status = 413, response = crate::http::openapi::PayloadTooLarge),
        (status = 429, response = crate::http::openapi::TooManyRequests),
        (status = 500, response = crate::http::openapi::InternalError),
        (status = 503, response = crate::http::openapi::StoreUnavailable),
    )
)]
#[post("/orders/{order_id}/refund")]
async fn refund(
    caller: Caller,
    _auth: Authorized<EntitlementsWrite>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let order = OrderId::parse(&path)
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidOrderId, e.to_string()))?;
    let reason = optional_json::<RevokeBody>(&body)?.reason;
    let refunded = state.app.refund_order(&order, reason, &caller).await?;
    let data: Vec<_> = refunded
        .iter()
        .map(|r| EntitlementView::new(&r.record, None))
        .collect();
    Ok(HttpResponse::Ok().json(RefundResult {
        order_id: order,
        data,
    }))
}
