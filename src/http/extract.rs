//! Extractors. `Authorized<EntitlementsWrite>` in a handler's arguments is the
//! authorization check: the type names the scope, the extractor refuses the request before
//! the handler runs. `Caller` is who made the request, for the audit trail.

use crate::app::Caller;
use crate::auth::{AuthError, Principal, Scope};
use crate::domain::ErrorCode;
use crate::http::AppState;
use crate::http::error::ApiError;
use actix_web::dev::Payload;
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, web};
use base64::Engine;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

pub trait ScopeMarker {
    const SCOPE: Scope;
}

pub struct EntitlementsRead;
impl ScopeMarker for EntitlementsRead {
    const SCOPE: Scope = Scope::EntitlementsRead;
}
pub struct EntitlementsWrite;
impl ScopeMarker for EntitlementsWrite {
    const SCOPE: Scope = Scope::EntitlementsWrite;
}
pub struct UploadsWrite;
impl ScopeMarker for UploadsWrite {
    const SCOPE: Scope = Scope::UploadsWrite;
}

pub struct Authorized<S: ScopeMarker> {
    pub principal: Principal,
    _scope: PhantomData<S>,
}

enum Credentials {
    Bearer(String),
    ApiKey(String),
}

fn credentials(req: &HttpRequest) -> Result<Credentials, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Err(ApiError::unauthorized(
            "Send Authorization: Bearer <access_token>, or Basic auth with your API key.",
        ));
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("The Authorization header is not readable."))?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("bearer") {
        return Ok(Credentials::Bearer(rest.trim().to_owned()));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| ApiError::unauthorized("The Basic credentials are not valid base64."))?;
        return match decoded.split_once(':') {
            Some((key, "")) => Ok(Credentials::ApiKey(key.to_owned())),
            _ => Err(ApiError::unauthorized(
                "Basic auth takes the API key as user name and an empty password (`-u KEY:`).",
            )),
        };
    }
    Err(ApiError::unauthorized(
        "Unsupported Authorization scheme; use Bearer or Basic.",
    ))
}

/// The client's address: the TCP peer, or what a trusted proxy forwarded
/// (`Config::client_ip` has the rules).
pub fn client_ip(req: &HttpRequest) -> Option<std::net::IpAddr> {
    let peer = req.peer_addr()?.ip();
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return Some(peer);
    };
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok());
    Some(state.config().client_ip(peer, forwarded))
}

/// The client address used to count failures.
pub fn client_id(req: &HttpRequest) -> String {
    client_ip(req)
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Who made this request: the client's address (the TCP peer, or what a trusted proxy
/// forwarded) and its user agent.
pub fn caller(req: &HttpRequest) -> Caller {
    let ip = client_ip(req);
    let ua = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    Caller::new(ip, ua)
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(caller(req)))
    }
}

impl<S: ScopeMarker + 'static> FromRequest for Authorized<S> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| ApiError::internal("AppState missing"))?
                .clone();
            let client = client_id(&req);
            if let Some(wait) = state.throttle.check(&client).await? {
                return Err(ApiError::too_many_requests(wait));
            }
            let result = match credentials(&req) {
                Ok(Credentials::Bearer(t)) => state.auth.authenticate_bearer(&t).await,
                Ok(Credentials::ApiKey(k)) => state.auth.authenticate_key(&k).await,
                Err(e) => {
                    state.throttle.failed(&client).await?;
                    return Err(e);
                }
            };
            let principal = match result {
                Ok(p) => p,
                Err(AuthError::Store(e)) => return Err(e.into()),
                Err(AuthError::Hashing(e)) => return Err(ApiError::internal(e)),
                Err(_) => {
                    state.throttle.failed(&client).await?;
                    return Err(ApiError::unauthorized(
                        "The access token or API key is invalid or expired.",
                    ));
                }
            };
            if !principal.scopes.contains(&S::SCOPE) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    ErrorCode::InsufficientScope,
                    format!("This API key lacks the `{}` scope.", S::SCOPE),
                ));
            }
            Ok(Authorized {
                principal,
                _scope: PhantomData,
            })
        })
    }
}
