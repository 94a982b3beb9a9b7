//! A server's moderation tools beyond kick and ban: the audit log
//! (VIEW_AUDIT_LOG) and deleting a member's recent messages across the
//! server (MANAGE_MESSAGES). Thin over `core::guilds`.

use axum::Json;
use axum::extract::State;
use nexus_core::Error;
use nexus_core::guilds::audit_log::AuditQuery;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, JsonBody, PathParams, QueryParams};
use crate::ids::{room_id, user_id};
use crate::router::AppState;

/// The longest window of messages a purge deletes (Discord's 7 days).
const MAX_SECONDS: u64 = 7 * 24 * 3600;

pub(super) fn check_window(seconds: Option<u64>) -> Result<(), ApiError> {
    match seconds {
        Some(s) if s > MAX_SECONDS => {
            Err(ApiError(Error::BadJson(format!("delete_message_seconds: at most {MAX_SECONDS} (7 days)"))))
        }
        _ => Ok(()),
    }
}

/// The moment `seconds` ago, in milliseconds.
pub(super) fn since(seconds: u64) -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    now.saturating_sub(seconds * 1000)
}

#[derive(Deserialize)]
pub struct AuditParams {
    limit: Option<usize>,
    before: Option<u64>,
    user_id: Option<String>,
    action: Option<String>,
}

/// `GET /servers/{serverId}/audit_log`: newest first.
pub async fn audit_log(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw): PathParams<String>,
    QueryParams(params): QueryParams<AuditParams>,
) -> ApiResult<Json<Value>> {
    let space = room_id(&raw)?;
    let query = AuditQuery {
        limit: params.limit.unwrap_or(50),
        before: params.before,
        user_id: params.user_id.as_deref().map(user_id).transpose()?,
        action: params.action,
    };
    let entries = state.services.guilds.audit_log(&caller.user_id, &space, query).await?;
    let entries: Vec<Value> = entries
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "room_id": e.room_id,
                "action": e.action,
                "user_id": e.user_id,
                "target_id": e.target_id,
                "reason": e.reason,
                "created_ts": e.created_ts,
                "changes": e.changes,
            })
        })
        .collect();
    Ok(Json(json!({ "entries": entries })))
}

#[derive(Deserialize)]
pub struct PurgeBody {
    /// Messages of the last this many seconds (at most 7 days).
    seconds: u64,
    reason: Option<String>,
}

/// `POST /servers/{serverId}/members/{userId}/purge`: deletes the member's
/// recent messages across the server.
pub async fn purge(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams((raw_space, raw_member)): PathParams<(String, String)>,
    JsonBody(body): JsonBody<PurgeBody>,
) -> ApiResult<Json<Value>> {
    check_window(Some(body.seconds))?;
    let (space, member) = (room_id(&raw_space)?, user_id(&raw_member)?);
    let guilds = &state.services.guilds;
    let count = guilds
        .purge_member_messages(&caller.user_id, &space, &member, since(body.seconds), body.reason.as_deref())
        .await?;
    Ok(Json(json!({ "redacted": count })))
}
