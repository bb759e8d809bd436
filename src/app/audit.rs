//! The audit trail: grants, launches, first plays, refusals, revocations, refunds and
//! refused webhooks, each with time, entitlement, order, viewer, a keyed hash of the client IP
//! and the user agent. It is the evidence an operator sends in a chargeback dispute.
//!
//! Each event goes to the capped log of its entitlement (`audit:{e:<id>}`) and of its order
//! (`audit:{o:<order>}`), so `GET /v1/audit?entitlement_id=…` reads one log, oldest first.
//! Events without either (a webhook with a bad signature) go to `audit:unattributed`.
//! Client IPs are never stored: only HMAC-SHA256(key, ip), with a key shared by every
//! instance (configured, or generated once and kept in the store), so one client's events
//! can be correlated without keeping its address.

use crate::domain::{Entitlement, EntitlementId, OrderId, ViewerId};
use crate::store::{Store, StoreError, keys};
use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// Events kept per entitlement or order (Redis trims streams approximately).
pub const MAX_EVENTS_PER_LOG: usize = 1000;
/// Refusals written to one trail at most. A refused viewer causes them (a refunded one
/// reloading the watch page, a second device), and a trail is capped: without this, enough
/// refusals would push the grant, launch, first play, revocation and refund out of it, the
/// evidence of a dispute erased by the person disputing. Past the cap refusals are still
/// logged and counted in metrics, just not filed; the trail keeps the first ones.
pub const MAX_REFUSALS_PER_LOG: i64 = 100;
/// Dispute windows run for months.
pub const RETENTION: Duration = Duration::from_secs(400 * 24 * 3600);

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    Grant,
    Launch,
    AgeConfirmed,
    FirstPlay,
    Deny,
    Revoke,
    Refund,
    PlaybackStopped,
    WebhookRefused,
    WebhookUnmatched,
    /// A payment provider's event that changed nothing: a partial refund kept, a refund
    /// awaiting approval, a checkout not paid yet, an event type vodgate does not act on.
    PaymentNoted,
}

impl AuditKind {
    /// Events someone who is refused can cause at will: filed up to `MAX_REFUSALS_PER_LOG`
    /// per trail. Every other kind is caused by the operator, the payment platform or a
    /// single-use step (a grant, a launch link, the first play), so it is bounded already.
    pub fn is_refusal(self) -> bool {
        matches!(self, Self::Deny | Self::WebhookRefused)
    }
}

/// One entry of the audit trail. Every field is always present (null when it does not apply).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub at: DateTime<Utc>,
    pub kind: AuditKind,
    #[schema(required = true, value_type = Option<EntitlementId>)]
    pub entitlement_id: Option<String>,
    #[schema(required = true, value_type = Option<OrderId>)]
    pub order_id: Option<String>,
    #[schema(required = true, value_type = Option<ViewerId>)]
    pub viewer_id: Option<String>,
    /// A deny code, a revocation reason, a webhook refusal cause.
    #[schema(required = true)]
    pub reason: Option<String>,
    /// HMAC-SHA256 of the client's IP address (hex): correlates one client's events without keeping its address.
    #[schema(required = true)]
    pub client_ip_hash: Option<String>,
    #[schema(required = true)]
    pub user_agent: Option<String>,
}

/// Whose trail to read.
#[derive(Debug, Clone, Copy)]
pub enum Trail<'a> {
    Entitlement(&'a EntitlementId),
    Order(&'a OrderId),
    /// Events about no entitlement or order: badly signed webhooks, a provider's refund of a
    /// payment vodgate never granted, event types it does not act on.
    Unattributed,
}

/// Who made a call, as the HTTP layer (or the CLI) saw it: the client's address and its user
/// agent. Only `Audit::client` turns it into what the trail keeps.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub ip: Option<std::net::IpAddr>,
    pub user_agent: Option<String>,
}

impl Caller {
    /// Longest user agent kept: enough to tell browsers apart, not a place to store data.
    pub const MAX_USER_AGENT: usize = 300;

    pub fn new(ip: Option<std::net::IpAddr>, user_agent: Option<&str>) -> Self {
        Self {
            ip,
            user_agent: user_agent.map(|ua| ua.chars().take(Self::MAX_USER_AGENT).collect()),
        }
    }

    /// The command line: no client address; the user agent says so.
    pub fn cli() -> Self {
        Self {
            ip: None,
            user_agent: Some(format!("vodgate-cli/{}", env!("CARGO_PKG_VERSION"))),
        }
    }
}

/// Who was at the other end of a request, as far as the audit trail keeps it.
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub ip_hash: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Clone)]
pub struct Audit {
    store: Store,
    configured_key: Option<Arc<Vec<u8>>>,
    /// Resolved on first use, so vodgate starts even while the store is still down.
    shared_key: Arc<tokio::sync::OnceCell<Vec<u8>>>,
}

