//! Access and refresh tokens. Each refresh token belongs to a family started by one
//! `/auth/api-key` exchange; rotation keeps the family, reuse kills it.

use super::{AdminAuth, ApiKey, ApiKeyId, AuthError, Principal, Scope};
use crate::store::StoreError;
use crate::token::{Token, TokenHash, looks_like};
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub const ACCESS_PREFIX: &str = "vg_at_";
pub const REFRESH_PREFIX: &str = "vg_rt_";
pub const ACCESS_TTL: Duration = Duration::from_secs(3600);
/// A refresh family left unused this long dies; operators re-exchange their key.
pub const REFRESH_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// The response of `/auth/api-key` and `/auth/refresh`, in api.video's shape.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    /// Send as `Authorization: Bearer <access_token>`.
    #[schema(pattern = "^vg_at_[A-Za-z0-9_-]{43}$", example = "vg_at_…")]
    pub access_token: String,
    /// Works once, at `POST /auth/refresh`; presenting it again revokes its whole family.
    #[schema(pattern = "^vg_rt_[A-Za-z0-9_-]{43}$", example = "vg_rt_…")]
    pub refresh_token: String,
    #[schema(value_type = String, pattern = "^Bearer$", example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds the access token stays valid.
    #[schema(example = 3600)]
    pub expires_in: u64,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenPair([redacted])")
    }
}

#[derive(Serialize, Deserialize)]
struct Grant {
    key_id: ApiKeyId,
    family: String,
    scopes: Vec<Scope>,
}

fn family_revoked_key(key: &ApiKeyId, family: &str) -> crate::store::keys::Key {
    crate::store::keys::token_family_revoked(key.as_str(), family)
}

fn corrupt(e: serde_json::Error) -> AuthError {
    AuthError::Store(StoreError::Corrupt(e.to_string()))
}

impl AdminAuth {
    /// `POST /auth/api-key`: a new family.
    pub async fn exchange_api_key(&self, presented: &str) -> Result<TokenPair, AuthError> {
        let key = self.verify_key(presented).await?;
        let family = hex::encode(rand::random::<[u8; 12]>());
        self.issue(&key, family).await
    }

    async fn issue(&self, key: &ApiKey, family: String) -> Result<TokenPair, AuthError> {
        let grant = serde_json::to_string(&Grant {
            key_id: key.id.clone(),
            family,
            scopes: key.scopes.clone(),
        })
        .map_err(corrupt)?;
        let access = Token::mint(ACCESS_PREFIX);
        let refresh = Token::mint(REFRESH_PREFIX);
        self.store
            .set(
                &crate::store::keys::access_token(&access.hash()),
                &grant,
                ACCESS_TTL,
            )
            .await?;
        self.store
            .set(
                &crate::store::keys::refresh_token(&refresh.hash()),
                &grant,
                REFRESH_TTL,
            )
            .await?;
        Ok(TokenPair {
            access_token: access.reveal().to_owned(),
            refresh_token: refresh.reveal().to_owned(),
            token_type: "Bearer",
            expires_in: ACCESS_TTL.as_secs(),
        })
    }

    /// `POST /auth/refresh`: rotate. A refresh token works once; a second presentation
    /// revokes its family (the legitimate holder and the thief both lose their tokens, and
    /// the operator re-exchanges the key).
    pub async fn refresh(&self, presented: &str) -> Result<TokenPair, AuthError> {
        if !looks_like(presented, REFRESH_PREFIX) {
            return Err(AuthError::InvalidRefreshToken);
        }
        let hash = TokenHash::of(presented);
        let Some(json) = self
            .store
            .get(&crate::store::keys::refresh_token(&hash))
            .await?
        else {
            return Err(AuthError::InvalidRefreshToken);
        };
        let grant: Grant = serde_json::from_str(&json).map_err(corrupt)?;
        let first_use = self
            .store
            .set_nx(
                &crate::store::keys::refresh_token_used(&hash),
                "1",
                REFRESH_TTL,
            )
            .await?;
        if !first_use {
            self.revoke_family(&grant.key_id, &grant.family).await?;
            tracing::warn!(
                security.event = "refresh_token_reuse",
                api_key.id = %grant.key_id,
                token.family = %grant.family,
                "a refresh token was presented twice; its whole token family is revoked"
            );
            return Err(AuthError::InvalidRefreshToken);
        }
        let keys = [
            grant.key_id.record_key(),
            family_revoked_key(&grant.key_id, &grant.family),
        ];
        let [key, revoked] =
            <[Option<String>; 2]>::try_from(self.store.mget(&[&keys[0], &keys[1]]).await?)
                .map_err(|_| {
                    AuthError::Store(StoreError::Corrupt("MGET answered the wrong count".into()))
                })?;
        let (Some(key), None) = (key, revoked) else {
            return Err(AuthError::InvalidRefreshToken);
        };
        let key: ApiKey = serde_json::from_str(&key).map_err(corrupt)?;
        self.issue(&key, grant.family).await
    }

    /// Nothing caches tokens (every check reads the family's marker in the same MGET as the
    /// grant), so the marker alone revokes on every instance.
    async fn revoke_family(&self, key: &ApiKeyId, family: &str) -> Result<(), AuthError> {
        self.store
            .set(&family_revoked_key(key, family), "1", REFRESH_TTL)
            .await?;
        Ok(())
    }

    /// Resolve `Authorization: Bearer vg_at_…`. The key record and the family's revocation
    /// marker share a hash slot, so both are checked in one round trip.
    pub async fn authenticate_bearer(&self, presented: &str) -> Result<Principal, AuthError> {
        if !looks_like(presented, ACCESS_PREFIX) {
            return Err(AuthError::InvalidCredentials);
        }
        let Some(json) = self
            .store
            .get(&crate::store::keys::access_token(&TokenHash::of(presented)))
            .await?
        else {
            return Err(AuthError::InvalidCredentials);
        };
        let grant: Grant = serde_json::from_str(&json).map_err(corrupt)?;
        let keys = [
            grant.key_id.record_key(),
            family_revoked_key(&grant.key_id, &grant.family),
        ];
        let found = self.store.mget(&[&keys[0], &keys[1]]).await?;
        match found.as_slice() {
            [Some(_), None] => Ok(Principal {
                key_id: grant.key_id,
                scopes: grant.scopes,
            }),
            _ => Err(AuthError::InvalidCredentials),
        }
    }

    /// HTTP Basic with a key that verified lately (and is still the key on record): no
    /// argon2, nothing to count against the client. `None`: verify it with `authenticate_key`.
    pub async fn remembered_key(&self, presented: &str) -> Result<Option<Principal>, AuthError> {
        Ok(self.remembered(presented).await?.map(|key| Principal {
            key_id: key.id,
            scopes: key.scopes,
        }))
    }

    /// Resolve HTTP Basic (`key:` with an empty password), as api.video accepts.
    pub async fn authenticate_key(&self, presented: &str) -> Result<Principal, AuthError> {
        let key = self.verify_key(presented).await?;
        Ok(Principal {
            key_id: key.id,
            scopes: key.scopes,
        })
    }
}
