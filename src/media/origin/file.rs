//! Serving one file of the local origin: a key or a segment, streamed, with Range.
//!
//! This path is taken for every segment of every viewer, so it avoids trips to the blocking
//! pool, each a thread hand-off that cost more than the work itself in the profiles
//! (bench/README.md). A file every viewer of a title asks for is hot: its resolved path is
//! remembered for `RESOLVED_FOR` (symlinks followed, containment checked), it is opened and
//! stat'ed on the worker as nginx does, and its bytes are read with `RWF_NOWAIT`, which
//! returns only what the page cache already holds and never waits for the disk. Anything
//! else (a cold path, bytes not cached, a filesystem without `RWF_NOWAIT`) takes one trip to
//! the blocking pool per `CHUNK`. Files are streamed, at most one chunk per response in
//! memory, except the small hot ones: a file of at most `HOT_FILE_MAX` served whole from the
//! page cache is kept in memory (`HOT_BYTES_MAX` for all of them) and later answers come from
//! that copy while a `stat` of the path shows the same file (inode, size, mtime, ctime): no
//! open, no read, no buffer per request. (actix-files' `NamedFile` made four to six trips
//! before the first byte and one per 64 KiB.)

use super::UpstreamError;
use crate::media::body::{Media, MediaBody, MediaRequest};
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, stream};
use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::fs::File;
use std::hash::BuildHasher;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// Bytes read per read call. Bigger means fewer calls (and trips, when the pool is used);
/// smaller means less memory per response in flight (10,000 viewers × one chunk).
pub const CHUNK: u64 = 256 * 1024;

/// How long a resolved path is trusted: a file renamed, removed or re-linked in the media
/// folder is seen within this long.
const RESOLVED_FOR: Duration = Duration::from_secs(2);
/// Entries kept at most (over all shards); past it a shard starts over (it refills from the
/// hot files).
const RESOLVED_MAX: usize = 50_000;
const RESOLVED_SHARDS: usize = 16;

/// Files up to this size are kept in memory once served whole from the page cache (an HLS
/// segment is a few hundred KB to a few MB; a key 16 bytes).
const HOT_FILE_MAX: u64 = 2 * 1024 * 1024;
/// Bytes kept for all hot files together; past it the cache starts over.
const HOT_BYTES_MAX: usize = 32 * 1024 * 1024;

/// `rel` under `dir`, with symlinks followed, refused unless it is still inside `dir`
/// (and `root`). Blocking.
pub fn resolve(root: &Path, dir: &Path, rel: &str) -> Result<PathBuf, UpstreamError> {
    let file = std::fs::canonicalize(dir.join(rel)).map_err(|_| UpstreamError::NotFound)?;
    if !file.starts_with(dir) || !file.starts_with(root) {
        tracing::warn!(asset.path = %rel, "refused a path that resolves outside the video's folder");
        return Err(UpstreamError::NotFound);
    }
    Ok(file)
}

/// Asset path → the checked file and when it was checked, for one video folder.
type InDir = HashMap<Box<str>, (Arc<Path>, Instant)>;

/// Video folder → asset path → the checked file, and when it was checked. Two levels, so
/// a lookup borrows the folder and the path instead of building an owned key per request.
#[derive(Default)]
struct Shard {
    by_dir: HashMap<PathBuf, InDir>,
    len: usize,
}

/// Recently resolved paths.
///
/// Sharded, each shard a `RwLock` picked by the hash of (folder, path): every segment looks
/// its file up here, and one map behind one mutex made every worker queue on it. A lookup
/// takes one shard's read lock (workers read in parallel, the same hot file included); only
/// a resolve (once per `RESOLVED_FOR` per file) writes. Shared by the workers rather than
/// one per worker, so a file is resolved once per `RESOLVED_FOR` for the whole instance.
pub struct Resolved {
    hasher: RandomState,
    shards: Box<[RwLock<Shard>]>,
    /// The bytes of small hot files (see `Hot`).
    hot: Hot,
}

impl Default for Resolved {
    fn default() -> Self {
        Self {
            hasher: RandomState::new(),
            shards: (0..RESOLVED_SHARDS).map(|_| RwLock::default()).collect(),
            hot: Hot::default(),
        }
    }
}

impl Resolved {
    fn shard(&self, dir: &Path, rel: &str) -> &RwLock<Shard> {
        let i = self.hasher.hash_one((dir.as_os_str(), rel)) as usize % self.shards.len();
        &self.shards[i]
    }

