//! vodgate: paid, time-limited access to private video.
//!
//! Read `ARCHITECTURE.md` for the codemap. Each module below says why it exists.

/// Admin authentication: API keys, access and refresh tokens, scope extractors.
pub mod auth;
/// Command-line interface (`serve`, `api-key …`).
pub mod cli;
/// Typed, layered configuration validated at boot.
pub mod config;
/// Entitlements, ids and deny reasons: the words operators and viewers use.
pub mod domain;
/// One error shape (problem+json) for the API.
pub mod error;
/// Entitlement persistence and rules on top of the store.
pub mod entitlements;
/// HTTP routes, one module per resource.
pub mod routes;
/// Binding the listener and wiring the app.
pub mod startup;
/// The state store contract and its Redis and in-memory implementations.
pub mod store;
/// Logging with tokens redacted.
pub mod telemetry;
/// Random opaque tokens with readable prefixes, stored only as hashes.
pub mod token;
