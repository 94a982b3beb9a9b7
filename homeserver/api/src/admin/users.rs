//! Users in the admin API: the list (v2 and v3), one user, create or
//! change, deactivate, reset a password, whois, devices, joined rooms,
//! memberships and pushers — Synapse's shapes and error messages.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use nexus_core::Error;
use nexus_core::accounts::admin::{AccountChanges, AccountSummary};
use nexus_core::moderation::Restriction;
use ruma::events::room::member::MembershipState;
use ruma::{OwnedDeviceId, OwnedUserId, UserId};
use serde_json::{Map, Value, json};

use super::Admin;
use super::query::{backwards, compare, invalid, query_bool, query_int};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::router::AppState;

/// User types Synapse accepts by default.
const USER_TYPES: [&str; 2] = ["bot", "support"];

/// `GET /_synapse/admin/v1/server_version` (no authentication).
pub async fn server_version() -> Json<Value> {
    Json(json!({"server_version": format!("Nexus {}", env!("CARGO_PKG_VERSION"))}))
}

/// A user id from the path (percent-decoded by the router).
fn path_user(raw: &str) -> Result<OwnedUserId, ApiError> {
    if !raw.starts_with('@') {
        return Err(invalid("Expected UserID string to start with '@'"));
    }
    crate::ids::user_id(raw)
}

/// A user's account, or 404 with `message`.
async fn existing(state: &AppState, caller: &Admin, user: &UserId, message: &str) -> ApiResult<AccountSummary> {
    let found = state.services.accounts.account(&caller.0, user).await?;
    found.ok_or_else(|| ApiError(Error::NotFound(message.to_owned())))
}

/// The list's view of a user (`creation_ts` in milliseconds, as Synapse's
/// list gives it).
async fn listed(state: &AppState, account: &AccountSummary) -> ApiResult<Value> {
    let profile = state.services.profiles.get(&account.user_id).await.unwrap_or_default();
    let devices = state.services.devices.list(account.user_id.localpart()).await?;
    let last_seen = devices.iter().filter_map(|d| d.last_seen_ts).max();
    Ok(json!({
        "name": account.user_id,
        "user_type": account.user_type,
        "is_guest": false,
        "admin": account.admin,
        "deactivated": account.deactivated,
        "shadow_banned": account.shadow_banned,
        "displayname": profile.get("displayname"),
        "avatar_url": profile.get("avatar_url"),
        "creation_ts": account.created_ts,
        "erased": account.erased,
        "last_seen_ts": last_seen,
        "locked": account.locked,
    }))
}

/// One user as `GET /v2/users/{id}` gives it (`creation_ts` in seconds).
async fn detailed(state: &AppState, account: &AccountSummary) -> ApiResult<Value> {
    let mut user = listed(state, account).await?;
    user["creation_ts"] = json!(account.created_ts / 1000);
    for (field, value) in [
        ("appservice_id", Value::Null),
        ("consent_server_notice_sent", Value::Null),
        ("consent_version", Value::Null),
        ("consent_ts", Value::Null),
        ("suspended", json!(account.suspended)),
        ("threepids", json!([])),
        ("external_ids", json!([])),
    ] {
        user[field] = value;
    }
    Ok(user)
}

#[derive(Clone, Copy, PartialEq)]
enum Version {
    V2,
    V3,
}

