//! Videos: the store (seeded from a media folder), `GET /videos`, `GET /videos/{videoId}` and
//! `GET /videos/{videoId}/status`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::calls::{self, Endpoint};
use crate::error::ApiError;
use crate::state::Sim;

/// Where a video's bytes come from.
#[derive(Debug, Clone)]
pub enum Content {
    /// A folder holding `master.m3u8`, renditions, segments, keys (and optionally
    /// `thumbnail.jpg`, `source.mp4`).
    Folder(PathBuf),
    /// Bytes received through `POST /upload` (not encoded: no HLS).
    Uploaded {
        file_name: String,
        bytes: Arc<Vec<u8>>,
    },
}

#[derive(Debug, Clone)]
pub struct Video {
    pub id: String,
    pub title: String,
    pub description: String,
    pub public: bool,
    pub mp4_support: bool,
    pub created_at: DateTime<Utc>,
    pub content: Content,
}

#[derive(Debug, Default)]
pub struct VideoStore(Mutex<BTreeMap<String, Video>>);

impl VideoStore {
    /// Seed from `dir`: every subfolder holding a `master.m3u8` becomes a private video whose id
    /// is the folder name. A file named `public` in the folder, or an id in `public_ids`, makes
    /// it public. An optional `title` or `title.txt` file gives the title.
    pub fn from_media_dir(
        dir: &Path,
        public_ids: &[String],
        now: DateTime<Utc>,
    ) -> std::io::Result<Self> {
        let store = VideoStore::default();
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            if !path.join("master.m3u8").is_file() {
                continue;
            }
            let Some(id) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
                continue;
            };
            let public = public_ids.contains(&id) || path.join("public").exists();
            store.insert_folder(&id, &path, public, now);
        }
        Ok(store)
    }

    pub fn insert_folder(&self, id: &str, path: &Path, public: bool, now: DateTime<Utc>) {
        let title = ["title", "title.txt"]
            .iter()
            .filter_map(|f| std::fs::read_to_string(path.join(f)).ok())
            .map(|t| t.trim().to_owned())
            .find(|t| !t.is_empty())
            .unwrap_or_else(|| id.to_owned());
        self.insert(Video {
            id: id.to_owned(),
            title,
            description: String::new(),
            public,
            mp4_support: true,
            created_at: now,
            content: Content::Folder(path.to_owned()),
        });
    }

    pub fn insert(&self, video: Video) {
        self.0.lock().unwrap().insert(video.id.clone(), video);
    }

    pub fn get(&self, id: &str) -> Option<Video> {
        self.0.lock().unwrap().get(id).cloned()
    }

    pub fn all(&self) -> Vec<Video> {
        self.0.lock().unwrap().values().cloned().collect()
    }

    pub fn set_public(&self, id: &str, public: bool) -> bool {
        match self.0.lock().unwrap().get_mut(id) {
            Some(v) => {
                v.public = public;
                true
            }
            None => false,
        }
    }

    /// Append bytes to an uploaded video (chunked upload with `videoId`).
    pub fn append_upload(&self, id: &str, more: &[u8]) -> Option<Video> {
        let mut map = self.0.lock().unwrap();
        let v = map.get_mut(id)?;
        match &mut v.content {
            Content::Uploaded { bytes, .. } => {
                let mut all = bytes.as_ref().clone();
                all.extend_from_slice(more);
                *bytes = Arc::new(all);
                Some(v.clone())
            }
            Content::Folder(_) => None,
        }
    }
}