    fn get(&self, dir: &Path, rel: &str) -> Option<Arc<Path>> {
        let m = self
            .shard(dir, rel)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        m.by_dir
            .get(dir)?
            .get(rel)
            .filter(|(_, at)| at.elapsed() < RESOLVED_FOR)
            .map(|(p, _)| p.clone())
    }

    fn put(&self, dir: &Path, rel: &str, file: Arc<Path>) {
        let mut m = self
            .shard(dir, rel)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if m.len >= RESOLVED_MAX / RESOLVED_SHARDS {
            *m = Shard::default();
        }
        let files = match m.by_dir.get_mut(dir) {
            Some(files) => files,
            None => m.by_dir.entry(dir.to_path_buf()).or_default(),
        };
        if files.insert(rel.into(), (file, Instant::now())).is_none() {
            m.len += 1;
        }
    }

    /// The checked file for `rel` under `dir`: remembered, or resolved on the blocking pool.
    pub async fn lookup(
        &self,
        root: &Path,
        dir: &Path,
        rel: &str,
    ) -> Result<Arc<Path>, UpstreamError> {
        if let Some(p) = self.get(dir, rel) {
            return Ok(p);
        }
        let (r, d, f) = (root.to_path_buf(), dir.to_path_buf(), rel.to_owned());
        let file: Arc<Path> = blocking(move || resolve(&r, &d, &f))
            .await
            .map_err(pool)??
            .into();
        self.put(dir, rel, file.clone());
        Ok(file)
    }
}

/// What says a file is still the one whose bytes were kept: replaced (rename), rewritten or
/// touched, one of these changes. The one change a stat cannot see is a rewrite to the same
/// length inside the filesystem's timestamp tick (a few ms) after the bytes were read; nginx's
/// `open_file_cache` has the same blind spot. Packagers publish by rename, which a stat sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Identity {
    fn of(meta: &std::fs::Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// A file kept in memory: the identity it had when read, and its bytes.
type HotFiles = HashMap<Arc<Path>, (Identity, Bytes)>;

/// The bytes of small files served whole, by resolved path. Sharded like `Resolved` (read
/// locks on the hot path, a write only when a file is kept); a hit hands out a reference to
/// the one copy (`Bytes`), so a segment costs a `stat` instead of open, read into a fresh
/// buffer and close.
struct Hot {
    hasher: RandomState,
    shards: Box<[RwLock<HotFiles>]>,
    /// Bytes kept (or being read to be kept) over all shards.
    bytes: AtomicUsize,
}

impl Default for Hot {
    fn default() -> Self {
        Self {
            hasher: RandomState::new(),
            shards: (0..RESOLVED_SHARDS).map(|_| RwLock::default()).collect(),
            bytes: AtomicUsize::new(0),
        }
    }
}

impl Hot {
    fn shard(&self, path: &Path) -> &RwLock<HashMap<Arc<Path>, (Identity, Bytes)>> {
        let i = self.hasher.hash_one(path.as_os_str()) as usize % self.shards.len();
        &self.shards[i]
    }

    /// The kept bytes of `path` if it is still the same file. `Err`: no such file now.
    fn get(&self, path: &Path) -> Result<Option<Bytes>, UpstreamError> {
        let kept = self
            .shard(path)
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(path)
            .cloned();
        let Some((identity, bytes)) = kept else {
            return Ok(None);
        };
        let meta = std::fs::metadata(path).map_err(|_| UpstreamError::NotFound)?;
        if !meta.is_file() {
            return Err(UpstreamError::NotFound);
        }
        Ok((Identity::of(&meta) == identity).then_some(bytes))
    }

    /// Room for `len` more bytes, reserved (give it back with `release` if unused); when
    /// the cache is full it starts over.
    fn reserve(&self, len: u64) -> bool {
        let Ok(len) = usize::try_from(len) else {
            return false;
        };
        if len as u64 > HOT_FILE_MAX {
            return false;
        }
        if self.bytes.fetch_add(len, Ordering::Relaxed) + len <= HOT_BYTES_MAX {
            return true;
        }
        self.bytes.fetch_sub(len, Ordering::Relaxed);
        for shard in &*self.shards {
            let mut m = shard.write().unwrap_or_else(PoisonError::into_inner);
            let freed: usize = m.values().map(|(_, b)| b.len()).sum();
            m.clear();
            self.bytes.fetch_sub(freed, Ordering::Relaxed);
        }
        false
    }

    fn release(&self, len: u64) {
        self.bytes.fetch_sub(len as usize, Ordering::Relaxed);
    }

    /// Keep `bytes` (reserved) as the content of `path`.
    fn put(&self, path: Arc<Path>, identity: Identity, bytes: Bytes) {
        let mut m = self
            .shard(&path)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((_, old)) = m.insert(path, (identity, bytes)) {
            self.bytes.fetch_sub(old.len(), Ordering::Relaxed);
        }
    }
}

fn pool(e: tokio::task::JoinError) -> UpstreamError {
    UpstreamError::Unavailable(format!("blocking pool: {e}"))
}

/// Run blocking file work on the runtime's blocking pool (what actix's `web::block` does:
/// each actix worker's runtime bounds it with `worker_max_blocking_threads`).
pub fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> tokio::task::JoinHandle<T> {
    tokio::task::spawn_blocking(f)
}

/// What the viewer asked for, in terms of the file's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Span {
    /// All of it: 200.
    Whole,
    /// One range: 206. `start` and `len` are within the file.
    Part { start: u64, len: u64 },
    /// A range that misses the file entirely: 416.
    Unsatisfiable,
}

