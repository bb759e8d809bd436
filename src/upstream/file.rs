//! Serving one file of the local origin: a key or a segment, streamed, with Range.
//!
//! Filesystem calls block, so they run on the worker's blocking pool, and every trip there
//! is a thread hand-off. This path is taken for every segment of every viewer, so it makes
//! as few trips as it can: one that resolves the path (symlinks followed, containment
//! checked), opens, stats, answers the Range and reads the first chunk, then one per
//! further `CHUNK`. A 100 KB segment is one trip; a 2 MB one is eight. (actix-files'
//! `NamedFile` made four to six trips before the first byte and one per 64 KiB.)
//! Files are never read whole: at most one chunk per response is in memory.

use super::UpstreamError;
use actix_web::body::SizedStream;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use futures_util::{StreamExt, stream};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Bytes read per trip to the blocking pool. Bigger means fewer hand-offs; smaller means
/// less memory per response in flight (10,000 viewers × one chunk must stay small).
pub const CHUNK: u64 = 256 * 1024;

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

/// The result of the first trip: the open file positioned after `first`.
struct Opened {
    file: File,
    total: u64,
    span: Span,
    first: Bytes,
}

fn read_chunk(file: &File, want: u64) -> io::Result<Bytes> {
    let n = want.min(CHUNK);
    // `read_to_end` into spare capacity: no zeroing of the buffer first.
    let mut buf = Vec::with_capacity(usize::try_from(n).unwrap_or(usize::MAX));
    file.take(n).read_to_end(&mut buf)?;
    if buf.is_empty() && n > 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the file shrank while it was being served",
        ));
    }
    Ok(Bytes::from(buf))
}

fn open(
    root: &Path,
    dir: &Path,
    rel: &str,
    range: Option<&str>,
    if_range: bool,
    head: bool,
) -> Result<Opened, UpstreamError> {
    let path = resolve(root, dir, rel)?;
    let mut file = File::open(&path).map_err(|_| UpstreamError::NotFound)?;
    let meta = file.metadata().map_err(|_| UpstreamError::NotFound)?;
    if !meta.is_file() {
        return Err(UpstreamError::NotFound);
    }
    let total = meta.len();
    let span = span(range, if_range, total);
    let (start, len) = match span {
        Span::Whole => (0, total),
        Span::Part { start, len } => (start, len),
        Span::Unsatisfiable => (0, 0),
    };
    let io = |e: io::Error| UpstreamError::Unavailable(format!("reading a media file: {e}"));
    if start > 0 {
        file.seek(SeekFrom::Start(start)).map_err(io)?;
    }
    let first = if head || len == 0 {
        Bytes::new()
    } else {
        read_chunk(&file, len).map_err(io)?
    };
    Ok(Opened {
        file,
        total,
        span,
        first,
    })
}

/// Serve `rel` under `dir` as `content_type`, honouring Range and HEAD.
pub async fn serve(
    req: &HttpRequest,
    root: PathBuf,
    dir: PathBuf,
    rel: String,
    content_type: &'static str,
) -> Result<HttpResponse, UpstreamError> {
    let range = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let if_range = req.headers().contains_key(header::IF_RANGE);
    let head = req.method() == actix_web::http::Method::HEAD;
    let opened = web::block(move || open(&root, &dir, &rel, range.as_deref(), if_range, head))
        .await
        .map_err(|e| UpstreamError::Unavailable(format!("blocking pool: {e}")))??;

    let Opened {
        file,
        total,
        span,
        first,
    } = opened;
    let mut res = HttpResponse::build(StatusCode::OK);
    res.insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::ACCEPT_RANGES, "bytes"));
    let len = match span {
        Span::Whole => total,
        Span::Part { start, len } => {
            res.status(StatusCode::PARTIAL_CONTENT).insert_header((
                header::CONTENT_RANGE,
                format!("bytes {start}-{}/{total}", start + len - 1),
            ));
            len
        }
        Span::Unsatisfiable => {
            return Ok(res
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .insert_header((header::CONTENT_RANGE, format!("bytes */{total}")))
                .finish());
        }
    };
    if head {
        // Headers as for GET (Content-Length included), and no body.
        let none = stream::empty::<Result<Bytes, io::Error>>();
        return Ok(res.body(SizedStream::new(len, none)));
    }
    let left = len - first.len() as u64;
    let rest = stream::try_unfold((file, left), |(file, left)| async move {
        if left == 0 {
            return Ok(None);
        }
        let (file, chunk) = web::block(move || read_chunk(&file, left).map(|c| (file, c)))
            .await
            .map_err(io::Error::other)??;
        let left = left - chunk.len() as u64;
        Ok::<_, io::Error>(Some((chunk, (file, left))))
    });
    let body = stream::once(async { Ok::<_, io::Error>(first) }).chain(rest);
    Ok(res.body(SizedStream::new(len, body)))
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
    fn chunks_are_bounded_and_a_shrunk_file_is_an_error() {
        let dir = std::env::temp_dir().join(format!("vodgate-file-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("seg.ts");
        std::fs::write(&p, vec![7u8; (CHUNK as usize) * 2 + 10]).unwrap();
        let f = File::open(&p).unwrap();
        assert_eq!(read_chunk(&f, u64::MAX).unwrap().len() as u64, CHUNK);
        assert_eq!(read_chunk(&f, 5).unwrap().len(), 5);
        std::fs::write(&p, b"").unwrap();
        assert!(read_chunk(&f, 10).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
