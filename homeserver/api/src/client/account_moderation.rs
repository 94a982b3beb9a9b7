//! Server administration: account moderation (spec v1.18, `GET|PUT
//! /_matrix/client/v1/admin/lock|suspend/{userId}`). Who may is the
//! accounts service's to say.

use axum::Json;
use axum::extract::State;
use nexus_core::moderation::Restriction;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, JsonBody, PathParams};
use crate::router::AppState;
use nexus_core::Error;

fn required_bool(body: &Map<String, Value>, field: &str) -> Result<bool, ApiError> {
    match body.get(field) {
        Some(Value::Bool(on)) => Ok(*on),
        None => Err(ApiError(Error::MissingParam(format!("'{field}' is required")))),
        Some(_) => Err(ApiError(Error::BadJson(format!("'{field}' must be a boolean")))),
    }
}

pub async fn get_lock(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let user = crate::ids::user_id(&raw)?;
    let restrictions = state.services.accounts.restrictions_of(&caller, &user).await?;
    Ok(Json(json!({ "locked": restrictions.locked })))
}

pub async fn put_lock(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw): PathParams<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let user = crate::ids::user_id(&raw)?;
    let on = required_bool(&body, "locked")?;
    let restrictions = state.services.accounts.restrict(&caller, &user, Restriction::Locked, on).await?;
    Ok(Json(json!({ "locked": restrictions.locked })))
}

pub async fn get_suspend(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let user = crate::ids::user_id(&raw)?;
    let restrictions = state.services.accounts.restrictions_of(&caller, &user).await?;
    Ok(Json(json!({ "suspended": restrictions.suspended })))
}

pub async fn put_suspend(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw): PathParams<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let user = crate::ids::user_id(&raw)?;
    let on = required_bool(&body, "suspended")?;
    let restrictions = state.services.accounts.restrict(&caller, &user, Restriction::Suspended, on).await?;
    Ok(Json(json!({ "suspended": restrictions.suspended })))
}