async fn list(
    state: AppState,
    caller: Admin,
    query: HashMap<String, String>,
    version: Version,
) -> ApiResult<Json<Value>> {
    let from = query_int(&query, "from", 0)?;
    let limit = query_int(&query, "limit", 100)?;
    let guests = query_bool(&query, "guests")?.unwrap_or(true);
    let deactivated = query_bool(&query, "deactivated")?;
    let locked = query_bool(&query, "locked")?;
    let admins = query_bool(&query, "admins")?;
    let backwards = backwards(&query, false)?;
    // Lenient where synapse-admin's columns send names Synapse refuses.
    let order_by = match query.get("order_by").map(String::as_str) {
        Some("id" | "name") | None => "name",
        Some("avatar_src") => "avatar_url",
        Some("creation_ts_ms") => "creation_ts",
        Some(other) => other,
    }
    .to_owned();
    // Checked like Synapse checks it; this server has no guest accounts, so
    // `guests` selects everyone either way.
    let _ = guests;
    // Locked accounts are listed only when asked for (Synapse's default).
    let with_locked = locked.unwrap_or(false);
    let name = query.get("name").map(|n| n.to_lowercase());
    let user_id = query.get("user_id").map(|n| n.to_lowercase());
    let mut users = Vec::new();
    for account in state.services.accounts.all_accounts(&caller.0).await? {
        let keep_deactivated = match (version, deactivated) {
            (Version::V2, Some(true)) | (Version::V3, None) => true,
            (Version::V2, _) => !account.deactivated,
            (Version::V3, Some(wanted)) => account.deactivated == wanted,
        };
        if !keep_deactivated || admins.is_some_and(|a| a != account.admin) || (account.locked && !with_locked) {
            continue;
        }
        let user = listed(&state, &account).await?;
        let matches = match (&name, &user_id) {
            (Some(name), _) => {
                account.user_id.localpart().contains(name.as_str())
                    || user["displayname"].as_str().is_some_and(|d| d.to_lowercase().contains(name.as_str()))
            }
            (None, Some(id)) => account.user_id.as_str().to_lowercase().contains(id.as_str()),
            (None, None) => true,
        };
        if matches {
            users.push(user);
        }
    }
    users.sort_by(|a, b| {
        let key = |u: &Value| u[order_by.as_str()].clone();
        let ordering = compare(&key(a), &key(b));
        let ordering = if backwards { ordering.reverse() } else { ordering };
        ordering.then_with(|| compare(&a["name"], &b["name"]))
    });
    let total = users.len();
    let page: Vec<Value> = users.into_iter().skip(from).take(limit).collect();
    let mut answer = json!({"users": page, "total": total});
    if from + limit < total {
        answer["next_token"] = json!((from + limit).to_string());
    }
    Ok(Json(answer))
}

/// `GET /_synapse/admin/v2/users`.
pub async fn list_v2(
    State(state): State<AppState>,
    caller: Admin,
    QueryParams(query): QueryParams<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    list(state, caller, query, Version::V2).await
}

/// `GET /_synapse/admin/v3/users` (`deactivated` filters both ways).
pub async fn list_v3(
    State(state): State<AppState>,
    caller: Admin,
    QueryParams(query): QueryParams<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    list(state, caller, query, Version::V3).await
}

/// `GET /_synapse/admin/v2/users/{userId}`.
pub async fn get(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let user = path_user(&raw)?;
    let account = existing(&state, &caller, &user, "User not found").await?;
    Ok(Json(detailed(&state, &account).await?))
}

/// A body that may be empty (Synapse allows none): a JSON object or `{}`.
pub(super) fn optional_body(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(body)) => Ok(body),
        Ok(_) => Err(ApiError(Error::BadJson("Content must be a JSON object.".into()))),
        Err(_) => Err(ApiError(Error::NotJson("Content not JSON.".into()))),
    }
}

fn body_bool(body: &Map<String, Value>, field: &str) -> Result<Option<bool>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError(Error::BadJson(format!("'{field}' parameter is not of type boolean")))),
    }
}

/// `PUT /_synapse/admin/v2/users/{userId}`: creates (201) or changes (200)
/// an account; fields it does not know (synapse-admin sends its whole
/// record) are ignored.
pub async fn put(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let user = path_user(&raw)?;
    let accounts = &state.services.accounts;
    if user.server_name() != state.services.server_name() {
        return Err(ApiError(Error::BadRequest("This endpoint can only be used with local users".into())));
    }
    let password = match body.get("password") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.len() <= 512 => Some(p.clone()),
        Some(_) => return Err(ApiError(Error::BadRequest("Invalid password".into()))),
    };
    let user_type = match body.get("user_type") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(t)) if USER_TYPES.contains(&t.as_str()) => Some(Some(t.clone())),
        Some(_) => return Err(ApiError(Error::BadRequest("Invalid user type".into()))),
    };
    let admin = body_bool(&body, "admin")?;
    let deactivated = body_bool(&body, "deactivated")?;
    let logout_devices = body_bool(&body, "logout_devices")?.unwrap_or(true);
    let locked = body_bool(&body, "locked")?;
    if locked == Some(true) && deactivated == Some(true) {
        return Err(ApiError(Error::BadRequest("An user can't be deactivated and locked".into())));
    }
    let before = accounts.account(&caller.0, &user).await?;
    let created = before.is_none();
    if created {
        accounts.admin_create(&caller.0, &user, password, admin.unwrap_or(false), user_type.flatten()).await?;
    } else {
        let changes = AccountChanges { password, logout_devices, admin, deactivated, user_type };
        accounts.admin_modify(&caller.0, &user, changes).await?;
    }
    // synapse-admin sends its whole record on every save: only what
    // differs is changed (a lock of a deactivated account, or the profile
    // of a suspended one, is left alone when it is not being changed).
    let was_locked = before.as_ref().is_some_and(|a| a.locked);
    if let Some(locked) = locked.filter(|l| *l != was_locked) {
        accounts.restrict(&caller.0, &user, Restriction::Locked, locked).await?;
    }
    let profile = state.services.profiles.get(&user).await.unwrap_or_default();
    // Profile fields as the user would set them (their member events follow).
    for field in ["displayname", "avatar_url"] {
        match body.get(field) {
            Some(Value::String(value)) => {
                let current = profile.get(field).and_then(Value::as_str).unwrap_or_default();
                if value == current {
                    continue;
                }
                let value = (!value.is_empty()).then(|| json!(value));
                let profiles = &state.services.member_profiles;
                match value {
                    Some(value) => profiles.set_field(&user, &user, field, Some(value)).await?,
                    None => profiles.set_field(&user, &user, field, None).await?,
                }
            }
            None | Some(Value::Null) => {}
            Some(_) => return Err(ApiError(Error::BadJson(format!("'{field}' must be a string")))),
        }
    }
    let account = existing(&state, &caller, &user, "User not found").await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(detailed(&state, &account).await?)))
}

