//! Configuration: built-in defaults < TOML file (`--config` / `VODGATE_CONFIG`) < environment.
//! Every setting is parsed into a typed value at boot; a bad one stops the process with a
//! sentence that names it. `SETTINGS` is the single list of what exists (the README's table
//! mirrors it).
//!
//! Hand-written rather than `figment` or `config`: the layering itself is a few lines, and
//! what matters here is the sentence each bad value produces (naming the variable or file
//! key, the accepted form and the value's problem) and the one `SETTINGS` list the README
//! and `check-config` are checked against; those crates' generic deserialisation errors
//! would have to be rewritten per setting anyway.

use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

/// (file key, environment variable, what it is)
pub const SETTINGS: &[(&str, &str, &str)] = &[
    (
        "listen",
        "VODGATE_LISTEN",
        "address to serve on (default 127.0.0.1:8080)",
    ),
    (
        "public_url",
        "VODGATE_PUBLIC_URL",
        "base of the links vodgate hands out (default http://<listen>)",
    ),
    (
        "redis_url",
        "REDIS_URL",
        "Redis to keep state in; unset = embedded in-memory store",
    ),
    (
        "redis_prefix",
        "VODGATE_REDIS_PREFIX",
        "prefix of every Redis key (default vodgate:)",
    ),
    (
        "redis_wait_replicas",
        "VODGATE_REDIS_WAIT_REPLICAS",
        "Redis replicas that must confirm each grant, revocation and refund before it is answered 200 (default 0: the master's word; see the README's Redis section)",
    ),
    (
        "bootstrap_api_key",
        "VODGATE_BOOTSTRAP_API_KEY",
        "an API key to accept (all scopes), hashed at start",
    ),
    (
        "launch_ttl_s",
        "VODGATE_LAUNCH_TTL_S",
        "lifetime of a launch link in seconds (default 600)",
    ),
    (
        "default_watch_for_s",
        "VODGATE_DEFAULT_WATCH_FOR_S",
        "rental window when a grant names none (default 86400)",
    ),
    (
        "auth_failures_per_minute",
        "VODGATE_AUTH_FAILURES_PER_MINUTE",
        "failed logins per client before 429 (default 10)",
    ),
    (
        "origin",
        "VODGATE_ORIGIN",
        "where videos come from: local (default), http or apivideo",
    ),
    (
        "media_dir",
        "VODGATE_MEDIA_DIR",
        "folder of the local origin, one subfolder per video (default media)",
    ),
    (
        "accel_redirect_prefix",
        "VODGATE_ACCEL_REDIRECT_PREFIX",
        "local origin behind nginx: after the access check, answer keys and segments with X-Accel-Redirect: <prefix><video>/<file> and let nginx send the file (default: unset, vodgate streams it)",
    ),
    (
        "http_origin_url",
        "VODGATE_HTTP_ORIGIN_URL",
        "http origin's master playlist URL with {video_id}, e.g. https://origin.example/{video_id}/master.m3u8",
    ),
    (
        "apivideo_api_key",
        "APIVIDEO_API_KEY",
        "api.video API key (secret; needed with VODGATE_ORIGIN=apivideo)",
    ),
    (
        "apivideo_base_url",
        "APIVIDEO_BASE_URL",
        "api.video API base (default https://ws.api.video; sandbox https://sandbox.api.video)",
    ),
    (
        "apivideo_mode",
        "VODGATE_APIVIDEO_MODE",
        "relay (default: bytes flow through vodgate) or embed (the page embeds api.video's player)",
    ),
    (
        "apivideo_allow_public",
        "VODGATE_APIVIDEO_ALLOW_PUBLIC",
        "play api.video videos that are public (default false: refused)",
    ),
    (
        "apivideo_session_ttl_s",
        "VODGATE_APIVIDEO_SESSION_TTL_S",
        "lifetime of an api.video session token (default 86400, as api.video)",
    ),
    (
        "delivery",
        "VODGATE_DELIVERY",
        "where segments come from: relay (default: through vodgate) or cdn (the operator's CDN, VODGATE_CDN_*; local and http origins); a grant may choose with \"delivery\"",
    ),
    (
        "cdn_base_url",
        "VODGATE_CDN_BASE_URL",
        "the CDN's URL for a video's files, with {video_id} in the path and ending in /{path}, e.g. https://cdn.shop.example/media/{video_id}/{path} (see docs/cdn.md)",
    ),
    (
        "cdn_token",
        "VODGATE_CDN_TOKEN",
        "the token the CDN checks: cat, cloudfront, akamai, secure_link or none (needed with a CDN)",
    ),
    (
        "cdn_key",
        "VODGATE_CDN_KEY",
        "the token's key (secret): hex HMAC key for cat and akamai, the secure_link secret, or the path of CloudFront's PEM private key",
    ),
    (
        "cdn_key_id",
        "VODGATE_CDN_KEY_ID",
        "CloudFront's public key id (Key-Pair-Id) or the CAT key's kid",
    ),
    (
        "cdn_token_delivery",
        "VODGATE_CDN_TOKEN_DELIVERY",
        "query (default: the token in each segment URI) or cookie (cat, cloudfront, akamai: a short cookie the watch page renews through vodgate)",
    ),
    (
        "cdn_cookie_domain",
        "VODGATE_CDN_COOKIE_DOMAIN",
        "with cookie tokens on two hosts: a domain both vodgate and the CDN are under, e.g. .shop.example",
    ),
    (
        "cdn_token_ttl_s",
        "VODGATE_CDN_TOKEN_TTL_S",
        "longest life of a CDN token, never past the rental's end (default 21600 with query tokens, 120 with cookies; 30-86400)",
    ),
    (
        "upstream_timeout_ms",
        "VODGATE_UPSTREAM_TIMEOUT_MS",
        "how long to wait for the origin to answer (default 5000)",
    ),
    (
        "default_max_streams",
        "VODGATE_DEFAULT_MAX_STREAMS",
        "playbacks one entitlement may run at once when the grant names none (default 2)",
    ),
    (
        "stream_idle_s",
        "VODGATE_STREAM_IDLE_S",
        "a playback that fetched nothing for this long no longer counts as a stream (default 60)",
    ),
    (
        "store_outage_grace_s",
        "VODGATE_STORE_OUTAGE_GRACE_S",
        "while Redis is unreachable, access decisions this instance made at most this long ago still stand (default 0: fail closed with 503 store_unavailable at once)",
    ),
    (
        "max_in_flight",
        "VODGATE_MAX_IN_FLIGHT",
        "requests this instance works on at once (waiting on Redis or an origin included); past it a request is refused at once with 503 overloaded and Retry-After (default 256)",
    ),
    (
        "webhook_secret",
        "VODGATE_WEBHOOK_SECRET",
        "HMAC secret(s) for POST /webhooks/payments, comma-separated during rotation",
    ),
    (
        "stripe_webhook_secret",
        "VODGATE_STRIPE_WEBHOOK_SECRET",
        "the Stripe endpoint's signing secret(s) (whsec_…) for POST /webhooks/stripe, comma-separated during rotation",
    ),
    (
        "stripe_partial_refund",
        "VODGATE_STRIPE_PARTIAL_REFUND",
        "what a partial Stripe refund does: keep (default: access stays, the refund is audited) or revoke",
    ),
    (
        "paddle_webhook_secret",
        "VODGATE_PADDLE_WEBHOOK_SECRET",
        "the Paddle notification destination's secret key(s) for POST /webhooks/paddle, comma-separated during rotation",
    ),
    (
        "paddle_prices",
        "VODGATE_PADDLE_PRICES",
        "what a Paddle purchase grants: price_id=video_id[:watch_for_s], comma-separated; or custom_data to trust the transaction's custom_data (server-created transactions only)",
    ),
    (
        "lemonsqueezy_variants",
        "VODGATE_LEMONSQUEEZY_VARIANTS",
        "what a Lemon Squeezy order grants: variant_id=video_id[:watch_for_s], comma-separated; or custom_data to trust the checkout's custom data (API-created checkouts only)",
    ),
    (
        "lemonsqueezy_webhook_secret",
        "VODGATE_LEMONSQUEEZY_WEBHOOK_SECRET",
        "the Lemon Squeezy webhook's signing secret(s) for POST /webhooks/lemonsqueezy, comma-separated during rotation",
    ),
    (
        "audit_ip_key",
        "VODGATE_AUDIT_IP_KEY",
        "key for hashing client IPs in the audit trail (default: one generated and kept in the store)",
    ),
    (
        "trusted_proxies",
        "VODGATE_TRUSTED_PROXIES",
        "proxies in front of vodgate whose X-Forwarded-For is believed, comma-separated addresses or CIDR ranges (default: none; the TCP peer is the client)",
    ),
    (
        "frame_ancestors",
        "VODGATE_FRAME_ANCESTORS",
        "who may frame vodgate's pages, as a CSP source list (default 'self'), e.g. 'self' https://shop.example",
    ),
    (
        "brand_name",
        "VODGATE_BRAND_NAME",
        "the site's name in the viewer pages' header and titles (default vodgate)",
    ),
    (
        "brand_logo",
        "VODGATE_BRAND_LOGO",
        "the header's logo: an https URL, or a PNG, JPEG, WebP or SVG file (served at /brand/logo)",
    ),
    (
        "brand_accent",
        "VODGATE_BRAND_ACCENT",
        "the pages' accent colour (links, buttons), #rrggbb",
    ),
    (
        "brand_background",
        "VODGATE_BRAND_BACKGROUND",
        "the pages' background colour, #rrggbb",
    ),
    (
        "brand_header",
        "VODGATE_BRAND_HEADER",
        "the header bar's colour, #rrggbb",
    ),
    (
        "shop_url",
        "VODGATE_SHOP_URL",
        "a link back to the shop in the pages' header (http or https)",
    ),
    (
        "support_contact",
        "VODGATE_SUPPORT_CONTACT",
        "who to contact, shown on refusal pages: an email address or an http(s) URL",
    ),
    (
        "metrics_listen",
        "VODGATE_METRICS_LISTEN",
        "address for Prometheus /metrics, apart from the public port (default: off)",
    ),
    (
        "demo",
        "VODGATE_DEMO",
        "demo storefront at / (default: on only with the embedded store on a loopback address)",
    ),
];

