//! Media in the admin API: a user's media (list, delete), one item (facts,
//! delete), quarantine and protection, a room's media, bulk deletion by
//! age and size, the remote cache's purge and per-user statistics —
//! Synapse's shapes, as synapse-admin's media tab and pages use them.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use nexus_core::Error;
use nexus_core::media::Record;
use ruma::{OwnedServerName, OwnedUserId};
use serde_json::{Value, json};

use super::Admin;
use super::query::{backwards, compare, invalid, legal_room, query_bool, query_int};
use crate::error::{ApiError, ApiResult};
use crate::extract::{PathParams, QueryParams};
use crate::router::AppState;

/// The orders of a user's media list.
const MEDIA_ORDERS: [&str; 8] = [
    "media_id",
    "upload_name",
    "created_ts",
    "last_access_ts",
    "media_length",
    "media_type",
    "quarantined_by",
    "safe_from_quarantine",
];

/// Timestamps before this are surely seconds, not milliseconds (Synapse's
/// guard against a common mistake).
const YEAR_1970_GUARD: u64 = 30_000_000_000;

fn user(raw: &str) -> Result<OwnedUserId, ApiError> {
    crate::ids::user_id(raw)
}

fn server(raw: &str) -> Result<OwnedServerName, ApiError> {
    OwnedServerName::try_from(raw).map_err(|_| invalid(format!("{raw} is not a server name")))
}

fn item(id: &str, record: &Record) -> Value {
    json!({
        "media_id": id,
        "media_type": record.content_type,
        "media_length": record.size,
        "upload_name": record.filename,
        "created_ts": record.created_ts,
        "last_access_ts": null,
        "quarantined_by": record.quarantined_by,
        "safe_from_quarantine": record.safe_from_quarantine,
        "url_cache": null,
        "user_id": record.uploader,
        "authenticated": true,
        "sha256": record.sha256,
    })
}

/// The page of a user's media the query asks for, and the total.
async fn user_page(
    state: &AppState,
    caller: &Admin,
    raw: &str,
    query: &HashMap<String, String>,
) -> ApiResult<(Vec<Value>, usize, usize, usize)> {
    let user = user(raw)?;
    let from = query_int(query, "from", 0)?;
    let limit = query_int(query, "limit", 100)?;
    let explicit = query.contains_key("order_by") || query.contains_key("dir");
    let order = query.get("order_by").map_or("created_ts", String::as_str);
    if !MEDIA_ORDERS.contains(&order) {
        return Err(invalid(format!("Query parameter 'order_by' must be one of {MEDIA_ORDERS:?}")));
    }
    // Newest first unless the caller chose an order.
    let backwards = backwards(query, !explicit)?;
    let mut items: Vec<Value> = state
        .services
        .admin_user_media(&caller.0, &user)
        .await?
        .iter()
        .filter(|(_, record)| record.sha256.is_some())
        .map(|(id, record)| item(id, record))
        .collect();
    items.sort_by(|a, b| {
        let ordering = compare(&a[order], &b[order]).then_with(|| compare(&a["media_id"], &b["media_id"]));
        if backwards { ordering.reverse() } else { ordering }
    });
    let total = items.len();
    Ok((items.into_iter().skip(from).take(limit).collect(), total, from, limit))
}

/// `GET /_synapse/admin/v1/users/{userId}/media`.
pub async fn user_media(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
    QueryParams(query): QueryParams<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let (page, total, from, limit) = user_page(&state, &caller, &raw, &query).await?;
    let mut answer = json!({ "media": page, "total": total });
    if from + limit < total {
        answer["next_token"] = json!(from + limit);
    }
    Ok(Json(answer))
}

/// `DELETE /_synapse/admin/v1/users/{userId}/media`: the page selected.
pub async fn delete_user_media(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
    QueryParams(query): QueryParams<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let (page, _, _, _) = user_page(&state, &caller, &raw, &query).await?;
    let ids: Vec<String> = page.iter().filter_map(|m| m["media_id"].as_str().map(str::to_owned)).collect();
    let own = state.services.server_name().to_owned();
    let deleted = state.services.admin_delete_media(&caller.0, &own, &ids).await?;
    Ok(Json(json!({ "deleted_media": deleted, "total": deleted.len() })))
}

