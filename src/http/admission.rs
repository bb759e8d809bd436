//! Admission: an instance works on at most `VODGATE_MAX_IN_FLIGHT` requests at once, and
//! refuses the next one at once with 503 `overloaded` and `Retry-After: 1`.
//!
//! Without it an overloaded instance (its cores shared with a build, Redis slow to answer)
//! took every request and let each wait: the queue in front of Redis grew until replies
//! took longer than the store's 2 s timeout, so requests failed late, as
//! `store_unavailable`, after holding memory all that time, and the ones that succeeded
//! took seconds. A refusal costs no Redis call, no file and no upstream request, so it
//! stays cheap however busy the instance is; players retry a 503 after a moment, and the
//! requests already admitted finish sooner for the shorter queue.
//!
//! A place is held from the moment the request is admitted until its response head is
//! ready: that is the part that waits on Redis and origins. Streaming the body afterwards
//! (a segment to a slow phone) does not hold a place, so slow clients do not crowd out
//! fast ones; what a body holds is bounded where it is read (chunked reads, the capped
//! hot-file cache). `/healthz` and `/readyz` are never refused: a busy instance is alive,
//! and its load balancer should keep asking.

use crate::domain::ErrorCode;
use crate::http::error::ApiError;
use crate::http::pages::{DenyPage, render};
use actix_web::ResponseError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Next;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How long a refused client is asked to wait.
const RETRY_AFTER_S: u64 = 1;

/// The places of one instance (shared by its workers).
#[derive(Clone)]
pub struct Admission {
    in_flight: Arc<AtomicUsize>,
    max: usize,
}

/// A place taken; given back when dropped.
struct Place(Arc<AtomicUsize>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Admission {
    pub fn new(max: usize) -> Self {
        Self {
            in_flight: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    fn enter(&self) -> Option<Place> {
        // Taken first and given back if there was no room, so concurrent requests can never
        // all see one free place.
        let before = self.in_flight.fetch_add(1, Ordering::AcqRel);
        let place = Place(self.in_flight.clone());
        (before < self.max).then_some(place)
    }

    /// The middleware (`actix_web::middleware::from_fn`).
    pub async fn admit(
        self,
        req: ServiceRequest,
        next: Next<impl MessageBody>,
    ) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
        let exempt = matches!(req.path(), "/healthz" | "/readyz");
        let place = self.enter();
        if place.is_none() && !exempt {
            crate::metrics::METRICS.overloaded.inc();
            // An Arc, not the brand: the refusal under overload stays cheap.
            let state = req
                .app_data::<actix_web::web::Data<crate::http::AppState>>()
                .cloned();
            let default;
            let brand = match &state {
                Some(s) => &s.config().brand,
                None => {
                    default = crate::config::Brand::default();
                    &default
                }
            };
            let refusal = refusal(req.path(), brand);
            // An Ok response so the outer middleware still logs, counts and adds headers.
            return Ok(req.into_response(refusal).map_into_right_body());
        }
        let res = next.call(req).await;
        drop(place);
        Ok(res?.map_into_left_body())
    }
}

/// 503 `overloaded`: the one error shape, or its HTML twin for the viewer's pages.
fn refusal(path: &str, brand: &crate::config::Brand) -> actix_web::HttpResponse {
    let mut res = if path.starts_with("/watch/") || path.starts_with("/w/") {
        render(
            StatusCode::SERVICE_UNAVAILABLE,
            &DenyPage {
                brand,
                heading: "Too many viewers at once",
                code: ErrorCode::Overloaded,
                message: "This server is very busy right now. Your rental is not affected.",
                hint: Some("Reload the page in a moment."),
            },
        )
    } else {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Overloaded,
            "This instance is working on as many requests as it takes; retry in a second.",
        )
        .error_response()
    };
    res.headers_mut().insert(
        header::RETRY_AFTER,
        header::HeaderValue::from(RETRY_AFTER_S),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_taken_up_to_the_limit_and_given_back() {
        let a = Admission::new(2);
        let (p1, p2) = (a.enter(), a.enter());
        assert!(p1.is_some() && p2.is_some());
        assert!(a.enter().is_none(), "the third is refused");
        drop(p1);
        assert!(a.enter().is_some(), "a place given back is taken again");
        drop(p2);
        assert_eq!(
            a.in_flight.load(Ordering::Acquire),
            0,
            "refusals hold nothing"
        );
    }
}
