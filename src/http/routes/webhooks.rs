//! `POST /webhooks/payments`: a payment platform (or the operator's backend relaying one)
//! reports a refund or chargeback; vodgate revokes every entitlement of the order. Signed
//! (see `webhook.rs`), each event id processed once: a replay answers 200 and changes nothing.

use crate::app::{Caller, PaymentOutcome};
use crate::domain::ErrorCode;
use crate::domain::OrderId;
use crate::http::AppState;
use crate::http::dto::{WebhookResult, WebhookStatus};
use crate::http::error::ApiError;
use crate::webhook::{SignatureError, verify};
use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(payments);
}

/// A payment platform's event. Fields other than these are ignored.
#[derive(Deserialize, utoipa::ToSchema)]
struct PaymentEvent {
    /// The sender's event id: each is processed once.
    #[schema(min_length = 1, max_length = 200, example = "evt_1")]
    id: String,
    /// `refund` and `chargeback` revoke the order; other types are acknowledged and ignored.
    #[serde(rename = "type")]
    #[schema(example = "refund")]
    kind: String,
    /// Required for `refund` and `chargeback`.
    order_id: Option<OrderId>,
}

/// Receive a payment event
///
/// Signed, not authenticated: `Vodgate-Signature: t=<unix seconds>,v1=<hex>` where `v1` is
/// HMAC-SHA256 over `{t}.{raw body}` with a shared secret (`VODGATE_WEBHOOK_SECRET`);
/// timestamps outside ±5 minutes are refused. A `refund` or `chargeback` revokes every
/// entitlement of its order; a replayed event id answers 200 `duplicate` and changes nothing.
#[utoipa::path(
    post,
    path = "/webhooks/payments",
    tag = "webhooks",
    operation_id = "payment_webhook",
    params(
        ("Vodgate-Signature" = String, Header, description = "`t=<unix seconds>,v1=<64 hex digits>[,v1=…]`", example = "t=1763782793,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd"),
    ),
    request_body = PaymentEvent,
    responses(
        (status = 200, description = "Processed, ignored (another event type) or a duplicate.", body = crate::http::dto::WebhookResult),
        (status = 400, response = crate::http::openapi::InvalidSignature),
        (status = 404, response = crate::http::openapi::WebhookNotConfigured),
        (status = 413, response = crate::http::openapi::PayloadTooLarge),
        (status = 422, response = crate::http::openapi::OrderIdRequired),
        (status = 500, response = crate::http::openapi::InternalError),
        (status = 503, response = crate::http::openapi::StoreUnavailable),
    )
)]
#[post("/webhooks/payments")]
async fn payments(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let secrets = &state.config().webhook_secrets;
    if secrets.is_empty() {
        return Err(ApiError::not_found(
            ErrorCode::WebhookNotConfigured,
            "Set VODGATE_WEBHOOK_SECRET to receive payment webhooks.",
        ));
    }
    let header = req
        .headers()
        .get("vodgate-signature")
        .and_then(|v| v.to_str().ok());
    if let Err(e) = verify(header, &body, secrets, chrono::Utc::now().timestamp()) {
        let named = serde_json::from_slice::<PaymentEvent>(&body)
            .ok()
            .and_then(|ev| ev.order_id);
        state
            .app
            .payment_event_refused(named.as_ref(), &e.to_string(), &format!("{e:?}"), &caller)
            .await;
        tracing::warn!(security.event = "webhook_signature_refused", cause = %e, "payment webhook refused");
        return Err(ApiError::bad_request(refusal_code(&e), e.to_string()));
    }
    let event: PaymentEvent = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidBody, e.to_string()))?;
    let id = event.id.clone();
    let event = crate::app::PaymentEvent {
        id: event.id,
        kind: event.kind,
        order_id: event.order_id,
    };
    let only = |status| WebhookResult {
        id: id.clone(),
        status,
        revoked: None,
        already_revoked: None,
    };
    let body = match state.app.payment_event(&event, &caller).await? {
        PaymentOutcome::Duplicate => only(WebhookStatus::Duplicate),
        PaymentOutcome::Ignored => only(WebhookStatus::Ignored),
        PaymentOutcome::Processed {
            revoked,
            already_revoked,
        } => WebhookResult {
            revoked: Some(revoked),
            already_revoked: Some(already_revoked),
            ..only(WebhookStatus::Processed)
        },
    };
    Ok(HttpResponse::Ok().json(body))
}

fn refusal_code(e: &SignatureError) -> ErrorCode {
    match e {
        SignatureError::Stale => ErrorCode::SignatureExpired,
        _ => ErrorCode::InvalidSignature,
    }
}