/// `PUT /_synapse/admin/v1/suspend/{userId}` `{suspend}`: synapse-admin's
/// suspend switch (the spec's `PUT /admin/suspend` does the same).
pub async fn suspend(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let user = path_user(&raw)?;
    if user.server_name() != state.services.server_name() {
        return Err(ApiError(Error::BadRequest("Can only suspend local users".into())));
    }
    existing(&state, &caller, &user, "User not found").await?;
    let Some(on) = body_bool(&body, "suspend")? else {
        return Err(ApiError(Error::MissingParam("Missing params: ['suspend']".into())));
    };
    let restrictions = state.services.accounts.restrict(&caller.0, &user, Restriction::Suspended, on).await?;
    Ok(Json(json!({ format!("user_{user}_suspended"): restrictions.suspended })))
}

/// `POST /_synapse/admin/v1/deactivate/{userId}` `{erase?}`.
pub async fn deactivate(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let user = path_user(&raw)?;
    let erase = body_bool(&optional_body(&body)?, "erase")?.unwrap_or(false);
    if user.server_name() != state.services.server_name() {
        return Err(ApiError(Error::BadRequest("Can only deactivate local users".into())));
    }
    existing(&state, &caller, &user, "User not found").await?;
    state.services.accounts.admin_deactivate(&caller.0, &user, erase).await?;
    Ok(Json(json!({"id_server_unbind_result": "success"})))
}

/// `POST /_synapse/admin/v1/reset_password/{userId}`.
pub async fn reset_password(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let user = path_user(&raw)?;
    let Some(new_password) = body.get("new_password").and_then(Value::as_str) else {
        return Err(ApiError(Error::MissingParam("Missing params: ['new_password']".into())));
    };
    let logout_devices = body_bool(&body, "logout_devices")?.unwrap_or(true);
    existing(&state, &caller, &user, "Unknown user").await?;
    state.services.accounts.admin_reset_password(&caller.0, &user, new_password.to_owned(), logout_devices).await?;
    Ok(Json(json!({})))
}

/// `GET /_synapse/admin/v1/whois/{userId}`.
pub async fn whois(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let user = path_user(&raw)?;
    if user.server_name() != state.services.server_name() {
        return Err(ApiError(Error::BadRequest("Can only whois a local user".into())));
    }
    Ok(Json(state.services.devices.whois(&caller.0.user_id, &user, true).await?))
}

fn device_json(user: &UserId, device: nexus_core::devices::Device) -> Value {
    json!({
        "device_id": device.device_id,
        "display_name": device.display_name,
        "last_seen_ip": device.last_seen_ip,
        "last_seen_ts": device.last_seen_ts,
        "last_seen_user_agent": null,
        "user_id": user,
    })
}

/// `GET /_synapse/admin/v2/users/{userId}/devices`.
pub async fn devices(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let user = path_user(&raw)?;
    existing(&state, &caller, &user, "Unknown user").await?;
    let devices = state.services.devices.list(user.localpart()).await?;
    let listed: Vec<Value> = devices.into_iter().map(|d| device_json(&user, d)).collect();
    Ok(Json(json!({"total": listed.len(), "devices": listed})))
}

fn path_device(raw: &str) -> OwnedDeviceId {
    OwnedDeviceId::from(raw)
}

/// `GET /_synapse/admin/v2/users/{userId}/devices/{deviceId}`.
pub async fn device(
    State(state): State<AppState>,
    caller: Admin,
    PathParams((raw, device)): PathParams<(String, String)>,
) -> ApiResult<Json<Value>> {
    let user = path_user(&raw)?;
    existing(&state, &caller, &user, "Unknown user").await?;
    let found = state.services.devices.get(user.localpart(), &path_device(&device)).await?;
    let found = found.ok_or_else(|| ApiError(Error::NotFound("No device found".into())))?;
    Ok(Json(device_json(&user, found)))
}

