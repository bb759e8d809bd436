//! Viewer sessions: what a consumed launch link turns into. The browser holds an opaque
//! token in an HttpOnly cookie named after the entitlement (so one browser can hold several
//! rentals; the cookie itself is the HTTP layer's, `http::session`); the store holds only
//! its hash.

use crate::domain::EntitlementId;
use crate::store::{Store, StoreError, keys};
use crate::token::{Token, TokenHash};
use chrono::{DateTime, Utc};
use std::time::Duration;

pub const PREFIX: &str = "vg_vs_";

/// How long a session outlives its entitlement's window (see `start`).
pub const AFTER_THE_END: Duration = Duration::from_secs(3600);

/// The name of the cookie that carries this entitlement's session.
pub fn cookie_name(entitlement: &EntitlementId) -> String {
    format!("vg_{entitlement}")
}

/// A session just started: the token for the cookie, and how long both live.
pub struct Started {
    pub token: Token,
    pub ttl: Duration,
}

/// Start a session for this entitlement, valid until `until`.
pub async fn start(
    store: &Store,
    entitlement: &EntitlementId,
    until: DateTime<Utc>,
) -> Result<Started, StoreError> {
    let token = Token::mint(PREFIX);
    // The session (and its cookie) outlive the window by a grace, so that the viewer's player
    // and page, asking after the end, are told `expired`: with the cookie gone the browser
    // would be a stranger, and strangers only ever hear "not your session".
    let ttl = (until - Utc::now()).to_std().unwrap_or_default() + AFTER_THE_END;
    store
        .set(
            &keys::viewer_session(&token.hash()),
            entitlement.as_str(),
            ttl,
        )
        .await?;
    Ok(Started { token, ttl })
}

/// The hash of a presented cookie value, if it has the shape of a session token.
pub fn hash_of(presented: &str) -> Option<TokenHash> {
    crate::token::looks_like(presented, PREFIX).then(|| TokenHash::of(presented))
}

/// Is this session live and bound to this entitlement?
pub async fn is_valid(
    store: &Store,
    entitlement: &EntitlementId,
    hash: &TokenHash,
) -> Result<bool, StoreError> {
    Ok(store
        .get(&keys::viewer_session(hash))
        .await?
        .is_some_and(|id| id == entitlement.as_str()))
}
