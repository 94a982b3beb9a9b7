//! The server-server API, served on the federation (TLS) listener: key
//! discovery, transactions, room membership and history, and queries.

mod keys;
mod media;
mod queries;
mod rooms;
mod spaces;

use axum::Router;
use axum::extract::{FromRequest, Request};
use axum::routing::{get, post, put};
use bytes::Bytes;
use nexus_core::Error;
use nexus_core::federation::SignedRequest;
use ruma::OwnedServerName;
use serde::de::DeserializeOwned;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::router::AppState;

/// Transactions carry up to 50 PDUs of 64 KiB and 100 EDUs.
const MAX_FEDERATION_BODY: usize = 16 * 1024 * 1024;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/_matrix/key/v2/server", get(keys::server_keys))
        .route("/_matrix/key/v2/server/{key_id}", get(keys::server_keys))
        .route("/_matrix/key/v2/query", post(keys::query_batch))
        .route("/_matrix/key/v2/query/{server_name}", get(keys::query_one))
        .route("/_matrix/federation/v1/version", get(queries::version))
        .route("/_matrix/federation/v1/send/{txn_id}", put(rooms::send_transaction))
        .route("/_matrix/federation/v1/make_join/{room_id}/{user_id}", get(rooms::make_join))
        .route("/_matrix/federation/v1/make_leave/{room_id}/{user_id}", get(rooms::make_leave))
        .route("/_matrix/federation/v1/make_knock/{room_id}/{user_id}", get(rooms::make_knock))
        .route("/_matrix/federation/v2/send_join/{room_id}/{event_id}", put(rooms::send_join))
        .route("/_matrix/federation/v2/send_leave/{room_id}/{event_id}", put(rooms::send_leave))
        .route("/_matrix/federation/v1/send_knock/{room_id}/{event_id}", put(rooms::send_knock))
        .route("/_matrix/federation/v2/invite/{room_id}/{event_id}", put(rooms::invite))
        .route("/_matrix/federation/v1/event/{event_id}", get(rooms::event))
        .route("/_matrix/federation/v1/state_ids/{room_id}", get(rooms::state_ids))
        .route("/_matrix/federation/v1/state/{room_id}", get(rooms::state))
        .route("/_matrix/federation/v1/event_auth/{room_id}/{event_id}", get(rooms::event_auth))
        .route("/_matrix/federation/v1/backfill/{room_id}", get(rooms::backfill))
        .route("/_matrix/federation/v1/get_missing_events/{room_id}", post(rooms::missing_events))
        .route("/_matrix/federation/v1/hierarchy/{room_id}", get(spaces::hierarchy))
        .route("/_matrix/federation/v1/query/profile", get(queries::profile))
        .route("/_matrix/federation/v1/openid/userinfo", get(queries::openid_userinfo))
        .route("/_matrix/federation/v1/publicRooms", get(queries::public_rooms).post(queries::search_public_rooms))
        .route("/_matrix/federation/v1/query/directory", get(queries::directory))
        .route("/_matrix/federation/v1/user/keys/query", post(queries::user_keys_query))
        .route("/_matrix/federation/v1/user/keys/claim", post(queries::user_keys_claim))
        .route("/_matrix/federation/v1/user/devices/{user_id}", get(queries::user_devices))
        .route("/_matrix/federation/v1/media/download/{media_id}", get(media::download))
        .route("/_matrix/federation/v1/media/thumbnail/{media_id}", get(media::thumbnail))
        .fallback(unrecognized)
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(ApiError(Error::Internal("a handler panicked".to_owned())))
        }))
        .layer(TraceLayer::new_for_http().make_span_with(crate::router::request_span))
        .with_state(state)
}

async fn unrecognized() -> ApiError {
    ApiError(Error::Unrecognized("unrecognized request".to_owned()))
}

/// A request signed by another server: who sent it, and its body.
pub struct Signed {
    pub origin: OwnedServerName,
    pub body: Bytes,
    /// The query string's pairs, in order (keys may repeat: `ver`, `v`).
    pub query: Vec<(String, String)>,
}

impl Signed {
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        if self.body.is_empty() {
            return Err(ApiError(Error::NotJson("this endpoint needs a JSON body".to_owned())));
        }
        serde_json::from_slice(&self.body).map_err(|e| ApiError(Error::BadJson(e.to_string())))
    }

    pub fn query_all(&self, key: &str) -> Vec<&str> {
        self.query.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }

    pub fn query_one(&self, key: &str) -> Option<&str> {
        self.query_all(key).into_iter().next()
    }
}

impl FromRequest<AppState> for Signed {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, MAX_FEDERATION_BODY).await.map_err(|_| {
            ApiError(Error::TooLarge(format!("request bodies are limited to {MAX_FEDERATION_BODY} bytes")))
        })?;
        let uri = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let authorization = parts.headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let origin = state
            .services
            .federation
            .authenticate(SignedRequest { method: parts.method.as_str(), uri, authorization, body: &body })
            .await?;
        let query =
            parts.uri.query().map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
        Ok(Signed { origin, body, query })
    }
}
