//! Lemon Squeezy's events, read into a `ProviderEvent` (see `provider.rs`).
//!
//! - `order_created` with status `paid`: a purchase of what `VODGATE_LEMONSQUEEZY_VARIANTS`
//!   lists for the order's variant (a checkout URL carries `checkout[custom][…]`, so the
//!   custom data names only the viewer and order unless the operator set `custom_data`); the order is
//!   `custom_data.order_id`, else the Lemon Squeezy order id; without `viewer_id` the viewer
//!   is the buyer's email.
//! - `order_refunded`: a revocation when the order is `refunded`; a `partial_refund`
//!   keeps access and is audited.
//!
//! Lemon Squeezy's events carry no id and its signature no timestamp, so the event's id
//! here is its name, its order and the order's `updated_at`: a redelivery is the same
//! event, a later refund of the same order another.

use super::provider::{Action, PaymentRef, Provider, ProviderEvent, Purchase, Refunded, Terms};
use crate::app::AppError;
use crate::config::{Catalogue, PartialRefund};
use crate::domain::{ErrorCode, OrderId};
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Deserialize)]
struct Event {
    meta: Meta,
    data: Data,
}

#[derive(Deserialize)]
struct Meta {
    event_name: String,
    #[serde(default)]
    custom_data: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
struct Data {
    id: Value,
    #[serde(default)]
    attributes: Map<String, Value>,
}

fn bad(message: impl Into<String>) -> AppError {
    AppError::invalid(ErrorCode::InvalidBody, message)
}

/// `variants`: `VODGATE_LEMONSQUEEZY_VARIANTS`, which decides what an order grants.
pub fn read(body: &[u8], variants: &Catalogue) -> Result<ProviderEvent, AppError> {
    let ev: Event =
        serde_json::from_slice(body).map_err(|e| bad(format!("Not a Lemon Squeezy event: {e}")))?;
    // JSON:API ids are strings; accept a number too.
    let order_id = match &ev.data.id {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(bad("data.id must be the order's id.")),
    };
    let a = &ev.data.attributes;
    let attr = |name: &str| a.get(name).and_then(Value::as_str).unwrap_or("");
    let payment = PaymentRef::parse(&order_id)?;
    let action = match ev.meta.event_name.as_str() {
        "order_created" if attr("status") == "paid" => {
            let fields = ev.meta.custom_data.clone().unwrap_or_default();
            let order = match fields.get("order_id").and_then(Value::as_str) {
                Some(o) => OrderId::parse(o.trim()),
                None => OrderId::parse(&order_id),
            }
            .map_err(|e| bad(format!("custom_data.order_id: {e}")))?;
            let variant: Vec<String> = a
                .get("first_order_item")
                .and_then(|i| i.get("variant_id"))
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .into_iter()
                .collect();
            Action::Purchase(Purchase {
                payment,
                order,
                amount: a.get("total").and_then(Value::as_i64),
                fields,
                viewer_fallback: Some(attr("user_email"))
                    .filter(|e| !e.is_empty())
                    .map(str::to_owned),
                checkout: None,
                terms: Terms::of_items(variants, &variant, "VODGATE_LEMONSQUEEZY_VARIANTS"),
            })
        }
        "order_created" => Action::Note {
            payment: Some(payment),
            what: format!(
                "order {order_id} is {}: not paid, nothing granted",
                attr("status")
            ),
        },
        "order_refunded" => Action::Refund {
            payment,
            refunded: if attr("status") == "partial_refund" {
                Refunded::Partial
            } else {
                Refunded::Full
            },
            partial: PartialRefund::Keep,
        },
        _ => Action::Unhandled,
    };
    Ok(ProviderEvent {
        provider: Provider::LemonSqueezy,
        id: format!("{}:{order_id}:{}", ev.meta.event_name, attr("updated_at")),
        kind: ev.meta.event_name,
        action,
    })
}
