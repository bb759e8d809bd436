//! Identifier newtypes. Operator-supplied ids (viewer, video, order) are restricted to a
//! conservative alphabet so they can be used in store keys, URLs and logs without escaping,
//! and can never contain `{`/`}` (which would break Redis Cluster hash tags).

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{what} must be 1 to {max} characters of letters, digits, '.', '_', ':', '@' or '-'")]
    BadExternalId { what: &'static str, max: usize },
    #[error("{what} must look like {prefix}<32 hex digits>")]
    BadInternalId { what: &'static str, prefix: &'static str },
}

fn valid_external(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'@' | b'-'))
}

macro_rules! external_id {
    ($name:ident, $what:literal, $max:expr) => {
        #[doc = concat!("A ", $what, " chosen by the operator's site.")]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, IdError> {
                if valid_external(s, $max) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(IdError::BadExternalId { what: $what, max: $max })
                }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::parse(&s)
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

external_id!(ViewerId, "viewer_id", 128);
external_id!(VideoId, "video_id", 128);
external_id!(OrderId, "order_id", 128);

macro_rules! internal_id {
    ($name:ident, $what:literal, $prefix:literal) => {
        #[doc = concat!("A ", $what, " minted by vodgate: `", $prefix, "` and 32 hex digits.")]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;
            pub fn new() -> Self {
                Self(format!("{}{}", $prefix, uuid::Uuid::new_v4().simple()))
            }
            pub fn parse(s: &str) -> Result<Self, IdError> {
                let ok = s.strip_prefix($prefix).is_some_and(|rest| {
                    rest.len() == 32 && rest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                });
                if ok {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(IdError::BadInternalId { what: $what, prefix: $prefix })
                }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::parse(&s)
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

internal_id!(EntitlementId, "entitlement id", "ent_");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_ids_reject_braces_slashes_and_empty() {
        for bad in ["", "a{b}", "a/b", "a b", "é", &"x".repeat(129)] {
            assert!(VideoId::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(VideoId::parse("vi4blUQJFrYWbaG44NChkH27").is_ok());
        assert!(OrderId::parse("order-2026.11:42@shop").is_ok());
    }

    #[test]
    fn entitlement_ids_round_trip_and_reject_lookalikes() {
        let id = EntitlementId::new();
        assert_eq!(EntitlementId::parse(id.as_str()).unwrap(), id);
        assert!(EntitlementId::parse("ent_XYZ").is_err());
        assert!(EntitlementId::parse(&id.as_str().replace("ent_", "key_")).is_err());
        assert!(EntitlementId::parse(&format!("{}0", id.as_str())).is_err());
    }
}