pub fn atom(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// The asset URLs; for a private video each call mints a fresh one-time private token.
pub fn assets(sim: &Sim, v: &Video) -> Value {
    let (player, vod) = if v.public {
        (
            format!("{}/vod/{}", sim.embed_host, v.id),
            format!("{}/vod/{}", sim.vod_host, v.id),
        )
    } else {
        let token = sim.vod.mint(&v.id, sim.now());
        sim.calls.hit(calls::PRIVATE_TOKENS_MINTED);
        (
            format!("{}/vod/{}?token={token}", sim.embed_host, v.id),
            format!("{}/vod/{}/token/{token}", sim.vod_host, v.id),
        )
    };
    let mut assets = json!({
        "iframe": format!(
            "<iframe src=\"{player}\" width=\"100%\" height=\"100%\" frameborder=\"0\" scrolling=\"no\" allowfullscreen=\"\"></iframe>"
        ),
        "player": player,
        "hls": format!("{vod}/hls/manifest.m3u8"),
        "thumbnail": format!("{vod}/thumbnail.jpg"),
    });
    if v.mp4_support {
        assets["mp4"] = json!(format!("{vod}/mp4/source.mp4"));
    }
    assets
}

/// The Video object (schema `video`).
pub fn video_json(sim: &Sim, v: &Video) -> Value {
    let at = atom(v.created_at);
    json!({
        "videoId": v.id,
        "createdAt": at,
        "title": v.title,
        "description": v.description,
        "publishedAt": at,
        "updatedAt": at,
        "discarded": false,
        "discardedAt": null,
        "deletesAt": null,
        "language": "en",
        "languageOrigin": "api",
        "tags": [],
        "metadata": [],
        "source": { "uri": format!("/videos/{}/source", v.id) },
        "assets": assets(sim, v),
        "public": v.public,
        "panoramic": false,
        "mp4Support": v.mp4_support,
    })
}

/// `GET /videos/{videoId}`.
pub async fn get_video(
    sim: web::Data<Sim>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    sim.api(&req, Endpoint::GetVideo, || {
        let v = sim
            .videos
            .get(&id)
            .ok_or_else(|| ApiError::not_found("videoId"))?;
        Ok(HttpResponse::Ok().json(video_json(&sim, &v)))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    pub title: Option<String>,
    pub sort_by: Option<String>,
    pub sort_order: Option<String>,
    pub current_page: Option<String>,
    pub page_size: Option<String>,
}

/// Parsed and checked paging parameters.
pub struct Paging {
    pub current_page: usize,
    pub page_size: usize,
    pub descending: bool,
}

impl Paging {
    pub fn parse(
        current_page: Option<&str>,
        page_size: Option<&str>,
        sort_order: Option<&str>,
    ) -> Result<Self, ApiError> {
        let int = |v: Option<&str>, name: &str, default: usize| -> Result<usize, ApiError> {
            match v {
                None => Ok(default),
                Some(s) => s.parse::<usize>().map_err(|_| ApiError::out_of_range(name)),
            }
        };
        let current_page = int(current_page, "currentPage", 1)?;
        let page_size = int(page_size, "pageSize", 25)?;
        if current_page < 1 {
            return Err(ApiError::out_of_range("currentPage"));
        }
        if !(1..=100).contains(&page_size) {
            return Err(ApiError::out_of_range("pageSize"));
        }
        let descending = match sort_order {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "sortOrder",
                    "This value should be asc or desc.",
                ));
            }
        };
        Ok(Paging {
            current_page,
            page_size,
            descending,
        })
    }

    /// Slice `items` and build the `pagination` object; `base` is the absolute list URL.
    pub fn page<T>(&self, items: Vec<T>, base: &str) -> (Vec<T>, Value) {
        let total = items.len();
        let pages = total.div_ceil(self.page_size).max(1);
        let start = (self.current_page - 1) * self.page_size;
        let data: Vec<T> = items.into_iter().skip(start).take(self.page_size).collect();
        let link = |rel: &str, page: usize| json!({"rel": rel, "uri": format!("{base}?currentPage={page}&pageSize={}", self.page_size)});
        let mut links = vec![link("self", self.current_page), link("first", 1)];
        if self.current_page > 1 {
            links.push(link("previous", (self.current_page - 1).min(pages)));
        }
        if self.current_page < pages {
            links.push(link("next", self.current_page + 1));
        }
        links.push(link("last", pages));
        let pagination = json!({
            "itemsTotal": total,
            "pagesTotal": pages,
            "pageSize": self.page_size,
            "currentPage": self.current_page,
            "currentPageItems": data.len(),
            "links": links,
        });
        (data, pagination)
    }
}

