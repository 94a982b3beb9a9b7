//! This server's media for other servers (`/_matrix/federation/v1/media/*`):
//! a `multipart/mixed` answer — metadata (empty), then the content.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use futures::StreamExt;
use nexus_core::Error;
use nexus_core::media::Content;
use nexus_core::media::remote::{BOUNDARY, multipart_frame};
use nexus_core::media::thumbnails::Method;

use super::Signed;
use crate::error::{ApiError, ApiResult};
use crate::extract::PathParams;
use crate::router::AppState;

async fn multipart(content: Content) -> ApiResult<Response> {
    let file = tokio::fs::File::open(&content.path)
        .await
        .map_err(|e| ApiError(Error::Internal(format!("media file missing: {e}"))))?;
    let (head, tail) = multipart_frame(&content.content_type, content.filename.as_deref());
    let length = head.len() as u64 + content.size + tail.len() as u64;
    let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(bytes::Bytes::from(head)) })
        .chain(tokio_util::io::ReaderStream::new(file))
        .chain(futures::stream::once(async move { Ok(bytes::Bytes::from(tail)) }));
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    let content_type = format!("multipart/mixed; boundary={BOUNDARY}");
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(&content_type).expect("an ASCII header"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    *response.status_mut() = StatusCode::OK;
    Ok(response)
}

pub async fn download(
    State(state): State<AppState>,
    PathParams(media_id): PathParams<String>,
    _signed: Signed,
) -> ApiResult<Response> {
    let own = state.services.server_name().to_owned();
    multipart(state.services.media.content(&own, &media_id).await?).await
}

pub async fn thumbnail(
    State(state): State<AppState>,
    PathParams(media_id): PathParams<String>,
    signed: Signed,
) -> ApiResult<Response> {
    let size = |name: &str| -> ApiResult<u32> {
        signed
            .query_one(name)
            .ok_or_else(|| ApiError(Error::MissingParam(format!("{name} is required"))))?
            .parse()
            .map_err(|e| ApiError(Error::InvalidParam(format!("{name}: {e}"))))
    };
    let (width, height) = (size("width")?, size("height")?);
    let method = match signed.query_one("method") {
        None => Method::Scale,
        Some(raw) => Method::parse(raw)
            .ok_or_else(|| ApiError(Error::InvalidParam("method must be crop or scale".to_owned())))?,
    };
    let animated = signed.query_one("animated") == Some("true");
    let own = state.services.server_name().to_owned();
    multipart(state.services.media.thumbnail(&own, &media_id, width, height, method, animated).await?).await
}
