//! CDN delivery: where a playback's segments come from when the operator's CDN serves the
//! bytes, and the token each CDN checks before it serves them.
//!
//! In `cdn` delivery the playlists and keys still come from vodgate (every one checked as in
//! relay mode); only segment, init-segment (`EXT-X-MAP`) and part URIs point at
//! `VODGATE_CDN_BASE_URL`, each carrying a token in the CDN's own format:
//!
//! | `VODGATE_CDN_TOKEN` | format | verified by |
//! |---|---|---|
//! | `cat` | CTA-5007 Common Access Token: CWT in COSE_Mac0, HMAC-SHA256 ([`cat`]) | Akamai EdgeWorkers, CloudFront Functions `cf.cwt`, Eyevinn's validator |
//! | `cloudfront` | signed URL / cookies, custom policy, RSA-SHA1 ([`cloudfront`]) | CloudFront key groups |
//! | `akamai` | EdgeAuth token 2.0 `hdnts`, HMAC-SHA256 ([`akamai`]) | Akamai Auth Token 2.0 Verification |
//! | `secure_link` | nginx `secure_link` md5 + expires ([`secure_link`]) | nginx caches |
//! | `none` | unsigned (the media is encrypted; keys are the gate) | — |
//!
//! A token is scoped to one video (its path prefix on the CDN) and ends at the earlier of the
//! rental window's end and `VODGATE_CDN_TOKEN_TTL_S`. It cannot be withdrawn once handed out:
//! revocation works through the keys (a title whose key changes every few segments asks
//! vodgate at each change) and, with cookie delivery, through short tokens that only
//! vodgate's status poll renews (see `docs/cdn.md`).
//!
//! This module knows nothing of entitlements or HTTP: it is given a video, a playback id and
//! an end, and returns URIs and cookies. Keys are held here and never printed (`Debug` shows
//! the token kind only).

pub mod akamai;
pub mod cat;
pub mod cloudfront;
pub mod secure_link;

use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use url::Url;

/// The longest a CDN token may live (`VODGATE_CDN_TOKEN_TTL_S`): a query token in a VOD
/// playlist must outlast a film, but a day is the longest rental a token should ever cover.
pub const MAX_TOKEN_TTL_S: u64 = 86_400;
/// The shortest: with cookie delivery the watch page renews every 2 s, so 30 s leaves room
/// for a slow poll; anything shorter refuses bytes to a paying viewer on a bad network.
pub const MIN_TOKEN_TTL_S: u64 = 30;

/// Which token the CDN checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Cat,
    CloudFront,
    Akamai,
    SecureLink,
    None,
}

impl TokenKind {
    pub const ALL: &'static str = "cat, cloudfront, akamai, secure_link or none";

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "cat" => Self::Cat,
            "cloudfront" => Self::CloudFront,
            "akamai" => Self::Akamai,
            "secure_link" => Self::SecureLink,
            "none" => Self::None,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cat => "cat",
            Self::CloudFront => "cloudfront",
            Self::Akamai => "akamai",
            Self::SecureLink => "secure_link",
            Self::None => "none",
        }
    }
}

/// Where the token travels: in each segment URI's query, or in cookies the CDN host receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPlace {
    Query,
    Cookie,
}

/// The settings, as parsed from the configuration (strings checked for form only).
pub struct CdnSettings {
    /// `VODGATE_CDN_BASE_URL`, e.g. `https://cdn.shop.example/media/{video_id}/{path}`.
    pub base_url: String,
    pub token: TokenKind,
    /// The shared secret (hex for `cat` and `akamai`), or the PEM file's path (`cloudfront`).
    pub key: Option<SecretString>,
    pub key_id: Option<String>,
    pub place: TokenPlace,
    pub cookie_domain: Option<String>,
    pub ttl: Option<Duration>,
    /// vodgate's public URL: the `cat` issuer, and the host cookies must be shared with.
    pub public_url: Url,
}

/// `VODGATE_CDN_BASE_URL` split around its placeholders: `{before}{video_id}{after}{path}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    before: String,
    after: String,
}

