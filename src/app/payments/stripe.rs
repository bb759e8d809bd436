//! Stripe's events, read into a `ProviderEvent` (see `provider.rs` for what each does).
//!
//! - `checkout.session.completed` / `checkout.session.async_payment_succeeded`: a purchase
//!   once `payment_status` is `paid` (or `no_payment_required`); a delayed method's
//!   `unpaid` completion waits for the second event. The order is `client_reference_id`,
//!   or the session id when the page that sold it (a Payment Link) set none; the grant's
//!   terms are the session's `metadata`; without `viewer_id` the viewer is the checkout's
//!   customer (its id, else its email). The payment recorded is the payment intent, which
//!   is what later charge, refund and dispute events name (Stripe does not copy Checkout
//!   metadata onto them).
//! - `charge.refunded`: full when the charge says `refunded`, else partial.
//! - `refund.created` / `refund.updated`: once `succeeded`, its amount against the paid one.
//! - `charge.dispute.created`: a chargeback.

use super::provider::{Action, PaymentRef, Provider, ProviderEvent, Purchase, Refunded, Terms};
use crate::app::AppError;
use crate::config::PartialRefund;
use crate::domain::{ErrorCode, OrderId};
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    object: Map<String, Value>,
}

fn bad(message: impl Into<String>) -> AppError {
    AppError::invalid(ErrorCode::InvalidBody, message)
}

fn str_field<'a>(o: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    o.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The payment intent a charge, refund or dispute belongs to.
fn payment_of(o: &Map<String, Value>) -> Option<Result<PaymentRef, AppError>> {
    str_field(o, "payment_intent").map(PaymentRef::parse)
}

pub fn read(body: &[u8], partial: PartialRefund) -> Result<ProviderEvent, AppError> {
    let ev: Event =
        serde_json::from_slice(body).map_err(|e| bad(format!("Not a Stripe event: {e}")))?;
    let o = &ev.data.object;
    let no_intent = || Action::Note {
        payment: None,
        what: "names no payment_intent, so no order can be found".into(),
    };
    let action = match ev.kind.as_str() {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            let session = str_field(o, "id").ok_or_else(|| bad("The session has no id."))?;
            match str_field(o, "payment_status") {
                Some("paid" | "no_payment_required") => {
                    let order = match str_field(o, "client_reference_id") {
                        Some(r) => OrderId::parse(r),
                        None => OrderId::parse(session),
                    }
                    .map_err(|e| bad(format!("client_reference_id: {e}")))?;
                    let payment =
                        PaymentRef::parse(str_field(o, "payment_intent").unwrap_or(session))?;
                    let customer_email = o
                        .get("customer_details")
                        .and_then(|d| d.get("email"))
                        .and_then(Value::as_str);
                    Action::Purchase(Purchase {
                        payment,
                        order,
                        amount: o.get("amount_total").and_then(Value::as_i64),
                        fields: o
                            .get("metadata")
                            .and_then(Value::as_object)
                            .cloned()
                            .unwrap_or_default(),
                        viewer_fallback: str_field(o, "customer")
                            .or(customer_email)
                            .map(str::to_owned),
                        checkout: Some(session.to_owned()),
                        terms: Terms::FromFields,
                    })
                }
                other => Action::Note {
                    payment: None,
                    what: format!(
                        "checkout {session} is {}: granted when checkout.session.async_payment_succeeded arrives",
                        other.unwrap_or("without a payment_status")
                    ),
                },
            }
        }
        "charge.refunded" => match payment_of(o) {
            Some(payment) => Action::Refund {
                payment: payment?,
                refunded: if o.get("refunded").and_then(Value::as_bool) == Some(true) {
                    Refunded::Full
                } else {
                    Refunded::Partial
                },
                partial,
            },
            None => no_intent(),
        },
        "refund.created" | "refund.updated" => match (payment_of(o), str_field(o, "status")) {
            (None, _) => no_intent(),
            (Some(payment), Some("succeeded")) => Action::Refund {
                payment: payment?,
                refunded: match o.get("amount").and_then(Value::as_i64) {
                    Some(a) => Refunded::Amount(a),
                    None => Refunded::Full,
                },
                partial,
            },
            (Some(payment), status) => Action::Note {
                payment: Some(payment?),
                what: format!(
                    "refund {}: nothing changes until it succeeds",
                    status.unwrap_or("without a status")
                ),
            },
        },
        "charge.dispute.created" => match payment_of(o) {
            Some(payment) => Action::Chargeback { payment: payment? },
            None => no_intent(),
        },
        _ => Action::Unhandled,
    };
    Ok(ProviderEvent {
        provider: Provider::Stripe,
        id: ev.id,
        kind: ev.kind,
        action,
    })
}