/// RFC 9110 §14: one satisfiable range gets 206; a range past the end gets 416; a malformed
/// Range, several ranges (multipart is not worth it for HLS) or an `If-Range` (we hand out
/// no validators, so none can match) get the whole file.
fn span(range: Option<&str>, if_range: bool, total: u64) -> Span {
    let Some(range) = range.filter(|_| !if_range) else {
        return Span::Whole;
    };
    match http_range::HttpRange::parse(range, total) {
        Ok(r) if r.len() == 1 => Span::Part {
            start: r[0].start,
            len: r[0].length,
        },
        Ok(_) | Err(http_range::HttpRangeParseError::InvalidRange) => Span::Whole,
        Err(http_range::HttpRangeParseError::NoOverlap) => Span::Unsatisfiable,
    }
}

/// Only what the page cache holds already, without waiting for the disk; `None` when that
/// is nothing or the filesystem cannot tell (`EAGAIN`, `EOPNOTSUPP`, …): then read on the
/// blocking pool.
fn read_cached(file: &File, offset: u64, want: u64) -> Option<Bytes> {
    read_cached_upto(file, offset, want, CHUNK)
}

/// `read_cached`, up to `max` bytes in one call.
fn read_cached_upto(file: &File, offset: u64, want: u64, max: u64) -> Option<Bytes> {
    let n = usize::try_from(want.min(max)).ok()?;
    let mut buf = vec![0u8; n];
    let got = rustix::io::preadv2(
        file,
        &mut [io::IoSliceMut::new(&mut buf)],
        offset,
        rustix::io::ReadWriteFlags::NOWAIT,
    )
    .ok()?;
    if got == 0 {
        return None;
    }
    buf.truncate(got);
    Some(Bytes::from(buf))
}

/// Up to a chunk at `offset`, waiting for the disk if need be. Blocking.
fn read_chunk(file: &File, offset: u64, want: u64) -> io::Result<Bytes> {
    let n = usize::try_from(want.min(CHUNK)).unwrap_or(usize::MAX);
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if got == 0 && n > 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the file shrank while it was being served",
        ));
    }
    buf.truncate(got);
    Ok(Bytes::from(buf))
}

/// The next chunk at `offset`: from the page cache on the worker, else on the blocking pool.
async fn next_chunk(file: &Arc<File>, offset: u64, want: u64) -> io::Result<Bytes> {
    if let Some(b) = read_cached(file, offset, want) {
        return Ok(b);
    }
    let f = file.clone();
    blocking(move || read_chunk(&f, offset, want))
        .await
        .map_err(io::Error::other)?
}

/// Open and stat the checked file. On the worker, as nginx does: for a file that was just
/// resolved these are answered from the kernel's caches.
fn open(path: &Path) -> Result<(File, std::fs::Metadata), UpstreamError> {
    let file = File::open(path).map_err(|_| UpstreamError::NotFound)?;
    let meta = file.metadata().map_err(|_| UpstreamError::NotFound)?;
    if !meta.is_file() {
        return Err(UpstreamError::NotFound);
    }
    Ok((file, meta))
}

