//! End-to-end encryption key endpoints (spec: client-server API, "Key
//! management API", "Cross-signing", "Send-to-Device messaging").

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use nexus_core::Error;
use ruma::api::client::uiaa::AuthData;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, JsonBody, PathParams, QueryParams};
use crate::router::AppState;

#[derive(Deserialize)]
pub struct UploadBody {
    device_keys: Option<Value>,
    #[serde(default)]
    one_time_keys: Map<String, Value>,
    #[serde(default)]
    fallback_keys: Map<String, Value>,
}

pub async fn upload(
    State(state): State<AppState>,
    Authed(caller): Authed,
    JsonBody(body): JsonBody<UploadBody>,
) -> ApiResult<impl IntoResponse> {
    let counts = state
        .services
        .e2ee
        .keys
        .upload(&caller.user_id, &caller.device_id, body.device_keys, body.one_time_keys, body.fallback_keys)
        .await?;
    Ok(Json(json!({ "one_time_key_counts": counts })))
}

#[derive(Deserialize)]
pub struct QueryBody {
    device_keys: Map<String, Value>,
}

pub async fn query(
    State(state): State<AppState>,
    Authed(caller): Authed,
    JsonBody(body): JsonBody<QueryBody>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(state.services.federation.query_keys(&caller.user_id, &body.device_keys).await?))
}

#[derive(Deserialize)]
pub struct ClaimBody {
    one_time_keys: Map<String, Value>,
}

pub async fn claim(
    State(state): State<AppState>,
    Authed(_caller): Authed,
    JsonBody(body): JsonBody<ClaimBody>,
) -> ApiResult<impl IntoResponse> {
    let (claimed, failures) = state.services.federation.claim_keys(&body.one_time_keys).await?;
    Ok(Json(json!({ "one_time_keys": claimed, "failures": failures })))
}

#[derive(Deserialize)]
pub struct ChangesQuery {
    from: String,
    to: String,
}

pub async fn changes(
    State(state): State<AppState>,
    Authed(caller): Authed,
    QueryParams(query): QueryParams<ChangesQuery>,
) -> ApiResult<impl IntoResponse> {
    let from = nexus_core::sync::token_position(&query.from)?;
    let to = nexus_core::sync::token_position(&query.to)?;
    let (changed, left) = state.services.e2ee.keys.changes_between(&caller.user_id, from, to).await?;
    Ok(Json(json!({ "changed": changed, "left": left })))
}

#[derive(Deserialize)]
pub struct CrossSigningBody {
    master_key: Option<Value>,
    self_signing_key: Option<Value>,
    user_signing_key: Option<Value>,
    auth: Option<Value>,
}

pub async fn upload_cross_signing(
    State(state): State<AppState>,
    Authed(caller): Authed,
    JsonBody(body): JsonBody<CrossSigningBody>,
) -> ApiResult<impl IntoResponse> {
    let services = &state.services;
    // The first upload needs no re-authentication (spec: "Cross-signing":
    // there is nothing yet to protect); replacing keys does.
    let uploads = [
        ("master", body.master_key.as_ref()),
        ("self_signing", body.self_signing_key.as_ref()),
        ("user_signing", body.user_signing_key.as_ref()),
    ];
    let keys = &services.e2ee.keys;
    if keys.has_master_key(&caller.user_id).await? && !keys.cross_signing_unchanged(&caller.user_id, uploads).await? {
        let auth: Option<AuthData> = body
            .auth
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| ApiError(Error::BadJson(format!("auth: {e}"))))?;
        services.accounts.authorize_with_password(&caller, "cross_signing_upload", auth.as_ref()).await?;
    }
    services
        .e2ee
        .keys
        .upload_cross_signing(&caller.user_id, body.master_key, body.self_signing_key, body.user_signing_key)
        .await?;
    Ok(Json(json!({})))
}

pub async fn upload_signatures(
    State(state): State<AppState>,
    Authed(caller): Authed,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(state.services.e2ee.keys.upload_signatures(&caller.user_id, &body).await?))
}

#[derive(Deserialize)]
pub struct SendToDeviceBody {
    messages: Map<String, Value>,
}

pub async fn send_to_device(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams((event_type, txn_id)): PathParams<(String, String)>,
    JsonBody(body): JsonBody<SendToDeviceBody>,
) -> ApiResult<impl IntoResponse> {
    state
        .services
        .e2ee
        .to_device
        .send(&caller.user_id, &caller.device_id, &event_type, &txn_id, &body.messages)
        .await?;
    Ok(Json(json!({})))
}
