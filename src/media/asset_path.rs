//! Validation of the asset tail of a `/play/{playback_id}/<tail>` request.
//!
//! Why this exists: the gateway turns `<tail>` into an upstream location (a file under
//! the title's media directory, or a URL under the video's upstream HLS base). If the
//! tail could climb out of that directory (`..`, `%2e%2e`, `%2f`, a backslash a Windows
//! or a lenient server would treat as a separator, an absolute path, a NUL that
//! truncates a C string, ...), a viewer entitled to one title could read another
//! title's files, keys included — or anything else the upstream can reach.
//!
//! So the tail is checked *raw*, before any percent-decoding, against a deliberately
//! small grammar instead of being normalised:
//!
//! * 1 to [`MAX_LEN`] bytes, made of `/`-separated segments;
//! * every segment is non-empty, is neither `.` nor `..`, and does not start with `.`
//!   (no hidden files such as `.env`);
//! * only the bytes `A-Z a-z 0-9 . _ ~ = + , @ -` appear in a segment.
//!
//! Anything a percent-decoder, a path normaliser or a file system could reinterpret
//! (`%`, `\`, `:`, NUL and other controls, spaces, non-ASCII) is outside the grammar
//! and refused, so there is nothing left to decode and every accepted tail means the
//! same thing to the gateway, the OS and the upstream server. Names produced by
//! packagers (`seg12.ts`, `360p/index.m3u8`, `enc.key`, `init-v1.mp4`) all fit.
//!
//! The type also classifies the asset by extension ([`AssetKind`]) and gives the
//! `Content-Type` to answer with, so responses never echo an upstream's content type.

use std::fmt;

/// Longest accepted tail, in bytes. Real packager paths are far shorter; the cap keeps
/// logs, cache keys and upstream URLs bounded.
pub const MAX_LEN: usize = 512;

/// A validated, relative asset path (raw, not percent-decoded), e.g. `360p/seg3.ts`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AssetPath(String);

/// Why a tail was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssetPathError {
    #[error("asset path is empty")]
    Empty,
    #[error("asset path is {len} bytes long (limit {MAX_LEN})")]
    TooLong { len: usize },
    #[error("asset path has an empty segment (leading, trailing or doubled '/')")]
    EmptySegment,
    #[error("asset path has a '.' or '..' segment")]
    DotSegment,
    #[error("asset path has a segment starting with '.'")]
    HiddenSegment,
    #[error("asset path contains the forbidden byte 0x{byte:02x} at offset {offset}")]
    ForbiddenByte { byte: u8, offset: usize },
}

/// What an asset is, judged from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssetKind {
    /// `.m3u8`: must be fetched, rewritten and re-signed, never relayed as is.
    Playlist,
    /// `.key`: an AES-128 content key; only for entitled viewers, never cached publicly.
    Key,
    /// `.ts`, `.m4s`, `.mp4`, `.aac`, `.vtt`, `.webvtt`: media bytes, relayed unchanged.
    Segment,
    /// Anything else; the caller decides (refusing is the safe default).
    Other,
}

/// Bytes allowed inside a segment: `[A-Za-z0-9._~=+,@-]`. Shared with the playlist
/// rewriter, whose fast path only handles URIs made of these bytes and `/`.
pub(crate) const fn is_segment_byte(b: u8) -> bool {
    matches!(b, b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'~' | b'=' | b'+' | b',' | b'@' | b'-')
}

