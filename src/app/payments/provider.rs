//! The payment providers' own events (Stripe, Paddle Billing, Lemon Squeezy), once their
//! signature held: a purchase grants, a refund or chargeback revokes what that payment bought.
//! Each provider's module (`stripe.rs`, `paddle.rs`, `lemonsqueezy.rs`) only reads its
//! event into a `ProviderEvent`; what happens then is written once, here.
//!
//! Providers deliver at least once and in no set order, so:
//! - each event is processed once (by provider and event id; a replay changes nothing), and
//!   marked only after what it did is stored, so a failure leaves it for the retry;
//! - a purchase is a grant per order and video, so two deliveries make one grant;
//! - refunds and chargebacks name the provider's payment (Stripe's payment intent, Paddle's
//!   transaction, Lemon Squeezy's order), never the site's order: the purchase records the
//!   payment → order map (`pay:`). A refund of a payment not yet seen is remembered
//!   (`pay:…:pending`) and applied by the purchase when it comes. The purchase writes its
//!   map and then reads the pending refund; the refund writes the pending refund and then
//!   reads the map: whichever comes second sees the other, and applying twice revokes once.

use super::super::{App, AppError, Caller};
use crate::app::audit::{AuditEvent, AuditKind};
use crate::app::grant::GrantInput;
use crate::config::{Catalogue, CatalogueItem, PartialRefund};
use crate::domain::{
    AgeGate, EntitlementId, ErrorCode, OrderId, RevocationKind, VideoId, ViewerId,
};
use crate::store::keys;
use crate::token::{Token, TokenHash};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::time::Duration;

/// Longer than Stripe's longest dispute window (120 days after the payment, plus the
/// time it takes to open), so a late chargeback still finds its order.
const PAYMENT_KEPT_FOR: Duration = Duration::from_secs(400 * 24 * 3600);
/// A refund waiting for its purchase: providers retry a failed delivery for days, not weeks.
const PENDING_KEPT_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
/// As for vodgate's own events: far longer than the providers' retries.
const SEEN_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
/// A buyer comes back from the checkout within seconds; a day covers a closed laptop.
const RETURN_KEPT_FOR: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Stripe,
    Paddle,
    LemonSqueezy,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stripe => "stripe",
            Self::Paddle => "paddle",
            Self::LemonSqueezy => "lemonsqueezy",
        }
    }
}

/// A provider's id of one payment: what its refunds and disputes name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRef(String);