impl Template {
    /// The template must be an absolute http(s) URL without query or fragment whose path
    /// names `{video_id}` once and ends with `/{path}`: every token is then scoped to the
    /// video's own prefix, and a wildcard under it (CloudFront's `Resource`, Akamai's `acl`,
    /// CAT's `catu` prefix) covers exactly that video.
    pub fn parse(s: &str) -> Result<Self, String> {
        const FORM: &str = "an http(s) URL whose path contains {video_id} and ends with /{path}, like https://cdn.shop.example/media/{video_id}/{path}";
        let Some(head) = s.strip_suffix("/{path}") else {
            return Err(format!("must be {FORM}"));
        };
        let Some((before, after)) = head.split_once("{video_id}") else {
            return Err(format!("must name {{video_id}}: {FORM}"));
        };
        if after.contains("{video_id}") || head.contains("{path}") {
            return Err(format!(
                "must name {{video_id}} and {{path}} once each: {FORM}"
            ));
        }
        let sample = format!("{before}v{after}/x");
        let u = Url::parse(&sample).map_err(|e| format!("must be {FORM}: {e}"))?;
        if !matches!(u.scheme(), "http" | "https")
            || u.host().is_none()
            || u.query().is_some()
            || u.fragment().is_some()
            || s.contains(['?', '#'])
        {
            return Err(format!("must be {FORM}, without a query"));
        }
        // `{video_id}` must sit in the path, not in the host: one host per video would need
        // one certificate and cookie per video.
        let origin_len = u[..url::Position::BeforePath].len();
        if before.len() < origin_len + 1 {
            return Err(format!("must have {{video_id}} in the path: {FORM}"));
        }
        Ok(Self {
            before: before.to_owned(),
            after: format!("{after}/"),
        })
    }

    /// The video's base on the CDN, ending with '/': `https://cdn…/media/{video_id}/`.
    pub fn video_base(&self, video_id: &str) -> String {
        format!("{}{video_id}{}", self.before, self.after)
    }

    /// The CDN's host (cookies must reach it).
    pub fn host(&self) -> String {
        Url::parse(&self.video_base("v"))
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default()
    }

    pub fn is_https(&self) -> bool {
        self.before.starts_with("https:")
    }
}

/// The CDN of this deployment: template, token format and its key, loaded once at start.
pub struct Cdn {
    /// Tokens handed out this quarter-TTL, by playback id (see `token`).
    recent: [Mutex<HashMap<String, Arc<VideoToken>>>; SHARDS],
    template: Template,
    signer: Signer,
    place: TokenPlace,
    cookie_domain: Option<String>,
    ttl: Duration,
    /// Cookies carry `Secure` when both vodgate and the CDN are on https.
    secure_cookies: bool,
}

enum Signer {
    Cat(cat::CatSigner),
    CloudFront(Box<cloudfront::CloudFrontSigner>),
    Akamai(akamai::AkamaiSigner),
    SecureLink(secure_link::SecureLinkSigner),
    None,
}

impl fmt::Debug for Cdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cdn")
            .field("template", &self.template)
            .field("token", &self.kind().as_str())
            .field("place", &self.place)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// A bad CDN setting: the sentence names the setting and what it needs.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CdnError(pub String);

