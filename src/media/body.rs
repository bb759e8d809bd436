//! A key or segment answer, as origins produce it and the HTTP layer sends it: status,
//! content type, the byte-range headers, and the body as a stream. Origins know about byte
//! ranges and streams, not about a web framework.

use bytes::Bytes;
use futures_util::stream::BoxStream;

/// What a viewer's media request asks for besides the path: the byte-range headers
/// (RFC 9110 §14) and whether it is a HEAD.
#[derive(Debug, Clone, Copy, Default)]
pub struct MediaRequest<'a> {
    pub range: Option<&'a str>,
    pub if_range: Option<&'a str>,
    /// HEAD: the same status and headers, no body.
    pub head: bool,
}

/// A media answer.
pub struct Media {
    /// 200, 206, 304 or 416.
    pub status: u16,
    pub content_type: &'static str,
    /// `Content-Range`, `Accept-Ranges`, `ETag`, `Last-Modified`, `X-Accel-Redirect`, …
    /// (never `Content-Length`: the body says its length).
    pub headers: Vec<(&'static str, String)>,
    pub body: MediaBody,
}

pub enum MediaBody {
    /// No body at all (a 416, a hand-over to nginx).
    Empty,
    /// Exactly `len` bytes (sent with `Content-Length`; for HEAD the stream is empty).
    Sized {
        len: u64,
        stream: BoxStream<'static, std::io::Result<Bytes>>,
    },
    /// A stream of unknown length (chunked).
    Unsized(BoxStream<'static, std::io::Result<Bytes>>),
}

impl Media {
    pub fn new(status: u16, content_type: &'static str, body: MediaBody) -> Self {
        Self {
            status,
            content_type,
            headers: vec![],
            body,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}
