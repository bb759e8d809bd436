//! Delegated upload tokens (`/upload-tokens`) and `POST /upload?token=...`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_multipart::Multipart;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::calls::{self, Endpoint};
use crate::error::ApiError;
use crate::state::Sim;
use crate::videos::{Content, Paging, Video, atom, video_json};

#[derive(Debug, Clone)]
pub struct UploadToken {
    pub token: String,
    pub ttl: u32,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl UploadToken {
    fn live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|e| e > now)
    }

    fn json(&self) -> Value {
        json!({
            "token": self.token,
            "ttl": self.ttl,
            "createdAt": atom(self.created_at),
            "expiresAt": self.expires_at.map(atom),
        })
    }
}

#[derive(Debug, Default)]
pub struct UploadTokenStore(Mutex<HashMap<String, UploadToken>>);

impl UploadTokenStore {
    fn create(&self, ttl: u32, now: DateTime<Utc>) -> UploadToken {
        let t = UploadToken {
            token: format!("to{}", random_id(22)),
            ttl,
            created_at: now,
            expires_at: (ttl > 0).then(|| now + chrono::Duration::seconds(ttl.into())),
        };
        self.0.lock().unwrap().insert(t.token.clone(), t.clone());
        t
    }

    fn get_live(&self, token: &str, now: DateTime<Utc>) -> Option<UploadToken> {
        self.0
            .lock()
            .unwrap()
            .get(token)
            .filter(|t| t.live(now))
            .cloned()
    }

    fn live(&self, now: DateTime<Utc>) -> Vec<UploadToken> {
        self.0
            .lock()
            .unwrap()
            .values()
            .filter(|t| t.live(now))
            .cloned()
            .collect()
    }

    fn delete(&self, token: &str) -> bool {
        self.0.lock().unwrap().remove(token).is_some()
    }
}

/// An api.video-style id body: 22 alphanumeric characters.
pub fn random_id(len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|_| CHARS[rand::random_range(0..CHARS.len())] as char)
        .collect()
}

/// `POST /upload-tokens` `{"ttl": seconds}` (0 or absent: no expiry).
pub async fn create(sim: web::Data<Sim>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    sim.api(&req, Endpoint::CreateUploadToken, || {
        let ttl = if body.iter().all(u8::is_ascii_whitespace) {
            0
        } else {
            let v: Value = serde_json::from_slice(&body)
                .map_err(|_| ApiError::bad_request("", "The request body is not valid JSON."))?;
            match v.get("ttl") {
                None | Some(Value::Null) => 0,
                Some(n) => {
                    n.as_u64()
                        .filter(|n| *n <= i32::MAX as u64)
                        .ok_or_else(|| ApiError::out_of_range("ttl"))? as u32
                }
            }
        };
        Ok(HttpResponse::Ok().json(sim.upload_tokens.create(ttl, sim.now()).json()))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    pub sort_by: Option<String>,
    pub sort_order: Option<String>,
    pub current_page: Option<String>,
    pub page_size: Option<String>,
}

/// `GET /upload-tokens`: active tokens, paginated.
pub async fn list(sim: web::Data<Sim>, req: HttpRequest, q: web::Query<ListQuery>) -> HttpResponse {
    sim.api(&req, Endpoint::ListUploadTokens, || {
        let paging = Paging::parse(
            q.current_page.as_deref(),
            q.page_size.as_deref(),
            q.sort_order.as_deref(),
        )?;
        let mut tokens = sim.upload_tokens.live(sim.now());
        tokens.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then_with(|| a.token.cmp(&b.token))
        });
        match q.sort_by.as_deref() {
            None | Some("createdAt") => {}
            Some("ttl") => tokens.sort_by_key(|t| t.ttl),
            Some(_) => {
                return Err(ApiError::bad_request(
                    "sortBy",
                    "This value should be createdAt or ttl.",
                ));
            }
        }
        if paging.descending {
            tokens.reverse();
        }
        let (page, pagination) = paging.page(tokens, &format!("{}/upload-tokens", sim.api_host));
        let data: Vec<Value> = page.iter().map(UploadToken::json).collect();
        Ok(HttpResponse::Ok().json(json!({"data": data, "pagination": pagination})))
    })
    .await
}

