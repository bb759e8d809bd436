//! The viewer-session cookie: `vg_<entitlement>`, HttpOnly, SameSite=Lax, sent with every
//! same-origin request so Safari's native HLS and hls.js both work without custom headers.

use crate::app::viewer_session::{self, Started};
use crate::domain::EntitlementId;
use crate::token::TokenHash;
use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time};

/// The cookie for a session just started.
pub fn cookie(entitlement: &EntitlementId, started: &Started, secure: bool) -> Cookie<'static> {
    Cookie::build(
        viewer_session::cookie_name(entitlement),
        started.token.reveal().to_owned(),
    )
    .path("/")
    .http_only(true)
    .secure(secure)
    .same_site(SameSite::Lax)
    .max_age(time::Duration::seconds(
        i64::try_from(started.ttl.as_secs()).unwrap_or(i64::MAX),
    ))
    .finish()
}

/// A request's session cookies, for the use cases that learn only later which entitlement's
/// session counts.
pub struct Cookies<'a>(pub &'a HttpRequest);

impl crate::app::PresentedSessions for Cookies<'_> {
    fn session_for(&self, entitlement: &EntitlementId) -> Option<TokenHash> {
        presented(self.0, entitlement)
    }
}

/// The hash of the session cookie this request carries for this entitlement, if any.
pub fn presented(req: &HttpRequest, entitlement: &EntitlementId) -> Option<TokenHash> {
    let c = req.cookie(&viewer_session::cookie_name(entitlement))?;
    viewer_session::hash_of(c.value())
}
