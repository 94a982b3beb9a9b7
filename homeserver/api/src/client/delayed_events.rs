//! Delayed events (MSC4140): scheduling rides on `PUT /send` and
//! `PUT /state` (`room_events.rs`); here are the listing and the
//! management endpoints, in both the body form (`{"action": …}`) and the
//! path form (`…/{delay_id}/cancel`), where the delay id itself is the
//! capability and an access token is optional.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::IntoResponse;
use nexus_core::Error;
use nexus_core::delayed_events::{Action, DelayedEvent, Manager};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, ClientIp, JsonBody, MaybeAuthed, PathParams};
use crate::router::AppState;

#[derive(Deserialize)]
pub struct ActionBody {
    action: Option<Value>,
}

/// `POST …/delayed_events/{delay_id}` with `{"action": "cancel"|"restart"|"send"}`.
pub async fn update(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(delay_id): PathParams<String>,
    JsonBody(body): JsonBody<ActionBody>,
) -> ApiResult<impl IntoResponse> {
    let action = match body.action {
        None => return Err(ApiError(Error::MissingParam("action is missing".to_owned()))),
        Some(Value::String(action)) => action.parse::<Action>()?,
        Some(_) => return Err(ApiError(Error::InvalidParam("action must be a string".to_owned()))),
    };
    state.services.delayed_events.act(Manager::User(&caller.user_id), &delay_id, action).await?;
    Ok(Json(json!({})))
}

/// `POST …/delayed_events/{delay_id}/{cancel|restart|send}`.
pub async fn update_by_path(
    State(state): State<AppState>,
    MaybeAuthed(caller): MaybeAuthed,
    ClientIp(ip): ClientIp,
    PathParams((delay_id, action)): PathParams<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let action = action.parse::<Action>().map_err(|_| ApiError(Error::Unrecognized("unknown action".to_owned())))?;
    let manager = match &caller {
        Some(identity) => Manager::User(&identity.user_id),
        None => Manager::Address(ip),
    };
    state.services.delayed_events.act(manager, &delay_id, action).await?;
    Ok(Json(json!({})))
}

fn scheduled_json(event: &DelayedEvent) -> Value {
    let mut json = json!({
        "delay_id": event.delay_id,
        "room_id": event.room_id,
        "type": event.kind,
        "delay": event.delay_ms,
        "running_since": event.due_ms.saturating_sub(event.delay_ms),
        "content": event.content,
    });
    if let Some(state_key) = &event.state_key {
        json["state_key"] = json!(state_key);
    }
    json
}

fn finalised_json(event: &DelayedEvent) -> Option<Value> {
    let done = event.finalised.as_ref()?;
    let mut json = json!({
        "delayed_event": scheduled_json(event),
        "outcome": done.outcome,
        "reason": done.reason,
        "origin_server_ts": done.at_ms,
    });
    if let Some(event_id) = &done.event_id {
        json["event_id"] = json!(event_id);
    }
    if let Some((errcode, error)) = &done.error {
        json["error"] = json!({ "errcode": errcode, "error": error });
    }
    Some(json)
}

/// `GET …/delayed_events?status=scheduled|finalised&delay_id=…` (both
/// repeatable). Without `status`, both lists and the older
/// `delayed_events` (the scheduled ones) for clients of earlier drafts.
pub async fn list(
    State(state): State<AppState>,
    Authed(caller): Authed,
    RawQuery(query): RawQuery,
) -> ApiResult<impl IntoResponse> {
    let mut statuses = Vec::new();
    let mut delay_ids = Vec::new();
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "status" if value == "scheduled" || value == "finalised" => statuses.push(value.into_owned()),
            "status" => {
                return Err(ApiError(Error::InvalidParam("status must be scheduled or finalised".to_owned())));
            }
            "delay_id" => delay_ids.push(value.into_owned()),
            _ => {}
        }
    }
    let listing = state.services.delayed_events.list(&caller.user_id, &delay_ids).await?;
    let wants = |status: &str| statuses.is_empty() || statuses.iter().any(|s| s == status);
    let mut answer = serde_json::Map::new();
    if wants("scheduled") {
        answer.insert("scheduled".to_owned(), listing.scheduled.iter().map(scheduled_json).collect());
    }
    if wants("finalised") {
        answer.insert("finalised".to_owned(), listing.finalised.iter().filter_map(finalised_json).collect());
    }
    if statuses.is_empty() {
        answer.insert("delayed_events".to_owned(), listing.scheduled.iter().map(scheduled_json).collect());
    }
    Ok(Json(Value::Object(answer)))
}
