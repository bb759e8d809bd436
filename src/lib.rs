//! vodgate: paid, time-limited access to private video.
//!
//! Read `ARCHITECTURE.md` for the codemap. Each module below says why it exists.

/// The one decision every playback request goes through, and its cache.
pub mod access;
/// The audit trail: the evidence for chargeback disputes.
pub mod audit;
/// Admin authentication: API keys, access and refresh tokens, scope extractors.
pub mod auth;
/// Command-line interface (`serve`, `api-key …`).
pub mod cli;
/// Typed, layered configuration validated at boot.
pub mod config;
/// Entitlements, ids and deny reasons: the words operators and viewers use.
pub mod domain;
/// Entitlement persistence and rules on top of the store.
pub mod entitlements;
/// One error shape (problem+json) for the API.
pub mod error;
/// HLS: playlist rewriting and asset path validation (pure functions).
pub mod hls;
/// Prometheus metrics on their own listener.
pub mod metrics;
/// The OpenAPI document (`/openapi.json`) and the docs page (`/docs/`).
pub mod openapi;
/// HTML pages (askama templates).
pub mod pages;
/// HTTP routes, one module per resource.
pub mod routes;
/// Security headers (CSP, nosniff, …) on every response.
pub mod security;
/// Binding the listener and wiring the app.
pub mod startup;
/// The state store contract and its Redis and in-memory implementations.
pub mod store;
/// Stream limits: how many playbacks of one entitlement may run at once.
pub mod streams;
/// Logging with tokens redacted.
pub mod telemetry;
/// Random opaque tokens with readable prefixes, stored only as hashes.
pub mod token;
/// Where the video bytes come from: a folder or an HTTP HLS origin.
pub mod upstream;
/// Viewer sessions: the HttpOnly cookie a launch link turns into.
pub mod viewer_session;
/// Payment webhook signatures (HMAC-SHA256, Stripe-style header).
pub mod webhook;
