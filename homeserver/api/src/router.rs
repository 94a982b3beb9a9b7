//! The whole HTTP surface and the layers every request passes through.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use nexus_core::{Error, Services};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{Any, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::web_client::WebClient;
use crate::{admin, client, livekit_jwt, media, nexus, well_known};

#[derive(Clone)]
pub struct AppState {
    pub services: Arc<Services>,
    /// Bodies larger than this are refused with M_TOO_LARGE.
    pub max_request_bytes: usize,
    /// The web client served at `/`, when configured.
    pub web_client: Option<WebClient>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(well_known::routes())
        .merge(client::routes())
        .merge(media::routes())
        .merge(admin::routes())
        .merge(nexus::routes())
        .merge(livekit_jwt::routes(&state))
        .fallback(unrouted)
        .method_not_allowed_fallback(wrong_method)
        .layer(middleware::from_fn_with_state(state.clone(), early_answers))
        .layer(cors())
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// The span of one request: its method and path, never its query string
/// (an access token may be there) nor its headers — spans may leave the
/// server (`[logging] otlp_traces_endpoint`).
pub(crate) fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
}

/// The spec asks for these CORS headers on every response, so that web
/// clients on any origin can use the API.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::OPTIONS])
        .allow_headers([HeaderName::from_static("x-requested-with"), header::CONTENT_TYPE, header::AUTHORIZATION])
        .max_age(Duration::from_secs(86_400))
}

/// Answers what needs no handler: bare `OPTIONS` requests (CORS preflights
/// are answered by the CORS layer already), and bodies that announce a
/// length over the limit, before a byte of them is read.
async fn early_answers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() == Method::OPTIONS {
        return StatusCode::NO_CONTENT.into_response();
    }
    let announced =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    // Uploads have their own, larger limit (enforced again while streaming).
    let limit = if request.uri().path().starts_with("/_matrix/media/") {
        state.services.media.max_upload_bytes()
    } else {
        state.max_request_bytes as u64
    };
    if announced.is_some_and(|len| len > limit) {
        let message = format!("request bodies are limited to {limit} bytes");
        return ApiError(Error::TooLarge(message)).into_response();
    }
    next.run(request).await
}

/// A path no API route took: the web client's, or an unknown API path.
async fn unrouted(State(state): State<AppState>, request: Request) -> Response {
    match &state.web_client {
        Some(web) if web.serves(&request) => web.respond(request).await,
        _ => unrecognized().await.into_response(),
    }
}

async fn unrecognized() -> ApiError {
    ApiError(Error::Unrecognized("unrecognized request".to_owned()))
}

async fn wrong_method() -> Response {
    let mut response = unrecognized().await.into_response();
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
}

/// The last line of defence: a bug must cost one request, not the server.
fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError(Error::Internal("a request handler panicked".to_owned())).into_response()
}
