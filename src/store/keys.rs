//! Every key vodgate keeps in the store, declared once: its shape, what it holds and how
//! long (ARCHITECTURE.md's "Store layout" table lists exactly these shapes; a test below
//! fails when the two disagree, and another when a module outside the store builds a key
//! string of its own).
//!
//! Keys are logical (the store adds the configured prefix). A `{…}` part is a Redis Cluster
//! hash tag: keys read together (one MGET, one script) share one, so they share one slot.

use crate::domain::{EntitlementId, OrderId, PlaybackId, ViewerId};
use crate::token::TokenHash;
use std::fmt;
use std::ops::Deref;

/// A store key, built only by the functions of this module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key(String);

impl Deref for Key {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Declares each key function and records its shape in `SHAPES`, so the table in
/// ARCHITECTURE.md can be checked against the code.
macro_rules! keys {
    ($( $(#[$doc:meta])* $shape:literal => fn $name:ident($($arg:ident: $ty:ty),*) { $($body:tt)* } )*) => {
        $(
            $(#[$doc])*
            pub fn $name($($arg: $ty),*) -> Key {
                Key({ $($body)* })
            }
        )*
        /// The shape of every key, as ARCHITECTURE.md writes it.
        pub const SHAPES: &[&str] = &[$($shape),*];
    };
}

keys! {
    /// The grant (JSON, immutable); window + 30 days.
    "ent:{e:<id>}" => fn entitlement(id: &EntitlementId) { format!("ent:{{e:{id}}}") }
    /// The revocation (write-once, SET NX); as the grant.
    "ent:{e:<id>}:revoked" => fn revocation(id: &EntitlementId) { format!("ent:{{e:{id}}}:revoked") }
    /// When the first segment was served (write-once; starts a start-window rental's clock).
    "ent:{e:<id>}:first_play" => fn first_play(id: &EntitlementId) { format!("ent:{{e:{id}}}:first_play") }
    /// The entitlement that owns this order + video (whoever sets it first).
    "idem:{o:<order>}:<video>" => fn order_claim(order: &OrderId, video: &str) { format!("idem:{{o:{order}}}:{video}") }
    /// The entitlement ids of an order.
    "order:{o:<order>}" => fn order(order: &OrderId) { format!("order:{{o:{order}}}") }
    /// The entitlement ids of a viewer.
    "viewer:{v:<viewer>}" => fn viewer(viewer: &ViewerId) { format!("viewer:{{v:{viewer}}}") }
    /// Every playback of an entitlement not yet retired (bounded: see `app::playback`).
    "playbacks:{e:<id>}" => fn playbacks(id: &EntitlementId) { format!("playbacks:{{e:{id}}}") }
    /// Playbacks holding a stream place, scored by last-seen ms.
    "streams:{e:<id>}" => fn streams(id: &EntitlementId) { format!("streams:{{e:{id}}}") }
    /// A self-declared age confirmation of one viewer session.
    "age:{e:<id>}:<session sha256>" => fn age_confirmed(id: &EntitlementId, session: &TokenHash) {
        format!("age:{{e:{id}}}:{}", session.as_str())
    }
    /// api.video: the private token, session token and asset base of this entitlement.
    "up:{e:<id>}" => fn upstream_session(id: &EntitlementId) { format!("up:{{e:{id}}}") }
    /// api.video: one instance is opening the upstream session (others wait for it).
    "up:{e:<id>}:starting" => fn upstream_starting(id: &EntitlementId) { format!("up:{{e:{id}}}:starting") }
    /// The audit trail of one entitlement (a capped stream).
    "audit:{e:<id>}" => fn entitlement_audit(id: &EntitlementId) { format!("audit:{{e:{id}}}") }
    /// The audit trail of one order.
    "audit:{o:<order>}" => fn order_audit(order: &OrderId) { format!("audit:{{o:{order}}}") }
    /// Audit events about no entitlement or order (a badly signed webhook).
    "audit:unattributed" => fn unattributed_audit() { "audit:unattributed".to_owned() }
    /// The key of the client-IP hashes in the audit trail, when none is configured.
    "audit:ip_key" => fn audit_ip_key() { "audit:ip_key".to_owned() }
    /// A refusal of this entitlement for this reason was audited this minute (whatever
    /// refused it: the watch page, a launch link, a playlist or segment, a second device).
    "denied:{e:<id>}:<reason>" => fn refusal_audited(id: &EntitlementId, reason: &str) {
        format!("denied:{{e:{id}}}:{reason}")
    }
    /// Refusals written to an entitlement's trail so far (they stop at a cap, so they can
    /// never push the grant, launch, first play, revocation or refund out of it).
    "audit:{e:<id>}:refusals" => fn entitlement_audit_refusals(id: &EntitlementId) {
        format!("audit:{{e:{id}}}:refusals")
    }
    /// Refusals written to an order's trail so far.
    "audit:{o:<order>}:refusals" => fn order_audit_refusals(order: &OrderId) {
        format!("audit:{{o:{order}}}:refusals")
    }
    /// A processed payment event.
    "webhook:seen:<sha256(event id)>" => fn webhook_seen(event_id: &str) {
        format!("webhook:seen:{}", TokenHash::of(event_id).as_str())
    }
    /// A badly signed webhook naming this order was filed under it this minute.
    "webhook:refused:{o:<order>}:<cause>" => fn webhook_refused(order: &OrderId, cause: &str) {
        format!("webhook:refused:{{o:{order}}}:{cause}")
    }
    /// A payment provider's payment (Stripe payment intent, Paddle transaction, Lemon
    /// Squeezy order) → the order it was granted under and the amount paid (JSON); 400 days,
    /// longer than a card dispute can come.
    "pay:<provider>:<payment>" => fn payment(provider: &str, payment: &str) {
        format!("pay:{provider}:{payment}")
    }
    /// A refund or chargeback of a payment vodgate has not seen bought yet (JSON); applied
    /// by the purchase when it arrives; 30 days.
    "pay:<provider>:<payment>:pending" => fn payment_pending(provider: &str, payment: &str) {
        format!("pay:{provider}:{payment}:pending")
    }
    /// A paid checkout's way back to the player (`/checkout/stripe/return`): the entitlement
    /// its purchase granted; consumed with GETDEL, so the return works once; 24 h.
    "checkout:<provider>:<sha256(session)>" => fn checkout_return(provider: &str, session: &TokenHash) {
        format!("checkout:{provider}:{}", session.as_str())
    }
    /// That checkout's return was used (so a second visit says so instead of waiting); 24 h.
    "checkout:<provider>:<sha256(session)>:used" => fn checkout_return_used(provider: &str, session: &TokenHash) {
        format!("checkout:{provider}:{}:used", session.as_str())
    }
    /// A badly signed webhook naming no order was filed in the unattributed trail this minute.
    "webhook:refused:<cause>" => fn webhook_refused_unattributed(cause: &str) {
        format!("webhook:refused:{cause}")
    }
    /// A launch link: the entitlement id; consumed with GETDEL.
    "launch:<sha256>" => fn launch(link: &TokenHash) { format!("launch:{}", link.as_str()) }
    /// A browser's viewer session: the set of rentals it holds, living as long as the
    /// longest of them (+ 1 h). Its token is the one session cookie of that browser.
    "browser:<sha256>" => fn browser_session(session: &TokenHash) { format!("browser:{}", session.as_str()) }
    /// This browser session holds this rental (until its window ends + 1 h).
    "browser:<sha256>:<entitlement>" => fn browser_rental(session: &TokenHash, id: &EntitlementId) {
        format!("browser:{}:{id}", session.as_str())
    }
    /// A session of one rental, from before sessions were per browser (`vg_<entitlement>`
    /// cookies): the entitlement id. Read only; none is written any more.
    "vsess:<sha256>" => fn legacy_viewer_session(session: &TokenHash) { format!("vsess:{}", session.as_str()) }
    /// A playback (entitlement, session hash, source, stopped).
    "play:<playback id>" => fn playback(id: &PlaybackId) { format!("play:{id}") }
    /// An API key record (argon2id PHC).
    "key:{k:<id>}" => fn api_key(key_id: &str) { format!("key:{{k:{key_id}}}") }
    /// The index of API key ids.
    "keys" => fn api_keys() { "keys".to_owned() }
    /// An access token's grant.
    "at:<sha256>" => fn access_token(token: &TokenHash) { format!("at:{}", token.as_str()) }
    /// A refresh token's grant.
    "rt:<sha256>" => fn refresh_token(token: &TokenHash) { format!("rt:{}", token.as_str()) }
    /// A refresh token was used (a second use revokes its family).
    "rtused:<sha256>" => fn refresh_token_used(token: &TokenHash) { format!("rtused:{}", token.as_str()) }
    /// A revoked refresh family (same slot as its key).
    "fam:{k:<key id>}:<family>:revoked" => fn token_family_revoked(key_id: &str, family: &str) {
        format!("fam:{{k:{key_id}}}:{family}:revoked")
    }
    /// Failed authentications of one client in the current minute.
    "authfail:<sha256(ip)>" => fn auth_failures(client: &str) {
        format!("authfail:{}", TokenHash::of(client).as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shapes in ARCHITECTURE.md's "Store layout" table (first column, backquoted).
    fn documented() -> Vec<String> {
        let doc = include_str!("../../ARCHITECTURE.md");
        let table = doc
            .split("## Store layout")
            .nth(1)
            .expect("ARCHITECTURE.md has a Store layout section");
        let table = table.split("\n## ").next().unwrap_or(table);
        table
            .lines()
            .filter(|l| l.starts_with("| `"))
            .flat_map(|l| {
                let first = l.split(" | ").next().unwrap_or_default();
                first
                    .split('`')
                    .skip(1)
                    .step_by(2)
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn every_key_is_in_the_architecture_table_and_nothing_else_is() {
        let doc = documented();
        let missing: Vec<_> = SHAPES
            .iter()
            .filter(|s| !doc.iter().any(|d| d == *s))
            .collect();
        assert!(
            missing.is_empty(),
            "keys missing from ARCHITECTURE.md's table: {missing:?}"
        );
        let stale: Vec<_> = doc
            .iter()
            .filter(|d| !d.starts_with("channel ") && !SHAPES.contains(&d.as_str()))
            .collect();
        assert!(
            stale.is_empty(),
            "ARCHITECTURE.md lists keys the code does not have: {stale:?}"
        );
    }

    #[test]
    fn no_module_outside_the_store_builds_a_key_of_its_own() {
        // A key string built elsewhere would be a key this table and the cluster's hash
        // tags know nothing about: the shapes' prefixes, as they would start a literal.
        let prefixes: Vec<String> = SHAPES
            .iter()
            .map(|s| match s.split_once(':') {
                Some((first, _)) => format!("\"{first}:"),
                None => format!("\"{s}\""),
            })
            .collect();
        let mut offenders = vec![];
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    if !path.ends_with("store") {
                        dirs.push(path);
                    }
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                for p in &prefixes {
                    if code.contains(p.as_str()) {
                        offenders.push(format!("{} builds {p}…", path.display()));
                    }
                }
            }
        }
        assert!(offenders.is_empty(), "{offenders:#?}");
    }
}
