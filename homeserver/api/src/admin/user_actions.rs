//! synapse-admin's user actions beyond the edit page: log in as the user,
//! their account data, shadow-banning, and the create form's username
//! check — Synapse's shapes.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use nexus_core::Error;
use serde_json::{Value, json};

use super::Admin;
use super::users::optional_body;
use crate::error::{ApiError, ApiResult};
use crate::extract::{PathParams, QueryParams};
use crate::router::AppState;

/// `POST /_synapse/admin/v1/users/{userId}/login` `{valid_until_ms?}`.
pub async fn login_as(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let user = crate::ids::user_id(&raw)?;
    let body = optional_body(&body)?;
    let valid_until_ms = match body.get("valid_until_ms") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
        Some(_) => return Err(ApiError(Error::BadRequest("'valid_until_ms' parameter must be an int".into()))),
    };
    let token = state.services.accounts.admin_login_as(&caller.0, &user, valid_until_ms).await?;
    Ok(Json(json!({ "access_token": token })))
}

/// `GET /_synapse/admin/v1/users/{userId}/accountdata`.
pub async fn account_data(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let user = crate::ids::user_id(&raw)?;
    Ok(Json(json!({ "account_data": state.services.admin_account_data(&caller.0, &user).await? })))
}

/// `POST /_synapse/admin/v1/users/{userId}/shadow_ban`.
pub async fn shadow_ban(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    state.services.admin_shadow_ban(&caller.0, &crate::ids::user_id(&raw)?, true).await?;
    Ok(Json(json!({})))
}

/// `DELETE /_synapse/admin/v1/users/{userId}/shadow_ban`.
pub async fn lift_shadow_ban(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    state.services.admin_shadow_ban(&caller.0, &crate::ids::user_id(&raw)?, false).await?;
    Ok(Json(json!({})))
}

/// `GET /_synapse/admin/v1/username_available?username=`: `{available:
/// true}`, or registration's error for a name that cannot be had.
pub async fn username_available(
    State(state): State<AppState>,
    caller: Admin,
    QueryParams(query): QueryParams<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let Some(username) = query.get("username") else {
        return Err(ApiError(Error::MissingParam("Missing string query parameter 'username'".into())));
    };
    state.services.admin_username_available(&caller.0, username).await?;
    Ok(Json(json!({ "available": true })))
}

fn described(value: Option<nexus_core::message_limits::Override>) -> Value {
    match value {
        Some(o) => json!({ "messages_per_second": o.messages_per_second, "burst_count": o.burst_count }),
        None => json!({}),
    }
}

/// `GET /_synapse/admin/v1/users/{userId}/override_ratelimit`.
pub async fn get_ratelimit(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let user = crate::ids::user_id(&raw)?;
    Ok(Json(described(state.services.admin_ratelimit_override(&caller.0, &user).await?)))
}

fn non_negative(body: &serde_json::Map<String, Value>, field: &str) -> Result<u64, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64().unwrap_or_default()),
        Some(other) => Err(ApiError(Error::InvalidParam(format!("{other} parameter must be a positive int")))),
    }
}

/// `POST /_synapse/admin/v1/users/{userId}/override_ratelimit`
/// `{messages_per_second?, burst_count?}` (0 and 0: not limited).
pub async fn set_ratelimit(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let user = crate::ids::user_id(&raw)?;
    let body = optional_body(&body)?;
    let value = nexus_core::message_limits::Override {
        messages_per_second: non_negative(&body, "messages_per_second")?,
        burst_count: non_negative(&body, "burst_count")?,
    };
    state.services.admin_set_ratelimit_override(&caller.0, &user, Some(value)).await?;
    Ok(Json(described(Some(value))))
}

/// `DELETE /_synapse/admin/v1/users/{userId}/override_ratelimit`.
pub async fn delete_ratelimit(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let user = crate::ids::user_id(&raw)?;
    state.services.admin_set_ratelimit_override(&caller.0, &user, None).await?;
    Ok(Json(json!({})))
}

/// `POST /_synapse/admin/v1/user/{userId}/redact` `{rooms, reason?, limit?}`.
pub async fn redact(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
    crate::extract::JsonBody(body): crate::extract::JsonBody<serde_json::Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let user = crate::ids::user_id(&raw)?;
    let rooms = match body.get("rooms") {
        Some(Value::Array(rooms)) => rooms
            .iter()
            .map(|r| r.as_str().ok_or(()).and_then(|r| ruma::OwnedRoomId::try_from(r).map_err(drop)))
            .collect::<Result<Vec<_>, ()>>()
            .map_err(|()| ApiError(Error::BadJson("rooms: a list of room ids".into())))?,
        None => return Err(ApiError(Error::MissingParam("Missing params: ['rooms']".into()))),
        Some(_) => return Err(ApiError(Error::BadJson("rooms: a list of room ids".into()))),
    };
    let reason = match body.get("reason") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) => Some(r.clone()),
        Some(_) => return Err(ApiError(Error::BadJson("reason: a string".into()))),
    };
    let limit = match body.get("limit") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_u64().is_some_and(|l| l > 0) => n.as_u64().map(|l| l as usize),
        Some(_) => return Err(ApiError(Error::InvalidParam("limit: a positive integer".into()))),
    };
    let redact_id = state.services.start_user_redaction(&caller.0, &user, rooms, reason, limit).await?;
    Ok(Json(json!({ "redact_id": redact_id })))
}

/// `GET /_synapse/admin/v1/user/redact_status/{redactId}`.
pub async fn redact_status(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(redact_id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let job = state.services.user_redaction(&caller.0, &redact_id).await?;
    Ok(Json(json!({ "status": job.status, "failed_redactions": job.failed_redactions })))
}
