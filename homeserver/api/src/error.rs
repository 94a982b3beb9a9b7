//! Rendering of `nexus_core::Error` as the spec's `{errcode, error}` bodies.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nexus_core::Error;
use nexus_core::uia::UiaChallenge;
use serde_json::{Value, json};

/// A service error on its way to the client.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

fn status_and_code(error: &Error) -> (StatusCode, &'static str) {
    match error {
        Error::Forbidden(_) => (StatusCode::FORBIDDEN, "M_FORBIDDEN"),
        Error::UnknownToken { .. } => (StatusCode::UNAUTHORIZED, "M_UNKNOWN_TOKEN"),
        Error::MissingToken => (StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN"),
        Error::UserLocked => (StatusCode::UNAUTHORIZED, "M_USER_LOCKED"),
        Error::UserSuspended(_) => (StatusCode::FORBIDDEN, "M_USER_SUSPENDED"),
        Error::NotFound(_) => (StatusCode::NOT_FOUND, "M_NOT_FOUND"),
        Error::UnknownPos(_) => (StatusCode::BAD_REQUEST, "M_UNKNOWN_POS"),
        Error::UserInUse => (StatusCode::BAD_REQUEST, "M_USER_IN_USE"),
        Error::InvalidUsername(_) => (StatusCode::BAD_REQUEST, "M_INVALID_USERNAME"),
        Error::GuestAccessForbidden => (StatusCode::FORBIDDEN, "M_GUEST_ACCESS_FORBIDDEN"),
        Error::LimitExceeded { .. } => (StatusCode::TOO_MANY_REQUESTS, "M_LIMIT_EXCEEDED"),
        Error::InvalidParam(_) => (StatusCode::BAD_REQUEST, "M_INVALID_PARAM"),
        Error::MissingParam(_) => (StatusCode::BAD_REQUEST, "M_MISSING_PARAM"),
        Error::BadJson(_) => (StatusCode::BAD_REQUEST, "M_BAD_JSON"),
        Error::NotJson(_) => (StatusCode::BAD_REQUEST, "M_NOT_JSON"),
        Error::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "M_TOO_LARGE"),
        Error::Unrecognized(_) => (StatusCode::NOT_FOUND, "M_UNRECOGNIZED"),
        Error::BadRequest(_) => (StatusCode::BAD_REQUEST, "M_UNKNOWN"),
        Error::InvalidSignature(_) => (StatusCode::BAD_REQUEST, "M_INVALID_SIGNATURE"),
        Error::WrongRoomKeysVersion { .. } => (StatusCode::FORBIDDEN, "M_WRONG_ROOM_KEYS_VERSION"),
        Error::CannotOverwriteMedia(_) => (StatusCode::CONFLICT, "M_CANNOT_OVERWRITE_MEDIA"),
        Error::NotYetUploaded(_) => (StatusCode::GATEWAY_TIMEOUT, "M_NOT_YET_UPLOADED"),
        Error::ServerControlled(_) => (StatusCode::METHOD_NOT_ALLOWED, "M_BAD_JSON"),
        Error::UnsupportedRoomVersion(_) => (StatusCode::BAD_REQUEST, "M_UNSUPPORTED_ROOM_VERSION"),
        Error::RoomInUse(_) => (StatusCode::BAD_REQUEST, "M_ROOM_IN_USE"),
        Error::AliasExists(_) => (StatusCode::CONFLICT, "M_UNKNOWN"),
        Error::DuplicateAnnotation(_) => (StatusCode::BAD_REQUEST, "M_DUPLICATE_ANNOTATION"),
        Error::InvalidRoomState(_) => (StatusCode::BAD_REQUEST, "M_INVALID_ROOM_STATE"),
        Error::ThreepidMediumNotSupported(_) => (StatusCode::BAD_REQUEST, "M_THREEPID_MEDIUM_NOT_SUPPORTED"),
        Error::WeakPassword(_) => (StatusCode::BAD_REQUEST, "M_WEAK_PASSWORD"),
        Error::UserDeactivated(_) => (StatusCode::FORBIDDEN, "M_USER_DEACTIVATED"),
        Error::AuthRequired(_) => (StatusCode::UNAUTHORIZED, "M_FORBIDDEN"),
        Error::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED"),
        Error::Remote(_) => (StatusCode::BAD_GATEWAY, "M_UNKNOWN"),
        Error::IncompatibleRoomVersion(_) => (StatusCode::BAD_REQUEST, "M_INCOMPATIBLE_ROOM_VERSION"),
        Error::MaxDelayExceeded { .. } => (StatusCode::BAD_REQUEST, "M_MAX_DELAY_EXCEEDED"),
        Error::Exclusive(_) => (StatusCode::BAD_REQUEST, "M_EXCLUSIVE"),
        Error::UnknownDevice(_) => (StatusCode::BAD_REQUEST, "M_UNKNOWN_DEVICE"),
        Error::AppserviceLoginUnsupported(_) => (StatusCode::BAD_REQUEST, "M_APPSERVICE_LOGIN_UNSUPPORTED"),
        Error::AppserviceUrlNotSet => (StatusCode::BAD_REQUEST, "M_URL_NOT_SET"),
        Error::AppserviceBadStatus { .. } => (StatusCode::BAD_GATEWAY, "M_BAD_STATUS"),
        Error::AppserviceConnectionFailed(_) => (StatusCode::BAD_GATEWAY, "M_CONNECTION_FAILED"),
        Error::AppserviceTimeout => (StatusCode::GATEWAY_TIMEOUT, "M_CONNECTION_TIMEOUT"),
        Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "M_UNKNOWN"),
    }
}

fn uia_body(challenge: &UiaChallenge) -> Value {
    let flows: Vec<Value> = challenge.flows.iter().map(|stages| json!({ "stages": stages })).collect();
    let mut body = json!({
        "flows": flows,
        "params": challenge.params,
        "session": challenge.session,
        "completed": challenge.completed,
    });
    // A failed stage says why, next to the challenge to try again.
    if let Some(error) = &challenge.error {
        body["errcode"] = json!(status_and_code(error).1);
        body["error"] = json!(error.to_string());
    }
    body
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, errcode) = status_and_code(&self.0);
        let body = match &self.0 {
            Error::AuthRequired(challenge) => uia_body(challenge),
            Error::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                json!({ "errcode": errcode, "error": "internal server error" })
            }
            Error::WrongRoomKeysVersion { current } => {
                json!({ "errcode": errcode, "error": "that backup version is not the current one", "current_version": current })
            }
            Error::UnknownToken { soft_logout } => {
                json!({ "errcode": errcode, "error": self.0.to_string(), "soft_logout": soft_logout })
            }
            Error::UserLocked => json!({ "errcode": errcode, "error": self.0.to_string(), "soft_logout": true }),
            Error::LimitExceeded { retry_after } => {
                json!({ "errcode": errcode, "error": self.0.to_string(), "retry_after_ms": retry_after.as_millis() as u64 })
            }
            Error::MaxDelayExceeded { max_delay } => {
                json!({ "errcode": errcode, "error": self.0.to_string(), "max_delay": max_delay.as_millis() as u64 })
            }
            Error::AppserviceBadStatus { status, body } => {
                json!({ "errcode": errcode, "error": self.0.to_string(), "status": status, "body": body })
            }
            other => json!({ "errcode": errcode, "error": other.to_string() }),
        };
        let mut response = (status, Json(body)).into_response();
        if let Error::TooLarge(_) = &self.0 {
            // The rest of the body is never read: the connection cannot be
            // reused, and the client must not try to.
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let Error::LimitExceeded { retry_after } = &self.0 {
            let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
