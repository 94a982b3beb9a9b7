//! `/sync` and filters (spec: client-server API, "Syncing", "Filtering").

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use nexus_core::sync::SyncRequest;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiResult;
use crate::extract::{Authed, JsonBody, PathParams, QueryParams};
use crate::ids::own_user;
use crate::router::AppState;

#[derive(Deserialize)]
pub struct SyncParams {
    filter: Option<String>,
    since: Option<String>,
    #[serde(default)]
    full_state: bool,
    timeout: Option<u64>,
    set_presence: Option<String>,
}

pub async fn sync(
    State(state): State<AppState>,
    Authed(caller): Authed,
    QueryParams(params): QueryParams<SyncParams>,
) -> ApiResult<impl IntoResponse> {
    let services = &state.services;
    let filter = services.filters.resolve(&caller.user_id, params.filter.as_deref()).await?;
    let request = SyncRequest {
        since: params.since,
        set_presence: params.set_presence,
        timeout: Duration::from_millis(params.timeout.unwrap_or(0)),
        full_state: params.full_state,
        filter,
    };
    Ok(Json(services.sync.sync(&caller.user_id, &caller.device_id, request).await?))
}

pub async fn create_filter(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw_user): PathParams<String>,
    JsonBody(filter): JsonBody<Value>,
) -> ApiResult<impl IntoResponse> {
    let user = own_user(&raw_user, &caller.user_id)?;
    let filter_id = state.services.filters.create(&user, filter).await?;
    Ok(Json(json!({ "filter_id": filter_id })))
}

pub async fn get_filter(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams((raw_user, filter_id)): PathParams<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let user = own_user(&raw_user, &caller.user_id)?;
    Ok(Json(state.services.filters.get(&user, &filter_id).await?))
}

#[derive(Deserialize)]
pub struct SlidingSyncParams {
    pos: Option<String>,
    timeout: Option<u64>,
    // Accepted as /sync accepts it; presence follows the other endpoints.
    #[allow(dead_code)]
    set_presence: Option<String>,
}

/// `POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync`
/// (simplified sliding sync, in ruma's `sync_events::v5` format).
pub async fn sliding_sync(
    State(state): State<AppState>,
    Authed(caller): Authed,
    QueryParams(params): QueryParams<SlidingSyncParams>,
    JsonBody(request): JsonBody<Value>,
) -> ApiResult<impl IntoResponse> {
    // serde would read a struct from an array too; the body is an object.
    if !request.is_object() {
        return Err(nexus_core::Error::BadJson("the body must be a JSON object".to_owned()).into());
    }
    let request: nexus_core::sliding_sync::Request =
        serde_json::from_value(request).map_err(|e| nexus_core::Error::BadJson(e.to_string()))?;
    let timeout = Duration::from_millis(params.timeout.unwrap_or(0));
    let body = state
        .services
        .sliding_sync
        .sync(&caller.user_id, &caller.device_id, params.pos.as_deref(), timeout, request)
        .await?;
    Ok(Json(body))
}
