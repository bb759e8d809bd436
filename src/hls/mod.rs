pub mod asset_path;
pub mod rewrite;
