//! CTA-5007 Common Access Token: a CWT (CBOR Web Token, tag 61) in COSE_Mac0 (tag 17) with
//! HMAC-SHA256 (`alg` 5) and the key's `kid` in the protected header. Claims: `iss` vodgate's
//! public URL, `iat`/`nbf` now, `exp`, `cti` the playback id, `catv` 1 and `catu` restricting
//! the path to the video's prefix on the CDN. Made with the `common-access-token` crate; the
//! tests check the tokens with Eyevinn's `@eyevinn/cat` (npm), the validator CDNs' own
//! examples use.
//! In a query the token is URL-safe base64 without padding, under `cat` (node-cat's
//! default parameter); in a cookie, under `cta-common-access-token`.

use super::{CdnError, Grant};
use common_access_token::{
    Algorithm, KeyId, RegisteredClaims, TokenBuilder, cat_keys, catu, catv, uri_components,
};
use secrecy::{ExposeSecret, SecretSlice};
use std::collections::BTreeMap;

pub struct CatSigner {
    key: SecretSlice<u8>,
    kid: String,
    issuer: String,
}

impl CatSigner {
    pub fn new(hex_key: &str, kid: String, issuer: String) -> Result<Self, CdnError> {
        let key = hex::decode(hex_key.trim())
            .ok()
            .filter(|k| k.len() == 32)
            .ok_or_else(|| {
                CdnError(
                    "VODGATE_CDN_KEY for cat must be the 256-bit HMAC key in hex (64 hex digits)"
                        .into(),
                )
            })?;
        if kid.is_empty() {
            return Err(CdnError(
                "VODGATE_CDN_KEY_ID for cat must be the key's kid".into(),
            ));
        }
        Ok(Self {
            key: key.into(),
            kid,
            issuer,
        })
    }

    pub fn sign(&self, g: &Grant) -> String {
        let mut components = BTreeMap::new();
        components.insert(uri_components::PATH, catu::prefix_match(g.base_path));
        let token = TokenBuilder::new()
            .algorithm(Algorithm::HmacSha256)
            .protected_key_id(KeyId::string(self.kid.as_str()))
            .registered_claims(
                RegisteredClaims::new()
                    .with_issuer(self.issuer.as_str())
                    .with_issued_at(g.now.max(0) as u64)
                    .with_not_before(g.now.max(0) as u64)
                    .with_expiration(g.expires.max(0) as u64)
                    .with_cti(g.playback_id.as_bytes().to_vec()),
            )
            .custom_cbor(cat_keys::CATV, catv::create())
            .custom_cbor(cat_keys::CATU, catu::create(components))
            .sign(self.key.expose_secret())
            .and_then(|t| t.to_bytes())
            // Only CBOR encoding into a Vec can fail here, which it does not.
            .expect("a CAT of text, integers and bytes encodes");
        super::b64url(&token)
    }
}
