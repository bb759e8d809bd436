//! HLS playlist rewriting: point every URI of an upstream playlist where the playback's
//! `UriPlan` says (today: everything back to the gateway, `/play/{playback}/`).
//!
//! Why this exists: vodgate relays HLS to entitled viewers without ever revealing where
//! the media really lives (an api.video URL carrying a private token, or a directory on
//! disk) and without becoming an open proxy. Players only ever talk to the gateway, so
//! every URI a player could follow in a playlist — segment and variant lines, and the
//! `URI` attributes of keys, init sections, renditions, parts, hints, reports — must be
//! replaced by `plan prefix for its kind + <path relative to the asset base>`. The kind
//! (playlist, key, segment, other) is the URI's role in the playlist, so a delivery mode
//! that sends segments elsewhere (a CDN) only changes the plan.
//! A key URI that a player hands to a DRM system (`skd:` for FairPlay, `data:` for
//! Widevine and PlayReady) or an empty key `URI=""` is kept as written: it reaches no origin.
//! Any other URI that resolves outside the title's asset base (another host, a parent
//! directory, a `data:` segment, a scheme-relative `//host/x`) is not rewritten
//! or passed through: the whole playlist is refused with
//! [`RewriteError::OutsideAssetBase`], because a relayed playlist that still names an
//! upstream would leak it, and a gateway path for it would make vodgate fetch arbitrary
//! URLs on a viewer's behalf.
//!
//! Everything that is not a URI is kept byte for byte (tags, other attributes, comments,
//! `EXT-X-BYTERANGE`, `\n` vs `\r\n`, a missing final newline), so the rewriter can never
//! change timing, byte ranges, encryption parameters or anything else the packager
//! decided; it only changes where the player fetches things from.
//!
//! Defensive choices, each because some player reads playlists more loosely than the
//! RFC 8216 grammar (a URI that one player ignores but another follows is a leak):
//!
//! * Lines end at `\n`, `\r\n` *or a lone `\r`* (ExoPlayer and hls.js split there), so a
//!   URI cannot hide behind a bare CR inside a tag line. U+2028/U+2029 end lines in
//!   JavaScript regexes and are refused outright ([`RewriteError::ForbiddenLineSeparator`]).
//! * Leading/trailing ASCII whitespace and control bytes are ignored when classifying a
//!   line (ExoPlayer trims them), so ` #EXT-X-KEY:...` is still treated as a key tag and
//!   `  https://elsewhere/x` is still treated as a URI line.
//! * URI-bearing tags are recognised by *prefix*, as ExoPlayer does (`#EXT-X-KEYFOO:` is
//!   handled as `#EXT-X-KEY`), and besides the tags RFC 8216 defines with a `URI`
//!   attribute, `EXT-X-SESSION-DATA`, `EXT-X-CONTENT-STEERING` (`SERVER-URI`),
//!   `EXT-X-DATERANGE` (interstitials' `X-ASSET-URI` / `X-ASSET-LIST`) and Roku's
//!   `EXT-X-IMAGE-STREAM-INF` are covered. In those tags every attribute whose name ends
//!   in `URI` (or is `X-ASSET-LIST`) is a URI: ExoPlayer finds `URI="..."` with an
//!   unanchored regex, so `FOOURI="https://elsewhere"` must not survive either.
//! * Attribute names are only recognised at attribute boundaries (start of the list or
//!   after a comma outside quotes), so `NAME="URI=x"` is left alone. A `"` anywhere
//!   but around a complete quoted value (unterminated, inside an unquoted value, text
//!   after the closing quote) makes the tag ambiguous and the playlist is refused with
//!   [`RewriteError::MalformedAttributes`]. An unquoted URI value is rewritten into a
//!   quoted one.
//! * A query string is emitted only if the playlist's own URI text has one; the query of
//!   `playlist_url` (which may carry an upstream token) is never inherited, not even by
//!   the empty reference `URI=""`.
//!
//! * Emitted URIs are either copied from the playlist when made only of plain bytes, or
//!   serialised by `Url`, which percent-encodes `{` and `}` in paths: an `EXT-X-DEFINE`
//!   variable reference (`{$host}/seg.ts`) can never expand in front of, or inside the
//!   path of, a gateway URI.
//!
//! Performance: a 1,200-segment media playlist must be rewritten in tens of
//! microseconds. What packagers emit — plain relative URIs (`seg12.ts`,
//! `360p/index.m3u8`: only `[A-Za-z0-9._~=+,@-]` and `/`, no empty, `.` or `..`
//! segment), optionally with a simple query (`seg12.ts?avh=...`), or the same spelled
//! as an absolute URL starting with the asset base's own serialisation — resolves to
//! `<playlist dir>/<uri>` (or `<uri minus base>`) by definition, so it is copied
//! straight into the output without building a `Url`. Anything else goes through full
//! RFC 3986 resolution with [`url::Url::join`] and the containment check; a property
//! test checks that both paths agree. Lines are scanned a word at a time, unchanged
//! lines are copied in bulk, and the output is allocated once.
//!
//! The error values carry upstream URIs: log them, never show them to viewers.

use url::Url;

use crate::cdn::VideoToken;
use crate::media::asset_path::is_segment_byte;

/// What a URI in a playlist names, by its place in the playlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriKind {
    /// A variant or rendition playlist (`EXT-X-STREAM-INF` lines, `EXT-X-MEDIA`,
    /// `EXT-X-I-FRAME-STREAM-INF`, `EXT-X-IMAGE-STREAM-INF`, `EXT-X-RENDITION-REPORT`).
    Playlist,
    /// A decryption key (`EXT-X-KEY`, `EXT-X-SESSION-KEY`).
    Key,
    /// Media bytes: segment lines, `EXT-X-MAP`, `EXT-X-PART`, `EXT-X-PRELOAD-HINT`.
    Segment,
    /// Anything else a tag may point at (session data, steering, interstitials).
    Other,
}

/// Where each kind of URI points: a prefix (ending with '/') that the URI's path relative
/// to the asset base is appended to; or, for segments in CDN delivery, the CDN's URI with
/// its token (the playlist's own query on a segment URI is then dropped: the CDN serves
/// files by path).
#[derive(Clone, Copy)]
pub struct UriPlan<'a> {
    pub playlists: &'a str,
    pub keys: &'a str,
    pub segments: &'a str,
    pub other: &'a str,
    pub cdn: Option<&'a VideoToken>,
}

impl std::fmt::Debug for UriPlan<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UriPlan")
            .field("playlists", &self.playlists)
            .field("segments", &self.segments)
            .field("cdn", &self.cdn.is_some())
            .finish_non_exhaustive()
    }
}

impl<'a> UriPlan<'a> {
    /// Everything back to the gateway (relay mode): `prefix` is e.g. `/play/pb_123/`.
    pub fn gateway(prefix: &'a str) -> Self {
        Self {
            playlists: prefix,
            keys: prefix,
            segments: prefix,
            other: prefix,
            cdn: None,
        }
    }

    /// CDN delivery: playlists, keys and the rest back to the gateway, segments (and init
    /// sections and parts) to the CDN with the playback's token.
    pub fn cdn(prefix: &'a str, token: &'a VideoToken) -> Self {
        Self {
            cdn: Some(token),
            ..Self::gateway(prefix)
        }
    }

    pub fn prefix(&self, kind: UriKind) -> &'a str {
        match kind {
            UriKind::Playlist => self.playlists,
            UriKind::Key => self.keys,
            UriKind::Segment => self.segments,
            UriKind::Other => self.other,
        }
    }

    fn all(&self) -> [&'a str; 4] {
        [self.playlists, self.keys, self.segments, self.other]
    }
}

/// Where a playlist comes from and where its URIs must point to.
#[derive(Debug, Clone, Copy)]
pub struct RewriteContext<'a> {
    /// Base URL of the video's assets upstream, ending with '/': e.g.
    /// `file:///srv/media/sample/` or `https://vod.example/vod/vi1/token/abc/hls/`.
    /// Nothing outside it may be referenced. Its query and fragment are ignored.
    pub asset_base: &'a Url,
    /// The URL of the playlist being rewritten (inside `asset_base`), used to resolve
    /// relative URIs.
    pub playlist_url: &'a Url,
    /// Where each kind of URI points.
    pub plan: UriPlan<'a>,
}

