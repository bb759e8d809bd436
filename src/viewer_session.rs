//! Viewer sessions: what a consumed launch link turns into. The browser holds an opaque
//! token in an HttpOnly cookie named after the entitlement (so one browser can hold several
//! rentals); the store holds only its hash. The cookie goes with every same-origin request,
//! so Safari's native HLS and hls.js both work without custom headers.

use crate::domain::EntitlementId;
use crate::store::{Store, StoreError};
use crate::token::{Token, TokenHash};
use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time};
use chrono::{DateTime, Utc};
use std::time::Duration;

pub const PREFIX: &str = "vg_vs_";

/// How long a session outlives its entitlement's window (see `start`).
pub const AFTER_THE_END: Duration = Duration::from_secs(3600);

pub fn cookie_name(entitlement: &EntitlementId) -> String {
    format!("vg_{entitlement}")
}

fn key(hash: &TokenHash) -> String {
    format!("vsess:{}", hash.as_str())
}

/// Start a session for this entitlement, valid until `until`. Returns the cookie to set.
pub async fn start(
    store: &Store,
    entitlement: &EntitlementId,
    until: DateTime<Utc>,
    secure: bool,
) -> Result<Cookie<'static>, StoreError> {
    let token = Token::mint(PREFIX);
    // The session (and its cookie) outlive the window by a grace, so that the viewer's player
    // and page, asking after the end, are told `expired`: with the cookie gone the browser
    // would be a stranger, and strangers only ever hear "not your session".
    let ttl = (until - Utc::now()).to_std().unwrap_or_default() + AFTER_THE_END;
    store
        .set(&key(&token.hash()), entitlement.as_str(), ttl)
        .await?;
    Ok(
        Cookie::build(cookie_name(entitlement), token.reveal().to_owned())
            .path("/")
            .http_only(true)
            .secure(secure)
            .same_site(SameSite::Lax)
            .max_age(time::Duration::seconds(
                i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
            ))
            .finish(),
    )
}

/// The hash of the session cookie this request carries for this entitlement, if any.
pub fn presented(req: &HttpRequest, entitlement: &EntitlementId) -> Option<TokenHash> {
    let c = req.cookie(&cookie_name(entitlement))?;
    crate::token::looks_like(c.value(), PREFIX).then(|| TokenHash::of(c.value()))
}

/// Is this session live and bound to this entitlement?
pub async fn is_valid(
    store: &Store,
    entitlement: &EntitlementId,
    hash: &TokenHash,
) -> Result<bool, StoreError> {
    Ok(store
        .get(&key(hash))
        .await?
        .is_some_and(|id| id == entitlement.as_str()))
}
