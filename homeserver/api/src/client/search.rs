//! `POST /_matrix/client/v3/search` (spec: "Server Side Search"), thin over
//! `core::search`.

use axum::Json;
use axum::extract::State;
use nexus_core::search::spec::SearchRequest;
use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiResult;
use crate::extract::{Authed, JsonBody, QueryParams};
use crate::router::AppState;

#[derive(Deserialize)]
pub struct SearchQuery {
    next_batch: Option<String>,
}

pub async fn search(
    State(state): State<AppState>,
    Authed(caller): Authed,
    QueryParams(query): QueryParams<SearchQuery>,
    JsonBody(request): JsonBody<SearchRequest>,
) -> ApiResult<Json<Value>> {
    let answer = state
        .services
        .search
        .search_for_client(&caller.user_id, &caller.device_id, request, query.next_batch.as_deref())
        .await?;
    Ok(Json(answer))
}