/// `GET /upload-tokens/{uploadToken}`.
pub async fn get(sim: web::Data<Sim>, req: HttpRequest, token: web::Path<String>) -> HttpResponse {
    sim.api(&req, Endpoint::GetUploadToken, || {
        let t = sim
            .upload_tokens
            .get_live(&token, sim.now())
            .ok_or_else(|| ApiError::not_found("uploadToken"))?;
        Ok(HttpResponse::Ok().json(t.json()))
    })
    .await
}

/// `DELETE /upload-tokens/{uploadToken}` → 204.
pub async fn delete(
    sim: web::Data<Sim>,
    req: HttpRequest,
    token: web::Path<String>,
) -> HttpResponse {
    sim.api(&req, Endpoint::DeleteUploadToken, || {
        if sim.upload_tokens.delete(&token) {
            Ok(HttpResponse::NoContent().finish())
        } else {
            Err(ApiError::not_found("uploadToken"))
        }
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct UploadQuery {
    pub token: Option<String>,
}

/// `POST /upload?token=...` (multipart, field `file`, optional `videoId`): no API auth, only
/// the upload token. Answers 201 with a new Video.
pub async fn upload(
    sim: web::Data<Sim>,
    q: web::Query<UploadQuery>,
    mut form: Multipart,
) -> HttpResponse {
    let gate = match sim.enter(Endpoint::Upload).await {
        Ok(g) => g,
        Err(resp) => return resp,
    };
    let now = sim.now();
    let unauthorized = |slug, title: &str| {
        sim.calls.hit(calls::UNAUTHORIZED);
        Err(ApiError::new(401, slug, title, Some("token")))
    };
    let result = match q.token.as_deref().filter(|t| !t.is_empty()) {
        None => unauthorized(
            "authentication-missing-upload-token",
            "The upload token is missing.",
        ),
        Some(t) if sim.upload_tokens.get_live(t, now).is_none() => unauthorized(
            "authentication-invalid-upload-token",
            "The upload token is invalid or expired.",
        ),
        Some(_) => receive(&sim, &mut form, now).await,
    };
    gate.finish(result)
}

async fn receive(
    sim: &Sim,
    form: &mut Multipart,
    now: DateTime<Utc>,
) -> Result<HttpResponse, ApiError> {
    let mut file: Option<(String, Vec<u8>)> = None;
    let mut video_id: Option<String> = None;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|_| {
            ApiError::bad_request("file", "The request is not valid multipart/form-data.")
        })?;
        let name = field.name().unwrap_or("").to_owned();
        let file_name = field
            .content_disposition()
            .and_then(|c| c.get_filename())
            .unwrap_or("")
            .to_owned();
        let mut data = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk =
                chunk.map_err(|_| ApiError::bad_request("file", "The upload was interrupted."))?;
            data.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "file" => file = Some((file_name, data)),
            "videoId" => video_id = Some(String::from_utf8_lossy(&data).into_owned()),
            _ => {}
        }
    }
    let Some((file_name, data)) = file else {
        return Err(ApiError::new(
            400,
            "attribute-required",
            "This attribute is required.",
            Some("file"),
        ));
    };
    if let Some(id) = video_id.filter(|s| !s.is_empty()) {
        let v = sim
            .videos
            .append_upload(&id, &data)
            .ok_or_else(|| ApiError::not_found("videoId"))?;
        return Ok(HttpResponse::Created().json(video_json(sim, &v)));
    }
    let title = match file_name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem.to_owned(),
        _ if !file_name.is_empty() => file_name.clone(),
        _ => "upload".to_owned(),
    };
    let video = Video {
        id: format!("vi{}", random_id(22)),
        title,
        description: String::new(),
        public: true,
        mp4_support: true,
        created_at: now,
        content: Content::Uploaded {
            file_name,
            bytes: Arc::new(data),
        },
    };
    sim.videos.insert(video.clone());
    Ok(HttpResponse::Created().json(video_json(sim, &video)))
}
