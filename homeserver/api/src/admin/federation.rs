//! Federation destinations in the admin API (synapse-admin's destinations
//! screen): the list (search, order, paging), one destination, the rooms
//! shared with it, and reconnecting now — Synapse's shapes.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use nexus_core::Error;
use nexus_core::federation::destinations::Destination;
use ruma::OwnedServerName;
use serde_json::{Value, json};

use super::Admin;
use super::query::{backwards, compare, invalid, query_int};
use crate::error::{ApiError, ApiResult};
use crate::extract::{PathParams, QueryParams};
use crate::router::AppState;

const ORDERS: [&str; 5] =
    ["destination", "retry_last_ts", "retry_interval", "failure_ts", "last_successful_stream_ordering"];

fn described(name: &OwnedServerName, record: &Destination) -> Value {
    json!({
        "destination": name,
        "retry_last_ts": record.retry_last_ts,
        "retry_interval": record.retry_interval_ms,
        "failure_ts": record.failure_ts,
        "last_successful_stream_ordering": record.last_successful_stream_ordering,
    })
}

fn destination(raw: &str) -> Result<OwnedServerName, ApiError> {
    OwnedServerName::try_from(raw).map_err(|_| ApiError(Error::NotFound("Unknown destination".to_owned())))
}

/// `GET /_synapse/admin/v1/federation/destinations`.
pub async fn list(
    State(state): State<AppState>,
    caller: Admin,
    QueryParams(query): QueryParams<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let from = query_int(&query, "from", 0)?;
    let limit = query_int(&query, "limit", 100)?;
    let order = query.get("order_by").map_or("destination", String::as_str);
    if !ORDERS.contains(&order) {
        return Err(invalid(format!("Query parameter 'order_by' must be one of {ORDERS:?}")));
    }
    let backwards = backwards(&query, false)?;
    let search = query.get("destination").map(|d| d.to_lowercase());
    let mut rows: Vec<Value> = state
        .services
        .admin_destinations(&caller.0)
        .await?
        .iter()
        .filter(|(name, _)| search.as_ref().is_none_or(|s| name.as_str().to_lowercase().contains(s.as_str())))
        .map(|(name, record)| described(name, record))
        .collect();
    rows.sort_by(|a, b| {
        let ordering = compare(&a[order], &b[order]);
        let ordering = if backwards { ordering.reverse() } else { ordering };
        ordering.then_with(|| compare(&a["destination"], &b["destination"]))
    });
    let total = rows.len();
    let page: Vec<Value> = rows.into_iter().skip(from).take(limit).collect();
    let mut answer = json!({ "destinations": page, "total": total });
    if from + limit < total {
        answer["next_token"] = json!((from + limit).to_string());
    }
    Ok(Json(answer))
}

/// `GET /_synapse/admin/v1/federation/destinations/{destination}`.
pub async fn get(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let name = destination(&raw)?;
    let record = state.services.admin_destination(&caller.0, &name).await?;
    Ok(Json(described(&name, &record)))
}

/// `GET /_synapse/admin/v1/federation/destinations/{destination}/rooms`.
pub async fn rooms(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
    QueryParams(query): QueryParams<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let name = destination(&raw)?;
    let from = query_int(&query, "from", 0)?;
    let limit = query_int(&query, "limit", 100)?;
    let backwards = backwards(&query, false)?;
    let mut rooms = state.services.admin_destination_rooms(&caller.0, &name).await?;
    rooms.sort_by(|a, b| if backwards { b.0.cmp(&a.0) } else { a.0.cmp(&b.0) });
    let total = rooms.len();
    let page: Vec<Value> = rooms
        .into_iter()
        .skip(from)
        .take(limit)
        .map(|(room_id, ordering)| json!({ "room_id": room_id, "stream_ordering": ordering }))
        .collect();
    let mut answer = json!({ "rooms": page, "total": total });
    if from + limit < total {
        answer["next_token"] = json!((from + limit).to_string());
    }
    Ok(Json(answer))
}

/// `POST /_synapse/admin/v1/federation/destinations/{destination}/reset_connection`.
pub async fn reset_connection(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let name = destination(&raw)?;
    state.services.admin_reset_connection(&caller.0, &name).await?;
    Ok(Json(json!({})))
}
