//! API keys: `vg_key_<16 hex id>_<secret>`. The id lets us find the record without
//! scanning; the secret is checked with argon2id off the async reactor. An unknown id is
//! checked against a dummy hash so it costs the same time as a wrong secret.

use super::{AdminAuth, AuthError, Scope};
use crate::store::StoreError;
use crate::token::{TokenHash, constant_time_eq};
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::store::FOREVER;
use crate::token::API_KEY_PREFIX as PREFIX;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ApiKeyId(String);

impl ApiKeyId {
    fn new() -> Self {
        let b: [u8; 8] = rand::random();
        Self(hex::encode(b))
    }
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!("{s:?} is not an API key id (16 hex digits)"))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub(crate) fn record_key(&self) -> crate::store::keys::Key {
        crate::store::keys::api_key(&self.0)
    }
}
impl TryFrom<String> for ApiKeyId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}
impl From<ApiKeyId> for String {
    fn from(v: ApiKeyId) -> String {
        v.0
    }
}
impl std::fmt::Display for ApiKeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stored key: never the secret, only its argon2id PHC string.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    #[serde(rename = "hash")]
    pub(crate) phc: String,
}

/// A key just created: the only moment its secret exists outside the caller's hands.
pub struct NewApiKey {
    pub key: ApiKey,
    pub secret: SecretString,
}

fn split(presented: &str) -> Option<(ApiKeyId, &str)> {
    let (id, secret) = crate::token::api_key_parts(presented)?;
    Some((ApiKeyId(id.to_owned()), secret))
}

fn dummy_phc() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        Argon2::default()
            .hash_password(b"vodgate-dummy-secret-for-equal-timing")
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// argon2 hashes or verifications running at once, per process. Each takes ~19 MiB and tens
/// of milliseconds of a core on the blocking pool (which media reads use too); a burst of
/// keys, right or wrong, waits for a permit instead of taking every thread.
pub(super) const MAX_CONCURRENT_HASHES: usize = 2;
/// How long a key that verified is remembered (by the SHA-256 of what was presented).
const VERIFIED_FOR: Duration = Duration::from_secs(60);
/// Keys remembered at most; past it the memory starts over.
const VERIFIED_MAX: usize = 1_000;

/// Keys that verified lately: SHA-256 of the presented key → the key's id and the argon2
/// hash it verified against. A hit still reads the key's record (one GET, as a bearer
/// token's check does) and stands only if the record holds that same hash, so a revoked
/// (deleted) or replaced key is refused at its next call on every instance, with no event
/// to wait for. Only a digest of a verified key is held, and only in this process.
/// Hand-written rather than a TTL cache crate: a map, a time and a size cap are all it is.
#[derive(Default)]
pub(super) struct VerifiedKeys(std::sync::RwLock<HashMap<TokenHash, (Instant, ApiKeyId, String)>>);

impl VerifiedKeys {
    fn get(&self, presented: &TokenHash) -> Option<(ApiKeyId, String)> {
        let m = self.0.read().unwrap_or_else(PoisonError::into_inner);
        let (at, id, phc) = m.get(presented)?;
        (at.elapsed() < VERIFIED_FOR).then(|| (id.clone(), phc.clone()))
    }
    fn put(&self, presented: TokenHash, key: &ApiKey) {
        let mut m = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if m.len() >= VERIFIED_MAX {
            m.clear();
        }
        m.insert(presented, (Instant::now(), key.id.clone(), key.phc.clone()));
    }
    fn forget(&self, presented: &TokenHash) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(presented);
    }
}

