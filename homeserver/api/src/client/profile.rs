//! Profiles (spec: client-server API, "Profiles"; any field since v1.16).
//!
//! Plain JSON rather than ruma's types: a profile is an open-ended object.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use nexus_core::Error;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, JsonBody, PathParams};
use crate::ids::user_id as parse_user_id;
use crate::router::AppState;

pub async fn get_profile(
    State(state): State<AppState>,
    PathParams(user_id): PathParams<String>,
) -> ApiResult<impl IntoResponse> {
    let user_id = parse_user_id(&user_id)?;
    Ok(Json(state.services.federation.profile(&user_id, None).await?))
}

pub async fn get_field(
    State(state): State<AppState>,
    PathParams((user_id, field)): PathParams<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let user_id = parse_user_id(&user_id)?;
    let mut profile = state.services.federation.profile(&user_id, Some(&field)).await?;
    let value = profile.remove(&field).unwrap_or(Value::Null);
    Ok(Json(json!({ field: value })))
}

pub async fn set_field(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams((user_id, field)): PathParams<(String, String)>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<impl IntoResponse> {
    let user_id = parse_user_id(&user_id)?;
    // The body names the field it sets: `{"displayname": "Alice"}`.
    let value = body
        .get(&field)
        .cloned()
        .ok_or_else(|| ApiError(Error::BadJson(format!("the body must contain the key {field:?}"))))?;
    state.services.member_profiles.set_field(&caller.user_id, &user_id, &field, Some(value)).await?;
    Ok(Json(json!({})))
}

pub async fn delete_field(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams((user_id, field)): PathParams<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let user_id = parse_user_id(&user_id)?;
    state.services.member_profiles.set_field(&caller.user_id, &user_id, &field, None).await?;
    Ok(Json(json!({})))
}
