//! Invite codes: create, list, resolve, revoke, join.

use axum::Json;
use axum::extract::State;
use nexus_core::guilds::invites::InviteCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiResult;
use crate::extract::{Authed, JsonBody, PathParams};
use crate::ids::room_id;
use crate::router::AppState;

fn render(code: &InviteCode) -> Value {
    json!({
        "code": code.code,
        "server_id": code.space,
        "inviter": code.inviter,
        "created_ts": code.created_ms,
        "expires_ts": code.expires_ms,
        "max_uses": code.max_uses,
        "uses": code.uses,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCode {
    /// Seconds until the code expires; 0 never; absent 24 hours.
    max_age: Option<u64>,
    /// Uses before the code stops working; 0 or absent: unlimited.
    max_uses: Option<u32>,
}

pub async fn create(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw): PathParams<String>,
    JsonBody(body): JsonBody<CreateCode>,
) -> ApiResult<Json<Value>> {
    let space = room_id(&raw)?;
    let code = state.services.guilds.create_invite_code(&caller.user_id, &space, body.max_age, body.max_uses).await?;
    Ok(Json(render(&code)))
}

pub async fn list(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let space = room_id(&raw)?;
    let codes = state.services.guilds.list_invite_codes(&caller.user_id, &space).await?;
    Ok(Json(json!({ "invites": codes.iter().map(render).collect::<Vec<_>>() })))
}

/// What a code leads to, for the "you've been invited" screen: any signed-in
/// user who has the code may look.
pub async fn resolve(
    State(state): State<AppState>,
    Authed(_caller): Authed,
    PathParams(code): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let preview = state.services.guilds.invite_preview(&code).await?;
    let mut body = render(&preview.code);
    body["server"] = json!({
        "name": preview.name,
        "avatar_url": preview.avatar_url,
        "topic": preview.topic,
        "num_joined_members": preview.joined_members,
    });
    Ok(Json(body))
}

pub async fn revoke(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(code): PathParams<String>,
) -> ApiResult<Json<Value>> {
    state.services.guilds.revoke_invite_code(&caller.user_id, &code).await?;
    Ok(Json(json!({})))
}

pub async fn join(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(code): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let joined = state.services.guilds.join_by_invite_code(&caller.user_id, &code).await?;
    Ok(Json(json!({ "server_id": joined.space, "channels": joined.channels })))
}