/// `GET /videos`: private items carry fresh tokens too.
pub async fn list_videos(
    sim: web::Data<Sim>,
    req: HttpRequest,
    q: web::Query<ListQuery>,
) -> HttpResponse {
    sim.api(&req, Endpoint::ListVideos, || {
        let paging = Paging::parse(
            q.current_page.as_deref(),
            q.page_size.as_deref(),
            q.sort_order.as_deref(),
        )?;
        let mut videos = sim.videos.all();
        if let Some(t) = q.title.as_deref() {
            videos.retain(|v| v.title.contains(t));
        }
        match q.sort_by.as_deref() {
            None => {}
            Some("title") => videos.sort_by(|a, b| a.title.cmp(&b.title)),
            Some("createdAt" | "publishedAt" | "updatedAt") => videos.sort_by_key(|v| v.created_at),
            Some(_) => return Err(ApiError::bad_request("sortBy", "This value is not valid.")),
        }
        if paging.descending {
            videos.reverse();
        }
        let (page, pagination) = paging.page(videos, &format!("{}/videos", sim.api_host));
        let data: Vec<Value> = page.iter().map(|v| video_json(&sim, v)).collect();
        Ok(HttpResponse::Ok().json(json!({"data": data, "pagination": pagination})))
    })
    .await
}

/// `GET /videos/{videoId}/status` (schema `video-status`).
pub async fn get_status(
    sim: web::Data<Sim>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    sim.api(&req, Endpoint::GetVideoStatus, || {
        let v = sim
            .videos
            .get(&id)
            .ok_or_else(|| ApiError::not_found("videoId"))?;
        Ok(HttpResponse::Ok().json(status_json(&v)))
    })
    .await
}

const QUALITIES: [&str; 6] = ["240p", "360p", "480p", "720p", "1080p", "2160p"];

fn status_json(v: &Video) -> Value {
    let (size, playable, qualities, resolution) = match &v.content {
        Content::Folder(dir) => {
            let mut qualities: Vec<Value> = QUALITIES
                .iter()
                .filter(|q| dir.join(q).join("index.m3u8").is_file())
                .map(|q| json!({"type": "hls", "quality": q, "status": "encoded"}))
                .collect();
            if v.mp4_support {
                qualities.push(json!({"type": "mp4", "quality": "360p", "status": "encoded"}));
            }
            (folder_size(dir), true, qualities, master_resolution(dir))
        }
        Content::Uploaded { bytes, .. } => (bytes.len() as u64, false, vec![], None),
    };
    let (width, height) =
        resolution.map_or((Value::Null, Value::Null), |(w, h)| (json!(w), json!(h)));
    json!({
        "ingest": {
            "status": "uploaded",
            "filesize": size,
            "receivedBytes": [{"from": 0, "to": size.saturating_sub(1), "total": size}],
        },
        "encoding": {
            "playable": playable,
            "qualities": qualities,
            "metadata": {
                "width": width,
                "height": height,
                "bitrate": null,
                "duration": null,
                "framerate": null,
                "samplerate": null,
                "videoCodec": null,
                "audioCodec": null,
                "aspectRatio": null,
            },
        },
    })
}

fn folder_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => folder_size(&e.path()),
            Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

/// The first `RESOLUTION=WxH` of the master playlist.
fn master_resolution(dir: &Path) -> Option<(u32, u32)> {
    let text = std::fs::read_to_string(dir.join("master.m3u8")).ok()?;
    let at = text.find("RESOLUTION=")? + "RESOLUTION=".len();
    let rest: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let (w, h) = rest.split_once('x')?;
    Some((w.parse().ok()?, h.parse().ok()?))
}
