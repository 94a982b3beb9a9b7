//! Shared-secret registration, `/_synapse/admin/v1/register` (Synapse's
//! path: tools and Complement speak it).

use axum::Json;
use axum::extract::State;
use nexus_core::accounts::{Registered, SharedSecretRegistration};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiResult;
use crate::extract::JsonBody;
use crate::router::AppState;

pub async fn nonce(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "nonce": state.services.accounts.registration_nonce()? })))
}

#[derive(Deserialize)]
pub struct Body {
    nonce: String,
    username: String,
    password: String,
    #[serde(default)]
    admin: bool,
    #[serde(default)]
    user_type: Option<String>,
    #[serde(default)]
    displayname: Option<String>,
    mac: String,
}

pub async fn register(State(state): State<AppState>, JsonBody(body): JsonBody<Body>) -> ApiResult<Json<Value>> {
    let registered = state
        .services
        .accounts
        .register_with_shared_secret(SharedSecretRegistration {
            nonce: body.nonce,
            username: body.username,
            password: body.password,
            admin: body.admin,
            user_type: body.user_type,
            displayname: body.displayname,
            mac: body.mac,
        })
        .await?;
    match registered {
        Registered::LoggedIn(session) => Ok(Json(json!({
            "user_id": session.user_id,
            "access_token": session.tokens.access_token,
            "device_id": session.device_id,
            "home_server": state.services.server_name(),
        }))),
        Registered::AccountOnly(user_id) => Ok(Json(json!({ "user_id": user_id }))),
    }
}
