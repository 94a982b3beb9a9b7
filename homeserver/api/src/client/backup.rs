//! Server-side key backups (spec: client-server API, "Server-side key
//! backups").

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use nexus_core::Error;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, JsonBody, PathParams, QueryParams};
use crate::router::AppState;

#[derive(Deserialize)]
pub struct VersionBody {
    algorithm: String,
    auth_data: Value,
    version: Option<String>,
}

pub async fn create_version(
    State(state): State<AppState>,
    Authed(caller): Authed,
    JsonBody(body): JsonBody<VersionBody>,
) -> ApiResult<impl IntoResponse> {
    let version = state.services.e2ee.backup.create_version(&caller.user_id, body.algorithm, body.auth_data).await?;
    Ok(Json(json!({ "version": version })))
}

pub async fn current_version(State(state): State<AppState>, Authed(caller): Authed) -> ApiResult<impl IntoResponse> {
    Ok(Json(state.services.e2ee.backup.describe_version(&caller.user_id, None).await?))
}

pub async fn get_version(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(version): PathParams<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(state.services.e2ee.backup.describe_version(&caller.user_id, Some(&version)).await?))
}

pub async fn update_version(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(version): PathParams<String>,
    JsonBody(body): JsonBody<VersionBody>,
) -> ApiResult<impl IntoResponse> {
    let backup = &state.services.e2ee.backup;
    backup.update_version(&caller.user_id, &version, &body.algorithm, body.auth_data, body.version.as_deref()).await?;
    Ok(Json(json!({})))
}

pub async fn delete_version(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(version): PathParams<String>,
) -> ApiResult<impl IntoResponse> {
    state.services.e2ee.backup.delete_version(&caller.user_id, &version).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct VersionQuery {
    version: String,
}

fn sessions_of(room: &str, sessions: &Value) -> Result<Vec<(String, String, Value)>, ApiError> {
    let sessions =
        sessions.as_object().ok_or_else(|| ApiError(Error::BadJson("sessions must be an object".to_owned())))?;
    Ok(sessions.iter().map(|(id, data)| (room.to_owned(), id.clone(), data.clone())).collect())
}

#[derive(Deserialize)]
pub struct AllKeys {
    rooms: Map<String, Value>,
}

pub async fn put_all(
    State(state): State<AppState>,
    Authed(caller): Authed,
    QueryParams(query): QueryParams<VersionQuery>,
    JsonBody(body): JsonBody<AllKeys>,
) -> ApiResult<impl IntoResponse> {
    let mut all = Vec::new();
    for (room, value) in &body.rooms {
        all.extend(sessions_of(room, value.get("sessions").unwrap_or(&Value::Null))?);
    }
    Ok(Json(state.services.e2ee.backup.put_keys(&caller.user_id, &query.version, all).await?))
}

#[derive(Deserialize)]
pub struct RoomKeys {
    sessions: Value,
}

pub async fn put_room(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(room): PathParams<String>,
    QueryParams(query): QueryParams<VersionQuery>,
    JsonBody(body): JsonBody<RoomKeys>,
) -> ApiResult<impl IntoResponse> {
    let sessions = sessions_of(&room, &body.sessions)?;
    Ok(Json(state.services.e2ee.backup.put_keys(&caller.user_id, &query.version, sessions).await?))
}

pub async fn put_session(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams((room, session)): PathParams<(String, String)>,
    QueryParams(query): QueryParams<VersionQuery>,
    JsonBody(data): JsonBody<Value>,
) -> ApiResult<impl IntoResponse> {
    let sessions = vec![(room, session, data)];
    Ok(Json(state.services.e2ee.backup.put_keys(&caller.user_id, &query.version, sessions).await?))
}

pub async fn get_all(
    State(state): State<AppState>,
    Authed(caller): Authed,
    QueryParams(query): QueryParams<VersionQuery>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(state.services.e2ee.backup.get_keys(&caller.user_id, &query.version, None, None).await?))
}

pub async fn get_room(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(room): PathParams<String>,
    QueryParams(query): QueryParams<VersionQuery>,
) -> ApiResult<impl IntoResponse> {
    let all = state.services.e2ee.backup.get_keys(&caller.user_id, &query.version, Some(&room), None).await?;
    // One room: `{sessions: {...}}`, empty when the room has none.
    Ok(Json(all["rooms"].get(&room).cloned().unwrap_or_else(|| json!({ "sessions": {} }))))
}

pub async fn get_session(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams((room, session)): PathParams<(String, String)>,
    QueryParams(query): QueryParams<VersionQuery>,
) -> ApiResult<impl IntoResponse> {
    let all = state.services.e2ee.backup.get_keys(&caller.user_id, &query.version, Some(&room), Some(&session)).await?;
    let data = all["rooms"].get(&room).and_then(|r| r["sessions"].get(&session)).cloned();
    data.map(Json).ok_or_else(|| ApiError(Error::NotFound("no backup of that session".to_owned())))
}

pub async fn delete_all(
    State(state): State<AppState>,
    Authed(caller): Authed,
    QueryParams(query): QueryParams<VersionQuery>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(state.services.e2ee.backup.delete_keys(&caller.user_id, &query.version, None, None).await?))
}

pub async fn delete_room(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(room): PathParams<String>,
    QueryParams(query): QueryParams<VersionQuery>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(state.services.e2ee.backup.delete_keys(&caller.user_id, &query.version, Some(&room), None).await?))
}

pub async fn delete_session(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams((room, session)): PathParams<(String, String)>,
    QueryParams(query): QueryParams<VersionQuery>,
) -> ApiResult<impl IntoResponse> {
    let backup = &state.services.e2ee.backup;
    Ok(Json(backup.delete_keys(&caller.user_id, &query.version, Some(&room), Some(&session)).await?))
}