/// `PUT /_synapse/admin/v2/users/{userId}/devices/{deviceId}` `{display_name?}`.
pub async fn rename_device(
    State(state): State<AppState>,
    caller: Admin,
    PathParams((raw, device)): PathParams<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let user = path_user(&raw)?;
    existing(&state, &caller, &user, "Unknown user").await?;
    if let Some(name) = optional_body(&body)?.get("display_name") {
        let name = match name {
            Value::String(name) => Some(name.clone()),
            Value::Null => None,
            _ => return Err(ApiError(Error::BadJson("display_name must be a string".into()))),
        };
        state.services.devices.rename(user.localpart(), &path_device(&device), name).await?;
    }
    Ok(Json(json!({})))
}

/// `DELETE /_synapse/admin/v2/users/{userId}/devices/{deviceId}`.
pub async fn delete_device(
    State(state): State<AppState>,
    caller: Admin,
    PathParams((raw, device)): PathParams<(String, String)>,
) -> ApiResult<Json<Value>> {
    let user = path_user(&raw)?;
    state.services.accounts.admin_remove_devices(&caller.0, &user, vec![path_device(&device)]).await?;
    Ok(Json(json!({})))
}

/// `POST /_synapse/admin/v2/users/{userId}/delete_devices` `{devices}`.
pub async fn delete_devices(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let user = path_user(&raw)?;
    let Some(devices) = body.get("devices").and_then(Value::as_array) else {
        return Err(ApiError(Error::MissingParam("Missing params: ['devices']".into())));
    };
    let devices: Vec<OwnedDeviceId> = devices.iter().filter_map(Value::as_str).map(path_device).collect();
    state.services.accounts.admin_remove_devices(&caller.0, &user, devices).await?;
    Ok(Json(json!({})))
}

/// `GET /_synapse/admin/v1/users/{userId}/joined_rooms`.
pub async fn joined_rooms(
    State(state): State<AppState>,
    _caller: Admin,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let user = path_user(&raw)?;
    let rooms = state.services.rooms.membership.rooms_of(&user, &MembershipState::Join).await?;
    Ok(Json(json!({"joined_rooms": rooms, "total": rooms.len()})))
}

/// `GET /_synapse/admin/v1/users/{userId}/memberships`.
pub async fn memberships(
    State(state): State<AppState>,
    _caller: Admin,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let user = path_user(&raw)?;
    let mut memberships = Map::new();
    for membership in [
        MembershipState::Join,
        MembershipState::Invite,
        MembershipState::Knock,
        MembershipState::Leave,
        MembershipState::Ban,
    ] {
        for room in state.services.rooms.membership.rooms_of(&user, &membership).await? {
            memberships.insert(room.to_string(), json!(membership.as_str()));
        }
    }
    Ok(Json(json!({"memberships": memberships})))
}

/// `GET /_synapse/admin/v1/users/{userId}/pushers`.
pub async fn pushers(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let user = path_user(&raw)?;
    if user.server_name() != state.services.server_name() {
        return Err(ApiError(Error::BadRequest("Can only look up local users".into())));
    }
    existing(&state, &caller, &user, "User not found").await?;
    let pushers: Vec<Value> = state
        .services
        .pushers
        .list(&user)
        .await?
        .into_iter()
        .map(|p| {
            json!({
                "app_display_name": p.app_display_name, "app_id": p.app_id, "data": p.data,
                "device_display_name": p.device_display_name, "kind": p.kind, "lang": p.lang,
                "profile_tag": p.profile_tag.unwrap_or_default(), "pushkey": p.pushkey, "enabled": true,
                "device_id": null,
            })
        })
        .collect();
    Ok(Json(json!({"pushers": pushers, "total": pushers.len()})))
}

/// `POST /_synapse/admin/v1/send_server_notice` `{user_id, content}`.
pub async fn send_server_notice(
    State(state): State<AppState>,
    caller: Admin,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let Some(user) = body.get("user_id").and_then(Value::as_str) else {
        return Err(ApiError(Error::MissingParam("Missing params: ['user_id']".into())));
    };
    let Some(content) = body.get("content").filter(|c| c.is_object()) else {
        return Err(ApiError(Error::MissingParam("Missing params: ['content']".into())));
    };
    let user = path_user(user)?;
    if user.server_name() != state.services.server_name() {
        return Err(ApiError(Error::BadRequest("Server notices can only be sent to local users".into())));
    }
    let event_id = state.services.send_server_notice(&caller.0, &user, content.clone()).await?;
    Ok(Json(json!({"event_id": event_id})))
}
