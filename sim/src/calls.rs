//! Per-endpoint call counters and outcome counters, readable through `GET /_sim/calls`.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// The endpoints the sim implements; the name is the counter key and the fault scope key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    AuthApiKey,
    AuthRefresh,
    ListVideos,
    GetVideo,
    GetVideoStatus,
    CreateUploadToken,
    ListUploadTokens,
    GetUploadToken,
    DeleteUploadToken,
    Upload,
    Session,
    VodAsset,
    Embed,
}

impl Endpoint {
    pub const ALL: [Endpoint; 13] = [
        Endpoint::AuthApiKey,
        Endpoint::AuthRefresh,
        Endpoint::ListVideos,
        Endpoint::GetVideo,
        Endpoint::GetVideoStatus,
        Endpoint::CreateUploadToken,
        Endpoint::ListUploadTokens,
        Endpoint::GetUploadToken,
        Endpoint::DeleteUploadToken,
        Endpoint::Upload,
        Endpoint::Session,
        Endpoint::VodAsset,
        Endpoint::Embed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Endpoint::AuthApiKey => "auth_api_key",
            Endpoint::AuthRefresh => "auth_refresh",
            Endpoint::ListVideos => "list_videos",
            Endpoint::GetVideo => "get_video",
            Endpoint::GetVideoStatus => "get_video_status",
            Endpoint::CreateUploadToken => "create_upload_token",
            Endpoint::ListUploadTokens => "list_upload_tokens",
            Endpoint::GetUploadToken => "get_upload_token",
            Endpoint::DeleteUploadToken => "delete_upload_token",
            Endpoint::Upload => "upload",
            Endpoint::Session => "session",
            Endpoint::VodAsset => "vod_asset",
            Endpoint::Embed => "embed",
        }
    }

    /// A coarser scope usable in fault rules: `auth`, `api` (regular endpoints) or `vod`.
    pub fn group(self) -> &'static str {
        match self {
            Endpoint::AuthApiKey | Endpoint::AuthRefresh => "auth",
            Endpoint::Session | Endpoint::VodAsset | Endpoint::Embed => "vod",
            _ => "api",
        }
    }

    /// Regular endpoints carry rate-limit headers and count against the rate limit.
    pub fn is_rate_limited(self) -> bool {
        self.group() == "api"
    }
}

/// Outcome counters (not endpoints).
pub const PRIVATE_TOKENS_MINTED: &str = "private_tokens_minted";
pub const PRIVATE_TOKEN_REUSE_ATTEMPTS: &str = "private_token_reuse_attempts";
pub const SESSIONS_OPENED: &str = "sessions_opened";
pub const EXPIRED_SESSION_REJECTIONS: &str = "expired_session_rejections";
pub const VOD_REJECTIONS: &str = "vod_rejections";
pub const UNAUTHORIZED: &str = "unauthorized";
pub const RATE_LIMITED: &str = "rate_limited";
pub const FAULT_ERRORS: &str = "faults_error";
pub const FAULT_RATE_LIMITED: &str = "faults_rate_limited";
pub const FAULT_DROPPED: &str = "faults_dropped";
pub const FAULT_DELAYED: &str = "faults_delayed";

const OUTCOMES: [&str; 11] = [
    PRIVATE_TOKENS_MINTED,
    PRIVATE_TOKEN_REUSE_ATTEMPTS,
    SESSIONS_OPENED,
    EXPIRED_SESSION_REJECTIONS,
    VOD_REJECTIONS,
    UNAUTHORIZED,
    RATE_LIMITED,
    FAULT_ERRORS,
    FAULT_RATE_LIMITED,
    FAULT_DROPPED,
    FAULT_DELAYED,
];

#[derive(Debug)]
pub struct Calls(Mutex<BTreeMap<&'static str, u64>>);

impl Default for Calls {
    fn default() -> Self {
        let calls = Calls(Mutex::new(BTreeMap::new()));
        calls.reset();
        calls
    }
}

impl Calls {
    pub fn hit(&self, key: &'static str) {
        *self.0.lock().unwrap().entry(key).or_insert(0) += 1;
    }

    pub fn get(&self, key: &str) -> u64 {
        self.0.lock().unwrap().get(key).copied().unwrap_or(0)
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect()
    }

    pub fn reset(&self) {
        let mut map = self.0.lock().unwrap();
        map.clear();
        for ep in Endpoint::ALL {
            map.insert(ep.name(), 0);
        }
        for key in OUTCOMES {
            map.insert(key, 0);
        }
    }
}