/// Serve `rel` under `dir` as `content_type`, honouring Range and HEAD.
pub async fn serve(
    req: &MediaRequest<'_>,
    resolved: &Resolved,
    root: &Path,
    dir: &Path,
    rel: &str,
    content_type: &'static str,
) -> Result<Media, UpstreamError> {
    let path = resolved.lookup(root, dir, rel).await?;
    let source = match resolved.hot.get(&path)? {
        Some(bytes) => Opened::Kept(bytes),
        None => {
            let (file, meta) = open(&path)?;
            Opened::File(file, meta)
        }
    };
    let total = match &source {
        Opened::Kept(bytes) => bytes.len() as u64,
        Opened::File(_, meta) => meta.len(),
    };
    let answer =
        |status, body| Media::new(status, content_type, body).header("accept-ranges", "bytes");
    let (start, len, media) = match span(req.range, req.if_range.is_some(), total) {
        Span::Whole => (0, total, answer(200, MediaBody::Empty)),
        Span::Part { start, len } => {
            let m = answer(206, MediaBody::Empty).header(
                "content-range",
                format!("bytes {start}-{}/{total}", start + len - 1),
            );
            (start, len, m)
        }
        Span::Unsatisfiable => {
            return Ok(
                answer(416, MediaBody::Empty).header("content-range", format!("bytes */{total}"))
            );
        }
    };
    let stream = if req.head || len == 0 {
        // Headers as for GET (Content-Length included), and no body.
        stream::empty().boxed()
    } else {
        match source {
            Opened::Kept(bytes) => one(bytes.slice(start as usize..(start + len) as usize)),
            Opened::File(file, meta) => read(&resolved.hot, path, file, &meta, start, len).await?,
        }
    };
    Ok(Media {
        body: MediaBody::Sized { len, stream },
        ..media
    })
}

/// Where a response's bytes come from.
enum Opened {
    /// A hot file's kept bytes, still the file's.
    Kept(Bytes),
    File(File, std::fs::Metadata),
}

fn one(bytes: Bytes) -> BoxStream<'static, io::Result<Bytes>> {
    stream::once(async { Ok(bytes) }).boxed()
}

