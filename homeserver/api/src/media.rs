//! The content repository (spec: client-server API, "Content repository"):
//! authenticated `/_matrix/client/v1/media/*`, and the legacy
//! `/_matrix/media/v3/*` (frozen for downloads unless configured).

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use futures::StreamExt;
use nexus_core::Error;
use nexus_core::media::{Content, Method};
use serde::Deserialize;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, PathParams, QueryParams};
use crate::ids::server_name;
use crate::router::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_matrix/client/v1/media/config", get(config))
        .route("/_matrix/media/v3/config", get(config))
        .route("/_matrix/media/v3/upload", post(upload))
        .route("/_matrix/media/v1/create", post(create))
        .route("/_matrix/media/v3/upload/{server_name}/{media_id}", put(upload_to))
        .route("/_matrix/client/v1/media/download/{server_name}/{media_id}", get(download))
        .route("/_matrix/client/v1/media/download/{server_name}/{media_id}/{file_name}", get(download_named))
        .route("/_matrix/client/v1/media/thumbnail/{server_name}/{media_id}", get(thumbnail))
        .route("/_matrix/media/v3/download/{server_name}/{media_id}", get(legacy_download))
        .route("/_matrix/media/v3/download/{server_name}/{media_id}/{file_name}", get(legacy_download_named))
        .route("/_matrix/media/v3/thumbnail/{server_name}/{media_id}", get(legacy_thumbnail))
        .route("/_matrix/client/v1/media/preview_url", get(preview_url))
        .route("/_matrix/media/v3/preview_url", get(legacy_preview_url))
}

#[derive(Deserialize)]
pub struct PreviewQuery {
    url: String,
    /// Accepted: previews are fetched now, never from a past snapshot.
    #[serde(default)]
    #[allow(dead_code)]
    ts: Option<u64>,
}

async fn preview_url(
    State(state): State<AppState>,
    _caller: Authed,
    QueryParams(query): QueryParams<PreviewQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(state.services.media.preview(&query.url).await?))
}

async fn legacy_preview_url(
    State(state): State<AppState>,
    caller: Authed,
    query: QueryParams<PreviewQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    if state.services.media.legacy_frozen() {
        return Err(frozen());
    }
    preview_url(State(state), caller, query).await
}

async fn config(State(state): State<AppState>, _caller: Authed) -> impl IntoResponse {
    Json(json!({ "m.upload.size": state.services.media.max_upload_bytes() }))
}

#[derive(Deserialize)]
pub struct UploadQuery {
    filename: Option<String>,
}

fn content_type(request: &Request) -> Option<String> {
    request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

async fn upload(
    State(state): State<AppState>,
    Authed(caller): Authed,
    QueryParams(query): QueryParams<UploadQuery>,
    request: Request,
) -> ApiResult<impl IntoResponse> {
    let kind = content_type(&request);
    let body = request.into_body().into_data_stream().boxed();
    let uri = state.services.media.upload(&caller.user_id, None, kind, query.filename, body).await?;
    Ok(Json(json!({ "content_uri": uri })))
}

async fn create(State(state): State<AppState>, Authed(caller): Authed) -> ApiResult<impl IntoResponse> {
    let (uri, expires_at) = state.services.media.create(&caller.user_id).await?;
    Ok(Json(json!({ "content_uri": uri, "unused_expires_at": expires_at })))
}

async fn upload_to(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams((server, media_id)): PathParams<(String, String)>,
    QueryParams(query): QueryParams<UploadQuery>,
    request: Request,
) -> ApiResult<impl IntoResponse> {
    let server = server_name(&server)?;
    let kind = content_type(&request);
    let body = request.into_body().into_data_stream().boxed();
    state.services.media.upload(&caller.user_id, Some((&server, &media_id)), kind, query.filename, body).await?;
    Ok(Json(json!({})))
}

/// Types a browser may show inline without risk; anything else is served
/// as an attachment (spec: "Content-Disposition" and the content repo's
/// security considerations).
const INLINE_TYPES: &[&str] = &[
    "text/css",
    "text/plain",
    "text/csv",
    "application/json",
    "application/ld+json",
    "image/jpeg",
    "image/gif",
    "image/png",
    "image/apng",
    "image/webp",
    "image/avif",
    "video/mp4",
    "video/webm",
    "video/ogg",
    "video/quicktime",
    "audio/mp4",
    "audio/webm",
    "audio/aac",
    "audio/mpeg",
    "audio/ogg",
    "audio/wave",
    "audio/wav",
    "audio/x-wav",
    "audio/x-pn-wav",
    "audio/flac",
    "audio/x-flac",
];

async fn serve(content: Content, file_name: Option<String>) -> ApiResult<Response> {
    let file = tokio::fs::File::open(&content.path)
        .await
        .map_err(|e| ApiError(Error::Internal(format!("media file missing: {e}"))))?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let essence = content.content_type.split(';').next().unwrap_or_default().trim().to_lowercase();
    let disposition = if INLINE_TYPES.contains(&essence.as_str()) { "inline" } else { "attachment" };
    let name = file_name.or(content.filename);
    let disposition = match name {
        // RFC 6266 / 8187: the UTF-8 name, percent-encoded.
        Some(name) => format!("{disposition}; filename*=utf-8''{}", percent_encode(&name)),
        None => disposition.to_owned(),
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    let header_value =
        |v: &str| HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, header_value(&content.content_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(content.size));
    headers.insert(header::CONTENT_DISPOSITION, header_value(&disposition));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src 'unsafe-inline'; media-src 'self'; object-src 'self';",
        ),
    );
    headers.insert("cross-origin-resource-policy", HeaderValue::from_static("cross-origin"));
    *response.status_mut() = StatusCode::OK;
    Ok(response)
}

