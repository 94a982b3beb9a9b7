//! Sending and reading room events (spec: client-server API, "Events",
//! "Redactions", "Pagination").

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use nexus_core::Error;
use nexus_core::rooms::pdu::client_content;
use nexus_core::rooms::{MessagesQuery, NewEvent, RoomEventFilter};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};
use crate::extract::{AppserviceTs, Authed, JsonBody, PathParams, QueryParams};
use crate::ids::{event_id, room_id};
use crate::router::AppState;

fn content(body: Map<String, Value>) -> Result<ruma::CanonicalJsonObject, ApiError> {
    let raw = ruma::serde::Raw::new(&Value::Object(body)).map_err(|e| ApiError(Error::BadJson(e.to_string())))?;
    Ok(client_content(&raw)?)
}

/// `?org.matrix.msc4140.delay=<ms>`: schedule the event instead of
/// sending it (MSC4140, `nexus_core::delayed_events`).
#[derive(Deserialize, Default)]
pub struct DelayQuery {
    #[serde(rename = "org.matrix.msc4140.delay")]
    delay: Option<u64>,
}

/// Sends `event` now, or schedules it when a delay is asked for.
async fn send_or_schedule(
    state: &AppState,
    caller: &nexus_core::tokens::Identity,
    room_id: &ruma::RoomId,
    event: NewEvent,
    delay: Option<u64>,
) -> ApiResult<Value> {
    state.services.message_limits.check(caller).await?;
    if let Some(delay) = delay {
        let delayed_events = &state.services.delayed_events;
        let delay = std::time::Duration::from_millis(delay);
        let delay_id = delayed_events.schedule(&caller.user_id, &caller.device_id, room_id, event, delay).await?;
        return Ok(json!({ "delay_id": delay_id }));
    }
    let event_id = state.services.rooms.send(room_id, &caller.user_id, event).await?;
    Ok(json!({ "event_id": event_id }))
}

pub async fn send(
    State(state): State<AppState>,
    Authed(caller): Authed,
    AppserviceTs(ts): AppserviceTs,
    PathParams((raw_room_id, kind, txn_id)): PathParams<(String, String, String)>,
    QueryParams(query): QueryParams<DelayQuery>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<impl IntoResponse> {
    let room_id = room_id(&raw_room_id)?;
    let event = NewEvent {
        kind,
        state_key: None,
        content: content(body)?,
        redacts: None,
        transaction: Some((caller.device_id.clone(), txn_id)),
        origin_server_ts: caller.appservice.as_ref().and(ts),
    };
    Ok(Json(send_or_schedule(&state, &caller, &room_id, event, query.delay).await?))
}

pub async fn put_state(
    State(state): State<AppState>,
    Authed(caller): Authed,
    AppserviceTs(ts): AppserviceTs,
    PathParams((raw_room_id, kind, state_key)): PathParams<(String, String, String)>,
    QueryParams(query): QueryParams<DelayQuery>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<impl IntoResponse> {
    let room_id = room_id(&raw_room_id)?;
    let mut event = NewEvent::state(&kind, &state_key, content(body)?);
    event.origin_server_ts = caller.appservice.as_ref().and(ts);
    Ok(Json(send_or_schedule(&state, &caller, &room_id, event, query.delay).await?))
}

pub async fn put_state_empty_key(
    state: State<AppState>,
    caller: Authed,
    ts: AppserviceTs,
    PathParams((raw_room_id, kind)): PathParams<(String, String)>,
    query: QueryParams<DelayQuery>,
    body: JsonBody<Map<String, Value>>,
) -> ApiResult<impl IntoResponse> {
    put_state(state, caller, ts, PathParams((raw_room_id, kind, String::new())), query, body).await
}

#[derive(Deserialize, Default)]
pub struct StateFormat {
    format: Option<String>,
}

pub async fn get_state_event(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams((raw_room_id, kind, state_key)): PathParams<(String, String, String)>,
    QueryParams(query): QueryParams<StateFormat>,
) -> ApiResult<impl IntoResponse> {
    let room_id = room_id(&raw_room_id)?;
    let rooms = &state.services.rooms;
    let answer = match query.format.as_deref() {
        None | Some("content") => rooms.state_content(&caller.user_id, &room_id, &kind, &state_key).await?,
        Some("event") => {
            rooms.state_event_for_client(&caller.user_id, &caller.device_id, &room_id, &kind, &state_key).await?
        }
        Some(other) => {
            return Err(ApiError(Error::InvalidParam(format!("format must be content or event, not {other:?}"))));
        }
    };
    Ok(Json(answer))
}

pub async fn get_state_event_empty_key(
    state: State<AppState>,
    caller: Authed,
    PathParams((raw_room_id, kind)): PathParams<(String, String)>,
    query: QueryParams<StateFormat>,
) -> ApiResult<impl IntoResponse> {
    get_state_event(state, caller, PathParams((raw_room_id, kind, String::new())), query).await
}

pub async fn get_state(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw_room_id): PathParams<String>,
) -> ApiResult<impl IntoResponse> {
    let room_id = room_id(&raw_room_id)?;
    Ok(Json(state.services.rooms.state_for_client(&caller.user_id, &caller.device_id, &room_id).await?))
}

#[derive(Deserialize, Default)]
pub struct RedactBody {
    reason: Option<String>,
}

pub async fn redact(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams((raw_room_id, raw_event_id, txn_id)): PathParams<(String, String, String)>,
    JsonBody(body): JsonBody<RedactBody>,
) -> ApiResult<impl IntoResponse> {
    let room_id = room_id(&raw_room_id)?;
    let event = NewEvent {
        transaction: Some((caller.device_id.clone(), txn_id)),
        ..NewEvent::redaction(event_id(&raw_event_id)?, body.reason.as_deref())
    };
    let event_id = state.services.rooms.send(&room_id, &caller.user_id, event).await?;
    Ok(Json(json!({ "event_id": event_id })))
}

pub async fn get_event(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams((raw_room_id, raw_event_id)): PathParams<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let room_id = room_id(&raw_room_id)?;
    let event_id = event_id(&raw_event_id)?;
    let rooms = &state.services.rooms;
    Ok(Json(rooms.event_for_client(&caller.user_id, &caller.device_id, &room_id, &event_id).await?))
}

#[derive(Deserialize)]
pub struct ContextParams {
    limit: Option<usize>,
    filter: Option<String>,
}

pub async fn context(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams((raw_room_id, raw_event_id)): PathParams<(String, String)>,
    QueryParams(params): QueryParams<ContextParams>,
) -> ApiResult<impl IntoResponse> {
    let room_id = room_id(&raw_room_id)?;
    let event_id = event_id(&raw_event_id)?;
    let filter = parse_filter(params.filter.as_deref())?;
    let limit = params.limit.or(filter.limit).unwrap_or(10);
    let context = state
        .services
        .rooms
        .context(&caller.user_id, &caller.device_id, &room_id, &event_id, limit, &filter.into_room_filter())
        .await?;
    Ok(Json(context_body(context)))
}

#[derive(Deserialize)]
pub struct TimestampParams {
    ts: u64,
    dir: String,
}

pub async fn timestamp_to_event(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw_room_id): PathParams<String>,
    QueryParams(params): QueryParams<TimestampParams>,
) -> ApiResult<impl IntoResponse> {
    let room_id = room_id(&raw_room_id)?;
    let direction = match params.dir.as_str() {
        "f" => nexus_core::rooms::Direction::Forward,
        "b" => nexus_core::rooms::Direction::Backward,
        other => return Err(ApiError(Error::InvalidParam(format!("dir must be b or f, not {other:?}")))),
    };
    let (event_id, ts) = state.services.rooms.event_at_time(&caller.user_id, &room_id, params.ts, direction).await?;
    Ok(Json(json!({ "event_id": event_id, "origin_server_ts": ts })))
}