impl AuditEvent {
    pub fn new(kind: AuditKind) -> Self {
        Self {
            at: Utc::now(),
            kind,
            entitlement_id: None,
            order_id: None,
            viewer_id: None,
            reason: None,
            client_ip_hash: None,
            user_agent: None,
        }
    }
    pub fn entitlement(
        mut self,
        id: &EntitlementId,
        order: Option<&OrderId>,
        viewer: &ViewerId,
    ) -> Self {
        self.entitlement_id = Some(id.to_string());
        self.order_id = order.map(|o| o.to_string());
        self.viewer_id = Some(viewer.to_string());
        self
    }
    pub fn order(mut self, order: &OrderId) -> Self {
        self.order_id = Some(order.to_string());
        self
    }
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
    pub fn client(mut self, client: &Client) -> Self {
        self.client_ip_hash = client.ip_hash.clone();
        self.user_agent = client.user_agent.clone();
        self
    }
}

impl Audit {
    pub fn new(store: Store, configured: Option<&secrecy::SecretString>) -> Self {
        Self {
            store,
            configured_key: configured.map(|k| Arc::new(k.expose_secret().as_bytes().to_vec())),
            shared_key: Arc::default(),
        }
    }

    /// The IP-hashing key: configured, or the one the first instance on this store generated.
    async fn ip_key(&self) -> Result<Vec<u8>, StoreError> {
        if let Some(k) = &self.configured_key {
            return Ok(k.to_vec());
        }
        let store = &self.store;
        self.shared_key
            .get_or_try_init(|| async move {
                let fresh = hex::encode(rand::random::<[u8; 32]>());
                store
                    .set_nx(&keys::audit_ip_key(), &fresh, crate::store::FOREVER)
                    .await?;
                Ok::<_, StoreError>(
                    store
                        .get(&keys::audit_ip_key())
                        .await?
                        .unwrap_or(fresh)
                        .into_bytes(),
                )
            })
            .await
            .cloned()
    }

    /// An event about an entitlement, caused by `caller` (whose client it records).
    pub async fn about(&self, kind: AuditKind, e: &Entitlement, caller: &Caller) -> AuditEvent {
        AuditEvent::new(kind)
            .entitlement(&e.id, e.order_id.as_ref(), &e.viewer_id)
            .client(&self.client(caller).await)
    }

    /// What the trail keeps of a caller: a keyed hash of its address, never the address.
    pub async fn client(&self, caller: &Caller) -> Client {
        let key = self.ip_key().await.ok();
        let ip_hash = caller.ip.zip(key).map(|(ip, key)| {
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key)
                .expect("HMAC takes any key length");
            mac.update(ip.to_string().as_bytes());
            hex::encode(&mac.finalize().into_bytes()[..16])
        });
        Client {
            ip_hash,
            user_agent: caller.user_agent.clone(),
        }
    }

    /// Write the event. A failure is logged, not raised: the trail must not take playback
    /// or a refund down with it.
    pub async fn record(&self, event: AuditEvent) {
        let Ok(json) = serde_json::to_string(&event) else {
            return;
        };
        // Each trail with the counter of the refusals filed in it.
        let mut logs = vec![];
        if let Some(e) = event
            .entitlement_id
            .as_deref()
            .and_then(|e| EntitlementId::parse(e).ok())
        {
            logs.push((
                keys::entitlement_audit(&e),
                Some(keys::entitlement_audit_refusals(&e)),
            ));
        }
        if let Some(o) = event
            .order_id
            .as_deref()
            .and_then(|o| OrderId::parse(o).ok())
        {
            logs.push((keys::order_audit(&o), Some(keys::order_audit_refusals(&o))));
        }
        if logs.is_empty() {
            // Nothing to protect there: no grant or refund is ever filed in it.
            logs.push((keys::unattributed_audit(), None));
        }
        for (log, refusals) in logs {
            if event.kind.is_refusal()
                && let Some(counter) = refusals
            {
                match self.store.incr(&counter, RETENTION).await {
                    Ok((n, _)) if n <= MAX_REFUSALS_PER_LOG => {}
                    Ok(_) => continue,
                    Err(e) => {
                        tracing::error!(error = %e, audit.kind = ?event.kind, "audit event not written");
                        continue;
                    }
                }
            }
            if let Err(e) = self
                .store
                .log_append(&log, &json, MAX_EVENTS_PER_LOG, RETENTION)
                .await
            {
                tracing::error!(error = %e, audit.kind = ?event.kind, "audit event not written");
            }
        }
    }

    /// Events of one trail, oldest first, `limit` at a time after the cursor.
    pub async fn list(
        &self,
        trail: Trail<'_>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<AuditEvent>, Option<String>), StoreError> {
        let log = match trail {
            Trail::Entitlement(id) => keys::entitlement_audit(id),
            Trail::Order(order) => keys::order_audit(order),
            Trail::Unattributed => keys::unattributed_audit(),
        };
        let rows = self.store.log_range(&log, after, limit).await?;
        let next = (rows.len() == limit)
            .then(|| rows.last().map(|(id, _)| id.clone()))
            .flatten();
        let events = rows
            .into_iter()
            .filter_map(|(_, json)| serde_json::from_str(&json).ok())
            .collect();
        Ok((events, next))
    }
}
