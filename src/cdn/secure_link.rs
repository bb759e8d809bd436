//! nginx `secure_link` in its documented md5 form:
//!
//! ```nginx
//! secure_link $arg_md5,$arg_expires;
//! secure_link_md5 "$secure_link_expires$uri <secret>";
//! ```
//!
//! `md5=` is the MD5 of `{expires}{uri} {secret}` in URL-safe base64 without padding, and
//! `expires=` Unix seconds. nginx computes `$uri` decoded, so the hash is taken over the
//! percent-decoded path. Hand-written: it is one MD5 over one line. The tests check it with
//! nginx itself.

use super::CdnError;
use md5::{Digest, Md5};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

#[derive(Clone)]
pub struct SecureLinkSigner {
    secret: Arc<SecretString>,
}

impl SecureLinkSigner {
    pub fn new(secret: &str) -> Result<Self, CdnError> {
        if secret.trim().is_empty() || secret.contains(['"', '\n', '\r']) {
            return Err(CdnError(
                "VODGATE_CDN_KEY for secure_link must be the secret of the secure_link_md5 expression (no quotes or line breaks)".into(),
            ));
        }
        Ok(Self {
            secret: Arc::new(SecretString::from(secret.to_owned())),
        })
    }

    /// The `md5` value for the request path `path` (as sent, percent-encoded or not).
    pub fn md5(&self, path: &str, expires: i64) -> String {
        let uri = percent_encoding::percent_decode_str(path);
        let mut h = Md5::new();
        h.update(expires.to_string().as_bytes());
        for chunk in uri {
            h.update([chunk]);
        }
        h.update(b" ");
        h.update(self.secret.expose_secret().as_bytes());
        super::b64url(&h.finalize())
    }

    pub fn push_query(&self, path: &str, expires: i64, out: &mut String) {
        out.push_str("?md5=");
        out.push_str(&self.md5(path, expires));
        out.push_str("&expires=");
        out.push_str(&expires.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// nginx's documented recipe, `openssl md5 -binary | base64 | tr +/ -_ | tr -d =`, gave
    /// the expected value; nginx itself checks the real thing in tests/api/cdn.rs.
    #[test]
    fn matches_the_openssl_recipe() {
        let s = SecureLinkSigner::new("secret").unwrap();
        // printf '2147483647/s/link secret' | openssl md5 -binary | base64 | tr +/ -_ | tr -d =
        assert_eq!(s.md5("/s/link", 2147483647), "0Xgm37lo5nFEuHMDKl_vQg");
        assert_eq!(s.md5("/s/l%69nk", 2147483647), s.md5("/s/link", 2147483647));
    }
}