impl PaymentRef {
    pub fn parse(s: &str) -> Result<Self, AppError> {
        let ok = (1..=255).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(AppError::invalid(
                ErrorCode::InvalidBody,
                "A payment id is 1 to 255 letters, digits, '_', '-' or '.'.",
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A provider's event, read.
pub struct ProviderEvent {
    pub provider: Provider,
    /// The provider's event id (Lemon Squeezy has none: its module makes one).
    pub id: String,
    /// The provider's event type, for the trail.
    pub kind: String,
    pub action: Action,
}

pub enum Action {
    /// A paid checkout: grant what `fields` (the grant API's own field names) say.
    Purchase(Purchase),
    Refund {
        payment: PaymentRef,
        refunded: Refunded,
        partial: PartialRefund,
    },
    Chargeback {
        payment: PaymentRef,
    },
    /// About a payment, but nothing to do (yet): a refund awaiting approval, a checkout
    /// still unpaid. Audited.
    Note {
        payment: Option<PaymentRef>,
        what: String,
    },
    /// An event type vodgate does not act on. Audited.
    Unhandled,
}

pub struct Purchase {
    pub payment: PaymentRef,
    pub order: OrderId,
    /// In the currency's smallest unit, when the provider says.
    pub amount: Option<i64>,
    /// `video_id`, `viewer_id`, `watch_for_s`, `start_within_s`, `max_streams`, `age_gate`:
    /// the checkout's metadata or custom data. Other keys are the site's own and ignored.
    pub fields: Map<String, Value>,
    /// The viewer when `fields` names none (the provider's customer id or email).
    pub viewer_fallback: Option<String>,
    /// The checkout (Stripe's session id) whose return URL leads the buyer to the player.
    pub checkout: Option<String>,
    pub terms: Terms,
}

/// Where the grant's video and window come from.
pub enum Terms {
    /// `fields` (Stripe's metadata, set when the session or link is created; or custom
    /// data the operator declared trusted).
    FromFields,
    /// The item bought, through the operator's catalogue: `fields` may add only the viewer.
    FromCatalogue(CatalogueItem),
    /// No grant: why.
    Refused(String),
}

impl Terms {
    /// For providers whose custom data a buyer can set: the catalogue decides.
    pub fn of_items(catalogue: &Catalogue, items: &[String], setting: &str) -> Self {
        match catalogue {
            Catalogue::Unset => Terms::Refused(format!(
                "This provider's custom data can come from the buyer's browser, so vodgate grants from the item bought: set {setting} (item_id=video_id[:watch_for_s]), or {setting}=custom_data if every checkout is created server-side."
            )),
            Catalogue::CustomData => Terms::FromFields,
            Catalogue::Items(map) => match items.iter().find_map(|i| map.get(i)) {
                Some(item) => Terms::FromCatalogue(item.clone()),
                None => Terms::Refused(format!(
                    "None of the items bought ({}) is in {setting}.",
                    items.join(", ")
                )),
            },
        }
    }
}

/// How much of a payment a refund gave back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refunded {
    Full,
    Partial,
    /// This much (compared with what the purchase paid).
    Amount(i64),
}

/// What became of a provider's event.
pub enum ProviderOutcome {
    Duplicate,
    Granted {
        entitlement: EntitlementId,
        /// A refund that arrived before the purchase revoked the grant at once.
        revoked: bool,
    },
    Revoked {
        revoked: Vec<EntitlementId>,
        already_revoked: Vec<EntitlementId>,
    },
    /// A refund or chargeback of a payment not bought yet: applied when it is.
    Remembered,
    /// Audited; nothing changed.
    Noted,
    /// Not an event vodgate acts on; audited.
    Ignored,
}

/// A buyer back from the provider's checkout page.
pub enum CheckoutReturn {
    /// The checkout's webhook has not granted yet (or there is no such checkout).
    Waiting,
    /// This return was used already.
    Used,
    /// A fresh launch link of what the checkout bought, to open at once.
    Ready(Token),
}

/// What the purchase recorded about its payment. A refund or chargeback revokes the
/// entitlement this payment bought, never the whole order: the order id comes from the
/// checkout (a Payment Link takes `?client_reference_id=` from whoever opens it), so a
/// buyer naming someone else's order must not be able to refund that order away.
#[derive(Serialize, Deserialize)]
struct PaymentRecord {
    order: OrderId,
    entitlement: EntitlementId,
    amount: Option<i64>,
}

/// A refund or chargeback waiting for its purchase.
#[derive(Serialize, Deserialize)]
struct PendingRevocation {
    chargeback: bool,
    refunded: Refunded,
    revoke_partial: bool,
    reason: String,
}

impl PendingRevocation {
    /// Whether it ends the purchase whatever that paid.
    fn revokes_any_purchase(&self) -> bool {
        self.chargeback || self.refunded == Refunded::Full || self.revoke_partial
    }

    /// Whether it ends a purchase that paid `paid`.
    fn revokes(&self, paid: Option<i64>) -> bool {
        self.chargeback
            || match self.refunded {
                Refunded::Full => true,
                Refunded::Partial => self.revoke_partial,
                // A refund of an unknown payment's size is taken as whole.
                Refunded::Amount(a) => paid.is_none_or(|p| a >= p) || self.revoke_partial,
            }
    }
}

fn invalid_purchase(message: String) -> AppError {
    AppError::unprocessable(ErrorCode::InvalidPurchase, message)
}

/// A number in metadata: Stripe's metadata values are all strings, Paddle's custom data
/// is JSON, so `"86400"` and `86400` are both taken.
fn number(fields: &Map<String, Value>, name: &str) -> Result<Option<u64>, AppError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
        Some(Value::String(s)) if s.trim().parse::<u64>().is_ok() => Ok(s.trim().parse().ok()),
        Some(_) => Err(invalid_purchase(format!(
            "The checkout's {name} must be a whole number of seconds or streams."
        ))),
    }
}

fn text<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    fields.get(name).and_then(Value::as_str).map(str::trim)
}

