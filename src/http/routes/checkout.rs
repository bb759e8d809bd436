//! `GET /checkout/stripe/return?session_id={CHECKOUT_SESSION_ID}`: where a Stripe Checkout
//! (or Payment Link) sends the buyer after paying. Once the checkout's webhook has granted,
//! the buyer's browser gets its viewer session and the watch page, exactly as a launch link
//! would give it; until then, a page that reloads itself every few seconds. Single use: a
//! second visit, from anywhere, is the "already used" page.

use crate::app::{Caller, CheckoutReturn, Provider};
use crate::domain::ErrorCode;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::pages::{CheckoutWaitPage, DenyPage, render};
use crate::http::routes::watch::launch_answer;
use crate::http::session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Deserialize;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(stripe_return);
}

#[derive(Deserialize)]
struct ReturnQuery {
    session_id: String,
}

/// Stripe's session ids are `cs_test_…` / `cs_live_…`: letters, digits and `_`.
fn session_id_ok(s: &str) -> bool {
    (8..=255).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[get("/checkout/stripe/return")]
async fn stripe_return(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<ReturnQuery>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let brand = &state.config().brand;
    if !session_id_ok(&q.session_id) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidQuery,
            "session_id must be the Checkout Session's id ({CHECKOUT_SESSION_ID} in the success URL).",
        ));
    }
    match state
        .app
        .checkout_returned(Provider::Stripe, &q.session_id)
        .await?
    {
        CheckoutReturn::Waiting => Ok(render(
            StatusCode::OK,
            &CheckoutWaitPage {
                brand,
                refresh_s: 2,
            },
        )),
        CheckoutReturn::Used => Ok(render(
            StatusCode::GONE,
            &DenyPage {
                brand,
                heading: "This checkout was already opened",
                code: ErrorCode::LaunchLinkUsed,
                message: "The page after a payment opens the video once, in the browser that paid. This one was already used.",
                hint: Some(
                    "Go back to the site you rented from and open the video from there to get a new link.",
                ),
            },
        )),
        CheckoutReturn::Ready(launch) => {
            let secure = state.config().secure_cookies();
            let browser = session::browser_session(&req, secure);
            let opened = state
                .app
                .open_launch_link(launch.reveal(), browser.as_deref(), &caller)
                .await?;
            Ok(launch_answer(brand, opened, secure))
        }
    }
}
