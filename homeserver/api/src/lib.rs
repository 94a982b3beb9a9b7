//! Nexus's HTTP surface: axum routers whose handlers parse a request (with
//! ruma's request types where they fit), authenticate it, call one service
//! method, and render the result. No handler holds business logic.

mod admin;
mod client;
mod error;
mod extract;
mod federation;
pub mod http_metrics;
mod ids;
mod livekit_jwt;
mod media;
mod nexus;
mod router;
mod web_client;
mod well_known;

pub use admin::OperatorRequest;
pub use error::ApiError;
pub use federation::router as federation_router;
pub use router::{AppState, router};
pub use web_client::WebClient;
