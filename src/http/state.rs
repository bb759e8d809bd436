//! `AppState`: what every handler can reach, shared by all workers: the use cases (`app`)
//! and admin authentication.

use crate::app::App;
use crate::auth::{AdminAuth, Throttle};
use crate::config::Config;

pub struct AppState {
    pub app: App,
    pub auth: AdminAuth,
    pub throttle: Throttle,
}

impl AppState {
    pub fn new(app: App) -> Self {
        Self {
            auth: AdminAuth::new(app.store.clone()),
            throttle: Throttle::new(app.store.clone(), app.config.auth_failures_per_minute),
            app,
        }
    }

    pub fn config(&self) -> &Config {
        &self.app.config
    }
}
