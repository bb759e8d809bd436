//! `POST /webhooks/payments`: a payment platform (or the operator's backend relaying one)
//! reports a refund or chargeback; vodgate revokes every entitlement of the order. Signed
//! (see `webhook.rs`), each event id processed once: a replay answers 200 and changes nothing.
//! `POST /webhooks/stripe`, `/webhooks/paddle`, `/webhooks/lemonsqueezy`: the providers'
//! own events as they send them (purchases grant, refunds and chargebacks revoke).

use crate::app::{Caller, PaymentOutcome, Provider, ProviderOutcome};
use crate::domain::ErrorCode;
use crate::domain::OrderId;
use crate::http::AppState;
use crate::http::dto::{
    ProviderWebhookResult, ProviderWebhookStatus, WebhookResult, WebhookStatus,
};
use crate::http::error::ApiError;
use crate::webhook::{Scheme, SignatureError, verify, verify_as};
use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;

/// The largest provider event taken.
pub const PROVIDER_BODY_LIMIT: usize = 256 * 1024;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(payments).service(
        // A provider's event is the provider's whole object (a Paddle transaction with its
        // items is 11 KB for one item), so these take more than the API's 16 KiB.
        web::scope("/webhooks")
            .app_data(web::PayloadConfig::new(PROVIDER_BODY_LIMIT))
            .service(stripe)
            .service(paddle)
            .service(lemonsqueezy),
    );
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
            .payment_event_refused(named.as_ref(), &e.to_string(), e.kind(), &caller)
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

/// The three providers' endpoints: check the provider's signature with its own secret,
/// read its event, process it (`app::payments`), answer what it did.
async fn provider_webhook(
    provider: Provider,
    req: &HttpRequest,
    state: &AppState,
    body: &[u8],
    caller: &Caller,
) -> Result<HttpResponse, ApiError> {
    let config = state.config();
    let (secrets, scheme, setting) = match provider {
        Provider::Stripe => (
            &config.stripe_webhook_secrets,
            Scheme::Stripe,
            "VODGATE_STRIPE_WEBHOOK_SECRET",
        ),
        Provider::Paddle => (
            &config.paddle_webhook_secrets,
            Scheme::Paddle,
            "VODGATE_PADDLE_WEBHOOK_SECRET",
        ),
        Provider::LemonSqueezy => (
            &config.lemonsqueezy_webhook_secrets,
            Scheme::LemonSqueezy,
            "VODGATE_LEMONSQUEEZY_WEBHOOK_SECRET",
        ),
    };
    if secrets.is_empty() {
        return Err(ApiError::not_found(
            ErrorCode::WebhookNotConfigured,
            format!("Set {setting} to receive this provider's webhooks."),
        ));
    }
    let header = req
        .headers()
        .get(scheme.header())
        .and_then(|v| v.to_str().ok());
    if let Err(e) = verify_as(
        scheme,
        header,
        body,
        secrets,
        chrono::Utc::now().timestamp(),
    ) {
        let cause = format!("{}: {e}", provider.as_str());
        state
            .app
            .payment_event_refused(
                None,
                &cause,
                &format!("{}-{}", provider.as_str(), e.kind()),
                caller,
            )
            .await;
        tracing::warn!(security.event = "webhook_signature_refused", webhook.provider = provider.as_str(), cause = %e, "payment webhook refused");
        return Err(ApiError::bad_request(refusal_code(&e), e.to_string()));
    }
    let event = match provider {
        Provider::Stripe => crate::app::stripe::read(body, config.stripe_partial_refund),
        Provider::Paddle => crate::app::paddle::read(body, &config.paddle_prices),
        Provider::LemonSqueezy => {
            crate::app::lemonsqueezy::read(body, &config.lemonsqueezy_variants)
        }
    }?;
    let id = event.id.clone();
    let only = |status| ProviderWebhookResult {
        id: id.clone(),
        status,
        entitlement_id: None,
        revoked: None,
        already_revoked: None,
    };
    let answer = match state.app.provider_event(event, caller).await? {
        ProviderOutcome::Duplicate => only(ProviderWebhookStatus::Duplicate),
        ProviderOutcome::Ignored => only(ProviderWebhookStatus::Ignored),
        ProviderOutcome::Noted => only(ProviderWebhookStatus::Noted),
        ProviderOutcome::Remembered => only(ProviderWebhookStatus::Remembered),
        ProviderOutcome::Granted {
            entitlement,
            revoked,
        } => ProviderWebhookResult {
            revoked: revoked.then(|| vec![entitlement.clone()]),
            entitlement_id: Some(entitlement),
            ..only(ProviderWebhookStatus::Granted)
        },
        ProviderOutcome::Revoked {
            revoked,
            already_revoked,
        } => ProviderWebhookResult {
            revoked: Some(revoked),
            already_revoked: Some(already_revoked),
            ..only(ProviderWebhookStatus::Revoked)
        },
    };
    Ok(HttpResponse::Ok().json(answer))
}

