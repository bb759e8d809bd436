//! Granting, reading and revoking entitlements, and minting launch links, on top of the
//! store's primitives.
//!
//! Store keys: `ent:{e:<id>}` (the grant, immutable), `ent:{e:<id>}:revoked` (write-once
//! revocation) and `ent:{e:<id>}:first_play` (write-once; starts a rental clock), all in one
//! slot so one MGET reads them, `idem:{o:<order>}:<video>` (the
//! idempotency claim: whoever sets it first owns the order+video), `order:{o:<order>}` and
//! `viewer:{v:<viewer>}` (indexes), `launch:<sha256>` (single-use launch links).

use crate::domain::{
    AgeGate, AgeVerification, Delivery, Entitlement, EntitlementId, EntitlementStatus, OrderId,
    PlaybackMode, Revocation, RevocationKind, VideoId, ViewerId,
};
use crate::store::{Event, Store, StoreError, keys};
use crate::token::{Token, TokenHash};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Revoked and expired entitlements stay readable this long after their window, so
/// operators can look them up in disputes.
pub const AUDIT_GRACE: Duration = Duration::from_secs(30 * 24 * 3600);
pub const LAUNCH_PREFIX: &str = "vg_wl_";

#[derive(Debug, thiserror::Error)]
pub enum EntitlementError {
    #[error("order {order} already holds video {video} for another viewer")]
    OrderConflict { order: String, video: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the grant asked for, already validated (`app::GrantTerms`).
#[derive(Debug, Clone)]
pub struct GrantRequest {
    pub viewer_id: ViewerId,
    pub video_id: VideoId,
    pub order_id: Option<OrderId>,
    pub watch_for_s: u64,
    pub start_within_s: Option<u64>,
    pub max_streams: u32,
    pub age_gate: AgeGate,
    pub age_verification: Option<AgeVerification>,
    pub playback_mode: Option<PlaybackMode>,
    pub delivery: Option<Delivery>,
}

pub struct Granted {
    pub entitlement: Entitlement,
    /// false when an earlier grant for the same order and video was returned instead.
    pub created: bool,
}

/// An entitlement with what happened to it since, as read in one round trip.
#[derive(Debug, Clone)]
pub struct EntitlementRecord {
    pub entitlement: Entitlement,
    pub revocation: Option<Revocation>,
    pub first_played_at: Option<DateTime<Utc>>,
}

/// What a revoke found: the entitlement as it now stands, and whether this call revoked it
/// (false: it already was, and the first revocation stands). The audit trail records only the
/// call that did it, so a second refund webhook for an order does not read as a second refund.
#[derive(Debug, Clone)]
pub struct Revoked {
    pub record: EntitlementRecord,
    pub by_this_call: bool,
}

impl EntitlementRecord {
    pub fn status(&self, now: DateTime<Utc>) -> EntitlementStatus {
        self.entitlement
            .status(self.revocation.as_ref(), self.first_played_at, now)
    }
    /// The effective end of the window; None while a start window waits for the first play.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.entitlement.expires_at(self.first_played_at)
    }
    /// What the viewer has left: until the end, or the whole window if it has not started.
    pub fn seconds_left(&self, now: DateTime<Utc>) -> i64 {
        match self.expires_at() {
            Some(end) => (end - now).num_seconds().max(0),
            None => i64::try_from(self.entitlement.watch_for_s).unwrap_or(i64::MAX),
        }
    }
}

#[derive(Clone)]
pub struct Entitlements {
    store: Store,
    launch_ttl: Duration,
}

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl Entitlements {
    pub fn new(store: Store, launch_ttl: Duration) -> Self {
        Self { store, launch_ttl }
    }

    /// How long the records of this entitlement are kept.
    fn retention(e: &Entitlement, now: DateTime<Utc>) -> Duration {
        (e.latest_end() - now).to_std().unwrap_or_default() + AUDIT_GRACE
    }

    /// Grant, idempotently per order and video: the grant is written under a fresh id
    /// first, then the order+video claim is taken with SET NX. A loser of that race (a
    /// retry, a double click) drops its own record and returns the winner's, which is
    /// already readable because the winner wrote its record before claiming.
    pub async fn grant(&self, req: GrantRequest) -> Result<Granted, EntitlementError> {
        let now = Utc::now();
        let entitlement = Entitlement {
            id: EntitlementId::new(),
            viewer_id: req.viewer_id,
            video_id: req.video_id,
            order_id: req.order_id,
            created_at: now,
            watch_for_s: req.watch_for_s,
            start_by: req.start_within_s.map(|s| {
                now + chrono::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000))
            }),
            max_streams: req.max_streams,
            age_gate: req.age_gate,
            age_verification: req.age_verification,
            playback_mode: req.playback_mode,
            delivery: req.delivery,
        };
        let ttl = Self::retention(&entitlement, now);
        let json = serde_json::to_string(&entitlement).map_err(corrupt)?;
        self.store
            .set(&keys::entitlement(&entitlement.id), &json, ttl)
            .await?;

