//! Payment events. The payment providers' own (Stripe, Paddle, Lemon Squeezy) are in
//! `provider.rs`, each provider's reading of its events in its own file. Here, vodgate's own
//! event (`POST /webhooks/payments`, already signature-checked by the caller): a refund or chargeback refunds the order. Each event is processed at least once
//! and its effects happen once (see `payment_event`); a refused (badly signed) event is
//! filed under the order it names, within limits.

pub mod lemonsqueezy;
pub mod paddle;
mod provider;
pub mod stripe;

pub use provider::{CheckoutReturn, Provider, ProviderEvent, ProviderOutcome};

use super::{App, AppError, Caller};
use crate::app::audit::{AuditEvent, AuditKind};
use crate::domain::ErrorCode;
use crate::domain::{EntitlementId, OrderId};
use crate::store::keys;
use std::time::Duration;

/// Event ids are remembered far longer than the signature window, so a replay is a no-op.
const SEEN_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

/// A signed event, as the caller parsed it.
pub struct PaymentEvent {
    pub id: String,
    pub kind: String,
    pub order_id: Option<OrderId>,
}

/// What became of an event.
pub enum PaymentOutcome {
    /// This event id was processed before; nothing changed.
    Duplicate,
    /// Not a refund or chargeback.
    Ignored,
    Processed {
        /// What this event revoked.
        revoked: Vec<EntitlementId>,
        /// What an earlier revocation or refund had ended (that one stands).
        already_revoked: Vec<EntitlementId>,
    },
}

impl App {
    pub async fn payment_event(
        &self,
        event: &PaymentEvent,
        caller: &Caller,
    ) -> Result<PaymentOutcome, AppError> {
        if event.id.is_empty() || event.id.len() > 200 {
            return Err(AppError::invalid(
                ErrorCode::InvalidBody,
                "id must be 1 to 200 characters.",
            ));
        }
        // At least once: the event is marked processed only after what it does is stored,
        // so a failure anywhere (the store away, the process killed) leaves it unmarked and
        // the platform's retry does it again. What it does is idempotent (a revocation is
        // write-once, and audited only by the call that wrote it), so two deliveries racing
        // each other, or a retry after a lost answer, revoke once. (Marking first lost the
        // refund for good whenever the unmarking failed.)
        let seen_key = keys::webhook_seen(&event.id);
        if self.store.get(&seen_key).await?.is_some() {
            return Ok(PaymentOutcome::Duplicate);
        }
        let outcome = self.apply_payment_event(event, caller).await?;
        // A failure here answers 503: the platform retries, and the retry finds it done.
        self.store.set(&seen_key, "1", SEEN_FOR).await?;
        Ok(outcome)
    }

    async fn apply_payment_event(
        &self,
        event: &PaymentEvent,
        caller: &Caller,
    ) -> Result<PaymentOutcome, AppError> {
        if !matches!(event.kind.as_str(), "refund" | "chargeback") {
            return Ok(PaymentOutcome::Ignored);
        }
        let Some(order) = &event.order_id else {
            return Err(AppError::unprocessable(
                ErrorCode::OrderIdRequired,
                "A refund or chargeback names its order_id.",
            ));
        };
        let reason = format!("{} {}", event.kind, event.id);
        let revoked = match self.refund_order(order, Some(reason.clone()), caller).await {
            Ok(r) => r,
            Err(AppError::NotFound { .. }) => {
                // An order vodgate never granted: acknowledged (a retry cannot change it),
                // and filed so the operator can see it.
                let client = self.audit.client(caller).await;
                let ev = AuditEvent::new(AuditKind::WebhookUnmatched)
                    .order(order)
                    .reason(reason)
                    .client(&client);
                self.audit.record(ev).await;
                vec![]
            }
            Err(e) => return Err(e),
        };
        let (now, before): (Vec<_>, Vec<_>) = revoked.iter().partition(|r| r.by_this_call);
        let ids = |rs: Vec<&crate::app::entitlements::Revoked>| -> Vec<EntitlementId> {
            rs.iter().map(|r| r.record.entitlement.id.clone()).collect()
        };
        tracing::info!(webhook.event = %event.id, order.id = %order, revoked = now.len(), already_revoked = before.len(), "payment webhook processed");
        Ok(PaymentOutcome::Processed {
            revoked: ids(now),
            already_revoked: ids(before),
        })
    }

    /// A webhook whose signature did not hold. Unauthenticated, but worth filing under the
    /// order it names: "someone tried to refund order X with a bad signature" is what an
    /// operator looks for. Once per order, cause and minute, though: an order's trail is
    /// capped, and unsigned requests must not be able to push its real grant and refund
    /// events out of it. The rest go to the unattributed log.
    pub async fn payment_event_refused(
        &self,
        order: Option<&OrderId>,
        cause: &str,
        cause_kind: &str,
        caller: &Caller,
    ) {
        let client = self.audit.client(caller).await;
        let mut ev = AuditEvent::new(AuditKind::WebhookRefused)
            .reason(cause)
            .client(&client);
        if order.is_none() {
            // Unsigned requests must not be able to push what the unattributed trail holds
            // (refunds waiting for their purchase, purchases that could not be granted) out
            // of it either: one entry per cause and minute, the rest only in the log.
            let marker = keys::webhook_refused_unattributed(cause_kind);
            if !matches!(
                self.store
                    .set_nx(&marker, "1", Duration::from_secs(60))
                    .await,
                Ok(true)
            ) {
                return;
            }
        }
        if let Some(order) = order {
            let marker = keys::webhook_refused(order, cause_kind);
            if let Ok(true) = self
                .store
                .set_nx(&marker, "1", Duration::from_secs(60))
                .await
            {
                ev = ev.order(order);
            } else {
                ev = ev.reason(format!("{cause} (names order {order})"));
            }
        }
        self.audit.record(ev).await;
    }
}
