//! Servers, channels, roles, member roles, timeouts and permissions.

use axum::Json;
use axum::extract::State;
use nexus_core::guilds::manage::{NewChannel, NewServer};
use nexus_extensions::Permissions;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiResult;
use crate::extract::{Authed, JsonBody, PathParams, QueryParams};
use crate::ids::{room_id, user_id};
use crate::router::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateServer {
    name: String,
    topic: Option<String>,
    icon: Option<String>,
    #[serde(default)]
    public: bool,
}

pub async fn create_server(
    State(state): State<AppState>,
    Authed(caller): Authed,
    JsonBody(body): JsonBody<CreateServer>,
) -> ApiResult<Json<Value>> {
    let request = NewServer { name: body.name, topic: body.topic, icon: body.icon, public: body.public };
    let created = state.services.guilds.create_server(&caller.user_id, request).await?;
    Ok(Json(json!({ "server_id": created.space, "channels": created.channels })))
}

/// The server as a Nexus client lists it: owner, categories, roles and
/// channels. Members of the space only.
pub async fn get_server(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let space = room_id(&raw)?;
    let overview = state.services.guilds.overview(&caller.user_id, &space).await?;
    Ok(Json(overview))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateChannel {
    name: String,
    #[serde(rename = "type", default = "text")]
    kind: String,
    topic: Option<String>,
    category: Option<String>,
    position: Option<u32>,
    #[serde(default)]
    private: bool,
}

fn text() -> String {
    "text".to_owned()
}

pub async fn create_channel(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw): PathParams<String>,
    JsonBody(body): JsonBody<CreateChannel>,
) -> ApiResult<Json<Value>> {
    let space = room_id(&raw)?;
    let request = NewChannel {
        name: body.name,
        kind: body.kind,
        topic: body.topic,
        category: body.category,
        position: body.position,
        private: body.private,
    };
    let room = state.services.guilds.create_channel(&caller.user_id, &space, request).await?;
    Ok(Json(json!({ "room_id": room })))
}

pub async fn create_role(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw): PathParams<String>,
    JsonBody(role): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let space = room_id(&raw)?;
    let role_id = state.services.guilds.create_role(&caller.user_id, &space, role).await?;
    Ok(Json(json!({ "role_id": role_id })))
}

pub async fn put_role(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams((raw, role_id)): PathParams<(String, String)>,
    JsonBody(role): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let space = room_id(&raw)?;
    state.services.guilds.put_role(&caller.user_id, &space, &role_id, role).await?;
    Ok(Json(json!({})))
}

pub async fn delete_role(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams((raw, role_id)): PathParams<(String, String)>,
) -> ApiResult<Json<Value>> {
    let space = room_id(&raw)?;
    state.services.guilds.delete_role(&caller.user_id, &space, &role_id).await?;
    Ok(Json(json!({})))
}

async fn member_role(
    state: AppState,
    caller: &ruma::UserId,
    raw: (String, String, String),
    assign: bool,
) -> ApiResult<Json<Value>> {
    let (raw_space, raw_user, role_id) = raw;
    let space = room_id(&raw_space)?;
    let member = user_id(&raw_user)?;
    state.services.guilds.set_member_role(caller, &space, &member, &role_id, assign).await?;
    Ok(Json(json!({})))
}

pub async fn assign_role(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw): PathParams<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    member_role(state, &caller.user_id, raw, true).await
}

pub async fn remove_role(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw): PathParams<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    member_role(state, &caller.user_id, raw, false).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeout {
    /// Milliseconds since the epoch; `null` ends the timeout.
    until_ms: Option<u64>,
}

pub async fn set_timeout(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams((raw_space, raw_user)): PathParams<(String, String)>,
    JsonBody(body): JsonBody<Timeout>,
) -> ApiResult<Json<Value>> {
    let space = room_id(&raw_space)?;
    let member = user_id(&raw_user)?;
    state.services.guilds.set_timeout(&caller.user_id, &space, &member, body.until_ms).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Removal {
    reason: Option<String>,
    /// With a ban: also delete the member's messages of this many last
    /// seconds (Discord's `delete_message_seconds`, at most 7 days).
    delete_message_seconds: Option<u64>,
}

async fn remove(
    state: AppState,
    caller: &ruma::UserId,
    raw: (String, String),
    reason: Option<String>,
    ban: bool,
) -> ApiResult<Json<Value>> {
    let space = room_id(&raw.0)?;
    let member = user_id(&raw.1)?;
    state.services.guilds.remove_member(caller, &space, &member, ban, reason.as_deref()).await?;
    Ok(Json(json!({})))
}

/// Kicks a member from the server and its channels (§7.4).
pub async fn kick(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw): PathParams<(String, String)>,
    JsonBody(body): JsonBody<Removal>,
) -> ApiResult<Json<Value>> {
    remove(state, &caller.user_id, raw, body.reason, false).await
}

/// Bans a member from the server and the channels they are in (§7.4).
pub async fn ban(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw): PathParams<(String, String)>,
    JsonBody(body): JsonBody<Removal>,
) -> ApiResult<Json<Value>> {
    let window = body.delete_message_seconds;
    super::moderation::check_window(window)?;
    let answer = remove(state.clone(), &caller.user_id, raw.clone(), body.reason.clone(), true).await?;
    if let Some(seconds) = window.filter(|s| *s > 0) {
        let since = super::moderation::since(seconds);
        let (space, member) = (room_id(&raw.0)?, user_id(&raw.1)?);
        let guilds = &state.services.guilds;
        guilds.purge_member_messages(&caller.user_id, &space, &member, since, body.reason.as_deref()).await?;
    }
    Ok(answer)
}

#[derive(Deserialize)]
pub struct PermissionsQuery {
    user_id: Option<String>,
}

fn names(perms: Permissions) -> Vec<&'static str> {
    perms.names().collect()
}

/// A user's effective permissions in a server's room (default: the
/// caller's), so clients can grey out what is not allowed. The caller must
/// be in the room or its space.
pub async fn permissions(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw): PathParams<String>,
    QueryParams(query): QueryParams<PermissionsQuery>,
) -> ApiResult<Json<Value>> {
    let room = room_id(&raw)?;
    let user = match &query.user_id {
        Some(raw) => user_id(raw)?,
        None => caller.user_id.clone(),
    };
    let (scope, perms) = state.services.guilds.visible_permissions(&caller.user_id, &user, &room).await?;
    Ok(Json(json!({
        "room_id": room,
        "server_id": scope.server.space,
        "user_id": user,
        "permissions": perms.to_string(),
        "names": names(perms),
    })))
}

/// What the compiler makes of the room's permissions (§9.3): the power
/// levels it sends, and who loses what because one integer cannot say it.
pub async fn compiled_power_levels(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let room = room_id(&raw)?;
    let compiled = state.services.guilds.compiler_report(&caller.user_id, &room).await?;
    let grants = |g: &[nexus_extensions::compile::Grant]| -> Vec<Value> {
        g.iter().map(|g| json!({ "user_id": g.user, "capability": format!("{:?}", g.capability) })).collect()
    };
    Ok(Json(json!({
        "type": "m.room.power_levels",
        "content": compiled.content,
        "lost": grants(&compiled.lost),
        "excess": grants(&compiled.excess),
    })))
}
