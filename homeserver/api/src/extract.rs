//! Extractors: request bodies (ruma request types or plain JSON, with the
//! spec's M_NOT_JSON / M_BAD_JSON / M_TOO_LARGE), the caller's identity,
//! and the caller's address.

use std::net::{IpAddr, SocketAddr};

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, MatchedPath, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use nexus_core::Error;
use nexus_core::appservice::masquerade::Masquerade;
use nexus_core::tokens::Identity;
use ruma::api::error::{DeserializationError, FromHttpRequestError};
use ruma::api::{IncomingRequest, IncomingRequestExt, OutgoingResponse, OutgoingResponseExt};
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::error::ApiError;
use crate::router::AppState;

async fn read_body(body: Body, state: &AppState) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, state.max_request_bytes).await.map_err(|_| {
        ApiError(Error::TooLarge(format!("request bodies are limited to {} bytes", state.max_request_bytes)))
    })
}

/// Non-empty bodies must be JSON at all before they can be the right JSON.
fn require_json(method: &Method, body: &[u8]) -> Result<(), ApiError> {
    let carries_body = matches!(*method, Method::POST | Method::PUT | Method::PATCH);
    // JSON is UTF-8 (RFC 8259); serde_json would accept some invalid bytes
    // inside strings it skips.
    let is_json = std::str::from_utf8(body).is_ok_and(|text| serde_json::from_str::<IgnoredAny>(text).is_ok());
    if carries_body && !body.is_empty() && !is_json {
        return Err(ApiError(Error::NotJson("the request body is not valid JSON".to_owned())));
    }
    Ok(())
}

/// The endpoints where an absent (empty) body means `{}`. Everywhere else
/// a POST or PUT without a body is `M_NOT_JSON`, as the spec's required
/// request bodies say. The list follows Synapse, the behaviour deployed
/// clients were written against:
/// - joins and the membership actions: Synapse parses these bodies with
///   `allow_empty_body`, and matrix-nio (so matrix-commander and nio bots)
///   sends `POST /join/{roomIdOrAlias}` and `POST /rooms/{id}/leave` bare;
///   without a body, invite, kick, ban and unban then lack their
///   `user_id` (`M_BAD_JSON`), as on Synapse;
/// - forget, logout and logout/all: the spec defines no body and Synapse
///   never reads one;
/// - device deletion: Synapse treats a missing body as `{}` for older
///   clients (and answers with the user-interactive auth challenge).
const ABSENT_BODY_IS_EMPTY_OBJECT: &[(Method, &str)] = &[
    (Method::POST, "/_matrix/client/v3/join/{room_id_or_alias}"),
    (Method::POST, "/_matrix/client/v3/rooms/{room_id}/join"),
    (Method::POST, "/_matrix/client/v3/rooms/{room_id}/leave"),
    (Method::POST, "/_matrix/client/v3/rooms/{room_id}/invite"),
    (Method::POST, "/_matrix/client/v3/rooms/{room_id}/kick"),
    (Method::POST, "/_matrix/client/v3/rooms/{room_id}/ban"),
    (Method::POST, "/_matrix/client/v3/rooms/{room_id}/unban"),
    (Method::POST, "/_matrix/client/v3/rooms/{room_id}/forget"),
    (Method::POST, "/_matrix/client/v3/logout"),
    (Method::POST, "/_matrix/client/v3/logout/all"),
    (Method::POST, "/_matrix/client/v3/delete_devices"),
    (Method::DELETE, "/_matrix/client/v3/devices/{device_id}"),
];

/// The body to parse: `{}` for an empty body where the list above allows
/// it; `M_NOT_JSON` for an empty POST or PUT body elsewhere.
fn body_or_empty_object(parts: &Parts, body: Bytes) -> Result<Bytes, ApiError> {
    if !body.is_empty() {
        return Ok(body);
    }
    let route = parts.extensions.get::<MatchedPath>().map(MatchedPath::as_str);
    let listed =
        ABSENT_BODY_IS_EMPTY_OBJECT.iter().any(|(method, path)| *method == parts.method && Some(*path) == route);
    if listed {
        return Ok(Bytes::from_static(b"{}"));
    }
    if matches!(parts.method, Method::POST | Method::PUT) {
        return Err(ApiError(Error::NotJson("this endpoint needs a JSON body".to_owned())));
    }
    Ok(body)
}

