//! The search index for admins (`/_nexus/admin/v1/search`): its state, and
//! a rebuild (`nexus admin search reindex`).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::Admin;
use crate::error::ApiResult;
use crate::router::AppState;

pub async fn status(State(state): State<AppState>, Admin(_): Admin) -> ApiResult<Json<Value>> {
    Ok(Json(json!(state.services.search.status().await?)))
}

pub async fn reindex(State(state): State<AppState>, Admin(_): Admin) -> ApiResult<Json<Value>> {
    state.services.search.request_rebuild().await?;
    Ok(Json(json!(state.services.search.status().await?)))
}
