//! Spaces (spec: "Spaces"): a space's room tree, a page at a time.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use nexus_core::Error;
use nexus_core::rooms::hierarchy::HierarchyRequest;
use serde::Deserialize;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, PathParams, QueryParams};
use crate::ids::room_id;
use crate::router::AppState;

#[derive(Deserialize)]
pub struct HierarchyQuery {
    from: Option<String>,
    limit: Option<u64>,
    max_depth: Option<u64>,
    #[serde(default)]
    suggested_only: bool,
}

/// `GET /_matrix/client/v1/rooms/{roomId}/hierarchy`.
pub async fn hierarchy(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw_room_id): PathParams<String>,
    QueryParams(query): QueryParams<HierarchyQuery>,
) -> ApiResult<impl IntoResponse> {
    let room_id = room_id(&raw_room_id)?;
    if query.limit == Some(0) {
        return Err(ApiError(Error::InvalidParam("limit must be greater than zero".to_owned())));
    }
    let request = HierarchyRequest {
        from: query.from.as_deref(),
        limit: query.limit.map(|l| usize::try_from(l).unwrap_or(usize::MAX)),
        max_depth: query.max_depth,
        suggested_only: query.suggested_only,
    };
    let page = state.services.hierarchy.for_user(&caller.user_id, &room_id, request).await?;
    let mut body = json!({ "rooms": page.rooms });
    if let Some(next_batch) = page.next_batch {
        body["next_batch"] = json!(next_batch);
    }
    Ok(Json(body))
}
