//! `POST /auth/api-key`, `POST /auth/refresh`, and Bearer / Basic authentication of regular
//! endpoints.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::calls::{self, Endpoint};
use crate::error::ApiError;
use crate::state::Sim;

/// Issued access tokens (with their expiry) and live refresh tokens.
#[derive(Debug, Default)]
pub struct AuthStore {
    inner: Mutex<Tokens>,
}

#[derive(Debug, Default)]
struct Tokens {
    access: HashMap<String, DateTime<Utc>>,
    refresh: HashSet<String>,
    /// Every access and refresh token ever issued, for tests that look for leaks.
    issued: Vec<String>,
}

impl AuthStore {
    /// Issue a new access/refresh pair.
    fn issue(&self, now: DateTime<Utc>, ttl: chrono::Duration) -> (String, String) {
        let access = fake_jwt(now, ttl);
        let refresh = format!("def50200{}", random_hex(320));
        let mut t = self.inner.lock().unwrap();
        t.access.retain(|_, exp| *exp > now);
        t.access.insert(access.clone(), now + ttl);
        t.refresh.insert(refresh.clone());
        if t.issued.len() >= 10_000 {
            t.issued.drain(..5_000);
        }
        t.issued.push(access.clone());
        t.issued.push(refresh.clone());
        (access, refresh)
    }

    /// A refresh token works once: it is removed when used.
    fn redeem_refresh(&self, token: &str) -> bool {
        self.inner.lock().unwrap().refresh.remove(token)
    }

    fn access_valid(&self, token: &str, now: DateTime<Utc>) -> Option<bool> {
        self.inner
            .lock()
            .unwrap()
            .access
            .get(token)
            .map(|exp| *exp > now)
    }

    /// Every access and refresh token issued so far (oldest first).
    pub fn issued(&self) -> Vec<String> {
        self.inner.lock().unwrap().issued.clone()
    }

    pub fn reset(&self) {
        *self.inner.lock().unwrap() = Tokens::default();
    }
}

fn random_hex(len: usize) -> String {
    (0..len)
        .map(|_| char::from_digit(rand::random_range(0..16u32), 16).unwrap())
        .collect()
}

/// A JWT-shaped opaque token (header.payload.signature); clients must treat it as opaque.
fn fake_jwt(now: DateTime<Utc>, ttl: chrono::Duration) -> String {
    let header = json!({"typ": "JWT", "alg": "RS256", "jti": random_hex(40)});
    let payload = json!({
        "aud": "apivideo-sim",
        "iat": now.timestamp(),
        "nbf": now.timestamp(),
        "exp": (now + ttl).timestamp(),
        "sub": "sim",
        "scopes": ["*"],
    });
    let mut sig = [0u8; 64];
    rand::fill(&mut sig[..]);
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        URL_SAFE_NO_PAD.encode(sig)
    )
}

fn unauthorized(slug: &'static str, title: &str) -> ApiError {
    ApiError::new(401, slug, title, Some(""))
}

/// Check the `Authorization` header of a regular endpoint: `Bearer <access_token>` or
/// `Basic base64("<apiKey>:")`.
pub fn authorize(sim: &Sim, req: &HttpRequest) -> Result<(), ApiError> {
    let result = check(sim, req);
    if result.is_err() {
        sim.calls.hit(calls::UNAUTHORIZED);
    }
    result
}

fn check(sim: &Sim, req: &HttpRequest) -> Result<(), ApiError> {
    let Some(value) = req.headers().get(AUTHORIZATION) else {
        return Err(unauthorized(
            "authentication-missing-authorization-header",
            "The Authorization header is missing.",
        ));
    };
    let value = value.to_str().unwrap_or("").trim();
    let (scheme, cred) = value.split_once(' ').unwrap_or((value, ""));
    let cred = cred.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return match sim.auth.access_valid(cred, sim.now()) {
            Some(true) => Ok(()),
            Some(false) => Err(unauthorized(
                "authentication-expired-access-token",
                "The access token is expired.",
            )),
            None => Err(unauthorized(
                "authentication-invalid-access-token",
                "The access token is invalid.",
            )),
        };
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD
            .decode(cred)
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        return match decoded.as_deref().and_then(|d| d.split_once(':')) {
            Some((user, _password)) if user == sim.api_key => Ok(()),
            Some(_) => Err(unauthorized(
                "authentication-invalid-api-key",
                "The API key is invalid.",
            )),
            None => Err(unauthorized(
                "authentication-invalid-authorization-header",
                "The Authorization header is invalid.",
            )),
        };
    }
    Err(unauthorized(
        "authentication-invalid-authorization-header",
        "The Authorization header is invalid.",
    ))
}

fn access_token_body(access: String, refresh: String, ttl: chrono::Duration) -> Value {
    json!({
        "token_type": "Bearer",
        "expires_in": ttl.num_seconds(),
        "access_token": access,
        "refresh_token": refresh,
    })
}

fn json_field(body: &[u8], field: &str) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.get(field)?.as_str().map(str::to_owned)
}

fn invalid_credentials() -> ApiError {
    ApiError::new(
        400,
        "authentication-invalid-user-credentials",
        "The user credentials were incorrect.",
        Some(""),
    )
}

/// `POST /auth/api-key` `{"apiKey": "..."}`.
pub async fn api_key(sim: web::Data<Sim>, body: web::Bytes) -> HttpResponse {
    let ep = Endpoint::AuthApiKey;
    let gate = match sim.enter(ep).await {
        Ok(g) => g,
        Err(resp) => return resp,
    };
    let result = match json_field(&body, "apiKey") {
        None => Err(ApiError::bad_request(
            "apiKey",
            "This attribute is required.",
        )),
        Some(key) if key != sim.api_key => Err(invalid_credentials()),
        Some(_) => {
            let ttl = sim.access_token_ttl;
            let (a, r) = sim.auth.issue(sim.now(), ttl);
            Ok(HttpResponse::Ok().json(access_token_body(a, r, ttl)))
        }
    };
    gate.finish(result)
}

/// `POST /auth/refresh` `{"refreshToken": "..."}`: rotates; each refresh token works once.
pub async fn refresh(sim: web::Data<Sim>, body: web::Bytes) -> HttpResponse {
    let gate = match sim.enter(Endpoint::AuthRefresh).await {
        Ok(g) => g,
        Err(resp) => return resp,
    };
    let result = match json_field(&body, "refreshToken") {
        None => Err(ApiError::bad_request(
            "refreshToken",
            "This attribute is required.",
        )),
        Some(token) if !sim.auth.redeem_refresh(&token) => {
            sim.calls.hit(calls::UNAUTHORIZED);
            Err(ApiError::new(
                401,
                "authentication-invalid-refresh-token",
                "The refresh token is invalid.",
                Some("refreshToken"),
            ))
        }
        Some(_) => {
            let ttl = sim.access_token_ttl;
            let (a, r) = sim.auth.issue(sim.now(), ttl);
            Ok(HttpResponse::Ok().json(access_token_body(a, r, ttl)))
        }
    };
    gate.finish(result)
}
