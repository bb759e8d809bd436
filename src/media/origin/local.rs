//! A folder of HLS titles: `{media_dir}/{video_id}/master.m3u8` and whatever it references.
//! Paths are already restricted by `AssetPath` (no `..`, no encodings); on top of that the
//! resolved file must still be inside the video's folder after following symlinks.

use super::{MAX_PLAYLIST_BYTES, Source, UpstreamError, file};
use crate::domain::VideoId;
use crate::media::asset_path::AssetPath;
use crate::media::body::{Media, MediaBody, MediaRequest};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use url::Url;

const ENTRY: &str = "master.m3u8";

#[derive(Clone)]
pub struct LocalOrigin {
    root: PathBuf,
    /// nginx in front sends key and segment bytes: see `media`.
    accel_redirect: Option<String>,
    /// Every viewer of a title asks for the same few files; resolving one is a trip to
    /// the blocking pool, so resolved paths are remembered for a moment (see `file`).
    resolved: Arc<file::Resolved>,
}

impl LocalOrigin {
    pub fn new(media_dir: &Path, accel_redirect: Option<String>) -> Result<Self, String> {
        let root = media_dir.canonicalize().map_err(|e| {
            format!(
                "VODGATE_MEDIA_DIR {} is not a readable folder: {e}",
                media_dir.display()
            )
        })?;
        Ok(Self {
            root,
            accel_redirect,
            resolved: Arc::default(),
        })
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

    fn folder(source: &Source) -> Result<PathBuf, UpstreamError> {
        source
            .asset_base
            .to_file_path()
            .map_err(|_| UpstreamError::NotFound)
    }

    pub async fn playlist(
        &self,
        source: &Source,
        path: &AssetPath,
    ) -> Result<String, UpstreamError> {
        let (root, dir, rel) = (
            self.root.clone(),
            Self::folder(source)?,
            path.as_str().to_owned(),
        );
        // Resolve, check, stat and read in one trip to the blocking pool.
        let bytes = file::blocking(move || {
            let file = file::resolve(&root, &dir, &rel)?;
            let meta = std::fs::metadata(&file).map_err(|_| UpstreamError::NotFound)?;
            if !meta.is_file() {
                return Err(UpstreamError::NotFound);
            }
            if meta.len() > MAX_PLAYLIST_BYTES as u64 {
                return Err(UpstreamError::Invalid(format!(
                    "playlist larger than {MAX_PLAYLIST_BYTES} bytes"
                )));
            }
            std::fs::read(&file).map_err(|e| UpstreamError::Unavailable(e.to_string()))
        })
        .await
        .map_err(|e| UpstreamError::Unavailable(format!("blocking pool: {e}")))??;
        String::from_utf8(bytes).map_err(|_| UpstreamError::Invalid("playlist is not UTF-8".into()))
    }

    /// A key or segment, streamed with Range (see `file`); or, behind nginx, handed to it.
    pub async fn media(
        &self,
        req: &MediaRequest<'_>,
        source: &Source,
        path: &AssetPath,
    ) -> Result<Media, UpstreamError> {
        let dir = Self::folder(source)?;
        if let Some(prefix) = &self.accel_redirect {
            return self.accel_redirect(prefix, &dir, path).await;
        }
        file::serve(
            req,
            &self.resolved,
            &self.root,
            &dir,
            path.as_str(),
            path.content_type(),
        )
        .await
    }

    /// nginx's `X-Accel-Redirect`: vodgate has checked access; nginx sends the file from an
    /// `internal` location (sendfile, Range, no copy through vodgate). The path named is
    /// the one vodgate resolved and checked (symlinks followed, inside the video's folder),
    /// so nginx serves exactly the file the check was about.
    async fn accel_redirect(
        &self,
        prefix: &str,
        dir: &Path,
        path: &AssetPath,
    ) -> Result<Media, UpstreamError> {
        let file = self.resolved.lookup(&self.root, dir, path.as_str()).await?;
        // nginx takes the header as a URI: only names that need no escaping go there.
        // (A removed file: nginx answers 404 itself.)
        let target = file
            .strip_prefix(&self.root)
            .ok()
            .and_then(|t| t.to_str())
            .filter(|t| {
                t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-~/".contains(&b))
            })
            .ok_or_else(|| {
                tracing::warn!(asset.path = %path.as_str(), "a media file name nginx cannot be handed (characters outside A-Z a-z 0-9 . _ - ~ /)");
                UpstreamError::NotFound
            })?;
        Ok(Media::new(200, path.content_type(), MediaBody::Empty)
            .header("x-accel-redirect", format!("{prefix}{target}")))
    }

    pub async fn title(&self, video: &VideoId) -> Option<String> {
        let t = tokio::fs::read_to_string(self.root.join(video.as_str()).join("title.txt"))
            .await
            .ok()?;
        let t = t.trim();
        (!t.is_empty() && t.len() <= 200).then(|| t.to_owned())
    }
}
