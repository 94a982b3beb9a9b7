//! Rooms over federation: transactions, membership handshakes, invites,
//! and the history and state other servers ask for.

use axum::Json;
use axum::extract::State;
use nexus_core::Error;
use ruma::{OwnedEventId, RoomVersionId};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::Signed;
use crate::error::{ApiError, ApiResult};
use crate::extract::PathParams;
use crate::ids::{event_id, room_id, user_id};
use crate::router::AppState;

pub async fn send_transaction(
    State(state): State<AppState>,
    PathParams(_txn_id): PathParams<String>,
    signed: Signed,
) -> ApiResult<Json<Value>> {
    let body: Value = signed.json()?;
    Ok(Json(state.services.federation.receive_transaction(&signed.origin, &body).await?))
}

async fn make_membership(
    state: AppState,
    (room, user): (String, String),
    signed: Signed,
    membership: &str,
) -> ApiResult<Json<Value>> {
    let (room, user) = (room_id(&room)?, user_id(&user)?);
    let supported: Vec<RoomVersionId> = match signed.query_all("ver") {
        // Without `ver`, the asking server speaks only version 1.
        versions if versions.is_empty() => vec![RoomVersionId::V1],
        versions => versions.into_iter().filter_map(|v| RoomVersionId::try_from(v).ok()).collect(),
    };
    let (version, event) =
        state.services.rooms.membership_template(&signed.origin, &room, &user, membership, &supported).await?;
    Ok(Json(json!({ "room_version": version, "event": event })))
}

pub async fn make_join(
    State(state): State<AppState>,
    PathParams(ids): PathParams<(String, String)>,
    signed: Signed,
) -> ApiResult<Json<Value>> {
    make_membership(state, ids, signed, "join").await
}

pub async fn make_leave(
    State(state): State<AppState>,
    PathParams(ids): PathParams<(String, String)>,
    signed: Signed,
) -> ApiResult<Json<Value>> {
    make_membership(state, ids, signed, "leave").await
}

pub async fn make_knock(
    State(state): State<AppState>,
    PathParams(ids): PathParams<(String, String)>,
    signed: Signed,
) -> ApiResult<Json<Value>> {
    make_membership(state, ids, signed, "knock").await
}

async fn send_membership(
    state: AppState,
    (room, event): (String, String),
    signed: Signed,
    membership: &str,
) -> ApiResult<Json<Value>> {
    let (room, event) = (room_id(&room)?, event_id(&event)?);
    let raw: Box<RawValue> = signed.json()?;
    // `send_join`'s `omit_members` (a boolean; anything else is not "true").
    let omit_members = membership == "join" && signed.query_one("omit_members") == Some("true");
    let rooms = &state.services.rooms;
    Ok(Json(rooms.receive_membership(&signed.origin, &room, &event, membership, &raw, omit_members).await?))
}

pub async fn send_join(
    State(state): State<AppState>,
    PathParams(ids): PathParams<(String, String)>,
    signed: Signed,
) -> ApiResult<Json<Value>> {
    send_membership(state, ids, signed, "join").await
}

pub async fn send_leave(
    State(state): State<AppState>,
    PathParams(ids): PathParams<(String, String)>,
    signed: Signed,
) -> ApiResult<Json<Value>> {
    send_membership(state, ids, signed, "leave").await
}

pub async fn send_knock(
    State(state): State<AppState>,
    PathParams(ids): PathParams<(String, String)>,
    signed: Signed,
) -> ApiResult<Json<Value>> {
    send_membership(state, ids, signed, "knock").await
}

#[derive(Deserialize)]
struct InviteBody {
    room_version: RoomVersionId,
    event: Box<RawValue>,
    #[serde(default)]
    invite_room_state: Vec<Value>,
}

pub async fn invite(
    State(state): State<AppState>,
    PathParams((room, event)): PathParams<(String, String)>,
    signed: Signed,
) -> ApiResult<Json<Value>> {
    let (room, event) = (room_id(&room)?, event_id(&event)?);
    let body: InviteBody = signed.json()?;
    let signed_event = state
        .services
        .rooms
        .receive_invite(&signed.origin, &room, &event, &body.room_version, &body.event, body.invite_room_state)
        .await?;
    Ok(Json(json!({ "event": signed_event })))
}

