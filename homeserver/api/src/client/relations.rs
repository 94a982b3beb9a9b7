//! `/relations` and `/threads` (spec: client-server API, "Relationships
//! between events", "Threading").

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use nexus_core::Error;
use nexus_core::rooms::RelatedPage;
use ruma::{OwnedEventId, OwnedRoomId};
use serde::Deserialize;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, PathParams, QueryParams};
use crate::ids::{event_id, room_id};
use crate::router::AppState;

fn ids(room: &str, event: &str) -> Result<(OwnedRoomId, OwnedEventId), ApiError> {
    Ok((room_id(room)?, event_id(event)?))
}

fn page_json(page: RelatedPage) -> Json<serde_json::Value> {
    let mut body = json!({ "chunk": page.chunk });
    if let Some(next) = page.next_batch {
        body["next_batch"] = json!(next);
    }
    if let Some(prev) = page.prev_batch {
        body["prev_batch"] = json!(prev);
    }
    if let Some(depth) = page.recursion_depth {
        body["recursion_depth"] = json!(depth);
    }
    Json(body)
}

#[derive(Deserialize)]
pub struct RelationsQuery {
    from: Option<String>,
    limit: Option<usize>,
    dir: Option<String>,
    #[serde(default)]
    recurse: bool,
}

async fn relations(
    state: AppState,
    caller: Authed,
    (room, event, rel_type, event_type): (String, String, Option<String>, Option<String>),
    query: RelationsQuery,
) -> ApiResult<Json<serde_json::Value>> {
    let (room_id, parent) = ids(&room, &event)?;
    let backward = match query.dir.as_deref() {
        None | Some("b") => true,
        Some("f") => false,
        Some(other) => return Err(ApiError(Error::InvalidParam(format!("dir must be b or f, not {other:?}")))),
    };
    let page = state
        .services
        .rooms
        .relations_for_client(
            &caller.0.user_id,
            &caller.0.device_id,
            &room_id,
            &parent,
            rel_type.as_deref(),
            event_type.as_deref(),
            query.from.as_deref(),
            backward,
            query.limit.unwrap_or(50),
            query.recurse,
        )
        .await?;
    Ok(page_json(page))
}

pub async fn all_relations(
    State(state): State<AppState>,
    caller: Authed,
    PathParams((room, event)): PathParams<(String, String)>,
    QueryParams(query): QueryParams<RelationsQuery>,
) -> ApiResult<impl IntoResponse> {
    relations(state, caller, (room, event, None, None), query).await
}

pub async fn relations_of_type(
    State(state): State<AppState>,
    caller: Authed,
    PathParams((room, event, rel_type)): PathParams<(String, String, String)>,
    QueryParams(query): QueryParams<RelationsQuery>,
) -> ApiResult<impl IntoResponse> {
    relations(state, caller, (room, event, Some(rel_type), None), query).await
}

pub async fn relations_of_type_and_event_type(
    State(state): State<AppState>,
    caller: Authed,
    PathParams((room, event, rel_type, event_type)): PathParams<(String, String, String, String)>,
    QueryParams(query): QueryParams<RelationsQuery>,
) -> ApiResult<impl IntoResponse> {
    relations(state, caller, (room, event, Some(rel_type), Some(event_type)), query).await
}

#[derive(Deserialize)]
pub struct ThreadsQuery {
    include: Option<String>,
    from: Option<String>,
    limit: Option<usize>,
}

pub async fn threads(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(room): PathParams<String>,
    QueryParams(query): QueryParams<ThreadsQuery>,
) -> ApiResult<impl IntoResponse> {
    let room_id =
        OwnedRoomId::try_from(room).map_err(|e| ApiError(Error::InvalidParam(format!("not a room id: {e}"))))?;
    let participated_only = match query.include.as_deref() {
        None | Some("all") => false,
        Some("participated") => true,
        Some(other) => {
            return Err(ApiError(Error::InvalidParam(format!("include must be all or participated, not {other:?}"))));
        }
    };
    let page = state
        .services
        .rooms
        .threads_for_client(
            &caller.user_id,
            &caller.device_id,
            &room_id,
            participated_only,
            query.from.as_deref(),
            query.limit.unwrap_or(50),
        )
        .await?;
    Ok(page_json(page))
}