impl Purchase {
    fn grant_input(&self) -> Result<GrantInput, AppError> {
        let f = &self.fields;
        let item = match &self.terms {
            Terms::Refused(why) => return Err(invalid_purchase(why.clone())),
            Terms::FromCatalogue(item) => Some(item),
            Terms::FromFields => None,
        };
        let video = match item {
            Some(item) => item.video_id.as_str(),
            None => text(f, "video_id").ok_or_else(|| {
                invalid_purchase(
                    "The checkout names no video_id in its metadata or custom data.".into(),
                )
            })?,
        };
        let video =
            VideoId::parse(video).map_err(|e| invalid_purchase(format!("video_id: {e}")))?;
        let viewer = match (text(f, "viewer_id"), &self.viewer_fallback) {
            (Some(v), _) => {
                ViewerId::parse(v).map_err(|e| invalid_purchase(format!("viewer_id: {e}")))?
            }
            // The customer's id, or an email: one a viewer id cannot hold (`jo+films@…`)
            // becomes `email-` and its SHA-256 (lowercased), the same for every purchase.
            (None, Some(fallback)) => ViewerId::parse(fallback).unwrap_or_else(|_| {
                let h = TokenHash::of(&fallback.trim().to_lowercase());
                ViewerId::parse(&format!("email-{}", &h.as_str()[..32])).expect("a valid viewer id")
            }),
            (None, None) => {
                return Err(invalid_purchase(
                    "The checkout names no viewer_id and has no customer.".into(),
                ));
            }
        };
        let mut input = GrantInput::new(viewer, video);
        input.order_id = Some(self.order.clone());
        if let Some(item) = item {
            // What the buyer's browser may have written is not the terms.
            input.watch_for_s = item.watch_for_s;
            return Ok(input);
        }
        input.watch_for_s = number(f, "watch_for_s")?;
        input.start_within_s = number(f, "start_within_s")?;
        input.max_streams = number(f, "max_streams")?.map(|n| u32::try_from(n).unwrap_or(u32::MAX));
        input.age_gate = match text(f, "age_gate") {
            None | Some("") | Some("none") => AgeGate::None,
            Some("self_declared") => AgeGate::SelfDeclared,
            Some("verified") => AgeGate::Verified,
            Some(_) => {
                return Err(invalid_purchase(
                    "age_gate must be none, self_declared or verified.".into(),
                ));
            }
        };
        Ok(input)
    }
}

impl App {
    /// Process a provider's event (its signature already checked by the caller).
    pub async fn provider_event(
        &self,
        event: ProviderEvent,
        caller: &Caller,
    ) -> Result<ProviderOutcome, AppError> {
        if event.id.is_empty() || event.id.len() > 255 {
            return Err(AppError::invalid(
                ErrorCode::InvalidBody,
                "The event id must be 1 to 255 characters.",
            ));
        }
        let seen = keys::webhook_seen(&format!("{}:{}", event.provider.as_str(), event.id));
        if self.store.get(&seen).await?.is_some() {
            return Ok(ProviderOutcome::Duplicate);
        }
        let source = format!("{} {} {}", event.provider.as_str(), event.kind, event.id);
        let outcome = match event.action {
            Action::Purchase(p) => self.purchase(event.provider, p, &source, caller).await,
            Action::Refund {
                payment,
                refunded,
                partial,
            } => {
                let pending = PendingRevocation {
                    chargeback: false,
                    refunded,
                    revoke_partial: partial == PartialRefund::Revoke,
                    reason: format!("refund ({source})"),
                };
                self.revocation(event.provider, &payment, pending, &source, caller)
                    .await
            }
            Action::Chargeback { payment } => {
                let pending = PendingRevocation {
                    chargeback: true,
                    refunded: Refunded::Full,
                    revoke_partial: true,
                    reason: format!("chargeback ({source})"),
                };
                self.revocation(event.provider, &payment, pending, &source, caller)
                    .await
            }
            Action::Note { payment, what } => {
                let order = match &payment {
                    Some(p) => self
                        .payment_order(event.provider, p)
                        .await?
                        .map(|r| r.order),
                    None => None,
                };
                self.note(order.as_ref(), format!("{source}: {what}"), caller)
                    .await;
                Ok(ProviderOutcome::Noted)
            }
            Action::Unhandled => {
                self.note(
                    None,
                    format!("{source}: not an event vodgate acts on"),
                    caller,
                )
                .await;
                Ok(ProviderOutcome::Ignored)
            }
        };
        let outcome = match outcome {
            Err(e) if !matches!(e, AppError::Store(_)) => {
                // Signed, but it cannot be done as sent (no video_id, an order granted to
                // another viewer, say): the provider retries the same event and gives up
                // in the end, so the operator must see why.
                let client = self.audit.client(caller).await;
                let ev = AuditEvent::new(AuditKind::WebhookRefused)
                    .reason(format!("{source}: {e}"))
                    .client(&client);
                self.audit.record(ev).await;
                return Err(e);
            }
            other => other?,
        };
        // A failure here answers 503: the provider retries, and the retry finds it done.
        self.store.set(&seen, "1", SEEN_FOR).await?;
        Ok(outcome)
    }