#[derive(Deserialize)]
pub struct MessagesParams {
    from: Option<String>,
    to: Option<String>,
    dir: String,
    limit: Option<usize>,
    filter: Option<String>,
}

#[derive(Deserialize, Default)]
pub(crate) struct FilterJson {
    types: Option<Vec<String>>,
    #[serde(default)]
    not_types: Vec<String>,
    senders: Option<Vec<String>>,
    #[serde(default)]
    not_senders: Vec<String>,
    pub(crate) limit: Option<usize>,
}

impl FilterJson {
    pub(crate) fn into_room_filter(self) -> RoomEventFilter {
        RoomEventFilter {
            types: self.types,
            not_types: self.not_types,
            senders: self.senders,
            not_senders: self.not_senders,
        }
    }
}

/// The `filter` query parameter: a `RoomEventFilter` as JSON.
pub(crate) fn parse_filter(raw: Option<&str>) -> Result<FilterJson, ApiError> {
    match raw {
        Some(raw) => serde_json::from_str(raw)
            .map_err(|e| ApiError(Error::InvalidParam(format!("filter is not a RoomEventFilter: {e}")))),
        None => Ok(FilterJson::default()),
    }
}

pub async fn messages(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw_room_id): PathParams<String>,
    QueryParams(params): QueryParams<MessagesParams>,
) -> ApiResult<impl IntoResponse> {
    let room_id = room_id(&raw_room_id)?;
    let query = messages_query(&params.dir, params.from, params.to, params.limit, params.filter.as_deref())?;
    let page = state.services.rooms.messages(&caller.user_id, &caller.device_id, &room_id, query).await?;
    Ok(Json(messages_body(page)))
}

/// A `/messages` query from its parameters (the admin API's too).
pub(crate) fn messages_query(
    dir: &str,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
    filter: Option<&str>,
) -> Result<MessagesQuery, ApiError> {
    let backward = match dir {
        "b" => true,
        "f" => false,
        other => return Err(ApiError(Error::InvalidParam(format!("dir must be b or f, not {other:?}")))),
    };
    let filter = parse_filter(filter)?;
    Ok(MessagesQuery {
        from,
        to,
        backward,
        limit: limit.or(filter.limit).unwrap_or(10),
        filter: filter.into_room_filter(),
    })
}

/// A `/messages` answer: `start`, `chunk`, and `end` unless the walk ended.
pub(crate) fn messages_body(page: nexus_core::rooms::Messages) -> Value {
    let mut body = json!({ "start": page.start, "chunk": page.chunk });
    if let Some(end) = page.end {
        body["end"] = json!(end);
    }
    body
}

/// A `/context` answer.
pub(crate) fn context_body(context: nexus_core::rooms::Context) -> Value {
    json!({
        "start": context.start,
        "end": context.end,
        "events_before": context.events_before,
        "event": context.event,
        "events_after": context.events_after,
        "state": context.state,
    })
}