/// `GET /_synapse/admin/v1/media/{serverName}/{mediaId}`.
pub async fn info(
    State(state): State<AppState>,
    caller: Admin,
    PathParams((raw_server, media_id)): PathParams<(String, String)>,
) -> ApiResult<Json<Value>> {
    let origin = server(&raw_server)?;
    let record = state.services.admin_media_info(&caller.0, &origin, &media_id).await?;
    let local = origin == state.services.server_name();
    let mut info = item(&media_id, &record);
    info["media_origin"] = if local { Value::Null } else { json!(origin) };
    if !local {
        info["user_id"] = Value::Null;
        info["safe_from_quarantine"] = Value::Null;
    }
    info["filesystem_id"] = Value::Null;
    Ok(Json(json!({ "media_info": info })))
}

/// `DELETE /_synapse/admin/v1/media/{serverName}/{mediaId}`.
pub async fn delete(
    State(state): State<AppState>,
    caller: Admin,
    PathParams((raw_server, media_id)): PathParams<(String, String)>,
) -> ApiResult<Json<Value>> {
    let origin = server(&raw_server)?;
    let deleted = state.services.admin_delete_media(&caller.0, &origin, std::slice::from_ref(&media_id)).await?;
    if deleted.is_empty() {
        return Err(ApiError(Error::NotFound("Unknown media".to_owned())));
    }
    Ok(Json(json!({ "deleted_media": deleted, "total": deleted.len() })))
}

/// `POST /_synapse/admin/v1/media/quarantine/{serverName}/{mediaId}`.
pub async fn quarantine(
    State(state): State<AppState>,
    caller: Admin,
    PathParams((raw_server, media_id)): PathParams<(String, String)>,
) -> ApiResult<Json<Value>> {
    state.services.admin_quarantine(&caller.0, &server(&raw_server)?, &media_id, true).await?;
    Ok(Json(json!({})))
}

/// `POST /_synapse/admin/v1/media/unquarantine/{serverName}/{mediaId}`.
pub async fn unquarantine(
    State(state): State<AppState>,
    caller: Admin,
    PathParams((raw_server, media_id)): PathParams<(String, String)>,
) -> ApiResult<Json<Value>> {
    state.services.admin_quarantine(&caller.0, &server(&raw_server)?, &media_id, false).await?;
    Ok(Json(json!({})))
}

