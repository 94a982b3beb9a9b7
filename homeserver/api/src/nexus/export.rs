//! Personal data export (extensions-spec §23): start one, see how it goes,
//! download the archive (with `Range`, so a broken download resumes),
//! delete it. Thin over `core::export`.

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nexus_core::Error;
use nexus_core::export::{ExportRecord, MessageScope};
use serde_json::{Map, Value, json};
use tower::ServiceExt;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, JsonBody, PathParams};
use crate::router::AppState;

fn described(record: &ExportRecord) -> Value {
    json!({
        "export_id": record.export_id,
        "status": record.status,
        "messages": record.messages,
        "created_ts": record.created_ts,
        "completed_ts": record.completed_ts,
        "expires_ts": record.expires_ts,
        "size": record.size,
        "progress": { "rooms_done": record.rooms_done, "rooms_total": record.rooms_total },
        "error": record.error,
    })
}

/// `POST /_nexus/client/v1/export` `{messages?: "visible" | "own"}`.
pub async fn start(
    State(state): State<AppState>,
    Authed(caller): Authed,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let messages = match body.get("messages").map(|v| v.as_str()) {
        None | Some(Some("visible")) => MessageScope::Visible,
        Some(Some("own")) => MessageScope::Own,
        Some(_) => return Err(ApiError(Error::BadJson("messages must be \"visible\" or \"own\"".into()))),
    };
    let record = state.services.start_export(&caller, messages).await?;
    Ok((StatusCode::ACCEPTED, Json(described(&record))))
}

/// `GET /_nexus/client/v1/export`: the caller's exports.
pub async fn list(State(state): State<AppState>, Authed(caller): Authed) -> ApiResult<Json<Value>> {
    let exports: Vec<Value> = state.services.exports_of(&caller).await?.iter().map(described).collect();
    Ok(Json(json!({ "exports": exports })))
}

/// `GET /_nexus/client/v1/export/{exportId}`.
pub async fn get(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(export_id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(described(&state.services.export(&caller, &export_id).await?)))
}

/// `DELETE /_nexus/client/v1/export/{exportId}`.
pub async fn delete(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(export_id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    state.services.delete_export(&caller, &export_id).await?;
    Ok(Json(json!({})))
}

/// `GET /_nexus/client/v1/export/{exportId}/download`: the zip archive.
pub async fn download(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(export_id): PathParams<String>,
    request: Request,
) -> ApiResult<Response> {
    let path = state.services.export_archive(&caller, &export_id).await?;
    let served = tower_http::services::ServeFile::new(&path)
        .oneshot(request)
        .await
        .map_err(|e| ApiError(Error::Internal(format!("serving an export: {e}"))))?;
    if served.status() == StatusCode::NOT_FOUND {
        return Err(ApiError(Error::NotFound("the archive is gone".to_owned())));
    }
    let mut response = served.map(Body::new).into_response();
    let disposition = format!("attachment; filename=\"nexus-export-{export_id}.zip\"");
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
