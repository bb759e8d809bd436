//! Media: everything vodgate knows about video files and where they come from.
//! `asset_path` (what a viewer may ask for inside a playback), `hls` (the manifest format:
//! recognising and rewriting playlists), `origin` (a folder, an HTTP HLS origin, api.video).
//! Pure where it can be; nothing here knows about entitlements or the store's keys.

pub mod asset_path;
pub mod body;
pub mod hls;
pub mod origin;
