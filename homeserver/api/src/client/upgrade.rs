//! `POST /rooms/{roomId}/upgrade` (spec: client-server API, "Room upgrades").

use axum::extract::State;
use ruma::api::client::room::upgrade_room;

use crate::error::ApiResult;
use crate::extract::{Authed, Ruma, RumaResponse};
use crate::router::AppState;

pub async fn upgrade(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Ruma(request): Ruma<upgrade_room::v3::Request>,
) -> ApiResult<RumaResponse<upgrade_room::v3::Response>> {
    let new = state
        .services
        .rooms
        .upgrade(&caller.user_id, &request.room_id, &request.new_version, request.additional_creators)
        .await?;
    Ok(RumaResponse(upgrade_room::v3::Response::new(new)))
}
