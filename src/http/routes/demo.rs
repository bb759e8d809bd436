//! The demo storefront at `/`: rent a sample title, watch it, refund it, and see the
//! refusal, with nothing but `cargo run`. It grants rentals to anyone who asks, so it is on
//! only in demo mode (embedded store on a loopback address, unless VODGATE_DEMO says
//! otherwise), and the page says it is a demo.

use crate::app::{AppError, Caller, GrantInput, launch_path};
use crate::domain::ErrorCode;
use crate::domain::{EntitlementId, OrderId, RevocationKind, VideoId, ViewerId};
use crate::http::AppState;
use crate::http::dto::rfc3339;
use crate::http::error::ApiError;
use crate::http::pages::{DemoPage, DemoRental, DemoTitle, render};
use crate::media::origin::Origin;
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
    if state.config().demo {
        Ok(())
    } else {
        Err(ApiError::not_found(
            ErrorCode::NotFound,
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
            let public = state.config().public_url.origin().ascii_serialization();
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
            ErrorCode::CrossSiteRequest,
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
    let ids = match &state.app.origin {
        Origin::Local(o) => o.titles(),
        _ => vec![],
    };
    let mut titles = vec![];
    for id in ids {
        let Ok(video) = VideoId::parse(&id) else {
            continue;
        };
        let title = state
            .app
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
        .app
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
                .app
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
    Ok(render(
        StatusCode::OK,
        &DemoPage {
            brand: &state.config().brand,
            titles,
            rentals,
        },
    ))
}

#[post("/demo/rent")]
async fn rent(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<RentForm>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    same_origin(&req, &state)?;
    let order = OrderId::parse(&format!("demo-{}", uuid::Uuid::new_v4().simple()))
        .map_err(ApiError::internal)?;
    let mut input = GrantInput::new(
        ViewerId::parse(DEMO_VIEWER).map_err(ApiError::internal)?,
        form.into_inner().video_id,
    );
    input.order_id = Some(order);
    input.watch_for_s = Some(24 * 3600);
    let terms = state.app.terms(input)?;
    let granted = state.app.grant(terms, &caller).await?;
    Ok(see_other(&launch_path(&granted.launch)))
}

#[post("/demo/watch")]
async fn watch(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<RentalForm>,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    same_origin(&req, &state)?;
    let token = state.app.launch_link(&form.entitlement_id).await?;
    Ok(see_other(&launch_path(&token)))
}

#[post("/demo/refund")]
async fn refund(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<RentalForm>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    same_origin(&req, &state)?;
    let refunded = state
        .app
        .revoke_as(
            &form.entitlement_id,
            RevocationKind::Refund,
            Some("demo refund".into()),
            &caller,
        )
        .await;
    match refunded {
        // A rental that is gone already: the storefront simply shows what is left.
        Ok(_) | Err(AppError::NotFound { .. }) => Ok(see_other("/")),
        Err(e) => Err(e.into()),
    }
}
