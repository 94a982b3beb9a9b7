//! Rooms in the admin API: the list (search, order, paging), one room's
//! details, its members and its state — Synapse's shapes.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use nexus_core::Error;
use nexus_core::rooms::overview::RoomOverview;
use ruma::events::room::member::MembershipState;
use ruma::{OwnedRoomId, RoomId};
use serde_json::{Value, json};

use super::Admin;
use super::query::{backwards, compare, invalid, query_bool, query_int};
use crate::error::{ApiError, ApiResult};
use crate::extract::{PathParams, QueryParams};
use crate::router::AppState;

/// The orders Synapse accepts, and whether each sorts largest first.
const ORDERS: [(&str, bool); 15] = [
    ("alphabetical", false),
    ("size", true),
    ("name", false),
    ("canonical_alias", false),
    ("joined_members", true),
    ("joined_local_members", true),
    ("version", true),
    ("creator", false),
    ("encryption", false),
    ("federatable", false),
    ("public", false),
    ("join_rules", false),
    ("guest_access", false),
    ("history_visibility", false),
    ("state_events", true),
];

fn listed(room: &RoomOverview) -> Value {
    json!({
        "room_id": room.room_id,
        "name": room.name,
        "canonical_alias": room.canonical_alias,
        "joined_members": room.joined_members,
        "joined_local_members": room.joined_local_members,
        "version": room.version,
        "creator": room.creator,
        "encryption": room.encryption,
        "federatable": room.federatable,
        "public": room.public,
        "join_rules": room.join_rules,
        "guest_access": room.guest_access,
        "history_visibility": room.history_visibility,
        "state_events": room.state_events,
        "room_type": room.room_type,
    })
}

/// `GET /_synapse/admin/v1/rooms`.
pub async fn list(
    State(state): State<AppState>,
    _caller: Admin,
    QueryParams(query): QueryParams<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let from = query_int(&query, "from", 0)?;
    let limit = query_int(&query, "limit", 100)?;
    let order = query.get("order_by").map_or("name", String::as_str);
    let Some(&(order, largest_first)) = ORDERS.iter().find(|(name, _)| *name == order) else {
        let names: Vec<&str> = ORDERS.iter().map(|(n, _)| *n).collect();
        return Err(invalid(format!("Query parameter 'order_by' must be one of {names:?}")));
    };
    let field = match order {
        "alphabetical" => "name",
        "size" => "joined_members",
        other => other,
    };
    let backwards = backwards(&query, false)?;
    let search = match query.get("search_term") {
        Some(term) if term.is_empty() => return Err(invalid("search_term cannot be an empty string")),
        Some(term) => Some((term.to_lowercase(), term.clone())),
        None => None,
    };
    let public_rooms = query_bool(&query, "public_rooms")?;
    let empty_rooms = query_bool(&query, "empty_rooms")?;
    let mut rooms = Vec::new();
    for room_id in state.services.rooms.all_rooms().await? {
        let Some(room) = state.services.rooms.overview(&room_id).await? else { continue };
        // Names and aliases contain the term in any case; a room id is exact.
        let found = search.as_ref().is_none_or(|(term, exact)| {
            room.name.as_ref().is_some_and(|n| n.to_lowercase().contains(term.as_str()))
                || room.canonical_alias.as_ref().is_some_and(|a| a.to_lowercase().contains(term.as_str()))
                || room.room_id.as_str() == exact
        });
        if found
            && public_rooms.is_none_or(|p| p == room.public)
            && empty_rooms.is_none_or(|e| e == (room.joined_members == 0))
        {
            rooms.push(listed(&room));
        }
    }
    rooms.sort_by(|a, b| {
        let ordering = compare(&a[field], &b[field]).then_with(|| compare(&a["room_id"], &b["room_id"]));
        if largest_first != backwards { ordering.reverse() } else { ordering }
    });
    let total = rooms.len();
    let page: Vec<Value> = rooms.into_iter().skip(from).take(limit).collect();
    let mut answer = json!({"rooms": page, "offset": from, "total_rooms": total});
    if from + limit < total {
        answer["next_batch"] = json!(from + limit);
    }
    if from > 0 {
        answer["prev_batch"] = json!(from.saturating_sub(limit));
    }
    Ok(Json(answer))
}

fn path_room(raw: &str) -> Result<OwnedRoomId, ApiError> {
    RoomId::parse(raw).map_err(|_| ApiError(Error::InvalidParam(format!("{raw} is not a legal room ID"))))
}

async fn overview(state: &AppState, raw: &str) -> ApiResult<RoomOverview> {
    let room_id = path_room(raw)?;
    let found = state.services.rooms.overview(&room_id).await?;
    found.ok_or_else(|| ApiError(Error::NotFound("Room not found".to_owned())))
}

/// `GET /_synapse/admin/v1/rooms/{roomId}`.
pub async fn get(
    State(state): State<AppState>,
    _caller: Admin,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let room = overview(&state, &raw).await?;
    let mut devices = 0;
    for (user, membership) in state.services.rooms.membership.members(&room.room_id).await? {
        if membership == MembershipState::Join && user.server_name() == state.services.server_name() {
            devices += state.services.devices.list(user.localpart()).await?.len();
        }
    }
    let mut details = listed(&room);
    details["topic"] = json!(room.topic);
    details["avatar"] = json!(room.avatar);
    details["joined_local_devices"] = json!(devices);
    details["forgotten"] = json!(false);
    details["tombstoned"] = json!(room.tombstone.is_some());
    details["replacement_room"] = json!(room.tombstone);
    Ok(Json(details))
}

/// `GET /_synapse/admin/v1/rooms/{roomId}/members`: those joined.
pub async fn members(
    State(state): State<AppState>,
    _caller: Admin,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let room = overview(&state, &raw).await?;
    let members: Vec<String> = state
        .services
        .rooms
        .membership
        .members(&room.room_id)
        .await?
        .into_iter()
        .filter(|(_, m)| *m == MembershipState::Join)
        .map(|(user, _)| user.to_string())
        .collect();
    Ok(Json(json!({"total": members.len(), "members": members})))
}

/// `GET /_synapse/admin/v1/rooms/{roomId}/state`.
pub async fn room_state(
    State(state): State<AppState>,
    _caller: Admin,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let room = overview(&state, &raw).await?;
    Ok(Json(json!({"state": state.services.rooms.current_state_events(&room.room_id).await?})))
}

/// `GET /_synapse/admin/v1/rooms/{roomId}/block`.
pub async fn get_block(
    State(state): State<AppState>,
    _caller: Admin,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let room_id = path_room(&raw)?;
    Ok(Json(match state.services.rooms.blocker(&room_id).await? {
        Some(by) => json!({"block": true, "user_id": by}),
        None => json!({"block": false}),
    }))
}

/// `PUT /_synapse/admin/v1/rooms/{roomId}/block` `{block}`: the room need
/// not be known here (a room can be blocked before anyone joins it).
pub async fn put_block(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
    crate::extract::JsonBody(body): crate::extract::JsonBody<serde_json::Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let room_id = path_room(&raw)?;
    let block = match body.get("block") {
        Some(Value::Bool(block)) => *block,
        None => return Err(ApiError(Error::MissingParam("Missing params: ['block']".into()))),
        Some(_) => return Err(ApiError(Error::BadJson("Param 'block' must be a boolean".into()))),
    };
    if block {
        state.services.rooms.block(&room_id, &caller.0.user_id).await?;
    } else {
        state.services.rooms.unblock(&room_id).await?;
    }
    Ok(Json(json!({"block": block})))
}