/// `POST /_synapse/admin/v1/media/protect/{mediaId}`.
pub async fn protect(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(media_id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    state.services.admin_protect(&caller.0, &media_id, true).await?;
    Ok(Json(json!({})))
}

/// `POST /_synapse/admin/v1/media/unprotect/{mediaId}`.
pub async fn unprotect(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(media_id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    state.services.admin_protect(&caller.0, &media_id, false).await?;
    Ok(Json(json!({})))
}

/// `POST /_synapse/admin/v1/user/{userId}/media/quarantine`.
pub async fn quarantine_user(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let count = state.services.admin_quarantine_user_media(&caller.0, &user(&raw)?).await?;
    Ok(Json(json!({ "num_quarantined": count })))
}

/// `GET /_synapse/admin/v1/room/{roomId}/media`.
pub async fn room_media(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let (local, remote) = state.services.admin_room_media(&caller.0, &legal_room(&raw)?).await?;
    Ok(Json(json!({ "local": local, "remote": remote })))
}

/// `POST /_synapse/admin/v1/room/{roomId}/media/quarantine`.
pub async fn quarantine_room(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let count = state.services.admin_quarantine_room_media(&caller.0, &legal_room(&raw)?).await?;
    Ok(Json(json!({ "num_quarantined": count })))
}

/// A required timestamp query parameter, refused when it looks like
/// seconds.
fn required_ts(query: &HashMap<String, String>, name: &str) -> Result<u64, ApiError> {
    let Some(raw) = query.get(name) else {
        return Err(ApiError(Error::MissingParam(format!("Missing integer query parameter '{name}'"))));
    };
    let ts = raw.parse::<u64>().map_err(|_| invalid(format!("Query parameter {name} must be a positive integer.")))?;
    if ts < YEAR_1970_GUARD {
        return Err(invalid(format!(
            "Query parameter {name} must be a timestamp in milliseconds; this one looks like seconds (from the year 1970)"
        )));
    }
    Ok(ts)
}

/// `POST /_synapse/admin/v1/media/delete?before_ts=&size_gt=&keep_profiles=`.
pub async fn delete_old(
    State(state): State<AppState>,
    caller: Admin,
    QueryParams(query): QueryParams<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let before_ts = required_ts(&query, "before_ts")?;
    let size_gt = query_int(&query, "size_gt", 0)? as u64;
    let keep_profiles = query_bool(&query, "keep_profiles")?.unwrap_or(true);
    let deleted = state.services.admin_delete_old_media(&caller.0, before_ts, size_gt, keep_profiles).await?;
    Ok(Json(json!({ "deleted_media": deleted, "total": deleted.len() })))
}

/// `POST /_synapse/admin/v1/purge_media_cache?before_ts=`.
pub async fn purge_cache(
    State(state): State<AppState>,
    caller: Admin,
    QueryParams(query): QueryParams<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let before_ts = required_ts(&query, "before_ts")?;
    let deleted = state.services.admin_purge_media_cache(&caller.0, before_ts).await?;
    Ok(Json(json!({ "deleted": deleted })))
}

const STATS_ORDERS: [&str; 4] = ["user_id", "displayname", "media_length", "media_count"];

/// `GET /_synapse/admin/v1/statistics/users/media`.
pub async fn statistics(
    State(state): State<AppState>,
    caller: Admin,
    QueryParams(query): QueryParams<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let from = query_int(&query, "from", 0)?;
    let limit = query_int(&query, "limit", 100)?;
    let from_ts = query_int(&query, "from_ts", 0)? as u64;
    let until_ts = match query.get("until_ts") {
        Some(_) => Some(query_int(&query, "until_ts", 0)? as u64),
        None => None,
    };
    if until_ts.is_some_and(|until| until <= from_ts) {
        return Err(invalid("Query parameter until_ts must be greater than from_ts."));
    }
    let order = query.get("order_by").map_or("user_id", String::as_str);
    if !STATS_ORDERS.contains(&order) {
        return Err(invalid(format!("Query parameter 'order_by' must be one of {STATS_ORDERS:?}")));
    }
    let search = match query.get("search_term") {
        Some(term) if term.is_empty() => return Err(invalid("Query parameter search_term cannot be an empty string")),
        Some(term) => Some(term.to_lowercase()),
        None => None,
    };
    let backwards = backwards(&query, false)?;
    let mut users: Vec<Value> = state
        .services
        .admin_media_statistics(&caller.0, from_ts, until_ts)
        .await?
        .into_iter()
        .filter(|(user, name, _)| {
            search.as_ref().is_none_or(|term| {
                user.localpart().contains(term.as_str())
                    || name.as_ref().is_some_and(|n| n.to_lowercase().contains(term.as_str()))
            })
        })
        .map(|(user, name, stats)| {
            json!({
                "user_id": user,
                "displayname": name,
                "media_count": stats.media_count,
                "media_length": stats.media_length,
            })
        })
        .collect();
    users.sort_by(|a, b| {
        let ordering = compare(&a[order], &b[order]).then_with(|| compare(&a["user_id"], &b["user_id"]));
        if backwards { ordering.reverse() } else { ordering }
    });
    let total = users.len();
    let page: Vec<Value> = users.into_iter().skip(from).take(limit).collect();
    let mut answer = json!({ "users": page, "total": total });
    if from + limit < total {
        answer["next_token"] = json!(from + limit);
    }
    Ok(Json(answer))
}
