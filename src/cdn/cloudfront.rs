//! CloudFront signed URLs and cookies with a custom policy:
//! `{"Statement":[{"Resource":"<video base>*","Condition":{"DateLessThan":{"AWS:EpochTime":T},"DateGreaterThan":{"AWS:EpochTime":S}}}]}`
//! signed with RSA-SHA1 (PKCS#1 v1.5) under the key pair's private key; policy and signature
//! in AWS's URL-safe base64 (`+`→`-`, `=`→`_`, `/`→`~`) with the public key's id as
//! `Key-Pair-Id`. The policy is written exactly as botocore's `CloudFrontSigner.build_policy`
//! writes it (keys in that order, no spaces), which the tests compare against.
//! Hand-written around the `rsa` crate: AWS's Rust SDK has no CloudFront signer, and the
//! format is one JSON line and one signature. (`rsa` is not constant-time in every operation
//! (RUSTSEC-2023-0071, a timing attack on decryption); signing here uses blinding and the key
//! never decrypts anything.)

use super::{CdnError, Grant};
use rsa::RsaPrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};

pub struct CloudFrontSigner {
    key: SigningKey<sha1::Sha1>,
    key_pair_id: String,
}

impl CloudFrontSigner {
    pub fn from_pem_file(path: &str, key_pair_id: String) -> Result<Self, CdnError> {
        let pem = std::fs::read_to_string(path).map_err(|e| {
            CdnError(format!(
                "VODGATE_CDN_KEY for cloudfront names the PEM private key file, and {path} cannot be read: {e}"
            ))
        })?;
        let key = RsaPrivateKey::from_pkcs1_pem(&pem)
            .or_else(|_| RsaPrivateKey::from_pkcs8_pem(&pem))
            .map_err(|_| {
                CdnError(format!(
                    "VODGATE_CDN_KEY for cloudfront: {path} is not an RSA private key in PEM (BEGIN RSA PRIVATE KEY or BEGIN PRIVATE KEY)"
                ))
            })?;
        if key_pair_id.is_empty() || !key_pair_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(CdnError(
                "VODGATE_CDN_KEY_ID for cloudfront must be the public key's id, letters and digits like K2JCJMDEHXQW5F".into(),
            ));
        }
        Ok(Self {
            key: SigningKey::new(key),
            key_pair_id,
        })
    }

    pub fn key_pair_id(&self) -> &str {
        &self.key_pair_id
    }

    /// The policy JSON for a grant, byte for byte what is signed.
    pub fn policy(g: &Grant) -> String {
        // The start is a minute back, so a CDN edge whose clock is a little behind does not
        // refuse a token made this second.
        format!(
            r#"{{"Statement":[{{"Resource":"{}*","Condition":{{"DateLessThan":{{"AWS:EpochTime":{}}},"DateGreaterThan":{{"AWS:EpochTime":{}}}}}}}]}}"#,
            g.base,
            g.expires,
            g.now - 60
        )
    }

    /// (policy, signature), both in CloudFront's base64.
    pub fn sign(&self, g: &Grant) -> (String, String) {
        let policy = Self::policy(g);
        let signature = self.key.sign(policy.as_bytes()).to_vec();
        (aws_b64(policy.as_bytes()), aws_b64(&signature))
    }
}

/// AWS's URL-safe base64: standard alphabet with `+`→`-`, `=`→`_`, `/`→`~`.
fn aws_b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .chars()
        .map(|c| match c {
            '+' => '-',
            '=' => '_',
            '/' => '~',
            c => c,
        })
        .collect()
}
