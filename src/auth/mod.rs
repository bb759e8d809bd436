//! Admin authentication, in api.video's shapes so operators already know them:
//! an API key (`vg_key_…`, argon2id-hashed) is exchanged at `POST /auth/api-key` for a
//! 1 h access token (`vg_at_…`) and a rotating refresh token (`vg_rt_…`). Presenting a
//! refresh token twice means it leaked: the whole family, its live access tokens included,
//! is revoked. `/v1/*` also takes HTTP Basic with the key as user name.
//!
//! Store keys: `key:{k:<id>}` (the key record), `keys` (index), `fam:{k:<id>}:<family>:revoked`
//! (same slot as the key so one MGET checks both), `at:<sha256>`, `rt:<sha256>`,
//! `rtused:<sha256>`, `authfail:<sha256(ip)>`.

mod api_keys;
mod throttle;
mod tokens;

pub use api_keys::{ApiKey, ApiKeyId, NewApiKey};
pub use throttle::Throttle;
pub use tokens::TokenPair;

use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a key may do. Each admin route states the one it needs in its extractor's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    #[serde(rename = "entitlements:read")]
    EntitlementsRead,
    #[serde(rename = "entitlements:write")]
    EntitlementsWrite,
    /// Mint, list and delete api.video delegated upload tokens.
    #[serde(rename = "uploads:write")]
    UploadsWrite,
}

impl Scope {
    pub const ALL: &'static [Scope] = &[
        Scope::EntitlementsRead,
        Scope::EntitlementsWrite,
        Scope::UploadsWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::EntitlementsRead => "entitlements:read",
            Scope::EntitlementsWrite => "entitlements:write",
            Scope::UploadsWrite => "uploads:write",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        Self::ALL
            .iter()
            .copied()
            .find(|sc| sc.as_str() == s.trim())
            .ok_or_else(|| format!("unknown scope {s:?}; known scopes: {}", Self::names()))
    }

    pub fn names() -> String {
        Self::ALL
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is calling the admin API, once authenticated.
#[derive(Debug, Clone)]
pub struct Principal {
    pub key_id: ApiKeyId,
    pub scopes: Vec<Scope>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("the refresh token is invalid")]
    InvalidRefreshToken,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("hashing failed: {0}")]
    Hashing(String),
}

/// The admin-auth service: keys, token pairs, verification.
#[derive(Clone)]
pub struct AdminAuth {
    store: Store,
    /// argon2 runs at most this many at once (see `api_keys::MAX_CONCURRENT_HASHES`): the
    /// blocking pool also serves media reads.
    hashing: std::sync::Arc<tokio::sync::Semaphore>,
    /// Keys that verified lately, so HTTP Basic costs a lookup, not an argon2 run, per call.
    verified: std::sync::Arc<api_keys::VerifiedKeys>,
}

impl AdminAuth {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            hashing: std::sync::Arc::new(tokio::sync::Semaphore::new(
                api_keys::MAX_CONCURRENT_HASHES,
            )),
            verified: Default::default(),
        }
    }
}