/// The shop's look on vodgate's viewer pages. Every value is checked at start (colours are
/// `#rrggbb`, links absolute http(s)), so the pages can print them as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brand {
    pub name: String,
    pub logo: Option<Logo>,
    pub accent: Option<String>,
    pub background: Option<String>,
    pub header: Option<String>,
    pub shop_url: Option<String>,
    pub support: Option<Support>,
}

impl Default for Brand {
    fn default() -> Self {
        Self {
            name: "vodgate".into(),
            logo: None,
            accent: None,
            background: None,
            header: None,
            shop_url: None,
            support: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logo {
    /// An https URL the page loads the image from (its origin joins the CSP's img-src).
    Url(String),
    /// A file read at start, served at `/brand/logo`.
    File {
        bytes: std::sync::Arc<Vec<u8>>,
        content_type: &'static str,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support {
    Email(String),
    Url(String),
}

impl Brand {
    /// What the header's `<img src>` says.
    pub fn logo_src(&self) -> Option<&str> {
        match &self.logo {
            Some(Logo::Url(u)) => Some(u),
            Some(Logo::File { .. }) => Some("/brand/logo"),
            None => None,
        }
    }
    /// The support contact as a link target and its text.
    pub fn support_link(&self) -> Option<(String, &str)> {
        match &self.support {
            Some(Support::Email(e)) => Some((format!("mailto:{e}"), e)),
            Some(Support::Url(u)) => Some((u.clone(), u)),
            None => None,
        }
    }
    /// `/brand.css`: the colours as CSS variables over `style.css`'s defaults.
    pub fn css(&self) -> String {
        let mut css = String::from(":root {\n");
        for (var, value) in [
            ("--accent", &self.accent),
            ("--bg", &self.background),
            ("--header-bg", &self.header),
        ] {
            if let Some(v) = value {
                css.push_str(&format!("  {var}: {v};\n"));
            }
        }
        css.push_str("}\n");
        css
    }
}

fn brand_colour(v: &str, from: &str) -> Result<String, ConfigError> {
    let ok = v.len() == 7 && v.starts_with('#') && v[1..].bytes().all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(v.to_ascii_lowercase())
    } else {
        Err(ConfigError(format!("{from} must be a colour as #rrggbb")))
    }
}

fn http_url(v: &str, from: &str, https_only: bool) -> Result<String, ConfigError> {
    let u = Url::parse(v.trim())
        .map_err(|e| ConfigError(format!("{from} must be an absolute URL: {e}")))?;
    let ok = if https_only {
        u.scheme() == "https"
    } else {
        matches!(u.scheme(), "http" | "https")
    };
    if !ok || u.host().is_none() {
        return Err(ConfigError(format!(
            "{from} must be an {} URL",
            if https_only { "https" } else { "http(s)" }
        )));
    }
    Ok(u.to_string())
}

/// Where a provider's purchase takes the video and window from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Catalogue {
    /// Not configured: that provider's purchases grant nothing (422, saying what to set).
    #[default]
    Unset,
    /// The checkout's custom data, as for Stripe's metadata: for shops that create every
    /// checkout server-side.
    CustomData,
    /// The provider's item id (Paddle price, Lemon Squeezy variant) → what it grants.
    Items(std::collections::HashMap<String, CatalogueItem>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueItem {
    pub video_id: String,
    pub watch_for_s: Option<u64>,
}

fn catalogue(v: &str, from: &str) -> Result<Catalogue, ConfigError> {
    if v.trim() == "custom_data" {
        return Ok(Catalogue::CustomData);
    }
    let bad = || {
        ConfigError(format!(
            "{from} must be item_id=video_id[:watch_for_s], comma-separated (or custom_data)"
        ))
    };
    let mut items = std::collections::HashMap::new();
    for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, what) = part.split_once('=').ok_or_else(bad)?;
        let (video, window) = match what.split_once(':') {
            Some((v, w)) => (v, Some(w.parse::<u64>().map_err(|_| bad())?)),
            None => (what, None),
        };
        if id.trim().is_empty() || video.trim().is_empty() {
            return Err(bad());
        }
        items.insert(
            id.trim().to_owned(),
            CatalogueItem {
                video_id: video.trim().to_owned(),
                watch_for_s: window,
            },
        );
    }
    if items.is_empty() {
        return Err(bad());
    }
    Ok(Catalogue::Items(items))
}

/// What a partial refund does to the rental it pays back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartialRefund {
    /// Access stays; the refund is in the audit trail.
    Keep,
    Revoke,
}

fn masked_list(secrets: &[SecretString]) -> String {
    if secrets.is_empty() {
        "[unset: endpoint off]".into()
    } else {
        format!("[{} set, masked]", secrets.len())
    }
}

/// Where the video bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OriginConfig {
    /// A folder: `{media_dir}/{video_id}/master.m3u8`. With `accel_redirect`, nginx in
    /// front sends the key and segment bytes (an `internal` location aliasing `media_dir`).
    Local {
        media_dir: PathBuf,
        accel_redirect: Option<String>,
    },
    /// An HLS origin over HTTP; the template names the master playlist.
    Http { url_template: String },
    /// api.video private videos (the key itself is `Config::apivideo_api_key`).
    ApiVideo(ApiVideoConfig),
}

/// The deployment's default; a grant may choose otherwise (`playback_mode`).
pub use crate::domain::PlaybackMode;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiVideoConfig {
    /// `https://ws.api.video` (or the sandbox, or a stand-in such as apivideo-sim).
    pub base_url: Url,
    pub mode: PlaybackMode,
    /// Serve videos whose `public` flag is true (anyone with their URL can watch those).
    pub allow_public: bool,
    /// How long api.video keeps a session token valid (24 h).
    pub session_ttl: Duration,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub public_url: Url,
    pub redis_url: Option<SecretString>,
    pub redis_prefix: String,
    /// Replicas that must confirm a grant, revocation or refund (Redis `WAIT`) before it
    /// is acknowledged.
    pub redis_wait_replicas: u8,
    pub bootstrap_api_key: Option<SecretString>,
    pub launch_ttl: Duration,
    pub default_watch_for_s: u64,
    pub auth_failures_per_minute: u32,
    pub origin: OriginConfig,
    /// The api.video API key (only with `OriginConfig::ApiVideo`). Never logged.
    pub apivideo_api_key: Option<SecretString>,
    pub upstream_timeout: Duration,
    /// The demo storefront at `/`.
    pub demo: bool,
    pub default_max_streams: u32,
    pub stream_idle: Duration,
    /// How long cached access decisions may stand in while the store is unreachable.
    pub store_outage_grace: Duration,
    /// Requests worked on at once before new ones are refused (`http::admission`).
    pub max_in_flight: usize,
    /// Accepted webhook signing secrets (several during a rotation); empty = webhook off.
    pub webhook_secrets: Vec<SecretString>,
    /// The payment providers' own webhooks (`app::payments`): empty = that endpoint is off.
    pub stripe_webhook_secrets: Vec<SecretString>,
    pub paddle_webhook_secrets: Vec<SecretString>,
    pub lemonsqueezy_webhook_secrets: Vec<SecretString>,
    /// Whether a partial Stripe refund revokes.
    pub stripe_partial_refund: PartialRefund,
    /// What a Paddle or Lemon Squeezy purchase grants: their custom data can come from the
    /// buyer's browser, so by default it is the bought item that decides.
    pub paddle_prices: Catalogue,
    pub lemonsqueezy_variants: Catalogue,
    pub audit_ip_key: Option<SecretString>,
    /// CSP `frame-ancestors` source list for vodgate's pages.
    pub frame_ancestors: String,
    /// How the viewer pages look: the shop's name, logo, colours, links.
    pub brand: Brand,
    /// Extra CSP `frame-src` hosts (the api.video embed host in embed mode).
    pub frame_sources: Vec<String>,
    pub metrics_listen: Option<SocketAddr>,
    /// Proxies whose `X-Forwarded-For` names the client (see `client_ip`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Where segments come from unless a grant says otherwise.
    pub delivery: Delivery,
    /// The operator's CDN (`VODGATE_CDN_*`), loaded and checked at start.
    pub cdn: Option<std::sync::Arc<crate::cdn::Cdn>>,
}

