//! Revoke one entitlement, refund every entitlement of an order. Write-once (the first
//! revocation stands) and audited exactly once: only by the call that revoked.

use super::{App, AppError, Caller};
use crate::app::audit::{AuditEvent, AuditKind};
use crate::app::entitlements::Revoked;
use crate::domain::ErrorCode;
use crate::domain::{EntitlementId, OrderId, RevocationKind};

/// The longest revocation reason kept (operators read it; it is not a document store).
pub const MAX_REASON_CHARS: usize = 500;

fn check_reason(reason: Option<&str>) -> Result<(), AppError> {
    match reason {
        Some(r) if r.chars().count() > MAX_REASON_CHARS => Err(AppError::invalid(
            ErrorCode::InvalidBody,
            format!("reason is limited to {MAX_REASON_CHARS} characters."),
        )),
        _ => Ok(()),
    }
}

impl App {
    /// Revoke one entitlement; every instance refuses its playbacks from the next request on.
    pub async fn revoke(
        &self,
        id: &EntitlementId,
        reason: Option<String>,
        caller: &Caller,
    ) -> Result<Revoked, AppError> {
        self.revoke_as(id, RevocationKind::Revoke, reason, caller)
            .await
    }

    /// Revoke as `kind` (a demo refund is a refund of one rental).
    pub async fn revoke_as(
        &self,
        id: &EntitlementId,
        kind: RevocationKind,
        reason: Option<String>,
        caller: &Caller,
    ) -> Result<Revoked, AppError> {
        check_reason(reason.as_deref())?;
        let revoked = self
            .entitlements
            .revoke(id, kind, reason.clone())
            .await?
            .ok_or_else(|| AppError::no_entitlement(id))?;
        if revoked.by_this_call {
            let audit_kind = match kind {
                RevocationKind::Revoke => AuditKind::Revoke,
                RevocationKind::Refund => AuditKind::Refund,
            };
            let mut ev = self
                .audit
                .about(audit_kind, &revoked.record.entitlement, caller)
                .await;
            ev.reason = reason;
            self.audit.record(ev).await;
        }
        // The 200 means every replica asked for holds the revocation, so a failover right
        // after it cannot undo it. Even when an earlier call revoked: that call may have
        // failed here, and this retry is what confirms it.
        self.store.replicated().await?;
        Ok(revoked)
    }

    /// Refund every entitlement of an order. An order with none is `order_not_found`.
    pub async fn refund_order(
        &self,
        order: &OrderId,
        reason: Option<String>,
        caller: &Caller,
    ) -> Result<Vec<Revoked>, AppError> {
        check_reason(reason.as_deref())?;
        let refunded = self
            .entitlements
            .refund_order(order, reason.clone())
            .await?;
        if refunded.is_empty() {
            return Err(AppError::not_found(
                ErrorCode::OrderNotFound,
                format!("No entitlements belong to order {order}."),
            ));
        }
        let client = self.audit.client(caller).await;
        for r in refunded.iter().filter(|r| r.by_this_call) {
            let e = &r.record.entitlement;
            let mut ev = AuditEvent::new(AuditKind::Refund)
                .entitlement(&e.id, e.order_id.as_ref(), &e.viewer_id)
                .client(&client);
            ev.reason = reason.clone();
            self.audit.record(ev).await;
        }
        // As for `revoke_as`; a payment webhook marks its event processed only after this.
        self.store.replicated().await?;
        Ok(refunded)
    }
}
