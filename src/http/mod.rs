//! The HTTP layer: everything that knows about actix-web. It owns the application state,
//! the router, the one error shape (problem+json and its HTML twin), the extractors
//! (`Authorized<Scope>`, the client), middleware, pages and the OpenAPI document. Handlers
//! parse, call a use case of `crate::app`, and render; nothing below this layer imports it.

pub mod admission;
pub mod dto;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod pages;
pub mod routes;
pub mod security;
pub mod server;
pub mod session;
mod state;

pub use state::AppState;