pub use crate::domain::Delivery;

impl Config {
    /// Load from the optional file and the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let file = file
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("VODGATE_CONFIG").map(PathBuf::from));
        Self::from_sources(file.as_deref(), |k| std::env::var(k).ok())
    }

    /// The layering itself, with the environment passed in so tests need not touch the
    /// process's.
    pub fn from_sources(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut raw: BTreeMap<&'static str, (String, String)> = BTreeMap::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError(format!("cannot read config file {}: {e}", path.display()))
            })?;
            let table: toml::Table = text.parse().map_err(|e| {
                ConfigError(format!(
                    "config file {} is not valid TOML: {e}",
                    path.display()
                ))
            })?;
            for (k, v) in table {
                let Some(&(key, _, _)) = SETTINGS.iter().find(|(fk, _, _)| *fk == k) else {
                    return Err(ConfigError(format!(
                        "config file {} has an unknown setting `{k}`; known settings: {}",
                        path.display(),
                        SETTINGS.iter().map(|s| s.0).collect::<Vec<_>>().join(", ")
                    )));
                };
                let v = match v {
                    toml::Value::String(s) => s,
                    toml::Value::Integer(i) => i.to_string(),
                    other => {
                        return Err(ConfigError(format!(
                            "`{k}` in {} must be a string or a number, not {other}",
                            path.display()
                        )));
                    }
                };
                raw.insert(key, (v, format!("`{key}` in {}", path.display())));
            }
        }
        for (key, var, _) in SETTINGS {
            if let Some(v) = env(var).filter(|v| !v.is_empty()) {
                raw.insert(key, (v, var.to_string()));
            }
        }
        let get = |k: &str| raw.get(k);

        let listen: SocketAddr = parse(
            get("listen"),
            "127.0.0.1:8080",
            "an address such as 127.0.0.1:8080",
        )?;
        let public_url = match get("public_url") {
            Some((v, from)) => {
                let u = Url::parse(v).map_err(|e| {
                    ConfigError(format!("{from} must be an absolute http(s) URL: {e}"))
                })?;
                if !matches!(u.scheme(), "http" | "https")
                    || u.host().is_none()
                    || u.query().is_some()
                {
                    return Err(ConfigError(format!(
                        "{from} must be an http(s) URL without a query, like https://watch.example.com"
                    )));
                }
                u
            }
            None => {
                Url::parse(&format!("http://{listen}/")).map_err(|e| ConfigError(e.to_string()))?
            }
        };
        let redis_url = match get("redis_url") {
            Some((v, from)) => {
                // A cluster lists its seed nodes (redis+cluster://[user:pass@]h1:p1,h2:p2/),
                // Sentinel its sentinels and service (redis+sentinel://s1:p1,s2:p2/name).
                let multi_node = crate::store::RedisStore::is_multi_node_url(v)
                    .map_err(|e| ConfigError(format!("{from} {e}")))?;
                const KINDS: &str =
                    "a redis://, rediss://, redis+cluster:// or redis+sentinel:// URL";
                if !multi_node {
                    let u = Url::parse(v)
                        .map_err(|_| ConfigError(format!("{from} must be {KINDS}")))?;
                    if !matches!(u.scheme(), "redis" | "rediss" | "redis+unix" | "unix") {
                        return Err(ConfigError(format!(
                            "{from} must be {KINDS}, not {}://",
                            u.scheme()
                        )));
                    }
                }
                Some(SecretString::from(v.clone()))
            }
            None => None,
        };
        let redis_prefix = get("redis_prefix")
            .map(|(v, _)| v.clone())
            .unwrap_or_else(|| "vodgate:".into());
        if let Some((v, from)) = get("redis_prefix")
            && (v.len() > 64 || v.contains(['{', '}', ' ']))
        {
            return Err(ConfigError(format!(
                "{from} must be at most 64 characters without braces or spaces"
            )));
        }
        let redis_wait_replicas: u8 = parse(
            get("redis_wait_replicas"),
            "0",
            "a whole number of replicas",
        )?;
        if let Some((_, from)) = get("redis_wait_replicas") {
            if redis_wait_replicas > 16 {
                return Err(ConfigError(format!(
                    "{from} must be between 0 and 16 replicas"
                )));
            }
            if redis_wait_replicas > 0 && redis_url.is_none() {
                return Err(ConfigError(format!(
                    "{from} needs REDIS_URL: the embedded store has no replicas to wait for"
                )));
            }
        }
        let bootstrap_api_key = match get("bootstrap_api_key") {
            // The key itself is never part of the sentence.
            Some((v, from)) if crate::token::api_key_parts(v).is_none() => {
                return Err(ConfigError(format!(
                    "{from} is not an API key: expected {} (e.g. vg_key_$(openssl rand -hex 8)_$(openssl rand -hex 24)), or leave it unset and create one with `vodgate api-key create`",
                    crate::token::API_KEY_FORM
                )));
            }
            Some((v, _)) => Some(SecretString::from(v.clone())),
            None => None,
        };
        let launch_ttl_s: u64 = parse(get("launch_ttl_s"), "600", "a number of seconds")?;
        if !(1..=86_400).contains(&launch_ttl_s) {
            return Err(ConfigError(
                "launch_ttl_s must be between 1 and 86400 seconds".into(),
            ));
        }
        let default_watch_for_s: u64 =
            parse(get("default_watch_for_s"), "86400", "a number of seconds")?;
        if !(1..=crate::domain::MAX_WINDOW_S).contains(&default_watch_for_s) {
            return Err(ConfigError(format!(
                "default_watch_for_s must be between 1 and {} seconds",
                crate::domain::MAX_WINDOW_S
            )));
        }
        let auth_failures_per_minute: u32 =
            parse(get("auth_failures_per_minute"), "10", "a whole number")?;
        let origin = match get("origin").map(|(v, from)| (v.as_str(), from)) {
            None | Some(("local", _)) => {
                let media_dir =
                    PathBuf::from(get("media_dir").map(|(v, _)| v.as_str()).unwrap_or("media"));
                let accel_redirect = match get("accel_redirect_prefix") {
                    Some((v, from)) => Some(accel_prefix(v).ok_or_else(|| {
                        ConfigError(format!(
                            "{from} must be a URL path that starts and ends with '/', e.g. /_media/ \
                             (letters, digits, '.', '_', '-', '~' and '/')"
                        ))
                    })?),
                    None => None,
                };
                OriginConfig::Local {
                    media_dir,
                    accel_redirect,
                }
            }
            Some(("http", from)) => {
                let Some((t, tfrom)) = get("http_origin_url") else {
                    return Err(ConfigError(format!(
                        "{from}=http needs VODGATE_HTTP_ORIGIN_URL (the master playlist URL with {{video_id}})"
                    )));
                };
                let probe = t.replace("{video_id}", "probe");
                let ok = t.contains("{video_id}")
                    && Url::parse(&probe).is_ok_and(|u| {
                        matches!(u.scheme(), "http" | "https")
                            && u.host().is_some()
                            && !u.path().ends_with('/')
                    });
                if !ok {
                    return Err(ConfigError(format!(
                        "{tfrom} must be an http(s) URL of a playlist containing {{video_id}}, like https://origin.example/{{video_id}}/master.m3u8"
                    )));
                }
                OriginConfig::Http {
                    url_template: t.clone(),
                }
            }
            Some(("apivideo", from)) => OriginConfig::ApiVideo(apivideo_config(&get, from)?),
            Some((other, from)) => {
                return Err(ConfigError(format!(
                    "{from} must be `local`, `http` or `apivideo`, not {other:?}"
                )));
            }
        };
        let apivideo_api_key = match (&origin, get("apivideo_api_key")) {
            (OriginConfig::ApiVideo(_), None) => {
                return Err(ConfigError(
                    "VODGATE_ORIGIN=apivideo needs APIVIDEO_API_KEY (the API key of your api.video project)".into(),
                ));
            }
            (OriginConfig::ApiVideo(_), Some((v, from))) => {
                let v = v.trim();
                if v.len() < 8 || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(ConfigError(format!(
                        "{from} does not look like an api.video API key"
                    )));
                }
                Some(SecretString::from(v.to_owned()))
            }
            (_, _) => None,
        };
        if let (Some((_, from)), false) = (
            get("accel_redirect_prefix"),
            matches!(origin, OriginConfig::Local { .. }),
        ) {
            return Err(ConfigError(format!(
                "{from} applies to the local origin only (VODGATE_ORIGIN=local)"
            )));
        }
        let frame_sources = embed_frame_sources(&origin);
        let (delivery, cdn) = cdn_settings(&get, &origin, &public_url)?;
        let upstream_timeout_ms: u64 = parse(
            get("upstream_timeout_ms"),
            "5000",
            "a number of milliseconds",
        )?;
        if !(50..=120_000).contains(&upstream_timeout_ms) {
            return Err(ConfigError(
                "upstream_timeout_ms must be between 50 and 120000".into(),
            ));
        }
        let default_max_streams: u32 = parse(get("default_max_streams"), "2", "a whole number")?;
        if !(1..=100).contains(&default_max_streams) {
            return Err(ConfigError(
                "default_max_streams must be between 1 and 100".into(),
            ));
        }
        let stream_idle_s: u64 = parse(get("stream_idle_s"), "60", "a number of seconds")?;
        if !(1..=3600).contains(&stream_idle_s) {
            return Err(ConfigError(
                "stream_idle_s must be between 1 and 3600 seconds".into(),
            ));
        }
        let store_outage_grace_s: u64 =
            parse(get("store_outage_grace_s"), "0", "a number of seconds")?;
        if store_outage_grace_s > 300 {
            return Err(ConfigError(
                "store_outage_grace_s must be between 0 and 300 seconds".into(),
            ));
        }
        let max_in_flight: usize = parse(get("max_in_flight"), "256", "a number of requests")?;
        if !(1..=100_000).contains(&max_in_flight) {
            return Err(ConfigError(
                "max_in_flight must be between 1 and 100000 requests".into(),
            ));
        }
        let secrets = |key: &str, min: usize| -> Result<Vec<SecretString>, ConfigError> {
            let Some((v, from)) = get(key) else {
                return Ok(vec![]);
            };
            let parts: Vec<&str> = v
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .collect();
            if parts.is_empty() || parts.iter().any(|p| p.len() < min) {
                return Err(ConfigError(format!(
                    "{from} must hold secrets of at least {min} characters, comma-separated"
                )));
            }
            Ok(parts
                .into_iter()
                .map(|p| SecretString::from(p.to_owned()))
                .collect())
        };
        let webhook_secrets = secrets("webhook_secret", 16)?;
        let stripe_webhook_secrets = secrets("stripe_webhook_secret", 16)?;
        let paddle_webhook_secrets = secrets("paddle_webhook_secret", 16)?;
        // Lemon Squeezy lets a webhook's secret be as short as 6 characters.
        let lemonsqueezy_webhook_secrets = secrets("lemonsqueezy_webhook_secret", 6)?;
        let paddle_prices = match get("paddle_prices") {
            Some((v, from)) => catalogue(v, from)?,
            None => Catalogue::Unset,
        };
        let lemonsqueezy_variants = match get("lemonsqueezy_variants") {
            Some((v, from)) => catalogue(v, from)?,
            None => Catalogue::Unset,
        };
        let stripe_partial_refund = match get("stripe_partial_refund") {
            None => PartialRefund::Keep,
            Some((v, _)) if v == "keep" => PartialRefund::Keep,
            Some((v, _)) if v == "revoke" => PartialRefund::Revoke,
            Some((_, from)) => {
                return Err(ConfigError(format!("{from} must be keep or revoke")));
            }
        };
        let audit_ip_key = get("audit_ip_key").map(|(v, _)| SecretString::from(v.clone()));
        let brand = {
            let mut b = Brand::default();
            if let Some((v, from)) = get("brand_name") {
                let v = v.trim();
                if v.is_empty() || v.chars().count() > 60 {
                    return Err(ConfigError(format!("{from} must be 1 to 60 characters")));
                }
                b.name = v.to_owned();
            }
            if let Some((v, from)) = get("brand_logo") {
                b.logo = Some(if v.starts_with("https://") || v.starts_with("http://") {
                    Logo::Url(http_url(v, from, true)?)
                } else {
                    let content_type = match std::path::Path::new(v)
                        .extension()
                        .and_then(|e| e.to_str())
                        .map(str::to_ascii_lowercase)
                        .as_deref()
                    {
                        Some("png") => "image/png",
                        Some("jpg" | "jpeg") => "image/jpeg",
                        Some("webp") => "image/webp",
                        Some("svg") => "image/svg+xml",
                        _ => {
                            return Err(ConfigError(format!(
                                "{from} must be an https URL or a .png, .jpg, .webp or .svg file"
                            )));
                        }
                    };
                    let bytes = std::fs::read(v)
                        .map_err(|e| ConfigError(format!("{from}: cannot read {v}: {e}")))?;
                    if bytes.len() > 1024 * 1024 {
                        return Err(ConfigError(format!("{from}: the logo is over 1 MiB")));
                    }
                    Logo::File {
                        bytes: std::sync::Arc::new(bytes),
                        content_type,
                    }
                });
            }
            if let Some((v, from)) = get("brand_accent") {
                b.accent = Some(brand_colour(v, from)?);
            }
            if let Some((v, from)) = get("brand_background") {
                b.background = Some(brand_colour(v, from)?);
            }
            if let Some((v, from)) = get("brand_header") {
                b.header = Some(brand_colour(v, from)?);
            }
            if let Some((v, from)) = get("shop_url") {
                b.shop_url = Some(http_url(v, from, false)?);
            }
            if let Some((v, from)) = get("support_contact") {
                let v = v.trim();
                b.support = Some(if v.starts_with("http://") || v.starts_with("https://") {
                    Support::Url(http_url(v, from, false)?)
                } else {
                    let ok = v.len() <= 254
                        && v.split_once('@').is_some_and(|(l, d)| {
                            !l.is_empty() && d.contains('.') && !d.starts_with('.')
                        })
                        && v.bytes()
                            .all(|c| c.is_ascii_alphanumeric() || b"@.+-_".contains(&c));
                    if !ok {
                        return Err(ConfigError(format!(
                            "{from} must be an email address or an http(s) URL"
                        )));
                    }
                    Support::Email(v.to_owned())
                });
            }
            b
        };
        let frame_ancestors = match get("frame_ancestors") {
            Some((v, from)) => {
                let ok = !v.trim().is_empty()
                    && v.split_whitespace().all(|s| {
                        matches!(s, "'self'" | "'none'")
                            || Url::parse(s).is_ok_and(|u| {
                                matches!(u.scheme(), "http" | "https") && u.host().is_some()
                            })
                    });
                if !ok {
                    return Err(ConfigError(format!(
                        "{from} must be 'none', 'self' and/or http(s) origins separated by spaces"
                    )));
                }
                v.split_whitespace().collect::<Vec<_>>().join(" ")
            }
            None => "'self'".into(),
        };
        let metrics_listen: Option<SocketAddr> = match get("metrics_listen") {
            Some((v, from)) => Some(v.parse().map_err(|_| {
                ConfigError(format!("{from} must be an address such as 127.0.0.1:9090"))
            })?),
            None => None,
        };
        if metrics_listen.is_some_and(|m| m == listen) {
            return Err(ConfigError(
                "metrics_listen must differ from listen: metrics stay off the public port".into(),
            ));
        }
        let trusted_proxies: Vec<ipnet::IpNet> = match get("trusted_proxies") {
            Some((v, from)) => v
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| {
                    p.parse::<ipnet::IpNet>()
                        .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                        .map_err(|_| {
                            ConfigError(format!(
                                "{from} must list addresses or CIDR ranges such as 127.0.0.1,10.0.0.0/8; {p:?} is neither"
                            ))
                        })
                })
                .collect::<Result<_, _>>()?,
            None => vec![],
        };
        let demo = match get("demo") {
            Some((v, from)) => match v.as_str() {
                "true" | "1" | "on" => true,
                "false" | "0" | "off" => false,
                _ => return Err(ConfigError(format!("{from} must be true or false"))),
            },
            // A storefront that grants rentals to anyone is only safe on a laptop.
            None => redis_url.is_none() && listen.ip().is_loopback(),
        };

        Ok(Self {
            listen,
            public_url,
            redis_url,
            redis_prefix,
            redis_wait_replicas,
            bootstrap_api_key,
            launch_ttl: Duration::from_secs(launch_ttl_s),
            default_watch_for_s,
            auth_failures_per_minute,
            origin,
            apivideo_api_key,
            upstream_timeout: Duration::from_millis(upstream_timeout_ms),
            demo,
            default_max_streams,
            stream_idle: Duration::from_secs(stream_idle_s),
            store_outage_grace: Duration::from_secs(store_outage_grace_s),
            max_in_flight,
            webhook_secrets,
            stripe_webhook_secrets,
            paddle_webhook_secrets,
            lemonsqueezy_webhook_secrets,
            stripe_partial_refund,
            paddle_prices,
            lemonsqueezy_variants,
            audit_ip_key,
            frame_ancestors,
            brand,
            frame_sources,
            metrics_listen,
            trusted_proxies,
            delivery,
            cdn,
        })
    }

    /// Every effective setting as (file key, value), secrets masked: what `vodgate
    /// check-config` prints.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let secret = |s: &Option<SecretString>| {
            if s.is_some() {
                "[set, masked]".to_owned()
            } else {
                "[unset]".to_owned()
            }
        };
        let redis = match self.redis_url() {
            // Keep host and port, drop any password.
            Some(u) => Url::parse(u)
                .map(|mut u| {
                    if u.password().is_some() {
                        let _ = u.set_password(Some("****"));
                    }
                    u.to_string()
                })
                .unwrap_or_else(|_| "[set, masked]".into()),
            None => "[unset: embedded in-memory store]".into(),
        };
        vec![
            ("listen", self.listen.to_string()),
            ("public_url", self.public_url.to_string()),
            ("redis_url", redis),
            ("redis_prefix", self.redis_prefix.clone()),
            ("redis_wait_replicas", self.redis_wait_replicas.to_string()),
            ("bootstrap_api_key", secret(&self.bootstrap_api_key)),
            ("launch_ttl_s", self.launch_ttl.as_secs().to_string()),
            ("default_watch_for_s", self.default_watch_for_s.to_string()),
            (
                "auth_failures_per_minute",
                self.auth_failures_per_minute.to_string(),
            ),
            ("origin", format!("{:?}", self.origin)),
            (
                "upstream_timeout_ms",
                self.upstream_timeout.as_millis().to_string(),
            ),
            ("default_max_streams", self.default_max_streams.to_string()),
            ("stream_idle_s", self.stream_idle.as_secs().to_string()),
            (
                "store_outage_grace_s",
                self.store_outage_grace.as_secs().to_string(),
            ),
            ("max_in_flight", self.max_in_flight.to_string()),
            (
                "delivery",
                match self.delivery {
                    Delivery::Relay => "relay".into(),
                    Delivery::Cdn => "cdn".into(),
                },
            ),
            (
                "cdn",
                match &self.cdn {
                    // Debug names template, token kind, place and TTL; never the key.
                    Some(c) => format!("{c:?}"),
                    None => "[unset: no CDN]".into(),
                },
            ),
            (
                "webhook_secret",
                if self.webhook_secrets.is_empty() {
                    "[unset: webhook off]".into()
                } else {
                    format!("[{} set, masked]", self.webhook_secrets.len())
                },
            ),
            (
                "stripe_webhook_secret",
                masked_list(&self.stripe_webhook_secrets),
            ),
            (
                "stripe_partial_refund",
                format!("{:?}", self.stripe_partial_refund).to_lowercase(),
            ),
            (
                "paddle_webhook_secret",
                masked_list(&self.paddle_webhook_secrets),
            ),
            ("paddle_prices", format!("{:?}", self.paddle_prices)),
            (
                "lemonsqueezy_variants",
                format!("{:?}", self.lemonsqueezy_variants),
            ),
            (
                "lemonsqueezy_webhook_secret",
                masked_list(&self.lemonsqueezy_webhook_secrets),
            ),
            ("audit_ip_key", secret(&self.audit_ip_key)),
            ("frame_ancestors", self.frame_ancestors.clone()),
            ("brand", format!("{:?}", self.brand.name)),
            (
                "metrics_listen",
                self.metrics_listen
                    .map(|m| m.to_string())
                    .unwrap_or_else(|| "[unset: off]".into()),
            ),
            (
                "trusted_proxies",
                if self.trusted_proxies.is_empty() {
                    "[unset: the TCP peer is the client]".into()
                } else {
                    self.trusted_proxies
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                },
            ),
            ("demo", self.demo.to_string()),
        ]
    }

    /// The client's address. The TCP peer, unless that peer is a proxy the operator trusts:
    /// then the right-most `X-Forwarded-For` entry that is not itself a trusted proxy (the
    /// left-most entries are whatever the client chose to send, so they prove nothing).
    /// Entries may carry a port (`ip:port`, `[v6]:port`, as some proxies append them). An
    /// entry that does not parse ends the walk: nothing left of it is trusted, and the client
    /// is the last trusted hop read (skipping it would let the client name itself).
    /// `forwarded_for`: the request's `X-Forwarded-For` header values, in order.
    pub fn client_ip<'a>(
        &self,
        peer: std::net::IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> std::net::IpAddr {
        let trusted = |ip: &std::net::IpAddr| self.trusted_proxies.iter().any(|n| n.contains(ip));
        if !trusted(&peer) {
            return peer;
        }
        let entries: Vec<&str> = forwarded_for
            .into_iter()
            .flat_map(|v| v.split(','))
            .collect();
        let mut hop = peer;
        for entry in entries.iter().rev() {
            match forwarded_address(entry) {
                Some(ip) if trusted(&ip) => hop = ip,
                Some(ip) => return ip,
                None => return hop,
            }
        }
        // Every hop is trusted: the request came from inside; the peer stands for it.
        peer
    }

    /// The public URL without a trailing slash, for building links.
    pub fn public_base(&self) -> &str {
        self.public_url.as_str().trim_end_matches('/')
    }

    /// Cookies get `Secure` when viewers reach vodgate over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    pub fn redis_url(&self) -> Option<&str> {
        self.redis_url.as_ref().map(|s| s.expose_secret())
    }
}

