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
    let ttl = (until - Utc::now())
        .to_std()
        .unwrap_or_default()
        .max(Duration::from_secs(1));
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
