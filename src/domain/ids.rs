//! Identifier newtypes. Operator-supplied ids (viewer, video, order) are restricted to a
//! conservative alphabet so they can be used in store keys, URLs and logs without escaping,
//! and can never contain `{`/`}` (which would break Redis Cluster hash tags).

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error(
        "{what} must be 1 to {max} characters of letters, digits, '.', '_', ':', '@' or '-', and not only dots"
    )]
    BadExternalId { what: &'static str, max: usize },
    #[error("{what} must look like {prefix}<32 hex digits>")]
    BadInternalId {
        what: &'static str,
        prefix: &'static str,
    },
}

/// Only dots is refused: `.` and `..` are dot segments, which URL parsing collapses (a video
/// id goes into an origin's URL template, and `..` there would name another folder).
fn valid_external(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && !s.bytes().all(|b| b == b'.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'@' | b'-'))
}

macro_rules! external_id {
    ($name:ident, $what:literal, $max:literal, $example:literal) => {
        #[doc = concat!("A ", $what, " chosen by the operator's site.")]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, IdError> {
                if valid_external(s, $max) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(IdError::BadExternalId {
                        what: $what,
                        max: $max,
                    })
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
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                id_schema(
                    concat!(
                        "A ",
                        $what,
                        " chosen by the operator's site: 1 to ",
                        $max,
                        " letters, digits, '.', '_', ':', '@' or '-', not only dots."
                    ),
                    // At least one character that is not a dot (no lookahead: not every
                    // JSON Schema validator has one); the length is in maxLength.
                    "^[A-Za-z0-9._:@-]*[A-Za-z0-9_:@-][A-Za-z0-9._:@-]*$",
                    Some($max),
                    $example,
                )
            }
        }
        impl utoipa::ToSchema for $name {}
    };
}

/// The OpenAPI schema of an identifier: a string with the pattern `parse` enforces.
fn id_schema(
    description: &str,
    pattern: &str,
    max: Option<usize>,
    example: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some(description))
        .pattern(Some(pattern))
        .min_length(max.map(|_| 1))
        .max_length(max)
        .examples([serde_json::json!(example)])
        .into()
}

external_id!(ViewerId, "viewer_id", 128, "viewer-42");
external_id!(VideoId, "video_id", 128, "sample");
external_id!(OrderId, "order_id", 128, "order-1001");

macro_rules! internal_id {
    ($name:ident, $what:literal, $prefix:literal) => {
        #[doc = concat!("An ", $what, " minted by vodgate: `", $prefix, "` and 32 hex digits.")]
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
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                id_schema(
                    concat!("An ", $what, " minted by vodgate: `", $prefix, "` and 32 lowercase hex digits."),
                    concat!("^", $prefix, "[0-9a-f]{32}$"),
                    None,
                    concat!($prefix, "0123456789abcdef0123456789abcdef"),
                )
            }
        }
        impl utoipa::ToSchema for $name {}
    };
}

internal_id!(EntitlementId, "entitlement id", "ent_");
internal_id!(PlaybackId, "playback id", "pb_");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_ids_reject_braces_slashes_and_empty() {
        for bad in [
            "",
            "a{b}",
            "a/b",
            "a b",
            "é",
            ".",
            "..",
            "...",
            &"x".repeat(129),
        ] {
            assert!(VideoId::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(VideoId::parse("vi4blUQJFrYWbaG44NChkH27").is_ok());
        assert!(VideoId::parse("season.2..final").is_ok());
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
