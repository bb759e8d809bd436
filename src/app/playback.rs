//! A playback, from the watch page to the last segment: start one (age gate, stream limit,
//! origin, first play in embed mode), authorize each of its requests (the decision, its
//! stream place, the rental clock, the audit trail, riding out a store outage), report its
//! status to the page, list and stop playbacks for the operator.

use super::{App, AppError, Caller};
use crate::app::access::decide;
use crate::app::audit::AuditKind;
use crate::app::entitlements::EntitlementRecord;
use crate::app::viewer_session;
use crate::cdn::{TokenPlace, VideoToken};
use crate::domain::ErrorCode;
use crate::domain::{AgeGate, Delivery, DenyReason, EntitlementId, Playback, PlaybackId};
use crate::media::asset_path::AssetKind;
use crate::media::origin::{PlaybackStart, UpstreamError};
use crate::store::{StoreError, keys};
use crate::token::{TokenHash, constant_time_eq};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

/// A refused playback request is filed in the audit trail at most this often per playback
/// and reason (a refused player retries; the trail should say so once, not fill up).
const REFUSAL_AUDITED_EVERY: Duration = Duration::from_secs(60);
/// Playbacks one entitlement holds at most (its live screens, tabs and devices; each page
/// load is one). Past it, starting one retires the oldest.
pub const MAX_PLAYBACKS: usize = 20;
/// How long a retired playback's record stays, refused as stopped, before it goes.
const RETIRED_FOR: Duration = Duration::from_secs(3600);

/// What starting a playback came to.
pub enum StartOutcome {
    Denied(DenyReason),
    /// A self-declared age gate that this session has not passed yet.
    AgeGate {
        title: String,
        csrf: String,
    },
    /// The origin could not start it.
    Unavailable(UpstreamError),
    Started(Box<Started>),
}

pub struct Started {
    pub playback: Playback,
    pub record: EntitlementRecord,
    pub title: String,
    /// api.video embed mode: the player URL (it carries the upstream tokens by design).
    pub embed_url: Option<String>,
}

/// The viewer sessions a request presents for an entitlement: which entitlement counts is
/// known only once the playback is read (the HTTP layer reads them from cookies). Usually
/// one (the browser's session); a browser from before sessions were per browser may also
/// present that rental's own.
pub trait PresentedSessions {
    fn sessions_for(&self, entitlement: &EntitlementId) -> Vec<TokenHash>;
}

/// One playlist, key or segment request of a playback.
pub struct PlaybackRequest<'a> {
    pub playback_id: &'a PlaybackId,
    pub sessions: &'a dyn PresentedSessions,
    pub kind: AssetKind,
    /// False for HEAD: nothing is served, so no stream place is held and no clock starts.
    pub serves_bytes: bool,
    /// Who asked: read only when something is audited (a first play, a refusal), not on
    /// every segment.
    pub caller: &'a dyn Fn() -> Caller,
}

/// The answer to a playback request, carrying what was read to reach it.
pub enum Decision {
    Allowed {
        playback: Arc<Playback>,
        record: Arc<EntitlementRecord>,
    },
    Refused(DenyReason),
}

/// What the watch page's status poll hears.
pub enum PlaybackStatus {
    Active {
        expires_at: Option<DateTime<Utc>>,
        seconds_left: i64,
        /// CDN delivery with cookie tokens: the renewed token to set.
        cdn: Option<std::sync::Arc<VideoToken>>,
    },
    Denied {
        reason: DenyReason,
        expires_at: Option<DateTime<Utc>>,
    },
}

/// The age form's CSRF token: derived from the viewer's own (secret) session, so a page on
/// another site cannot produce it.
fn age_csrf(session: &TokenHash) -> String {
    TokenHash::of(&format!("vodgate-age-gate:{}", session.as_str())).as_str()[..32].to_owned()
}

/// `vodgate_access_decisions_total`: one per playlist, key or segment request, counted where
/// the request's fate is settled (a segment can still lose its stream place after the check).
fn count_decision(outcome: &str) {
    crate::metrics::METRICS
        .access_decisions
        .with_label_values(&[outcome])
        .inc();
}

