//! vodgate: paid, time-limited access to private video.
//!
//! Layers, each importing only from those below it (`ARCHITECTURE.md` has the codemap):
//!
//! - `http`, `cli`: the ways in (actix-web; clap). Parse, call a use case, render.
//! - `app`: the use cases (grant, launch, revoke/refund, start and authorize a playback).
//! - `domain`, `auth`, `media`, `store`: the words, admin credentials, video and origins,
//!   and the state store with its typed keys.
//! - `config`, `cdn`, `token`, `webhook`, `metrics`, `telemetry`: leaves used throughout.

/// The use cases, written once for every caller.
pub mod app;
/// Admin authentication: API keys, access and refresh tokens, the failed-login throttle.
pub mod auth;
/// CDN delivery: segment URIs on the operator's CDN and the token it checks (cat,
/// cloudfront, akamai, secure_link).
pub mod cdn;
/// Command-line interface (`serve`, `api-key …`, `grant`, `revoke`).
pub mod cli;
/// Typed, layered configuration validated at boot.
pub mod config;
/// Entitlements, playbacks, ids and deny reasons: the words operators and viewers use.
pub mod domain;
/// The HTTP layer: state, router, errors, extractors, pages, OpenAPI.
pub mod http;
/// Video: asset paths, HLS manifests, origins.
pub mod media;
/// Prometheus metrics on their own listener.
pub mod metrics;
/// The state store contract, its Redis and in-memory implementations, and its keys.
pub mod store;
/// Logging with tokens redacted.
pub mod telemetry;
/// Random opaque tokens with readable prefixes, stored only as hashes.
pub mod token;
/// Payment webhook signatures (HMAC-SHA256, Stripe-style header).
pub mod webhook;
