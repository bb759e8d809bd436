//! `POST /webhooks/payments`: a payment platform (or the operator's backend relaying one)
//! reports a refund or chargeback; vodgate revokes every entitlement of the order. Signed
//! (see `webhook.rs`), each event id processed once: a replay answers 200 and changes nothing.

use crate::audit::{AuditEvent, AuditKind};
use crate::domain::OrderId;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::webhook::{SignatureError, verify};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

/// Event ids are remembered far longer than the signature window, so a replay is a no-op.
const SEEN_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

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
        (status = 200, description = "Processed, ignored (another event type) or a duplicate.", body = crate::openapi::WebhookResult),
        (status = 400, response = crate::openapi::InvalidSignature),
        (status = 404, response = crate::openapi::WebhookNotConfigured),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 422, response = crate::openapi::OrderIdRequired),
        (status = 500, response = crate::openapi::InternalError),
        (status = 503, response = crate::openapi::StoreUnavailable),
    )
)]
#[post("/webhooks/payments")]
async fn payments(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    if state.config.webhook_secrets.is_empty() {
        return Err(ApiError::not_found(
            "webhook_not_configured",
            "Set VODGATE_WEBHOOK_SECRET to receive payment webhooks.",
        ));
    }
    let header = req
        .headers()
        .get("vodgate-signature")
        .and_then(|v| v.to_str().ok());
    if let Err(e) = verify(
        header,
        &body,
        &state.config.webhook_secrets,
        chrono::Utc::now().timestamp(),
    ) {
        let client = state.audit.client(&req).await;
        let mut ev = AuditEvent::new(AuditKind::WebhookRefused)
            .reason(e.to_string())
            .client(&client);
        // Unauthenticated, but worth filing under the order it names: "someone tried to
        // refund order X with a bad signature" is what an operator looks for. Once per
        // order, cause and minute, though: an order's trail is capped, and unsigned requests
        // must not be able to push its real grant and refund events out of it. The rest go
        // to the unattributed log.
        if let Ok(PaymentEvent {
            order_id: Some(order),
            ..
        }) = serde_json::from_slice::<PaymentEvent>(&body)
        {
            let marker = format!("webhook:refused:{{o:{order}}}:{e:?}");
            if let Ok(true) = state
                .store
                .set_nx(&marker, "1", Duration::from_secs(60))
                .await
            {
                ev = ev.order(&order);
            } else {
                ev = ev.reason(format!("{e} (names order {order})"));
            }
        }
        state.audit.record(ev).await;
        tracing::warn!(security.event = "webhook_signature_refused", cause = %e, "payment webhook refused");
        return Err(ApiError::bad_request(refusal_code(&e), e.to_string()));
    }
    let event: PaymentEvent = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?;
    if event.id.is_empty() || event.id.len() > 200 {
        return Err(ApiError::bad_request(
            "invalid_body",
            "id must be 1 to 200 characters.",
        ));
    }
    let seen_key = format!(
        "webhook:seen:{}",
        crate::token::TokenHash::of(&event.id).as_str()
    );
    if !state.store.set_nx(&seen_key, "1", SEEN_FOR).await? {
        return Ok(HttpResponse::Ok().json(json!({"id": event.id, "status": "duplicate"})));
    }
    let outcome = handle(&state, &req, &event).await;
    if outcome.is_err() {
        // Not processed: let the sender's retry through.
        let _ = state.store.del(&seen_key).await;
    }
    outcome
}

fn refusal_code(e: &SignatureError) -> &'static str {
    match e {
        SignatureError::Stale => "signature_expired",
        _ => "invalid_signature",
    }
}

async fn handle(
    state: &AppState,
    req: &HttpRequest,
    event: &PaymentEvent,
) -> Result<HttpResponse, ApiError> {
    if !matches!(event.kind.as_str(), "refund" | "chargeback") {
        return Ok(HttpResponse::Ok().json(json!({"id": event.id, "status": "ignored"})));
    }
    let Some(order) = &event.order_id else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "order_id_required",
            "A refund or chargeback names its order_id.",
        ));
    };
    let reason = format!("{} {}", event.kind, event.id);
    let revoked = state
        .entitlements
        .refund_order(order, Some(reason.clone()))
        .await?;
    let client = state.audit.client(req).await;
    if revoked.is_empty() {
        let ev = AuditEvent::new(AuditKind::WebhookUnmatched)
            .order(order)
            .reason(reason.clone())
            .client(&client);
        state.audit.record(ev).await;
    }
    for r in revoked.iter().filter(|r| r.by_this_call) {
        let e = &r.record.entitlement;
        let ev = AuditEvent::new(AuditKind::Refund)
            .entitlement(&e.id, e.order_id.as_ref(), &e.viewer_id)
            .reason(reason.clone())
            .client(&client);
        state.audit.record(ev).await;
    }
    // `revoked`: what this event revoked; `already_revoked`: what an earlier revocation or
    // refund had ended (that one stands, with its own time and reason).
    let (now, before): (Vec<_>, Vec<_>) = revoked.iter().partition(|r| r.by_this_call);
    let ids = |rs: Vec<&crate::entitlements::Revoked>| -> Vec<String> {
        rs.iter()
            .map(|r| r.record.entitlement.id.to_string())
            .collect()
    };
    tracing::info!(webhook.event = %event.id, order.id = %order, revoked = now.len(), already_revoked = before.len(), "payment webhook processed");
    Ok(HttpResponse::Ok().json(
        json!({"id": event.id, "status": "processed", "revoked": ids(now), "already_revoked": ids(before)}),
    ))
}