/// `len` bytes at `start` of the opened file: kept whole if it is small and all in the page
/// cache, else streamed a chunk at a time.
async fn read(
    hot: &Hot,
    path: Arc<Path>,
    file: File,
    meta: &std::fs::Metadata,
    start: u64,
    len: u64,
) -> Result<BoxStream<'static, io::Result<Bytes>>, UpstreamError> {
    let total = meta.len();
    if start == 0 && len == total && hot.reserve(total) {
        match read_cached_upto(&file, 0, total, HOT_FILE_MAX) {
            Some(bytes) if bytes.len() as u64 == total => {
                hot.put(path, Identity::of(meta), bytes.clone());
                return Ok(one(bytes));
            }
            _ => hot.release(total),
        }
    }
    // The first chunk before answering: a file that cannot be read is an error status,
    // not a response cut short.
    let file = Arc::new(file);
    let first = next_chunk(&file, start, len)
        .await
        .map_err(|e| UpstreamError::Unavailable(format!("reading a media file: {e}")))?;
    let offset = start + first.len() as u64;
    let left = len - first.len() as u64;
    let rest = stream::try_unfold((file, offset, left), |(file, offset, left)| async move {
        if left == 0 {
            return Ok(None);
        }
        let chunk = next_chunk(&file, offset, left).await?;
        let n = chunk.len() as u64;
        Ok::<_, io::Error>(Some((chunk, (file, offset + n, left - n))))
    });
    Ok(one(first).chain(rest).boxed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(span(None, false, 100), Span::Whole);
        assert_eq!(
            span(Some("bytes=10-19"), false, 100),
            Span::Part { start: 10, len: 10 }
        );
        assert_eq!(
            span(Some("bytes=90-"), false, 100),
            Span::Part { start: 90, len: 10 }
        );
        assert_eq!(
            span(Some("bytes=-5"), false, 100),
            Span::Part { start: 95, len: 5 }
        );
        // Past the end: 416. Malformed, several ranges or If-Range: the whole file.
        assert_eq!(span(Some("bytes=200-300"), false, 100), Span::Unsatisfiable);
        assert_eq!(span(Some("bytes=oops"), false, 100), Span::Whole);
        assert_eq!(span(Some("bytes=0-1,5-6"), false, 100), Span::Whole);
        assert_eq!(span(Some("bytes=10-19"), true, 100), Span::Whole);
    }

    #[test]
    fn resolved_paths_are_remembered_per_folder_and_path_and_bounded() {
        let r = Resolved::default();
        let (a, b) = (Path::new("/media/a"), Path::new("/media/b"));
        let file: Arc<Path> = Path::new("/media/a/360p/seg0.ts").into();
        assert!(r.get(a, "360p/seg0.ts").is_none());
        r.put(a, "360p/seg0.ts", file.clone());
        assert_eq!(r.get(a, "360p/seg0.ts"), Some(file.clone()));
        assert!(r.get(b, "360p/seg0.ts").is_none());
        assert!(r.get(a, "360p/seg1.ts").is_none());
        r.put(a, "360p/seg0.ts", file.clone());
        let len = |r: &Resolved| {
            r.shards
                .iter()
                .map(|s| s.read().unwrap().len)
                .sum::<usize>()
        };
        assert_eq!(len(&r), 1);
        for i in 0..RESOLVED_MAX * 2 {
            r.put(b, &format!("seg{i}.ts"), file.clone());
        }
        assert!(len(&r) <= RESOLVED_MAX, "{}", len(&r));
    }

    async fn body(m: Media) -> (u16, Vec<u8>) {
        let MediaBody::Sized { stream, .. } = m.body else {
            return (m.status, vec![]);
        };
        let chunks: Vec<_> = stream.collect().await;
        let bytes = chunks
            .into_iter()
            .flat_map(|c| c.unwrap().to_vec())
            .collect();
        (m.status, bytes)
    }

    #[tokio::test]
    async fn a_small_file_is_kept_while_it_is_the_same_file() {
        let dir = std::env::temp_dir().join(format!("vodgate-hot-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let dir = dir.canonicalize().unwrap();
        std::fs::write(dir.join("seg.ts"), b"first version").unwrap();
        let r = Resolved::default();
        let get = MediaRequest::default();
        let serve = |req| serve(req, &r, &dir, &dir, "seg.ts", "video/mp2t");
        assert_eq!(
            body(serve(&get).await.unwrap()).await,
            (200, b"first version".to_vec())
        );
        let kept = |r: &Resolved| r.hot.bytes.load(Ordering::Relaxed);
        assert_eq!(kept(&r), 13);
        // Served from the kept bytes, ranges included.
        let range = MediaRequest {
            range: Some("bytes=6-12"),
            ..MediaRequest::default()
        };
        assert_eq!(
            body(serve(&range).await.unwrap()).await,
            (206, b"version".to_vec())
        );
        // Rewritten in place (same size): the new bytes, not the kept ones.
        std::thread::sleep(Duration::from_millis(10));
        std::fs::write(dir.join("seg.ts"), b"other version").unwrap();
        assert_eq!(
            body(serve(&get).await.unwrap()).await,
            (200, b"other version".to_vec())
        );
        assert_eq!(kept(&r), 13);
        // Removed: not found, though its path is still remembered.
        std::fs::remove_file(dir.join("seg.ts")).unwrap();
        assert!(matches!(serve(&get).await, Err(UpstreamError::NotFound)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn chunks_are_bounded_positional_and_a_shrunk_file_is_an_error() {
        let dir = std::env::temp_dir().join(format!("vodgate-file-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("seg.ts");
        let data: Vec<u8> = (0..(CHUNK as usize) * 2 + 10).map(|i| i as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let f = File::open(&p).unwrap();
        let c = read_chunk(&f, 0, u64::MAX).unwrap();
        assert_eq!(c.as_ref(), &data[..CHUNK as usize]);
        assert_eq!(read_chunk(&f, 7, 5).unwrap().as_ref(), &data[7..12]);
        // Just written, so in the page cache: the no-wait read finds it (or the
        // filesystem cannot say, and the caller falls back).
        if let Some(c) = read_cached(&f, 3, 4) {
            assert_eq!(c.as_ref(), &data[3..7]);
        }
        std::fs::write(&p, b"").unwrap();
        assert!(read_chunk(&f, 0, 10).is_err());
        assert!(read_cached(&f, 0, 10).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
