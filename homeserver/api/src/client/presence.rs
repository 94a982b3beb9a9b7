//! Presence (spec: client-server API, "Presence").

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use nexus_core::Error;
use serde::Deserialize;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, JsonBody, PathParams};
use crate::ids::user_id;
use crate::router::AppState;

#[derive(Deserialize)]
pub struct StatusBody {
    presence: String,
    /// Absent leaves the message as it was; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    status_msg: Option<Option<String>>,
}

fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

pub async fn set_status(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw_user): PathParams<String>,
    JsonBody(body): JsonBody<StatusBody>,
) -> ApiResult<impl IntoResponse> {
    let user = user_id(&raw_user)?;
    if user != caller.user_id {
        return Err(ApiError(Error::Forbidden("you may only set your own presence".to_owned())));
    }
    state.services.presence.set(&user, &body.presence, body.status_msg).await?;
    Ok(Json(json!({})))
}

pub async fn get_status(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw_user): PathParams<String>,
) -> ApiResult<impl IntoResponse> {
    let user = user_id(&raw_user)?;
    Ok(Json(state.services.presence.get(&caller.user_id, &user).await?))
}
