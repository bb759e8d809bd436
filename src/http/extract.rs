//! Extractors. `Authorized<EntitlementsWrite>` in a handler's arguments is the
//! authorization check: the type names the scope, the extractor refuses the request before
//! the handler runs. `Caller` is who made the request, for the audit trail.

use crate::app::Caller;
use crate::auth::{AuthError, Principal, Scope};
use crate::domain::ErrorCode;
use crate::http::AppState;
use crate::http::error::ApiError;
use actix_web::dev::Payload;
use actix_web::http::{Method, StatusCode, header};
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

/// A call that changes state takes JSON or no body at all, and says so: a form on another
/// site can only post `application/x-www-form-urlencoded`, `multipart/form-data` or
/// `text/plain` without a CORS preflight, so refusing those here means a browser that holds
/// credentials for vodgate (a cached Basic prompt, say) cannot be made to revoke or refund.
fn json_or_nothing(req: &HttpRequest) -> Result<(), ApiError> {
    use actix_web::HttpMessage;
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || !req.headers().contains_key(header::CONTENT_TYPE)
    {
        return Ok(());
    }
    let json = req.mime_type().ok().flatten().is_some_and(|m| {
        m.type_() == actix_web::mime::APPLICATION
            && (m.subtype() == actix_web::mime::JSON || m.suffix() == Some(actix_web::mime::JSON))
    });
    if json {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "Send the body as application/json (or no body and no Content-Type).",
        ))
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
            json_or_nothing(&req)?;
            let client = client_id(&req);
            let throttle = &state.throttle;
            if let Some(wait) = throttle.check(&client).await? {
                return Err(ApiError::too_many_requests(wait));
            }
            let credentials = credentials(&req);
            // A key that verified lately costs a record read. Any other key is counted
            // before argon2 runs (see `auth::throttle`); a token or an unreadable header is
            // counted when it fails.
            let mut counted = false;
            if let Ok(Credentials::ApiKey(k)) = &credentials {
                match state.auth.remembered_key(k).await {
                    Ok(Some(p)) => return authorized(p),
                    Ok(None) => {}
                    Err(AuthError::Store(e)) => return Err(e.into()),
                    Err(e) => return Err(ApiError::internal(e)),
                }
                if let Some(wait) = throttle.attempt(&client).await? {
                    return Err(ApiError::too_many_requests(wait));
                }
                counted = true;
            }
            let result = match credentials {
                Ok(Credentials::Bearer(t)) => state.auth.authenticate_bearer(&t).await,
                Ok(Credentials::ApiKey(k)) => state.auth.authenticate_key(&k).await,
                Err(e) => {
                    throttle.failed(&client).await?;
                    return Err(e);
                }
            };
            let principal = match result {
                Ok(p) => {
                    if counted {
                        throttle.succeeded(&client).await?;
                    }
                    p
                }
                Err(AuthError::Store(e)) => return Err(e.into()),
                Err(AuthError::Hashing(e)) => return Err(ApiError::internal(e)),
                Err(_) => {
                    if !counted {
                        throttle.failed(&client).await?;
                    }
                    return Err(ApiError::unauthorized(
                        "The access token or API key is invalid or expired.",
                    ));
                }
            };
            authorized(principal)
        })
    }
}

/// The principal, if it holds the scope `S` names.
fn authorized<S: ScopeMarker>(principal: Principal) -> Result<Authorized<S>, ApiError> {
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
}

/// A JSON body that must be an object. serde's derived structs also accept a JSON array
/// (the fields by position: `["viewer","sample","order-1",3600]` would be a grant); bodies
/// are parsed as `Object<T>` so only `{…}` is. Errors keep serde_json's line and column.
pub struct Object<T>(pub T);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct OnlyMaps<T>(PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for OnlyMaps<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(OnlyMaps(PhantomData)).map(Object)
    }
}

#[cfg(test)]
mod tests {
    use super::Object;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Body {
        a: String,
        b: Option<u32>,
    }

    #[test]
    fn only_an_object_is_a_body() {
        let ok: Object<Body> = serde_json::from_str(r#"{"a":"x","b":1}"#).unwrap();
        assert_eq!(
            ok.0,
            Body {
                a: "x".into(),
                b: Some(1)
            }
        );
        // Plain serde takes the array by position; the body does not.
        assert!(serde_json::from_str::<Body>(r#"["x",1]"#).is_ok());
        let e = serde_json::from_str::<Object<Body>>(r#"["x",1]"#)
            .err()
            .unwrap();
        assert!(e.to_string().contains("expected a JSON object"), "{e}");
        let e = serde_json::from_str::<Object<Body>>(r#"{"a":"x","c":1}"#)
            .err()
            .unwrap();
        assert!(e.to_string().contains("unknown field `c`"), "{e}");
        assert!(e.to_string().contains("line 1"), "{e}");
        for bad in ["\"x\"", "1", "null", "true"] {
            assert!(serde_json::from_str::<Object<Body>>(bad).is_err(), "{bad}");
        }
    }
}
