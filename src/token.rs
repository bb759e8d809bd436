//! Opaque bearer secrets: `<prefix><43 base64url chars>` (256 random bits). The readable
//! prefix lets secret scanners and people tell a launch link from an access token; only the
//! SHA-256 of a token is ever stored, so a dump of the store hands out nothing usable.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use std::fmt;

/// A freshly minted secret. `Debug` never prints it.
pub struct Token(String);

impl Token {
    pub fn mint(prefix: &str) -> Self {
        let bytes: [u8; 32] = rand::random();
        Self(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }
    /// A secret its owner presented back (a cookie), kept to hand to them again. Only for
    /// values the caller has checked are live tokens of its own.
    pub fn presented(secret: &str) -> Self {
        Self(secret.to_owned())
    }
    /// The secret, to hand to its owner exactly once.
    pub fn reveal(&self) -> &str {
        &self.0
    }
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

pub const API_KEY_PREFIX: &str = "vg_key_";
/// The form of an admin API key, as an operator reads it.
pub const API_KEY_FORM: &str = "vg_key_<16 lowercase hex digits>_<32 to 128 characters>";

/// An API key's id and secret, if `s` has `API_KEY_FORM`. Here, below `config` and `auth`,
/// so that a configured key is checked at start against the same rule `/auth/api-key` uses.
pub fn api_key_parts(s: &str) -> Option<(&str, &str)> {
    let (id, secret) = s.strip_prefix(API_KEY_PREFIX)?.split_once('_')?;
    let id_ok = id.len() == 16 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    (id_ok && (32..=128).contains(&secret.len())).then_some((id, secret))
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token([redacted])")
    }
}

/// Hex SHA-256 of a token: what the store keys on.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    pub fn of(presented: &str) -> Self {
        Self(hex::encode(Sha256::digest(presented.as_bytes())))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Even a hash is enough to look the token up in a store dump; keep logs clean.
        f.write_str("TokenHash([redacted])")
    }
}

/// Is `s` shaped like a token with this prefix? Cheap rejection before any store lookup.
pub fn looks_like(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(|rest| {
        rest.len() == 43
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// Constant-time equality for secrets of possibly different lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    // Compare digests so the length of the expected secret does not leak through timing.
    Sha256::digest(a).ct_eq(&Sha256::digest(b)).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_have_their_prefix_and_are_unique() {
        let a = Token::mint("vg_at_");
        let b = Token::mint("vg_at_");
        assert!(looks_like(a.reveal(), "vg_at_"));
        assert_ne!(a.reveal(), b.reveal());
        assert_ne!(a.hash(), b.hash());
        assert!(!looks_like(a.reveal(), "vg_rt_"));
        assert!(!format!("{a:?}").contains(&a.reveal()[6..]));
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            TokenHash::of("abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"same", b"same"));
        assert!(!constant_time_eq(b"same", b"Same"));
        assert!(!constant_time_eq(b"short", b"longer one"));
    }
}