fn verify(secret: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

impl AdminAuth {
    pub async fn create_key(&self, name: &str, scopes: Vec<Scope>) -> Result<NewApiKey, AuthError> {
        let id = ApiKeyId::new();
        let secret_part = crate::token::Token::mint("");
        let secret = format!("{PREFIX}{id}_{}", secret_part.reveal());
        self.store_key(id, name, scopes, secret).await
    }

    /// Accept a key chosen outside vodgate (`VODGATE_BOOTSTRAP_API_KEY`). Its id is derived
    /// from its hash, so restarting with the same key does not pile up records.
    pub async fn import_key(
        &self,
        name: &str,
        presented: &SecretString,
    ) -> Result<ApiKey, AuthError> {
        let secret = presented.expose_secret().to_owned();
        let id = match split(&secret) {
            Some((id, _)) => id,
            None => ApiKeyId(crate::token::TokenHash::of(&secret).as_str()[..16].to_owned()),
        };
        Ok(self
            .store_key(id, name, Scope::ALL.to_vec(), secret)
            .await?
            .key)
    }

    async fn store_key(
        &self,
        id: ApiKeyId,
        name: &str,
        scopes: Vec<Scope>,
        secret: String,
    ) -> Result<NewApiKey, AuthError> {
        let to_hash = secret.clone();
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|e| AuthError::Hashing(e.to_string()))?;
        let phc = tokio::task::spawn_blocking(move || {
            Argon2::default()
                .hash_password(to_hash.as_bytes())
                .map(|h| h.to_string())
        })
        .await
        .map_err(|e| AuthError::Hashing(e.to_string()))?
        .map_err(|e| AuthError::Hashing(e.to_string()))?;
        let key = ApiKey {
            id: id.clone(),
            name: name.to_owned(),
            scopes,
            created_at: Utc::now(),
            phc,
        };
        let json = serde_json::to_string(&key).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.store.set(&id.record_key(), &json, FOREVER).await?;
        self.store
            .set_add(&crate::store::keys::api_keys(), id.as_str(), FOREVER)
            .await?;
        Ok(NewApiKey {
            key,
            secret: SecretString::from(secret),
        })
    }

    pub async fn list_keys(&self) -> Result<Vec<ApiKey>, AuthError> {
        let mut out = vec![];
        for id in self
            .store
            .set_members(&crate::store::keys::api_keys())
            .await?
        {
            let Ok(id) = ApiKeyId::parse(&id) else {
                continue;
            };
            if let Some(k) = self.load_key(&id).await? {
                out.push(k);
            }
        }
        out.sort_by_key(|k| k.created_at);
        Ok(out)
    }

    pub(crate) async fn load_key(&self, id: &ApiKeyId) -> Result<Option<ApiKey>, AuthError> {
        match self.store.get(&id.record_key()).await? {
            None => Ok(None),
            Some(json) => Ok(Some(
                serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            )),
        }
    }

    /// Deletes the key; tokens minted from it stop working at their next use, because
    /// every access-token check reads the key record in the same round trip.
    pub async fn revoke_key(&self, id: &ApiKeyId) -> Result<bool, AuthError> {
        let existed = self.store.get(&id.record_key()).await?.is_some();
        self.store.del(&id.record_key()).await?;
        self.store
            .set_remove(&crate::store::keys::api_keys(), id.as_str())
            .await?;
        Ok(existed)
    }

    /// The presented key, if it verified within `VERIFIED_FOR` and its record still holds
    /// the hash it verified against: a record read instead of argon2.
    pub(crate) async fn remembered(&self, presented: &str) -> Result<Option<ApiKey>, AuthError> {
        let digest = TokenHash::of(presented);
        let Some((id, phc)) = self.verified.get(&digest) else {
            return Ok(None);
        };
        match self.load_key(&id).await? {
            Some(key) if constant_time_eq(key.phc.as_bytes(), phc.as_bytes()) => Ok(Some(key)),
            // Revoked or replaced since: forget it; what was presented is verified anew.
            _ => {
                self.verified.forget(&digest);
                Ok(None)
            }
        }
    }

    /// Check a presented API key. Same cost whether the id is unknown or the secret wrong.
    /// A key that verified within `VERIFIED_FOR` costs a record read instead of argon2.
    pub async fn verify_key(&self, presented: &str) -> Result<ApiKey, AuthError> {
        if let Some(key) = self.remembered(presented).await? {
            return Ok(key);
        }
        let digest = TokenHash::of(presented);
        let found = match split(presented) {
            Some((id, _)) => self.load_key(&id).await?,
            None => None,
        };
        let phc = found
            .as_ref()
            .map(|k| k.phc.clone())
            .unwrap_or_else(|| dummy_phc().to_owned());
        let secret = presented.to_owned();
        let span = tracing::Span::current();
        let permit = self
            .hashing
            .acquire()
            .await
            .map_err(|e| AuthError::Hashing(e.to_string()))?;
        let ok = tokio::task::spawn_blocking(move || span.in_scope(|| verify(&secret, &phc)))
            .await
            .map_err(|e| AuthError::Hashing(e.to_string()))?;
        drop(permit);
        match (ok, found) {
            (true, Some(key)) => {
                self.verified.put(digest, &key);
                Ok(key)
            }
            _ => Err(AuthError::InvalidCredentials),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_format_splits_into_id_and_secret() {
        let minted = crate::token::Token::mint("");
        let key = format!("{PREFIX}0123456789abcdef_{}", minted.reveal());
        let (id, secret) = split(&key).unwrap();
        assert_eq!(id.as_str(), "0123456789abcdef");
        assert_eq!(secret, minted.reveal());
        assert!(split(&format!("{PREFIX}nothex_{}", minted.reveal())).is_none());
        assert!(split("vg_at_0123456789abcdef_x").is_none());
    }

    #[test]
    fn dummy_hash_never_verifies_a_real_looking_key() {
        let key = format!(
            "{PREFIX}0123456789abcdef_{}",
            crate::token::Token::mint("").reveal()
        );
        assert!(!verify(&key, dummy_phc()));
    }
}