    async fn purchase(
        &self,
        provider: Provider,
        p: Purchase,
        source: &str,
        caller: &Caller,
    ) -> Result<ProviderOutcome, AppError> {
        // A payment grants once. Its record outlives the event's seen marker (400 days
        // against 30), so an old purchase replayed later (Lemon Squeezy signs no time) finds
        // it and grants nothing new, even after the rental and its refund expired.
        let (entitlement, created) = match self.payment_order(provider, &p.payment).await? {
            Some(before) => (before.entitlement, false),
            None => {
                let terms = self
                    .terms(p.grant_input()?)
                    .map_err(|e| invalid_purchase(format!("The checkout's terms: {e}")))?;
                let granted = self
                    .grant_noted(terms, caller, Some(source.to_owned()))
                    .await?;
                let record = PaymentRecord {
                    order: p.order.clone(),
                    entitlement: granted.record.entitlement.id.clone(),
                    amount: p.amount,
                };
                let map = keys::payment(provider.as_str(), p.payment.as_str());
                let json = serde_json::to_string(&record).expect("serializable");
                self.store.set(&map, &json, PAYMENT_KEPT_FOR).await?;
                if let Some(session) = &p.checkout {
                    // Armed once: a retried purchase must not re-arm a return already used.
                    let hash = TokenHash::of(session);
                    let used = keys::checkout_return_used(provider.as_str(), &hash);
                    if self.store.get(&used).await?.is_none() {
                        let key = keys::checkout_return(provider.as_str(), &hash);
                        let id = record.entitlement.to_string();
                        self.store.set_nx(&key, &id, RETURN_KEPT_FOR).await?;
                    }
                }
                (record.entitlement, granted.created)
            }
        };
        let mut revoked = false;
        let pending = keys::payment_pending(provider.as_str(), p.payment.as_str());
        if let Some(raw) = self.store.get(&pending).await?
            && let Ok(pending) = serde_json::from_str::<PendingRevocation>(&raw)
        {
            if pending.revokes(p.amount) {
                self.revoke_as(
                    &entitlement,
                    RevocationKind::Refund,
                    Some(pending.reason),
                    caller,
                )
                .await?;
                revoked = true;
            } else {
                self.note(
                    Some(&p.order),
                    format!(
                        "{}: a partial refund before it, access kept",
                        pending.reason
                    ),
                    caller,
                )
                .await;
            }
        }
        tracing::info!(webhook.provider = provider.as_str(), order.id = %p.order, entitlement.id = %entitlement, created, "payment provider purchase");
        Ok(ProviderOutcome::Granted {
            entitlement,
            revoked,
        })
    }