impl Cdn {
    /// Check every setting and load the key; any problem is a sentence naming the setting,
    /// never a silent fallback to unsigned URLs.
    pub fn new(s: CdnSettings) -> Result<Arc<Self>, CdnError> {
        let err = |m: String| Err(CdnError(m));
        let template = Template::parse(&s.base_url)
            .map_err(|e| CdnError(format!("VODGATE_CDN_BASE_URL {e}")))?;
        let key = |what: &str| {
            s.key.as_ref().ok_or_else(|| {
                CdnError(format!(
                    "VODGATE_CDN_TOKEN={} needs VODGATE_CDN_KEY ({what})",
                    s.token.as_str()
                ))
            })
        };
        let key_id = |what: &str| {
            s.key_id.clone().ok_or_else(|| {
                CdnError(format!(
                    "VODGATE_CDN_TOKEN={} needs VODGATE_CDN_KEY_ID ({what})",
                    s.token.as_str()
                ))
            })
        };
        let signer = match s.token {
            TokenKind::Cat => Signer::Cat(cat::CatSigner::new(
                key("the 256-bit HMAC key in hex")?.expose_secret(),
                key_id("the key's kid, as the CDN knows it")?,
                s.public_url.as_str().trim_end_matches('/').to_owned(),
            )?),
            TokenKind::CloudFront => {
                Signer::CloudFront(Box::new(cloudfront::CloudFrontSigner::from_pem_file(
                    key("the path of the key pair's PEM private key")?.expose_secret(),
                    key_id("the public key's id in the key group, e.g. K2JCJMDEHXQW5F")?,
                )?))
            }
            TokenKind::Akamai => Signer::Akamai(akamai::AkamaiSigner::new(
                key("the token key in hex, as in the property's Auth Token 2.0 behavior")?
                    .expose_secret(),
            )?),
            TokenKind::SecureLink => Signer::SecureLink(secure_link::SecureLinkSigner::new(
                key("the secret in the location's secure_link_md5 expression")?.expose_secret(),
            )?),
            TokenKind::None => Signer::None,
        };
        let place = s.place;
        if place == TokenPlace::Cookie && matches!(s.token, TokenKind::SecureLink | TokenKind::None)
        {
            return err(format!(
                "VODGATE_CDN_TOKEN_DELIVERY=cookie does not work with VODGATE_CDN_TOKEN={}: {}",
                s.token.as_str(),
                if s.token == TokenKind::None {
                    "there is no token to put in a cookie"
                } else {
                    "nginx's secure_link signs each URI, so its token travels in the query"
                }
            ));
        }
        let default_ttl = match place {
            // A VOD media playlist is read once: its segment URIs must last the film.
            TokenPlace::Query => 6 * 3600,
            // Renewed every poll; a revoked viewer keeps bytes for at most this long.
            TokenPlace::Cookie => 120,
        };
        let ttl = s.ttl.unwrap_or(Duration::from_secs(default_ttl));
        if !(MIN_TOKEN_TTL_S..=MAX_TOKEN_TTL_S).contains(&ttl.as_secs()) {
            return err(format!(
                "VODGATE_CDN_TOKEN_TTL_S must be between {MIN_TOKEN_TTL_S} and {MAX_TOKEN_TTL_S} seconds"
            ));
        }
        let cookie_domain = s
            .cookie_domain
            .map(|d| d.trim_start_matches('.').to_ascii_lowercase());
        if place == TokenPlace::Cookie {
            let cdn_host = template.host().to_ascii_lowercase();
            let own_host = s
                .public_url
                .host_str()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let within =
                |host: &str, domain: &str| host == domain || host.ends_with(&format!(".{domain}"));
            match &cookie_domain {
                Some(d) if !(within(&cdn_host, d) && within(&own_host, d)) => {
                    return err(format!(
                        "VODGATE_CDN_COOKIE_DOMAIN {d} must contain both vodgate's host ({own_host}, from VODGATE_PUBLIC_URL) and the CDN's ({cdn_host}), or the browser will not send the cookie to the CDN"
                    ));
                }
                None if cdn_host != own_host => {
                    return err(format!(
                        "VODGATE_CDN_TOKEN_DELIVERY=cookie needs VODGATE_CDN_COOKIE_DOMAIN, a domain shared by vodgate ({own_host}) and the CDN ({cdn_host}), e.g. .shop.example"
                    ));
                }
                _ => {}
            }
        } else if cookie_domain.is_some() {
            return err(
                "VODGATE_CDN_COOKIE_DOMAIN is for VODGATE_CDN_TOKEN_DELIVERY=cookie; with query tokens it would do nothing".into(),
            );
        }
        Ok(Arc::new(Self {
            recent: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            secure_cookies: template.is_https() && s.public_url.scheme() == "https",
            template,
            signer,
            place,
            cookie_domain,
            ttl,
        }))
    }

    /// The CDN's origin (`https://cdn.shop.example`), for the watch page's CSP.
    pub fn origin(&self) -> String {
        Url::parse(&self.template.video_base("v"))
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default()
    }

    pub fn kind(&self) -> TokenKind {
        match self.signer {
            Signer::Cat(_) => TokenKind::Cat,
            Signer::CloudFront(_) => TokenKind::CloudFront,
            Signer::Akamai(_) => TokenKind::Akamai,
            Signer::SecureLink(_) => TokenKind::SecureLink,
            Signer::None => TokenKind::None,
        }
    }

