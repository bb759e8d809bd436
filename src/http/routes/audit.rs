//! `GET /v1/audit?entitlement_id=…` or `?order_id=…`: the trail of one rental or order,
//! oldest first, `limit` events at a time; `next_cursor` (when present) fetches the next page.

use crate::app::audit::Trail;
use crate::domain::ErrorCode;
use crate::domain::{EntitlementId, OrderId};
use crate::http::AppState;
use crate::http::dto::AuditPage;
use crate::http::error::ApiError;
use crate::http::extract::{Authorized, EntitlementsRead};
use actix_web::{HttpResponse, get, web};
use serde::Deserialize;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(list);
}

/// Exactly one of `entitlement_id` or `order_id`; no other parameters.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// The trail of one entitlement.
    entitlement_id: Option<EntitlementId>,
    /// The trail of one order.
    order_id: Option<OrderId>,
    /// `true`: the events about no entitlement or order (badly signed webhooks, a
    /// provider's refund of a payment never granted here, event types vodgate does not act on).
    unattributed: Option<bool>,
    /// A `next_cursor` from the previous page.
    #[param(
        pattern = "^\\+?[0-9]+-\\+?[0-9]+$",
        max_length = 40,
        example = "1763782793000-0"
    )]
    after: Option<String>,
    /// Events per page (default 100).
    #[param(minimum = 1, maximum = 1000, example = 100)]
    limit: Option<usize>,
}

/// Read the audit trail
///
/// The trail of one entitlement or one order, oldest first: grants, launches, first plays,
/// refusals, revocations, refunds, refused webhooks; or (`unattributed=true`) the events
/// about neither.
#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "audit",
    operation_id = "list_audit_events",
    params(AuditQuery),
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "One page of events (an unknown entitlement or order has none).", body = crate::http::dto::AuditPage),
        (status = 400, response = crate::http::openapi::InvalidQuery),
        (status = 401, response = crate::http::openapi::Unauthorized),
        (status = 403, response = crate::http::openapi::Forbidden),
        (status = 429, response = crate::http::openapi::TooManyRequests),
        (status = 500, response = crate::http::openapi::InternalError),
        (status = 503, response = crate::http::openapi::StoreUnavailable),
    )
)]
#[get("/audit")]
async fn list(
    _auth: Authorized<EntitlementsRead>,
    state: web::Data<AppState>,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let trail = match (&q.entitlement_id, &q.order_id, q.unattributed) {
        (Some(e), None, None | Some(false)) => Trail::Entitlement(e),
        (None, Some(o), None | Some(false)) => Trail::Order(o),
        (None, None, Some(true)) => Trail::Unattributed,
        _ => {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidQuery,
                "Give exactly one of entitlement_id, order_id or unattributed=true.",
            ));
        }
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidQuery,
            "limit must be between 1 and 1000.",
        ));
    }
    if let Some(a) = &q.after
        && !(a.len() <= 40
            && a.split_once('-')
                .is_some_and(|(m, s)| m.parse::<u64>().is_ok() && s.parse::<u64>().is_ok()))
    {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidQuery,
            "after must be a cursor returned as next_cursor.",
        ));
    }
    let (events, next) = state
        .app
        .audit
        .list(trail, q.after.as_deref(), limit)
        .await?;
    Ok(HttpResponse::Ok().json(AuditPage {
        data: events,
        next_cursor: next,
    }))
}
