//! The demo storefront at `/`: rent a sample title, watch it, refund it, and see the
//! refusal, with nothing but `cargo run`. It grants rentals to anyone who asks, so it is on
//! only in demo mode (embedded store on a loopback address, unless VODGATE_DEMO says
//! otherwise), and the page says it is a demo.

use crate::audit::AuditKind;
use crate::domain::{EntitlementId, OrderId, RevocationKind, VideoId, ViewerId};
use crate::entitlements::GrantRequest;
use crate::error::ApiError;
use crate::pages::{DemoPage, DemoRental, DemoTitle, render};
use crate::routes::entitlements::rfc3339;
use crate::startup::AppState;
use crate::upstream::Origin;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::Utc;
use serde::Deserialize;

const DEMO_VIEWER: &str = "demo-viewer";

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(storefront)
        .service(rent)
        .service(watch)
        .service(refund);
}

#[derive(Deserialize)]
struct RentForm {
    video_id: VideoId,
}

#[derive(Deserialize)]
struct RentalForm {
    entitlement_id: EntitlementId,
}

fn enabled(state: &AppState) -> Result<(), ApiError> {
    if state.config.demo {
        Ok(())
    } else {
        Err(ApiError::not_found(
            "not_found",
            "No such route (the demo storefront is off).",
        ))
    }
}

/// Forms are only accepted from vodgate's own pages: browsers say where a request comes
/// from (`Sec-Fetch-Site`, `Origin`), and a cross-site form post is refused.
fn same_origin(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    let h = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok());
    let ok = match (h("sec-fetch-site"), h("origin")) {
        (Some(site), _) => matches!(site, "same-origin" | "none"),
        (None, Some(origin)) => {
            let public = state.config.public_url.origin().ascii_serialization();
            let own = req.connection_info();
            origin == public || origin == format!("{}://{}", own.scheme(), own.host())
        }
        // No browser signal at all: a script, not a cross-site page. Allowed for curl.
        (None, None) => true,
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_site_request",
            "This form only works from vodgate's own page.",
        ))
    }
}

fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

#[get("/")]
async fn storefront(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    let ids = match &state.origin {
        Origin::Local(o) => o.titles(),
        _ => vec![],
    };
    let mut titles = vec![];
    for id in ids {
        let Ok(video) = VideoId::parse(&id) else {
            continue;
        };
        let title = state
            .origin
            .title(&video)
            .await
            .unwrap_or_else(|| id.clone());
        titles.push(DemoTitle {
            video_id: id,
            title,
        });
    }
    let viewer = ViewerId::parse(DEMO_VIEWER).map_err(ApiError::internal)?;
    let mut rentals = vec![];
    for r in state
        .entitlements
        .list_for_viewer(&viewer)
        .await?
        .into_iter()
        .rev()
    {
        let e = &r.entitlement;
        let status = serde_json::to_value(r.status(Utc::now())).ok();
        rentals.push(DemoRental {
            entitlement_id: e.id.to_string(),
            title: state
                .origin
                .title(&e.video_id)
                .await
                .unwrap_or_else(|| e.video_id.to_string()),
            status: status
                .and_then(|s| s.as_str().map(str::to_owned))
                .unwrap_or_default(),
            expires_at: r.expires_at().map(rfc3339).unwrap_or_default(),
        });
    }
    Ok(render(StatusCode::OK, &DemoPage { titles, rentals }))
}

#[post("/demo/rent")]
async fn rent(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<RentForm>,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    same_origin(&req, &state)?;
    let order = OrderId::parse(&format!("demo-{}", uuid::Uuid::new_v4().simple()))
        .map_err(ApiError::internal)?;
    let granted = state
        .entitlements
        .grant(GrantRequest {
            viewer_id: ViewerId::parse(DEMO_VIEWER).map_err(ApiError::internal)?,
            video_id: form.into_inner().video_id,
            order_id: Some(order),
            watch_for_s: 24 * 3600,
            start_within_s: None,
            max_streams: state.config.default_max_streams,
            age_gate: crate::domain::AgeGate::None,
            playback_mode: None,
            age_verification: None,
        })
        .await
        .map_err(ApiError::internal)?;
    let ev = state
        .audit
        .about(AuditKind::Grant, &granted.entitlement, &req)
        .await;
    state.audit.record(ev).await;
    let token = state
        .entitlements
        .mint_launch(&granted.entitlement.id)
        .await?;
    Ok(see_other(&format!("/w/{}", token.reveal())))
}

#[post("/demo/watch")]
async fn watch(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<RentalForm>,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    same_origin(&req, &state)?;
    let token = state.entitlements.mint_launch(&form.entitlement_id).await?;
    Ok(see_other(&format!("/w/{}", token.reveal())))
}

#[post("/demo/refund")]
async fn refund(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<RentalForm>,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    same_origin(&req, &state)?;
    let reason = "demo refund";
    if let Some(r) = state
        .entitlements
        .revoke(
            &form.entitlement_id,
            RevocationKind::Refund,
            Some(reason.into()),
        )
        .await?
        && r.by_this_call
    {
        let ev = state
            .audit
            .about(AuditKind::Refund, &r.record.entitlement, &req)
            .await
            .reason(reason);
        state.audit.record(ev).await;
    }
    Ok(see_other("/"))
}
