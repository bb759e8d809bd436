//! Paddle Billing's events, read into a `ProviderEvent` (see `provider.rs`).
//!
//! - `transaction.completed`: a purchase of what `VODGATE_PADDLE_PRICES` lists for the
//!   first listed price bought (Paddle.js lets the buyer's browser write `custom_data`, so
//!   it names only the viewer and order, unless the operator set `custom_data`); the order
//!   is `custom_data.order_id`, else the transaction id. The payment recorded is the transaction, which is what
//!   adjustments name (they carry no `custom_data`).
//! - `adjustment.created` / `adjustment.updated` with action `refund` or `chargeback`:
//!   counted once `approved` (`pending_approval` and `rejected` change nothing); a refund
//!   is weighed against the transaction's grand total, and a partial one keeps access.

use super::provider::{Action, PaymentRef, Provider, ProviderEvent, Purchase, Refunded, Terms};
use crate::app::AppError;
use crate::config::{Catalogue, PartialRefund};
use crate::domain::{ErrorCode, OrderId};
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Deserialize)]
struct Event {
    event_id: String,
    event_type: String,
    data: Map<String, Value>,
}

fn bad(message: impl Into<String>) -> AppError {
    AppError::invalid(ErrorCode::InvalidBody, message)
}

fn str_field<'a>(o: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    o.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// `prices`: `VODGATE_PADDLE_PRICES`, which decides what a transaction grants.
pub fn read(body: &[u8], prices: &Catalogue) -> Result<ProviderEvent, AppError> {
    let ev: Event =
        serde_json::from_slice(body).map_err(|e| bad(format!("Not a Paddle notification: {e}")))?;
    let d = &ev.data;
    let action = match ev.event_type.as_str() {
        "transaction.completed" => {
            let txn = str_field(d, "id").ok_or_else(|| bad("The transaction has no id."))?;
            let fields = d
                .get("custom_data")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let order = match fields.get("order_id").and_then(Value::as_str) {
                Some(o) => OrderId::parse(o.trim()),
                None => OrderId::parse(txn),
            }
            .map_err(|e| bad(format!("custom_data.order_id: {e}")))?;
            // Totals are strings of the currency's smallest unit ("65215").
            let amount = d
                .get("details")
                .and_then(|x| x.get("totals"))
                .and_then(|t| t.get("grand_total").or_else(|| t.get("total")))
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok());
            let items: Vec<String> = d
                .get("items")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|i| {
                    i.get("price")
                        .and_then(|p| p.get("id"))
                        .or_else(|| i.get("price_id"))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .collect();
            Action::Purchase(Purchase {
                payment: PaymentRef::parse(txn)?,
                order,
                amount,
                fields,
                viewer_fallback: str_field(d, "customer_id").map(str::to_owned),
                checkout: None,
                terms: Terms::of_items(prices, &items, "VODGATE_PADDLE_PRICES"),
            })
        }
        "adjustment.created" | "adjustment.updated" => {
            let payment = PaymentRef::parse(
                str_field(d, "transaction_id")
                    .ok_or_else(|| bad("The adjustment names no transaction_id."))?,
            )?;
            let action = str_field(d, "action").unwrap_or("");
            match (action, str_field(d, "status")) {
                // Against the transaction's grand total: a partial refund keeps access.
                ("refund", Some("approved")) => Action::Refund {
                    payment,
                    refunded: match d
                        .get("totals")
                        .and_then(|t| t.get("total"))
                        .and_then(Value::as_str)
                        .and_then(|s| s.parse().ok())
                    {
                        Some(n) => Refunded::Amount(n),
                        None => Refunded::Full,
                    },
                    partial: PartialRefund::Keep,
                },
                ("chargeback", Some("approved")) => Action::Chargeback { payment },
                (action, status) => Action::Note {
                    payment: Some(payment),
                    what: format!(
                        "adjustment {action} {}: nothing changes until an approved refund or chargeback",
                        status.unwrap_or("without a status")
                    ),
                },
            }
        }
        _ => Action::Unhandled,
    };
    Ok(ProviderEvent {
        provider: Provider::Paddle,
        id: ev.event_id,
        kind: ev.event_type,
        action,
    })
}
