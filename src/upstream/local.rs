//! A folder of HLS titles: `{media_dir}/{video_id}/master.m3u8` and whatever it references.
//! Paths are already restricted by `AssetPath` (no `..`, no encodings); on top of that the
//! resolved file must still be inside the video's folder after following symlinks.

use super::{MAX_PLAYLIST_BYTES, Source, UpstreamError};
use crate::domain::VideoId;
use crate::hls::asset_path::AssetPath;
use actix_files::NamedFile;
use actix_web::{HttpRequest, HttpResponse};
use std::path::{Path, PathBuf};
use url::Url;

const ENTRY: &str = "master.m3u8";

#[derive(Clone)]
pub struct LocalOrigin {
    root: PathBuf,
}

impl LocalOrigin {
    pub fn new(media_dir: &Path) -> Result<Self, String> {
        let root = media_dir.canonicalize().map_err(|e| {
            format!(
                "VODGATE_MEDIA_DIR {} is not a readable folder: {e}",
                media_dir.display()
            )
        })?;
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every title folder that has a master playlist (for the demo storefront).
    pub fn titles(&self) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join(ENTRY).is_file())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| VideoId::parse(n).is_ok())
            .collect();
        out.sort();
        out
    }

    pub async fn open(&self, video: &VideoId) -> Result<Source, UpstreamError> {
        let dir = self.root.join(video.as_str());
        let dir = tokio::fs::canonicalize(&dir)
            .await
            .map_err(|_| UpstreamError::NotFound)?;
        if !dir.starts_with(&self.root) || !dir.join(ENTRY).is_file() {
            return Err(UpstreamError::NotFound);
        }
        let asset_base = Url::from_directory_path(&dir)
            .map_err(|_| UpstreamError::Unavailable("media path is not absolute".into()))?;
        Ok(Source {
            asset_base,
            entry: ENTRY.into(),
        })
    }

    /// The file for `path` under the source's folder, refusing anything that resolves out.
    async fn resolve(&self, source: &Source, path: &AssetPath) -> Result<PathBuf, UpstreamError> {
        let dir = source
            .asset_base
            .to_file_path()
            .map_err(|_| UpstreamError::NotFound)?;
        let file = tokio::fs::canonicalize(dir.join(path.as_str()))
            .await
            .map_err(|_| UpstreamError::NotFound)?;
        if !file.starts_with(&dir) || !file.starts_with(&self.root) {
            tracing::warn!(asset.path = %path.as_str(), "refused a path that resolves outside the video's folder");
            return Err(UpstreamError::NotFound);
        }
        Ok(file)
    }

    pub async fn playlist(
        &self,
        source: &Source,
        path: &AssetPath,
    ) -> Result<String, UpstreamError> {
        let file = self.resolve(source, path).await?;
        let meta = tokio::fs::metadata(&file)
            .await
            .map_err(|_| UpstreamError::NotFound)?;
        if !meta.is_file() {
            return Err(UpstreamError::NotFound);
        }
        if meta.len() > MAX_PLAYLIST_BYTES as u64 {
            return Err(UpstreamError::Invalid(format!(
                "playlist larger than {MAX_PLAYLIST_BYTES} bytes"
            )));
        }
        let bytes = tokio::fs::read(&file)
            .await
            .map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
        String::from_utf8(bytes).map_err(|_| UpstreamError::Invalid("playlist is not UTF-8".into()))
    }

    pub async fn media(
        &self,
        req: &HttpRequest,
        source: &Source,
        path: &AssetPath,
    ) -> Result<HttpResponse, UpstreamError> {
        let file = self.resolve(source, path).await?;
        let handle = tokio::fs::File::open(&file)
            .await
            .map_err(|_| UpstreamError::NotFound)?
            .into_std()
            .await;
        let named = NamedFile::from_file(handle, &file).map_err(|_| UpstreamError::NotFound)?;
        let mime: actix_web::mime::Mime = path
            .content_type()
            .parse()
            .unwrap_or(actix_web::mime::APPLICATION_OCTET_STREAM);
        // NamedFile streams in chunks and answers Range / If-Range itself.
        Ok(named
            .set_content_type(mime)
            .disable_content_disposition()
            .use_last_modified(false)
            .into_response(req))
    }

    pub async fn title(&self, video: &VideoId) -> Option<String> {
        let t = tokio::fs::read_to_string(self.root.join(video.as_str()).join("title.txt"))
            .await
            .ok()?;
        let t = t.trim();
        (!t.is_empty() && t.len() <= 200).then(|| t.to_owned())
    }
}
