//! Typed values built at the boundary: nothing past the route handlers sees a raw id string.

mod entitlement;
mod ids;

pub use entitlement::{
    AgeGate, AgeVerification, DenyReason, Entitlement, EntitlementStatus, PlaybackMode, Revocation,
    RevocationKind,
};
pub use ids::{EntitlementId, IdError, OrderId, VideoId, ViewerId};
