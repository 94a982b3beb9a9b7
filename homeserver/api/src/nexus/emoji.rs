//! Custom emoji and stickers a user may use in a channel (extensions-spec
//! §22, custom emoji): a thin handler over `core::guilds::emoji`.

use axum::Json;
use axum::extract::State;
use serde_json::Value;

use crate::error::ApiResult;
use crate::extract::{Authed, PathParams};
use crate::ids::room_id;
use crate::router::AppState;

pub async fn usable(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let room = room_id(&raw)?;
    Ok(Json(state.services.emoji.usable(&caller.user_id, &room).await?))
}