/// Shapes ruma's deserialisers assume rather than check: each is checked
/// here first, so that no input reaches a panic (the catch below stays as
/// the last line). ruma 0.17's `LoginInfo` indexes `data["type"]`, which
/// panics on a login body without `type`.
fn check_shapes_ruma_assumes(parts: &Parts, body: &[u8]) -> Result<(), ApiError> {
    let route = parts.extensions.get::<MatchedPath>().map(MatchedPath::as_str);
    if route == Some("/_matrix/client/v3/login") && parts.method == Method::POST {
        let has_type = serde_json::from_slice::<serde_json::Value>(body)
            .is_ok_and(|login| login.get("type").is_some_and(serde_json::Value::is_string));
        if !has_type {
            return Err(ApiError(Error::BadJson("a login needs a string `type`".to_owned())));
        }
    }
    Ok(())
}

/// A request parsed into ruma's type for the endpoint.
pub struct Ruma<T>(pub T);

impl<T: IncomingRequest> FromRequest<AppState> for Ruma<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (mut parts, body) = request.into_parts();
        let path_params = RawPathParams::from_request_parts(&mut parts, state)
            .await
            .map_err(|e| ApiError(Error::InvalidParam(format!("bad path: {e}"))))?;
        let args: Vec<String> = path_params.iter().map(|(_, value)| value.to_owned()).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let body = body_or_empty_object(&parts, read_body(body, state).await?)?;
        require_json(&parts.method, &body)?;
        check_shapes_ruma_assumes(&parts, &body)?;
        let request = http::Request::from_parts(parts, body.as_ref());
        // Some of ruma's deserialisers panic on malformed input (e.g. a login
        // body without "type"); bad input must be a 400, never a crash.
        let parsed =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| T::try_from_http_request(request, &args)));
        match parsed {
            Ok(Ok(request)) => Ok(Ruma(request)),
            Ok(Err(e)) => Err(ApiError(parse_error(e))),
            Err(_) => Err(ApiError(Error::BadJson("the request does not have the expected shape".to_owned()))),
        }
    }
}

fn parse_error(error: FromHttpRequestError) -> Error {
    match error {
        FromHttpRequestError::Deserialization(DeserializationError::Json(e)) => Error::BadJson(e.to_string()),
        FromHttpRequestError::Deserialization(DeserializationError::Query(e)) => Error::InvalidParam(e.to_string()),
        FromHttpRequestError::Deserialization(DeserializationError::Ident(e)) => Error::InvalidParam(e.to_string()),
        FromHttpRequestError::Deserialization(e) => Error::BadJson(e.to_string()),
        FromHttpRequestError::MethodMismatch { expected, received } => {
            Error::Unrecognized(format!("expected {expected}, got {received}"))
        }
        other => Error::BadJson(other.to_string()),
    }
}

/// A JSON body deserialised with serde, for endpoints whose shape ruma does
/// not pin down (open-ended objects).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        let body = body_or_empty_object(&parts, read_body(body, state).await?)?;
        if body.is_empty() {
            return Err(ApiError(Error::NotJson("this endpoint needs a JSON body".to_owned())));
        }
        require_json(&parts.method, &body)?;
        serde_json::from_slice(&body).map(JsonBody).map_err(|e| ApiError(Error::BadJson(e.to_string())))
    }
}

/// The user and device behind the request's access token.
pub struct Authed(pub Identity);