/// One `X-Forwarded-For` entry: `ip`, `ip:port`, `[v6]` or `[v6]:port`.
fn forwarded_address(entry: &str) -> Option<std::net::IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse() {
        return Some(ip);
    }
    if let Ok(addr) = entry.parse::<std::net::SocketAddr>() {
        return Some(addr.ip());
    }
    entry
        .strip_prefix('[')
        .and_then(|e| e.strip_suffix(']'))
        .and_then(|e| e.parse::<std::net::Ipv6Addr>().ok())
        .map(std::net::IpAddr::V6)
}

/// `VODGATE_DELIVERY` and the `VODGATE_CDN_*` settings. A CDN half-configured, or cdn
/// delivery without one, stops the start: never a silent fallback to unsigned URLs or relay.
fn cdn_settings<'a>(
    get: &impl Fn(&str) -> Option<&'a (String, String)>,
    origin: &OriginConfig,
    public_url: &Url,
) -> Result<(Delivery, Option<std::sync::Arc<crate::cdn::Cdn>>), ConfigError> {
    use crate::cdn::{Cdn, CdnSettings, TokenKind, TokenPlace};
    let delivery = match get("delivery").map(|(v, from)| (v.trim(), from)) {
        None | Some(("relay", _)) => Delivery::Relay,
        Some(("cdn", _)) => Delivery::Cdn,
        Some((_, from)) => return Err(ConfigError(format!("{from} must be relay or cdn"))),
    };
    let named: Vec<&String> = [
        "cdn_token",
        "cdn_key",
        "cdn_key_id",
        "cdn_token_delivery",
        "cdn_cookie_domain",
        "cdn_token_ttl_s",
    ]
    .iter()
    .filter_map(|k| get(k).map(|(_, from)| from))
    .collect();
    let Some((base_url, base_from)) = get("cdn_base_url") else {
        if delivery == Delivery::Cdn {
            return Err(ConfigError(
                "VODGATE_DELIVERY=cdn needs VODGATE_CDN_BASE_URL and VODGATE_CDN_TOKEN (see docs/cdn.md)".into(),
            ));
        }
        if let Some(from) = named.first() {
            return Err(ConfigError(format!(
                "{from} is set but VODGATE_CDN_BASE_URL is not: set both, or neither"
            )));
        }
        return Ok((delivery, None));
    };
    if matches!(origin, OriginConfig::ApiVideo(_)) {
        return Err(ConfigError(format!(
            "{base_from}: api.video is its own CDN; with VODGATE_ORIGIN=apivideo the choices are relay and embed (VODGATE_APIVIDEO_MODE)"
        )));
    }
    let token = match get("cdn_token") {
        None => {
            return Err(ConfigError(format!(
                "{base_from} needs VODGATE_CDN_TOKEN: {} (none only for encrypted media whose keys are the gate)",
                TokenKind::ALL
            )));
        }
        Some((v, from)) => TokenKind::parse(v.trim())
            .ok_or_else(|| ConfigError(format!("{from} must be {}", TokenKind::ALL)))?,
    };
    let place = match get("cdn_token_delivery").map(|(v, from)| (v.trim(), from)) {
        None | Some(("query", _)) => TokenPlace::Query,
        Some(("cookie", _)) => TokenPlace::Cookie,
        Some((_, from)) => return Err(ConfigError(format!("{from} must be query or cookie"))),
    };
    let ttl = match get("cdn_token_ttl_s") {
        None => None,
        Some(v) => Some(Duration::from_secs(parse::<u64>(
            Some(v),
            "0",
            "a number of seconds",
        )?)),
    };
    let cdn = Cdn::new(CdnSettings {
        base_url: base_url.trim().to_owned(),
        token,
        key: get("cdn_key").map(|(v, _)| SecretString::from(v.clone())),
        key_id: get("cdn_key_id").map(|(v, _)| v.trim().to_owned()),
        place,
        cookie_domain: get("cdn_cookie_domain").map(|(v, _)| v.trim().to_owned()),
        ttl,
        public_url: public_url.clone(),
    })
    .map_err(|e| ConfigError(e.0))?;
    Ok((delivery, Some(cdn)))
}

