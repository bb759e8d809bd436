//! HLS, the one manifest format today: what a playlist is, and rewriting one so every URI
//! in it points where the playback's plan says (`rewrite`).

pub mod rewrite;

/// Is this text an HLS playlist at all? (RFC 8216 §4.3.1.1: the first line is `#EXTM3U`;
/// a UTF-8 byte order mark in front is tolerated, as players do.)
pub fn is_playlist(text: &str) -> bool {
    text.trim_start_matches('\u{feff}').starts_with("#EXTM3U")
}
