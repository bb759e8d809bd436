//! The application layer: each use case written once, and called alike by the HTTP
//! handlers, the command line, the demo store and the payment webhook.
//!
//! | use case | where |
//! |---|---|
//! | grant (validated `GrantTerms`, audited) | `grant.rs` |
//! | launch link: mint, open (session start) | `launch.rs` |
//! | revoke one, refund an order (audited once) | `refund.rs` |
//! | start a playback (age gate, stream limit, origin, first play in embed mode) | `playback.rs` |
//! | authorize one playback request (stream place, first play, audit, outage ride-out) | `playback.rs` |
//! | stop a playback, list playbacks, a playback's status | `playback.rs` |
//! | delivery: relay or the operator's CDN, and the CDN token | `delivery.rs` |
//!
//! Underneath: `entitlements` (the records), `access` (the pure decision and its cache),
//! `streams` (stream places), `viewer_session`, `audit` (the trail). Nothing here knows
//! about HTTP: callers pass a `Caller` and get typed outcomes or an `AppError` back.

pub mod access;
pub mod audit;
mod delivery;
pub mod entitlements;
mod grant;
mod launch;
mod payments;
mod playback;
mod refund;
pub mod streams;
pub mod viewer_session;

pub use audit::Caller;
pub use grant::{GrantInput, GrantTerms, Granted};
pub use launch::{LaunchOpened, launch_path};
pub use payments::{
    CheckoutReturn, PaymentEvent, PaymentOutcome, Provider, ProviderEvent, ProviderOutcome,
    lemonsqueezy, paddle, stripe,
};
pub use playback::{
    Decision, MAX_PLAYBACKS, PlaybackRequest, PlaybackStatus, PresentedSessions, StartOutcome,
    Started,
};

use crate::app::access::Access;
use crate::app::audit::Audit;
use crate::app::entitlements::Entitlements;
use crate::app::streams::StreamLimit;
use crate::config::Config;
use crate::domain::{DenyReason, EntitlementId, ErrorCode};
use crate::media::origin::{Origin, UpstreamError};
use crate::store::{Store, StoreError};

/// What every use case works with; one per process, shared by all workers.
pub struct App {
    pub config: Config,
    pub store: Store,
    pub entitlements: Entitlements,
    pub access: Access,
    pub streams: StreamLimit,
    pub audit: Audit,
    pub origin: Origin,
}

impl App {
    pub fn new(config: Config, store: Store, origin: Origin) -> Self {
        let entitlements = Entitlements::new(store.clone(), config.launch_ttl);
        Self {
            audit: Audit::new(store.clone(), config.audit_ip_key.as_ref()),
            streams: StreamLimit::new(store.clone(), config.stream_idle),
            access: Access::new(
                store.clone(),
                entitlements.clone(),
                config.store_outage_grace,
            ),
            entitlements,
            origin,
            store,
            config,
        }
    }

    /// One entitlement as stored, or the one not-found answer.
    pub async fn entitlement(
        &self,
        id: &EntitlementId,
    ) -> Result<entitlements::EntitlementRecord, AppError> {
        self.entitlements
            .get(id)
            .await?
            .ok_or_else(|| AppError::no_entitlement(id))
    }
}

/// Why a use case did not do what was asked. Each variant is one kind of answer (the HTTP
/// layer maps it to a status); `code` is the stable machine code, the message is a sentence
/// the operator or viewer can act on, the same whichever caller asked.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request itself is malformed (400).
    #[error("{message}")]
    Invalid { code: ErrorCode, message: String },
    /// Well-formed, but it cannot be done as asked (422).
    #[error("{message}")]
    Unprocessable { code: ErrorCode, message: String },
    #[error("{message}")]
    NotFound { code: ErrorCode, message: String },
    /// It conflicts with what already exists (409).
    #[error("{message}")]
    Conflict { code: ErrorCode, message: String },
    /// Not allowed (403).
    #[error("{message}")]
    Forbidden { code: ErrorCode, message: String },
    /// A viewer is refused, for this reason.
    #[error("{}", .0.explain())]
    Denied(DenyReason),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}

impl AppError {
    pub fn invalid(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            message: message.into(),
        }
    }
    pub fn unprocessable(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Unprocessable {
            code,
            message: message.into(),
        }
    }
    pub fn not_found(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::NotFound {
            code,
            message: message.into(),
        }
    }
    /// The one answer for an entitlement id that names nothing.
    pub fn no_entitlement(id: &EntitlementId) -> Self {
        Self::not_found(
            ErrorCode::EntitlementNotFound,
            format!("No entitlement {id}."),
        )
    }
    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }
}

/// When an entitlement's records are gone for good: its window's end (or, before a start
/// window's first play, the latest it can end).
fn until(record: &entitlements::EntitlementRecord) -> chrono::DateTime<chrono::Utc> {
    record
        .expires_at()
        .unwrap_or_else(|| record.entitlement.latest_end())
}
