//! Registration tokens in the admin API: list (`valid`), new, get, change,
//! delete — Synapse's shapes (`pending` is always 0: a registration and
//! its token stage complete in one request here).

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use nexus_core::Error;
use nexus_core::accounts::registration_tokens::RegistrationToken;
use serde_json::{Map, Value, json};

use super::Admin;
use super::query::{invalid, query_bool};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::router::AppState;

fn shown(token: &RegistrationToken) -> Value {
    json!({
        "token": token.token,
        "uses_allowed": token.uses_allowed,
        "pending": 0,
        "completed": token.completed,
        "expiry_time": token.expiry_time,
    })
}

/// A body's `uses_allowed` or `expiry_time`: absent, `null` (no limit) or
/// a non-negative integer.
fn limit(body: &Map<String, Value>, field: &str) -> Result<Option<Option<u64>>, ApiError> {
    match body.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(value) => match value.as_u64() {
            Some(n) => Ok(Some(Some(n))),
            None => Err(invalid(format!("{field} must be a non-negative integer or null"))),
        },
    }
}

/// `GET /_synapse/admin/v1/registration_tokens?valid=`.
pub async fn list(
    State(state): State<AppState>,
    caller: Admin,
    QueryParams(query): QueryParams<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let valid = query_bool(&query, "valid")?;
    let tokens = state.services.accounts.registration_tokens(&caller.0, valid).await?;
    Ok(Json(json!({"registration_tokens": tokens.iter().map(shown).collect::<Vec<_>>()})))
}

/// `POST /_synapse/admin/v1/registration_tokens/new`.
pub async fn create(
    State(state): State<AppState>,
    caller: Admin,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let token = match body.get("token") {
        None | Some(Value::Null) => None,
        Some(Value::String(token)) => Some(token.clone()),
        Some(_) => return Err(invalid("token must be a string")),
    };
    let length = match body.get("length") {
        None => 16,
        Some(value) => value.as_u64().ok_or_else(|| invalid("length must be an integer > 0 and <= 64"))? as usize,
    };
    let uses_allowed = limit(&body, "uses_allowed")?.flatten();
    let expiry_time = limit(&body, "expiry_time")?.flatten();
    let made =
        state.services.accounts.create_registration_token(&caller.0, token, length, uses_allowed, expiry_time).await?;
    Ok(Json(shown(&made)))
}

fn no_such(token: &str) -> ApiError {
    ApiError(Error::NotFound(format!("No such registration token: {token}")))
}

/// `GET /_synapse/admin/v1/registration_tokens/{token}`.
pub async fn get(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(token): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let found = state.services.accounts.registration_token(&caller.0, &token).await?;
    Ok(Json(shown(&found.ok_or_else(|| no_such(&token))?)))
}

/// `PUT /_synapse/admin/v1/registration_tokens/{token}`.
pub async fn update(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(token): PathParams<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let (uses_allowed, expiry_time) = (limit(&body, "uses_allowed")?, limit(&body, "expiry_time")?);
    let accounts = &state.services.accounts;
    let updated = accounts.update_registration_token(&caller.0, &token, uses_allowed, expiry_time).await?;
    Ok(Json(shown(&updated.ok_or_else(|| no_such(&token))?)))
}

/// `DELETE /_synapse/admin/v1/registration_tokens/{token}`.
pub async fn delete(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(token): PathParams<String>,
) -> ApiResult<Json<Value>> {
    if !state.services.accounts.delete_registration_token(&caller.0, &token).await? {
        return Err(no_such(&token));
    }
    Ok(Json(json!({})))
}
