//! Event reports in the admin API: list (newest first by default, filters,
//! paging), one report with the reported event, delete — Synapse's shapes.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use nexus_core::Error;
use nexus_core::reports::Report;
use serde_json::{Value, json};

use super::Admin;
use super::query::{backwards, query_int};
use crate::error::{ApiError, ApiResult};
use crate::extract::{PathParams, QueryParams};
use crate::router::AppState;

/// A report as listed: the room's name and alias and the event's sender
/// beside what the reporter said.
async fn listed(state: &AppState, id: u64, report: &Report) -> ApiResult<Value> {
    let rooms = &state.services.rooms;
    let (mut name, mut alias) = (Value::Null, Value::Null);
    if let Some(room) = &report.room_id {
        name = rooms.state_json(room, "m.room.name", "").await?.map_or(Value::Null, |c| c["name"].clone());
        alias = rooms.state_json(room, "m.room.canonical_alias", "").await?.map_or(Value::Null, |c| c["alias"].clone());
    }
    let sender = match &report.event_id {
        Some(event) => {
            rooms.timeline.get(event).await?.map(|e| e.object()).transpose()?.and_then(|o| o.get("sender").cloned())
        }
        None => None,
    };
    Ok(json!({
        "id": id,
        "received_ts": report.received_ts,
        "room_id": report.room_id,
        "name": name,
        "event_id": report.event_id,
        "user_id": report.reporter,
        "reason": report.reason,
        "score": report.score,
        "sender": sender.map(Value::from),
        "canonical_alias": alias,
    }))
}

/// `GET /_synapse/admin/v1/event_reports`.
pub async fn list(
    State(state): State<AppState>,
    _caller: Admin,
    QueryParams(query): QueryParams<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let from = query_int(&query, "from", 0)?;
    let limit = query_int(&query, "limit", 100)?;
    // Newest first unless asked otherwise, as Synapse.
    let newest_first = backwards(&query, true)?;
    let reporter = query.get("user_id");
    let room = query.get("room_id");
    let sender = query.get("event_sender_user_id");
    let mut reports = Vec::new();
    for (id, report) in state.services.reports.all().await? {
        if report.event_id.is_none()
            || reporter.is_some_and(|r| !report.reporter.as_str().contains(r.as_str()))
            || room.is_some_and(|r| !report.room_id.as_ref().is_some_and(|id| id.as_str().contains(r.as_str())))
        {
            continue;
        }
        let item = listed(&state, id, &report).await?;
        if sender.is_some_and(|s| item["sender"] != s.as_str()) {
            continue;
        }
        reports.push(item);
    }
    if newest_first {
        reports.reverse();
    }
    let total = reports.len();
    let page: Vec<Value> = reports.into_iter().skip(from).take(limit).collect();
    let mut answer = json!({"event_reports": page, "total": total});
    if from + limit < total {
        answer["next_token"] = json!(from + limit);
    }
    Ok(Json(answer))
}

fn report_id(raw: &str) -> Result<u64, ApiError> {
    raw.parse().map_err(|_| {
        ApiError(Error::InvalidParam(
            "The report_id parameter must be a string representing a positive integer.".into(),
        ))
    })
}

/// `GET /_synapse/admin/v1/event_reports/{reportId}`: with the event.
pub async fn get(
    State(state): State<AppState>,
    _caller: Admin,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let id = report_id(&raw)?;
    let report = state.services.reports.get(id).await?;
    let report = report.ok_or_else(|| ApiError(Error::NotFound("Event report not found".into())))?;
    let mut item = listed(&state, id, &report).await?;
    let event = match &report.event_id {
        Some(event) => state.services.rooms.timeline.get(event).await?.map(|e| e.object()).transpose()?,
        None => None,
    };
    item["event_json"] = event.map_or(Value::Null, |o| Value::from(ruma::CanonicalJsonValue::Object(o)));
    Ok(Json(item))
}

/// `DELETE /_synapse/admin/v1/event_reports/{reportId}`.
pub async fn delete(
    State(state): State<AppState>,
    _caller: Admin,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let id = report_id(&raw)?;
    if !state.services.reports.delete(id).await? {
        return Err(ApiError(Error::NotFound("Event report not found".into())));
    }
    Ok(Json(json!({})))
}