fn access_token(parts: &Parts) -> Option<String> {
    if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned());
    }
    // Deprecated since v1.11 but still part of the spec.
    let query = parts.uri.query()?;
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "access_token").map(|(_, v)| v.into_owned())
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = access_token(parts).ok_or(ApiError(Error::MissingToken))?;
        Ok(Authed(state.services.authenticate(&token, masquerade(parts)).await?))
    }
}

/// The caller even if their account is locked: only for logging out,
/// which the spec lets a locked account do.
pub struct AuthedEvenLocked(pub Identity);

impl FromRequestParts<AppState> for AuthedEvenLocked {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = access_token(parts).ok_or(ApiError(Error::MissingToken))?;
        Ok(AuthedEvenLocked(state.services.authenticate_even_locked(&token, masquerade(parts)).await?))
    }
}

/// An application service's identity assertion: `user_id`, and the device
/// as `device_id` (MSC4326) or `org.matrix.msc3202.device_id` (MSC3202).
fn masquerade(parts: &Parts) -> Masquerade {
    let mut masquerade = Masquerade::default();
    let Some(query) = parts.uri.query() else { return masquerade };
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "user_id" => masquerade.user_id = Some(value.into_owned()),
            "device_id" | "org.matrix.msc3202.device_id" => masquerade.device_id = Some(value.into_owned()),
            _ => {}
        }
    }
    masquerade
}

/// `?ts=` (MSC3316): the `origin_server_ts` an application service asks
/// for; handlers honour it only when an appservice is the caller.
pub struct AppserviceTs(pub Option<u64>);

impl FromRequestParts<AppState> for AppserviceTs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, ApiError> {
        let Some(query) = parts.uri.query() else { return Ok(AppserviceTs(None)) };
        let Some((_, raw)) = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "ts") else {
            return Ok(AppserviceTs(None));
        };
        let ts = raw.parse::<u64>().map_err(|_| {
            ApiError(Error::InvalidParam(format!("ts must be a timestamp in milliseconds, not {raw:?}")))
        })?;
        Ok(AppserviceTs(Some(ts)))
    }
}

/// The access token, if the request carries one, unchecked: for the
/// endpoints where an appservice's token is optional (register, login).
pub struct AccessToken(pub Option<String>);

impl FromRequestParts<AppState> for AccessToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, ApiError> {
        Ok(AccessToken(access_token(parts)))
    }
}

/// The caller where an access token is optional: `None` without one; a
/// token that is given must be valid.
pub struct MaybeAuthed(pub Option<Identity>);

impl FromRequestParts<AppState> for MaybeAuthed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match access_token(parts) {
            Some(token) => Ok(MaybeAuthed(Some(state.services.authenticate(&token, masquerade(parts)).await?))),
            None => Ok(MaybeAuthed(None)),
        }
    }
}

/// The address of the client, for rate limits and device "last seen".
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, ApiError> {
        Ok(ClientIp(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())))
    }
}

/// A ruma response on its way out.
pub struct RumaResponse<T>(pub T);

impl<T: OutgoingResponse> IntoResponse for RumaResponse<T> {
    fn into_response(self) -> Response {
        match self.0.try_into_http_response::<Vec<u8>>() {
            Ok(response) => response.map(Body::from).into_response(),
            Err(e) => ApiError(Error::Internal(format!("response serialisation failed: {e}"))).into_response(),
        }
    }
}

/// Query parameters, with the spec's errors (`M_MISSING_PARAM`,
/// `M_INVALID_PARAM`) instead of axum's plain-text rejections.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned> FromRequestParts<AppState> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(QueryParams(value)),
            Err(rejection) => {
                let detail = rejection.body_text();
                Err(ApiError(if detail.contains("missing field") {
                    Error::MissingParam(detail)
                } else {
                    Error::InvalidParam(detail)
                }))
            }
        }
    }
}

/// Path parameters, with `M_INVALID_PARAM` for undecodable ones.
pub struct PathParams<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(PathParams(value)),
            Err(rejection) => Err(ApiError(Error::InvalidParam(rejection.body_text()))),
        }
    }
}
