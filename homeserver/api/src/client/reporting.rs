//! Reporting content (spec: client-server API, "Reporting content").

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use nexus_core::Error;
use nexus_core::reports::Report;
use ruma::OwnedEventId;
use serde::Deserialize;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, JsonBody, PathParams};
use crate::ids::room_id;
use crate::router::AppState;

#[derive(Deserialize)]
pub struct ReportBody {
    reason: Option<String>,
    score: Option<i64>,
}

pub async fn report_event(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams((raw_room_id, raw_event_id)): PathParams<(String, String)>,
    JsonBody(body): JsonBody<ReportBody>,
) -> ApiResult<impl IntoResponse> {
    let room_id = room_id(&raw_room_id)?;
    let event_id = OwnedEventId::try_from(raw_event_id)
        .map_err(|e| ApiError(Error::InvalidParam(format!("not an event id: {e}"))))?;
    if body.score.is_some_and(|s| !(-100..=0).contains(&s)) {
        return Err(ApiError(Error::InvalidParam("score must be between -100 and 0".to_owned())));
    }
    // Only members may report, and only what they can see (404 otherwise,
    // so that reports do not reveal events).
    if !state.services.rooms.membership.is_joined(&room_id, &caller.user_id).await? {
        return Err(ApiError(Error::NotFound("event not found".to_owned())));
    }
    state.services.rooms.event_for_client(&caller.user_id, &caller.device_id, &room_id, &event_id).await?;
    let report = Report {
        room_id: Some(room_id),
        event_id: Some(event_id),
        user_id: None,
        reporter: caller.user_id,
        reason: body.reason,
        score: body.score,
        received_ts: 0,
    };
    state.services.reports.file(report).await?;
    Ok(Json(json!({})))
}

pub async fn report_room(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw_room_id): PathParams<String>,
    JsonBody(body): JsonBody<ReportBody>,
) -> ApiResult<impl IntoResponse> {
    let room_id = room_id(&raw_room_id)?;
    if body.reason.is_none() {
        return Err(ApiError(Error::MissingParam("reason is required".to_owned())));
    }
    if state.services.rooms.version(&room_id).await?.is_none() {
        return Err(ApiError(Error::NotFound("this server does not know that room".to_owned())));
    }
    let report = Report {
        room_id: Some(room_id),
        event_id: None,
        user_id: None,
        reporter: caller.user_id,
        reason: body.reason,
        score: None,
        received_ts: 0,
    };
    state.services.reports.file(report).await?;
    Ok(Json(json!({})))
}

/// `POST /users/{userId}/report` (spec v1.13). Any user may be reported,
/// local or not; the answer does not say whether the user exists.
pub async fn report_user(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw_user_id): PathParams<String>,
    JsonBody(body): JsonBody<ReportBody>,
) -> ApiResult<impl IntoResponse> {
    let user_id = crate::ids::user_id(&raw_user_id)?;
    if body.reason.is_none() {
        return Err(ApiError(Error::MissingParam("reason is required".to_owned())));
    }
    let report = Report {
        room_id: None,
        event_id: None,
        user_id: Some(user_id),
        reporter: caller.user_id,
        reason: body.reason,
        score: None,
        received_ts: 0,
    };
    state.services.reports.file(report).await?;
    Ok(Json(json!({})))
}