/// Receive a Stripe event
///
/// Stripe's own webhook, as Stripe sends it: `Stripe-Signature` checked with
/// `VODGATE_STRIPE_WEBHOOK_SECRET` (the endpoint's `whsec_…`; several comma-separated
/// during a rotation), timestamps within ±5 minutes. `checkout.session.completed` and
/// `checkout.session.async_payment_succeeded` (paid) grant from the session's `metadata`
/// (the grant API's field names), the order being `client_reference_id` or else the
/// session; `charge.refunded` and `refund.created`/`refund.updated` (succeeded) revoke a
/// full refund (a partial one does what `VODGATE_STRIPE_PARTIAL_REFUND` says);
/// `charge.dispute.created` revokes as a chargeback. Each event id is processed once.
#[utoipa::path(
    post,
    path = "/webhooks/stripe",
    tag = "webhooks",
    operation_id = "stripe_webhook",
    params(
        ("Stripe-Signature" = String, Header, description = "`t=<unix seconds>,v1=<64 hex digits>[,v1=…]`", example = "t=1763782793,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd"),
    ),
    request_body(content = Object, description = "A Stripe Event object, as Stripe sends it."),
    responses(
        (status = 200, description = "Granted, revoked, remembered, noted, ignored or a duplicate.", body = crate::http::dto::ProviderWebhookResult),
        (status = 400, response = crate::http::openapi::InvalidSignature),
        (status = 404, response = crate::http::openapi::WebhookNotConfigured),
        (status = 409, response = crate::http::openapi::OrderConflict),
        (status = 413, response = crate::http::openapi::ProviderPayloadTooLarge),
        (status = 422, response = crate::http::openapi::InvalidPurchase),
        (status = 500, response = crate::http::openapi::InternalError),
        (status = 503, response = crate::http::openapi::StoreUnavailable),
    )
)]
#[post("/stripe")]
async fn stripe(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    provider_webhook(Provider::Stripe, &req, &state, &body, &caller).await
}

/// Receive a Paddle Billing notification
///
/// Paddle's own webhook: `Paddle-Signature: ts=…;h1=…` checked with
/// `VODGATE_PADDLE_WEBHOOK_SECRET` (the notification destination's secret key; several
/// comma-separated during a rotation), timestamps within ±5 minutes.
/// `transaction.completed` grants what `VODGATE_PADDLE_PRICES` lists for the price bought
/// (with `custom_data` there: the transaction's `custom_data`, in the grant API's field
/// names); `custom_data.order_id`, else the transaction id, is the order;
/// `adjustment.created`/`adjustment.updated` with action `refund` or `chargeback` revoke
/// once `approved`. Each `event_id` is processed once.
#[utoipa::path(
    post,
    path = "/webhooks/paddle",
    tag = "webhooks",
    operation_id = "paddle_webhook",
    params(
        ("Paddle-Signature" = String, Header, description = "`ts=<unix seconds>;h1=<64 hex digits>`", example = "ts=1763782793;h1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd"),
    ),
    request_body(content = Object, description = "A Paddle Billing notification, as Paddle sends it."),
    responses(
        (status = 200, description = "Granted, revoked, remembered, noted, ignored or a duplicate.", body = crate::http::dto::ProviderWebhookResult),
        (status = 400, response = crate::http::openapi::InvalidSignature),
        (status = 404, response = crate::http::openapi::WebhookNotConfigured),
        (status = 409, response = crate::http::openapi::OrderConflict),
        (status = 413, response = crate::http::openapi::ProviderPayloadTooLarge),
        (status = 422, response = crate::http::openapi::InvalidPurchase),
        (status = 500, response = crate::http::openapi::InternalError),
        (status = 503, response = crate::http::openapi::StoreUnavailable),
    )
)]
#[post("/paddle")]
async fn paddle(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    provider_webhook(Provider::Paddle, &req, &state, &body, &caller).await
}

/// Receive a Lemon Squeezy event
///
/// Lemon Squeezy's own webhook: `X-Signature` (hex HMAC-SHA256 of the body) checked with
/// `VODGATE_LEMONSQUEEZY_WEBHOOK_SECRET` (several comma-separated during a rotation).
/// `order_created` (paid) grants what `VODGATE_LEMONSQUEEZY_VARIANTS` lists for the variant
/// bought (with `custom_data` there: `meta.custom_data`, in the grant API's field names);
/// `custom_data.order_id`, else the Lemon Squeezy order id, is the order; `order_refunded` revokes
/// (a `partial_refund` keeps access and is audited). Lemon Squeezy signs no timestamp:
/// each event (its name, order and `updated_at`) is processed once.
#[utoipa::path(
    post,
    path = "/webhooks/lemonsqueezy",
    tag = "webhooks",
    operation_id = "lemonsqueezy_webhook",
    params(
        ("X-Signature" = String, Header, description = "64 hex digits", example = "5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd"),
    ),
    request_body(content = Object, description = "A Lemon Squeezy webhook event, as Lemon Squeezy sends it."),
    responses(
        (status = 200, description = "Granted, revoked, remembered, noted, ignored or a duplicate.", body = crate::http::dto::ProviderWebhookResult),
        (status = 400, response = crate::http::openapi::InvalidSignature),
        (status = 404, response = crate::http::openapi::WebhookNotConfigured),
        (status = 409, response = crate::http::openapi::OrderConflict),
        (status = 413, response = crate::http::openapi::ProviderPayloadTooLarge),
        (status = 422, response = crate::http::openapi::InvalidPurchase),
        (status = 500, response = crate::http::openapi::InternalError),
        (status = 503, response = crate::http::openapi::StoreUnavailable),
    )
)]
#[post("/lemonsqueezy")]
async fn lemonsqueezy(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    provider_webhook(Provider::LemonSqueezy, &req, &state, &body, &caller).await
}
