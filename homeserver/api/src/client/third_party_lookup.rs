//! Third-party networks (spec: "Third-party networks"). The protocols a
//! server knows are the ones its application services bridge; Nexus has
//! none registered yet, so the list is empty, lookups find nothing, and a
//! named protocol is unknown (404) — the answers the spec gives a server
//! that bridges nothing.

use axum::Json;
use axum::response::IntoResponse;
use nexus_core::Error;
use serde_json::json;

use crate::error::ApiError;
use crate::extract::{Authed, PathParams};

pub async fn protocols(_caller: Authed) -> impl IntoResponse {
    Json(json!({}))
}

pub async fn unknown_protocol(_caller: Authed, PathParams(protocol): PathParams<String>) -> ApiError {
    ApiError(Error::NotFound(format!("no bridge here speaks the protocol {protocol}")))
}

/// `GET /thirdparty/location?alias=` and `/thirdparty/user?userid=`.
pub async fn nothing_found(_caller: Authed) -> impl IntoResponse {
    Json(json!([]))
}
