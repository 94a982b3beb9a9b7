//! `GET /voip/turnServer` (spec: "Voice over IP"): time-limited TURN
//! credentials from `core::voip`.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;

use crate::error::ApiResult;
use crate::extract::Authed;
use crate::router::AppState;

pub async fn turn_server(State(state): State<AppState>, Authed(caller): Authed) -> ApiResult<impl IntoResponse> {
    Ok(Json(state.services.voip.turn_credentials(&caller.user_id)?))
}
