//! The viewer-session cookie: one per browser, HttpOnly, SameSite=Lax, `Path=/`, sent with
//! every same-origin request so Safari's native HLS and hls.js both work without custom
//! headers. Over https it is `__Host-vg_session` (Secure, no Domain: no sibling host can
//! set or overwrite it, and an unprefixed `vg_session` is then ignored); over plain http,
//! for development, `vg_session`.

use crate::app::viewer_session::{self, Started};
use crate::domain::EntitlementId;
use crate::token::TokenHash;
use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time};

/// The cookie for a session just started or extended.
pub fn cookie(started: &Started, secure: bool) -> Cookie<'static> {
    Cookie::build(
        viewer_session::cookie_name(secure),
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

/// The raw value of this browser's session cookie, for a launch to extend.
pub fn browser_session(req: &HttpRequest, secure: bool) -> Option<String> {
    req.cookie(viewer_session::cookie_name(secure))
        .map(|c| c.value().to_owned())
}

/// A request's session cookies, for the use cases that learn only later which entitlement's
/// session counts.
pub struct Cookies<'a> {
    pub req: &'a HttpRequest,
    pub secure: bool,
}

impl crate::app::PresentedSessions for Cookies<'_> {
    fn sessions_for(&self, entitlement: &EntitlementId) -> Vec<TokenHash> {
        presented(self.req, entitlement, self.secure)
    }
}

/// The hashes of the session cookies this request carries that may hold this entitlement:
/// the browser's session, and a session of this rental alone from before sessions were
/// per browser.
pub fn presented(req: &HttpRequest, entitlement: &EntitlementId, secure: bool) -> Vec<TokenHash> {
    let browser = req.cookie(viewer_session::cookie_name(secure));
    let legacy = req.cookie(&viewer_session::legacy_cookie_name(entitlement));
    [browser, legacy]
        .into_iter()
        .flatten()
        .filter_map(|c| viewer_session::hash_of(c.value()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn started() -> Started {
        Started {
            token: crate::token::Token::mint(viewer_session::PREFIX),
            ttl: Duration::from_secs(90_000),
        }
    }

    #[test]
    fn over_https_the_cookie_meets_the_host_prefix_rules() {
        // RFC 6265bis §4.1.3.2: a `__Host-` cookie is accepted only with Secure, Path=/ and
        // no Domain attribute.
        let c = cookie(&started(), true).to_string();
        assert!(c.starts_with("__Host-vg_session=vg_vs_"), "{c}");
        for attr in [
            "Secure",
            "Path=/",
            "HttpOnly",
            "SameSite=Lax",
            "Max-Age=90000",
        ] {
            assert!(c.split("; ").any(|a| a == attr), "{attr} in {c}");
        }
        assert!(!c.contains("Domain"), "{c}");
        let plain = cookie(&started(), false).to_string();
        assert!(
            plain.starts_with("vg_session=") && !plain.contains("Secure"),
            "{plain}"
        );
    }
}
