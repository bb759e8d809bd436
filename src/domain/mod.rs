//! Typed values built at the boundary: nothing past the route handlers sees a raw id string.

mod entitlement;
mod error_code;
mod ids;
mod playback;

pub use entitlement::{
    AgeGate, AgeVerification, Delivery, DenyReason, Entitlement, EntitlementStatus,
    MAX_START_WITHIN_S, MAX_STREAMS, MAX_WINDOW_S, PlaybackMode, Revocation, RevocationKind,
};
pub use error_code::ErrorCode;
pub use ids::{EntitlementId, IdError, OrderId, PlaybackId, VideoId, ViewerId};
pub use playback::{Playback, Source};
