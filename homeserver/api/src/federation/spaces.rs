//! `GET /_matrix/federation/v1/hierarchy/{roomId}`: one level of a space,
//! for another server to walk on its user's behalf.

use axum::Json;
use axum::extract::State;
use nexus_core::Error;
use serde_json::Value;

use super::Signed;
use crate::error::{ApiError, ApiResult};
use crate::extract::PathParams;
use crate::router::AppState;

pub async fn hierarchy(
    State(state): State<AppState>,
    PathParams(room_id): PathParams<String>,
    signed: Signed,
) -> ApiResult<Json<Value>> {
    let room_id = crate::ids::room_id(&room_id)?;
    let suggested_only = match signed.query_one("suggested_only") {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError(Error::InvalidParam(format!("suggested_only must be a boolean, not {other}"))));
        }
    };
    Ok(Json(state.services.hierarchy.for_server(&signed.origin, &room_id, suggested_only).await?))
}