/// Embed mode frames api.video's player: `https://embed.api.video` for api.video itself
/// (production and sandbox), the base URL's own origin for a stand-in such as apivideo-sim.
/// Allowed with the api.video origin whatever the default mode, since a grant may ask for
/// embed (`playback_mode`); relay pages frame nothing, so it opens nothing for them.
fn embed_frame_sources(origin: &OriginConfig) -> Vec<String> {
    match origin {
        OriginConfig::ApiVideo(a) => {
            let host = a.base_url.host_str().unwrap_or_default();
            if host == "api.video" || host.ends_with(".api.video") {
                vec!["https://embed.api.video".into()]
            } else {
                vec![a.base_url.origin().ascii_serialization()]
            }
        }
        _ => vec![],
    }
}

/// An nginx location path vodgate can name in `X-Accel-Redirect` without escaping.
fn accel_prefix(v: &str) -> Option<String> {
    let ok = v.len() <= 200
        && v.len() >= 2
        && v.starts_with('/')
        && v.ends_with('/')
        && !v.contains("//")
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-~/".contains(&b));
    ok.then(|| v.to_owned())
}

/// The api.video settings other than the key.
fn apivideo_config<'a>(
    get: &impl Fn(&str) -> Option<&'a (String, String)>,
    origin_from: &str,
) -> Result<ApiVideoConfig, ConfigError> {
    let base_url = match get("apivideo_base_url") {
        Some((v, from)) => {
            let u = Url::parse(v.trim())
                .map_err(|e| ConfigError(format!("{from} must be an absolute http(s) URL: {e}")))?;
            if !matches!(u.scheme(), "http" | "https")
                || u.host().is_none()
                || u.query().is_some()
                || u.path() != "/"
            {
                return Err(ConfigError(format!(
                    "{from} must be an http(s) URL without a path or query, like https://ws.api.video (set with {origin_from})"
                )));
            }
            u
        }
        None => Url::parse("https://ws.api.video/").map_err(|e| ConfigError(e.to_string()))?,
    };
    let mode = match get("apivideo_mode").map(|(v, from)| (v.trim(), from)) {
        None | Some(("relay", _)) => PlaybackMode::Relay,
        Some(("embed", _)) => PlaybackMode::Embed,
        Some((other, from)) => {
            return Err(ConfigError(format!(
                "{from} must be `relay` or `embed`, not {other:?}"
            )));
        }
    };
    let allow_public = match get("apivideo_allow_public") {
        None => false,
        Some((v, from)) => match v.trim() {
            "true" | "1" | "on" => true,
            "false" | "0" | "off" => false,
            _ => return Err(ConfigError(format!("{from} must be true or false"))),
        },
    };
    let session_ttl_s: u64 = parse(
        get("apivideo_session_ttl_s"),
        "86400",
        "a number of seconds",
    )?;
    if !(60..=86_400).contains(&session_ttl_s) {
        return Err(ConfigError(
            "apivideo_session_ttl_s must be between 60 and 86400 seconds".into(),
        ));
    }
    Ok(ApiVideoConfig {
        base_url,
        mode,
        allow_public,
        session_ttl: Duration::from_secs(session_ttl_s),
    })
}

