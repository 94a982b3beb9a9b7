//! Query parameters and orderings as Synapse's admin API reads them, for
//! every list the admin API serves.

use std::cmp::Ordering;
use std::collections::HashMap;

use nexus_core::Error;
use serde_json::Value;

use crate::error::ApiError;

/// A room id from a path, refused as Synapse refuses it (400 `M_UNKNOWN`).
pub fn legal_room(raw: &str) -> Result<ruma::OwnedRoomId, ApiError> {
    ruma::RoomId::parse(raw).map_err(|_| ApiError(Error::BadRequest(format!("{raw} is not a legal room ID"))))
}

/// Synapse's `400 M_INVALID_PARAM`.
pub fn invalid(message: impl Into<String>) -> ApiError {
    ApiError(Error::InvalidParam(message.into()))
}

pub fn query_int(query: &HashMap<String, String>, name: &str, default: usize) -> Result<usize, ApiError> {
    match query.get(name) {
        None => Ok(default),
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(n as usize),
            Ok(_) => Err(invalid(format!("Query parameter {name} must be a positive integer."))),
            Err(_) => Err(invalid(format!("Query parameter {name} must be an integer"))),
        },
    }
}

pub fn query_bool(query: &HashMap<String, String>, name: &str) -> Result<Option<bool>, ApiError> {
    match query.get(name).map(String::as_str) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(invalid(format!("Boolean query parameter '{name}' must be one of ['true', 'false']"))),
    }
}

/// `dir`: `b` lists backwards, `f` forwards; absent means `default`.
pub fn backwards(query: &HashMap<String, String>, default: bool) -> Result<bool, ApiError> {
    match query.get("dir").map(String::as_str) {
        None => Ok(default),
        Some("f") => Ok(false),
        Some("b") => Ok(true),
        Some(_) => Err(invalid("Unknown direction: dir must be one of ['b', 'f']")),
    }
}

/// JSON values in Synapse's order: nulls first, then by value.
pub fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Number(x), Value::Number(y)) => x.as_f64().unwrap_or(0.0).total_cmp(&y.as_f64().unwrap_or(0.0)),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (x, y) => x.as_str().unwrap_or_default().cmp(y.as_str().unwrap_or_default()),
    }
}
