//! Launch links: minting one (a grant, "another device", the demo, the CLI) and opening one
//! (`/w/{token}`: single use, it turns into a viewer session).

use super::{App, AppError, Caller};
use crate::app::audit::AuditKind;
use crate::app::entitlements::EntitlementRecord;
use crate::app::viewer_session;
use crate::domain::ErrorCode;
use crate::domain::{DenyReason, EntitlementId, EntitlementStatus};
use crate::token::Token;
use chrono::Utc;

/// A launch link's path on vodgate (`/w/vg_wl_…`), for pages vodgate serves itself.
pub fn launch_path(launch: &Token) -> String {
    format!("/w/{}", launch.reveal())
}

/// What opening a launch link came to.
pub enum LaunchOpened {
    /// Used already, expired, or never a link.
    Used,
    /// The link was good but the rental cannot play (revoked, expired, …).
    Denied(DenyReason),
    /// A viewer session began: set its cookie and go to the watch page.
    Session {
        entitlement_id: EntitlementId,
        session: viewer_session::Started,
    },
}

impl App {
    /// A fresh single-use launch link for this entitlement. Whether it can still play is
    /// decided when the link is opened (and answered there with the refusal page).
    pub async fn launch_link(&self, id: &EntitlementId) -> Result<Token, AppError> {
        Ok(self.entitlements.mint_launch(id).await?)
    }

    /// A fresh launch link as a URL to hand to the viewer.
    pub async fn watch_url(&self, id: &EntitlementId) -> Result<String, AppError> {
        let token = self.launch_link(id).await?;
        Ok(self.watch_url_of(&token))
    }

    /// The URL of a launch link: `{public_url}/w/vg_wl_…`.
    pub fn watch_url_of(&self, launch: &Token) -> String {
        format!("{}{}", self.config.public_base(), launch_path(launch))
    }

    /// Another device: a fresh link, for an entitlement that can still play.
    pub async fn launch(
        &self,
        id: &EntitlementId,
    ) -> Result<(EntitlementRecord, String), AppError> {
        let record = self.entitlement(id).await?;
        let status = record.status(Utc::now());
        if status != EntitlementStatus::Active {
            return Err(AppError::conflict(
                ErrorCode::EntitlementNotActive,
                format!(
                    "Entitlement {id} is {}; no watch link can be made.",
                    serde_json::to_value(status)
                        .unwrap_or_default()
                        .as_str()
                        .unwrap_or("inactive")
                ),
            ));
        }
        let url = self.watch_url(id).await?;
        Ok((record, url))
    }

    /// Open a launch link: exactly one caller ever gets a session out of it. `browser`: the
    /// session this browser already holds (its cookie), which the rental joins if it is live.
    pub async fn open_launch_link(
        &self,
        presented: &str,
        browser: Option<&str>,
        caller: &Caller,
    ) -> Result<LaunchOpened, AppError> {
        let Some(id) = self.entitlements.consume_launch(presented).await? else {
            return Ok(LaunchOpened::Used);
        };
        let Some(record) = self.entitlements.get(&id).await? else {
            return Ok(LaunchOpened::Denied(DenyReason::UnknownEntitlement));
        };
        if let Some(reason) = DenyReason::from_status(record.status(Utc::now())) {
            self.audit_refusal(&record, reason, caller).await;
            return Ok(LaunchOpened::Denied(reason));
        }
        let session =
            viewer_session::start(&self.store, browser, &id, super::until(&record)).await?;
        let ev = self
            .audit
            .about(AuditKind::Launch, &record.entitlement, caller)
            .await;
        self.audit.record(ev).await;
        tracing::info!(entitlement.id = %id, "launch link used; viewer session started");
        Ok(LaunchOpened::Session {
            entitlement_id: id,
            session,
        })
    }
}