fn parse<T: std::str::FromStr>(
    v: Option<&(String, String)>,
    default: &str,
    what: &str,
) -> Result<T, ConfigError> {
    match v {
        Some((v, from)) => v
            .trim()
            .parse()
            .map_err(|_| ConfigError(format!("{from} must be {what}, got {v:?}"))),
        None => default
            .parse()
            .map_err(|_| ConfigError(format!("built-in default {default:?} is not {what}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn defaults_apply_without_file_or_env() {
        let c = Config::from_sources(None, env(&[])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.public_url.as_str(), "http://127.0.0.1:8080/");
        assert!(c.redis_url.is_none());
        assert_eq!(c.redis_prefix, "vodgate:");
        assert_eq!(c.default_watch_for_s, 86_400);
        assert_eq!(
            c.origin,
            OriginConfig::Local {
                media_dir: "media".into(),
                accel_redirect: None,
            }
        );
        assert!(c.demo, "demo is on for the embedded store on loopback");
    }

    #[test]
    fn the_accel_redirect_prefix_is_a_plain_path_for_the_local_origin_only() {
        let c = Config::from_sources(None, env(&[("VODGATE_ACCEL_REDIRECT_PREFIX", "/_media/")]))
            .unwrap();
        assert_eq!(
            c.origin,
            OriginConfig::Local {
                media_dir: "media".into(),
                accel_redirect: Some("/_media/".into()),
            }
        );
        for bad in [
            "_media/", "/_media", "/", "/a b/", "/a//b/", "/%2e%2e/", "/a?x/",
        ] {
            let e = Config::from_sources(None, |k| {
                (k == "VODGATE_ACCEL_REDIRECT_PREFIX").then(|| bad.to_owned())
            })
            .unwrap_err();
            assert!(e.0.contains("VODGATE_ACCEL_REDIRECT_PREFIX"), "{bad}: {e}");
        }
        let e = Config::from_sources(
            None,
            env(&[
                ("VODGATE_ORIGIN", "http"),
                (
                    "VODGATE_HTTP_ORIGIN_URL",
                    "https://o.example/{video_id}/master.m3u8",
                ),
                ("VODGATE_ACCEL_REDIRECT_PREFIX", "/_media/"),
            ]),
        )
        .unwrap_err();
        assert!(e.0.contains("local origin only"), "{e}");
    }

    #[test]
    fn demo_is_off_with_redis_or_a_public_address_unless_asked_for() {
        let c = Config::from_sources(None, env(&[("REDIS_URL", "redis://127.0.0.1/")])).unwrap();
        assert!(!c.demo);
        let c = Config::from_sources(None, env(&[("VODGATE_LISTEN", "0.0.0.0:8080")])).unwrap();
        assert!(!c.demo);
        let c = Config::from_sources(
            None,
            env(&[("VODGATE_LISTEN", "0.0.0.0:8080"), ("VODGATE_DEMO", "true")]),
        )
        .unwrap();
        assert!(c.demo);
    }

    #[test]
    fn every_setting_is_documented() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let docs = ["README.md", "docs/apivideo.md", "docs/cdn.md"]
            .map(|f| std::fs::read_to_string(root.join(f)).unwrap())
            .concat();
        for (key, var, _) in SETTINGS {
            assert!(
                docs.contains(&format!("`{var}`")),
                "{var} ({key}) is missing from README.md, docs/apivideo.md and docs/cdn.md"
            );
        }
    }

    #[test]
    fn the_client_is_the_peer_unless_a_trusted_proxy_forwarded_it() {
        let req = |peer: &str, xff: Option<&'static str>| (peer.parse().unwrap(), xff);
        let of = |c: &Config, (peer, xff): (std::net::IpAddr, Option<&'static str>)| {
            c.client_ip(peer, xff)
        };
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let none = Config::from_sources(None, env(&[])).unwrap();
        assert_eq!(
            of(&none, req("127.0.0.1", Some("1.2.3.4"))),
            ip("127.0.0.1")
        );
        let c = Config::from_sources(
            None,
            env(&[("VODGATE_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8")]),
        )
        .unwrap();
        assert_eq!(of(&c, req("127.0.0.1", Some("1.2.3.4"))), ip("1.2.3.4"));
        // Through two trusted hops; a spoofed left-most entry proves nothing.
        assert_eq!(
            of(&c, req("127.0.0.1", Some("6.6.6.6, 1.2.3.4, 10.1.2.3"))),
            ip("1.2.3.4")
        );
        // An untrusted peer's header is ignored; a trusted one without a header is the client.
        assert_eq!(of(&c, req("5.5.5.5", Some("1.2.3.4"))), ip("5.5.5.5"));
        assert_eq!(of(&c, req("127.0.0.1", None)), ip("127.0.0.1"));
        assert_eq!(of(&c, req("127.0.0.1", Some("junk"))), ip("127.0.0.1"));
        // Ports, as some proxies append them; the client cannot hide behind one.
        assert_eq!(
            of(&c, req("127.0.0.1", Some("6.6.6.1, 198.51.100.7:4711"))),
            ip("198.51.100.7")
        );
        assert_eq!(
            of(
                &c,
                req("127.0.0.1", Some("[2001:db8::7]:4711, 10.0.0.2:80"))
            ),
            ip("2001:db8::7")
        );
        assert_eq!(
            of(&c, req("127.0.0.1", Some("[2001:db8::8]"))),
            ip("2001:db8::8")
        );
        // An entry that does not parse: nothing left of it counts, the hop that wrote it is
        // the client (here the trusted 10.0.0.2), never the spoofed 6.6.6.6.
        assert_eq!(
            of(&c, req("127.0.0.1", Some("6.6.6.6, unknown, 10.0.0.2"))),
            ip("10.0.0.2")
        );
        assert_eq!(
            of(&c, req("127.0.0.1", Some("6.6.6.6, 1.2.3.4:99999"))),
            ip("127.0.0.1")
        );
        let err = Config::from_sources(None, env(&[("VODGATE_TRUSTED_PROXIES", "nginx")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("VODGATE_TRUSTED_PROXIES"), "{err}");
    }

    #[test]
    fn http_origin_needs_a_template_with_the_video_id() {
        let e = Config::from_sources(None, env(&[("VODGATE_ORIGIN", "http")])).unwrap_err();
        assert!(e.to_string().contains("VODGATE_HTTP_ORIGIN_URL"), "{e}");
        let e = Config::from_sources(
            None,
            env(&[
                ("VODGATE_ORIGIN", "http"),
                ("VODGATE_HTTP_ORIGIN_URL", "https://o.example/master.m3u8"),
            ]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("{video_id}"), "{e}");
        let c = Config::from_sources(
            None,
            env(&[
                ("VODGATE_ORIGIN", "http"),
                (
                    "VODGATE_HTTP_ORIGIN_URL",
                    "https://o.example/v/{video_id}/index.m3u8",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(
            c.origin,
            OriginConfig::Http {
                url_template: "https://o.example/v/{video_id}/index.m3u8".into()
            }
        );
        let e = Config::from_sources(None, env(&[("VODGATE_ORIGIN", "s3")])).unwrap_err();
        assert!(e.to_string().contains("VODGATE_ORIGIN"), "{e}");
    }

    #[test]
    fn apivideo_origin_needs_a_key_and_has_safe_defaults() {
        let e = Config::from_sources(None, env(&[("VODGATE_ORIGIN", "apivideo")])).unwrap_err();
        assert!(e.to_string().contains("APIVIDEO_API_KEY"), "{e}");
        let c = Config::from_sources(
            None,
            env(&[
                ("VODGATE_ORIGIN", "apivideo"),
                ("APIVIDEO_API_KEY", "sim-api-key"),
            ]),
        )
        .unwrap();
        let OriginConfig::ApiVideo(a) = &c.origin else {
            panic!("{:?}", c.origin)
        };
        assert_eq!(a.base_url.as_str(), "https://ws.api.video/");
        assert_eq!(a.mode, PlaybackMode::Relay);
        assert!(!a.allow_public);
        assert_eq!(a.session_ttl, Duration::from_secs(86_400));
        assert_eq!(
            c.apivideo_api_key.as_ref().map(|k| k.expose_secret()),
            Some("sim-api-key")
        );
        // The key never shows in Debug output.
        assert!(!format!("{c:?}").contains("sim-api-key"));
        // Without the apivideo origin the key is ignored.
        let c = Config::from_sources(None, env(&[("APIVIDEO_API_KEY", "sim-api-key")])).unwrap();
        assert!(c.apivideo_api_key.is_none());
    }

    #[test]
    fn provider_catalogues_parse_or_stop_the_start() {
        let c = Config::from_sources(
            None,
            env(&[
                (
                    "VODGATE_PADDLE_PRICES",
                    "pri_01a=sample:7200, pri_02b=trailer",
                ),
                ("VODGATE_LEMONSQUEEZY_VARIANTS", "custom_data"),
            ]),
        )
        .unwrap();
        let Catalogue::Items(items) = &c.paddle_prices else {
            panic!("{:?}", c.paddle_prices)
        };
        assert_eq!(items["pri_01a"].video_id, "sample");
        assert_eq!(items["pri_01a"].watch_for_s, Some(7200));
        assert_eq!(items["pri_02b"].watch_for_s, None);
        assert_eq!(c.lemonsqueezy_variants, Catalogue::CustomData);
        assert_eq!(
            Config::from_sources(None, env(&[])).unwrap().paddle_prices,
            Catalogue::Unset
        );
        for bad in [
            "pri_01a",
            "pri_01a=",
            "=sample",
            "pri_01a=sample:a day",
            ",",
        ] {
            let pairs: &'static [(&'static str, &'static str)] =
                Box::leak(Box::new([("VODGATE_PADDLE_PRICES", bad)]));
            let e = Config::from_sources(None, env(pairs))
                .unwrap_err()
                .to_string();
            assert!(e.contains("VODGATE_PADDLE_PRICES must be"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_bootstrap_key_that_is_no_api_key_stops_the_start_and_says_the_form() {
        let key_env =
            |v: String| move |k: &str| (k == "VODGATE_BOOTSTRAP_API_KEY").then(|| v.clone());
        // Every key here is minted for the run: none that looks real is written down.
        let hex = |n: usize| {
            let mut s = crate::token::Token::mint("").hash().as_str().to_owned();
            s.truncate(n);
            s
        };
        let secret = crate::token::Token::mint("");
        let prefix = crate::token::API_KEY_PREFIX;
        // "vg_key_" + 32 hex: what an operator guessing the form writes; /auth/api-key
        // would refuse it, so it must not start a server with no working key.
        for bad in [
            format!("{prefix}{}", hex(32)),
            "hunter2".to_owned(),
            format!("{prefix}{}_{}", hex(16).to_uppercase(), secret.reveal()),
            format!("{prefix}{}_short", hex(16)),
        ] {
            let e = Config::from_sources(None, key_env(bad.clone()))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("VODGATE_BOOTSTRAP_API_KEY is not an API key"),
                "{e}"
            );
            assert!(e.contains(crate::token::API_KEY_FORM), "{e}");
            assert!(!e.contains(&bad), "the key is never printed: {e}");
        }
        let good = format!("{prefix}{}_{}", hex(16), secret.reveal());
        let c = Config::from_sources(None, key_env(good)).unwrap();
        assert!(c.bootstrap_api_key.is_some());
    }

    #[test]
    fn cdn_settings_stop_the_start_when_wrong_and_never_fall_back() {
        let err = |pairs: &'static [(&'static str, &'static str)]| {
            Config::from_sources(None, env(pairs))
                .unwrap_err()
                .to_string()
        };
        const BASE: (&str, &str) = (
            "VODGATE_CDN_BASE_URL",
            "https://cdn.shop.example/media/{video_id}/{path}",
        );
        assert!(err(&[("VODGATE_DELIVERY", "cdn")]).contains("VODGATE_CDN_BASE_URL"));
        assert!(err(&[("VODGATE_DELIVERY", "edge")]).contains("relay or cdn"));
        assert!(err(&[BASE]).contains("VODGATE_CDN_TOKEN"));
        assert!(err(&[("VODGATE_CDN_TOKEN", "akamai")]).contains("VODGATE_CDN_BASE_URL is not"));
        assert!(
            err(&[
                (
                    "VODGATE_CDN_BASE_URL",
                    "https://cdn.shop.example/media/{path}"
                ),
                ("VODGATE_CDN_TOKEN", "none")
            ])
            .contains("{video_id}")
        );
        assert!(err(&[BASE, ("VODGATE_CDN_TOKEN", "fastly")]).contains("cat, cloudfront"));
        assert!(err(&[BASE, ("VODGATE_CDN_TOKEN", "akamai")]).contains("VODGATE_CDN_KEY"));
        assert!(
            err(&[
                BASE,
                ("VODGATE_CDN_TOKEN", "cat"),
                ("VODGATE_CDN_KEY", "not-hex"),
                ("VODGATE_CDN_KEY_ID", "k")
            ])
            .contains("64 hex digits")
        );
        assert!(
            err(&[
                BASE,
                ("VODGATE_CDN_TOKEN", "none"),
                ("VODGATE_CDN_TOKEN_TTL_S", "90000")
            ])
            .contains("between 30 and 86400")
        );
        assert!(
            err(&[
                BASE,
                ("VODGATE_CDN_TOKEN", "none"),
                ("VODGATE_CDN_TOKEN_DELIVERY", "header")
            ])
            .contains("query or cookie")
        );
        assert!(
            err(&[
                BASE,
                ("VODGATE_CDN_TOKEN", "none"),
                ("VODGATE_ORIGIN", "apivideo"),
                ("APIVIDEO_API_KEY", "sim-api-key")
            ])
            .contains("api.video is its own CDN")
        );
        let c = Config::from_sources(
            None,
            env(&[
                BASE,
                ("VODGATE_DELIVERY", "cdn"),
                ("VODGATE_CDN_TOKEN", "secure_link"),
                ("VODGATE_CDN_KEY", "a-long-secret-value"),
            ]),
        )
        .unwrap();
        assert_eq!(c.delivery, Delivery::Cdn);
        let cdn = c.cdn.as_ref().unwrap();
        assert_eq!(cdn.kind(), crate::cdn::TokenKind::SecureLink);
        assert_eq!(cdn.ttl(), Duration::from_secs(21_600));
        assert!(
            !format!("{c:?}").contains("a-long-secret-value"),
            "the key is never printed"
        );
        assert!(
            !c.describe()
                .iter()
                .any(|(_, v)| v.contains("a-long-secret-value"))
        );
        // No CDN settings: relay, no CDN.
        let c = Config::from_sources(None, env(&[])).unwrap();
        assert_eq!((c.delivery, c.cdn.is_none()), (Delivery::Relay, true));
    }

    #[test]
    fn apivideo_settings_are_validated() {
        let c = Config::from_sources(
            None,
            env(&[
                ("VODGATE_ORIGIN", "apivideo"),
                ("APIVIDEO_API_KEY", "sandbox-key-123"),
                ("APIVIDEO_BASE_URL", "https://sandbox.api.video"),
                ("VODGATE_APIVIDEO_MODE", "embed"),
                ("VODGATE_APIVIDEO_ALLOW_PUBLIC", "true"),
                ("VODGATE_APIVIDEO_SESSION_TTL_S", "3600"),
            ]),
        )
        .unwrap();
        assert_eq!(
            c.frame_sources,
            vec!["https://embed.api.video".to_owned()],
            "embed mode may frame api.video's player"
        );
        assert_eq!(
            c.origin,
            OriginConfig::ApiVideo(ApiVideoConfig {
                base_url: "https://sandbox.api.video/".parse().unwrap(),
                mode: PlaybackMode::Embed,
                allow_public: true,
                session_ttl: Duration::from_secs(3600),
            })
        );
        for (var, bad) in [
            ("APIVIDEO_BASE_URL", "ftp://ws.api.video"),
            ("APIVIDEO_BASE_URL", "https://ws.api.video/v1?x=1"),
            ("VODGATE_APIVIDEO_MODE", "proxy"),
            ("VODGATE_APIVIDEO_ALLOW_PUBLIC", "maybe"),
            ("VODGATE_APIVIDEO_SESSION_TTL_S", "999999"),
            ("APIVIDEO_API_KEY", "short"),
        ] {
            let vars: Vec<(String, String)> = vec![
                ("VODGATE_ORIGIN".into(), "apivideo".into()),
                (
                    "APIVIDEO_API_KEY".into(),
                    if var == "APIVIDEO_API_KEY" {
                        bad.into()
                    } else {
                        "sim-api-key".into()
                    },
                ),
                (var.into(), bad.into()),
            ];
            let e = Config::from_sources(None, |k| {
                vars.iter()
                    .rev()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.clone())
            })
            .unwrap_err();
            let names = if var == "VODGATE_APIVIDEO_SESSION_TTL_S" {
                "apivideo_session_ttl_s"
            } else {
                var
            };
            assert!(e.to_string().contains(names), "{var}={bad}: {e}");
            assert!(
                !e.to_string().contains("sim-api-key"),
                "the key never appears in errors"
            );
        }
    }

    #[test]
    fn env_overrides_file_which_overrides_defaults() {
        let dir = std::env::temp_dir().join(format!("vodgate-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("vodgate.toml");
        std::fs::write(
            &f,
            "listen = \"0.0.0.0:9000\"\nlaunch_ttl_s = 30\nredis_prefix = \"file:\"\n",
        )
        .unwrap();
        let c = Config::from_sources(Some(&f), env(&[("VODGATE_REDIS_PREFIX", "env:")])).unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(c.launch_ttl, Duration::from_secs(30));
        assert_eq!(c.redis_prefix, "env:");
        assert_eq!(c.public_url.as_str(), "http://0.0.0.0:9000/");
    }

    #[test]
    fn replicas_to_wait_for_need_redis_and_a_sane_count() {
        const REDIS: (&str, &str) = ("REDIS_URL", "redis://127.0.0.1:6379/");
        let c = Config::from_sources(None, env(&[REDIS])).unwrap();
        assert_eq!(c.redis_wait_replicas, 0, "the master's word by default");
        let c = Config::from_sources(None, env(&[REDIS, ("VODGATE_REDIS_WAIT_REPLICAS", "1")]))
            .unwrap();
        assert_eq!(c.redis_wait_replicas, 1);
        for (vars, says) in [
            (
                vec![("VODGATE_REDIS_WAIT_REPLICAS", "1")],
                "needs REDIS_URL",
            ),
            (
                vec![REDIS, ("VODGATE_REDIS_WAIT_REPLICAS", "17")],
                "between 0 and 16",
            ),
            (
                vec![REDIS, ("VODGATE_REDIS_WAIT_REPLICAS", "-1")],
                "whole number",
            ),
        ] {
            let e = Config::from_sources(None, env(vars.leak()))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("VODGATE_REDIS_WAIT_REPLICAS") && e.contains(says),
                "{e}"
            );
        }
    }

    #[test]
    fn bad_settings_fail_with_a_sentence_naming_them() {
        let e = Config::from_sources(None, env(&[("VODGATE_LISTEN", "localhost")])).unwrap_err();
        assert!(e.to_string().contains("VODGATE_LISTEN"), "{e}");
        let e = Config::from_sources(None, env(&[("REDIS_URL", "http://x")])).unwrap_err();
        assert!(e.to_string().contains("REDIS_URL"), "{e}");
        let e = Config::from_sources(None, env(&[("VODGATE_PUBLIC_URL", "ftp://x")])).unwrap_err();
        assert!(e.to_string().contains("VODGATE_PUBLIC_URL"), "{e}");
        let e = Config::from_sources(None, env(&[("VODGATE_LAUNCH_TTL_S", "soon")])).unwrap_err();
        assert!(e.to_string().contains("VODGATE_LAUNCH_TTL_S"), "{e}");
    }

    #[test]
    fn redis_url_may_name_a_cluster_by_its_seed_nodes() {
        let c = Config::from_sources(
            None,
            env(&[(
                "REDIS_URL",
                "redis+cluster://10.0.0.1:7000,10.0.0.2:7001,10.0.0.3:7002/",
            )]),
        )
        .unwrap();
        assert_eq!(
            c.redis_url(),
            Some("redis+cluster://10.0.0.1:7000,10.0.0.2:7001,10.0.0.3:7002/")
        );
        assert!(
            Config::from_sources(
                None,
                env(&[("REDIS_URL", "rediss+cluster://:secret@redis-1:7000/")])
            )
            .is_ok()
        );
        for bad in [
            "redis+cluster://10.0.0.1/",
            "redis+cluster://10.0.0.1:7000/2",
            "redis+cluster://:hunter2@a:1,b/",
        ] {
            let e = Config::from_sources(None, |k| (k == "REDIS_URL").then(|| bad.to_owned()))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("REDIS_URL") && e.contains("redis+cluster://"),
                "{e}"
            );
            assert!(
                !e.contains("hunter2"),
                "the password stays out of the message: {e}"
            );
        }
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let f = std::env::temp_dir().join(format!("vodgate-cfg-{}.toml", uuid::Uuid::new_v4()));
        std::fs::write(&f, "lisen = \"x\"\n").unwrap();
        let e = Config::from_sources(Some(&f), env(&[])).unwrap_err();
        assert!(e.to_string().contains("unknown setting `lisen`"), "{e}");
    }
}