impl AssetPath {
    /// Validates the raw (still percent-encoded) tail of a `/play/{playback_id}/<tail>`
    /// request. See the module documentation for the grammar.
    pub fn parse(raw: &str) -> Result<AssetPath, AssetPathError> {
        let bytes = raw.as_bytes();
        if bytes.is_empty() {
            return Err(AssetPathError::Empty);
        }
        if bytes.len() > MAX_LEN {
            return Err(AssetPathError::TooLong { len: bytes.len() });
        }
        let mut offset = 0;
        for segment in bytes.split(|&b| b == b'/') {
            match segment {
                [] => return Err(AssetPathError::EmptySegment),
                b"." | b".." => return Err(AssetPathError::DotSegment),
                _ => {}
            }
            if let Some(i) = segment.iter().position(|&b| !is_segment_byte(b)) {
                return Err(AssetPathError::ForbiddenByte {
                    byte: segment[i],
                    offset: offset + i,
                });
            }
            if segment[0] == b'.' {
                return Err(AssetPathError::HiddenSegment);
            }
            offset += segment.len() + 1;
        }
        Ok(AssetPath(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The extension of the last segment (text after its last '.'), if any.
    fn extension(&self) -> Option<&str> {
        let name = self.0.rsplit('/').next().unwrap_or(&self.0);
        name.rsplit_once('.').map(|(_, ext)| ext)
    }

    pub fn kind(&self) -> AssetKind {
        match self.extension() {
            Some(ext) if ext.eq_ignore_ascii_case("m3u8") => AssetKind::Playlist,
            Some(ext) if ext.eq_ignore_ascii_case("key") => AssetKind::Key,
            Some(ext)
                if ["ts", "m4s", "mp4", "aac", "vtt", "webvtt"]
                    .iter()
                    .any(|s| ext.eq_ignore_ascii_case(s)) =>
            {
                AssetKind::Segment
            }
            _ => AssetKind::Other,
        }
    }

    /// The `Content-Type` to serve this asset with (`application/octet-stream` for keys
    /// and unknown extensions).
    pub fn content_type(&self) -> &'static str {
        let ext = self.extension().unwrap_or("");
        let is = |s: &str| ext.eq_ignore_ascii_case(s);
        if is("m3u8") {
            "application/vnd.apple.mpegurl"
        } else if is("ts") {
            "video/mp2t"
        } else if is("m4s") {
            "video/iso.segment"
        } else if is("mp4") {
            "video/mp4"
        } else if is("aac") {
            "audio/aac"
        } else if is("vtt") || is("webvtt") {
            "text/vtt"
        } else {
            "application/octet-stream"
        }
    }
}

impl AsRef<str> for AssetPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AssetPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_packager_names() {
        for ok in [
            "master.m3u8",
            "360p/index.m3u8",
            "360p/seg0.ts",
            "enc.key",
            "a/b/c/d.m4s",
            "init-v1_a~b=c+d,e@f.mp4",
            "audio/eng/seg-12.aac",
            "subs/en.webvtt",
            "x",
            "v..ts",
        ] {
            let p = AssetPath::parse(ok).unwrap_or_else(|e| panic!("{ok:?} refused: {e}"));
            assert_eq!(p.as_str(), ok);
            assert_eq!(p.to_string(), ok);
        }
        let long = "a".repeat(MAX_LEN);
        assert!(AssetPath::parse(&long).is_ok());
    }

    #[test]
    fn refuses_traversal_and_encoding_tricks() {
        use AssetPathError::*;
        let cases: &[(&str, AssetPathError)] = &[
            ("", Empty),
            ("..", DotSegment),
            (".", DotSegment),
            ("../enc.key", DotSegment),
            ("360p/../../etc/passwd", DotSegment),
            ("360p/./seg0.ts", DotSegment),
            ("360p/..", DotSegment),
            ("/etc/passwd", EmptySegment),
            ("360p//seg0.ts", EmptySegment),
            ("360p/", EmptySegment),
            ("/", EmptySegment),
            (".env", HiddenSegment),
            ("360p/.git", HiddenSegment),
            ("...", HiddenSegment),
            (
                "%2e%2e/enc.key",
                ForbiddenByte {
                    byte: b'%',
                    offset: 0,
                },
            ),
            (
                "360p%2fseg0.ts",
                ForbiddenByte {
                    byte: b'%',
                    offset: 4,
                },
            ),
            (
                "seg0.ts%00.m3u8",
                ForbiddenByte {
                    byte: b'%',
                    offset: 7,
                },
            ),
            ("seg0.ts\0", ForbiddenByte { byte: 0, offset: 7 }),
            (
                "360p\\..\\enc.key",
                ForbiddenByte {
                    byte: b'\\',
                    offset: 4,
                },
            ),
            (
                "..\\enc.key",
                ForbiddenByte {
                    byte: b'\\',
                    offset: 2,
                },
            ),
            (
                "C:/x.ts",
                ForbiddenByte {
                    byte: b':',
                    offset: 1,
                },
            ),
            (
                "https://evil/x.ts",
                ForbiddenByte {
                    byte: b':',
                    offset: 5,
                },
            ),
            (
                "seg 0.ts",
                ForbiddenByte {
                    byte: b' ',
                    offset: 3,
                },
            ),
            (
                "seg0.ts?x=1",
                ForbiddenByte {
                    byte: b'?',
                    offset: 7,
                },
            ),
            (
                "seg0.ts#x",
                ForbiddenByte {
                    byte: b'#',
                    offset: 7,
                },
            ),
            (
                "a/b\n.ts",
                ForbiddenByte {
                    byte: b'\n',
                    offset: 3,
                },
            ),
            (
                "s\u{e9}g.ts",
                ForbiddenByte {
                    byte: 0xc3,
                    offset: 1,
                },
            ),
            (
                "a;b.ts",
                ForbiddenByte {
                    byte: b';',
                    offset: 1,
                },
            ),
        ];
        for (raw, want) in cases {
            assert_eq!(AssetPath::parse(raw).as_ref(), Err(want), "{raw:?}");
        }
        let long = "a".repeat(MAX_LEN + 1);
        assert_eq!(AssetPath::parse(&long), Err(TooLong { len: MAX_LEN + 1 }));
        // Over-long is reported even when the content would also be bad.
        assert!(matches!(
            AssetPath::parse(&"../".repeat(200)),
            Err(TooLong { .. })
        ));
    }

    #[test]
    fn kinds_and_content_types() {
        let t = |raw: &str| {
            let p = AssetPath::parse(raw).unwrap();
            (p.kind(), p.content_type())
        };
        assert_eq!(
            t("master.m3u8"),
            (AssetKind::Playlist, "application/vnd.apple.mpegurl")
        );
        assert_eq!(
            t("360p/INDEX.M3U8"),
            (AssetKind::Playlist, "application/vnd.apple.mpegurl")
        );
        assert_eq!(t("enc.key"), (AssetKind::Key, "application/octet-stream"));
        assert_eq!(t("360p/seg0.ts"), (AssetKind::Segment, "video/mp2t"));
        assert_eq!(t("v/seg1.m4s"), (AssetKind::Segment, "video/iso.segment"));
        assert_eq!(t("v/init.mp4"), (AssetKind::Segment, "video/mp4"));
        assert_eq!(t("a/seg1.aac"), (AssetKind::Segment, "audio/aac"));
        assert_eq!(t("s/en.vtt"), (AssetKind::Segment, "text/vtt"));
        assert_eq!(t("s/en.webvtt"), (AssetKind::Segment, "text/vtt"));
        assert_eq!(
            t("title.txt"),
            (AssetKind::Other, "application/octet-stream")
        );
        assert_eq!(t("noext"), (AssetKind::Other, "application/octet-stream"));
        assert_eq!(t("ts"), (AssetKind::Other, "application/octet-stream"));
        assert_eq!(
            t("m3u8.d/file"),
            (AssetKind::Other, "application/octet-stream")
        );
        assert_eq!(
            t("x.ts.bak"),
            (AssetKind::Other, "application/octet-stream")
        );
    }

    proptest! {
        #[test]
        fn never_panics_and_accepted_paths_are_clean(raw in "\\PC{0,40}|[a-z./%\\\\]{0,20}") {
            if let Ok(p) = AssetPath::parse(&raw) {
                prop_assert_eq!(p.as_str(), raw.as_str());
                prop_assert!(!raw.starts_with('/') && !raw.ends_with('/'));
                for seg in raw.split('/') {
                    prop_assert!(!seg.is_empty() && !seg.starts_with('.'));
                    prop_assert!(seg.bytes().all(is_segment_byte));
                }
                let _ = (p.kind(), p.content_type());
            }
        }
    }
}