        if let Some(order) = &entitlement.order_id {
            let claim = keys::order_claim(order, entitlement.video_id.as_str());
            if !self
                .store
                .set_nx(&claim, entitlement.id.as_str(), ttl)
                .await?
            {
                self.store.del(&keys::entitlement(&entitlement.id)).await?;
                let existing = self.find_claimed(&claim).await?;
                if existing.entitlement.viewer_id != entitlement.viewer_id {
                    return Err(EntitlementError::OrderConflict {
                        order: order.to_string(),
                        video: entitlement.video_id.to_string(),
                    });
                }
                return Ok(Granted {
                    entitlement: existing.entitlement,
                    created: false,
                });
            }
            self.store
                .set_add(&keys::order(order), entitlement.id.as_str(), ttl)
                .await?;
        }
        self.store
            .set_add(
                &keys::viewer(&entitlement.viewer_id),
                entitlement.id.as_str(),
                ttl,
            )
            .await?;
        Ok(Granted {
            entitlement,
            created: true,
        })
    }

    async fn find_claimed(&self, claim: &keys::Key) -> Result<EntitlementRecord, StoreError> {
        let id = self
            .store
            .get(claim)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("{claim} vanished")))?;
        let id = EntitlementId::parse(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.get(&id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("claimed entitlement {id} is missing")))
    }

    pub async fn get(&self, id: &EntitlementId) -> Result<Option<EntitlementRecord>, StoreError> {
        let (k1, k2, k3) = (
            keys::entitlement(id),
            keys::revocation(id),
            keys::first_play(id),
        );
        let mut found = self.store.mget(&[&*k1, &*k2, &*k3]).await?.into_iter();
        let (Some(Some(ent)), revoked, first) =
            (found.next(), found.next().flatten(), found.next().flatten())
        else {
            return Ok(None);
        };
        Ok(Some(EntitlementRecord {
            entitlement: serde_json::from_str(&ent).map_err(corrupt)?,
            revocation: revoked
                .map(|r| serde_json::from_str(&r))
                .transpose()
                .map_err(corrupt)?,
            first_played_at: first
                .map(|f| serde_json::from_str(&f))
                .transpose()
                .map_err(corrupt)?,
        }))
    }

    async fn get_many(&self, ids: Vec<String>) -> Result<Vec<EntitlementRecord>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let Ok(id) = EntitlementId::parse(&id) else {
                continue;
            };
            if let Some(r) = self.get(&id).await? {
                out.push(r);
            }
        }
        out.sort_by_key(|r| r.entitlement.created_at);
        Ok(out)
    }

    pub async fn list_for_viewer(
        &self,
        viewer: &ViewerId,
    ) -> Result<Vec<EntitlementRecord>, StoreError> {
        let ids = self.store.set_members(&keys::viewer(viewer)).await?;
        self.get_many(ids).await
    }

    pub async fn list_for_order(
        &self,
        order: &OrderId,
    ) -> Result<Vec<EntitlementRecord>, StoreError> {
        let ids = self.store.set_members(&keys::order(order)).await?;
        self.get_many(ids).await
    }

    /// Revoke, once: the first revocation (its kind and time) is the one that stands, so a
    /// refund after a manual revoke does not rewrite history. Every instance is told.
    pub async fn revoke(
        &self,
        id: &EntitlementId,
        kind: RevocationKind,
        reason: Option<String>,
    ) -> Result<Option<Revoked>, StoreError> {
        let Some(record) = self.get(id).await? else {
            return Ok(None);
        };
        let mut by_this_call = false;
        if record.revocation.is_none() {
            let now = Utc::now();
            let rev = Revocation {
                kind,
                at: now,
                reason,
            };
            let json = serde_json::to_string(&rev).map_err(corrupt)?;
            let ttl = Self::retention(&record.entitlement, now);
            by_this_call = self.store.set_nx(&keys::revocation(id), &json, ttl).await?;
            if by_this_call {
                tracing::info!(entitlement.id = %id, revocation.kind = ?kind, "entitlement revoked");
            }
        }
        // Publish even when it was already revoked: a repeated call is how an operator
        // says "make sure", and an instance that missed the first event gets another.
        self.store
            .publish(&Event::Entitlement(id.to_string()))
            .await?;
        Ok(self.get(id).await?.map(|record| Revoked {
            record,
            by_this_call,
        }))
    }

    /// Refund every entitlement of an order. Returns them (empty: unknown order).
    pub async fn refund_order(
        &self,
        order: &OrderId,
        reason: Option<String>,
    ) -> Result<Vec<Revoked>, StoreError> {
        let mut out = vec![];
        for r in self.list_for_order(order).await? {
            if let Some(r) = self
                .revoke(&r.entitlement.id, RevocationKind::Refund, reason.clone())
                .await?
            {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Record the first segment served (write-once). True when this call started the clock;
    /// every instance is told, so none keeps a cached record without it.
    pub async fn record_first_play(
        &self,
        e: &Entitlement,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let json = serde_json::to_string(&at).map_err(corrupt)?;
        let started = self
            .store
            .set_nx(&keys::first_play(&e.id), &json, Self::retention(e, at))
            .await?;
        if started {
            self.store
                .publish(&Event::Entitlement(e.id.to_string()))
                .await?;
        }
        Ok(started)
    }

    /// A fresh single-use launch link for this entitlement.
    pub async fn mint_launch(&self, id: &EntitlementId) -> Result<Token, StoreError> {
        let token = Token::mint(LAUNCH_PREFIX);
        self.store
            .set(&keys::launch(&token.hash()), id.as_str(), self.launch_ttl)
            .await?;
        Ok(token)
    }

    /// Consume a launch link: exactly one caller ever gets the entitlement id back.
    pub async fn consume_launch(
        &self,
        presented: &str,
    ) -> Result<Option<EntitlementId>, StoreError> {
        if !crate::token::looks_like(presented, LAUNCH_PREFIX) {
            return Ok(None);
        }
        let taken = self
            .store
            .take(&keys::launch(&TokenHash::of(presented)))
            .await?;
        Ok(taken.and_then(|id| EntitlementId::parse(&id).ok()))
    }
}
