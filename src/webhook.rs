//! Payment webhooks: `Vodgate-Signature: t=<unix seconds>,v1=<hex hmac>[,v1=…]`, where each
//! `v1` is HMAC-SHA256 over `{t}.{raw body}` with a shared secret (Stripe's scheme, so
//! payment platforms and their operators already know it). Several `v1` values let a sender
//! sign with an old and a new secret during a rotation; several configured secrets let
//! vodgate accept either. Timestamps outside ±5 minutes are refused, so a captured request
//! cannot be replayed later (and each event id is processed once on top of that).

use crate::token::constant_time_eq;
use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};

pub const TOLERANCE_S: i64 = 300;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Vodgate-Signature header is missing")]
    Missing,
    #[error("the Vodgate-Signature header is malformed; expected t=<unix seconds>,v1=<hex>")]
    Malformed,
    #[error("the signature timestamp is outside the 5-minute window")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

/// HMAC-SHA256 of `{t}.{body}` as lowercase hex: what a sender puts in `v1`.
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Check a signature header against the body at time `now` (unix seconds).
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secrets: &[SecretString],
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut t = None;
    let mut v1 = vec![];
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            Some(("v1", v)) if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) => {
                v1.push(v.to_ascii_lowercase())
            }
            Some(("v1", _)) => return Err(SignatureError::Malformed),
            Some(_) => {} // other schemes (v0, …) are ignored, as Stripe does
            None => return Err(SignatureError::Malformed),
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if v1.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - t).abs() > TOLERANCE_S {
        return Err(SignatureError::Stale);
    }
    let mut ok = false;
    // Check every pair without stopping early: timing says nothing about which matched.
    for secret in secrets {
        let expected = sign(secret.expose_secret(), t, body);
        for given in &v1 {
            ok |= constant_time_eq(expected.as_bytes(), given.as_bytes());
        }
    }
    if ok {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(s: &[&str]) -> Vec<SecretString> {
        s.iter()
            .map(|s| SecretString::from(s.to_string()))
            .collect()
    }

    #[test]
    fn a_correct_signature_passes_and_any_change_fails() {
        let body = br#"{"id":"evt_1","type":"refund","order_id":"o1"}"#;
        let sig = sign("whsec_0123456789abcdef", 1_700_000_000, body);
        let header = format!("t=1700000000,v1={sig}");
        let s = secrets(&["whsec_0123456789abcdef"]);
        assert_eq!(verify(Some(&header), body, &s, 1_700_000_100), Ok(()));
        assert_eq!(
            verify(Some(&header), b"{}", &s, 1_700_000_100),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                Some(&header),
                body,
                &secrets(&["other-secret-0123456"]),
                1_700_000_100
            ),
            Err(SignatureError::Mismatch)
        );
        let shifted = format!("t=1700000001,v1={sig}");
        assert_eq!(
            verify(Some(&shifted), body, &s, 1_700_000_100),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn the_window_is_five_minutes_either_way() {
        let body = b"x";
        let s = secrets(&["whsec_0123456789abcdef"]);
        let h = |t: i64| format!("t={t},v1={}", sign("whsec_0123456789abcdef", t, body));
        assert_eq!(verify(Some(&h(1000)), body, &s, 1300), Ok(()));
        assert_eq!(
            verify(Some(&h(1000)), body, &s, 1301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(Some(&h(1301)), body, &s, 1000),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn rotation_works_from_both_sides() {
        let body = b"payload";
        let old = sign("old-secret-0123456789", 50, body);
        let new = sign("new-secret-0123456789", 50, body);
        // The sender signs with both; vodgate knows only the new one.
        let header = format!("t=50,v1={old},v1={new}");
        assert_eq!(
            verify(
                Some(&header),
                body,
                &secrets(&["new-secret-0123456789"]),
                60
            ),
            Ok(())
        );
        // The sender signs with the old one; vodgate accepts both during the rotation.
        let header = format!("t=50,v1={old}");
        assert_eq!(
            verify(
                Some(&header),
                body,
                &secrets(&["new-secret-0123456789", "old-secret-0123456789"]),
                60
            ),
            Ok(())
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        let s = secrets(&["whsec_0123456789abcdef"]);
        for h in ["", "t=1", "v1=ab", "t=x,v1=00", "t=1,v1=zz", "garbage"] {
            assert!(verify(Some(h), b"", &s, 1).is_err(), "{h:?}");
        }
        assert_eq!(verify(None, b"", &s, 1), Err(SignatureError::Missing));
    }
}