fn percent_encode(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

async fn fetch(state: &AppState, server: &str, media_id: &str, file_name: Option<String>) -> ApiResult<Response> {
    let server = server_name(server)?;
    let content = state.services.media.content(&server, media_id).await?;
    serve(content, file_name).await
}

async fn download(
    State(state): State<AppState>,
    _caller: Authed,
    PathParams((server, media_id)): PathParams<(String, String)>,
) -> ApiResult<Response> {
    fetch(&state, &server, &media_id, None).await
}

async fn download_named(
    State(state): State<AppState>,
    _caller: Authed,
    PathParams((server, media_id, file_name)): PathParams<(String, String, String)>,
) -> ApiResult<Response> {
    fetch(&state, &server, &media_id, Some(file_name)).await
}

#[derive(Deserialize)]
pub struct ThumbnailQuery {
    width: u32,
    height: u32,
    method: Option<String>,
    /// An animated thumbnail of an animated source, when one can be made.
    #[serde(default)]
    animated: bool,
}

async fn make_thumbnail(state: &AppState, server: &str, media_id: &str, query: ThumbnailQuery) -> ApiResult<Response> {
    let server = server_name(server)?;
    let method = match query.method.as_deref() {
        None => Method::Scale,
        Some(raw) => Method::parse(raw)
            .ok_or_else(|| ApiError(Error::InvalidParam("method must be crop or scale".to_owned())))?,
    };
    let content =
        state.services.media.thumbnail(&server, media_id, query.width, query.height, method, query.animated).await?;
    serve(content, None).await
}

async fn thumbnail(
    State(state): State<AppState>,
    _caller: Authed,
    PathParams((server, media_id)): PathParams<(String, String)>,
    QueryParams(query): QueryParams<ThumbnailQuery>,
) -> ApiResult<Response> {
    make_thumbnail(&state, &server, &media_id, query).await
}

fn frozen() -> ApiError {
    ApiError(Error::NotFound("media is only served through /_matrix/client/v1/media".to_owned()))
}

async fn legacy_download(
    State(state): State<AppState>,
    PathParams((server, media_id)): PathParams<(String, String)>,
) -> ApiResult<Response> {
    if state.services.media.legacy_frozen() {
        return Err(frozen());
    }
    fetch(&state, &server, &media_id, None).await
}

async fn legacy_download_named(
    State(state): State<AppState>,
    PathParams((server, media_id, file_name)): PathParams<(String, String, String)>,
) -> ApiResult<Response> {
    if state.services.media.legacy_frozen() {
        return Err(frozen());
    }
    fetch(&state, &server, &media_id, Some(file_name)).await
}

async fn legacy_thumbnail(
    State(state): State<AppState>,
    PathParams((server, media_id)): PathParams<(String, String)>,
    QueryParams(query): QueryParams<ThumbnailQuery>,
) -> ApiResult<Response> {
    if state.services.media.legacy_frozen() {
        return Err(frozen());
    }
    make_thumbnail(&state, &server, &media_id, query).await
}
