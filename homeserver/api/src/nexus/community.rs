//! Threads, scheduled events and pins (extensions-spec §10, §12, §22):
//! listings only the homeserver can answer in one call.

use axum::Json;
use axum::extract::State;
use nexus_core::Error;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, PathParams, QueryParams};
use crate::ids::room_id;
use crate::router::AppState;

#[derive(Deserialize)]
pub struct ThreadsQuery {
    archived: Option<String>,
    from: Option<String>,
    limit: Option<String>,
}

fn parse_param<T: std::str::FromStr>(name: &str, raw: Option<&str>) -> ApiResult<Option<T>> {
    raw.map(|v| v.parse::<T>().map_err(|_| ApiError(Error::InvalidParam(format!("{name}: {v:?} is not valid")))))
        .transpose()
}

/// A channel's active threads, or its archived ones (`archived=true`),
/// newest activity first, paged by `from` / `next_batch`.
pub async fn channel_threads(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw): PathParams<String>,
    QueryParams(query): QueryParams<ThreadsQuery>,
) -> ApiResult<Json<Value>> {
    let room = room_id(&raw)?;
    let archived = parse_param::<bool>("archived", query.archived.as_deref())?.unwrap_or(false);
    let from = parse_param::<u64>("from", query.from.as_deref())?;
    let limit = parse_param::<usize>("limit", query.limit.as_deref())?.unwrap_or(50);
    let (threads, next) =
        state.services.guilds.channel_threads(&caller.user_id, &caller.device_id, &room, archived, from, limit).await?;
    let mut answer = json!({ "threads": threads });
    if let Some(next) = next {
        answer["next_batch"] = json!(next.to_string());
    }
    Ok(Json(answer))
}

/// The active threads of every channel of a server the caller is in.
pub async fn server_threads(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let space = room_id(&raw)?;
    let threads = state.services.guilds.server_active_threads(&caller.user_id, &caller.device_id, &space).await?;
    Ok(Json(json!({ "threads": threads })))
}

/// A server's scheduled and active events with their interested counts.
pub async fn scheduled_events(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let space = room_id(&raw)?;
    let events = state.services.guilds.upcoming_events(&caller.user_id, &space).await?;
    Ok(Json(json!({ "events": events })))
}

/// A channel's pins with their events.
pub async fn pins(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let room = room_id(&raw)?;
    let pins = state.services.guilds.pins(&caller.user_id, &caller.device_id, &room).await?;
    Ok(Json(json!({ "pins": pins })))
}