fn transaction_like(state: &AppState, pdus: Vec<Value>) -> Json<Value> {
    Json(json!({
        "origin": state.services.server_name(),
        "origin_server_ts": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default(),
        "pdus": pdus,
    }))
}

pub async fn event(
    State(state): State<AppState>,
    PathParams(event): PathParams<String>,
    signed: Signed,
) -> ApiResult<Json<Value>> {
    let event = event_id(&event)?;
    let pdu = state.services.rooms.event_for_server(&signed.origin, &event).await?;
    Ok(transaction_like(&state, vec![pdu]))
}

fn required_event_id(signed: &Signed) -> Result<OwnedEventId, ApiError> {
    let raw =
        signed.query_one("event_id").ok_or_else(|| ApiError(Error::MissingParam("event_id is required".to_owned())))?;
    event_id(raw)
}

pub async fn state_ids(
    State(state): State<AppState>,
    PathParams(room): PathParams<String>,
    signed: Signed,
) -> ApiResult<Json<Value>> {
    let room = room_id(&room)?;
    let event = required_event_id(&signed)?;
    let (state_ids, chain) = state.services.rooms.state_for_server(&signed.origin, &room, &event).await?;
    Ok(Json(json!({ "pdu_ids": state_ids, "auth_chain_ids": chain })))
}

pub async fn state(
    State(state): State<AppState>,
    PathParams(room): PathParams<String>,
    signed: Signed,
) -> ApiResult<Json<Value>> {
    let room = room_id(&room)?;
    let event = required_event_id(&signed)?;
    let rooms = &state.services.rooms;
    let (state_ids, chain) = rooms.state_for_server(&signed.origin, &room, &event).await?;
    Ok(Json(json!({ "pdus": rooms.pdus_json(&state_ids).await?, "auth_chain": rooms.pdus_json(&chain).await? })))
}

pub async fn event_auth(
    State(state): State<AppState>,
    PathParams((room, event)): PathParams<(String, String)>,
    signed: Signed,
) -> ApiResult<Json<Value>> {
    let (room, event) = (room_id(&room)?, event_id(&event)?);
    let chain = state.services.rooms.event_auth_for_server(&signed.origin, &room, &event).await?;
    Ok(Json(json!({ "auth_chain": chain })))
}

pub async fn backfill(
    State(state): State<AppState>,
    PathParams(room): PathParams<String>,
    signed: Signed,
) -> ApiResult<Json<Value>> {
    let room = room_id(&room)?;
    let from: Vec<OwnedEventId> = signed.query_all("v").into_iter().map(event_id).collect::<Result<_, _>>()?;
    if from.is_empty() {
        return Err(ApiError(Error::MissingParam("v is required".to_owned())));
    }
    let limit = signed
        .query_one("limit")
        .ok_or_else(|| ApiError(Error::MissingParam("limit is required".to_owned())))?
        .parse::<usize>()
        .map_err(|e| ApiError(Error::InvalidParam(format!("limit: {e}"))))?;
    let pdus = state.services.rooms.backfill_for_server(&signed.origin, &room, &from, limit).await?;
    Ok(transaction_like(&state, pdus))
}

#[derive(Deserialize)]
struct MissingEventsBody {
    earliest_events: Vec<OwnedEventId>,
    latest_events: Vec<OwnedEventId>,
    #[serde(default = "default_limit")]
    limit: usize,
    #[serde(default)]
    min_depth: u64,
}

fn default_limit() -> usize {
    10
}

pub async fn missing_events(
    State(state): State<AppState>,
    PathParams(room): PathParams<String>,
    signed: Signed,
) -> ApiResult<Json<Value>> {
    let room = room_id(&room)?;
    let body: MissingEventsBody = signed.json()?;
    let events = state
        .services
        .rooms
        .missing_events_for_server(
            &signed.origin,
            &room,
            &body.earliest_events,
            &body.latest_events,
            body.limit,
            body.min_depth,
        )
        .await?;
    Ok(Json(json!({ "events": events })))
}