impl App {
    /// The viewer session a request presented, if it is live and belongs to this entitlement.
    async fn live_session(
        &self,
        id: &EntitlementId,
        presented: Vec<TokenHash>,
    ) -> Result<Option<TokenHash>, AppError> {
        for h in presented {
            if viewer_session::is_valid(&self.store, id, &h).await? {
                return Ok(Some(h));
            }
        }
        Ok(None)
    }

    /// File a refusal of this entitlement in its audit trail.
    /// The one place a refusal is audited, whatever refused it (the watch page, a launch
    /// link, the age gate, a playlist or segment, a second device): once per entitlement,
    /// reason and minute, so a refused viewer reloading or a player retrying files one
    /// event, not thousands. (The trail caps refusals as well: `audit::MAX_REFUSALS_PER_LOG`.)
    pub(super) async fn audit_refusal(
        &self,
        record: &EntitlementRecord,
        reason: DenyReason,
        caller: &Caller,
    ) {
        let marker = keys::refusal_audited(&record.entitlement.id, reason.code());
        match self.store.set_nx(&marker, "1", REFUSAL_AUDITED_EVERY).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::error!(error = %e, "refusal not audited");
                return;
            }
        }
        let ev = self
            .audit
            .about(AuditKind::Deny, &record.entitlement, caller)
            .await
            .reason(reason.code());
        self.audit.record(ev).await;
    }

    /// The watch page: start a playback of this entitlement for this session.
    pub async fn start_playback(
        &self,
        id: &EntitlementId,
        presented: Vec<TokenHash>,
        caller: &Caller,
    ) -> Result<StartOutcome, AppError> {
        let Some(session) = self.live_session(id, presented).await? else {
            return Ok(StartOutcome::Denied(DenyReason::SessionMismatch));
        };
        let Some(record) = self.entitlements.get(id).await? else {
            return Ok(StartOutcome::Denied(DenyReason::UnknownEntitlement));
        };
        let e = &record.entitlement;
        if let Some(reason) = DenyReason::from_status(record.status(Utc::now())) {
            self.audit_refusal(&record, reason, caller).await;
            return Ok(StartOutcome::Denied(reason));
        }
        let title = self
            .origin
            .title(&e.video_id)
            .await
            .unwrap_or_else(|| e.video_id.to_string());
        if e.age_gate == AgeGate::SelfDeclared
            && self
                .store
                .get(&keys::age_confirmed(id, &session))
                .await?
                .is_none()
        {
            return Ok(StartOutcome::AgeGate {
                title,
                csrf: age_csrf(&session),
            });
        }

        let playback_id = PlaybackId::new();
        let until = super::until(&record);
        let ttl = (until - Utc::now()).to_std().unwrap_or_default();
        // A reload or a second tab of the same browser takes over its own earlier playback,
        // and the entitlement never holds more than MAX_PLAYBACKS.
        self.retire_earlier_playbacks(id, &session).await?;
        if !self
            .streams
            .claim(id, &playback_id, e.max_streams, ttl)
            .await?
        {
            self.audit_refusal(&record, DenyReason::TooManyStreams, caller)
                .await;
            return Ok(StartOutcome::Denied(DenyReason::TooManyStreams));
        }
        let start = PlaybackStart {
            entitlement_id: id,
            until,
            mode: e.playback_mode,
        };
        let opened = match self.origin.open(&e.video_id, &start).await {
            Ok(o) => o,
            Err(err) => {
                self.streams.release(id, &playback_id).await?;
                tracing::warn!(entitlement.id = %id, video.id = %e.video_id, error = %err, "cannot start playback");
                return Ok(StartOutcome::Unavailable(err));
            }
        };
        let playback = Playback {
            id: playback_id,
            entitlement_id: id.clone(),
            video_id: e.video_id.clone(),
            session_hash: session.as_str().to_owned(),
            source: opened.source,
            started_at: Utc::now(),
            stopped_at: None,
        };
        self.access.start_playback(&playback, until).await?;
        self.store
            .set_add(
                &keys::playbacks(id),
                playback.id.as_str(),
                ttl + RETIRED_FOR,
            )
            .await?;
        tracing::info!(entitlement.id = %id, playback.id = %playback.id, "playback started");
        // Embed mode: the player fetches straight from api.video and vodgate never sees a
        // segment, so this page load is the first play: it starts the rental clock.
        let record = if opened.embed_url.is_some() && record.first_played_at.is_none() {
            self.first_play(&record, caller).await?;
            self.entitlements.get(id).await?.unwrap_or(record)
        } else {
            record
        };
        Ok(StartOutcome::Started(Box::new(Started {
            playback,
            record,
            title: opened.title.unwrap_or(title),
            embed_url: opened.embed_url,
        })))
    }

    /// Before a new playback: retire this session's earlier ones (a reload, a second tab),
    /// any already stopped, and past `MAX_PLAYBACKS - 1` the oldest of the rest. A retired
    /// playback is refused as stopped from its next request, its place is freed, and its
    /// record goes after `RETIRED_FOR`: reloading a hundred times leaves one playback, not a
    /// hundred live ids that each keep serving playlists for the rest of the window.
    async fn retire_earlier_playbacks(
        &self,
        id: &EntitlementId,
        session: &TokenHash,
    ) -> Result<(), AppError> {
        let set = keys::playbacks(id);
        let mut others = vec![];
        for member in self.store.set_members(&set).await? {
            let Ok(pb) = PlaybackId::parse(&member) else {
                self.store.set_remove(&set, &member).await?;
                continue;
            };
            match self.access.playback(&pb).await? {
                Some(p) if p.stopped_at.is_none() && p.session_hash != session.as_str() => {
                    others.push(p)
                }
                Some(_) => self.retire(id, &pb).await?,
                None => self.store.set_remove(&set, &member).await?,
            }
        }
        others.sort_by_key(|p| p.started_at);
        let excess = others.len().saturating_sub(MAX_PLAYBACKS - 1);
        for p in &others[..excess] {
            self.retire(id, &p.id).await?;
        }
        Ok(())
    }

    async fn retire(&self, id: &EntitlementId, pb: &PlaybackId) -> Result<(), StoreError> {
        self.access.retire_playback(pb, RETIRED_FOR).await?;
        self.streams.release(id, pb).await?;
        self.store
            .set_remove(&keys::playbacks(id), pb.as_str())
            .await
    }

    /// Start the rental clock (write-once) and audit it when this call did. True: it did.
    async fn first_play(
        &self,
        record: &EntitlementRecord,
        caller: &Caller,
    ) -> Result<bool, StoreError> {
        let e = &record.entitlement;
        let started = self.entitlements.record_first_play(e, Utc::now()).await?;
        if started {
            let ev = self.audit.about(AuditKind::FirstPlay, e, caller).await;
            self.audit.record(ev).await;
        }
        Ok(started)
    }

    /// The viewer confirms their age on the gate's form. Recorded per entitlement and
    /// session, and audited. `Ok(Some(reason))`: refused as a playback would be.
    pub async fn confirm_age(
        &self,
        id: &EntitlementId,
        presented: Vec<TokenHash>,
        csrf: &str,
        confirmed: bool,
        caller: &Caller,
    ) -> Result<Option<DenyReason>, AppError> {
        let Some(session) = self.live_session(id, presented).await? else {
            return Ok(Some(DenyReason::SessionMismatch));
        };
        if !constant_time_eq(csrf.as_bytes(), age_csrf(&session).as_bytes()) || !confirmed {
            return Err(AppError::Forbidden {
                code: ErrorCode::InvalidCsrfToken,
                message: "This form is stale or came from another site; reload the page.".into(),
            });
        }
        let Some(record) = self.entitlements.get(id).await? else {
            return Ok(Some(DenyReason::UnknownEntitlement));
        };
        let e = &record.entitlement;
        let ttl = (e.latest_end() - Utc::now())
            .to_std()
            .unwrap_or_default()
            .max(Duration::from_secs(1));
        let at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        // The first confirmation of this session is the one kept and audited: a form
        // posted again changes nothing and files nothing (the trail is capped).
        let first = self
            .store
            .set_nx(&keys::age_confirmed(id, &session), &at, ttl)
            .await?;
        if first {
            let ev = self.audit.about(AuditKind::AgeConfirmed, e, caller).await;
            self.audit.record(ev).await;
        }
        Ok(None)
    }

    /// Decide one playlist, key or segment request. A segment is what counts as watching:
    /// it holds the stream's place and starts the rental clock. In CDN delivery segments
    /// never come here, so playlists and keys count instead (`delivery.rs`).
    pub async fn authorize(&self, req: PlaybackRequest<'_>) -> Result<Decision, AppError> {
        let Some(playback) = self.access.playback(req.playback_id).await? else {
            count_decision(DenyReason::UnknownEntitlement.code());
            return Ok(Decision::Refused(DenyReason::UnknownEntitlement));
        };
        let record = self.access.entitlement(&playback.entitlement_id).await?;
        let sessions = req.sessions.sessions_for(&playback.entitlement_id);
        let verdict = decide(Utc::now(), &playback, record.as_deref(), &sessions);
        let record = match (verdict, record) {
            (Ok(()), Some(record)) => record,
            (Ok(()), None) => {
                return Ok(self
                    .refuse(
                        &playback,
                        None,
                        DenyReason::UnknownEntitlement,
                        &(req.caller)(),
                    )
                    .await);
            }
            (Err(reason), record) => {
                return Ok(self
                    .refuse(&playback, record.as_deref(), reason, &(req.caller)())
                    .await);
            }
        };
        let watching = match req.kind {
            AssetKind::Segment => true,
            AssetKind::Playlist | AssetKind::Key => self.delivery(&record) == Delivery::Cdn,
            AssetKind::Other => false,
        };
        if watching && req.serves_bytes {
            crate::metrics::METRICS.playback_seen(playback.id.as_str());
            let e = &record.entitlement;
            let ttl = (super::until(&record) - Utc::now())
                .to_std()
                .unwrap_or_default();
            match self
                .streams
                .refresh(&e.id, &playback.id, e.max_streams, ttl)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    return Ok(self
                        .refuse(
                            &playback,
                            Some(&record),
                            DenyReason::TooManyStreams,
                            &(req.caller)(),
                        )
                        .await);
                }
                Err(err) => self.ride_out(err, "stream place")?,
            }
            if record.first_played_at.is_none() {
                let started = match self.first_play(&record, &(req.caller)()).await {
                    Ok(started) => started,
                    Err(err) => {
                        self.ride_out(err, "first play")?;
                        false
                    }
                };
                if !started {
                    // Another request or instance started the clock; the cached record
                    // still has no first play and, with a start window, would read as
                    // `start_window_passed` once `start_by` is behind us until that event
                    // arrives. (One this call recorded has already evicted the record
                    // through its own event.) Read it afresh instead.
                    self.access.forget_entitlement(&e.id);
                }
            }
        }
        if req.kind != AssetKind::Other {
            count_decision("allowed");
        }
        Ok(Decision::Allowed { playback, record })
    }

    /// Refuse, and put it in the audit trail once per playback, reason and minute. A
    /// stranger's request (another session) is not filed: it says nothing about the rental.
    async fn refuse(
        &self,
        playback: &Playback,
        record: Option<&EntitlementRecord>,
        reason: DenyReason,
        caller: &Caller,
    ) -> Decision {
        tracing::info!(playback.id = %playback.id, entitlement.id = %playback.entitlement_id, deny.reason = %reason, "playback request refused");
        count_decision(reason.code());
        if reason != DenyReason::SessionMismatch
            && let Some(record) = record
        {
            self.audit_refusal(record, reason, caller).await;
        }
        Decision::Refused(reason)
    }

    /// A store write on the segment path failed. Without an outage grace that fails the
    /// request closed (503 `store_unavailable`); with one, a viewer whose access was just
    /// decided from this instance's recent view keeps playing, and the write is skipped.
    fn ride_out(&self, err: StoreError, what: &str) -> Result<(), AppError> {
        if self.access.has_outage_grace() {
            tracing::warn!(error = %err, write = what, "store unreachable; skipped inside the outage grace");
            Ok(())
        } else {
            Err(err.into())
        }
    }

    /// The page's side channel: state and time left, or why playback is refused. Strangers
    /// (another session) learn nothing about the rental: they get `Err(Denied)`.
    pub async fn playback_status(
        &self,
        id: &PlaybackId,
        sessions: &dyn PresentedSessions,
    ) -> Result<PlaybackStatus, AppError> {
        let Some(playback) = self.access.playback(id).await? else {
            return Err(AppError::Denied(DenyReason::UnknownEntitlement));
        };
        let sessions = sessions.sessions_for(&playback.entitlement_id);
        let record = self.access.entitlement(&playback.entitlement_id).await?;
        let now = Utc::now();
        let decision = decide(now, &playback, record.as_deref(), &sessions);
        if decision == Err(DenyReason::SessionMismatch) {
            return Err(AppError::Denied(DenyReason::SessionMismatch));
        }
        let expires_at = record.as_ref().and_then(|r| r.expires_at());
        let (Ok(()), Some(record)) = (decision, record) else {
            let reason = decision.err().unwrap_or(DenyReason::UnknownEntitlement);
            return Ok(PlaybackStatus::Denied { reason, expires_at });
        };
        // CDN delivery: the poll is the heartbeat of a playback vodgate sees no segment of
        // (it keeps the stream place of one that started), and the only renewal of a cookie
        // token; a revoked or over-the-limit viewer gets neither.
        let mut cdn = None;
        if self.delivery(&record) == Delivery::Cdn {
            if record.first_played_at.is_some() {
                let e = &record.entitlement;
                let ttl = (super::until(&record) - now).to_std().unwrap_or_default();
                match self
                    .streams
                    .refresh(&e.id, &playback.id, e.max_streams, ttl)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => {
                        return Ok(PlaybackStatus::Denied {
                            reason: DenyReason::TooManyStreams,
                            expires_at,
                        });
                    }
                    Err(err) => self.ride_out(err, "stream place")?,
                }
            }
            cdn = self.cdn_token(&playback, &record).filter(|_| {
                self.config
                    .cdn
                    .as_ref()
                    .is_some_and(|c| c.place() == TokenPlace::Cookie)
            });
        }
        Ok(PlaybackStatus::Active {
            expires_at,
            seconds_left: record.seconds_left(now),
            cdn,
        })
    }

    /// The playbacks holding a stream place of this entitlement now, with when each was
    /// last seen (unix ms).
    pub async fn playbacks(
        &self,
        id: &EntitlementId,
    ) -> Result<Vec<(Arc<Playback>, i64)>, AppError> {
        self.entitlement(id).await?;
        let mut out = vec![];
        for (pb, seen_ms) in self.streams.active(id).await? {
            if let Some(p) = self.access.playback(&pb).await? {
                out.push((p, seen_ms));
            }
        }
        Ok(out)
    }

    /// Stop one playback: refused from its next request on, on every instance; its stream
    /// place is freed.
    pub async fn stop_playback(
        &self,
        id: &EntitlementId,
        pb: &PlaybackId,
        caller: &Caller,
    ) -> Result<(), AppError> {
        let not_found = || {
            AppError::not_found(
                ErrorCode::PlaybackNotFound,
                format!("No playback {pb} of entitlement {id}."),
            )
        };
        let Some(record) = self.entitlements.get(id).await? else {
            return Err(not_found());
        };
        match self.access.playback(pb).await? {
            Some(p) if p.entitlement_id == *id => {}
            _ => return Err(not_found()),
        }
        self.access.stop_playback(pb).await?;
        self.streams.release(id, pb).await?;
        let ev = self
            .audit
            .about(AuditKind::PlaybackStopped, &record.entitlement, caller)
            .await
            .reason(pb.to_string());
        self.audit.record(ev).await;
        // A stop is a revocation of one playback: durable like the others.
        self.store.replicated().await?;
        Ok(())
    }
}