    pub fn place(&self) -> TokenPlace {
        self.place
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The token for one playback of one video at `now` (unix seconds): issued at the start
    /// of the current quarter of the TTL, valid until the earlier of issue + TTL and
    /// `window_end`, so it has at least three quarters of the TTL left. Within one quarter
    /// the same token is handed out again from a per-instance cache: the status poll renews
    /// every few seconds, and a CloudFront RSA signature costs a millisecond.
    pub fn token(
        &self,
        video_id: &str,
        playback_id: &str,
        now: i64,
        window_end: Option<i64>,
    ) -> Arc<VideoToken> {
        let ttl = self.ttl.as_secs() as i64;
        let step = (ttl / 4).max(1);
        let issued = now - now.rem_euclid(step);
        let mut expires = issued + ttl;
        if let Some(end) = window_end {
            expires = expires.min(end);
        }
        let shard = &self.recent[shard_of(playback_id)];
        if let Some(t) = shard
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(playback_id)
            && t.issued == issued
            && t.expires == expires
        {
            return t.clone();
        }
        let token = Arc::new(self.sign(video_id, playback_id, issued, expires));
        let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= RECENT_PER_SHARD {
            map.retain(|_, t| t.issued == issued);
        }
        map.insert(playback_id.to_owned(), token.clone());
        token
    }

    fn sign(&self, video_id: &str, playback_id: &str, now: i64, expires: i64) -> VideoToken {
        let base = self.template.video_base(video_id);
        let base_path = Url::parse(&base)
            .map(|u| u.path().to_owned())
            .unwrap_or_else(|_| "/".into());
        let grant = Grant {
            base: &base,
            base_path: &base_path,
            playback_id,
            now,
            expires,
        };
        let shared = match &self.signer {
            Signer::Cat(s) => Some(("cat", s.sign(&grant))),
            Signer::CloudFront(s) => {
                let (policy, signature) = s.sign(&grant);
                let key_pair_id = s.key_pair_id().to_owned();
                return self.finish(
                    base,
                    base_path,
                    (now, expires),
                    Shared::CloudFront {
                        policy,
                        signature,
                        key_pair_id,
                    },
                );
            }
            Signer::Akamai(s) => Some(("hdnts", s.sign(&grant))),
            Signer::SecureLink(s) => {
                return self.finish(base, base_path, (now, expires), Shared::PerUri(s.clone()));
            }
            Signer::None => None,
        };
        let shared = match shared {
            Some((name, value)) => Shared::One { name, value },
            None => Shared::Nothing,
        };
        self.finish(base, base_path, (now, expires), shared)
    }

    fn finish(
        &self,
        base: String,
        base_path: String,
        (issued, expires): (i64, i64),
        shared: Shared,
    ) -> VideoToken {
        VideoToken {
            issued,
            base,
            base_path,
            expires,
            shared,
            place: self.place,
            cookie_domain: self.cookie_domain.clone(),
            secure_cookies: self.secure_cookies,
        }
    }
}

const SHARDS: usize = 16;
/// Past this many playbacks in a shard, tokens of earlier quarters are dropped.
const RECENT_PER_SHARD: usize = 8192;

fn shard_of(playback_id: &str) -> usize {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(playback_id) as usize % SHARDS
}

/// What every signer is given.
pub struct Grant<'a> {
    /// The video's base URL on the CDN (ends with '/').
    pub base: &'a str,
    /// Its path (ends with '/').
    pub base_path: &'a str,
    pub playback_id: &'a str,
    pub now: i64,
    pub expires: i64,
}

enum Shared {
    Nothing,
    /// One `name=value` for every URI of the video (cat, akamai).
    One {
        name: &'static str,
        value: String,
    },
    CloudFront {
        policy: String,
        signature: String,
        key_pair_id: String,
    },
    /// A hash per URI (secure_link).
    PerUri(secure_link::SecureLinkSigner),
}

/// One playback's token for one video: segment URIs on the CDN, and the cookies to set.
pub struct VideoToken {
    issued: i64,
    base: String,
    base_path: String,
    expires: i64,
    shared: Shared,
    place: TokenPlace,
    cookie_domain: Option<String>,
    secure_cookies: bool,
}

