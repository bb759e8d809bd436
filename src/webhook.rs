//! Payment webhook signatures. vodgate's own (`POST /webhooks/payments`) is
//! `Vodgate-Signature: t=<unix seconds>,v1=<hex hmac>[,v1=…]`, each `v1` HMAC-SHA256 over
//! `{t}.{raw body}` with a shared secret: Stripe's scheme, so payment platforms and their
//! operators already know it, and Stripe's own `Stripe-Signature` is checked by the same
//! code. Paddle Billing signs `ts=<unix>;h1=<hex>` over `{ts}:{raw body}`; Lemon Squeezy
//! puts the hex HMAC-SHA256 of the raw body alone in `X-Signature` (no timestamp: its
//! replays are stopped by the event being processed once, see `app::payments`).
//!
//! Several signatures in a header let a sender sign with an old and a new secret during a
//! rotation; several configured secrets let vodgate accept either. Timestamps outside
//! ±5 minutes are refused, so a captured request cannot be replayed later (and each event
//! is processed once on top of that). Hand-written over the `hmac` crate: each scheme is a
//! header split and one HMAC, and no provider publishes a Rust verifier.

use crate::token::constant_time_eq;
use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};

pub const TOLERANCE_S: i64 = 300;

/// Who signed, and so how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Vodgate,
    Stripe,
    Paddle,
    LemonSqueezy,
}

impl Scheme {
    /// The header the signature travels in.
    pub fn header(self) -> &'static str {
        match self {
            Self::Vodgate => "Vodgate-Signature",
            Self::Stripe => "Stripe-Signature",
            Self::Paddle => "Paddle-Signature",
            Self::LemonSqueezy => "X-Signature",
        }
    }
    fn form(self) -> &'static str {
        match self {
            Self::Vodgate | Self::Stripe => "t=<unix seconds>,v1=<hex>",
            Self::Paddle => "ts=<unix seconds>;h1=<hex>",
            Self::LemonSqueezy => "64 hex digits",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the {header} header is missing")]
    Missing { header: &'static str },
    #[error("the {header} header is malformed; expected {form}")]
    Malformed {
        header: &'static str,
        form: &'static str,
    },
    #[error("the signature timestamp is outside the 5-minute window")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

impl SignatureError {
    /// A short name for the cause (audit de-duplication, logs).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Missing { .. } => "missing",
            Self::Malformed { .. } => "malformed",
            Self::Stale => "stale",
            Self::Mismatch => "mismatch",
        }
    }
}

fn hmac_hex(secret: &str, parts: &[&[u8]]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// HMAC-SHA256 of `{t}.{body}` as lowercase hex: what a sender puts in `v1`.
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    hmac_hex(secret, &[t.to_string().as_bytes(), b".", body])
}

/// Check vodgate's own signature header against the body at time `now` (unix seconds).
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secrets: &[SecretString],
    now: i64,
) -> Result<(), SignatureError> {
    verify_as(Scheme::Vodgate, header, body, secrets, now)
}

/// Check a `scheme` signature header against the body at time `now` (unix seconds).
pub fn verify_as(
    scheme: Scheme,
    header: Option<&str>,
    body: &[u8],
    secrets: &[SecretString],
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing {
        header: scheme.header(),
    })?;
    let malformed = SignatureError::Malformed {
        header: scheme.header(),
        form: scheme.form(),
    };
    let hex64 = |v: &str| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit());
    let (t, given) = match scheme {
        Scheme::LemonSqueezy => {
            let v = header.trim();
            if !hex64(v) {
                return Err(malformed);
            }
            (None, vec![v.to_ascii_lowercase()])
        }
        _ => {
            let (sep, t_name, sig_name) = match scheme {
                Scheme::Paddle => (';', "ts", "h1"),
                _ => (',', "t", "v1"),
            };
            let mut t = None;
            let mut given = vec![];
            for part in header.split(sep) {
                match part.trim().split_once('=') {
                    Some((k, v)) if k == t_name => {
                        t = Some(v.parse::<i64>().map_err(|_| malformed.clone())?)
                    }
                    Some((k, v)) if k == sig_name && hex64(v) => given.push(v.to_ascii_lowercase()),
                    Some((k, _)) if k == sig_name => return Err(malformed),
                    Some(_) => {} // other schemes (v0, …) are ignored, as Stripe does
                    None => return Err(malformed),
                }
            }
            let Some(t) = t else { return Err(malformed) };
            if given.is_empty() {
                return Err(malformed);
            }
            if now.abs_diff(t) > TOLERANCE_S as u64 {
                return Err(SignatureError::Stale);
            }
            (Some(t), given)
        }
    };
    let mut ok = false;
    // Check every pair without stopping early: timing says nothing about which matched.
    for secret in secrets {
        let secret = secret.expose_secret();
        let expected = match (scheme, t) {
            (Scheme::LemonSqueezy, _) | (_, None) => hmac_hex(secret, &[body]),
            (Scheme::Paddle, Some(t)) => hmac_hex(secret, &[t.to_string().as_bytes(), b":", body]),
            (_, Some(t)) => sign(secret, t, body),
        };
        for g in &given {
            ok |= constant_time_eq(expected.as_bytes(), g.as_bytes());
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
        assert_eq!(
            verify(None, b"", &s, 1),
            Err(SignatureError::Missing {
                header: "Vodgate-Signature"
            })
        );
    }

    #[test]
    fn paddle_signs_ts_colon_body_and_lemon_squeezy_the_body_alone() {
        let body = br#"{"event_id":"evt_1"}"#;
        let s = secrets(&["pdl_ntfset_secret"]);
        let h1 = hmac_hex("pdl_ntfset_secret", &[b"1000", b":", body]);
        let ok = format!("ts=1000;h1={h1}");
        assert_eq!(verify_as(Scheme::Paddle, Some(&ok), body, &s, 1010), Ok(()));
        // Stripe's form, or Stripe's separator, is not Paddle's.
        let as_stripe = format!("t=1000,v1={h1}");
        assert!(verify_as(Scheme::Paddle, Some(&as_stripe), body, &s, 1010).is_err());
        assert_eq!(
            verify_as(Scheme::Paddle, Some(&ok), body, &s, 1400),
            Err(SignatureError::Stale)
        );
        let x = hmac_hex("ls-secret", &[body]);
        let ls = secrets(&["ls-secret"]);
        assert_eq!(
            verify_as(Scheme::LemonSqueezy, Some(&x), body, &ls, 0),
            Ok(())
        );
        assert_eq!(
            verify_as(Scheme::LemonSqueezy, Some(&x), b"{}", &ls, 0),
            Err(SignatureError::Mismatch)
        );
        assert!(matches!(
            verify_as(Scheme::LemonSqueezy, Some("t=1,v1=00"), body, &ls, 0),
            Err(SignatureError::Malformed {
                header: "X-Signature",
                ..
            })
        ));
    }
}
