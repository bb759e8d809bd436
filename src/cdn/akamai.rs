//! Akamai EdgeAuth (Auth Token 2.0): `st=<start>~exp=<end>~acl=<path>*~id=<session>~hmac=<hex>`,
//! the HMAC-SHA256 of everything before `~hmac` under the hex-decoded key, in the order
//! Akamai's own generators write the fields (`ip`, `st`, `exp`, `acl`, `id`, `data`).
//! Hand-written: it is one HMAC over one line, and no maintained Rust crate makes it. The
//! tests check it against Akamai's `akamai-edgeauth` package from PyPI.
//!
//! `id` is the playback id, so a token that leaks names the playback it came from (Akamai's
//! Access Revocation add-on keys its deny list on it).

use super::{CdnError, Grant};
use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretSlice};

pub struct AkamaiSigner {
    key: SecretSlice<u8>,
}

impl AkamaiSigner {
    pub fn new(hex_key: &str) -> Result<Self, CdnError> {
        let key = hex::decode(hex_key.trim()).map_err(|_| {
            CdnError("VODGATE_CDN_KEY for akamai must be the token key in hex (the \"Key\" of the Auth Token 2.0 Verification behavior)".into())
        })?;
        if key.len() < 16 {
            return Err(CdnError(
                "VODGATE_CDN_KEY for akamai is too short: use at least 16 bytes (32 hex digits)"
                    .into(),
            ));
        }
        Ok(Self { key: key.into() })
    }

    /// The token value (what follows `hdnts=`).
    pub fn sign(&self, g: &Grant) -> String {
        let fields = format!(
            "st={}~exp={}~acl={}*~id={}",
            g.now, g.expires, g.base_path, g.playback_id
        );
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(self.key.expose_secret())
            .expect("HMAC takes any key length");
        mac.update(fields.as_bytes());
        format!("{fields}~hmac={}", hex::encode(mac.finalize().into_bytes()))
    }
}