impl VideoToken {
    /// Unix seconds after which the CDN refuses this token.
    pub fn expires(&self) -> i64 {
        self.expires
    }

    /// Appends the CDN URI of the asset at `rel` (its path inside the video, as the
    /// rewriter found it: plain or percent-encoded path bytes, no query) to `out`.
    pub fn push_segment_uri(&self, rel: &str, out: &mut String) {
        out.push_str(&self.base);
        out.push_str(rel);
        if self.place == TokenPlace::Cookie {
            return;
        }
        match &self.shared {
            Shared::Nothing => {}
            Shared::One { name, value } => {
                out.push('?');
                out.push_str(name);
                out.push('=');
                out.push_str(value);
            }
            Shared::CloudFront {
                policy,
                signature,
                key_pair_id,
            } => {
                out.push_str("?Policy=");
                out.push_str(policy);
                out.push_str("&Signature=");
                out.push_str(signature);
                out.push_str("&Key-Pair-Id=");
                out.push_str(key_pair_id);
            }
            Shared::PerUri(s) => {
                let path = format!("{}{rel}", self.base_path);
                s.push_query(&path, self.expires, out);
            }
        }
    }

    /// `Set-Cookie` values carrying the token (cookie delivery only; empty otherwise), scoped
    /// to the video's path on the CDN so one rental's cookie opens no other video.
    pub fn cookies(&self) -> Vec<String> {
        if self.place != TokenPlace::Cookie {
            return vec![];
        }
        let pairs: Vec<(&str, &str)> = match &self.shared {
            Shared::One { name: "cat", value } => vec![("cta-common-access-token", value)],
            Shared::One { name, value } => vec![(name, value)],
            Shared::CloudFront {
                policy,
                signature,
                key_pair_id,
            } => vec![
                ("CloudFront-Policy", policy),
                ("CloudFront-Signature", signature),
                ("CloudFront-Key-Pair-Id", key_pair_id),
            ],
            Shared::Nothing | Shared::PerUri(_) => vec![],
        };
        // No Expires/Max-Age (AWS advises leaving them out): the token inside expires, and
        // the browser drops the cookie with the session.
        let mut attrs = format!("; Path={}; HttpOnly; SameSite=Lax", self.base_path);
        if let Some(d) = &self.cookie_domain {
            attrs.push_str("; Domain=");
            attrs.push_str(d);
        }
        if self.secure_cookies {
            attrs.push_str("; Secure");
        }
        pairs
            .into_iter()
            .map(|(n, v)| format!("{n}={v}{attrs}"))
            .collect()
    }
}