    async fn revocation(
        &self,
        provider: Provider,
        payment: &PaymentRef,
        pending: PendingRevocation,
        source: &str,
        caller: &Caller,
    ) -> Result<ProviderOutcome, AppError> {
        let record = match self.payment_order(provider, payment).await? {
            Some(r) => r,
            None => {
                let key = keys::payment_pending(provider.as_str(), payment.as_str());
                let json = serde_json::to_string(&pending).expect("serializable");
                // A refund that surely revokes replaces what waits; a partial one never
                // replaces an earlier one (which may have been the full refund).
                if pending.revokes_any_purchase() {
                    self.store.set(&key, &json, PENDING_KEPT_FOR).await?;
                } else {
                    self.store.set_nx(&key, &json, PENDING_KEPT_FOR).await?;
                }
                self.store.replicated().await?;
                // The purchase may have landed between the read and the write.
                match self.payment_order(provider, payment).await? {
                    Some(r) => r,
                    None => {
                        let client = self.audit.client(caller).await;
                        let ev = AuditEvent::new(AuditKind::WebhookUnmatched)
                            .reason(format!(
                                "{source}: payment {} not bought through vodgate yet; applied if its purchase arrives",
                                payment.as_str()
                            ))
                            .client(&client);
                        self.audit.record(ev).await;
                        return Ok(ProviderOutcome::Remembered);
                    }
                }
            }
        };
        if !pending.revokes(record.amount) {
            self.note(
                Some(&record.order),
                format!("{source}: a partial refund, access kept"),
                caller,
            )
            .await;
            return Ok(ProviderOutcome::Noted);
        }
        let id = record.entitlement;
        let (revoked, already_revoked) = match self
            .revoke_as(&id, RevocationKind::Refund, Some(pending.reason), caller)
            .await
        {
            Ok(r) if r.by_this_call => (vec![id], vec![]),
            Ok(_) => (vec![], vec![id]),
            // Long gone (the rental ended more than 30 days ago): nothing left to end.
            Err(AppError::NotFound { .. }) => (vec![], vec![]),
            Err(e) => return Err(e),
        };
        tracing::info!(webhook.provider = provider.as_str(), order.id = %record.order, revoked = revoked.len(), "payment provider refund or chargeback");
        Ok(ProviderOutcome::Revoked {
            revoked,
            already_revoked,
        })
    }

    /// The buyer is back from `provider`'s checkout `session` (its success URL): once its
    /// webhook has granted, a launch link, once. The session id is in the buyer's address
    /// bar, so it is a bearer for this one step: kept only hashed, and useless after it.
    pub async fn checkout_returned(
        &self,
        provider: Provider,
        session: &str,
    ) -> Result<CheckoutReturn, AppError> {
        let hash = TokenHash::of(session);
        let key = keys::checkout_return(provider.as_str(), &hash);
        let used = keys::checkout_return_used(provider.as_str(), &hash);
        let Some(id) = self.store.take(&key).await? else {
            return Ok(if self.store.get(&used).await?.is_some() {
                CheckoutReturn::Used
            } else {
                CheckoutReturn::Waiting
            });
        };
        // Only `purchase` writes it, with an id it read back from the store.
        let Ok(entitlement) = EntitlementId::parse(&id) else {
            return Ok(CheckoutReturn::Used);
        };
        let ready = async {
            self.store.set(&used, "1", RETURN_KEPT_FOR).await?;
            self.launch_link(&entitlement).await
        };
        match ready.await {
            Ok(launch) => Ok(CheckoutReturn::Ready(launch)),
            Err(e) => {
                // Taken but not handed out (the store failed midway): put it back, so the
                // buyer's next reload still opens the film instead of "already used".
                let _ = self.store.del(&used).await;
                let _ = self.store.set_nx(&key, &id, RETURN_KEPT_FOR).await;
                Err(e)
            }
        }
    }

    async fn payment_order(
        &self,
        provider: Provider,
        payment: &PaymentRef,
    ) -> Result<Option<PaymentRecord>, AppError> {
        let raw = self
            .store
            .get(&keys::payment(provider.as_str(), payment.as_str()))
            .await?;
        Ok(raw.and_then(|r| serde_json::from_str(&r).ok()))
    }

    async fn note(&self, order: Option<&OrderId>, what: String, caller: &Caller) {
        let client = self.audit.client(caller).await;
        let mut ev = AuditEvent::new(AuditKind::PaymentNoted)
            .reason(what)
            .client(&client);
        if let Some(order) = order {
            ev = ev.order(order);
        }
        self.audit.record(ev).await;
    }
}
