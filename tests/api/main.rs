//! The one integration test binary: everything through real HTTP against a real
//! `redis-server` (spawned per test binary; each test gets its own key prefix) or the
//! embedded store.

mod apivideo;
mod auth;
mod behind_nginx;
mod brand;
mod browser;
mod cdn;
mod cdn_formats;
mod cli;
mod entitlements;
mod errors;
mod failover;
mod helpers;
mod openapi;
mod operability;
mod origins;
mod outage;
mod payment_providers;
mod playback;
mod rental;
mod store_contract;
