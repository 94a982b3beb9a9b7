//! Identifiers from request paths, validated once, with `M_INVALID_PARAM`
//! for malformed ones.

use nexus_core::Error;
use ruma::{IdParseError, OwnedEventId, OwnedRoomAliasId, OwnedRoomId, OwnedServerName, OwnedUserId, UserId};

use crate::error::ApiError;

fn parse<T: TryFrom<String, Error = IdParseError>>(raw: &str, what: &str) -> Result<T, ApiError> {
    T::try_from(raw.to_owned()).map_err(|e| ApiError(Error::InvalidParam(format!("not {what}: {e}"))))
}

pub fn room_id(raw: &str) -> Result<OwnedRoomId, ApiError> {
    parse(raw, "a room id")
}

pub fn event_id(raw: &str) -> Result<OwnedEventId, ApiError> {
    parse(raw, "an event id")
}

pub fn user_id(raw: &str) -> Result<OwnedUserId, ApiError> {
    parse(raw, "a user id")
}

pub fn server_name(raw: &str) -> Result<OwnedServerName, ApiError> {
    parse(raw, "a server name")
}

pub fn alias(raw: &str) -> Result<OwnedRoomAliasId, ApiError> {
    parse(raw, "a room alias")
}

/// A user id from the path that must be the caller's own.
pub fn own_user(raw: &str, caller: &UserId) -> Result<OwnedUserId, ApiError> {
    let user = user_id(raw)?;
    if user != caller {
        return Err(ApiError(Error::Forbidden("you may only act on your own account".to_owned())));
    }
    Ok(user)
}