/// Why a playlist was not rewritten. Nothing is emitted on error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RewriteError {
    /// The first non-blank line is not `#EXTM3U` (or the input is blank).
    #[error("not an HLS playlist: the first non-empty line is not #EXTM3U")]
    NotAPlaylist,
    /// A URI resolves outside `asset_base` (other scheme, host, port, credentials or
    /// directory), or has another scheme (outside a key tag, even `skd:` and `data:`).
    #[error("playlist URI {uri:?} is outside the asset base")]
    OutsideAssetBase { uri: String },
    /// A URI that cannot be resolved at all (e.g. an invalid host or port).
    #[error("playlist URI {uri:?} cannot be resolved")]
    InvalidUri { uri: String },
    /// A URI-bearing tag whose attribute list has stray or unbalanced quotes.
    #[error("malformed attribute list on playlist line {line}")]
    MalformedAttributes { line: usize },
    /// The input contains U+2028 or U+2029, which JavaScript players treat as line breaks.
    #[error("playlist contains U+2028/U+2029 line separators")]
    ForbiddenLineSeparator,
    /// The context itself is unusable (see the message); a caller bug, not bad input.
    #[error("invalid rewrite context: {0}")]
    InvalidContext(&'static str),
}

/// Tags whose attributes may carry URIs, matched as line prefixes (see module docs), and
/// what their URIs name.
const URI_TAGS: &[(&str, UriKind)] = &[
    ("#EXT-X-KEY", UriKind::Key),
    ("#EXT-X-SESSION-KEY", UriKind::Key),
    ("#EXT-X-SESSION-DATA", UriKind::Other),
    ("#EXT-X-MAP", UriKind::Segment),
    ("#EXT-X-MEDIA", UriKind::Playlist),
    ("#EXT-X-I-FRAME-STREAM-INF", UriKind::Playlist),
    ("#EXT-X-IMAGE-STREAM-INF", UriKind::Playlist),
    ("#EXT-X-PART", UriKind::Segment),
    ("#EXT-X-PRELOAD-HINT", UriKind::Segment),
    ("#EXT-X-RENDITION-REPORT", UriKind::Playlist),
    ("#EXT-X-CONTENT-STEERING", UriKind::Other),
    ("#EXT-X-DATERANGE", UriKind::Other),
];

/// Rewrites an HLS playlist (master or media) so that every URI in it is a gateway URI.
///
/// Returns the rewritten playlist, or an error if the input is not a playlist, if any
/// URI lies outside `ctx.asset_base`, or if a URI-bearing tag is ambiguous. Pure: no I/O.
pub fn rewrite_playlist(input: &str, ctx: &RewriteContext) -> Result<String, RewriteError> {
    let rw = Rewriter::new(ctx)?;
    let bytes = input.as_bytes();
    // Whether any non-ASCII byte was seen. U+2028 and U+2029 are looked for only then,
    // after the loop: a pure-ASCII playlist (the common case) costs no extra pass.
    let mut high_bits = 0u64;

    // Segment lines typically grow by prefix + directory; twice the input is plenty for
    // media playlists and avoids reallocation in the common case.
    let mut out = String::with_capacity(input.len() * 2 + 64);
    // Lines that stay as they are (and all line terminators) are not copied one by one:
    // `input[copied..]` is pending and is flushed in one piece before each rewrite.
    let mut copied = 0;
    let mut pos = 0;
    let mut line_no = 0;
    let mut seen_header = false;
    // A URI line names a variant playlist right after `EXT-X-STREAM-INF`, else a segment.
    let mut line_kind = UriKind::Segment;

    while pos < bytes.len() {
        line_no += 1;
        let first = bytes[pos];
        let end;
        // Fast path for the bulk of a media playlist: a line made only of plain URI
        // bytes is validated in the same pass that finds its end.
        let mut plain_end = pos;
        let mut path_end = pos;
        if first != b'#' {
            path_end = run_end(bytes, pos, &SEGMENT_BYTE);
            plain_end = path_end;
            if bytes.get(path_end) == Some(&b'?') {
                plain_end = run_end(bytes, path_end + 1, &QUERY_BYTE);
            }
        }
        if path_end > pos
            && (plain_end == bytes.len() || matches!(bytes[plain_end], b'\n' | b'\r'))
            && plain_segment(&bytes[pos..path_end])
        {
            // A single-segment plain URI such as `seg12.ts` or `seg12.ts?avh=xyz`: its
            // gateway URI is prefix + playlist dir + the URI, and the URI itself stays
            // pending, to be copied together with what follows it.
            if !seen_header {
                return Err(RewriteError::NotAPlaylist);
            }
            end = plain_end;
            out.push_str(&input[copied..pos]);
            match (line_kind, rw.plan.cdn) {
                (UriKind::Segment, Some(cdn)) => {
                    let rel = [rw.dir.as_str(), &input[pos..path_end]].concat();
                    cdn.push_segment_uri(&rel, &mut out);
                    copied = plain_end;
                }
                _ => {
                    out.push_str(rw.plan.prefix(line_kind));
                    out.push_str(&rw.dir);
                    copied = pos;
                }
            }
            line_kind = UriKind::Segment;
        } else {
            end = find_eol_ascii(bytes, plain_end, &mut high_bits);
            let line = &input[pos..end];
            // Tag lines: trailing bytes do not matter for recognising a URI tag.
            let content = if first == b'#' && seen_header {
                line
            } else {
                trim_ctl(line)
            };
            if content.is_empty() {
                // blank line: kept
            } else if !seen_header {
                if content != "#EXTM3U" {
                    return Err(RewriteError::NotAPlaylist);
                }
                seen_header = true;
            } else if content.as_bytes()[0] != b'#' {
                out.push_str(&input[copied..pos]);
                rw.push_uri(content, line_kind, &mut out)?;
                line_kind = UriKind::Segment;
                copied = end;
            } else if let Some(kind) = uri_tag(content) {
                out.push_str(&input[copied..pos]);
                rw.rewrite_tag(line, line_no, kind, &mut out)?;
                copied = end;
            } else if content.starts_with("#EXT-X-STREAM-INF") {
                line_kind = UriKind::Playlist;
            }
        }
        pos = if end == bytes.len() {
            end
        } else if bytes[end] == b'\r' && bytes.get(end + 1) == Some(&b'\n') {
            end + 2
        } else {
            end + 1
        };
    }

    if !seen_header {
        return Err(RewriteError::NotAPlaylist);
    }
    // Every byte outside the plain-URI fast path (which is ASCII) went through
    // find_eol_ascii, so high_bits == 0 proves the input is pure ASCII.
    if high_bits != 0 && (input.contains('\u{2028}') || input.contains('\u{2029}')) {
        return Err(RewriteError::ForbiddenLineSeparator);
    }
    out.push_str(&input[copied..]);
    Ok(out)
}

/// Index of the first `\r` or `\n` at or after `from`, or `bytes.len()`.
#[cfg(test)]
fn find_eol(bytes: &[u8], from: usize) -> usize {
    find_eol_ascii(bytes, from, &mut 0)
}

/// Index of the first `\r` or `\n` at or after `from`, or `bytes.len()`; ORs the high
/// bits of the bytes it reads into `high_bits` (non-zero iff a non-ASCII byte was read;
/// it reads every byte of `from..result`, and possibly a few after).
///
/// Word-at-a-time (SWAR): for each 8-byte word, `(x - 0x01..) & !x & 0x80..` has its
/// lowest set bit exactly at the first zero byte of `x` (borrows only propagate
/// upwards), so xor-ing with `\n` / `\r` repeated and taking the lowest bit of either
/// mask finds the first line break. Several times faster than a byte loop. Not
/// `memchr::memchr2`: playlist lines are 10 to 80 bytes, below where its SIMD set-up pays
/// off, and this pass also collects the high bits (non-ASCII) that `memchr` would need a
/// second pass over the line for.
#[inline]
fn find_eol_ascii(bytes: &[u8], from: usize, high_bits: &mut u64) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        *high_bits |= w & HI;
        let lf = w ^ (LO * u64::from(b'\n'));
        let cr = w ^ (LO * u64::from(b'\r'));
        let hits = ((lf.wrapping_sub(LO) & !lf) | (cr.wrapping_sub(LO) & !cr)) & HI;
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
        *high_bits |= u64::from(bytes[i] & 0x80);
        i += 1;
    }
    i
}

/// Strips leading and trailing ASCII whitespace and control bytes (what Java's
/// `String.trim` removes: every byte <= 0x20). Only ASCII is removed, so the result
/// is still valid UTF-8.
#[inline]
fn trim_ctl(s: &str) -> &str {
    let b = s.as_bytes();
    let mut start = 0;
    let mut end = b.len();
    while start < end && b[start] <= b' ' {
        start += 1;
    }
    while end > start && b[end - 1] <= b' ' {
        end -= 1;
    }
    &s[start..end]
}