/// URL-safe base64 without padding (CAT in a query, nginx's secure_link md5).
pub(crate) fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_forms() {
        let t = Template::parse("https://cdn.shop.example/media/{video_id}/{path}").unwrap();
        assert_eq!(t.video_base("vi1"), "https://cdn.shop.example/media/vi1/");
        assert_eq!(t.host(), "cdn.shop.example");
        let t = Template::parse("http://127.0.0.1:9000/{video_id}/hls/{path}").unwrap();
        assert_eq!(t.video_base("vi1"), "http://127.0.0.1:9000/vi1/hls/");
        for bad in [
            "https://cdn.example/media/{path}",
            "https://cdn.example/media/{video_id}",
            "https://cdn.example/media/{video_id}/{path}?x=1",
            "https://{video_id}.cdn.example/{path}",
            "ftp://cdn.example/{video_id}/{path}",
            "/media/{video_id}/{path}",
            "https://cdn.example/{video_id}/{video_id}/{path}",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }

    fn settings(token: TokenKind, key: Option<&str>, place: TokenPlace) -> CdnSettings {
        CdnSettings {
            base_url: "https://cdn.shop.example/media/{video_id}/{path}".into(),
            token,
            key: key.map(|k| SecretString::from(k.to_owned())),
            key_id: Some("k1".into()),
            place,
            cookie_domain: None,
            ttl: None,
            public_url: Url::parse("https://watch.shop.example/").unwrap(),
        }
    }

    #[test]
    fn bad_settings_are_sentences_not_fallbacks() {
        let e = |s| Cdn::new(s).unwrap_err().0;
        assert!(
            e(settings(TokenKind::Akamai, None, TokenPlace::Query)).contains("VODGATE_CDN_KEY")
        );
        assert!(e(settings(TokenKind::Akamai, Some("zz"), TokenPlace::Query)).contains("hex"));
        assert!(e(settings(TokenKind::Cat, Some("abcd"), TokenPlace::Query)).contains("256-bit"));
        assert!(
            e(settings(
                TokenKind::CloudFront,
                Some("/nonexistent.pem"),
                TokenPlace::Query
            ))
            .contains("/nonexistent.pem")
        );
        assert!(
            e(settings(
                TokenKind::SecureLink,
                Some("s"),
                TokenPlace::Cookie
            ))
            .contains("query")
        );
        // Cookie delivery on two hosts without a shared domain.
        let hex = "00".repeat(32);
        assert!(
            e(settings(TokenKind::Akamai, Some(&hex), TokenPlace::Cookie))
                .contains("VODGATE_CDN_COOKIE_DOMAIN")
        );
        let mut s = settings(TokenKind::Akamai, Some(&hex), TokenPlace::Cookie);
        s.cookie_domain = Some(".other.example".into());
        assert!(e(s).contains("must contain both"));
        let mut s = settings(TokenKind::Akamai, Some(&hex), TokenPlace::Cookie);
        s.cookie_domain = Some(".shop.example".into());
        assert!(Cdn::new(s).is_ok());
        let mut s = settings(TokenKind::None, None, TokenPlace::Query);
        s.ttl = Some(Duration::from_secs(MAX_TOKEN_TTL_S + 1));
        assert!(e(s).contains("VODGATE_CDN_TOKEN_TTL_S"));
    }

    #[test]
    fn token_ends_with_the_window() {
        let cdn = Cdn::new(settings(TokenKind::None, None, TokenPlace::Query)).unwrap();
        let ttl = 6 * 3600;
        // Issued at the start of the TTL's quarter: at least 3/4 of the TTL left, at most all.
        for now in [1000, 5399, 5400, 86_399] {
            let e = cdn.token("v", "pb", now, None).expires();
            assert!(e >= now + ttl * 3 / 4 && e <= now + ttl, "{now}: {e}");
        }
        assert_eq!(cdn.token("v", "pb", 1000, Some(1500)).expires(), 1500);
        // The same quarter hands out the same token; the next one a new token.
        let a = cdn.token("v", "pb", 1000, None);
        assert!(Arc::ptr_eq(&a, &cdn.token("v", "pb", 5000, None)));
        assert!(!Arc::ptr_eq(&a, &cdn.token("v", "pb", 5400, None)));
        assert!(!Arc::ptr_eq(&a, &cdn.token("v", "pb2", 1000, None)));
        let mut out = String::new();
        cdn.token("v", "pb", 1000, None)
            .push_segment_uri("360p/seg0.ts", &mut out);
        assert_eq!(out, "https://cdn.shop.example/media/v/360p/seg0.ts");
    }

    #[test]
    fn cookies_are_scoped_to_the_video() {
        let mut s = settings(
            TokenKind::Akamai,
            Some(&"ab".repeat(32)),
            TokenPlace::Cookie,
        );
        s.cookie_domain = Some(".shop.example".into());
        let cdn = Cdn::new(s).unwrap();
        let t = cdn.token("vi1", "pb_1", 1000, None);
        let mut uri = String::new();
        t.push_segment_uri("a.ts", &mut uri);
        assert_eq!(
            uri, "https://cdn.shop.example/media/vi1/a.ts",
            "no token in the URI"
        );
        let c = t.cookies();
        assert_eq!(c.len(), 1);
        assert!(
            c[0].starts_with("hdnts=st=990~exp=1110~acl=/media/vi1/*~id=pb_1~hmac="),
            "{}",
            c[0]
        );
        assert!(
            c[0].ends_with(
                "; Path=/media/vi1/; HttpOnly; SameSite=Lax; Domain=shop.example; Secure"
            ),
            "{}",
            c[0]
        );
        assert!(
            !format!("{cdn:?}").contains("abab"),
            "the key is never printed"
        );
    }
}
