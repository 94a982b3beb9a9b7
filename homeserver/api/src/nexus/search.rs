//! Discord-style search and saved searches (extensions-spec §24), thin over
//! `core::search`.

use axum::Json;
use axum::extract::State;
use nexus_core::search::discord::NexusSearchRequest;
use nexus_core::search::saved::SavedSearchBody;
use serde_json::{Value, json};

use crate::error::ApiResult;
use crate::extract::{Authed, JsonBody, PathParams};
use crate::router::AppState;

pub async fn search(
    State(state): State<AppState>,
    Authed(caller): Authed,
    JsonBody(request): JsonBody<NexusSearchRequest>,
) -> ApiResult<Json<Value>> {
    Ok(Json(state.services.search.search_nexus(&caller.user_id, &caller.device_id, request).await?))
}

pub async fn list_saved(State(state): State<AppState>, Authed(caller): Authed) -> ApiResult<Json<Value>> {
    let searches = state.services.search.saved_searches(&caller.user_id).await?;
    Ok(Json(json!({ "searches": searches })))
}

pub async fn put_saved(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(name): PathParams<String>,
    JsonBody(body): JsonBody<SavedSearchBody>,
) -> ApiResult<Json<Value>> {
    let saved = state.services.search.save_search(&caller.user_id, &name, body).await?;
    Ok(Json(json!(saved)))
}

pub async fn delete_saved(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(name): PathParams<String>,
) -> ApiResult<Json<Value>> {
    state.services.search.delete_saved_search(&caller.user_id, &name).await?;
    Ok(Json(json!({})))
}