/// The kind of URI a URI-bearing tag carries; `None` for other lines.
#[inline]
fn uri_tag(content: &str) -> Option<UriKind> {
    let b = content.as_bytes();
    // Dispatch on the byte after "#EXT-X-" so the frequent BYTERANGE / PROGRAM-DATE-TIME
    // lines cost one or two comparisons.
    if b.len() <= 7 || &b[..7] != b"#EXT-X-" {
        return None;
    }
    URI_TAGS
        .iter()
        .find(|(t, _)| t.as_bytes()[7] == b[7] && b.starts_with(t.as_bytes()))
        .map(|(_, kind)| *kind)
}

/// Attribute names whose values are URIs (see module docs).
#[inline]
fn is_uri_attribute(name: &str) -> bool {
    name.ends_with("URI") || name == "X-ASSET-LIST"
}

/// Bytes of a path segment (see [`is_segment_byte`]) as a lookup table.
const SEGMENT_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = is_segment_byte(i as u8);
        i += 1;
    }
    table
};

/// Bytes of a query that `Url` serialises unchanged (checked against `Url::join` by a
/// property test): segment bytes and `/ ? & % : ;`.
const QUERY_BYTE: [bool; 256] = {
    let mut table = SEGMENT_BYTE;
    let extra = b"/?&%:;";
    let mut i = 0;
    while i < extra.len() {
        table[extra[i] as usize] = true;
        i += 1;
    }
    table
};

/// Index of the first byte at or after `from` not in `table`, or `bytes.len()`.
#[inline]
fn run_end(bytes: &[u8], from: usize, table: &[bool; 256]) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| !table[b as usize])
        .map_or(bytes.len(), |n| from + n)
}

/// A plain relative reference optionally followed by `?` and a query of
/// [`QUERY_BYTE`]s: resolving it appends it unchanged to the base's directory.
#[inline]
fn is_plain_with_query(uri: &str) -> bool {
    match uri.split_once('?') {
        None => is_plain_relative(uri),
        Some((path, query)) => {
            is_plain_relative(path) && query.bytes().all(|b| QUERY_BYTE[b as usize])
        }
    }
}

/// Bytes of a plain relative reference: segment bytes and '/'.
const PLAIN_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = is_segment_byte(i as u8) || i == b'/' as usize;
        i += 1;
    }
    table
};

/// A plain relative reference: non-empty, only segment bytes and '/', and no empty,
/// `.` or `..` segment. Resolving it against a base just appends it to the base's
/// directory, byte for byte.
#[inline]
fn is_plain_relative(uri: &str) -> bool {
    let bytes = uri.as_bytes();
    let mut seg_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !PLAIN_BYTE[b as usize] {
            return false;
        }
        if b == b'/' {
            if !plain_segment(&bytes[seg_start..i]) {
                return false;
            }
            seg_start = i + 1;
        }
    }
    plain_segment(&bytes[seg_start..])
}

#[inline]
fn plain_segment(seg: &[u8]) -> bool {
    match seg.len() {
        0 => false,
        1 => seg[0] != b'.',
        2 => !(seg[0] == b'.' && seg[1] == b'.'),
        _ => true,
    }
}

/// The context, checked once and pre-digested for the per-URI work.
struct Rewriter<'a> {
    base: &'a Url,
    base_path: &'a str,
    playlist: &'a Url,
    plan: UriPlan<'a>,
    /// The asset base as a string, without query or fragment: an absolute URI spelled
    /// as this plus a plain relative reference is inside the base without parsing.
    base_str: &'a str,
    /// The playlist's directory relative to the base, e.g. `360p/`: a plain relative URI
    /// becomes plan prefix + this + the URI.
    dir: String,
}

impl<'a> Rewriter<'a> {
    fn new(ctx: &RewriteContext<'a>) -> Result<Self, RewriteError> {
        let base = ctx.asset_base;
        if base.cannot_be_a_base() {
            return Err(RewriteError::InvalidContext(
                "asset_base cannot be a base URL",
            ));
        }
        let base_path = base.path();
        if !base_path.ends_with('/') {
            return Err(RewriteError::InvalidContext("asset_base must end with '/'"));
        }
        if ctx.plan.all().iter().any(|p| !p.ends_with('/')) {
            return Err(RewriteError::InvalidContext(
                "every prefix of the plan must end with '/'",
            ));
        }
        let mut rw = Rewriter {
            base,
            base_path,
            playlist: ctx.playlist_url,
            plan: ctx.plan,
            base_str: &base[..url::Position::AfterPath],
            dir: String::new(),
        };
        let Some(rel) = rw.relative_to_base(ctx.playlist_url) else {
            return Err(RewriteError::InvalidContext(
                "playlist_url is outside asset_base",
            ));
        };
        let dir = &rel[..rel.rfind('/').map_or(0, |i| i + 1)];
        rw.dir = dir.to_owned();
        Ok(rw)
    }

    /// The path of `url` relative to the asset base, if `url` is inside it.
    fn relative_to_base<'u>(&self, url: &'u Url) -> Option<&'u str> {
        let b = self.base;
        let same_origin = url.scheme() == b.scheme()
            && url.host() == b.host()
            && url.port_or_known_default() == b.port_or_known_default()
            && url.username() == b.username()
            && url.password() == b.password()
            && !url.cannot_be_a_base();
        if !same_origin {
            return None;
        }
        url.path().strip_prefix(self.base_path)
    }

    /// Appends where the plan points the playlist URI `raw` (of this kind) to `out`.
    fn push_uri(&self, raw: &str, kind: UriKind, out: &mut String) -> Result<(), RewriteError> {
        if let (UriKind::Segment, Some(cdn)) = (kind, self.plan.cdn) {
            let rel = self.relative_path(raw)?;
            cdn.push_segment_uri(&rel, out);
            return Ok(());
        }
        let prefix = self.plan.prefix(kind);
        if let Some(rest) = raw.strip_prefix(self.base_str) {
            // Absolute, in the base's own canonical spelling (what a packager that
            // writes full URLs emits).
            if is_plain_with_query(rest) {
                out.push_str(prefix);
                out.push_str(rest);
                return Ok(());
            }
        } else if is_plain_with_query(raw) {
            out.push_str(prefix);
            out.push_str(&self.dir);
            out.push_str(raw);
            return Ok(());
        }
        self.push_resolved(raw, prefix, out)
    }

    /// The path of the playlist URI `raw` relative to the asset base, without its query.
    fn relative_path(&self, raw: &str) -> Result<String, RewriteError> {
        let path_of = |s: &str| s.split('?').next().unwrap_or_default().to_owned();
        if let Some(rest) = raw.strip_prefix(self.base_str)
            && is_plain_with_query(rest)
        {
            return Ok(path_of(rest));
        }
        if is_plain_with_query(raw) {
            return Ok(format!("{}{}", self.dir, path_of(raw)));
        }
        let resolved = self
            .playlist
            .join(raw)
            .map_err(|_| RewriteError::InvalidUri {
                uri: raw.to_owned(),
            })?;
        self.relative_to_base(&resolved)
            .map(str::to_owned)
            .ok_or_else(|| RewriteError::OutsideAssetBase {
                uri: raw.to_owned(),
            })
    }

    /// Full RFC 3986 resolution and containment check (the slow path of `push_uri`).
    fn push_resolved(&self, raw: &str, prefix: &str, out: &mut String) -> Result<(), RewriteError> {
        let resolved = self
            .playlist
            .join(raw)
            .map_err(|_| RewriteError::InvalidUri {
                uri: raw.to_owned(),
            })?;
        let rel =
            self.relative_to_base(&resolved)
                .ok_or_else(|| RewriteError::OutsideAssetBase {
                    uri: raw.to_owned(),
                })?;
        out.push_str(prefix);
        out.push_str(rel);
        // Only a query written in the playlist itself; never one inherited from
        // playlist_url (an empty or fragment-only reference would inherit it).
        let own_query = raw.split('#').next().is_some_and(|r| r.contains('?'));
        if let (true, Some(q)) = (own_query, resolved.query()) {
            out.push('?');
            out.push_str(q);
        }
        Ok(())
    }

    /// Copies a URI-bearing tag line to `out`, rewriting its URI attribute values.
    fn rewrite_tag(
        &self,
        line: &str,
        line_no: usize,
        kind: UriKind,
        out: &mut String,
    ) -> Result<(), RewriteError> {
        let malformed = || RewriteError::MalformedAttributes { line: line_no };
        let Some(colon) = line.find(':') else {
            out.push_str(line);
            return Ok(());
        };
        let b = line.as_bytes();
        let len = b.len();
        let mut copied = 0; // bytes of `line` already copied to `out`
        let mut i = colon + 1; // start of the current attribute

        while i < len {
            // Name: up to '=' (or ',' for a valueless item, or the end).
            let mut j = i;
            while j < len && !matches!(b[j], b'=' | b',' | b'"') {
                j += 1;
            }
            if j == len {
                break;
            }
            match b[j] {
                b',' => {
                    i = j + 1;
                    continue;
                }
                b'"' => return Err(malformed()),
                _ => {}
            }
            let name = trim_ctl(&line[i..j]);
            let v = j + 1;
            // Value span [vs, ve) as written (quotes included), the value itself, and
            // where the next attribute starts.
            let (vs, ve, inner, next);
            if v < len && b[v] == b'"' {
                let close = line[v + 1..]
                    .find('"')
                    .map(|k| v + 1 + k)
                    .ok_or_else(malformed)?;
                vs = v;
                ve = close + 1;
                inner = &line[v + 1..close];
                next = if ve == len {
                    len
                } else if b[ve] == b',' {
                    ve + 1
                } else if trim_ctl(&line[ve..]).is_empty() {
                    len
                } else {
                    return Err(malformed());
                };
            } else {
                let end = line[v..].find(',').map_or(len, |k| v + k);
                if line[v..end].contains('"') {
                    return Err(malformed());
                }
                vs = v;
                ve = end;
                inner = trim_ctl(&line[v..end]);
                next = if end == len { len } else { end + 1 };
            }
            if is_uri_attribute(name) && !(kind == UriKind::Key && handed_to_drm(inner)) {
                out.push_str(&line[copied..vs]);
                out.push('"');
                self.push_uri(inner, kind, out)?;
                out.push('"');
                copied = ve;
            }
            i = next;
        }
        out.push_str(&line[copied..]);
        Ok(())
    }
}

