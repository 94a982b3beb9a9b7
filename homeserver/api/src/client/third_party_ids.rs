//! Third-party identifiers. A Nexus account is a username and a password,
//! nothing else: no email or phone number is ever bound, so the list is
//! empty and every way of adding one is refused as the spec allows.

use axum::Json;
use axum::response::IntoResponse;
use nexus_core::Error;
use serde_json::json;

use crate::error::ApiError;
use crate::extract::Authed;

pub async fn list(_caller: Authed) -> impl IntoResponse {
    Json(json!({ "threepids": [] }))
}

pub async fn refuse() -> ApiError {
    ApiError(Error::ThreepidMediumNotSupported("this server does not use email addresses or phone numbers".to_owned()))
}

/// `POST /account/3pid/delete` and `/account/3pid/unbind`: there is never
/// one to remove, and no identity server to unbind from.
pub async fn remove(_caller: Authed) -> impl IntoResponse {
    Json(json!({ "id_server_unbind_result": "no-support" }))
}
