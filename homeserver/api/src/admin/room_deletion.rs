//! Deleting rooms in the admin API: `DELETE /v2/rooms/{roomId}` starts a
//! background deletion (its id to poll), `DELETE /v1/rooms/{roomId}`
//! waits for it, and both `delete_status` routes report progress —
//! Synapse's shapes, as synapse-admin's delete button polls them.

use axum::Json;
use axum::extract::State;
use nexus_core::Error;
use nexus_core::room_deletion::{DeletionStatus, RoomDeletion, RoomDeletionRequest};
use ruma::OwnedUserId;
use serde_json::{Map, Value, json};

use super::Admin;
use super::query::legal_room;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, PathParams};
use crate::router::AppState;

fn flag(body: &Map<String, Value>, field: &str, default: bool) -> Result<bool, ApiError> {
    match body.get(field) {
        None => Ok(default),
        Some(Value::Bool(on)) => Ok(*on),
        Some(_) => Err(ApiError(Error::BadJson(format!("Param '{field}' must be a boolean, if given")))),
    }
}

fn text(body: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError(Error::BadJson(format!("Param '{field}' must be a string, if given")))),
    }
}

fn request(body: &Map<String, Value>) -> Result<RoomDeletionRequest, ApiError> {
    let new_room_user_id = match text(body, "new_room_user_id")? {
        Some(raw) => Some(
            OwnedUserId::try_from(raw.as_str())
                .map_err(|_| ApiError(Error::BadJson(format!("{raw} is not a valid user ID"))))?,
        ),
        None => None,
    };
    Ok(RoomDeletionRequest {
        new_room_user_id,
        room_name: text(body, "room_name")?,
        message: text(body, "message")?,
        block: flag(body, "block", false)?,
        purge: flag(body, "purge", true)?,
        force_purge: flag(body, "force_purge", false)?,
    })
}

fn status(deletion: &RoomDeletion) -> Value {
    let mut answer = json!({
        "delete_id": deletion.delete_id,
        "room_id": deletion.room_id,
        "status": deletion.status,
        "shutdown_room": deletion.result,
    });
    if let Some(error) = &deletion.error {
        answer["error"] = json!(error);
    }
    answer
}

/// `DELETE /_synapse/admin/v2/rooms/{roomId}`.
pub async fn delete_v2(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let request = request(&body)?;
    let room_id = legal_room(&raw)?;
    let delete_id = state.services.start_room_deletion(&caller.0, &room_id, request).await?;
    Ok(Json(json!({ "delete_id": delete_id })))
}

/// `DELETE /_synapse/admin/v1/rooms/{roomId}`: answers when done.
pub async fn delete_v1(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let request = request(&body)?;
    let room_id = legal_room(&raw)?;
    let result = state.services.delete_room_now(&caller.0, &room_id, request).await?;
    Ok(Json(json!(result)))
}

/// `GET /_synapse/admin/v2/rooms/{roomId}/delete_status`: the room's
/// deletions that have started.
pub async fn status_by_room(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let room_id = legal_room(&raw)?;
    let deletions = state.services.room_deletions_of(&caller.0, &room_id).await?;
    let results: Vec<Value> = deletions.iter().filter(|d| d.status != DeletionStatus::Scheduled).map(status).collect();
    if results.is_empty() {
        return Err(ApiError(Error::NotFound(format!("No delete task for room_id '{room_id}' found"))));
    }
    Ok(Json(json!({ "results": results })))
}

/// `GET /_synapse/admin/v2/rooms/delete_status/{deleteId}`.
pub async fn status_by_id(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(delete_id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    match state.services.room_deletion(&caller.0, &delete_id).await? {
        Some(deletion) => Ok(Json(status(&deletion))),
        None => Err(ApiError(Error::NotFound(format!("delete id '{delete_id}' not found")))),
    }
}
