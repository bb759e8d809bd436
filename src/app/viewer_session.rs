//! Viewer sessions: what a consumed launch link turns into. A browser holds one opaque
//! token (one HttpOnly cookie, the HTTP layer's, `http::session`) however many rentals it
//! opens: each launch link it opens adds its rental to that browser's session. One cookie
//! keeps a browser with hundreds of rentals inside header limits and browsers' per-site
//! cookie caps. The store holds only the token's hash: the set of rentals the browser holds
//! (living as long as the longest) and one key per rental (living as long as that rental).
//!
//! Sessions from before (one `vg_<entitlement>` cookie per rental) are still honoured until
//! they end; none is made any more.

use crate::domain::EntitlementId;
use crate::store::{Store, StoreError, keys};
use crate::token::{Token, TokenHash};
use chrono::{DateTime, Utc};
use std::time::Duration;

pub const PREFIX: &str = "vg_vs_";

/// How long a session outlives its entitlement's window (see `start`).
pub const AFTER_THE_END: Duration = Duration::from_secs(3600);

/// The name of the one session cookie. Over https it carries the `__Host-` prefix, which
/// browsers accept only with `Secure`, `Path=/` and no `Domain`, so no sibling host
/// (`evil.shop.example` next to `watch.shop.example`) can set or overwrite it.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-vg_session"
    } else {
        "vg_session"
    }
}

/// The cookie of a session of one rental, from before sessions were per browser.
pub fn legacy_cookie_name(entitlement: &EntitlementId) -> String {
    format!("vg_{entitlement}")
}

/// A session just started or extended: the token for the cookie, and how long it lives.
pub struct Started {
    pub token: Token,
    pub ttl: Duration,
}

/// Add this rental, valid until `until`, to the session of the browser that presented
/// `presented` (its cookie's value), or to a new one if it presented none that is live.
/// A presented value is adopted only if the store knows it: a made-up or expired token
/// gets a fresh one.
pub async fn start(
    store: &Store,
    presented: Option<&str>,
    entitlement: &EntitlementId,
    until: DateTime<Utc>,
) -> Result<Started, StoreError> {
    let known = match presented.and_then(|p| hash_of(p).map(|h| (p, h))) {
        Some((p, h)) if store.ttl(&keys::browser_session(&h)).await?.is_some() => {
            Some(Token::presented(p))
        }
        _ => None,
    };
    let token = known.unwrap_or_else(|| Token::mint(PREFIX));
    let hash = token.hash();
    // The rental's place in the session outlives the window by a grace, so that the
    // viewer's player and page, asking after the end, are told `expired`: without it the
    // browser would be a stranger, and strangers only ever hear "not your session".
    let ttl = (until - Utc::now()).to_std().unwrap_or_default() + AFTER_THE_END;
    store
        .set(&keys::browser_rental(&hash, entitlement), "1", ttl)
        .await?;
    let session = keys::browser_session(&hash);
    store.set_add(&session, entitlement.as_str(), ttl).await?;
    // The cookie lives as long as the session's longest rental.
    let ttl = store.ttl(&session).await?.unwrap_or(ttl).max(ttl);
    Ok(Started { token, ttl })
}

/// The hash of a presented cookie value, if it has the shape of a session token.
pub fn hash_of(presented: &str) -> Option<TokenHash> {
    crate::token::looks_like(presented, PREFIX).then(|| TokenHash::of(presented))
}

/// Does this live session hold this entitlement?
pub async fn is_valid(
    store: &Store,
    entitlement: &EntitlementId,
    hash: &TokenHash,
) -> Result<bool, StoreError> {
    if store
        .get(&keys::browser_rental(hash, entitlement))
        .await?
        .is_some()
    {
        return Ok(true);
    }
    Ok(store
        .get(&keys::legacy_viewer_session(hash))
        .await?
        .is_some_and(|id| id == entitlement.as_str()))
}