/// A key URI a player hands to its DRM system (or decodes in place) rather than fetching
/// over HTTP: FairPlay's `skd:` (`KEYFORMAT="com.apple.streamingkeydelivery"`), the `data:`
/// URIs of Widevine and PlayReady in HLS (a PSSH box or a PlayReady header), and the empty
/// `URI=""` packagers write with `METHOD=NONE`. It reaches no origin through vodgate, so it
/// stays as written; anything else in a key tag is a URL and is rewritten or refused.
/// Exactly as written: `" skd:…"` or `http:…` is not one of these.
fn handed_to_drm(uri: &str) -> bool {
    let scheme = |s: &str| {
        uri.len() > s.len()
            && uri.as_bytes()[s.len()] == b':'
            && uri[..s.len()].eq_ignore_ascii_case(s)
    };
    uri.is_empty() || scheme("skd") || scheme("data")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BASE: &str = "https://vod.example/vod/vi1/token/abc/hls/";
    const PREFIX: &str = "/play/pb_123/";

    /// Rewrites `input` as the playlist `playlist` (relative to BASE).
    fn rw_at(input: &str, playlist: &str) -> Result<String, RewriteError> {
        let base = Url::parse(BASE).unwrap();
        let pl = base.join(playlist).unwrap();
        rewrite_playlist(
            input,
            &RewriteContext {
                asset_base: &base,
                playlist_url: &pl,
                plan: UriPlan::gateway(PREFIX),
            },
        )
    }

    /// As a media playlist in `360p/`.
    fn rw(input: &str) -> Result<String, RewriteError> {
        rw_at(input, "360p/index.m3u8")
    }

    fn outside(uri: &str) -> Result<String, RewriteError> {
        Err(RewriteError::OutsideAssetBase {
            uri: uri.to_owned(),
        })
    }

    // ---------------------------------------------------------------- fixtures

    #[test]
    fn each_kind_of_uri_goes_where_the_plan_says() {
        let plan = UriPlan {
            playlists: "/p/",
            keys: "/k/",
            segments: "https://cdn.example/m/",
            other: "/o/",
            cdn: None,
        };
        let base = Url::parse(BASE).unwrap();
        let run = |input: &str, at: &str| {
            let pl = base.join(at).unwrap();
            let ctx = RewriteContext {
                asset_base: &base,
                playlist_url: &pl,
                plan,
            };
            rewrite_playlist(input, &ctx).unwrap()
        };
        let master = "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"en\",URI=\"audio/index.m3u8\"\n#EXT-X-SESSION-KEY:METHOD=AES-128,URI=\"k.key\"\n#EXT-X-SESSION-DATA:DATA-ID=\"x\",URI=\"data.json\"\n#EXT-X-STREAM-INF:BANDWIDTH=1\n360p/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2\nhttps://vod.example/vod/vi1/token/abc/hls/720p/index.m3u8\n#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI=\"iframes.m3u8\"\n";
        assert_eq!(
            run(master, "manifest.m3u8"),
            "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"en\",URI=\"/p/audio/index.m3u8\"\n#EXT-X-SESSION-KEY:METHOD=AES-128,URI=\"/k/k.key\"\n#EXT-X-SESSION-DATA:DATA-ID=\"x\",URI=\"/o/data.json\"\n#EXT-X-STREAM-INF:BANDWIDTH=1\n/p/360p/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2\n/p/720p/index.m3u8\n#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI=\"/p/iframes.m3u8\"\n"
        );
        let media = "#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"../enc.key\"\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:4,\nseg0.ts\n#EXT-X-PART:DURATION=1,URI=\"seg1.0.ts\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"seg1.1.ts\"\n#EXT-X-RENDITION-REPORT:URI=\"../720p/index.m3u8\",LAST-MSN=1\n#EXTINF:4,\nseg1.ts?x=1\n";
        assert_eq!(
            run(media, "360p/index.m3u8"),
            "#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"/k/enc.key\"\n#EXT-X-MAP:URI=\"https://cdn.example/m/360p/init.mp4\"\n#EXTINF:4,\nhttps://cdn.example/m/360p/seg0.ts\n#EXT-X-PART:DURATION=1,URI=\"https://cdn.example/m/360p/seg1.0.ts\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"https://cdn.example/m/360p/seg1.1.ts\"\n#EXT-X-RENDITION-REPORT:URI=\"/p/720p/index.m3u8\",LAST-MSN=1\n#EXTINF:4,\nhttps://cdn.example/m/360p/seg1.ts?x=1\n"
        );
    }

    /// CDN delivery: segment lines, init sections, parts and hints go to the CDN with a token
    /// per URI (secure_link, whose hash covers the path), whichever way they are spelled; keys,
    /// rendition reports and variants stay at the gateway; a segment outside the base is
    /// still refused.
    #[test]
    fn cdn_plan_sends_segments_to_the_cdn_with_their_token() {
        use crate::cdn::{Cdn, CdnSettings, TokenKind, TokenPlace};
        let cdn = Cdn::new(CdnSettings {
            base_url: "https://cdn.example/media/{video_id}/{path}".into(),
            token: TokenKind::SecureLink,
            key: Some("s3cret".to_owned().into()),
            key_id: None,
            place: TokenPlace::Query,
            cookie_domain: None,
            ttl: None,
            public_url: Url::parse("https://watch.example/").unwrap(),
        })
        .unwrap();
        let token = cdn.token("vi1", "pb_1", 1_000, Some(2_000));
        let sign = |path: &str| {
            let mut q = String::new();
            crate::cdn::secure_link::SecureLinkSigner::new("s3cret")
                .unwrap()
                .push_query(path, 2_000, &mut q);
            format!("https://cdn.example{path}{q}")
        };
        let base = Url::parse(BASE).unwrap();
        let pl = base.join("360p/index.m3u8").unwrap();
        let ctx = RewriteContext {
            asset_base: &base,
            playlist_url: &pl,
            plan: UriPlan::cdn("/play/pb_1/", &token),
        };
        let media = format!(
            "#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"../enc.key\"\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:4,\nseg0.ts\n#EXT-X-PART:DURATION=1,URI=\"seg1.0.ts\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"seg1.1.ts\"\n#EXT-X-RENDITION-REPORT:URI=\"../720p/index.m3u8\",LAST-MSN=1\n#EXTINF:4,\nseg1.ts?avh=x\n#EXTINF:4,\n./seg2.ts\n#EXTINF:4,\n{BASE}360p/seg3.ts\n"
        );
        let want = format!(
            "#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"/play/pb_1/enc.key\"\n#EXT-X-MAP:URI=\"{}\"\n#EXTINF:4,\n{}\n#EXT-X-PART:DURATION=1,URI=\"{}\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}\"\n#EXT-X-RENDITION-REPORT:URI=\"/play/pb_1/720p/index.m3u8\",LAST-MSN=1\n#EXTINF:4,\n{}\n#EXTINF:4,\n{}\n#EXTINF:4,\n{}\n",
            sign("/media/vi1/360p/init.mp4"),
            sign("/media/vi1/360p/seg0.ts"),
            sign("/media/vi1/360p/seg1.0.ts"),
            sign("/media/vi1/360p/seg1.1.ts"),
            sign("/media/vi1/360p/seg1.ts"),
            sign("/media/vi1/360p/seg2.ts"),
            sign("/media/vi1/360p/seg3.ts"),
        );
        assert_eq!(rewrite_playlist(&media, &ctx).unwrap(), want);
        let outside = "#EXTM3U\n#EXTINF:4,\n../../other/seg0.ts\n";
        assert!(matches!(
            rewrite_playlist(outside, &ctx),
            Err(RewriteError::OutsideAssetBase { .. })
        ));
    }

    #[test]
    fn media_playlist_segments_and_key() {
        let input = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n\
            #EXT-X-KEY:METHOD=AES-128,URI=\"../enc.key\",IV=0x000102030405060708090a0b0c0d0e0f\n\
            #EXTINF:4.000000,\nseg0.ts\n#EXTINF:4.000000,\nseg1.ts\n#EXT-X-ENDLIST\n";
        let want = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n\
            #EXT-X-KEY:METHOD=AES-128,URI=\"/play/pb_123/enc.key\",IV=0x000102030405060708090a0b0c0d0e0f\n\
            #EXTINF:4.000000,\n/play/pb_123/360p/seg0.ts\n#EXTINF:4.000000,\n/play/pb_123/360p/seg1.ts\n#EXT-X-ENDLIST\n";
        assert_eq!(rw(input).unwrap(), want);
    }

    #[test]
    fn master_playlist_from_make_sample() {
        let input = include_str!("../../../media/sample/master.m3u8");
        let out = rw_at(input, "master.m3u8").unwrap();
        let want = input
            .replace("\n180p/", "\n/play/pb_123/180p/")
            .replace("\n360p/", "\n/play/pb_123/360p/");
        assert_eq!(out, want);
        assert_eq!(out.matches("/play/pb_123/").count(), 2);
        assert!(out.contains("\n/play/pb_123/180p/index.m3u8\n"));
        assert!(out.contains("\n/play/pb_123/360p/index.m3u8\n"));
    }

    #[test]
    fn media_playlist_from_make_sample_on_file_base() {
        let input = include_str!("../../../media/sample/360p/index.m3u8");
        let base = Url::parse("file:///srv/media/sample/").unwrap();
        let pl = base.join("360p/index.m3u8").unwrap();
        let ctx = RewriteContext {
            asset_base: &base,
            playlist_url: &pl,
            plan: UriPlan::gateway("/play/pb_9/"),
        };
        let out = rewrite_playlist(input, &ctx).unwrap();
        let want = input
            .replace("URI=\"../enc.key\"", "URI=\"/play/pb_9/enc.key\"")
            .replace("\nseg", "\n/play/pb_9/360p/seg");
        assert_eq!(out, want);
        assert_eq!(out.matches("/play/pb_9/360p/seg").count(), 4);
        assert!(out.contains("#EXT-X-KEY:METHOD=AES-128,URI=\"/play/pb_9/enc.key\",IV=0x"));
        assert!(out.ends_with("#EXT-X-ENDLIST\n"));
    }

    #[test]
    fn every_uri_tag() {
        let tags = [
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aac\",NAME=\"English\",DEFAULT=YES,URI=\"%s\"",
            "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=86000,CODECS=\"avc1.4d401e\",URI=\"%s\"",
            "#EXT-X-KEY:METHOD=AES-128,URI=\"%s\",IV=0x1",
            "#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI=\"%s\",KEYFORMAT=\"identity\"",
            "#EXT-X-MAP:URI=\"%s\",BYTERANGE=\"720@0\"",
            "#EXT-X-PART:DURATION=1.0,URI=\"%s\",INDEPENDENT=YES",
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"%s\"",
            "#EXT-X-RENDITION-REPORT:URI=\"%s\",LAST-MSN=5,LAST-PART=2",
            "#EXT-X-SESSION-DATA:DATA-ID=\"com.example\",URI=\"%s\"",
            "#EXT-X-IMAGE-STREAM-INF:BANDWIDTH=1,URI=\"%s\"",
            "#EXT-X-CONTENT-STEERING:SERVER-URI=\"%s\",PATHWAY-ID=\"A\"",
            "#EXT-X-DATERANGE:ID=\"ad\",START-DATE=\"2020-01-01T00:00:00Z\",X-ASSET-URI=\"%s\"",
            "#EXT-X-DATERANGE:ID=\"ad\",X-ASSET-LIST=\"%s\"",
        ];
        for tag in tags {
            let input = format!("#EXTM3U\n{}\n", tag.replace("%s", "a/b.x"));
            let want = format!(
                "#EXTM3U\n{}\n",
                tag.replace("%s", "/play/pb_123/360p/a/b.x")
            );
            assert_eq!(rw(&input).unwrap(), want, "{tag}");
            let evil = format!("#EXTM3U\n{}\n", tag.replace("%s", "https://evil.example/k"));
            assert_eq!(rw(&evil), outside("https://evil.example/k"), "{tag}");
        }
    }

    #[test]
    fn byte_for_byte_preservation() {
        let input = "\r\n#EXTM3U\r\n# a comment, URI=\"https://evil.example/x\"\r\n#EXT-X-UNKNOWN:URI=\"https://evil.example/y\"\r\n\
            #EXTINF:4.0,title with URI=\"x\"\r\n#EXT-X-BYTERANGE:1000@0\r\nseg.ts\r\n\r\n#EXT-X-BYTERANGE:500\r\nseg.ts\r\n#EXT-X-ENDLIST";
        let want = "\r\n#EXTM3U\r\n# a comment, URI=\"https://evil.example/x\"\r\n#EXT-X-UNKNOWN:URI=\"https://evil.example/y\"\r\n\
            #EXTINF:4.0,title with URI=\"x\"\r\n#EXT-X-BYTERANGE:1000@0\r\n/play/pb_123/360p/seg.ts\r\n\r\n#EXT-X-BYTERANGE:500\r\n/play/pb_123/360p/seg.ts\r\n#EXT-X-ENDLIST";
        assert_eq!(rw(input).unwrap(), want);
        // Missing final newline right after a URI, and mixed endings.
        assert_eq!(
            rw("#EXTM3U\nseg.ts").unwrap(),
            "#EXTM3U\n/play/pb_123/360p/seg.ts"
        );
        assert_eq!(
            rw("#EXTM3U\r\nseg.ts\n").unwrap(),
            "#EXTM3U\r\n/play/pb_123/360p/seg.ts\n"
        );
        // Tag attributes other than URI, spacing and ordering untouched.
        let key =
            "#EXTM3U\n#EXT-X-KEY:IV=0xAB,URI=\"k.key\",METHOD=AES-128,KEYFORMATVERSIONS=\"1/2\" \n";
        assert_eq!(
            rw(key).unwrap(),
            "#EXTM3U\n#EXT-X-KEY:IV=0xAB,URI=\"/play/pb_123/360p/k.key\",METHOD=AES-128,KEYFORMATVERSIONS=\"1/2\" \n"
        );
    }

    #[test]
    fn drm_key_uris_are_kept_and_every_other_uri_still_comes_back() {
        // FairPlay, Widevine and PlayReady as packagers (Shaka Packager, Bento4, AWS
        // MediaConvert) write them, beside segments that must still be rewritten.
        let fairplay = "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://4060b9f0-3a0e-4c4b-a4e1-b8a5a7b1c4d2\",KEYFORMAT=\"com.apple.streamingkeydelivery\",KEYFORMATVERSIONS=\"1\"";
        let widevine = "#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI=\"data:text/plain;base64,AAAAW3Bzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7QAAADsIARIQ62dqu8s0Xpa7z2FmMPGj2hoNd2lkZXZpbmVfdGVzdCIQZmtqM2xqYVNkZmFsa3IzaioCSEQyAA==\",KEYID=0xeb676abbcb345e96bbcf616630f1a3da,KEYFORMAT=\"urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed\",KEYFORMATVERSIONS=\"1\"";
        let playready = "#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI=\"data:text/plain;charset=UTF-16;base64,xAEAAAEAAQC6ATwAVwBSAE0ASABFAEEARABFAFIA\",KEYFORMAT=\"com.microsoft.playready\",KEYFORMATVERSIONS=\"1\"";
        let session = "#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI=\"SKD://key-1\",KEYFORMAT=\"com.apple.streamingkeydelivery\"";
        let none = "#EXT-X-KEY:METHOD=NONE,URI=\"\"";
        for tag in [fairplay, widevine, playready, session, none] {
            let input = format!("#EXTM3U\n{tag}\n#EXTINF:4,\nseg0.ts\n");
            assert_eq!(
                rw(&input).unwrap(),
                format!("#EXTM3U\n{tag}\n#EXTINF:4,\n/play/pb_123/360p/seg0.ts\n"),
                "{tag}"
            );
        }
        // A key beside them that is fetched over HTTP still comes back through the gateway,
        // and one elsewhere still refuses the playlist.
        let both =
            format!("#EXTM3U\n{fairplay}\n#EXT-X-KEY:METHOD=AES-128,URI=\"k.key\"\nseg.ts\n");
        assert!(
            rw(&both)
                .unwrap()
                .contains("URI=\"/play/pb_123/360p/k.key\"")
        );
        for bad in [
            "#EXT-X-KEY:METHOD=AES-128,URI=\"https://keys.example/k\"",
            "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\" skd://x\"",
            "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skdx://x\"",
        ] {
            assert!(
                matches!(
                    rw(&format!("#EXTM3U\n{bad}\nseg.ts\n")),
                    Err(RewriteError::OutsideAssetBase { .. })
                        | Err(RewriteError::InvalidUri { .. })
                ),
                "{bad}"
            );
        }
        // skd: and data: are key URIs only: as a segment, a map or a playlist they refuse.
        for bad in [
            "#EXTM3U\n#EXTINF:4,\nskd://x\n",
            "#EXTM3U\n#EXT-X-MAP:URI=\"data:video/mp4;base64,AAAA\"\nseg.ts\n",
        ] {
            assert!(rw(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn resolution_forms() {
        let one = |uri: &str| {
            rw(&format!("#EXTM3U\n{uri}\n")).map(|s| s["#EXTM3U\n".len()..].trim_end().to_owned())
        };
        assert_eq!(one("seg.ts").unwrap(), "/play/pb_123/360p/seg.ts");
        assert_eq!(
            one("sub/dir/seg.ts").unwrap(),
            "/play/pb_123/360p/sub/dir/seg.ts"
        );
        assert_eq!(one("./seg.ts").unwrap(), "/play/pb_123/360p/seg.ts");
        assert_eq!(one("../180p/seg.ts").unwrap(), "/play/pb_123/180p/seg.ts");
        assert_eq!(
            one("a/../b/./seg.ts").unwrap(),
            "/play/pb_123/360p/b/seg.ts"
        );
        assert_eq!(
            one("/vod/vi1/token/abc/hls/enc.key").unwrap(),
            "/play/pb_123/enc.key"
        );
        assert_eq!(
            one("https://vod.example/vod/vi1/token/abc/hls/360p/s.ts").unwrap(),
            "/play/pb_123/360p/s.ts"
        );
        assert_eq!(
            one("HTTPS://VOD.EXAMPLE:443/vod/vi1/token/abc/hls/s.ts").unwrap(),
            "/play/pb_123/s.ts"
        );
        assert_eq!(
            one("//vod.example/vod/vi1/token/abc/hls/s.ts").unwrap(),
            "/play/pb_123/s.ts"
        );
        assert_eq!(one("seg%201.ts").unwrap(), "/play/pb_123/360p/seg%201.ts");
        assert_eq!(one("  seg.ts\t").unwrap(), "/play/pb_123/360p/seg.ts");
        // EXT-X-DEFINE variable references cannot survive in the path.
        assert_eq!(
            one("{$v}/seg.ts").unwrap(),
            "/play/pb_123/360p/%7B$v%7D/seg.ts"
        );
        // Query kept (from the playlist's own text), fragment dropped.
        assert_eq!(
            one("seg.ts?sig=a,b&x=1").unwrap(),
            "/play/pb_123/360p/seg.ts?sig=a,b&x=1"
        );
        assert_eq!(
            one("seg.ts?q=1#frag").unwrap(),
            "/play/pb_123/360p/seg.ts?q=1"
        );
        assert_eq!(one("seg.ts#frag").unwrap(), "/play/pb_123/360p/seg.ts");
        assert_eq!(
            one("https://vod.example/vod/vi1/token/abc/hls/s.ts?t=9").unwrap(),
            "/play/pb_123/s.ts?t=9"
        );

        // Outside: parent of the base, other path, host, port, scheme, credentials, DRM.
        for bad in [
            "../../enc.key",
            "../../../vi2/token/xyz/hls/enc.key",
            "/vod/vi2/token/abc/hls/seg.ts",
            "/vod/vi1/token/abc/hlsx/seg.ts",
            "/etc/passwd",
            "https://evil.example/vod/vi1/token/abc/hls/seg.ts",
            "//evil.example/x",
            "//vod.example:8443/vod/vi1/token/abc/hls/seg.ts",
            "http://vod.example/vod/vi1/token/abc/hls/seg.ts",
            "https://user@vod.example/vod/vi1/token/abc/hls/seg.ts",
            "file:///etc/passwd",
            "skd://key-id-123",
            "data:text/plain;base64,AAAA",
            "javascript:alert(1)",
            "%2e%2e/%2e%2e/enc.key",
            "..\\..\\enc.key",
        ] {
            assert_eq!(one(bad), outside(bad), "{bad}");
        }
        assert_eq!(
            one("https://[::1"),
            Err(RewriteError::InvalidUri {
                uri: "https://[::1".into()
            })
        );
    }

    #[test]
    fn playlist_query_is_not_inherited() {
        let base = Url::parse(BASE).unwrap();
        let pl = Url::parse(&format!("{BASE}360p/index.m3u8?token=secret")).unwrap();
        let ctx = RewriteContext {
            asset_base: &base,
            playlist_url: &pl,
            plan: UriPlan::gateway(PREFIX),
        };
        let input = "#EXTM3U\n#EXT-X-MAP:URI=\"\"\n#EXT-X-KEY:METHOD=AES-128,URI=\"#x\"\nseg.ts\nseg2.ts?own=1\n";
        let out = rewrite_playlist(input, &ctx).unwrap();
        assert!(!out.contains("secret"), "{out}");
        assert_eq!(
            out,
            "#EXTM3U\n#EXT-X-MAP:URI=\"/play/pb_123/360p/index.m3u8\"\n\
             #EXT-X-KEY:METHOD=AES-128,URI=\"/play/pb_123/360p/index.m3u8\"\n\
             /play/pb_123/360p/seg.ts\n/play/pb_123/360p/seg2.ts?own=1\n"
        );
    }

    #[test]
    fn method_none_quoted_commas_and_name_trap() {
        let none = "#EXTM3U\n#EXT-X-KEY:METHOD=NONE\nseg.ts\n";
        assert_eq!(
            rw(none).unwrap(),
            "#EXTM3U\n#EXT-X-KEY:METHOD=NONE\n/play/pb_123/360p/seg.ts\n"
        );

        let commas = "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,NAME=\"a, b, URI=c\",CHARACTERISTICS=\"x,y\",URI=\"au,dio.m3u8\"\n";
        assert_eq!(
            rw(commas).unwrap(),
            "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,NAME=\"a, b, URI=c\",CHARACTERISTICS=\"x,y\",URI=\"/play/pb_123/360p/au,dio.m3u8\"\n"
        );

        for trap in [
            "#EXT-X-MEDIA:TYPE=AUDIO,NAME=\"URI=https://evil.example/x\",GROUP-ID=\"a\"",
            "#EXT-X-MEDIA:NAME=\"x,URI=https://evil.example/x\"",
            "#EXT-X-KEY:METHOD=NONE,KEYFORMAT=\"URI=\"",
        ] {
            let input = format!("#EXTM3U\n{trap}\n");
            assert_eq!(rw(&input).unwrap(), input, "{trap}");
        }
        // A second URI attribute is rewritten too (and checked).
        assert_eq!(
            rw("#EXTM3U\n#EXT-X-MAP:URI=\"a.mp4\",URI=\"https://evil.example/\"\n"),
            outside("https://evil.example/")
        );
    }

    #[test]
    fn loose_forms_players_accept_are_covered() {
        // Lone CR ends a line: the URI hiding behind it is seen and refused.
        assert_eq!(
            rw("#EXTM3U\n#EXTINF:4,\rhttps://evil.example/x\n"),
            outside("https://evil.example/x")
        );
        assert_eq!(
            rw("#EXTM3U\n#EXTINF:4,\rseg.ts\r").unwrap(),
            "#EXTM3U\n#EXTINF:4,\r/play/pb_123/360p/seg.ts\r"
        );
        assert_eq!(
            rw("#EXTM3U\n#EXTINF:4,\u{2028}https://evil.example/x\n"),
            Err(RewriteError::ForbiddenLineSeparator)
        );
        // Leading whitespace before a tag, prefix-matched tag names, spaced names,
        // unquoted values, names merely ending in URI.
        for (evil, uri) in [
            (
                " \t#EXT-X-KEY:METHOD=AES-128,URI=\"https://evil.example/k\"",
                "https://evil.example/k",
            ),
            (
                "#EXT-X-KEYS:URI=\"https://evil.example/k\"",
                "https://evil.example/k",
            ),
            (
                "#EXT-X-KEY:METHOD=AES-128, URI =\"https://evil.example/k\"",
                "https://evil.example/k",
            ),
            (
                "#EXT-X-KEY:METHOD=AES-128,URI=https://evil.example/k",
                "https://evil.example/k",
            ),
            (
                "#EXT-X-KEY:METHOD=AES-128,XURI=\"https://evil.example/k\",URI=\"k.key\"",
                "https://evil.example/k",
            ),
            (
                "   https://evil.example/seg.ts  ",
                "https://evil.example/seg.ts",
            ),
        ] {
            assert_eq!(rw(&format!("#EXTM3U\n{evil}\n")), outside(uri), "{evil}");
        }
        assert_eq!(
            rw("#EXTM3U\n  #EXT-X-KEY:METHOD=AES-128,URI=k.key,IV=0x1\n").unwrap(),
            "#EXTM3U\n  #EXT-X-KEY:METHOD=AES-128,URI=\"/play/pb_123/360p/k.key\",IV=0x1\n"
        );
        // Ambiguous quoting is refused.
        for bad in [
            "#EXT-X-KEY:METHOD=AES-128,URI=\"k.key",
            "#EXT-X-KEY:METHOD=AES-128,URI=\"k.key\"x",
            "#EXT-X-KEY:METHOD=AES-128,FOO=a\"b,URI=\"k.key\"",
            "#EXT-X-KEY:METHOD=AES-128,FOO\"=1",
            "#EXT-X-MAP:URI= \"https://evil.example/x\"",
        ] {
            assert_eq!(
                rw(&format!("#EXTM3U\n{bad}\n")),
                Err(RewriteError::MalformedAttributes { line: 2 }),
                "{bad}"
            );
        }
        // Prefix matching does not disturb look-alike tags without URI attributes.
        let benign =
            "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-PART-INF:PART-TARGET=1.0\n#EXT-X-MAP\n";
        assert_eq!(rw(benign).unwrap(), benign);
    }

    #[test]
    fn not_a_playlist_and_bad_context() {
        for bad in [
            "",
            "\n\r\n",
            "seg.ts\n",
            "#EXTINF:4,\n#EXTM3U\n",
            "#EXTM3Ux\n",
            "\u{feff}#EXTM3U\n",
        ] {
            assert_eq!(rw(bad), Err(RewriteError::NotAPlaylist), "{bad:?}");
        }
        assert_eq!(
            rw("\n  #EXTM3U \nseg.ts").unwrap(),
            "\n  #EXTM3U \n/play/pb_123/360p/seg.ts"
        );

        let base = Url::parse(BASE).unwrap();
        let inside = base.join("index.m3u8").unwrap();
        let elsewhere = Url::parse("https://vod.example/vod/vi2/index.m3u8").unwrap();
        let no_slash = Url::parse("https://vod.example/vod/vi1").unwrap();
        let data = Url::parse("data:text/plain,x").unwrap();
        let bad = |b: &Url, p: &Url, g: &str| {
            matches!(
                rewrite_playlist(
                    "#EXTM3U\n",
                    &RewriteContext {
                        asset_base: b,
                        playlist_url: p,
                        plan: UriPlan::gateway(g)
                    }
                ),
                Err(RewriteError::InvalidContext(_))
            )
        };
        assert!(bad(&base, &elsewhere, PREFIX));
        assert!(bad(&no_slash, &no_slash, PREFIX));
        assert!(bad(&data, &data, PREFIX));
        assert!(bad(&base, &inside, "/play/pb_123"));
        assert!(!bad(&base, &inside, PREFIX));
    }

    #[test]
    fn large_media_playlist() {
        let pl = media_playlist(1200);
        let out = rw(&pl).unwrap();
        assert_eq!(out.matches("\n/play/pb_123/360p/seg").count(), 1200);
        let want = pl
            .replace("\"../enc.key\"", "\"/play/pb_123/enc.key\"")
            .replace("\nseg", "\n/play/pb_123/360p/seg");
        assert!(
            out == want,
            "1,200-segment playlist not rewritten as expected"
        );
    }

    /// A typical packager media playlist with `n` 4-second segments (also used for timing).
    pub(crate) fn media_playlist(n: usize) -> String {
        let mut s = String::from(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n\
             #EXT-X-KEY:METHOD=AES-128,URI=\"../enc.key\",IV=0x000102030405060708090a0b0c0d0e0f\n",
        );
        for i in 0..n {
            s.push_str(&format!("#EXTINF:4.000000,\nseg{i}.ts\n"));
        }
        s.push_str("#EXT-X-ENDLIST\n");
        s
    }

    // ---------------------------------------------------------------- properties

    /// Splits like the rewriter: lines end at "\r\n", "\n" or a lone "\r".
    fn split_lines(s: &str) -> Vec<(&str, &str)> {
        let b = s.as_bytes();
        let mut v = Vec::new();
        let mut pos = 0;
        while pos < b.len() {
            let end = find_eol(b, pos);
            let next = if end < b.len() && b[end] == b'\r' && b.get(end + 1) == Some(&b'\n') {
                end + 2
            } else {
                (end + 1).min(b.len())
            };
            v.push((&s[pos..end], &s[end..next]));
            pos = next;
        }
        v
    }

    /// Independent, simple attribute splitter for checking outputs: (name, raw value).
    fn attributes(list: &str) -> Vec<(String, String)> {
        let mut v = Vec::new();
        let mut cur = String::new();
        let mut quoted = false;
        for c in list.chars().chain(std::iter::once(',')) {
            if c == '"' {
                quoted = !quoted;
            }
            if c == ',' && !quoted {
                if let Some((n, val)) = cur.split_once('=') {
                    v.push((
                        n.trim_matches(|c: char| c <= ' ').to_owned(),
                        val.to_owned(),
                    ));
                }
                cur.clear();
            } else {
                cur.push(c);
            }
        }
        v
    }

    /// Checks the output invariants against the input.
    fn check_output(input: &str, out: &str) -> Result<(), TestCaseError> {
        let (ins, outs) = (split_lines(input), split_lines(out));
        prop_assert_eq!(ins.len(), outs.len());
        let mut header = false;
        for ((il, it), (ol, ot)) in ins.iter().zip(&outs) {
            prop_assert_eq!(it, ot, "line endings preserved");
            let (ic, oc) = (trim_ctl(il), trim_ctl(ol));
            if ic.is_empty() || !header {
                header |= !ic.is_empty();
                prop_assert_eq!(il, ol);
            } else if !ic.starts_with('#') {
                prop_assert!(ol.starts_with(PREFIX), "URI line {:?} -> {:?}", il, ol);
                prop_assert!(!ol.contains(['"', ' ', '\t', '\r', '\n']));
            } else if uri_tag(ic).is_some() {
                prop_assert!(uri_tag(oc).is_some());
                let (ia, oa) = match (il.split_once(':'), ol.split_once(':')) {
                    (Some((ih, ia)), Some((oh, oa))) => {
                        prop_assert_eq!(ih, oh);
                        (attributes(ia), attributes(oa))
                    }
                    _ => {
                        prop_assert_eq!(il, ol);
                        continue;
                    }
                };
                prop_assert_eq!(ia.len(), oa.len());
                let key = uri_tag(ic) == Some(UriKind::Key);
                let drm = |v: &str| {
                    let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"'));
                    v.is_some_and(handed_to_drm)
                };
                for ((iname, ival), (oname, oval)) in ia.iter().zip(&oa) {
                    prop_assert_eq!(iname, oname);
                    if key && is_uri_attribute(iname) && ival == oval {
                        // Kept as written: only a DRM key URI (or an empty one) may be.
                        prop_assert!(drm(oval) || handed_to_drm(trim_ctl(oval)), "{} kept", oval);
                    } else if is_uri_attribute(iname) {
                        let q = format!("\"{PREFIX}");
                        prop_assert!(
                            oval.starts_with(&q) && oval.ends_with('"'),
                            "{} -> {}",
                            ival,
                            oval
                        );
                    } else {
                        prop_assert_eq!(ival, oval);
                    }
                }
                // ExoPlayer-style unanchored search: whatever follows `URI="` is either
                // a gateway URI or text starting with ',' (relative, harmless).
                for (k, _) in ol.match_indices("URI=\"") {
                    let rest = &ol[k + 5..];
                    let drm_key = key
                        && (rest.starts_with('"')
                            || rest
                                .get(..4)
                                .is_some_and(|p| p.eq_ignore_ascii_case("skd:"))
                            || rest
                                .get(..5)
                                .is_some_and(|p| p.eq_ignore_ascii_case("data:")));
                    prop_assert!(
                        rest.starts_with(PREFIX)
                            || rest.starts_with(',')
                            || rest.is_empty()
                            || drm_key,
                        "{}",
                        ol
                    );
                }
            } else {
                prop_assert_eq!(il, ol);
            }
        }
        Ok(())
    }

    fn fragment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("#EXTM3U".to_owned()),
            Just("\n".to_owned()),
            Just("\r\n".to_owned()),
            Just("\r".to_owned()),
            Just(" ".to_owned()),
            Just(",".to_owned()),
            Just("\"".to_owned()),
            Just("=".to_owned()),
            Just("URI=".to_owned()),
            Just("URI=\"".to_owned()),
            Just("NAME=\"URI=".to_owned()),
            Just("#EXTINF:4.0,".to_owned()),
            Just("#EXT-X-BYTERANGE:100@0".to_owned()),
            Just("#EXT-X-KEY:METHOD=AES-128,".to_owned()),
            Just("#EXT-X-KEY:METHOD=NONE".to_owned()),
            Just("#EXT-X-MAP:".to_owned()),
            Just("#EXT-X-MEDIA:TYPE=AUDIO,".to_owned()),
            Just("#EXT-X-PART:".to_owned()),
            Just("#EXT-X-DATERANGE:X-ASSET-LIST=".to_owned()),
            Just("# comment".to_owned()),
            Just("seg0.ts".to_owned()),
            Just("360p/index.m3u8".to_owned()),
            Just("../".to_owned()),
            Just("./".to_owned()),
            Just("/".to_owned()),
            Just("//".to_owned()),
            Just("?q=1".to_owned()),
            Just("#frag".to_owned()),
            Just("%2e%2e".to_owned()),
            Just("\\".to_owned()),
            Just("https://vod.example/vod/vi1/token/abc/hls/".to_owned()),
            Just("https://evil.example/".to_owned()),
            Just("skd://".to_owned()),
            Just("data:".to_owned()),
            "[ -~]{0,6}",
            "\\PC{0,3}",
        ]
    }

    fn soup() -> impl Strategy<Value = String> {
        (
            prop::bool::weighted(0.9),
            prop::collection::vec(fragment(), 0..40),
        )
            .prop_map(|(header, parts)| {
                if header {
                    format!("#EXTM3U\n{}", parts.concat())
                } else {
                    parts.concat()
                }
            })
    }

    /// Well-formed playlists whose URIs are all inside the base, in assorted spellings.
    fn valid_playlist() -> impl Strategy<Value = String> {
        let uri = prop_oneof![
            "[a-z0-9_]{1,8}\\.ts",
            "[a-z0-9]{1,4}/[a-z0-9]{1,4}\\.m3u8",
            "\\./[a-z]{1,4}\\.ts",
            "\\.\\./[a-z]{1,4}\\.key",
            "[a-z]{1,4}\\.ts\\?[a-z]=[a-z0-9,]{0,5}",
            "/vod/vi1/token/abc/hls/[a-z]{1,5}\\.ts",
            "https://vod\\.example/vod/vi1/token/abc/hls/[a-z]{1,5}\\.ts",
            "[a-z]{1,3}%20[a-z]{1,3}\\.ts",
        ];
        let line = prop_oneof![
            uri.clone(),
            uri.clone()
                .prop_map(|u| format!("#EXT-X-KEY:METHOD=AES-128,URI=\"{u}\",IV=0x1")),
            uri.clone()
                .prop_map(|u| format!("#EXT-X-MAP:URI=\"{u}\",BYTERANGE=\"1@0\"")),
            uri.prop_map(|u| format!("#EXT-X-MEDIA:NAME=\"a,URI=b\",URI=\"{u}\"")),
            Just("#EXTINF:4.0,".to_owned()),
            Just("#EXT-X-BYTERANGE:10@5".to_owned()),
            Just(String::new()),
        ];
        let eol = prop_oneof![Just("\n"), Just("\r\n")];
        (prop::collection::vec((line, eol), 0..30), any::<bool>()).prop_map(|(lines, trailing)| {
            let mut s = String::from("#EXTM3U\n");
            for (l, e) in lines {
                s.push_str(&l);
                s.push_str(e);
            }
            if !trailing && s.ends_with('\n') {
                s.pop();
                if s.ends_with('\r') {
                    s.pop();
                }
            }
            s
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_strings_never_panic(input in "\\PC*|[\\s\\S]{0,64}") {
            if let Ok(out) = rw(&input) {
                check_output(&input, &out)?;
            }
        }

        #[test]
        fn line_soups_never_panic_and_emit_only_gateway_uris(input in soup()) {
            if let Ok(out) = rw(&input) {
                check_output(&input, &out)?;
            }
        }

        #[test]
        fn valid_playlists_rewrite(input in valid_playlist()) {
            let out = rw(&input).unwrap();
            check_output(&input, &out)?;
        }

        /// The word-at-a-time line-break search agrees with a plain byte loop.
        #[test]
        fn find_eol_matches_naive(bytes in prop::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), Just(0x8a), Just(0x8d), Just(0x0b), any::<u8>()], 0..80), from in 0usize..80) {
            let from = from.min(bytes.len());
            let naive = bytes[from..].iter().position(|&b| b == b'\n' || b == b'\r').map_or(bytes.len(), |i| from + i);
            prop_assert_eq!(find_eol(&bytes, from), naive);
        }

        /// The fast paths (in `push_uri` and in the main loop) and full resolution agree,
        /// for relative and absolute spellings, with and without a query.
        #[test]
        fn fast_paths_match_full_resolution(
            path in "[A-Za-z0-9._~=+,@/-]{1,24}",
            query in proptest::option::of("[A-Za-z0-9._~=+,@/?&%:;-]{0,16}"),
            absolute in any::<bool>(),
            dir in "|[a-z]{1,3}/|a/b/",
        ) {
            let base = Url::parse(BASE).unwrap();
            let pl = base.join(&format!("{dir}index.m3u8")).unwrap();
            let ctx = RewriteContext { asset_base: &base, playlist_url: &pl, plan: UriPlan::gateway(PREFIX) };
            let rw = Rewriter::new(&ctx).unwrap();
            let mut uri = if absolute { format!("{BASE}{path}") } else { path.clone() };
            if let Some(q) = &query {
                uri.push('?');
                uri.push_str(q);
            }
            let (mut fast, mut slow) = (String::new(), String::new());
            let slow_result = rw.push_resolved(&uri, PREFIX, &mut slow);
            let fast_result = rw.push_uri(&uri, UriKind::Segment, &mut fast);
            prop_assert_eq!(&fast_result, &slow_result);
            let whole = rewrite_playlist(&format!("#EXTM3U\n{uri}\n"), &ctx);
            match slow_result {
                Ok(()) => {
                    prop_assert_eq!(&fast, &slow);
                    prop_assert_eq!(whole, Ok(format!("#EXTM3U\n{slow}\n")));
                }
                Err(e) => prop_assert_eq!(whole, Err(e)),
            }
        }
    }
}
