//! Every error code vodgate answers with, in one place: the `code` of a problem+json body,
//! of an HTML refusal page, and of a deny reason. Handlers, pages and use cases name them
//! through this enum; a test in `http::openapi` checks that every code the OpenAPI
//! document's error descriptions name is one of these.

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $name:ident = $text:literal, )*) => {
        /// A stable snake_case code a client can branch on.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[$doc])* $name, )*
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $( ErrorCode::$name => $text, )*
                }
            }
        }
    };
}

error_codes! {
    // Requests that are malformed.
    InvalidBody = "invalid_body",
    InvalidQuery = "invalid_query",
    InvalidPath = "invalid_path",
    InvalidEntitlementId = "invalid_entitlement_id",
    InvalidOrderId = "invalid_order_id",
    InvalidPlaybackId = "invalid_playback_id",
    InvalidAssetPath = "invalid_asset_path",
    InvalidWatchFor = "invalid_watch_for",
    InvalidStartWithin = "invalid_start_within",
    InvalidMaxStreams = "invalid_max_streams",
    BodyTooLarge = "body_too_large",
    HeadersTooLarge = "headers_too_large",
    UnsupportedMediaType = "unsupported_media_type",
    // Well-formed, but not doable as asked.
    AgeVerificationRequired = "age_verification_required",
    InvalidAgeVerification = "invalid_age_verification",
    PlaybackModeUnavailable = "playback_mode_unavailable",
    DeliveryUnavailable = "delivery_unavailable",
    OrderIdRequired = "order_id_required",
    InvalidPurchase = "invalid_purchase",
    OrderConflict = "order_conflict",
    EntitlementNotActive = "entitlement_not_active",
    // Who may call.
    Unauthorized = "unauthorized",
    InvalidRefreshToken = "invalid_refresh_token",
    InsufficientScope = "insufficient_scope",
    TooManyFailedAttempts = "too_many_failed_attempts",
    InvalidSignature = "invalid_signature",
    SignatureExpired = "signature_expired",
    InvalidCsrfToken = "invalid_csrf_token",
    CrossSiteRequest = "cross_site_request",
    // Nothing there.
    NotFound = "not_found",
    EntitlementNotFound = "entitlement_not_found",
    OrderNotFound = "order_not_found",
    PlaybackNotFound = "playback_not_found",
    UploadTokenNotFound = "upload_token_not_found",
    UnknownAsset = "unknown_asset",
    NotConfigured = "not_configured",
    WebhookNotConfigured = "webhook_not_configured",
    LaunchLinkUsed = "launch_link_used",
    VideoNotFound = "video_not_found",
    // A viewer's refusal (`DenyReason`).
    Expired = "expired",
    Revoked = "revoked",
    Refunded = "refunded",
    NotStarted = "not_started",
    PlaybackStopped = "playback_stopped",
    StartWindowPassed = "start_window_passed",
    TooManyStreams = "too_many_streams",
    AgeGateRequired = "age_gate_required",
    UnknownEntitlement = "unknown_entitlement",
    SessionMismatch = "session_mismatch",
    // The origin.
    UpstreamNotFound = "upstream_not_found",
    UpstreamTimeout = "upstream_timeout",
    UpstreamUnavailable = "upstream_unavailable",
    UpstreamInvalid = "upstream_invalid",
    UpstreamRateLimited = "upstream_rate_limited",
    UpstreamAuthFailed = "upstream_auth_failed",
    UpstreamSessionExpired = "upstream_session_expired",
    VideoIsPublic = "video_is_public",
    // vodgate itself.
    InternalError = "internal_error",
    StoreUnavailable = "store_unavailable",
    Overloaded = "overloaded",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(
                !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{s}"
            );
        }
    }
}
